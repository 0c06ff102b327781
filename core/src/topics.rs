//! Versioned gossipsub topic names.
//!
//! Every topic carries the protocol version (`/x0/<version>/<name>`), so a node can run two
//! versions side by side during an upgrade and never mistakes one wire format for another.
//! docs/PROTOCOL.md is the contract for what each topic carries; `known_topics` has each
//! topic's size limit and who classifies its payloads.

/// Wire protocol version carried in every topic name.
pub const PROTOCOL_VERSION: u32 = 1;

/// Probe messages: a steady trickle of small timestamped messages that measure gossip
/// health (end-to-end delivery latency, duplicates) on a live mesh.
pub const PROBE: &str = "/x0/1/probe";

/// Proposals for network-wide changes (canonical proposal encoding in an envelope), from
/// members with the `propose` right (`charter-update` for `charter/` slots).
pub const PROPOSALS: &str = "/x0/1/proposals";

/// Members' signature shares over proposal ids, in envelopes (`sign` right).
pub const SHARES: &str = "/x0/1/shares";

/// Certificates: a proposal, its signers and the combined threshold signature.
pub const CERTIFICATES: &str = "/x0/1/certificates";

/// Revocation lists signed by the network authority (a biscuit of its own).
pub const REVOCATIONS: &str = "/x0/1/revocations";

/// The local fallback ballot: outage attestations, opens (`propose` right on this topic),
/// votes and equivocation proofs (`vote` right), in envelopes.
pub const BALLOTS: &str = "/x0/1/ballots";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_topic_is_versioned() {
        let prefix = format!("/x0/{PROTOCOL_VERSION}/");
        for topic in [PROBE, PROPOSALS, SHARES, CERTIFICATES, REVOCATIONS, BALLOTS] {
            assert!(topic.starts_with(&prefix), "{topic} lacks {prefix}");
        }
    }
}
