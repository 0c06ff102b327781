//! Fidelity of the simulator's gossip model, measured: one plan (topology, heartbeat
//! phases, publish schedule, fixed link latency) run twice, once by real libp2p gossipsub
//! swarms in this process and once by the model (`x0_simulator::gossip::GossipNode`),
//! with the same figures taken from both.
//!
//! Both runs follow one timeline, in ms from the run's start:
//!
//! * node `i` starts at `heartbeat_phase_ms[i]` (within the first heartbeat interval),
//!   joins the topic and listens; its first heartbeat is `heartbeat_initial_delay_ms +
//!   heartbeat_interval_ms` after that, as libp2p's gossipsub schedules it;
//! * from `connect_at_ms`, over one heartbeat interval, every link is dialled at its own
//!   random moment (each node dials `connections_per_node` random others, the rule of
//!   `x0_simulator::world`). Spreading the dials matters: upstream grafts the first
//!   `mesh_n_low` peers whose subscriptions arrive, so if every link came up at one
//!   instant both ends of a link would see each other at the same rank and the meshes
//!   would overlap far more than in a network whose nodes connect over time;
//! * from `publish_start_ms` one message every `publish_interval_ms`, each from a random
//!   node, until all are out; then `drain_ms` for gossip repair to finish.
//!
//! The figures: delivery latency (publish to first receipt at each other node: median and
//! p99 over every (message, receiver) pair) and full messages sent per delivery.

use std::collections::BTreeMap;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use x0_simulator::gossip::NodeId;

/// The topic both runs use: the probe topic, with the node's transmit limit for it.
pub const TOPIC: &str = x0_core::topics::PROBE;

/// libp2p gossipsub's `heartbeat_initial_delay` default (5 s), which the node does not
/// change: the first heartbeat comes this long plus one interval after the behaviour is
/// created (libp2p-gossipsub 0.50 `Behaviour::new`).
pub const HEARTBEAT_INITIAL_DELAY_MS: u64 = 5_000;

/// What both runs share.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub nodes: u32,
    pub connections_per_node: u32,
    pub latency_ms: u64,
    pub seed: u64,
    pub payload_bytes: usize,
    pub heartbeat_interval_ms: u64,
    /// When each node starts, within the first heartbeat interval.
    pub heartbeat_phase_ms: Vec<u64>,
    /// Each unordered pair once, in the order they are dialled.
    pub links: Vec<Link>,
    pub connect_at_ms: u64,
    /// (time, author) of each message, in publish order.
    pub publishes: Vec<(u64, NodeId)>,
    pub end_ms: u64,
}

/// The knobs of a plan.
#[derive(Debug, Clone, Copy)]
pub struct PlanSpec {
    pub nodes: u32,
    pub connections_per_node: u32,
    pub latency_ms: u64,
    pub seed: u64,
    pub payload_bytes: usize,
    pub heartbeat_interval_ms: u64,
    pub messages: u32,
    pub publish_interval_ms: u64,
    /// Heartbeats between a node's first heartbeat and the first publish.
    pub warmup_heartbeats: u64,
    pub drain_ms: u64,
}

impl Plan {
    pub fn new(spec: PlanSpec) -> Plan {
        assert!(spec.nodes >= 2 && spec.connections_per_node >= 1);
        assert!(spec.connections_per_node < spec.nodes);
        let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
        let n = spec.nodes;
        // Topology: every node dials `connections_per_node` distinct random others, as in
        // x0_simulator::world. A pair chosen from both ends is one connection, dialled by
        // the node that chose it first.
        let mut chosen = BTreeMap::new();
        let mut pairs = Vec::new();
        for node in 0..n {
            let mut others: Vec<NodeId> = (0..n).filter(|o| *o != node).collect();
            others.shuffle(&mut rng);
            for other in others.into_iter().take(spec.connections_per_node as usize) {
                let pair = (node.min(other), node.max(other));
                if chosen.insert(pair, ()).is_none() {
                    pairs.push((node, other));
                }
            }
        }
        let heartbeat = spec.heartbeat_interval_ms;
        let heartbeat_phase_ms: Vec<u64> = (0..n).map(|_| rng.gen_range(0..heartbeat)).collect();
        // Every node has started by then.
        let connect_at_ms = heartbeat;
        let mut links: Vec<Link> = pairs
            .into_iter()
            .map(|(dialer, listener)| Link {
                dialer,
                listener,
                dial_at_ms: connect_at_ms + rng.gen_range(0..heartbeat),
            })
            .collect();
        links.sort_by_key(|link| link.dial_at_ms);
        // Every node has had its first heartbeat, then `warmup_heartbeats` more.
        let publish_start_ms =
            heartbeat + HEARTBEAT_INITIAL_DELAY_MS + heartbeat * (1 + spec.warmup_heartbeats);
        let publishes: Vec<(u64, NodeId)> = (0..spec.messages as u64)
            .map(|m| {
                (
                    publish_start_ms + m * spec.publish_interval_ms,
                    rng.gen_range(0..n),
                )
            })
            .collect();
        let last = publishes.last().map(|p| p.0).unwrap_or(publish_start_ms);
        Plan {
            nodes: n,
            connections_per_node: spec.connections_per_node,
            latency_ms: spec.latency_ms,
            seed: spec.seed,
            payload_bytes: spec.payload_bytes.max(PAYLOAD_HEADER_BYTES),
            heartbeat_interval_ms: heartbeat,
            heartbeat_phase_ms,
            links,
            connect_at_ms,
            publishes,
            end_ms: last + spec.drain_ms,
        }
    }

