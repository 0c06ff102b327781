//! The decision rules, as pure functions over a tally (docs/PROTOCOL.md, "Ballot rules").
//!
//! * **Snapshot path** (the DAO's own rule): quorum of 5% of the network's nodes, and
//!   more than half of the votes cast are yes. One node one vote, never token balance.
//! * **Local fallback**: participation above 2/3 of the frozen electorate, yes above half
//!   of the votes cast, and yes at least floor(n/3) + 1. The last term means the faulty
//!   members alone (at most floor((n-1)/3)) can never pass anything; the first means two
//!   sides of a partition cannot both reach participation, so they cannot decide two
//!   results (docs/PROTOCOL.md has the counting argument).
//!
//! `Rejected` is the mirror image with no in place of yes, so a rejection is as hard to
//! reach as a pass; anything else is `NoDecision` and changes nothing.

/// Votes counted for one ballot (abstentions are votes cast).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tally {
    pub yes: u64,
    pub no: u64,
    pub abstain: u64,
}

impl Tally {
    pub fn cast(&self) -> u64 {
        self.yes + self.no + self.abstain
    }

    pub fn add(&mut self, choice: Choice) {
        match choice {
            Choice::Yes => self.yes += 1,
            Choice::No => self.no += 1,
            Choice::Abstain => self.abstain += 1,
        }
    }
}

/// One voter's choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Choice {
    Yes,
    No,
    Abstain,
}

impl Choice {
    pub const ALL: [Choice; 3] = [Choice::Yes, Choice::No, Choice::Abstain];

    /// Wire byte (docs/PROTOCOL.md): 1 yes, 2 no, 3 abstain. Snapshot's basic proposals
    /// number their choices the same way (1 For, 2 Against, 3 Abstain).
    pub fn code(self) -> u8 {
        match self {
            Choice::Yes => 1,
            Choice::No => 2,
            Choice::Abstain => 3,
        }
    }

    pub fn from_code(code: u8) -> Option<Choice> {
        Choice::ALL.into_iter().find(|c| c.code() == code)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Choice::Yes => "yes",
            Choice::No => "no",
            Choice::Abstain => "abstain",
        }
    }

    pub fn parse(text: &str) -> Option<Choice> {
        Choice::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

/// What a ballot decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    Passed,
    Rejected,
    /// Too few votes, or neither side won clearly: nothing changes.
    NoDecision,
}

impl Outcome {
    pub fn code(self) -> u8 {
        match self {
            Outcome::Passed => 1,
            Outcome::Rejected => 2,
            Outcome::NoDecision => 3,
        }
    }

    pub fn from_code(code: u8) -> Option<Outcome> {
        [Outcome::Passed, Outcome::Rejected, Outcome::NoDecision]
            .into_iter()
            .find(|o| o.code() == code)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Rejected => "rejected",
            Outcome::NoDecision => "no_decision",
        }
    }
}

/// The local fallback rule over a frozen electorate of `electorate` members.
pub fn local_outcome(tally: &Tally, electorate: u64) -> Outcome {
    let cast = tally.cast();
    // Participation strictly above 2/3, in integers: 3 * cast > 2 * n.
    if electorate == 0 || 3 * cast <= 2 * electorate {
        return Outcome::NoDecision;
    }
    let side_min = electorate / 3 + 1;
    if 2 * tally.yes > cast && tally.yes >= side_min {
        Outcome::Passed
    } else if 2 * tally.no > cast && tally.no >= side_min {
        Outcome::Rejected
    } else {
        Outcome::NoDecision
    }
}

/// Smallest number of votes that meets Snapshot's 5% quorum of `network_nodes`.
pub fn snapshot_quorum_votes(network_nodes: u64) -> u64 {
    // ceil(n / 20), and at least one vote.
    network_nodes.div_ceil(20).max(1)
}

