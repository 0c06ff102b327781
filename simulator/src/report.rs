//! What a run measured and whether the scenario's criteria held: figures, invariants, the
//! trace digest (same scenario and seed, same digest), and the command that replays it.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use x0_core::certify::proposal::ProposalId;
use x0_core::certify::threshold::{faulty_max, share_count_min, ChangeClass};
use x0_core::certify::wire::CertificateMessage;

use x0_core::ballot::rules::Outcome;
use x0_core::ballot::wire::{BallotId, Open};
use x0_core::ids::PeerKey;

use crate::ballots::Decision;
use crate::gossip::{GossipCounters, GossipMessage, NodeId};
use crate::scenario::{Direction, Fault, NodeRange, Scenario};

/// Latencies are counted in 1 ms buckets up to this; later ones land in the last bucket.
/// A fixed array keeps the figures exact and the memory bounded at any scale.
pub const LATENCY_BUCKETS_MS: usize = 60_001;

/// Points kept per certificate's spread curve, at most: a 10,000-node run would otherwise
/// put 10,000 (time, count) pairs per certificate into the JSON report.
pub const SPREAD_POINTS_MAX: usize = 200;

/// Counters the world keeps during a run.
#[derive(Default)]
pub struct Stats {
    pub probes_published: u64,
    /// First receipts of a message at a node (every topic).
    pub receipts: u64,
    pub messages_sent: u64,
    pub messages_lost: u64,
    pub shares_rejected: u64,
    pub certificates_rejected: u64,
    pub evidence: u64,
    pub replays_published: u64,
    pub flood_published: u64,
    /// Messages authored by flooding nodes that reached an honest node's validation.
    pub flood_validated: u64,
    /// Events the engine fired, timers that had lapsed included.
    pub events: u64,
    /// Sybil connections its target accepted, dials it refused at `connections_max`,
    /// and Sybil GRAFTs it took into a mesh.
    pub eclipse_connections: u64,
    pub eclipse_dials_refused: u64,
    pub eclipse_grafts_accepted: u64,
    /// Probe delivery latency at every node that validates probes (withholders and
    /// Sybils do not), and at the targets of eclipse attempts only.
    pub delivery: LatencyHistogram,
    pub eclipse_target_delivery: LatencyHistogram,
    /// Deliveries of probes published in quiet phases (no partition, loss or crashed node
    /// in force).
    pub quiet_delivery: LatencyHistogram,
    /// (id, time, proposer honest) of every proposal made.
    pub proposals: Vec<(ProposalId, u64, bool)>,
    /// Certificate -> node -> virtual time it was held there.
    pub certified: BTreeMap<ProposalId, BTreeMap<NodeId, u64>>,
    /// Times of heals and restarts: recovery is measured from the last one.
    pub heals_ms: Vec<u64>,
    /// Privileged messages honest nodes' gates admitted, and refused by reason.
    pub auth_admitted: u64,
    pub auth_rejected: BTreeMap<&'static str, u64>,
    /// Privileged messages the token attackers (`Behaviour::AGAINST_TOKENS`) sent, by kind.
    pub auth_attacks: BTreeMap<&'static str, u64>,
    /// Invariant: per honest node, privileged messages admitted whose author is a token
    /// forger, a replayer of privileged messages or a member beyond its rights.
    pub byzantine_privileged_admitted: BTreeMap<NodeId, u64>,
    /// Invariant: per honest node, admissions of a privileged message it had admitted
    /// before (in this life or an earlier one).
    pub privileged_replays_admitted: BTreeMap<NodeId, u64>,
    /// Admissions beyond `ADMISSIONS_TRACKED_MAX` messages, not checked for repeats.
    pub admissions_untracked: u64,
    /// Persisted nonces a restarted gate could not hold (beyond its bound).
    pub nonces_not_restored: u64,
    /// Ballot messages honest books refused or ignored, by reason.
    pub ballot_refused: BTreeMap<&'static str, u64>,
    /// What the Byzantine voters sent, by kind.
    pub ballot_attacks: BTreeMap<&'static str, u64>,
    /// The scenario's ballots as their openers tried to open them.
    pub ballot_opens: Vec<BallotOpenRecord>,
    /// Ballot -> honest node -> what it decided.
    pub ballot_decisions: BTreeMap<BallotId, BTreeMap<NodeId, Decision>>,
    /// The highest own vote sequence each honest node published per ballot (across
    /// restarts), and per node the votes that did not go above it (invariant).
    pub ballot_own_sequence: BTreeMap<(NodeId, BallotId), u64>,
    pub ballot_sequence_reused: BTreeMap<NodeId, u64>,
    /// When each honest node last accepted an open of each opener (its store, across
    /// restarts), and per node the opens it accepted within the rate limit (invariant).
    pub ballot_last_open_ms: BTreeMap<(NodeId, PeerKey), u64>,
    pub ballot_rate_broken: BTreeMap<NodeId, u64>,
    /// Opens honest nodes accepted (stored), in all.
    pub ballot_opens_accepted: u64,
}

/// A scenario ballot's open: its id, or why the opener's book refused it.
#[derive(Debug, Clone)]
pub struct BallotOpenRecord {
    pub index: usize,
    pub at_ms: u64,
    pub id: Option<BallotId>,
    pub refused: Option<String>,
}

impl Stats {
    pub fn count_attack(&mut self, what: &'static str, count: u64) {
        if count > 0 {
            *self.auth_attacks.entry(what).or_insert(0) += count;
        }
    }

    pub fn count_ballot_attack(&mut self, what: &'static str, count: u64) {
        if count > 0 {
            *self.ballot_attacks.entry(what).or_insert(0) += count;
        }
    }

