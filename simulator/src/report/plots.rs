//! What the SVG plots draw (`crate::plot`), kept in the report so that `report.json`
//! holds all a plot needs and a plot can be redrawn from the JSON alone: the probe
//! latency CDF, how each certificate spread over the honest nodes, and the scenario's
//! faults on a time line with the interval each one covers.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use x0_core::certify::proposal::ProposalId;
use x0_core::certify::wire::CertificateMessage;

use super::Stats;
use crate::gossip::NodeId;
use crate::scenario::{Direction, Fault, NodeRange, Scenario};

/// Points kept per certificate's spread curve, at most: a 10,000-node run would otherwise
/// put 10,000 (time, count) pairs per certificate into the JSON report.
pub const SPREAD_POINTS_MAX: usize = 200;

/// When honest nodes came to hold one certificate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CertificateSpread {
    pub id: String,
    /// The slot, when an honest node still holds the certificate at the end.
    pub slot: Option<String>,
    pub proposed_at_ms: Option<u64>,
    /// The first honest node to hold it: when the certificate formed.
    pub formed_at_ms: u64,
    /// (virtual ms, honest nodes that held it by then), rising; at most
    /// `SPREAD_POINTS_MAX` points, the last one exact. A node that held it and later
    /// crashed still counts: this is when it got there, not who has it at the end.
    pub holders: Vec<(u64, usize)>,
}

/// Each certificate an honest node came to hold, with when the honest nodes got it (a
/// node that held it and later crashed still counts: this is when it got there, not who
/// has it at the end), in the order the certificates formed.
pub(super) fn certificate_spread(
    stats: &Stats,
    honest: &BTreeSet<NodeId>,
    all: &BTreeMap<ProposalId, CertificateMessage>,
    proposed: &BTreeMap<ProposalId, u64>,
) -> Vec<CertificateSpread> {
    let mut certificate_spread: Vec<CertificateSpread> = stats
        .certified
        .iter()
        .filter_map(|(id, holders)| {
            let mut times: Vec<u64> = holders
                .iter()
                .filter(|(node, _)| honest.contains(node))
                .map(|(_, at)| *at)
                .collect();
            times.sort_unstable();
            let formed_at_ms = *times.first()?;
            Some(CertificateSpread {
                id: hex::encode(id.0),
                slot: all.get(id).map(|c| c.proposal.slot.clone()),
                proposed_at_ms: proposed.get(id).copied(),
                formed_at_ms,
                holders: spread_points(&times, SPREAD_POINTS_MAX),
            })
        })
        .collect();
    // In the order they formed, as a reader of the plots and the report expects.
    certificate_spread.sort_by(|a, b| (a.formed_at_ms, &a.id).cmp(&(b.formed_at_ms, &b.id)));
    certificate_spread
}

/// (time, holders) after each of the sorted holding `times`, thinned to at most
/// `points_max` points that all lie on the exact step curve, the last one included.
fn spread_points(times: &[u64], points_max: usize) -> Vec<(u64, usize)> {
    let k = times.len();
    let points = k.min(points_max.max(1));
    let mut out: Vec<(u64, usize)> = Vec::with_capacity(points);
    for j in 1..=points {
        // The j-th of `points` evenly spaced ranks, rounded up: rank k comes last.
        let at = times[(j * k).div_ceil(points) - 1];
        // Every node that held it by `at`, also those at the same instant ranked later.
        let count = times.partition_point(|t| *t <= at);
        match out.last() {
            Some(last) if last.0 == at => {}
            _ => out.push((at, count)),
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    Partition,
    Heal,
    Crash,
    Restart,
    Loss,
    Churn,
    ClockSkew,
    HubDown,
}

impl FaultKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::Partition => "partition",
            FaultKind::Heal => "heal",
            FaultKind::Crash => "crash",
            FaultKind::Restart => "restart",
            FaultKind::Loss => "loss",
            FaultKind::Churn => "churn",
            FaultKind::ClockSkew => "clock_skew",
            FaultKind::HubDown => "hub_down",
        }
    }
}

/// One fault of the scenario on the run's time line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultSpan {
    pub kind: FaultKind,
    pub at_ms: u64,
    /// When its effect ends: a partition at the next heal or partition, a crash at the
    /// first restart that covers any of its nodes, a loss episode at its `until_ms`.
    /// `None` for instants (heal, restart) and for faults that last to the run's end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until_ms: Option<u64>,
    /// The nodes hit: a partition's groups, else one range (none for a heal).
    pub nodes: Vec<NodeRange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skew_ms: Option<i64>,
}

impl FaultSpan {
    /// Whether the fault covers an interval (drawn as a bar) rather than an instant.
    pub fn is_interval(&self) -> bool {
        !matches!(self.kind, FaultKind::Heal | FaultKind::Restart)
    }
}

