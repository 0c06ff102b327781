//! Small sorted sets of peers, stored inline: a node's peers and meshes hold a dozen or so
//! ids, and every RPC a node receives asks one of them. Inline, that answer is in the
//! cache lines of the node itself instead of a B-tree node elsewhere in memory.
//! Iteration is in ascending order, as a `BTreeSet`'s, so runs do not depend on it.

use smallvec::SmallVec;

use crate::gossip::NodeId;

/// Ids held inline before the set moves to the heap: a node dials 8 peers and is dialled
/// by about as many in the shipped scenarios.
const INLINE_PEERS: usize = 16;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerSet {
    sorted: SmallVec<[NodeId; INLINE_PEERS]>,
}

impl PeerSet {
    pub fn new() -> PeerSet {
        PeerSet::default()
    }

    /// False if it was there already.
    pub fn insert(&mut self, peer: NodeId) -> bool {
        match self.sorted.binary_search(&peer) {
            Ok(_) => false,
            Err(at) => {
                self.sorted.insert(at, peer);
                true
            }
        }
    }

    /// False if it was not there.
    pub fn remove(&mut self, peer: &NodeId) -> bool {
        match self.sorted.binary_search(peer) {
            Ok(at) => {
                self.sorted.remove(at);
                true
            }
            Err(_) => false,
        }
    }

    pub fn contains(&self, peer: &NodeId) -> bool {
        self.sorted.binary_search(peer).is_ok()
    }

    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }

    /// In ascending order.
    pub fn iter(&self) -> std::slice::Iter<'_, NodeId> {
        self.sorted.iter()
    }
}

impl<'a> IntoIterator for &'a PeerSet {
    type Item = &'a NodeId;
    type IntoIter = std::slice::Iter<'a, NodeId>;

    fn into_iter(self) -> Self::IntoIter {
        self.sorted.iter()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn it_behaves_as_a_btree_set_inline_and_spilled() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut set = PeerSet::new();
        let mut model = BTreeSet::new();
        for _ in 0..5_000 {
            let peer = rng.gen_range(0..40);
            if rng.gen_bool(0.55) {
                assert_eq!(set.insert(peer), model.insert(peer));
            } else {
                assert_eq!(set.remove(&peer), model.remove(&peer));
            }
            assert_eq!(set.len(), model.len());
            assert_eq!(set.contains(&peer), model.contains(&peer));
            assert!(set.iter().eq(model.iter()));
        }
    }
}
