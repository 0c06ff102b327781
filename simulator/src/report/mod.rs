//! What a run measured and whether the scenario's criteria held: figures, invariants, the
//! trace digest (same scenario and seed, same digest), and the command that replays it.
//!
//! The world fills [`Stats`] as the run goes and hands over each node's end state
//! ([`NodeEnd`]); [`build`] turns them into the [`Report`], which is what `report.json`
//! serialises (its field names are a contract: scripts read them). The parts:
//!
//! * [`figures`]: the numbers (delivery latency percentiles, traffic, refusals,
//!   certificate and ballot figures);
//! * [`checks`]: one function per criterion and invariant, named as `scenarios/README.md`
//!   names it, each returning its verdict and a detail line;
//! * [`plots`]: the series the SVG plots draw, kept in the report so `report.json` holds
//!   all a plot needs (latency CDF, certificate spread, fault time line);
//! * [`text`]: the report for a person, as `x0 sim` prints it.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use x0_core::ballot::rules::Outcome;
use x0_core::ballot::wire::{BallotId, Open};
use x0_core::certify::proposal::ProposalId;
use x0_core::certify::threshold::{faulty_max, ChangeClass};
use x0_core::certify::wire::CertificateMessage;
use x0_core::ids::PeerKey;

use crate::ballots::Decision;
use crate::gossip::{GossipCounters, GossipMessage, NodeId};
use crate::scenario::Scenario;

pub mod checks;
pub mod figures;
pub mod plots;
mod text;

pub use figures::{
    BallotFigures, CertificateFigures, Figures, LatencyHistogram, RevocationFigures,
    LATENCY_BUCKETS_MS,
};
pub use plots::{fault_timeline, CertificateSpread, FaultKind, FaultSpan, SPREAD_POINTS_MAX};

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
    /// Store writes refused (a second signature for a slot): nothing was published.
    pub journal_refused: u64,
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
    /// What honest nodes' certify cores refused for a bound or a rule, by reason
    /// (`x0_certify_dropped_total{what}` of the node).
    pub certify_dropped: BTreeMap<&'static str, u64>,
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
    /// Estimated bytes every node put on its links, by class: `probe`, `certify`
    /// (proposals, shares, certificates), `ballot`, `revocation`, `gossip_control` (IHAVE,
    /// IWANT, GRAFT, PRUNE, subscriptions) and `sync` (`gossip::size`).
    pub bytes_sent: BTreeMap<&'static str, u64>,
    /// Sync frames (requests and responses) honest nodes sent, and their bytes on the
    /// wire (frames plus an estimate of each stream's setup).
    pub sync_frames_sent: u64,
    pub sync_bytes_sent: u64,
    /// Items honest nodes fetched by sync, by (kind, verdict of their topic's checks).
    pub sync_delivered: BTreeMap<(&'static str, &'static str), u64>,
    /// Invalid things sync peers served honest nodes, by reason.
    pub sync_penalties: BTreeMap<&'static str, u64>,
    /// What honest nodes' sync bounds dropped, by bound.
    pub sync_dropped: BTreeMap<&'static str, u64>,
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
    /// The scenario's revocation lists as the authority made them.
    pub revocations: Vec<RevocationRecord>,
    /// List sequence -> honest node -> virtual time the list was first in force there.
    pub revocations_applied: BTreeMap<u64, BTreeMap<NodeId, u64>>,
    /// Revocation lists honest nodes did not apply, by reason (known ones included).
    pub revocations_refused: BTreeMap<&'static str, u64>,
    /// Per honest node, privileged messages its gate refused because their token was
    /// revoked.
    pub revoked_refused: BTreeMap<NodeId, u64>,
    /// Invariant: per honest node, privileged messages of a revoked node it admitted after
    /// the list revoking that node was in force there.
    pub revoked_admitted: BTreeMap<NodeId, u64>,
}

