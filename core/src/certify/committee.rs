//! A committee for one epoch: its members in index order, and the two public key sets
//! its certificates verify against.
//!
//! Two key sets, because a combined BLS signature from a key set of degree d proves only
//! that d+1 members signed, whatever signer list travels with it. A standard change
//! needs t+1 signers and is signed with the degree-t set; a supermajority change needs
//! floor((n+t)/2)+1 signers and is signed with a set of that degree minus one, so its
//! certificate itself proves the quorum. `x0 committee deal` makes both.

use super::scheme::{Bls, BlsCommittee, MemberIndex, Suite, ThresholdScheme};
use super::threshold::{share_count_min, ChangeClass};
use crate::ids::PeerKey;

/// Largest committee: member indices travel as u16 and certificates list signers.
pub const MEMBERS_MAX: usize = super::wire::SIGNERS_MAX;

/// A committee whose certificates are signed with suite `S`: BLS on every node; the
/// simulator's cost-modelled suite in large simulated runs.
pub struct Committee<S: Suite = Bls> {
    pub epoch: u64,
    /// Index = member index.
    members: Vec<PeerKey>,
    standard: S::Scheme,
    supermajority: S::Scheme,
    /// Slot patterns that need a supermajority: exact slots, or prefixes ending in `*`.
    supermajority_slots: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommitteeError {
    #[error("a committee needs 1..={MEMBERS_MAX} members, got {0}")]
    Size(usize),
    #[error("member {0} appears twice")]
    DuplicateMember(usize),
    #[error("the {class:?} key set has threshold {found}; a committee of {members} needs {expected} (re-deal with `x0 committee deal`)")]
    KeySetThreshold {
        class: ChangeClass,
        members: usize,
        found: usize,
        expected: usize,
    },
    #[error("slot pattern `{0}` is not a slot or a prefix ending in `*`")]
    SlotPattern(String),
}

impl Committee<Bls> {
    pub fn new(
        epoch: u64,
        members: Vec<PeerKey>,
        standard: blsttc::PublicKeySet,
        supermajority: blsttc::PublicKeySet,
        supermajority_slots: Vec<String>,
    ) -> Result<Committee, CommitteeError> {
        Self::check(&members, &standard, &supermajority, &supermajority_slots)?;
        let n = members.len();
        Self::with_schemes(
            epoch,
            members,
            BlsCommittee::new(standard, n),
            BlsCommittee::new(supermajority, n),
            supermajority_slots,
        )
    }

    /// Everything [`Committee::new`] checks, without computing the members' public key
    /// shares (milliseconds each): what a config check needs.
    pub fn check(
        members: &[PeerKey],
        standard: &blsttc::PublicKeySet,
        supermajority: &blsttc::PublicKeySet,
        supermajority_slots: &[String],
    ) -> Result<(), CommitteeError> {
        check_parts(
            members,
            [standard.threshold(), supermajority.threshold()],
            supermajority_slots,
        )
    }
}

/// Size, distinct members, key set degrees of both classes, and slot patterns.
fn check_parts(
    members: &[PeerKey],
    thresholds: [usize; 2],
    supermajority_slots: &[String],
) -> Result<(), CommitteeError> {
    let n = members.len();
    if n == 0 || n > MEMBERS_MAX {
        return Err(CommitteeError::Size(n));
    }
    for (index, member) in members.iter().enumerate() {
        if members[..index].contains(member) {
            return Err(CommitteeError::DuplicateMember(index));
        }
    }
    let classes = [ChangeClass::Standard, ChangeClass::Supermajority];
    for (class, found) in classes.into_iter().zip(thresholds) {
        let expected = key_set_threshold(n, class);
        if found != expected {
            return Err(CommitteeError::KeySetThreshold {
                class,
                members: n,
                found,
                expected,
            });
        }
    }
    for pattern in supermajority_slots {
        check_slot_pattern(pattern)?;
    }
    Ok(())
}

impl<S: Suite> Committee<S> {
    /// A committee from its two schemes, checked as [`Committee::new`] checks BLS keys.
    pub fn with_schemes(
        epoch: u64,
        members: Vec<PeerKey>,
        standard: S::Scheme,
        supermajority: S::Scheme,
        supermajority_slots: Vec<String>,
    ) -> Result<Committee<S>, CommitteeError> {
        let n = members.len();
        for scheme in [&standard, &supermajority] {
            assert_eq!(scheme.committee_size(), n, "a scheme for these members");
        }
        check_parts(
            &members,
            [
                standard.share_count_min() - 1,
                supermajority.share_count_min() - 1,
            ],
            &supermajority_slots,
        )?;
        Ok(Committee {
            epoch,
            members,
            standard,
            supermajority,
            supermajority_slots,
        })
    }

