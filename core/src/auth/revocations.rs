//! The revoked token ids a node knows, from the authority's signed lists.
//!
//! An id is kept until the revoked token would have expired anyway (the list says when),
//! then forgotten. The set is bounded; a list that does not fit is refused whole and
//! counted, never half-applied, because a dropped revocation would silently re-admit a
//! cut-off member.

use std::collections::BTreeMap;

use super::token::{RevocationError, RevocationList, Revoked};
use crate::ids::Verdict;

/// Why a revocation list from the network was not applied and forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListRefusal {
    /// Not a list from the network authority: bytes, signature, shape.
    Read(RevocationError),
    /// Every id it carries is revoked here already (or past its token's expiry).
    Known,
    /// The revoked-id set would exceed `auth.revoked_max`.
    Full,
}

impl ListRefusal {
    /// One of each refusal, for the verdict-table tests.
    pub fn all() -> Vec<ListRefusal> {
        let mut all: Vec<ListRefusal> = RevocationError::ALL.map(ListRefusal::Read).to_vec();
        all.extend([ListRefusal::Known, ListRefusal::Full]);
        all
    }

    pub fn reason(self) -> &'static str {
        match self {
            ListRefusal::Read(error) => error.reason(),
            ListRefusal::Known => "revocations_known",
            ListRefusal::Full => "revocations_full",
        }
    }

    /// Only the authority signs lists, so a list that does not read is invalid in itself.
    /// A known list is known to this node (a relay that missed it forwards it in good
    /// faith), and a full set is this node's state.
    pub fn invalid_in_itself(self) -> bool {
        match self {
            ListRefusal::Read(_) => true,
            ListRefusal::Known | ListRefusal::Full => false,
        }
    }

    pub fn verdict(self) -> Verdict {
        Verdict::refused(self.reason(), self.invalid_in_itself())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListOutcome {
    /// The new ids (the shell persists them), and how many the node knew already.
    Applied { added: Vec<Revoked>, known: usize },
    /// The set would exceed its bound even after forgetting expired ids.
    Full,
}

pub struct RevocationSet {
    revoked_max: usize,
    /// id -> forget after this time, Unix ms.
    revoked: BTreeMap<Vec<u8>, u64>,
    sequence_max: Option<u64>,
}

impl RevocationSet {
    pub fn new(revoked_max: usize) -> RevocationSet {
        RevocationSet {
            revoked_max,
            revoked: BTreeMap::new(),
            sequence_max: None,
        }
    }

    pub fn len(&self) -> usize {
        self.revoked.len()
    }

    pub fn is_empty(&self) -> bool {
        self.revoked.is_empty()
    }

    pub fn sequence_max(&self) -> Option<u64> {
        self.sequence_max
    }

    pub fn is_revoked(&self, ids: &[Vec<u8>]) -> bool {
        ids.iter().any(|id| self.revoked.contains_key(id))
    }

    /// Puts back persisted ids at start.
    pub fn restore(&mut self, persisted: impl IntoIterator<Item = Revoked>, now_ms: u64) {
        for entry in persisted {
            let until_ms = entry.until_unix_s.saturating_mul(1000);
            if until_ms > now_ms && self.revoked.len() < self.revoked_max {
                self.revoked.insert(entry.id, until_ms);
            }
        }
    }

    pub fn apply(&mut self, list: &RevocationList, now_ms: u64) -> ListOutcome {
        let fresh: Vec<&Revoked> = list
            .entries
            .iter()
            .filter(|entry| !self.revoked.contains_key(&entry.id))
            .collect();
        if self.revoked.len() + fresh.len() > self.revoked_max {
            self.forget_expired(now_ms);
            if self.revoked.len() + fresh.len() > self.revoked_max {
                return ListOutcome::Full;
            }
        }
        let known = list.entries.len() - fresh.len();
        let added: Vec<Revoked> = fresh.into_iter().cloned().collect();
        for entry in &added {
            self.revoked
                .insert(entry.id.clone(), entry.until_unix_s.saturating_mul(1000));
        }
        self.sequence_max = self.sequence_max.max(Some(list.sequence));
        assert!(self.revoked.len() <= self.revoked_max);
        ListOutcome::Applied { added, known }
    }

    /// Forgets ids whose tokens have expired. Returns how many.
    pub fn forget_expired(&mut self, now_ms: u64) -> usize {
        let before = self.revoked.len();
        self.revoked.retain(|_, until_ms| *until_ms > now_ms);
        before - self.revoked.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: u8, until_unix_s: u64) -> Revoked {
        Revoked {
            id: vec![id; 64],
            until_unix_s,
        }
    }

    #[test]
    fn applies_whole_lists_within_the_bound() {
        let mut set = RevocationSet::new(3);
        let list = RevocationList {
            sequence: 1,
            entries: vec![entry(1, 100), entry(2, 200)],
        };
        assert_eq!(
            set.apply(&list, 0),
            ListOutcome::Applied {
                added: list.entries.clone(),
                known: 0
            }
        );
        assert!(set.is_revoked(&[vec![0; 64], vec![2; 64]]));
        assert!(!set.is_revoked(&[vec![3; 64]]));
        let bigger = RevocationList {
            sequence: 2,
            entries: vec![entry(2, 200), entry(3, 300), entry(4, 300)],
        };
        assert_eq!(set.apply(&bigger, 50_000), ListOutcome::Full);
        assert!(
            !set.is_revoked(&[vec![3; 64]]),
            "a refused list applies nothing"
        );
        // Once id 1's token has expired there is room.
        assert!(matches!(
            set.apply(&bigger, 100_000),
            ListOutcome::Applied { known: 1, .. }
        ));
        assert_eq!(set.len(), 3);
        assert_eq!(set.sequence_max(), Some(2));
    }
}
