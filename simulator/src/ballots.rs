//! What the world needs to host the ballot core ([`x0_core::ballot::book::BallotBook`])
//! on every node: node keys (real ed25519, the node key type), the persisted part of a
//! node's ballot state, and the weakened rule the mutation checks use.
//!
//! A simulated node's `PeerKey` is its name (`sim-node-N`), not its public key, so the
//! signature check looks the public key up by node index, as the node looks it up in the
//! committee's PeerIds. Keys are derived from the run's seed with SHA-256 (no draw from the
//! run's RNG): a scenario without ballots runs exactly as before they existed.

use std::collections::BTreeMap;
use std::rc::Rc;

use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};
use x0_core::ballot::certificate::Certificate;
use x0_core::ballot::rules::{Outcome, Tally};
use x0_core::ballot::verify::{NodeSigner, SignatureCheck};
use x0_core::ballot::wire::BallotId;
use x0_core::ids::PeerKey;

use crate::gossip::NodeId;

/// Every node's public key, by node index.
#[derive(Clone)]
pub struct KeyTable {
    public: Rc<Vec<VerifyingKey>>,
}

/// The signing key of node `node` in a run with `seed`.
fn signing_key(seed: u64, node: NodeId) -> SigningKey {
    let mut hasher = Sha256::new();
    hasher.update(b"x0-sim/node-key");
    hasher.update(seed.to_be_bytes());
    hasher.update(node.to_be_bytes());
    SigningKey::from_bytes(&hasher.finalize().into())
}

impl KeyTable {
    pub fn new(seed: u64, nodes: u32) -> KeyTable {
        KeyTable {
            public: Rc::new(
                (0..nodes)
                    .map(|node| signing_key(seed, node).verifying_key())
                    .collect(),
            ),
        }
    }

    /// `node`'s own key, for its ballot book.
    pub fn node(&self, seed: u64, node: NodeId) -> NodeKeys {
        NodeKeys {
            table: self.clone(),
            signing: signing_key(seed, node),
            me: crate::world::peer_key(node),
        }
    }
}

impl SignatureCheck for KeyTable {
    fn verify(&self, signer: &PeerKey, message: &[u8], signature: &[u8]) -> bool {
        let Some(key) = crate::world::node_index(signer).and_then(|n| self.public.get(n as usize))
        else {
            return false;
        };
        let Ok(signature) = ed25519_dalek::Signature::from_slice(signature) else {
            return false;
        };
        key.verify(message, &signature).is_ok()
    }
}

/// One node's ed25519 key and the table of everyone's.
pub struct NodeKeys {
    table: KeyTable,
    signing: SigningKey,
    me: PeerKey,
}

impl SignatureCheck for NodeKeys {
    fn verify(&self, signer: &PeerKey, message: &[u8], signature: &[u8]) -> bool {
        self.table.verify(signer, message, signature)
    }
}

impl NodeSigner for NodeKeys {
    fn signer(&self) -> &PeerKey {
        &self.me
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.signing.sign(message).to_bytes().to_vec()
    }
}

/// What a node's ballot shell persisted (`Action::Store*`, `Action::Decided`).
#[derive(Default)]
pub struct BallotStore {
    pub opens: BTreeMap<BallotId, Vec<u8>>,
    /// The latest stored vote of each voter per ballot.
    pub votes: BTreeMap<(BallotId, PeerKey), Vec<u8>>,
    pub evidence: BTreeMap<(BallotId, PeerKey), Vec<u8>>,
    pub decided: BTreeMap<BallotId, Vec<u8>>,
}

/// The broken rule of the mutation check: participation above half the electorate and a
/// majority of the votes cast, without the 2/3 participation and floor(n/3)+1 terms.
pub fn weak_outcome(tally: &Tally, electorate: u64) -> Outcome {
    let cast = tally.cast();
    if electorate == 0 || 2 * cast <= electorate {
        return Outcome::NoDecision;
    }
    if 2 * tally.yes > cast {
        Outcome::Passed
    } else if 2 * tally.no > cast {
        Outcome::Rejected
    } else {
        Outcome::NoDecision
    }
}

/// What one honest node decided for one ballot.
#[derive(Debug, Clone)]
pub struct Decision {
    /// The outcome the node acts on.
    pub outcome: Outcome,
    /// `Certificate::verify` with the committee, offline: `Ok` with the outcome it derives.
    pub verified: Result<Outcome, String>,
    /// Voters whose yes votes the certificate counts.
    pub yes_voters: Vec<NodeId>,
    /// Voters the certificate excludes for equivocation.
    pub excluded: Vec<NodeId>,
    pub at_ms: u64,
}

impl Decision {
    pub fn from_certificate(
        certificate: &Certificate,
        outcome: Outcome,
        verified: Result<Outcome, String>,
        at_ms: u64,
    ) -> Decision {
        let node = |key: &PeerKey| crate::world::node_index(key).unwrap_or(NodeId::MAX);
        Decision {
            outcome,
            verified,
            yes_voters: certificate
                .votes
                .iter()
                .filter(|v| v.choice == x0_core::ballot::rules::Choice::Yes)
                .map(|v| node(&v.voter))
                .collect(),
            excluded: certificate
                .evidence
                .iter()
                .map(|e| node(&e.first.voter))
                .collect(),
            at_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use x0_core::ballot::rules::local_outcome;

    #[test]
    fn the_weak_rule_decides_where_the_real_one_does_not() {
        // 10 members, a side of 3 honest plus 3 faulty voting no: 6 votes.
        let side = Tally {
            yes: 0,
            no: 6,
            abstain: 0,
        };
        assert_eq!(local_outcome(&side, 10), Outcome::NoDecision);
        assert_eq!(weak_outcome(&side, 10), Outcome::Rejected);
        assert_eq!(weak_outcome(&Tally::default(), 0), Outcome::NoDecision);
    }

    #[test]
    fn keys_sign_and_verify_by_node_index_only() {
        let table = KeyTable::new(7, 3);
        let one = table.node(7, 1);
        let signature = one.sign(b"m");
        assert!(table.verify(&crate::world::peer_key(1), b"m", &signature));
        assert!(!table.verify(&crate::world::peer_key(2), b"m", &signature));
        assert!(!table.verify(&crate::world::peer_key(1), b"n", &signature));
        assert!(!table.verify(&crate::world::peer_key(9), b"m", &signature));
        assert!(!table.verify(&PeerKey(b"nobody".to_vec()), b"m", &[0; 64]));
    }
}