    pub fn size(&self) -> usize {
        self.members.len()
    }

    pub fn members(&self) -> &[PeerKey] {
        &self.members
    }

    pub fn member_index(&self, peer: &PeerKey) -> Option<MemberIndex> {
        self.members
            .iter()
            .position(|m| m == peer)
            .map(|i| i as MemberIndex)
    }

    pub fn member(&self, index: MemberIndex) -> Option<&PeerKey> {
        self.members.get(usize::from(index))
    }

    pub fn supermajority_slots(&self) -> &[String] {
        &self.supermajority_slots
    }

    /// The change class of `slot`: supermajority if a configured pattern matches it.
    pub fn class_of(&self, slot: &str) -> ChangeClass {
        let matches = |pattern: &String| match pattern.strip_suffix('*') {
            Some(prefix) => slot.starts_with(prefix),
            None => slot == pattern,
        };
        if self.supermajority_slots.iter().any(matches) {
            ChangeClass::Supermajority
        } else {
            ChangeClass::Standard
        }
    }

    pub fn scheme(&self, class: ChangeClass) -> &S::Scheme {
        match class {
            ChangeClass::Standard => &self.standard,
            ChangeClass::Supermajority => &self.supermajority,
        }
    }
}

/// Degree of the key set for `class` in a committee of `members`: one less than the
/// signers a certificate of that class needs.
pub fn key_set_threshold(members: usize, class: ChangeClass) -> usize {
    share_count_min(members, class) - 1
}

/// Checks a supermajority slot pattern: an exact slot, or a prefix followed by `*`.
pub fn check_slot_pattern(pattern: &str) -> Result<(), CommitteeError> {
    let body = pattern.strip_suffix('*').unwrap_or(pattern);
    let ok = !pattern.is_empty()
        && body.len() <= super::proposal::SLOT_BYTES_MAX
        && body
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_/.-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(CommitteeError::SlotPattern(pattern.to_string()))
    }
}

// Keep the threshold rule and the dealer in one place: the standard set's degree is t.
const _: () = assert!(MEMBERS_MAX <= MemberIndex::MAX as usize);

#[cfg(test)]
mod tests {
    use blsttc::SecretKeySet;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::certify::threshold::faulty_max;

    fn keys(n: usize, class: ChangeClass, seed: u64) -> blsttc::PublicKeySet {
        SecretKeySet::random(
            key_set_threshold(n, class),
            &mut ChaCha8Rng::seed_from_u64(seed),
        )
        .public_keys()
    }

    fn members(n: usize) -> Vec<PeerKey> {
        (0..n).map(|i| PeerKey(vec![i as u8, 7])).collect()
    }

    #[test]
    fn classes_follow_the_patterns_and_key_sets_their_degree() {
        let n = 10;
        let committee = Committee::new(
            3,
            members(n),
            keys(n, ChangeClass::Standard, 1),
            keys(n, ChangeClass::Supermajority, 2),
            vec!["charter/*".into(), "gossip/mesh_n".into()],
        )
        .unwrap();
        assert_eq!(faulty_max(n), 3);
        assert_eq!(
            committee.class_of("charter/policy"),
            ChangeClass::Supermajority
        );
        assert_eq!(
            committee.class_of("gossip/mesh_n"),
            ChangeClass::Supermajority
        );
        assert_eq!(
            committee.class_of("gossip/mesh_n_low"),
            ChangeClass::Standard
        );
        assert_eq!(committee.class_of("probe/interval"), ChangeClass::Standard);
        assert_eq!(committee.member_index(&PeerKey(vec![4, 7])), Some(4));
        assert_eq!(committee.member_index(&PeerKey(vec![40, 7])), None);
    }

    #[test]
    fn wrong_key_sets_duplicates_and_patterns_are_refused() {
        let n = 10;
        let swapped = Committee::new(
            1,
            members(n),
            keys(n, ChangeClass::Supermajority, 1),
            keys(n, ChangeClass::Supermajority, 2),
            vec![],
        );
        assert!(matches!(
            swapped,
            Err(CommitteeError::KeySetThreshold {
                class: ChangeClass::Standard,
                found: 6,
                expected: 3,
                ..
            })
        ));
        let mut twice = members(n);
        twice[5] = twice[2].clone();
        let duplicate = Committee::new(
            1,
            twice,
            keys(n, ChangeClass::Standard, 1),
            keys(n, ChangeClass::Supermajority, 2),
            vec![],
        );
        assert!(matches!(duplicate, Err(CommitteeError::DuplicateMember(5))));
        for bad in ["", "Charter/*", "a*b", "x y"] {
            assert!(check_slot_pattern(bad).is_err(), "{bad}");
        }
    }
}