    /// An honest node stored (accepted) an open: the rate limit must hold between the
    /// opens of one opener it accepts.
    pub fn record_ballot_open(&mut self, node: NodeId, open: &Open, interval_ms_min: u64) {
        self.ballot_opens_accepted += 1;
        let key = (node, open.opener.clone());
        if let Some(last) = self.ballot_last_open_ms.get(&key) {
            if open.opened_at_unix_ms.abs_diff(*last) < interval_ms_min {
                *self.ballot_rate_broken.entry(node).or_insert(0) += 1;
            }
        }
        self.ballot_last_open_ms.insert(key, open.opened_at_unix_ms);
    }

    /// An honest node stored its own vote: its sequence must be above every earlier one.
    pub fn record_own_vote(&mut self, node: NodeId, id: BallotId, sequence: u64) {
        let highest = self.ballot_own_sequence.entry((node, id)).or_insert(0);
        if sequence <= *highest {
            *self.ballot_sequence_reused.entry(node).or_insert(0) += 1;
        }
        *highest = (*highest).max(sequence);
    }

    pub fn record_receipt(&mut self, _message: &GossipMessage, _node: NodeId, _now_ms: u64) {
        self.receipts += 1;
    }

    pub fn record_certified(&mut self, id: ProposalId, node: NodeId, now_ms: u64) {
        self.certified
            .entry(id)
            .or_default()
            .entry(node)
            .or_insert(now_ms);
    }
}

/// Probe delivery latencies in 1 ms buckets; the last bucket holds every latency of
/// `LATENCY_BUCKETS_MS - 1` ms or more.
pub struct LatencyHistogram {
    buckets_ms: Vec<u64>,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            buckets_ms: vec![0; LATENCY_BUCKETS_MS],
        }
    }
}

impl LatencyHistogram {
    pub fn record(&mut self, latency_ms: u64) {
        let bucket = (latency_ms as usize).min(LATENCY_BUCKETS_MS - 1);
        self.buckets_ms[bucket] += 1;
    }

    fn count(&self) -> u64 {
        self.buckets_ms.iter().sum()
    }

    /// (ms, deliveries at or below it) for every non-empty bucket.
    fn cdf(&self) -> Vec<(u64, u64)> {
        let mut seen = 0;
        self.buckets_ms
            .iter()
            .enumerate()
            .filter(|(_, count)| **count > 0)
            .map(|(ms, count)| {
                seen += count;
                (ms as u64, seen)
            })
            .collect()
    }

    /// The smallest latency with at least `quantile` of deliveries at or below it.
    fn quantile_ms(&self, quantile: f64) -> Option<u64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let target = ((total as f64) * quantile).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (ms, count) in self.buckets_ms.iter().enumerate() {
            seen += count;
            if seen >= target {
                return Some(ms as u64);
            }
        }
        Some((LATENCY_BUCKETS_MS - 1) as u64)
    }
}

/// How a node ended the run.
pub struct NodeEnd {
    pub node: NodeId,
    pub up: bool,
    pub honest: bool,
    pub certificates: Vec<CertificateMessage>,
    pub halted: Vec<(u64, String)>,
    pub gossip: GossipCounters,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub scenario: String,
    pub seed: u64,
    pub nodes: u32,
    pub committee_size: usize,
    pub faulty_max: usize,
    pub duration_ms: u64,
    pub figures: Figures,
    pub certificates: Vec<CertificateFigures>,
    pub criteria: Vec<CriterionResult>,
    pub passed: bool,
    /// SHA-256 over the event trace: equal for equal scenario and seed.
    pub trace_sha256: String,
    /// Nodes without Byzantine behaviour, up or not: the ceiling of every spread curve.
    pub honest_nodes: usize,
    /// Probe delivery latency as (ms, deliveries at or below it), one point per non-empty
    /// 1 ms bucket (the last bucket, `LATENCY_BUCKETS_MS - 1`, also holds later ones).
    pub latency_cdf: Vec<(u64, u64)>,
    /// How each certificate spread over the honest nodes as the run went on.
    pub certificate_spread: Vec<CertificateSpread>,
    /// The scenario's faults in the order they fire, with the interval each one covers.
    pub fault_timeline: Vec<FaultSpan>,
    /// Local ballots: the scenario's, then any other an honest node decided.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ballots: Vec<BallotFigures>,
}

