//! What sync exchanges: items, each named by the hash of its exact bytes.
//!
//! An item is a message as it travels on gossip (an envelope, a certificate, a revocation
//! list) or a decided ballot's certificate. Its key is a hash of its kind and its bytes, so
//! a fetched item proves it is the one asked for before any core looks at it, a server
//! cannot answer with something else under a known name, and two copies of one message are
//! one item. The cores still judge every item as if it arrived by gossip.
//!
//! One exception: a certificate is named by the proposal it certifies. Members combine
//! different sets of shares, so certificates of one proposal differ in their signer lists;
//! named by bytes, nodes would hold different ones and their digests never agree. A
//! certificate verifies on its own, so whichever one a server sends for the name is judged
//! by the certify core like any other (and a forged one costs the server).

use sha2::{Digest, Sha256};

use crate::certify::proposal::ProposalId;
use crate::certify::wire::CertificateMessage;
use crate::{ballot, known_topics, topics};

/// The kinds of item, in wire order. The first three belong to one committee epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// An envelope on `/x0/1/proposals`.
    Proposal,
    /// An envelope on `/x0/1/shares`.
    Share,
    /// A certificate as on `/x0/1/certificates`.
    Certificate,
    /// An envelope on `/x0/1/ballots`: an open, a vote or equivocation evidence.
    BallotMessage,
    /// A decided ballot's certificate (no gossip topic carries these).
    BallotCertificate,
    /// A revocation list as on `/x0/1/revocations`.
    RevocationList,
}

/// How many kinds there are; digests carry one entry per kind.
pub const KIND_COUNT: usize = 6;

impl Kind {
    pub const ALL: [Kind; KIND_COUNT] = [
        Kind::Proposal,
        Kind::Share,
        Kind::Certificate,
        Kind::BallotMessage,
        Kind::BallotCertificate,
        Kind::RevocationList,
    ];

    pub fn code(self) -> u8 {
        self as u8 + 1
    }

    pub fn from_code(code: u8) -> Option<Kind> {
        Kind::ALL.get(usize::from(code).checked_sub(1)?).copied()
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// Items of these kinds are compared only between peers in the same committee epoch:
    /// the cores refuse another epoch's proposals, shares and certificates anyway.
    pub fn per_epoch(self) -> bool {
        matches!(self, Kind::Proposal | Kind::Share | Kind::Certificate)
    }

    /// The gossip topic whose checks an item of this kind passes, if it has one.
    pub fn topic(self) -> Option<&'static str> {
        match self {
            Kind::Proposal => Some(topics::PROPOSALS),
            Kind::Share => Some(topics::SHARES),
            Kind::Certificate => Some(topics::CERTIFICATES),
            Kind::BallotMessage => Some(topics::BALLOTS),
            Kind::BallotCertificate => None,
            Kind::RevocationList => Some(topics::REVOCATIONS),
        }
    }

    /// The largest item of this kind: its topic's message limit, or the ballot
    /// certificate's encoding limit.
    pub fn bytes_max(self) -> usize {
        match self.topic() {
            Some(topic) => {
                known_topics::spec(topic)
                    .expect("every sync topic is a known topic")
                    .message_bytes_max
            }
            None => ballot::certificate::CERTIFICATE_BYTES_MAX,
        }
    }

    /// The kind of item a message on `topic` is, if sync carries that topic.
    pub fn of_topic(topic: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|kind| kind.topic() == Some(topic))
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Proposal => "proposal",
            Kind::Share => "share",
            Kind::Certificate => "certificate",
            Kind::BallotMessage => "ballot_message",
            Kind::BallotCertificate => "ballot_certificate",
            Kind::RevocationList => "revocation_list",
        }
    }
}

/// The name of an item: its kind and the hash of its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ItemKey {
    pub kind: Kind,
    pub hash: [u8; 32],
}

/// Bytes of a key on the wire: kind u8 | hash [32].
pub const KEY_BYTES: usize = 1 + 32;

const DOMAIN: &[u8] = b"x0/sync/1/item";
/// Names a certificate by its proposal (a different domain: no bytes hash to it).
const DOMAIN_CERTIFIED: &[u8] = b"x0/sync/1/certified";

impl ItemKey {
    /// The key of `bytes` as an item of `kind`: the hash of the bytes, or for a
    /// certificate that decodes, of the proposal it certifies.
    pub fn of(kind: Kind, bytes: &[u8]) -> ItemKey {
        if let Some(id) = certified_proposal(kind, bytes) {
            return ItemKey::certificate_of(&id);
        }
        let mut hasher = Sha256::new();
        hasher.update(DOMAIN);
        hasher.update([kind.code()]);
        hasher.update(bytes);
        ItemKey {
            kind,
            hash: hasher.finalize().into(),
        }
    }

