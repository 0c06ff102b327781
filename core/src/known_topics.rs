//! Every topic this build knows, in one table above the protocols: the largest message
//! each accepts, and which protocol classifies the payloads of a privileged topic for the
//! admission gate ([`KnownTopics`], handed to [`crate::auth::gate::Gate::new`]). It sits
//! above the protocols so that none of them, nor `topics`, imports another.

use crate::auth::gate::Classifier;
use crate::auth::token::Operation;
use crate::certify::proposal::Proposal;
use crate::{auth, ballot, certify, probe, topics};

/// Every topic this build knows, with the largest message it accepts on it (bytes of
/// application data, before gossipsub's own framing). The node configures gossipsub's
/// per-topic transmit limit from this table, so an oversized message is dropped by the
/// codec before any application code allocates for it.
pub const KNOWN: &[TopicSpec] = &[
    TopicSpec {
        name: topics::PROBE,
        message_bytes_max: probe::MESSAGE_BYTES_MAX,
    },
    // Privileged topics: the payload travels in an envelope with a token, nonce and time.
    TopicSpec {
        name: topics::PROPOSALS,
        message_bytes_max: certify::proposal::ENCODED_BYTES_MAX
            + auth::envelope::OVERHEAD_BYTES_MAX,
    },
    TopicSpec {
        name: topics::SHARES,
        message_bytes_max: certify::wire::SHARE_BYTES + auth::envelope::OVERHEAD_BYTES_MAX,
    },
    TopicSpec {
        name: topics::BALLOTS,
        message_bytes_max: ballot::wire::MESSAGE_BYTES_MAX + auth::envelope::OVERHEAD_BYTES_MAX,
    },
    TopicSpec {
        name: topics::CERTIFICATES,
        message_bytes_max: certify::wire::CERTIFICATE_BYTES_MAX,
    },
    TopicSpec {
        name: topics::REVOCATIONS,
        message_bytes_max: auth::token::REVOCATION_LIST_BYTES_MAX,
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

/// What the gate read from a privileged payload, handed on with the admission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// A proposal, decoded (classifying it needs its slot): the certify core takes it as is.
    Proposal(Box<Proposal>),
    /// Read no further than its topic or kind byte: its owner decodes it, once.
    Undecoded,
}

/// The classifier of every privileged topic this build knows, handed to the gate.
#[derive(Debug, Clone, Copy, Default)]
pub struct KnownTopics;

impl Classifier for KnownTopics {
    type Decoded = Payload;

    fn classify(&self, topic: &str, payload: &[u8]) -> Option<(Operation, Payload)> {
        match topic {
            topics::PROPOSALS => {
                let (operation, proposal) = certify::classify_proposal(payload)?;
                Some((operation, Payload::Proposal(Box::new(proposal))))
            }
            topics::SHARES => Some((certify::classify_share(payload), Payload::Undecoded)),
            topics::BALLOTS => Some((ballot::wire::classify(payload), Payload::Undecoded)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_topic_is_versioned_and_bounded() {
        for topic in KNOWN {
            let prefix = format!("/x0/{}/", topics::PROTOCOL_VERSION);
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
        assert_eq!(spec(topics::PROBE).map(|t| t.name), Some(topics::PROBE));
        assert!(spec("/x0/2/probe").is_none());
    }
}