/// One local ballot as the honest nodes decided it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BallotFigures {
    /// Hex ballot id; `None` when the open was refused.
    pub id: Option<String>,
    /// Its index in the scenario's `[[ballots]]`; `None` for a ballot the scenario did
    /// not schedule (a Byzantine member's).
    pub index: Option<usize>,
    pub expect: Option<&'static str>,
    pub opened_at_ms: Option<u64>,
    pub refused: Option<String>,
    /// Honest nodes that decided each outcome.
    pub passed: usize,
    pub rejected: usize,
    pub no_decision: usize,
    /// Honest nodes up at the end without a decision.
    pub undecided_up: usize,
    /// Voters excluded for equivocation by every honest node that decided.
    pub excluded_everywhere: Vec<NodeId>,
}

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

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    pub probes_published: u64,
    pub probe_deliveries: u64,
    pub delivery_p50_ms: Option<u64>,
    pub delivery_p99_ms: Option<u64>,
    pub delivery_max_ms: Option<u64>,
    pub messages_sent: u64,
    pub first_receipts: u64,
    /// Full messages sent per first receipt: gossipsub's amplification.
    pub sends_per_delivery: Option<f64>,
    pub messages_lost: u64,
    pub shares_rejected: u64,
    pub certificates_rejected: u64,
    pub evidence_records: u64,
    pub duplicates_received: u64,
    pub replays_published: u64,
    pub flood_published: u64,
    /// Flood messages that reached an honest node's validation (the rest were cut off
    /// by graylisting and pruning).
    pub flood_messages_validated: u64,
    /// Events the engine fired: the unit of a run's work (events per second of wall
    /// time is the simulator's speed).
    pub events: u64,
    /// Eclipse attempts: Sybil connections accepted, dials refused, and Sybil GRAFTs
    /// taken into a target's mesh (the target's mesh is trimmed back at its heartbeat,
    /// keeping peers it dialled).
    pub eclipse_connections: u64,
    pub eclipse_dials_refused: u64,
    pub eclipse_grafts_accepted: u64,
    /// Probes the targets of eclipse attempts received, and their p99 latency.
    pub eclipse_target_probe_deliveries: u64,
    pub eclipse_target_delivery_p99_ms: Option<u64>,
    /// Deliveries of probes published in quiet phases (no partition, loss or crashed
    /// node in force), and their p99.
    pub quiet_probe_deliveries: u64,
    pub quiet_delivery_p99_ms: Option<u64>,
    /// Privileged messages (proposals, shares) honest nodes' gates admitted, and refused
    /// by reason (`x0_auth_rejected_total{reason}` of the node). Each refusal is a gossip
    /// Reject: the peer that sent it is penalised, and it goes no further.
    pub auth_admitted: u64,
    pub auth_rejected: BTreeMap<&'static str, u64>,
    /// What the token attackers sent, by kind: `forged_proposals`, `forged_shares`,
    /// `proposals_beyond_rights`, `shares_beyond_rights`, `replayed_as_own`,
    /// `reinjected` (originals re-sent after the seen caches let them go),
    /// `handed_to_new_peers` (captures handed to a peer that connected).
    pub auth_attacks_published: BTreeMap<&'static str, u64>,
    /// Invariants (must be 0): privileged messages of token forgers, replayers and members
    /// beyond their rights admitted by honest nodes; privileged messages admitted twice by
    /// one honest node.
    pub byzantine_privileged_admitted: u64,
    pub privileged_replays_admitted: u64,
    /// Admissions not checked for repeats (beyond the tracking bound), and persisted
    /// nonces a restarted gate could not hold (beyond its bound).
    pub admissions_untracked: u64,
    pub nonces_not_restored: u64,
    /// Ballot messages honest books refused or ignored, by reason, and what Byzantine
    /// voters sent, by kind (`equivocating_votes`, `forged_votes`, `spam_opens`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub ballot_refused: BTreeMap<&'static str, u64>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub ballot_attacks: BTreeMap<&'static str, u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CertificateFigures {
    pub id: String,
    pub proposed_at_ms: Option<u64>,
    /// Honest nodes up at the end that hold it, of all honest nodes up at the end.
    pub held_by: usize,
    pub honest_up: usize,
    /// Slowest honest node, from the proposal (or the last heal/restart before it held it).
    pub slowest_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CriterionResult {
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

/// What the report needs of the committee, whatever crypto the run used: its size, the
/// class of a slot, and whether a certificate verifies under its class's key set (checked
/// with the strict scheme, never with a weakened core's).
pub struct CommitteeCheck<'a> {
    pub size: usize,
    pub class_of: &'a dyn Fn(&str) -> ChangeClass,
    pub verifies: &'a dyn Fn(&CertificateMessage) -> bool,
}

