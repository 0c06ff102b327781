//! `[ballot]` and `[[ballots]]`: how members take part in local (fallback) ballots, the
//! ballots the scenario opens, how honest members vote on each, and what every honest
//! node must have decided at the end.

use serde::{Deserialize, Serialize};

use super::NodeRange;

/// `[ballot]`: the Snapshot hub watch and honest voting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BallotSettings {
    /// Every node asks its Snapshot hub this often (the node's `[dao] poll_interval`).
    #[serde(default = "default_hub_poll_interval_ms")]
    pub hub_poll_interval_ms: u64,
    /// An honest member votes this long after it first sees a ballot open, drawn
    /// uniformly from `vote_delay_ms_min..=vote_delay_ms_max`.
    #[serde(default = "default_vote_delay_ms_min")]
    pub vote_delay_ms_min: u64,
    #[serde(default = "default_vote_delay_ms_max")]
    pub vote_delay_ms_max: u64,
}

fn default_hub_poll_interval_ms() -> u64 {
    30_000
}
fn default_vote_delay_ms_min() -> u64 {
    1_000
}
fn default_vote_delay_ms_max() -> u64 {
    10_000
}

impl Default for BallotSettings {
    fn default() -> Self {
        BallotSettings {
            hub_poll_interval_ms: default_hub_poll_interval_ms(),
            vote_delay_ms_min: default_vote_delay_ms_min(),
            vote_delay_ms_max: default_vote_delay_ms_max(),
        }
    }
}

/// `[[ballots]]`: a member opens a local ballot at `at_ms` (refused, and recorded as
/// such, unless f+1 members' outage attestations have put it in fallback mode).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BallotSpec {
    pub at_ms: u64,
    /// A committee member's node index.
    pub opener: u32,
    pub title: String,
    /// What a pass does, in the effect's text form (`lift-halt`, `settle <slot> <id>`,
    /// `approve <id>`).
    pub effect: String,
    pub duration_ms: u64,
    /// How honest members vote: `yes`, `no`, `abstain`, or `split:F` (the first
    /// round(F * k) of the k honest members, in node order, vote yes, the others no).
    #[serde(default = "default_honest_choice")]
    pub honest_choice: String,
    /// Per-node exceptions to `honest_choice` (later entries win).
    #[serde(default)]
    pub choices: Vec<ChoiceOverride>,
    /// What every honest node up at the end must have decided: `passed`, `rejected`,
    /// `no_decision`, `any` (only the safety invariants), or `not_opened` (the opener's
    /// open is refused and no node holds the ballot).
    #[serde(default)]
    pub expect: BallotExpect,
}

fn default_honest_choice() -> String {
    "yes".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChoiceOverride {
    pub nodes: NodeRange,
    /// `yes`, `no` or `abstain`.
    pub choice: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BallotExpect {
    #[default]
    Any,
    Passed,
    Rejected,
    NoDecision,
    NotOpened,
}

impl BallotExpect {
    pub fn as_str(self) -> &'static str {
        match self {
            BallotExpect::Any => "any",
            BallotExpect::Passed => "passed",
            BallotExpect::Rejected => "rejected",
            BallotExpect::NoDecision => "no_decision",
            BallotExpect::NotOpened => "not_opened",
        }
    }
}

/// An honest member's choice: `yes`, `no` or `abstain`.
pub fn parse_choice(text: &str) -> Option<x0_core::ballot::rules::Choice> {
    x0_core::ballot::rules::Choice::parse(text)
}

impl BallotSpec {
    /// The choice of honest member `node`, given the honest members in node order.
    pub fn choice_of(&self, node: u32, honest_members: &[u32]) -> x0_core::ballot::rules::Choice {
        use x0_core::ballot::rules::Choice;
        let mut choice = match self.honest_choice.strip_prefix("split:") {
            Some(fraction) => {
                let fraction: f64 = fraction.parse().unwrap_or(0.0);
                let yes = (fraction * honest_members.len() as f64).round() as usize;
                let rank = honest_members.iter().position(|m| *m == node);
                if rank.is_some_and(|rank| rank < yes) {
                    Choice::Yes
                } else {
                    Choice::No
                }
            }
            None => parse_choice(&self.honest_choice).unwrap_or(Choice::Abstain),
        };
        for exception in &self.choices {
            if exception.nodes.contains(node) {
                choice = parse_choice(&exception.choice).unwrap_or(choice);
            }
        }
        choice
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use x0_core::ballot::rules::Choice;

    fn ballot(honest_choice: &str, choices: Vec<ChoiceOverride>) -> BallotSpec {
        BallotSpec {
            at_ms: 0,
            opener: 0,
            title: "t".into(),
            effect: "lift-halt".into(),
            duration_ms: 60_000,
            honest_choice: honest_choice.into(),
            choices,
            expect: BallotExpect::Any,
        }
    }

    #[test]
    fn split_gives_yes_to_the_first_honest_members_and_overrides_win() {
        let honest = [0, 1, 2, 4, 5, 6, 8];
        let split = ballot("split:0.5", Vec::new());
        // round(0.5 * 7) = 4: members 0, 1, 2 and 4 vote yes.
        let yes: Vec<u32> = honest
            .iter()
            .copied()
            .filter(|m| split.choice_of(*m, &honest) == Choice::Yes)
            .collect();
        assert_eq!(yes, vec![0, 1, 2, 4]);
        assert_eq!(split.choice_of(8, &honest), Choice::No);
        let overridden = ballot(
            "yes",
            vec![
                ChoiceOverride {
                    nodes: NodeRange { first: 4, last: 6 },
                    choice: "no".into(),
                },
                ChoiceOverride {
                    nodes: NodeRange { first: 6, last: 6 },
                    choice: "abstain".into(),
                },
            ],
        );
        assert_eq!(overridden.choice_of(0, &honest), Choice::Yes);
        assert_eq!(overridden.choice_of(5, &honest), Choice::No);
        assert_eq!(overridden.choice_of(6, &honest), Choice::Abstain);
    }
}
