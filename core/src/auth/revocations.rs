//! The revoked token ids a node knows, from the authority's signed lists.
//!
//! An id is kept until the revoked token would have expired anyway (the list says when),
//! then forgotten. The set is bounded; a list that does not fit is refused whole and
//! counted, never half-applied, because a dropped revocation would silently re-admit a
//! cut-off member.
//!
//! A list is taken in two steps, so that the shell persists before anything changes:
//! [`RevocationSet::plan`] says what is new (or refuses the list as known or too big)
//! without applying it; the shell writes the new ids to its store; only then does
//! [`RevocationSet::apply`] put them in force. A failed write leaves the set as it was,
//! and the list is neither applied nor forwarded.
//!
//! Lists add to one another (each revokes some ids; a node keeps the union), so "known"
//! is decided by content, not by sequence: a list is known when every id it carries is
//! revoked here already or past its token's expiry. An older list that carries an id this
//! node missed is applied, whatever its sequence.

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

/// What a list would add, from [`RevocationSet::plan`]: the shell persists `added`, then
/// hands the plan to [`RevocationSet::apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a planned list changes nothing until it is persisted and applied"]
pub struct PlannedList {
    pub sequence: u64,
    /// The ids this node does not hold yet, still within their tokens' lifetime.
    pub added: Vec<Revoked>,
    /// Ids of the list this node holds already, or whose tokens have expired.
    pub known: usize,
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

    /// What `list` would add at `now_ms`, without applying it. Refused as `Known` when it
    /// adds nothing, as `Full` when the set would exceed its bound even after forgetting
    /// expired ids (the only change a plan makes).
    pub fn plan(&mut self, list: &RevocationList, now_ms: u64) -> Result<PlannedList, ListRefusal> {
        let added: Vec<Revoked> = list
            .entries
            .iter()
            .filter(|entry| {
                entry.until_unix_s.saturating_mul(1000) > now_ms
                    && !self.revoked.contains_key(&entry.id)
            })
            .cloned()
            .collect();
        if added.is_empty() {
            return Err(ListRefusal::Known);
        }
        if self.revoked.len() + added.len() > self.revoked_max {
            self.forget_expired(now_ms);
            if self.revoked.len() + added.len() > self.revoked_max {
                return Err(ListRefusal::Full);
            }
        }
        Ok(PlannedList {
            sequence: list.sequence,
            known: list.entries.len() - added.len(),
            added,
        })
    }

    /// Puts a planned list in force, once the shell has persisted `plan.added`.
    pub fn apply(&mut self, plan: &PlannedList) {
        for entry in &plan.added {
            self.revoked
                .insert(entry.id.clone(), entry.until_unix_s.saturating_mul(1000));
        }
        self.sequence_max = self.sequence_max.max(Some(plan.sequence));
        assert!(
            self.revoked.len() <= self.revoked_max,
            "a plan is applied right after it is made"
        );
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

    fn take(
        set: &mut RevocationSet,
        list: &RevocationList,
        now_ms: u64,
    ) -> Result<usize, ListRefusal> {
        let plan = set.plan(list, now_ms)?;
        set.apply(&plan);
        Ok(plan.added.len())
    }

    #[test]
    fn applies_whole_lists_within_the_bound() {
        let mut set = RevocationSet::new(3);
        let list = RevocationList {
            sequence: 1,
            entries: vec![entry(1, 100), entry(2, 200)],
        };
        let plan = set.plan(&list, 0).unwrap();
        assert_eq!(
            plan,
            PlannedList {
                sequence: 1,
                added: list.entries.clone(),
                known: 0
            }
        );
        assert!(set.is_empty(), "a plan applies nothing by itself");
        set.apply(&plan);
        assert!(set.is_revoked(&[vec![0; 64], vec![2; 64]]));
        assert!(!set.is_revoked(&[vec![3; 64]]));
        let bigger = RevocationList {
            sequence: 2,
            entries: vec![entry(2, 200), entry(3, 300), entry(4, 300)],
        };
        assert_eq!(set.plan(&bigger, 50_000), Err(ListRefusal::Full));
        assert!(
            !set.is_revoked(&[vec![3; 64]]),
            "a refused list applies nothing"
        );
        // Once id 1's token has expired there is room.
        let plan = set.plan(&bigger, 100_000).unwrap();
        assert_eq!(plan.known, 1);
        set.apply(&plan);
        assert_eq!(set.len(), 3);
        assert_eq!(set.sequence_max(), Some(2));
    }

    /// A list that adds nothing is known, whatever its sequence: the same list again, an
    /// older one, one of expired ids. An older list with an id this node missed is new.
    #[test]
    fn a_list_is_known_by_what_it_adds_not_by_its_sequence() {
        let mut set = RevocationSet::new(16);
        let seven = RevocationList {
            sequence: 7,
            entries: vec![entry(1, 1_000), entry(2, 1_000)],
        };
        assert_eq!(take(&mut set, &seven, 0), Ok(2));
        assert_eq!(take(&mut set, &seven, 0), Err(ListRefusal::Known));
        let older_subset = RevocationList {
            sequence: 6,
            entries: vec![entry(2, 1_000)],
        };
        assert_eq!(take(&mut set, &older_subset, 0), Err(ListRefusal::Known));
        let expired = RevocationList {
            sequence: 8,
            entries: vec![entry(9, 10)],
        };
        assert_eq!(take(&mut set, &expired, 10_000), Err(ListRefusal::Known));
        assert!(!set.is_revoked(&[vec![9; 64]]));
        let missed = RevocationList {
            sequence: 5,
            entries: vec![entry(1, 1_000), entry(3, 1_000)],
        };
        assert_eq!(take(&mut set, &missed, 0), Ok(1));
        assert!(set.is_revoked(&[vec![3; 64]]));
        assert_eq!(set.sequence_max(), Some(7));
        assert_eq!(
            ListRefusal::Known.verdict(),
            Verdict::Ignore {
                reason: "revocations_known"
            }
        );
    }
}