pub fn build(
    scenario: &Scenario,
    seed: u64,
    committee: &CommitteeCheck<'_>,
    stats: Stats,
    nodes: Vec<NodeEnd>,
    trace_sha256: [u8; 32],
) -> Report {
    let honest_up: Vec<&NodeEnd> = nodes.iter().filter(|n| n.up && n.honest).collect();
    let duplicates_received = nodes.iter().map(|n| n.gossip.duplicates_received).sum();
    let figures = Figures {
        probes_published: stats.probes_published,
        probe_deliveries: stats.delivery.count(),
        delivery_p50_ms: stats.delivery.quantile_ms(0.5),
        delivery_p99_ms: stats.delivery.quantile_ms(0.99),
        delivery_max_ms: stats.delivery.quantile_ms(1.0),
        messages_sent: stats.messages_sent,
        first_receipts: stats.receipts,
        sends_per_delivery: (stats.receipts > 0)
            .then(|| stats.messages_sent as f64 / stats.receipts as f64),
        messages_lost: stats.messages_lost,
        shares_rejected: stats.shares_rejected,
        certificates_rejected: stats.certificates_rejected,
        evidence_records: stats.evidence,
        duplicates_received,
        replays_published: stats.replays_published,
        flood_published: stats.flood_published,
        flood_messages_validated: stats.flood_validated,
        events: stats.events,
        eclipse_connections: stats.eclipse_connections,
        eclipse_dials_refused: stats.eclipse_dials_refused,
        eclipse_grafts_accepted: stats.eclipse_grafts_accepted,
        eclipse_target_probe_deliveries: stats.eclipse_target_delivery.count(),
        eclipse_target_delivery_p99_ms: stats.eclipse_target_delivery.quantile_ms(0.99),
        quiet_probe_deliveries: stats.quiet_delivery.count(),
        quiet_delivery_p99_ms: stats.quiet_delivery.quantile_ms(0.99),
        auth_admitted: stats.auth_admitted,
        auth_rejected: stats.auth_rejected.clone(),
        auth_attacks_published: stats.auth_attacks.clone(),
        byzantine_privileged_admitted: stats.byzantine_privileged_admitted.values().sum(),
        privileged_replays_admitted: stats.privileged_replays_admitted.values().sum(),
        admissions_untracked: stats.admissions_untracked,
        nonces_not_restored: stats.nonces_not_restored,
        ballot_refused: stats.ballot_refused.clone(),
        ballot_attacks: stats.ballot_attacks.clone(),
    };
    // Every certificate any honest node holds.
    let mut all: BTreeMap<ProposalId, CertificateMessage> = BTreeMap::new();
    for node in nodes.iter().filter(|n| n.honest) {
        for certificate in &node.certificates {
            all.entry(certificate.proposal.id())
                .or_insert_with(|| certificate.clone());
        }
    }
    let proposed: BTreeMap<ProposalId, u64> = stats
        .proposals
        .iter()
        .map(|(id, at, _)| (*id, *at))
        .collect();
    let recovery_base = |proposed_at: u64, held_at: u64| -> u64 {
        stats
            .heals_ms
            .iter()
            .copied()
            .filter(|h| *h <= held_at)
            .fold(proposed_at, u64::max)
    };
    let certificates: Vec<CertificateFigures> = all
        .keys()
        .map(|id| {
            let holders = stats.certified.get(id);
            let held_by = honest_up
                .iter()
                .filter(|n| n.certificates.iter().any(|c| c.proposal.id() == *id))
                .count();
            let proposed_at = proposed.get(id).copied();
            let slowest_ms = match (proposed_at, holders) {
                (Some(at), Some(holders)) => honest_up
                    .iter()
                    .map(|n| {
                        holders
                            .get(&n.node)
                            .map(|t| t - recovery_base(at, *t).min(*t))
                    })
                    .collect::<Option<Vec<u64>>>()
                    .and_then(|v| v.into_iter().max()),
                _ => None,
            };
            CertificateFigures {
                id: hex::encode(id.0),
                proposed_at_ms: proposed_at,
                held_by,
                honest_up: honest_up.len(),
                slowest_ms,
            }
        })
        .collect();

    let mut criteria = Vec::new();
    let c = &scenario.criteria;
    if let Some(max) = c.delivery_p99_ms_max {
        let p99 = figures.delivery_p99_ms;
        criteria.push(CriterionResult {
            name: "delivery_p99_ms_max".into(),
            passed: p99.is_some_and(|p| p <= max),
            detail: match p99 {
                Some(p99) => format!("p99 {p99} ms, at most {max} ms"),
                None => "no probe was delivered".into(),
            },
        });
    }
    if let Some(max) = c.quiet_delivery_p99_ms_max {
        let p99 = figures.quiet_delivery_p99_ms;
        criteria.push(CriterionResult {
            name: "quiet_delivery_p99_ms_max".into(),
            passed: p99.is_some_and(|p| p <= max),
            detail: match p99 {
                Some(p99) => format!(
                    "p99 {p99} ms over {} deliveries of probes published with no partition, loss or crash in force, at most {max} ms",
                    figures.quiet_probe_deliveries
                ),
                None => "no probe was published in a quiet phase".into(),
            },
        });
    }
    if c.no_loss {
        let missing: Vec<String> = certificates
            .iter()
            .filter(|f| f.held_by < f.honest_up)
            .map(|f| format!("{}: {}/{}", &f.id[..12], f.held_by, f.honest_up))
            .collect();
        criteria.push(CriterionResult {
            name: "no_loss".into(),
            passed: missing.is_empty(),
            detail: if missing.is_empty() {
                format!(
                    "{} certificates on all {} honest up nodes",
                    all.len(),
                    honest_up.len()
                )
            } else {
                format!("missing: {}", missing.join(", "))
            },
        });
    }
    if c.safety {
        let problems = safety_problems(committee, &nodes);
        criteria.push(CriterionResult {
            name: "safety".into(),
            passed: problems.is_empty(),
            detail: if problems.is_empty() {
                "every certificate verifies with enough signers; every conflict held is halted"
                    .into()
            } else {
                problems.join("; ")
            },
        });
    }
    if c.conflicts_halted {
        let mut slots: BTreeMap<(u64, String), BTreeSet<ProposalId>> = BTreeMap::new();
        for certificate in all.values() {
            slots
                .entry((
                    certificate.proposal.epoch,
                    certificate.proposal.slot.clone(),
                ))
                .or_default()
                .insert(certificate.proposal.id());
        }
        let conflicted: Vec<(u64, String)> = slots
            .into_iter()
            .filter(|(_, ids)| ids.len() > 1)
            .map(|(slot, _)| slot)
            .collect();
        let unhalted: Vec<String> = honest_up
            .iter()
            .flat_map(|n| {
                conflicted
                    .iter()
                    .filter(|slot| !n.halted.contains(slot))
                    .map(move |slot| format!("node {} not halted on {}/{}", n.node, slot.0, slot.1))
            })
            .collect();
        criteria.push(CriterionResult {
            name: "conflicts_halted".into(),
            passed: unhalted.is_empty(),
            detail: if conflicted.is_empty() {
                "no conflicting certificates formed".into()
            } else if unhalted.is_empty() {
                format!(
                    "{} conflicted slot(s) halted on all {} honest up nodes",
                    conflicted.len(),
                    honest_up.len()
                )
            } else {
                unhalted.into_iter().take(5).collect::<Vec<_>>().join("; ")
            },
        });
    }
    if let Some(within) = c.certified_within_ms {
        // What honest members propose must be certified; a Byzantine proposer's
        // proposal may go nowhere (its peers may have graylisted it), and that is fine.
        let honest_proposals: Vec<&ProposalId> = stats
            .proposals
            .iter()
            .filter(|(_, _, honest)| *honest)
            .map(|(id, _, _)| id)
            .collect();
        let late: Vec<String> = honest_proposals
            .iter()
            .filter_map(|id| {
                let figure = certificates.iter().find(|f| f.id == hex::encode(id.0));
                match figure.and_then(|f| f.slowest_ms) {
                    Some(ms) if ms <= within => None,
                    Some(ms) => Some(format!("{}: {ms} ms", &hex::encode(id.0)[..12])),
                    None => Some(format!("{}: not everywhere", &hex::encode(id.0)[..12])),
                }
            })
            .collect();
        criteria.push(CriterionResult {
            name: "certified_within_ms".into(),
            passed: late.is_empty() && !honest_proposals.is_empty(),
            detail: if late.is_empty() {
                format!(
                    "{} proposals by honest members certified on every honest up node within {within} ms",
                    honest_proposals.len()
                )
            } else {
                late.join(", ")
            },
        });
    }
    criteria.extend(auth_invariants(&stats));
    let ballots = if scenario.has_ballots() {
        let (figures, invariants) = ballot_checks(scenario, &stats, &nodes);
        criteria.extend(invariants);
        figures
    } else {
        Vec::new()
    };
    let passed = criteria.iter().all(|c| c.passed);
    let honest: BTreeSet<NodeId> = nodes.iter().filter(|n| n.honest).map(|n| n.node).collect();
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
    let n = committee.size;
    Report {
        scenario: scenario.name.clone(),
        seed,
        nodes: scenario.topology.nodes,
        committee_size: n,
        faulty_max: faulty_max(n),
        duration_ms: scenario.duration_ms,
        figures,
        certificates,
        criteria,
        passed,
        trace_sha256: hex::encode(trace_sha256),
        honest_nodes: honest.len(),
        latency_cdf: stats.delivery.cdf(),
        certificate_spread,
        fault_timeline: fault_timeline(scenario),
        ballots,
    }
}

