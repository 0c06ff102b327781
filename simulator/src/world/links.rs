//! How messages move between simulated nodes: connections opening (as in libp2p, each
//! side sends its subscriptions), a node publishing, and each RPC's way over a link:
//! cut by a partition, dropped by the link's loss or a loss fault, else delayed by a
//! latency drawn from the scenario's distribution and delivered to the gossip model of a
//! node that is up. The rules live here together because an RPC's fate is decided by
//! all of them at once, at send time, in one fixed order of RNG draws.

use std::collections::BTreeSet;

use rand::seq::SliceRandom;
use rand::Rng;
use rand_distr::{Distribution, LogNormal};
use x0_core::topics;

use super::{Event, Sim};
use crate::crypto::SimSuite;
use crate::gossip::size::rpc_wire_bytes;
use crate::gossip::{NodeId, Rpc};
use crate::scenario::{Direction, Latency, NodeRange};

/// A loss fault in force until `until_ms`: traffic from `nodes` (and to them, two-way)
/// is dropped at `rate`, on top of the link's own loss.
pub(super) struct LossRule {
    pub(super) until_ms: u64,
    pub(super) nodes: NodeRange,
    pub(super) rate: f64,
    pub(super) direction: Direction,
}

/// What the link does to one frame.
pub(super) enum Fate {
    /// A partition cuts it (the connection stays open, as a partition closes none).
    Blocked,
    /// The link's or a fault's loss drops it.
    Lost,
    Delivered {
        delay_ms: u64,
    },
}

/// Who connects to whom: every one of the `n` nodes dials `per_node` distinct random
/// others. Returns each node's links (a link is two-way) and the peers each dialled
/// (its outbound connections, which gossipsub favours in its mesh).
pub(super) fn random_topology(
    n: NodeId,
    per_node: usize,
    rng: &mut impl Rng,
) -> (Vec<BTreeSet<NodeId>>, Vec<BTreeSet<NodeId>>) {
    let mut links: Vec<BTreeSet<NodeId>> = vec![BTreeSet::new(); n as usize];
    let mut dialled: Vec<BTreeSet<NodeId>> = vec![BTreeSet::new(); n as usize];
    for node in 0..n {
        let mut others: Vec<NodeId> = (0..n).filter(|o| *o != node).collect();
        others.shuffle(rng);
        for other in others.into_iter().take(per_node) {
            links[node as usize].insert(other);
            links[other as usize].insert(node);
            dialled[node as usize].insert(other);
        }
    }
    (links, dialled)
}

impl<S: SimSuite> Sim<S> {
    /// A connection from `dialler` to `listener` is up: each side sends its
    /// subscriptions, and meshes form as they arrive, as in libp2p.
    pub(super) fn open_connection(&mut self, dialler: NodeId, listener: NodeId) {
        let mut out = Vec::new();
        self.nodes[dialler as usize]
            .gossip
            .connected(listener, true, &mut out);
        self.send_all(dialler, out);
        let mut out = Vec::new();
        self.nodes[listener as usize]
            .gossip
            .connected(dialler, false, &mut out);
        self.send_all(listener, out);
        for (replayer, peer) in [(dialler, listener), (listener, dialler)] {
            self.hand_over_captured(replayer, peer);
        }
        self.sync_connected(dialler, listener);
        self.sync_connected(listener, dialler);
    }

    pub(super) fn publish(&mut self, node: NodeId, topic: &'static str, data: Vec<u8>) {
        let now_ms = self.engine.now_ms();
        let mut out = Vec::new();
        let message = self.nodes[node as usize]
            .gossip
            .publish(topic, data, now_ms, &mut out);
        if topic == topics::PROBE {
            self.stats.probes_published += 1;
            if self.quiet() {
                self.quiet_probes.insert(message.id);
            }
        }
        self.trace(format_args!(
            "publish {node} {topic} {}:{}",
            message.id.author, message.id.sequence
        ));
        self.send_all(node, out);
        // The node serves its own publications, even one gossip has no peers for yet.
        self.sync_hold(node, topic, &message.data);
    }

    pub(super) fn send_all(&mut self, from: NodeId, out: Vec<(NodeId, Rpc)>) {
        for (to, rpc) in out {
            self.send(from, to, rpc);
        }
    }

