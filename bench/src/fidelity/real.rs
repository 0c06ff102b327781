//! The real side of a fidelity run: the plan played by libp2p gossipsub swarms in this
//! process, over the memory transport with the plan's link delays, configured as the node
//! configures gossipsub.

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
use rand::Rng;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use x0_node::config::GossipSection;
use x0_node::network::behaviour::{gossipsub_config_builder, score_parameters};
use x0_simulator::gossip::NodeId;

use crate::delay::Delayed;

use super::*;

/// A payload: magic, message index, publish time (µs since the run's start), padding.
const PAYLOAD_MAGIC: [u8; 4] = *b"x0fi";
pub(crate) const PAYLOAD_HEADER_BYTES: usize = 16;

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
pub(crate) fn scaled_gossip(gossip: &GossipSection, time_scale: u64) -> GossipSection {
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