/// Lists at most five items, then how many more.
fn first_five(items: &[String]) -> String {
    let mut parts: Vec<String> = items.iter().take(5).cloned().collect();
    if items.len() > 5 {
        parts.push(format!("and {} more", items.len() - 5));
    }
    parts.join("; ")
}

fn nodes_text(nodes: &[NodeId]) -> String {
    let shown: Vec<String> = nodes.iter().take(8).map(|n| n.to_string()).collect();
    let more = nodes.len().saturating_sub(8);
    if more > 0 {
        format!("{} and {more} more", shown.join(","))
    } else {
        shown.join(",")
    }
}

/// The ballot invariants, checked at the end of every run with ballots or hub outages,
/// whatever `[criteria]` says:
///
/// * `ballot_safety`: no two honest nodes decided opposite outcomes (passed and
///   rejected) for one ballot, so the two sides of a partition never do;
/// * `ballot_faulty_alone_never_pass`: no honest node passed a ballot whose counted yes
///   votes are all Byzantine members';
/// * `ballot_certificates_verify`: every honest node's certificate verifies offline with
///   the committee (`Certificate::verify`) and derives the outcome the node acts on;
/// * `ballot_sequence_reused`: no honest node published two own votes on a ballot
///   without a higher sequence, across restarts;
/// * `ballot_opens_rate_limited`: no honest node accepted two opens of one opener closer
///   than the open interval;
/// * `ballot_expected`: each scenario ballot with `expect` other than `any` ended as
///   expected on every honest node up at the end (or was never opened, for
///   `not_opened`).
fn ballot_checks(
    scenario: &Scenario,
    stats: &Stats,
    nodes: &[NodeEnd],
) -> (Vec<BallotFigures>, Vec<CriterionResult>) {
    let honest_up: Vec<NodeId> = nodes
        .iter()
        .filter(|n| n.up && n.honest)
        .map(|n| n.node)
        .collect();
    let honest_members: BTreeSet<NodeId> = nodes
        .iter()
        .filter(|n| n.honest && (n.node as usize) < scenario.committee.size as usize)
        .map(|n| n.node)
        .collect();
    let short = |id: &BallotId| hex::encode(id.0)[..12].to_string();
    let empty = BTreeMap::new();
    let decisions_of = |id: &BallotId| stats.ballot_decisions.get(id).unwrap_or(&empty);
    let with = |decisions: &BTreeMap<NodeId, Decision>, outcome: Outcome| -> Vec<NodeId> {
        decisions
            .iter()
            .filter(|(_, d)| d.outcome == outcome)
            .map(|(n, _)| *n)
            .collect()
    };

    let mut unsafe_ballots = Vec::new();
    let mut faulty_passed = Vec::new();
    let mut unverified = Vec::new();
    let mut decided_total = 0usize;
    for (id, decisions) in &stats.ballot_decisions {
        decided_total += decisions.len();
        let passed = with(decisions, Outcome::Passed);
        let rejected = with(decisions, Outcome::Rejected);
        if !passed.is_empty() && !rejected.is_empty() {
            unsafe_ballots.push(format!(
                "ballot {}: passed at nodes {}, rejected at nodes {}",
                short(id),
                nodes_text(&passed),
                nodes_text(&rejected)
            ));
        }
        for (node, decision) in decisions {
            if decision.outcome == Outcome::Passed
                && !decision
                    .yes_voters
                    .iter()
                    .any(|v| honest_members.contains(v))
            {
                faulty_passed.push(format!(
                    "ballot {} passed at node {node} with yes votes only from Byzantine members {}",
                    short(id),
                    nodes_text(&decision.yes_voters)
                ));
            }
            match &decision.verified {
                Ok(derived) if *derived == decision.outcome => {}
                Ok(derived) => unverified.push(format!(
                    "ballot {} at node {node}: acts on {} where its certificate derives {}",
                    short(id),
                    decision.outcome.as_str(),
                    derived.as_str()
                )),
                Err(error) => {
                    unverified.push(format!("ballot {} at node {node}: {error}", short(id)))
                }
            }
        }
    }

    let mut figures = Vec::new();
    let mut unexpected = Vec::new();
    let mut expectations = 0usize;
    let mut scheduled: BTreeSet<BallotId> = BTreeSet::new();
    let figure = |id: Option<BallotId>| {
        let decisions = id.as_ref().map(decisions_of).unwrap_or(&empty);
        let mut excluded: Option<BTreeSet<NodeId>> = None;
        for decision in decisions.values() {
            let these: BTreeSet<NodeId> = decision.excluded.iter().copied().collect();
            excluded = Some(match excluded {
                None => these,
                Some(before) => before.intersection(&these).copied().collect(),
            });
        }
        BallotFigures {
            id: id.map(|id| hex::encode(id.0)),
            index: None,
            expect: None,
            opened_at_ms: None,
            refused: None,
            passed: with(decisions, Outcome::Passed).len(),
            rejected: with(decisions, Outcome::Rejected).len(),
            no_decision: with(decisions, Outcome::NoDecision).len(),
            undecided_up: honest_up
                .iter()
                .filter(|n| !decisions.contains_key(n))
                .count(),
            excluded_everywhere: excluded.unwrap_or_default().into_iter().collect(),
        }
    };
    for record in &stats.ballot_opens {
        let spec = &scenario.ballots[record.index];
        let mut f = figure(record.id);
        f.index = Some(record.index);
        f.expect = Some(spec.expect.as_str());
        f.opened_at_ms = record.id.map(|_| record.at_ms);
        f.refused = record.refused.clone();
        if let Some(id) = record.id {
            scheduled.insert(id);
        }
        use crate::scenario::BallotExpect;
        let want = match spec.expect {
            BallotExpect::Any => None,
            BallotExpect::NotOpened => {
                expectations += 1;
                if let Some(id) = record.id {
                    unexpected.push(format!(
                        "ballot {} opened as {} where it should have been refused",
                        record.index,
                        short(&id)
                    ));
                }
                None
            }
            BallotExpect::Passed => Some(Outcome::Passed),
            BallotExpect::Rejected => Some(Outcome::Rejected),
            BallotExpect::NoDecision => Some(Outcome::NoDecision),
        };
        if let Some(want) = want {
            expectations += 1;
            match record.id {
                None => unexpected.push(format!(
                    "ballot {} was not opened: {}",
                    record.index,
                    record.refused.as_deref().unwrap_or("?")
                )),
                Some(id) => {
                    let decisions = decisions_of(&id);
                    let missing: Vec<NodeId> = honest_up
                        .iter()
                        .copied()
                        .filter(|n| decisions.get(n).is_none_or(|d| d.outcome != want))
                        .collect();
                    if !missing.is_empty() {
                        unexpected.push(format!(
                            "ballot {} ({}): {} of {} honest up nodes did not decide {} (nodes {})",
                            record.index,
                            short(&id),
                            missing.len(),
                            honest_up.len(),
                            want.as_str(),
                            nodes_text(&missing)
                        ));
                    }
                }
            }
        }
        figures.push(f);
    }
    // Scenario ballots whose open never came (the run ended first) are not listed.
    for id in stats.ballot_decisions.keys() {
        if !scheduled.contains(id) {
            figures.push(figure(Some(*id)));
        }
    }

    let per_node = |counts: &BTreeMap<NodeId, u64>| -> String {
        let parts: Vec<String> = counts
            .iter()
            .map(|(node, count)| format!("node {node}: {count}"))
            .collect();
        first_five(&parts)
    };
    let ballots = stats.ballot_decisions.len();
    let invariants = vec![
        CriterionResult {
            name: "ballot_safety".into(),
            passed: unsafe_ballots.is_empty(),
            detail: if unsafe_ballots.is_empty() {
                format!("no two honest nodes decided opposite outcomes ({ballots} ballots, {decided_total} decisions)")
            } else {
                first_five(&unsafe_ballots)
            },
        },
        CriterionResult {
            name: "ballot_faulty_alone_never_pass".into(),
            passed: faulty_passed.is_empty(),
            detail: if faulty_passed.is_empty() {
                "no ballot passed on Byzantine members' yes votes alone".into()
            } else {
                first_five(&faulty_passed)
            },
        },
        CriterionResult {
            name: "ballot_certificates_verify".into(),
            passed: unverified.is_empty(),
            detail: if unverified.is_empty() {
                format!("{decided_total} decisions' certificates verify offline with the committee")
            } else {
                first_five(&unverified)
            },
        },
        CriterionResult {
            name: "ballot_sequence_reused".into(),
            passed: stats.ballot_sequence_reused.is_empty(),
            detail: if stats.ballot_sequence_reused.is_empty() {
                format!(
                    "every own vote went above the node's earlier sequences ({} node-ballot pairs)",
                    stats.ballot_own_sequence.len()
                )
            } else {
                format!(
                    "sequences not above earlier ones: {}",
                    per_node(&stats.ballot_sequence_reused)
                )
            },
        },
        CriterionResult {
            name: "ballot_opens_rate_limited".into(),
            passed: stats.ballot_rate_broken.is_empty(),
            detail: if stats.ballot_rate_broken.is_empty() {
                format!(
                    "{} opens accepted by honest nodes, none within an opener's interval ({} refused as rate_limited)",
                    stats.ballot_opens_accepted,
                    stats.ballot_refused.get("rate_limited").copied().unwrap_or(0)
                )
            } else {
                format!(
                    "opens within the interval accepted: {}",
                    per_node(&stats.ballot_rate_broken)
                )
            },
        },
        CriterionResult {
            name: "ballot_expected".into(),
            passed: unexpected.is_empty(),
            detail: if unexpected.is_empty() {
                format!("{expectations} ballot expectations met on every honest up node")
            } else {
                first_five(&unexpected)
            },
        },
    ];
    (figures, invariants)
}

