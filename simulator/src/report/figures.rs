//! The numbers of a run: probe delivery latency (a 1 ms histogram and its percentiles,
//! overall, in quiet phases and at eclipse targets), traffic and refusals, how far each
//! certificate got and how long its slowest honest node waited, and how the honest
//! nodes decided each ballot. Computed once at the end from [`Stats`] and the nodes' end
//! states; the criteria in [`super::checks`] judge these numbers.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use x0_core::ballot::rules::Outcome;
use x0_core::ballot::wire::BallotId;
use x0_core::certify::proposal::ProposalId;
use x0_core::certify::wire::CertificateMessage;

use super::{deciding, NodeEnd, Stats};
use crate::gossip::NodeId;
use crate::scenario::Scenario;

/// Latencies are counted in 1 ms buckets up to this; later ones land in the last bucket.
/// A fixed array keeps the figures exact and the memory bounded at any scale.
pub const LATENCY_BUCKETS_MS: usize = 60_001;

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

    pub(super) fn count(&self) -> u64 {
        self.buckets_ms.iter().sum()
    }

    /// (ms, deliveries at or below it) for every non-empty bucket: the
    /// latency CDF the report carries for its plot.
    pub(super) fn cdf(&self) -> Vec<(u64, u64)> {
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
    pub(super) fn quantile_ms(&self, quantile: f64) -> Option<u64> {
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
    /// by reason (`x0_auth_rejected_total{reason}` and `x0_auth_ignored_total{reason}` of
    /// the node). A refusal goes no further; it is a gossip Reject (the peer that sent it
    /// is penalised) only when the message is invalid in itself, else an Ignore.
    pub auth_admitted: u64,
    pub auth_rejected: BTreeMap<&'static str, u64>,
    /// Revocation lists honest nodes did not apply, by reason (`revocations_known` for a
    /// list they held already, as the node's `x0_auth_revocation_lists_total{outcome}`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub revocations_refused: BTreeMap<&'static str, u64>,
    /// What honest nodes' certify cores refused for a bound or a rule (fair shares:
    /// `pending_full`, `proposer_slots_full`), by reason.
    pub certify_dropped: BTreeMap<&'static str, u64>,
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
    /// Estimated bytes a node put on its links per minute, averaged over all nodes and
    /// the whole run, by class (`probe`, `certify`, `ballot`, `gossip_control`, `sync`):
    /// what sync costs against the probe traffic, in a quiet run.
    pub bytes_per_node_per_minute: BTreeMap<&'static str, u64>,
    /// Anti-entropy sync, in runs that have it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync: Option<SyncFigures>,
}

/// What sync did at honest nodes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SyncFigures {
    /// Requests and responses sent, and their bytes on the wire (frames plus an estimate
    /// of each stream's setup).
    pub frames_sent: u64,
    pub bytes_sent: u64,
    /// Items fetched, by `kind/verdict` of their topic's checks.
    pub delivered: BTreeMap<String, u64>,
    /// Invalid things peers served, by reason (each lowers the server's score).
    pub penalties: BTreeMap<&'static str, u64>,
    /// What a sync bound dropped, by bound.
    pub dropped: BTreeMap<&'static str, u64>,
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

/// One scenario revocation list and how far it got among the honest nodes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RevocationFigures {
    pub sequence: u64,
    pub at_ms: u64,
    pub publisher: NodeId,
    pub revoked: Vec<NodeId>,
    /// Whether the publisher was up to take it (else it never went out).
    pub published: bool,
    /// Honest nodes up at the end that hold it in force, of all honest nodes up at the end.
    pub applied_by: usize,
    pub honest_up: usize,
    /// Slowest honest up node, from the list going out (or the last heal or restart
    /// before the node took it); `None` unless every honest up node took it.
    pub slowest_ms: Option<u64>,
}

/// How long a node waited for something that started at `started_ms` and reached it at
/// `reached_ms`, counted from the start or from the last heal or restart before it got
/// there (a node cut off cannot be faster than its link).
fn waited_ms(stats: &Stats, started_ms: u64, reached_ms: u64) -> u64 {
    let base = stats
        .heals_ms
        .iter()
        .copied()
        .filter(|h| *h <= reached_ms)
        .fold(started_ms, u64::max);
    reached_ms.saturating_sub(base)
}

