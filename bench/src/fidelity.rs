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
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use libp2p::core::transport::{MemoryTransport, Transport};
use libp2p::core::upgrade;
use libp2p::gossipsub::{
    self, DataTransform, IdentTopic, MessageAcceptance, RawMessage, TopicHash,
};
use libp2p::identity::Keypair;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{Swarm, SwarmEvent};
use libp2p::{noise, yamux, Multiaddr};
use prometheus_client::registry::Registry;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use x0_node::config::GossipSection;
use x0_node::network::behaviour::{gossipsub_config_builder, score_parameters};
use x0_simulator::gossip::{Acceptance, GossipConfig, GossipNode, MessageId, NodeId, Rpc};
use x0_simulator::Engine;

use crate::delay::Delayed;

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
pub fn model_config(gossip: &GossipSection) -> GossipConfig {
    GossipConfig {
        mesh_n: gossip.mesh_n,
        mesh_n_low: gossip.mesh_n_low,
        mesh_n_high: gossip.mesh_n_high,
        gossip_lazy: gossip.gossip_lazy,
        heartbeat_interval_ms: gossip.heartbeat_interval_ms,
        history_length: gossip.history_length,
        history_gossip: gossip.history_gossip,
        duplicate_cache_time_ms: gossip.duplicate_cache_time_s * 1000,
        flood_publish: gossip.flood_publish,
        prune_backoff_ms: gossip.prune_backoff_s * 1000,
        invalid_message_weight: gossip.score.invalid_message_weight,
        invalid_message_decay: gossip.score.invalid_message_decay,
        gossip_threshold: gossip.score.gossip_threshold,
        publish_threshold: gossip.score.publish_threshold,
        graylist_threshold: gossip.score.graylist_threshold,
        ..GossipConfig::default()
    }
}

// ---------------------------------------------------------------------------------------
// The model run.

#[derive(Debug)]
enum ModelEvent {
    Connect { dialer: NodeId, listener: NodeId },
    Heartbeat { node: NodeId },
    Publish { message: u32 },
    Rpc { to: NodeId, from: NodeId, rpc: Rpc },
}

/// How the model learns of a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelLinks {
    /// [`GossipNode::connected`]: the dialling side is known and subscriptions travel
    /// the link, as upstream does it.
    Upstream,
    /// [`GossipNode::connect`] on both ends, as `x0_simulator::world` does today: peers
    /// are known subscribed at once, no direction, meshes formed by heartbeats only.
    World,
}

