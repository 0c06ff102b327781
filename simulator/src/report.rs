//! What a run measured and whether the scenario's criteria held: figures, invariants, the
//! trace digest (same scenario and seed, same digest), and the command that replays it.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use x0_actors::certify::proposal::ProposalId;
use x0_actors::certify::threshold::{faulty_max, share_count_min, ChangeClass};
use x0_actors::certify::wire::CertificateMessage;

use crate::gossip::{GossipCounters, GossipMessage, NodeId};
use crate::scenario::Scenario;
use crate::world::hex;

/// Latencies are counted in 1 ms buckets up to this; later ones land in the last bucket.
/// A fixed array keeps the figures exact and the memory bounded at any scale.
pub const LATENCY_BUCKETS_MS: usize = 60_001;

/// Counters the world keeps during a run.
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
    delivery_ms: Vec<u64>,
    /// (id, time, proposer honest) of every proposal made.
    pub proposals: Vec<(ProposalId, u64, bool)>,
    /// Certificate -> node -> virtual time it was held there.
    pub certified: BTreeMap<ProposalId, BTreeMap<NodeId, u64>>,
    /// Times of heals and restarts: recovery is measured from the last one.
    pub heals_ms: Vec<u64>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            probes_published: 0,
            receipts: 0,
            messages_sent: 0,
            messages_lost: 0,
            shares_rejected: 0,
            certificates_rejected: 0,
            evidence: 0,
            replays_published: 0,
            flood_published: 0,
            flood_validated: 0,
            delivery_ms: vec![0; LATENCY_BUCKETS_MS],
            proposals: Vec::new(),
            certified: BTreeMap::new(),
            heals_ms: Vec::new(),
        }
    }
}

impl Stats {
    pub fn record_receipt(&mut self, _message: &GossipMessage, _node: NodeId, _now_ms: u64) {
        self.receipts += 1;
    }

    pub fn record_delivery(&mut self, latency_ms: u64) {
        let bucket = (latency_ms as usize).min(LATENCY_BUCKETS_MS - 1);
        self.delivery_ms[bucket] += 1;
    }

    pub fn record_certified(&mut self, id: ProposalId, node: NodeId, now_ms: u64) {
        self.certified
            .entry(id)
            .or_default()
            .entry(node)
            .or_insert(now_ms);
    }

    fn deliveries(&self) -> u64 {
        self.delivery_ms.iter().sum()
    }

    /// The smallest latency with at least `quantile` of deliveries at or below it.
    fn quantile_ms(&self, quantile: f64) -> Option<u64> {
        let total = self.deliveries();
        if total == 0 {
            return None;
        }
        let target = ((total as f64) * quantile).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (ms, count) in self.delivery_ms.iter().enumerate() {
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
        probe_deliveries: stats.deliveries(),
        delivery_p50_ms: stats.quantile_ms(0.5),
        delivery_p99_ms: stats.quantile_ms(0.99),
        delivery_max_ms: stats.quantile_ms(1.0),
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
                id: hex(&id.0),
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
                let figure = certificates.iter().find(|f| f.id == hex(&id.0));
                match figure.and_then(|f| f.slowest_ms) {
                    Some(ms) if ms <= within => None,
                    Some(ms) => Some(format!("{}: {ms} ms", &hex(&id.0)[..12])),
                    None => Some(format!("{}: not everywhere", &hex(&id.0)[..12])),
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
    let passed = criteria.iter().all(|c| c.passed);
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
        trace_sha256: hex(&trace_sha256),
    }
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
                    &hex(&id.0)[..12]
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