/// Per scenario revocation list: which honest up nodes put it in force, and how long the
/// slowest waited from the list going out ([`waited_ms`]).
pub(super) fn revocation_figures(stats: &Stats, honest_up: &[&NodeEnd]) -> Vec<RevocationFigures> {
    stats
        .revocations
        .iter()
        .map(|record| {
            let applied = stats.revocations_applied.get(&record.sequence);
            let waited = |node: NodeId| -> Option<u64> {
                let at = *applied?.get(&node)?;
                Some(waited_ms(stats, record.at_ms, at))
            };
            let waits: Vec<Option<u64>> = honest_up.iter().map(|n| waited(n.node)).collect();
            RevocationFigures {
                sequence: record.sequence,
                at_ms: record.at_ms,
                publisher: record.publisher,
                revoked: record.revoked.clone(),
                published: record.published,
                applied_by: waits.iter().filter(|w| w.is_some()).count(),
                honest_up: honest_up.len(),
                slowest_ms: waits
                    .into_iter()
                    .collect::<Option<Vec<u64>>>()
                    .and_then(|waits| waits.into_iter().max()),
            }
        })
        .collect()
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

/// The report's figures from the run's counters and every node's end state.
pub(super) fn figures(stats: &Stats, nodes: &[NodeEnd], sync: bool, duration_ms: u64) -> Figures {
    let node_minutes = nodes.len() as f64 * duration_ms as f64 / 60_000.0;
    let duplicates_received = nodes.iter().map(|n| n.gossip.duplicates_received).sum();
    Figures {
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
        revocations_refused: stats.revocations_refused.clone(),
        certify_dropped: stats.certify_dropped.clone(),
        auth_attacks_published: stats.auth_attacks.clone(),
        byzantine_privileged_admitted: stats.byzantine_privileged_admitted.values().sum(),
        privileged_replays_admitted: stats.privileged_replays_admitted.values().sum(),
        admissions_untracked: stats.admissions_untracked,
        nonces_not_restored: stats.nonces_not_restored,
        ballot_refused: stats.ballot_refused.clone(),
        ballot_attacks: stats.ballot_attacks.clone(),
        bytes_per_node_per_minute: stats
            .bytes_sent
            .iter()
            .map(|(class, bytes)| (*class, (*bytes as f64 / node_minutes).round() as u64))
            .collect(),
        sync: sync.then(|| SyncFigures {
            frames_sent: stats.sync_frames_sent,
            bytes_sent: stats.sync_bytes_sent,
            delivered: stats
                .sync_delivered
                .iter()
                .map(|((kind, verdict), count)| (format!("{kind}/{verdict}"), *count))
                .collect(),
            penalties: stats.sync_penalties.clone(),
            dropped: stats.sync_dropped.clone(),
        }),
    }
}

/// Per certificate any honest node holds: how many honest up nodes hold it, and how
/// long the slowest of them waited for it from the proposal ([`waited_ms`]).
pub(super) fn certificate_figures(
    stats: &Stats,
    all: &BTreeMap<ProposalId, CertificateMessage>,
    honest_up: &[&NodeEnd],
    proposed: &BTreeMap<ProposalId, u64>,
) -> Vec<CertificateFigures> {
    all.keys()
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
                    .map(|n| holders.get(&n.node).map(|t| waited_ms(stats, at, *t)))
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
        .collect()
}

/// How the honest nodes decided each ballot: the scenario's, in the order their opens
/// came (a refused open too), then any other an honest node decided (a Byzantine
/// member's). Scenario ballots whose open never came (the run ended first) are not listed.
pub(super) fn ballot_figures(
    scenario: &Scenario,
    stats: &Stats,
    nodes: &[NodeEnd],
) -> Vec<BallotFigures> {
    let honest_up: Vec<NodeId> = nodes
        .iter()
        .filter(|n| n.up && n.honest)
        .map(|n| n.node)
        .collect();
    let empty = BTreeMap::new();
    let figure = |id: Option<BallotId>| {
        let decisions = id
            .as_ref()
            .and_then(|id| stats.ballot_decisions.get(id))
            .unwrap_or(&empty);
        // Excluded everywhere: by every honest node that decided, so a set intersection.
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
            passed: deciding(decisions, Outcome::Passed).len(),
            rejected: deciding(decisions, Outcome::Rejected).len(),
            no_decision: deciding(decisions, Outcome::NoDecision).len(),
            undecided_up: honest_up
                .iter()
                .filter(|n| !decisions.contains_key(n))
                .count(),
            excluded_everywhere: excluded.unwrap_or_default().into_iter().collect(),
        }
    };
    let mut figures = Vec::new();
    let mut scheduled: BTreeSet<BallotId> = BTreeSet::new();
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
        figures.push(f);
    }
    for id in stats.ballot_decisions.keys() {
        if !scheduled.contains(id) {
            figures.push(figure(Some(*id)));
        }
    }
    figures
}