/// Runs the plan through the simulator's gossip model.
pub fn run_model(plan: &Plan, config: GossipConfig, links: ModelLinks) -> Figures {
    let topic: &'static str = TOPIC;
    let mut engine: Engine<ModelEvent> = Engine::new(plan.seed, 50_000_000);
    let mut nodes: Vec<GossipNode> = (0..plan.nodes)
        .map(|i| GossipNode::new(i, config, vec![topic]))
        .collect();
    let schedule = |engine: &mut Engine<ModelEvent>, delay_ms: u64, event: ModelEvent| {
        engine
            .schedule(delay_ms, event)
            .expect("the fidelity plan stays far below the event bound");
    };
    // The model has no handshake: a link is up when it is dialled. Real handshakes take
    // a few round trips, about the same on every link, so the order is the same.
    for link in &plan.links {
        schedule(
            &mut engine,
            link.dial_at_ms,
            ModelEvent::Connect {
                dialer: link.dialer,
                listener: link.listener,
            },
        );
    }
    for (node, phase) in plan.heartbeat_phase_ms.iter().enumerate() {
        let first = phase + HEARTBEAT_INITIAL_DELAY_MS + plan.heartbeat_interval_ms;
        schedule(
            &mut engine,
            first,
            ModelEvent::Heartbeat {
                node: node as NodeId,
            },
        );
    }
    for (message, (at_ms, _)) in plan.publishes.iter().enumerate() {
        schedule(
            &mut engine,
            *at_ms,
            ModelEvent::Publish {
                message: message as u32,
            },
        );
    }
    let mut index_of: BTreeMap<MessageId, u32> = BTreeMap::new();
    let mut deliveries = Vec::new();
    let mut mesh_at_start = Vec::new();
    let mut out = Vec::new();
    let mut validate = Vec::new();
    while let Some((now_ms, event)) = engine.next_event() {
        if now_ms > plan.end_ms {
            break;
        }
        match event {
            ModelEvent::Connect { dialer, listener } => match links {
                ModelLinks::Upstream => {
                    nodes[dialer as usize].connected(listener, true, &mut out);
                    send_all(&mut engine, plan, dialer, &mut out);
                    nodes[listener as usize].connected(dialer, false, &mut out);
                    send_all(&mut engine, plan, listener, &mut out);
                }
                ModelLinks::World => {
                    nodes[dialer as usize].connect(listener);
                    nodes[listener as usize].connect(dialer);
                }
            },
            ModelEvent::Heartbeat { node } => {
                nodes[node as usize].heartbeat(now_ms, engine.rng(), &mut out);
                send_all(&mut engine, plan, node, &mut out);
                schedule(
                    &mut engine,
                    plan.heartbeat_interval_ms,
                    ModelEvent::Heartbeat { node },
                );
            }
            ModelEvent::Publish { message } => {
                if message == 0 {
                    mesh_at_start = nodes
                        .iter()
                        .map(|n| n.mesh(topic).map_or(0, |m| m.len()))
                        .collect();
                }
                let author = plan.publishes[message as usize].1;
                let data = vec![0u8; plan.payload_bytes];
                let published = nodes[author as usize].publish(topic, data, now_ms, &mut out);
                index_of.insert(published.id, message);
                send_all(&mut engine, plan, author, &mut out);
            }
            ModelEvent::Rpc { to, from, rpc } => {
                nodes[to as usize].on_rpc(from, rpc, now_ms, &mut out, &mut validate);
                send_all(&mut engine, plan, to, &mut out);
                // The harness's real swarms accept at once; so does the model.
                for item in validate.drain(..) {
                    let message = index_of[&item.message.id];
                    deliveries.push(Delivery {
                        message,
                        receiver: to,
                        latency_ms: (now_ms - item.message.published_at_ms) as f64,
                    });
                    nodes[to as usize].report_validation(
                        item.message.id,
                        Acceptance::Accept,
                        now_ms,
                        &mut out,
                    );
                    send_all(&mut engine, plan, to, &mut out);
                }
            }
        }
    }
    let messages_sent = nodes.iter().map(|n| n.counters.messages_sent).sum();
    Figures::new(plan, &deliveries, messages_sent, &mesh_at_start)
}

fn send_all(
    engine: &mut Engine<ModelEvent>,
    plan: &Plan,
    from: NodeId,
    out: &mut Vec<(NodeId, Rpc)>,
) {
    for (to, rpc) in out.drain(..) {
        engine
            .schedule(plan.latency_ms, ModelEvent::Rpc { to, from, rpc })
            .expect("the fidelity plan stays far below the event bound");
    }
}

// ---------------------------------------------------------------------------------------
// The real run.

/// A payload: magic, message index, publish time (µs since the run's start), padding.
const PAYLOAD_MAGIC: [u8; 4] = *b"x0fi";
const PAYLOAD_HEADER_BYTES: usize = 16;

fn encode_payload(message: u32, published_us: u64, payload_bytes: usize) -> Vec<u8> {
    let mut data = Vec::with_capacity(payload_bytes);
    data.extend_from_slice(&PAYLOAD_MAGIC);
    data.extend_from_slice(&message.to_be_bytes());
    data.extend_from_slice(&published_us.to_be_bytes());
    data.resize(payload_bytes.max(PAYLOAD_HEADER_BYTES), 0);
    data
}

fn decode_payload(data: &[u8]) -> Option<(u32, u64)> {
    if data.len() < PAYLOAD_HEADER_BYTES || data[..4] != PAYLOAD_MAGIC {
        return None;
    }
    let message = u32::from_be_bytes(data[4..8].try_into().ok()?);
    let published_us = u64::from_be_bytes(data[8..16].try_into().ok()?);
    Some((message, published_us))
}