/// The scenario's faults in firing order (time, then file order, as the engine fires
/// ties), each with the end of its effect where the scenario implies one.
pub fn fault_timeline(scenario: &Scenario) -> Vec<FaultSpan> {
    let mut order: Vec<&Fault> = scenario.faults.iter().collect();
    // A stable sort keeps file order among equal times, as the engine does.
    order.sort_by_key(|f| f.at_ms());
    order
        .iter()
        .enumerate()
        .map(|(position, fault)| {
            let later = &order[position + 1..];
            let span = |kind, nodes: Vec<NodeRange>| FaultSpan {
                kind,
                at_ms: fault.at_ms(),
                until_ms: None,
                nodes,
                direction: None,
                rate: None,
                skew_ms: None,
            };
            match fault {
                Fault::Partition {
                    groups, direction, ..
                } => FaultSpan {
                    until_ms: later
                        .iter()
                        .find(|f| matches!(f, Fault::Heal { .. } | Fault::Partition { .. }))
                        .map(|f| f.at_ms()),
                    direction: Some(*direction),
                    ..span(FaultKind::Partition, groups.clone())
                },
                Fault::Heal { .. } => span(FaultKind::Heal, Vec::new()),
                Fault::Crash { nodes, .. } => FaultSpan {
                    until_ms: later
                        .iter()
                        .find(|f| match f {
                            Fault::Restart { nodes: up, .. } => {
                                up.first <= nodes.last && nodes.first <= up.last
                            }
                            _ => false,
                        })
                        .map(|f| f.at_ms()),
                    ..span(FaultKind::Crash, vec![*nodes])
                },
                Fault::Restart { nodes, .. } => span(FaultKind::Restart, vec![*nodes]),
                Fault::Loss {
                    until_ms,
                    nodes,
                    rate,
                    direction,
                    ..
                } => FaultSpan {
                    until_ms: Some(*until_ms),
                    direction: Some(*direction),
                    rate: Some(*rate),
                    ..span(FaultKind::Loss, vec![*nodes])
                },
                Fault::Churn {
                    until_ms, nodes, ..
                } => FaultSpan {
                    until_ms: Some(*until_ms),
                    ..span(FaultKind::Churn, vec![*nodes])
                },
                Fault::ClockSkew { nodes, skew_ms, .. } => FaultSpan {
                    skew_ms: Some(*skew_ms),
                    ..span(FaultKind::ClockSkew, vec![*nodes])
                },
                Fault::HubDown {
                    until_ms, nodes, ..
                } => FaultSpan {
                    until_ms: *until_ms,
                    ..span(FaultKind::HubDown, vec![*nodes])
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_points_stay_on_the_step_curve_and_end_exact() {
        let times: Vec<u64> = (0..10_000u64).map(|i| 1_000 + i / 3).collect();
        let points = spread_points(&times, SPREAD_POINTS_MAX);
        assert!(points.len() <= SPREAD_POINTS_MAX);
        assert_eq!(*points.last().unwrap(), (times[9_999], 10_000));
        for window in points.windows(2) {
            assert!(window[0].0 < window[1].0 && window[0].1 < window[1].1);
        }
        for (at, count) in &points {
            // `count` nodes held it by `at`, and no more than that at `at` itself.
            assert_eq!(times.iter().filter(|t| *t <= at).count(), *count);
        }
        // Few holders: every one of them is a point.
        assert_eq!(spread_points(&[5, 9, 9], 200), vec![(5, 1), (9, 3)]);
        assert!(spread_points(&[], 200).is_empty());
    }

    #[test]
    fn fault_timeline_ends_partitions_at_the_heal_and_crashes_at_their_restart() {
        let text = r#"
name = "t"
description = ""
seed = 1
duration_ms = 60000
[topology]
nodes = 20
connections_per_node = 4
[network]
latency = { kind = "fixed", ms = 10 }
[committee]
size = 4
[[faults]]
kind = "heal"
at_ms = 30000
[[faults]]
kind = "partition"
at_ms = 5000
groups = [{ first = 0, last = 9 }, { first = 10, last = 19 }]
direction = "one_way"
[[faults]]
kind = "crash"
at_ms = 10000
nodes = { first = 12, last = 15 }
[[faults]]
kind = "restart"
at_ms = 40000
nodes = { first = 15, last = 16 }
[[faults]]
kind = "loss"
at_ms = 1000
until_ms = 2000
nodes = { first = 1, last = 1 }
rate = 0.5
direction = "two_way"
[[faults]]
kind = "clock_skew"
at_ms = 3000
nodes = { first = 2, last = 3 }
skew_ms = -250
[criteria]
"#;
        let scenario = Scenario::from_toml(text, "inline").unwrap();
        let timeline = fault_timeline(&scenario);
        let kinds: Vec<FaultKind> = timeline.iter().map(|f| f.kind).collect();
        assert_eq!(
            kinds,
            vec![
                FaultKind::Loss,
                FaultKind::ClockSkew,
                FaultKind::Partition,
                FaultKind::Crash,
                FaultKind::Heal,
                FaultKind::Restart
            ]
        );
        let until: Vec<Option<u64>> = timeline.iter().map(|f| f.until_ms).collect();
        assert_eq!(
            until,
            vec![Some(2000), None, Some(30000), Some(40000), None, None]
        );
        assert_eq!(timeline[2].nodes.len(), 2);
        assert_eq!(timeline[1].skew_ms, Some(-250));
        assert!(timeline[1].is_interval() && !timeline[5].is_interval());
    }
}