/// The capability-token invariants, checked at the end of every run whatever the
/// scenario's criteria: no honest node admitted a privileged message whose author forges
/// tokens, replays privileged messages or acts beyond its rights, and none admitted one
/// privileged message twice.
fn auth_invariants(stats: &Stats) -> Vec<CriterionResult> {
    let per_node = |counts: &BTreeMap<NodeId, u64>| {
        let mut parts: Vec<String> = counts
            .iter()
            .take(5)
            .map(|(node, count)| format!("node {node}: {count}"))
            .collect();
        if counts.len() > 5 {
            parts.push(format!("and {} more nodes", counts.len() - 5));
        }
        parts.join(", ")
    };
    let refused: u64 = stats.auth_rejected.values().sum();
    let attacks: u64 = stats.auth_attacks.values().sum();
    let byzantine: u64 = stats.byzantine_privileged_admitted.values().sum();
    let replays: u64 = stats.privileged_replays_admitted.values().sum();
    vec![
        CriterionResult {
            name: "byzantine_privileged_admitted".into(),
            passed: byzantine == 0,
            detail: if byzantine == 0 {
                format!(
                    "no honest node admitted a privileged message of a token forger, replayer or member beyond its rights ({attacks} sent; honest gates refused {refused} privileged messages in all)"
                )
            } else {
                format!(
                    "{byzantine} admitted by honest nodes: {}",
                    per_node(&stats.byzantine_privileged_admitted)
                )
            },
        },
        CriterionResult {
            name: "privileged_replays_admitted".into(),
            passed: replays == 0,
            detail: if replays == 0 {
                format!(
                    "no honest node admitted a privileged message twice ({} refused as replays, {} as stale)",
                    stats.auth_rejected.get("replay").copied().unwrap_or(0),
                    stats.auth_rejected.get("timestamp_stale").copied().unwrap_or(0)
                )
            } else {
                format!(
                    "{replays} admitted again: {}",
                    per_node(&stats.privileged_replays_admitted)
                )
            },
        },
    ]
}