/// Counts every full message a node receives, duplicates included: gossipsub calls the
/// inbound transform on each copy before its seen-cache check (libp2p-gossipsub 0.50
/// `handle_received_message`), so the sum over all nodes is the number of full messages
/// that crossed a link. The transport loses nothing, so that equals messages sent.
#[derive(Clone)]
struct CopyCounter(Arc<AtomicU64>);

impl DataTransform for CopyCounter {
    fn inbound_transform(&self, raw: RawMessage) -> Result<gossipsub::Message, std::io::Error> {
        if decode_payload(&raw.data).is_some() {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
        Ok(gossipsub::Message {
            source: raw.source,
            data: raw.data,
            sequence_number: raw.sequence_number,
            topic: raw.topic,
        })
    }

    fn outbound_transform(
        &self,
        _topic: &TopicHash,
        data: Vec<u8>,
    ) -> Result<Vec<u8>, std::io::Error> {
        Ok(data)
    }
}

type Gossipsub = gossipsub::Behaviour<CopyCounter, gossipsub::AllowAllSubscriptionFilter>;

enum Command {
    Dial(Multiaddr),
    Publish { message: u32 },
    Report(oneshot::Sender<NodeReport>),
}

struct NodeReport {
    mesh_size: usize,
    /// gossipsub's own count of full messages it handed to connections
    /// (`topic_msg_sent_counts`), to cross-check the receivers' count.
    sent_counted: u64,
}

/// What every node task shares with the coordinator.
struct Shared {
    start: Instant,
    deliveries: Mutex<Vec<Delivery>>,
    copies_received: Arc<AtomicU64>,
    started: AtomicUsize,
    /// Peers each node knows to be subscribed to the topic.
    subscribed_peers: Vec<AtomicUsize>,
    publish_failures: AtomicU64,
}

/// What the real run measured, with what only it can tell.
#[derive(Debug, Clone, Serialize)]
pub struct RealOutcome {
    pub figures: Figures,
    /// When every node knew all its peers' subscriptions, ms from the start.
    pub connected_ms: u64,
    /// Full messages gossipsub says it sent; equals `figures.messages_sent` when no
    /// message was dropped between the two counts.
    pub messages_sent_by_gossipsub: u64,
    pub publish_failures: u64,
    /// CPU time this process used during the run, and what every other process used on
    /// average meanwhile (in cores), from /proc: the swarms share the machine's cores,
    /// and anything else running delays them. `None` where /proc is not there.
    pub cpu_s: Option<f64>,
    pub others_cores: Option<f64>,
}

/// Busy CPU time of the whole machine and of this process, in clock ticks (Linux).
fn cpu_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...: busy is all but idle and iowait.
    let machine = fields.iter().sum::<u64>() - fields.get(3)? - fields.get(4)?;
    let own = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command (which may hold spaces) start at the state, field 3.
    let rest = own.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let process = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some((machine, process))
}

/// Clock ticks per second for /proc figures; 100 on every Linux platform Rust targets.
const TICKS_PER_S: f64 = 100.0;

/// Why the real run could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum RealRunError {
    #[error("building node {node}: {reason}")]
    Build { node: NodeId, reason: String },
    #[error(
        "links not up by {deadline_ms} ms: {ready} of {nodes} nodes know all their peers; \
         the machine may be overloaded"
    )]
    NotConnected {
        deadline_ms: u64,
        ready: usize,
        nodes: u32,
    },
    #[error("node {node} stopped early")]
    NodeGone { node: NodeId },
}

/// Memory-transport ports used by this run: node `i` listens on `port_base + i`.
fn listen_addr(port_base: u64, node: NodeId) -> Multiaddr {
    Multiaddr::empty().with(Protocol::Memory(port_base + node as u64))
}