/// The Snapshot rule: votes cast at least 5% of the network's nodes, then a strict
/// majority of the votes cast decides.
pub fn snapshot_outcome(tally: &Tally, network_nodes: u64) -> Outcome {
    let cast = tally.cast();
    if network_nodes == 0 || cast < snapshot_quorum_votes(network_nodes) {
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

/// The most members that may be faulty in an electorate of `n`: floor((n-1)/3).
pub fn faulty_max(n: u64) -> u64 {
    n.saturating_sub(1) / 3
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(yes: u64, no: u64, abstain: u64) -> Tally {
        Tally { yes, no, abstain }
    }

    #[test]
    fn local_rule_needs_participation_majority_and_a_third_plus_one() {
        // n = 10: participation needs 7 votes, a side needs 4.
        assert_eq!(local_outcome(&tally(6, 0, 0), 10), Outcome::NoDecision);
        assert_eq!(local_outcome(&tally(4, 3, 0), 10), Outcome::Passed);
        assert_eq!(local_outcome(&tally(3, 4, 0), 10), Outcome::Rejected);
        // Majority of votes cast but under floor(n/3)+1 yes: abstentions cannot be used
        // to pass with a handful of yes votes.
        assert_eq!(local_outcome(&tally(3, 0, 4), 10), Outcome::NoDecision);
        assert_eq!(local_outcome(&tally(4, 0, 3), 10), Outcome::Passed);
        // A tie decides nothing.
        assert_eq!(local_outcome(&tally(4, 4, 0), 10), Outcome::NoDecision);
        assert_eq!(local_outcome(&tally(0, 0, 0), 0), Outcome::NoDecision);
    }

    #[test]
    fn faulty_members_alone_never_pass_a_local_ballot() {
        for n in 1..=400u64 {
            let f = faulty_max(n);
            // Even if every honest member abstains, f yes votes are not enough.
            let worst = tally(f, 0, n - f);
            assert_ne!(local_outcome(&worst, n), Outcome::Passed, "n = {n}");
            assert_ne!(local_outcome(&tally(0, f, n - f), n), Outcome::Rejected);
        }
    }

    #[test]
    fn two_sides_of_a_partition_cannot_both_reach_participation() {
        // Honest members split into sides a and b; the f faulty ones vote on both sides.
        for n in 1..=200u64 {
            let f = faulty_max(n);
            let honest = n - f;
            for a in 0..=honest {
                let b = honest - a;
                let side_a = local_outcome(&tally(a + f, 0, 0), n);
                let side_b = local_outcome(&tally(0, b + f, 0), n);
                assert!(
                    side_a == Outcome::NoDecision || side_b == Outcome::NoDecision,
                    "n = {n}, a = {a}, b = {b}: {side_a:?} vs {side_b:?}"
                );
            }
        }
    }

    #[test]
    fn snapshot_rule_is_quorum_then_majority() {
        assert_eq!(snapshot_quorum_votes(100), 5);
        assert_eq!(snapshot_quorum_votes(101), 6);
        assert_eq!(snapshot_quorum_votes(3), 1);
        assert_eq!(snapshot_outcome(&tally(4, 0, 0), 100), Outcome::NoDecision);
        assert_eq!(snapshot_outcome(&tally(3, 2, 0), 100), Outcome::Passed);
        assert_eq!(snapshot_outcome(&tally(2, 2, 1), 100), Outcome::NoDecision);
        assert_eq!(snapshot_outcome(&tally(2, 3, 0), 100), Outcome::Rejected);
        assert_eq!(snapshot_outcome(&tally(1, 0, 0), 0), Outcome::NoDecision);
    }

    #[test]
    fn codes_round_trip() {
        for choice in Choice::ALL {
            assert_eq!(Choice::from_code(choice.code()), Some(choice));
            assert_eq!(Choice::parse(choice.as_str()), Some(choice));
        }
        assert_eq!(Choice::from_code(0), None);
        assert_eq!(Choice::from_code(4), None);
        for outcome in [Outcome::Passed, Outcome::Rejected, Outcome::NoDecision] {
            assert_eq!(Outcome::from_code(outcome.code()), Some(outcome));
        }
    }
}