/// Safety, checked offline as any node could: every certificate an honest node holds
/// verifies under its class's key set and names enough distinct signers, and a node that
/// holds two certificates for one slot has halted it.
fn safety_problems(committee: &CommitteeCheck<'_>, nodes: &[NodeEnd]) -> Vec<String> {
    let mut problems = Vec::new();
    for node in nodes.iter().filter(|n| n.honest) {
        let mut slots: BTreeMap<(u64, String), BTreeSet<ProposalId>> = BTreeMap::new();
        for certificate in &node.certificates {
            let class = (committee.class_of)(&certificate.proposal.slot);
            let id = certificate.proposal.id();
            let signers: BTreeSet<u16> = certificate.signers.iter().copied().collect();
            let enough = signers.len() >= share_count_min(committee.size, class)
                && signers.len() == certificate.signers.len();
            let valid = (committee.verifies)(certificate);
            if !(enough && valid) {
                problems.push(format!(
                    "node {} holds an invalid certificate {}",
                    node.node,
                    &hex::encode(id.0)[..12]
                ));
            }
            slots
                .entry((
                    certificate.proposal.epoch,
                    certificate.proposal.slot.clone(),
                ))
                .or_default()
                .insert(id);
        }
        for (slot, ids) in slots {
            if ids.len() > 1 && !node.halted.contains(&slot) {
                problems.push(format!(
                    "node {} holds conflicting certificates for {}/{} without halting",
                    node.node, slot.0, slot.1
                ));
            }
        }
    }
    problems
}

fn or_dash<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_string(), |v| v.to_string())
}

impl Report {
    /// The slowest certificate's `slowest_ms`: how long the last honest node waited for
    /// the last certificate. `None` when no certificate reached every honest up node.
    pub fn slowest_certification_ms(&self) -> Option<u64> {
        self.certificates.iter().filter_map(|c| c.slowest_ms).max()
    }