    /// Puts an RPC on the link: lost, cut by a partition, or delayed by the link latency.
    pub(super) fn send(&mut self, from: NodeId, to: NodeId, rpc: Rpc) {
        let class = match &rpc {
            Rpc::Message(message) => {
                self.stats.messages_sent += 1;
                match message.topic {
                    topics::PROBE => "probe",
                    topics::BALLOTS => "ballot",
                    topics::REVOCATIONS => "revocation",
                    _ => "certify",
                }
            }
            _ => "gossip_control",
        };
        *self.stats.bytes_sent.entry(class).or_insert(0) += rpc_wire_bytes(&rpc);
        match self.link_fate(from, to) {
            Fate::Delivered { delay_ms } => self.schedule(delay_ms, Event::Rpc { to, from, rpc }),
            Fate::Lost => self.stats.messages_lost += 1,
            Fate::Blocked => {}
        }
    }

    /// What happens to one frame put on the link from `from` to `to` now (gossip RPCs and
    /// sync frames alike), drawn in one fixed order: partition, loss, latency.
    pub(super) fn link_fate(&mut self, from: NodeId, to: NodeId) -> Fate {
        if self.blocked(from, to) {
            return Fate::Blocked;
        }
        let now = self.engine.now_ms();
        let mut loss = self.scenario.network.loss;
        for rule in &self.losses {
            if rule.until_ms <= now {
                continue;
            }
            let hit = rule.nodes.contains(from)
                || (rule.direction == Direction::TwoWay && rule.nodes.contains(to));
            if hit {
                loss = 1.0 - (1.0 - loss) * (1.0 - rule.rate);
            }
        }
        if loss > 0.0 && self.engine.rng().gen_bool(loss.min(1.0)) {
            return Fate::Lost;
        }
        Fate::Delivered {
            delay_ms: self.latency_ms(),
        }
    }

    fn blocked(&self, from: NodeId, to: NodeId) -> bool {
        let Some((groups, direction, bridges)) = &self.partitions else {
            return false;
        };
        if bridges.iter().any(|b| b.contains(from) || b.contains(to)) {
            return false;
        }
        let group_of = |node: NodeId| groups.iter().position(|g| g.contains(node));
        match (group_of(from), group_of(to)) {
            (Some(a), Some(b)) if a == b => false,
            (Some(a), Some(b)) => *direction == Direction::TwoWay || a < b,
            _ => true,
        }
    }

    fn latency_ms(&mut self) -> u64 {
        match self.scenario.network.latency {
            Latency::Fixed { ms } => ms,
            Latency::Uniform { min_ms, max_ms } => self.engine.rng().gen_range(min_ms..=max_ms),
            Latency::LogNormal { median_ms, sigma } => {
                let distribution =
                    LogNormal::new((median_ms.max(1) as f64).ln(), sigma).expect("validated sigma");
                distribution
                    .sample(self.engine.rng())
                    .round()
                    .min(600_000.0) as u64
            }
        }
    }

    pub(super) fn deliver(&mut self, to: NodeId, from: NodeId, rpc: Rpc) {
        if !self.nodes[to as usize].up {
            return;
        }
        let now_ms = self.engine.now_ms();
        let mut out = Vec::new();
        let mut validate = Vec::new();
        // A Sybil's GRAFT that its target takes into a mesh: the attack's progress.
        let sybil_graft = match &rpc {
            Rpc::Graft { topic } if self.nodes[from as usize].eclipse_target == Some(to) => {
                let mesh = self.nodes[to as usize].gossip.mesh(topic);
                mesh.is_some_and(|m| !m.contains(&from)).then_some(*topic)
            }
            _ => None,
        };
        self.nodes[to as usize]
            .gossip
            .on_rpc(from, rpc, now_ms, &mut out, &mut validate);
        if let Some(topic) = sybil_graft {
            let mesh = self.nodes[to as usize].gossip.mesh(topic);
            if mesh.is_some_and(|m| m.contains(&from)) {
                self.stats.eclipse_grafts_accepted += 1;
            }
        }
        self.send_all(to, out);
        for item in validate {
            self.validate(to, item);
        }
    }
}