    /// The same plan `factor` times slower: every time in it multiplied.
    pub fn scaled(&self, factor: u64) -> Plan {
        let mut plan = self.clone();
        plan.latency_ms *= factor;
        plan.heartbeat_interval_ms *= factor;
        for phase in &mut plan.heartbeat_phase_ms {
            *phase *= factor;
        }
        for link in &mut plan.links {
            link.dial_at_ms *= factor;
        }
        plan.connect_at_ms *= factor;
        for (at_ms, _) in &mut plan.publishes {
            *at_ms *= factor;
        }
        plan.end_ms *= factor;
        plan
    }

    /// Each node's peers.
    pub fn degrees(&self) -> Vec<usize> {
        let mut degree = vec![0; self.nodes as usize];
        for link in &self.links {
            degree[link.dialer as usize] += 1;
            degree[link.listener as usize] += 1;
        }
        degree
    }
}

/// A connection of the plan.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Link {
    pub dialer: NodeId,
    pub listener: NodeId,
    pub dial_at_ms: u64,
}

/// One message's first receipt at one node.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Delivery {
    pub message: u32,
    pub receiver: NodeId,
    pub latency_ms: f64,
}

/// What one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Figures {
    pub deliveries: u64,
    pub deliveries_expected: u64,
    pub latency_ms_p50: f64,
    pub latency_ms_p99: f64,
    pub latency_ms_max: f64,
    /// Full messages put on links (published, forwarded, or answering IWANT).
    pub messages_sent: u64,
    pub sends_per_delivery: f64,
    /// Mesh size per node when the first message is published.
    pub mesh_size_mean: f64,
    pub mesh_size_min: usize,
    pub mesh_size_max: usize,
    /// Deliveries per latency bucket: (bucket's upper bound in ms, count), buckets of a
    /// quarter of the link latency, empty buckets left out.
    pub latency_histogram: Vec<(f64, u64)>,
}

impl Figures {
    fn new(plan: &Plan, deliveries: &[Delivery], messages_sent: u64, mesh: &[usize]) -> Figures {
        let mut latencies: Vec<f64> = deliveries.iter().map(|d| d.latency_ms).collect();
        latencies.sort_by(f64::total_cmp);
        let count = deliveries.len() as u64;
        Figures {
            deliveries: count,
            deliveries_expected: plan.publishes.len() as u64 * (plan.nodes as u64 - 1),
            latency_ms_p50: percentile(&latencies, 0.50),
            latency_ms_p99: percentile(&latencies, 0.99),
            latency_ms_max: latencies.last().copied().unwrap_or(f64::NAN),
            messages_sent,
            sends_per_delivery: messages_sent as f64 / count.max(1) as f64,
            mesh_size_mean: mesh.iter().sum::<usize>() as f64 / mesh.len().max(1) as f64,
            mesh_size_min: mesh.iter().copied().min().unwrap_or(0),
            mesh_size_max: mesh.iter().copied().max().unwrap_or(0),
            latency_histogram: histogram(&latencies, plan.latency_ms as f64 / 4.0),
        }
    }
}