    /// Names of the criteria that failed, in the scenario's order.
    pub fn failed_criteria(&self) -> Vec<&str> {
        self.criteria
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.name.as_str())
            .collect()
    }

    /// The report for a person: what ran, the key figures, where each certificate got
    /// to, the faults, and each criterion with ok or FAIL. Deterministic (no wall-clock
    /// figures), so the same scenario and seed print the same text.
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let f = &self.figures;
        let _ = writeln!(
            out,
            "scenario {} seed {}: {} nodes ({} honest), committee {} (t = {}), {} ms simulated",
            self.scenario,
            self.seed,
            self.nodes,
            self.honest_nodes,
            self.committee_size,
            self.faulty_max,
            self.duration_ms
        );
        let _ = writeln!(
            out,
            "  probes        {} published, {} delivered; latency p50 {} ms, p99 {} ms, max {} ms",
            f.probes_published,
            f.probe_deliveries,
            or_dash(f.delivery_p50_ms),
            or_dash(f.delivery_p99_ms),
            or_dash(f.delivery_max_ms)
        );
        if f.quiet_probe_deliveries < f.probe_deliveries {
            let _ = writeln!(
                out,
                "  quiet phases  {} deliveries of probes published with no partition, loss or crash in force; p99 {} ms",
                f.quiet_probe_deliveries,
                or_dash(f.quiet_delivery_p99_ms)
            );
        }
        let _ = writeln!(
            out,
            "  gossip        {} messages sent, {} lost, {} duplicates; {} sends per first receipt",
            f.messages_sent,
            f.messages_lost,
            f.duplicates_received,
            f.sends_per_delivery
                .map_or_else(|| "-".to_string(), |v| format!("{v:.2}"))
        );
        let _ = writeln!(
            out,
            "  refused       {} shares, {} certificates; {} evidence records",
            f.shares_rejected, f.certificates_rejected, f.evidence_records
        );
        if f.eclipse_connections > 0 || f.eclipse_dials_refused > 0 {
            let _ = writeln!(
                out,
                "  eclipse       {} Sybil connections accepted, {} refused; {} Sybil GRAFTs taken into a mesh; targets received {} probes, p99 {} ms",
                f.eclipse_connections,
                f.eclipse_dials_refused,
                f.eclipse_grafts_accepted,
                f.eclipse_target_probe_deliveries,
                or_dash(f.eclipse_target_delivery_p99_ms)
            );
        }
        if f.auth_admitted > 0 || !f.auth_rejected.is_empty() {
            let refused: Vec<String> = f
                .auth_rejected
                .iter()
                .map(|(reason, count)| format!("{count} {reason}"))
                .collect();
            let _ = writeln!(
                out,
                "  auth          {} privileged messages admitted, refused: {}",
                f.auth_admitted,
                if refused.is_empty() {
                    "none".to_string()
                } else {
                    refused.join(", ")
                }
            );
        }
        if !f.auth_attacks_published.is_empty() {
            let sent: Vec<String> = f
                .auth_attacks_published
                .iter()
                .map(|(what, count)| format!("{count} {what}"))
                .collect();
            let _ = writeln!(out, "  token attacks {}", sent.join(", "));
        }
        let _ = writeln!(out, "  engine        {} events", f.events);
        if f.replays_published > 0 || f.flood_published > 0 {
            let _ = writeln!(
                out,
                "  byzantine     {} replays, {} flood messages ({} reached an honest node's validation)",
                f.replays_published, f.flood_published, f.flood_messages_validated
            );
        }
        if self.certificates.is_empty() {
            let _ = writeln!(out, "  certificates  none formed");
        }
        let mut certificates: Vec<&CertificateFigures> = self.certificates.iter().collect();
        // In the order they were proposed; those never proposed (forgeries) last.
        certificates.sort_by_key(|c| (c.proposed_at_ms.is_none(), c.proposed_at_ms));
        for certificate in certificates {
            let spread = self
                .certificate_spread
                .iter()
                .find(|s| s.id == certificate.id);
            let _ = writeln!(
                out,
                "  certificate   {}… {}: proposed at {} ms, formed at {} ms, on {}/{} honest up nodes, slowest {} ms",
                &certificate.id[..16.min(certificate.id.len())],
                spread.and_then(|s| s.slot.as_deref()).unwrap_or("?"),
                or_dash(certificate.proposed_at_ms),
                or_dash(spread.map(|s| s.formed_at_ms)),
                certificate.held_by,
                certificate.honest_up,
                or_dash(certificate.slowest_ms)
            );
        }
        for fault in &self.fault_timeline {
            let nodes: Vec<String> = fault
                .nodes
                .iter()
                .map(|r| {
                    if r.first == r.last {
                        r.first.to_string()
                    } else {
                        format!("{}-{}", r.first, r.last)
                    }
                })
                .collect();
            let mut line = format!(
                "  fault         {} at {} ms",
                fault.kind.as_str(),
                fault.at_ms
            );
            match fault.until_ms {
                Some(until) => {
                    let _ = write!(line, " until {until} ms");
                }
                None if fault.is_interval() => line.push_str(" to the end"),
                None => {}
            }
            if !nodes.is_empty() {
                let _ = write!(line, ", nodes {}", nodes.join(" | "));
            }
            if let Some(rate) = fault.rate {
                let _ = write!(line, ", rate {rate}");
            }
            if let Some(direction) = fault.direction {
                let _ = write!(
                    line,
                    ", {}",
                    match direction {
                        Direction::TwoWay => "two-way",
                        Direction::OneWay => "one-way",
                    }
                );
            }
            if let Some(skew) = fault.skew_ms {
                let _ = write!(line, ", skew {skew} ms");
            }
            let _ = writeln!(out, "{line}");
        }
        for ballot in &self.ballots {
            let id = ballot
                .id
                .as_deref()
                .map_or("-", |id| &id[..16.min(id.len())]);
            let which = ballot
                .index
                .map_or_else(|| "unscheduled".to_string(), |i| format!("ballots[{i}]"));
            match &ballot.refused {
                Some(refused) => {
                    let _ = writeln!(out, "  ballot        {which}: open refused: {refused}");
                }
                None => {
                    let _ = writeln!(
                        out,
                        "  ballot        {which} {id}…: honest nodes passed {}, rejected {}, no decision {}, undecided up {}; excluded everywhere: {}; expect {}",
                        ballot.passed,
                        ballot.rejected,
                        ballot.no_decision,
                        ballot.undecided_up,
                        if ballot.excluded_everywhere.is_empty() {
                            "none".to_string()
                        } else {
                            nodes_text(&ballot.excluded_everywhere)
                        },
                        ballot.expect.unwrap_or("-")
                    );
                }
            }
        }
        if !self.figures.ballot_refused.is_empty() || !self.figures.ballot_attacks.is_empty() {
            let list = |map: &BTreeMap<&'static str, u64>| -> String {
                let parts: Vec<String> = map.iter().map(|(k, v)| format!("{v} {k}")).collect();
                if parts.is_empty() {
                    "none".into()
                } else {
                    parts.join(", ")
                }
            };
            let _ = writeln!(
                out,
                "  ballot msgs   honest books refused or ignored: {}; Byzantine voters sent: {}",
                list(&self.figures.ballot_refused),
                list(&self.figures.ballot_attacks)
            );
        }
        for criterion in &self.criteria {
            let mark = if criterion.passed { "ok  " } else { "FAIL" };
            let _ = writeln!(out, "  {mark} {}: {}", criterion.name, criterion.detail);
        }
        let failed = self.failed_criteria();
        if failed.is_empty() {
            let _ = writeln!(out, "  passed: all {} criteria held", self.criteria.len());
        } else {
            let _ = writeln!(
                out,
                "  FAILED: {} of {} criteria ({})",
                failed.len(),
                self.criteria.len(),
                failed.join(", ")
            );
        }
        let _ = writeln!(out, "  trace sha256 {}", self.trace_sha256);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_invariants_fail_on_any_admission_and_name_the_nodes() {
        let mut stats = Stats::default();
        stats.auth_rejected.insert("token_signature", 40);
        assert!(auth_invariants(&stats).iter().all(|c| c.passed));
        stats.byzantine_privileged_admitted.insert(7, 2);
        let results = auth_invariants(&stats);
        assert!(!results[0].passed && results[1].passed);
        assert_eq!(results[0].detail, "2 admitted by honest nodes: node 7: 2");
        stats.privileged_replays_admitted.insert(3, 1);
        assert!(auth_invariants(&stats).iter().all(|c| !c.passed));
    }

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