/// A scenario revocation list: what it revoked, and whether its publisher was up to take it.
#[derive(Debug, Clone)]
pub struct RevocationRecord {
    pub sequence: u64,
    pub at_ms: u64,
    pub publisher: NodeId,
    pub revoked: Vec<NodeId>,
    pub published: bool,
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

/// How a node ended the run.
pub struct NodeEnd {
    pub node: NodeId,
    pub up: bool,
    pub honest: bool,
    pub certificates: Vec<CertificateMessage>,
    pub halted: Vec<(u64, String)>,
    pub gossip: GossipCounters,
    /// The most the node's certify core held at once: (pending entries, slots charged).
    pub certify_state_peak: (usize, usize),
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
    /// The scenario's revocation lists and how far each got.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub revocations: Vec<RevocationFigures>,
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

/// The report of a run from what the world counted and how each node ended. Criteria
/// are listed in a fixed order (the scenario's, then the invariants), so equal runs give
/// equal reports.
pub fn build(
    scenario: &Scenario,
    seed: u64,
    committee: &CommitteeCheck<'_>,
    stats: Stats,
    nodes: Vec<NodeEnd>,
    trace_sha256: [u8; 32],
) -> Report {
    let honest_up: Vec<&NodeEnd> = nodes.iter().filter(|n| n.up && n.honest).collect();
    let figures = figures::figures(&stats, &nodes, scenario.sync.enabled, scenario.duration_ms);
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
    let certificates = figures::certificate_figures(&stats, &all, &honest_up, &proposed);
    let revocations = figures::revocation_figures(&stats, &honest_up);

    let mut criteria = Vec::new();
    let c = &scenario.criteria;
    if let Some(max) = c.delivery_p99_ms_max {
        criteria.push(checks::delivery_p99_ms_max(&figures, max));
    }
    if let Some(max) = c.quiet_delivery_p99_ms_max {
        criteria.push(checks::quiet_delivery_p99_ms_max(&figures, max));
    }
    if c.no_loss {
        criteria.push(checks::no_loss(&certificates, all.len(), honest_up.len()));
    }
    if c.safety {
        criteria.push(checks::safety(committee, &nodes));
    }
    if c.conflicts_halted {
        criteria.push(checks::conflicts_halted(&all, &honest_up));
    }
    if let Some(within) = c.certified_within_ms {
        criteria.push(checks::certified_within_ms(&stats, &certificates, within));
    }
    if let Some(within) = c.revocations_applied_within_ms {
        criteria.push(checks::revocations_applied_within_ms(&revocations, within));
    }
    // Whatever `[criteria]` says: a token attack that got through is never acceptable.
    criteria.push(checks::byzantine_privileged_admitted(&stats));
    criteria.push(checks::privileged_replays_admitted(&stats));
    criteria.push(checks::certify_state_bounded(scenario, &nodes));
    if !scenario.revocations.is_empty() {
        criteria.push(checks::revoked_refused(&stats));
    }
    let ballots = if scenario.has_ballots() {
        criteria.extend([
            checks::ballot_safety(&stats),
            checks::ballot_faulty_alone_never_pass(scenario, &stats, &nodes),
            checks::ballot_certificates_verify(&stats),
            checks::ballot_sequence_reused(&stats),
            checks::ballot_opens_rate_limited(&stats),
            checks::ballot_expected(scenario, &stats, &nodes),
        ]);
        figures::ballot_figures(scenario, &stats, &nodes)
    } else {
        Vec::new()
    };
    let passed = criteria.iter().all(|c| c.passed);
    let honest: BTreeSet<NodeId> = nodes.iter().filter(|n| n.honest).map(|n| n.node).collect();
    let certificate_spread = plots::certificate_spread(&stats, &honest, &all, &proposed);
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
        revocations,
    }
}

impl Report {
    /// The slowest certificate's `slowest_ms`: how long the last honest node waited for
    /// the last certificate. `None` when no certificate reached every honest up node.
    pub fn slowest_certification_ms(&self) -> Option<u64> {
        self.certificates.iter().filter_map(|c| c.slowest_ms).max()
    }

    /// The slowest published revocation list's `slowest_ms`. `None` when no list went
    /// out or one is not in force on every honest up node.
    pub fn slowest_revocation_ms(&self) -> Option<u64> {
        let published: Vec<&RevocationFigures> =
            self.revocations.iter().filter(|r| r.published).collect();
        if published.is_empty() {
            return None;
        }
        published
            .iter()
            .map(|r| r.slowest_ms)
            .collect::<Option<Vec<u64>>>()?
            .into_iter()
            .max()
    }

    /// Names of the criteria that failed, in the scenario's order.
    pub fn failed_criteria(&self) -> Vec<&str> {
        self.criteria
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.name.as_str())
            .collect()
    }
}

/// Up to eight node numbers, then how many more.
fn nodes_text(nodes: &[NodeId]) -> String {
    let shown: Vec<String> = nodes.iter().take(8).map(|n| n.to_string()).collect();
    let more = nodes.len().saturating_sub(8);
    if more > 0 {
        format!("{} and {more} more", shown.join(","))
    } else {
        shown.join(",")
    }
}

/// The honest nodes (of `decisions`) that decided `outcome`, in node order.
fn deciding(decisions: &BTreeMap<NodeId, Decision>, outcome: Outcome) -> Vec<NodeId> {
    decisions
        .iter()
        .filter(|(_, d)| d.outcome == outcome)
        .map(|(n, _)| *n)
        .collect()
}

/// A ballot id as the report names it: its first 12 hex digits.
fn short_ballot_id(id: &BallotId) -> String {
    hex::encode(id.0)[..12].to_string()
}