/// Runs the plan with real libp2p gossipsub swarms, one tokio task each, over the memory
/// transport with the plan's latency on every link, noise and yamux as the node uses over
/// TCP, and the node's own gossipsub and peer-score configuration.
///
/// With `time_scale` K above 1 the swarms run the plan K times slower: every time in it,
/// the link latency, and every gossipsub timer (heartbeat and its initial delay, prune
/// backoff, seen-cache time, IWANT follow-up) multiplied by K; latencies are divided by K
/// before the figures are taken. The protocol's decisions depend on times only through
/// those timers and the order of arrivals, which scaling keeps; what does not scale is
/// this process's CPU time per copy, shared by all the swarms on this machine's cores,
/// which is the point: it shrinks K-fold relative to the plan.
pub async fn run_real(
    plan: &Plan,
    gossip: &GossipSection,
    time_scale: u64,
) -> Result<RealOutcome, RealRunError> {
    assert!(time_scale >= 1);
    let unscaled = plan;
    let plan = &plan.scaled(time_scale);
    let gossip = &scaled_gossip(gossip, time_scale);
    let port_base = rand::thread_rng().gen_range(1_000_000..u64::MAX / 2);
    let ticks_before = cpu_ticks();
    let wall = std::time::Instant::now();
    let start = Instant::now() + Duration::from_millis(50);
    let shared = Arc::new(Shared {
        start,
        deliveries: Mutex::new(Vec::new()),
        copies_received: Arc::new(AtomicU64::new(0)),
        started: AtomicUsize::new(0),
        subscribed_peers: (0..plan.nodes).map(|_| AtomicUsize::new(0)).collect(),
        publish_failures: AtomicU64::new(0),
    });
    let mut commands = Vec::new();
    let mut tasks = Vec::new();
    for node in 0..plan.nodes {
        let (sender, receiver) = mpsc::unbounded_channel();
        commands.push(sender);
        let swarm_start = start + Duration::from_millis(plan.heartbeat_phase_ms[node as usize]);
        let latency = Duration::from_millis(plan.latency_ms);
        let payload_bytes = plan.payload_bytes;
        let gossip = gossip.clone();
        let shared = shared.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(swarm_start).await;
            let swarm = build_swarm(node, &gossip, time_scale, latency, &shared, port_base)?;
            shared.started.fetch_add(1, Ordering::SeqCst);
            drive_node(node, swarm, receiver, shared, payload_bytes).await;
            Ok::<(), RealRunError>(())
        }));
    }
    let at = |ms: u64| start + Duration::from_millis(ms);
    tokio::time::sleep_until(at(plan.connect_at_ms)).await;
    let started = shared.started.load(Ordering::SeqCst);
    if started < plan.nodes as usize {
        // A node failed to build (its task returned the error) or is very late.
        for (node, task) in tasks.into_iter().enumerate() {
            if task.is_finished() {
                return match task.await {
                    Ok(Err(error)) => Err(error),
                    _ => Err(RealRunError::NodeGone {
                        node: node as NodeId,
                    }),
                };
            }
        }
        return Err(RealRunError::NotConnected {
            deadline_ms: plan.connect_at_ms,
            ready: started,
            nodes: plan.nodes,
        });
    }
    for link in &plan.links {
        tokio::time::sleep_until(at(link.dial_at_ms)).await;
        commands[link.dialer as usize]
            .send(Command::Dial(listen_addr(port_base, link.listener)))
            .map_err(|_| RealRunError::NodeGone { node: link.dialer })?;
    }
    // Wait until every node knows every peer's subscription: then the links are up.
    let degrees = plan.degrees();
    let first_publish_ms = plan.publishes.first().map_or(plan.end_ms, |p| p.0);
    let connected_ms = loop {
        let ready = degrees
            .iter()
            .zip(&shared.subscribed_peers)
            .filter(|(degree, known)| known.load(Ordering::SeqCst) >= **degree)
            .count();
        let now_ms = start.elapsed().as_millis() as u64;
        if ready == plan.nodes as usize {
            break now_ms;
        }
        if now_ms >= first_publish_ms {
            return Err(RealRunError::NotConnected {
                deadline_ms: first_publish_ms,
                ready,
                nodes: plan.nodes,
            });
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    tracing::info!(connected_ms, "all links up");
    let mut mesh_at_start = Vec::new();
    for (message, (at_ms, author)) in plan.publishes.iter().enumerate() {
        tokio::time::sleep_until(at(*at_ms)).await;
        if message == 0 {
            mesh_at_start = reports(&commands)
                .await?
                .iter()
                .map(|r| r.mesh_size)
                .collect();
        }
        commands[*author as usize]
            .send(Command::Publish {
                message: message as u32,
            })
            .map_err(|_| RealRunError::NodeGone { node: *author })?;
    }
    tokio::time::sleep_until(at(plan.end_ms)).await;
    let end_reports = reports(&commands).await?;
    drop(commands);
    for task in tasks {
        let _ = task.await;
    }
    let (cpu_s, others_cores) = match (ticks_before, cpu_ticks()) {
        (Some((machine_0, own_0)), Some((machine_1, own_1))) => {
            let own_s = (own_1 - own_0) as f64 / TICKS_PER_S;
            let machine_s = (machine_1 - machine_0) as f64 / TICKS_PER_S;
            let wall_s = wall.elapsed().as_secs_f64();
            (Some(own_s), Some(((machine_s - own_s) / wall_s).max(0.0)))
        }
        _ => (None, None),
    };
    let mut deliveries = std::mem::take(&mut *shared.deliveries.lock().expect("deliveries lock"));
    for delivery in &mut deliveries {
        delivery.latency_ms /= time_scale as f64;
    }
    let copies = shared.copies_received.load(Ordering::SeqCst);
    Ok(RealOutcome {
        figures: Figures::new(unscaled, &deliveries, copies, &mesh_at_start),
        connected_ms,
        messages_sent_by_gossipsub: end_reports.iter().map(|r| r.sent_counted).sum(),
        publish_failures: shared.publish_failures.load(Ordering::SeqCst),
        cpu_s,
        others_cores,
    })
}

async fn reports(
    commands: &[mpsc::UnboundedSender<Command>],
) -> Result<Vec<NodeReport>, RealRunError> {
    let mut waiting = Vec::new();
    for (node, sender) in commands.iter().enumerate() {
        let (reply, answer) = oneshot::channel();
        sender
            .send(Command::Report(reply))
            .map_err(|_| RealRunError::NodeGone {
                node: node as NodeId,
            })?;
        waiting.push(answer);
    }
    let mut out = Vec::new();
    for (node, answer) in waiting.into_iter().enumerate() {
        out.push(answer.await.map_err(|_| RealRunError::NodeGone {
            node: node as NodeId,
        })?);
    }
    Ok(out)
}

struct NodeSwarm {
    swarm: Swarm<Gossipsub>,
    registry: Registry,
    topic: IdentTopic,
}

/// The node's `[gossip]` timers multiplied by `time_scale` (see [`run_real`]).
fn scaled_gossip(gossip: &GossipSection, time_scale: u64) -> GossipSection {
    let mut scaled = gossip.clone();
    scaled.heartbeat_interval_ms *= time_scale;
    scaled.prune_backoff_s *= time_scale;
    scaled.duplicate_cache_time_s *= time_scale;
    scaled
}

/// libp2p gossipsub's `iwant_followup_time` default, which the node does not change.
const IWANT_FOLLOWUP_MS: u64 = 3_000;

fn build_swarm(
    node: NodeId,
    gossip: &GossipSection,
    time_scale: u64,
    latency: Duration,
    shared: &Shared,
    port_base: u64,
) -> Result<NodeSwarm, RealRunError> {
    let fail = |reason: String| RealRunError::Build { node, reason };
    let key = Keypair::generate_ed25519();
    let transport = MemoryTransport::default()
        .map(move |channel, _| Delayed::new(channel, latency))
        .upgrade(upgrade::Version::V1)
        .authenticate(noise::Config::new(&key).map_err(|e| fail(e.to_string()))?)
        .multiplex(yamux::Config::default())
        .boxed();
    // The node's own gossipsub configuration and peer scoring
    // (x0_node::network::behaviour), with metrics on as the node has them.
    // Upstream timers the node leaves at their defaults are scaled here (run_real).
    let mut builder = gossipsub_config_builder(gossip);
    builder
        .heartbeat_initial_delay(Duration::from_millis(
            HEARTBEAT_INITIAL_DELAY_MS * time_scale,
        ))
        .iwant_followup_time(Duration::from_millis(IWANT_FOLLOWUP_MS * time_scale));
    let config = builder.build().map_err(|e| fail(e.to_string()))?;
    let mut registry = Registry::default();
    let mut behaviour = Gossipsub::new_with_transform(
        gossipsub::MessageAuthenticity::Signed(key.clone()),
        config,
        CopyCounter(shared.copies_received.clone()),
    )
    .map_err(|e| fail(e.to_string()))?
    .with_metrics(&mut registry, gossipsub::MetricsConfig::default());
    let (params, thresholds) = score_parameters(gossip);
    behaviour
        .with_peer_score(params, thresholds)
        .map_err(fail)?;
    let topic = IdentTopic::new(TOPIC);
    behaviour
        .subscribe(&topic)
        .map_err(|e| fail(e.to_string()))?;
    let mut swarm = Swarm::new(
        transport,
        behaviour,
        key.public().to_peer_id(),
        libp2p::swarm::Config::with_tokio_executor()
            .with_idle_connection_timeout(Duration::from_secs(3_600)),
    );
    swarm
        .listen_on(listen_addr(port_base, node))
        .map_err(|e| fail(e.to_string()))?;
    Ok(NodeSwarm {
        swarm,
        registry,
        topic,
    })
}

async fn drive_node(
    node: NodeId,
    mut node_swarm: NodeSwarm,
    mut commands: mpsc::UnboundedReceiver<Command>,
    shared: Arc<Shared>,
    payload_bytes: usize,
) {
    let swarm = &mut node_swarm.swarm;
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                None => return,
                Some(Command::Dial(address)) => {
                    if let Err(error) = swarm.dial(address) {
                        tracing::warn!(node, %error, "dial failed");
                    }
                }
                Some(Command::Publish { message }) => {
                    let published_us = shared.start.elapsed().as_micros() as u64;
                    let data = encode_payload(message, published_us, payload_bytes);
                    if let Err(error) = swarm.behaviour_mut().publish(node_swarm.topic.clone(), data) {
                        tracing::warn!(node, %error, "publish failed");
                        shared.publish_failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Some(Command::Report(reply)) => {
                    let mesh_size = swarm
                        .behaviour()
                        .mesh_peers(&node_swarm.topic.hash())
                        .count();
                    let sent_counted = sent_count(&node_swarm.registry);
                    let _ = reply.send(NodeReport { mesh_size, sent_counted });
                }
            },
            event = swarm.select_next_some() => {
                if let SwarmEvent::Behaviour(event) = event {
                    match event {
                        gossipsub::Event::Message { propagation_source, message_id, message } => {
                            if let Some((index, published_us)) = decode_payload(&message.data) {
                                let now_us = shared.start.elapsed().as_micros() as u64;
                                shared.deliveries.lock().expect("deliveries lock").push(Delivery {
                                    message: index,
                                    receiver: node,
                                    latency_ms: now_us.saturating_sub(published_us) as f64 / 1000.0,
                                });
                                // Strict validation as in the node: forwarded only on Accept.
                                // The node's actor round trip is left out (sub-ms); the
                                // model validates at once too.
                                swarm.behaviour_mut().report_message_validation_result(
                                    &message_id,
                                    &propagation_source,
                                    MessageAcceptance::Accept,
                                );
                            }
                        }
                        gossipsub::Event::Subscribed { .. } => {
                            shared.subscribed_peers[node as usize].fetch_add(1, Ordering::SeqCst);
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}

/// Sums gossipsub's `topic_msg_sent_counts` from a node's registry.
fn sent_count(registry: &Registry) -> u64 {
    let mut text = String::new();
    if prometheus_client::encoding::text::encode(&mut text, registry).is_err() {
        return 0;
    }
    text.lines()
        .filter(|line| line.starts_with("topic_msg_sent_counts_total"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

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
