//! Versioned gossipsub topic names.
//!
//! Every topic carries the protocol version (`/x0/<version>/<name>`), so a node can run two
//! versions side by side during an upgrade and never mistakes one wire format for another.
//! docs/PROTOCOL.md is the contract for what each topic carries.

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

/// Every topic this build knows, with the largest message it accepts on it (bytes of
/// application data, before gossipsub's own framing). The node configures gossipsub's
/// per-topic transmit limit from this table, so an oversized message is dropped by the
/// codec before any application code allocates for it.
pub const KNOWN: &[TopicSpec] = &[
    TopicSpec {
        name: PROBE,
        message_bytes_max: crate::probe::MESSAGE_BYTES_MAX,
    },
    // Privileged topics: the payload travels in an envelope with a token, nonce and time.
    TopicSpec {
        name: PROPOSALS,
        message_bytes_max: crate::certify::proposal::ENCODED_BYTES_MAX
            + crate::auth::envelope::OVERHEAD_BYTES_MAX,
    },
    TopicSpec {
        name: SHARES,
        message_bytes_max: crate::certify::wire::SHARE_BYTES
            + crate::auth::envelope::OVERHEAD_BYTES_MAX,
    },
    TopicSpec {
        name: BALLOTS,
        message_bytes_max: crate::ballot::wire::MESSAGE_BYTES_MAX
            + crate::auth::envelope::OVERHEAD_BYTES_MAX,
    },
    TopicSpec {
        name: CERTIFICATES,
        message_bytes_max: crate::certify::wire::CERTIFICATE_BYTES_MAX,
    },
    TopicSpec {
        name: REVOCATIONS,
        message_bytes_max: crate::auth::token::REVOCATION_LIST_BYTES_MAX,
    },
];

/// A topic and its size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicSpec {
    pub name: &'static str,
    pub message_bytes_max: usize,
}

/// Looks up a known topic by name.
pub fn spec(name: &str) -> Option<&'static TopicSpec> {
    KNOWN.iter().find(|t| t.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_topic_is_versioned_and_bounded() {
        for topic in KNOWN {
            let prefix = format!("/x0/{PROTOCOL_VERSION}/");
            assert!(
                topic.name.starts_with(&prefix),
                "{} lacks {prefix}",
                topic.name
            );
            assert!(topic.message_bytes_max > 0);
            // The node's default frame (gossip.max_transmit_size_bytes) with 512 bytes of
            // gossipsub framing must carry the largest message of every topic.
            assert!(
                topic.message_bytes_max + 512 <= 65_536,
                "{} allows {} bytes",
                topic.name,
                topic.message_bytes_max
            );
        }
        assert_eq!(spec(PROBE).map(|t| t.name), Some(PROBE));
        assert!(spec("/x0/2/probe").is_none());
    }
}