    /// The key of any certificate of `proposal`.
    pub fn certificate_of(proposal: &ProposalId) -> ItemKey {
        let mut hasher = Sha256::new();
        hasher.update(DOMAIN_CERTIFIED);
        hasher.update(proposal.0);
        ItemKey {
            kind: Kind::Certificate,
            hash: hasher.finalize().into(),
        }
    }

    /// Which of the 256 buckets of its kind the key falls in.
    pub fn bucket(&self) -> u8 {
        self.hash[0]
    }
}

/// The proposal a certificate item certifies, if it is one that decodes.
pub fn certified_proposal(kind: Kind, bytes: &[u8]) -> Option<ProposalId> {
    if kind != Kind::Certificate {
        return None;
    }
    CertificateMessage::decode(bytes)
        .ok()
        .map(|certificate| certificate.proposal.id())
}

/// An item: its kind and its bytes, exactly as they travel on gossip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub kind: Kind,
    pub bytes: Vec<u8>,
}

impl Item {
    pub fn key(&self) -> ItemKey {
        ItemKey::of(self.kind, &self.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_codes_round_trip_and_nothing_else_decodes() {
        for kind in Kind::ALL {
            assert_eq!(Kind::from_code(kind.code()), Some(kind));
            assert_eq!(Kind::ALL[kind.index()], kind);
        }
        assert_eq!(Kind::from_code(0), None);
        assert_eq!(Kind::from_code(KIND_COUNT as u8 + 1), None);
        assert_eq!(Kind::from_code(255), None);
    }

    #[test]
    fn a_key_names_its_kind_and_exact_bytes() {
        let a = ItemKey::of(Kind::Share, b"abc");
        assert_eq!(a, ItemKey::of(Kind::Share, b"abc"));
        assert_ne!(a, ItemKey::of(Kind::Share, b"abd"));
        assert_ne!(a.hash, ItemKey::of(Kind::Proposal, b"abc").hash);
    }

    #[test]
    fn a_certificate_is_named_by_its_proposal_whoever_combined_it() {
        let proposal = |slot: &str| crate::test_bytes::proposal(slot, 1_800_000_000_000);
        let certificate = |slot: &str, signers: Vec<u16>| {
            CertificateMessage {
                proposal: proposal(slot),
                signers,
                signature: [3; crate::certify::scheme::SIGNATURE_BYTES],
            }
            .encode()
        };
        let a = certificate("gossip/mesh_n", vec![0, 1, 2, 3]);
        let b = certificate("gossip/mesh_n", vec![1, 2, 5, 7]);
        assert_ne!(a, b);
        assert_eq!(
            ItemKey::of(Kind::Certificate, &a),
            ItemKey::of(Kind::Certificate, &b)
        );
        let other = certificate("gossip/mesh_n_low", vec![0, 1, 2, 3]);
        assert_ne!(
            ItemKey::of(Kind::Certificate, &a),
            ItemKey::of(Kind::Certificate, &other)
        );
        assert_eq!(
            certified_proposal(Kind::Certificate, &a),
            Some(proposal("gossip/mesh_n").id())
        );
        // Bytes that are no certificate are named by their bytes, like every other item;
        // the same bytes as another kind are another item.
        assert_eq!(certified_proposal(Kind::Certificate, b"abc"), None);
        assert_ne!(
            ItemKey::of(Kind::Certificate, b"abc"),
            ItemKey::of(Kind::Share, b"abc")
        );
        assert_eq!(certified_proposal(Kind::Share, &a), None);
    }

    #[test]
    fn a_topic_names_its_kind_and_only_synced_topics_do() {
        for kind in Kind::ALL {
            if let Some(topic) = kind.topic() {
                assert_eq!(Kind::of_topic(topic), Some(kind));
            }
        }
        assert_eq!(Kind::of_topic(topics::PROBE), None);
        assert_eq!(Kind::of_topic("/x0/1/unknown"), None);
    }

    #[test]
    fn every_kind_has_a_limit_of_its_topic() {
        for kind in Kind::ALL {
            assert!(kind.bytes_max() > 0, "{}", kind.name());
        }
        assert_eq!(
            Kind::Share.bytes_max(),
            known_topics::spec(topics::SHARES)
                .unwrap()
                .message_bytes_max
        );
    }
}
