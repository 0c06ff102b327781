//! The 33% BFT threshold: a committee of n tolerates t = floor((n-1)/3) faulty members.

/// How many distinct valid signers a change class needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ChangeClass {
    /// t+1: at least one honest member endorsed it. Two certificates for one slot remain
    /// possible if the t faulty members sign both; nodes detect that and halt the slot.
    Standard,
    /// A Byzantine quorum: any two such certificates share more than t signers, so at
    /// least one honest signer, who signs once per slot; conflicting certificates cannot
    /// both exist. That is floor((n + t) / 2) + 1 signers, which equals 2t+1 exactly when
    /// n = 3t+1; for other n, 2t+1 is too few (n = 300: t = 99, 2t+1 = 199, but two sets of
    /// 199 overlap in only 98 members).
    Supermajority,
}

/// t = floor((n-1)/3), the most faulty members a committee of `committee_size` tolerates.
pub fn faulty_max(committee_size: usize) -> usize {
    assert!(committee_size > 0, "a committee has members");
    (committee_size - 1) / 3
}

/// Distinct valid signers a certificate of `class` needs in a committee of `committee_size`.
pub fn share_count_min(committee_size: usize, class: ChangeClass) -> usize {
    let t = faulty_max(committee_size);
    let needed = match class {
        ChangeClass::Standard => t + 1,
        ChangeClass::Supermajority => (committee_size + t) / 2 + 1,
    };
    debug_assert!(needed <= committee_size);
    needed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_committee_sizes() {
        // (n, t, standard, supermajority)
        for (n, t, standard, supermajority) in [
            (1, 0, 1, 1),
            (2, 0, 1, 2),
            (3, 0, 1, 2),
            (4, 1, 2, 3),
            (10, 3, 4, 7),
            (100, 33, 34, 67),
            (300, 99, 100, 200),
        ] {
            assert_eq!(faulty_max(n), t, "n = {n}");
            assert_eq!(
                share_count_min(n, ChangeClass::Standard),
                standard,
                "n = {n}"
            );
            assert_eq!(
                share_count_min(n, ChangeClass::Supermajority),
                supermajority,
                "n = {n}"
            );
        }
    }

    #[test]
    fn faulty_members_alone_never_reach_any_threshold() {
        for n in 1..=1000 {
            let t = faulty_max(n);
            assert!(3 * t < n, "n = {n}: t = {t} is not below a third");
            assert!(share_count_min(n, ChangeClass::Standard) > t);
            // Two supermajorities overlap in more than t members: an honest one.
            let q = share_count_min(n, ChangeClass::Supermajority);
            assert!(2 * q > n + t, "n = {n}");
            assert!(q <= n, "n = {n}: a supermajority must be reachable");
            assert!(q <= n - t, "n = {n}: the honest members alone can reach it");
        }
    }
}