/// Counts of sorted values per bucket of `width`, by upper bound; empty buckets left out.
fn histogram(sorted: &[f64], width: f64) -> Vec<(f64, u64)> {
    let width = if width > 0.0 { width } else { 1.0 };
    let mut buckets: Vec<(f64, u64)> = Vec::new();
    for value in sorted {
        // A value on a bucket's upper bound belongs to it: the model's latencies are
        // whole multiples of the link latency.
        let upper = (value / width).ceil().max(1.0) * width;
        match buckets.last_mut() {
            Some((bound, count)) if *bound == upper => *count += 1,
            _ => buckets.push((upper, 1)),
        }
    }
    buckets
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The model's parameters from the node's `[gossip]` section, field for field.
mod model;
mod real;

pub use model::*;
pub use real::*;

#[cfg(test)]
mod tests {
    use x0_node::config::Config;

    use super::*;

    fn spec(nodes: u32, messages: u32) -> PlanSpec {
        PlanSpec {
            nodes,
            connections_per_node: 2,
            latency_ms: 10,
            seed: 7,
            payload_bytes: 83,
            heartbeat_interval_ms: 1_000,
            messages,
            publish_interval_ms: 200,
            warmup_heartbeats: 0,
            drain_ms: 1_500,
        }
    }

    #[test]
    fn every_node_dials_its_share_and_each_pair_is_one_link() {
        let plan = Plan::new(spec(20, 1));
        let mut dialled = [0; 20];
        let mut pairs = std::collections::BTreeSet::new();
        for link in &plan.links {
            dialled[link.dialer as usize] += 1;
            assert!(pairs.insert((
                link.dialer.min(link.listener),
                link.dialer.max(link.listener)
            )));
            assert!((plan.connect_at_ms..plan.connect_at_ms + 1_000).contains(&link.dial_at_ms));
        }
        // A node dials 2 others, fewer only where a pair was already chosen by the other end.
        assert!(dialled.iter().all(|d| *d <= 2));
        assert!(plan.degrees().iter().all(|d| *d >= 2));
    }

    #[test]
    fn the_model_delivers_everything_in_whole_hops_and_replays() {
        let plan = Plan::new(spec(30, 10));
        let config = model_config(&Config::embedded().gossip);
        let figures = run_model(&plan, config, ModelLinks::Upstream);
        assert_eq!(figures.deliveries, figures.deliveries_expected);
        assert!(figures
            .latency_histogram
            .iter()
            .all(|(upper, _)| upper % 10.0 == 0.0));
        assert!(figures.sends_per_delivery >= 1.0);
        let again = run_model(&plan, config, ModelLinks::Upstream);
        assert_eq!(again.messages_sent, figures.messages_sent);
    }

    #[test]
    fn a_scaled_plan_is_the_same_plan_slower() {
        let plan = Plan::new(spec(12, 3));
        let slow = plan.scaled(3);
        assert_eq!(slow.latency_ms, 3 * plan.latency_ms);
        assert_eq!(slow.heartbeat_interval_ms, 3 * plan.heartbeat_interval_ms);
        assert_eq!(slow.connect_at_ms, 3 * plan.connect_at_ms);
        assert_eq!(slow.end_ms, 3 * plan.end_ms);
        assert!(slow
            .heartbeat_phase_ms
            .iter()
            .zip(&plan.heartbeat_phase_ms)
            .all(|(s, p)| *s == 3 * p));
        assert!(slow.links.iter().zip(&plan.links).all(|(s, p)| {
            (s.dialer, s.listener, s.dial_at_ms) == (p.dialer, p.listener, 3 * p.dial_at_ms)
        }));
        assert!(slow
            .publishes
            .iter()
            .zip(&plan.publishes)
            .all(|(s, p)| *s == (3 * p.0, p.1)));
        let gossip = Config::embedded().gossip;
        let scaled = scaled_gossip(&gossip, 3);
        assert_eq!(
            scaled.heartbeat_interval_ms,
            3 * gossip.heartbeat_interval_ms
        );
        assert_eq!(scaled.prune_backoff_s, 3 * gossip.prune_backoff_s);
        assert_eq!(
            scaled.duplicate_cache_time_s,
            3 * gossip.duplicate_cache_time_s
        );
        assert_eq!(scaled.mesh_n, gossip.mesh_n);
    }

    /// A few real swarms end to end, run twice slower (`time_scale` 2, which the
    /// fidelity runs use to take this process's CPU out of the latencies): everything
    /// arrives, no faster than the link allows once divided back, and the receivers'
    /// copy count equals gossipsub's own.
    #[test]
    fn real_swarms_deliver_through_the_delayed_links() {
        let plan = Plan::new(spec(6, 3));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let outcome = runtime
            .block_on(run_real(&plan, &Config::embedded().gossip, 2))
            .unwrap();
        let figures = &outcome.figures;
        assert_eq!(figures.deliveries, figures.deliveries_expected);
        assert!(figures.latency_ms_p50 >= plan.latency_ms as f64);
        // Divided back: a delivery of n hops takes about n links, not 2n.
        assert!(
            figures.latency_ms_max < 5.0 * plan.latency_ms as f64,
            "{figures:?}"
        );
        assert_eq!(outcome.messages_sent_by_gossipsub, figures.messages_sent);
        assert_eq!(outcome.publish_failures, 0);
    }
}
