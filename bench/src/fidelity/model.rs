//! The model's side of a fidelity run: the plan played by `x0_simulator::gossip::GossipNode`
//! on the simulator's engine, with the links the plan fixes.

use std::collections::BTreeMap;

use x0_node::config::GossipSection;
use x0_simulator::gossip::{Acceptance, GossipConfig, GossipNode, MessageId, NodeId, Rpc};
use x0_simulator::Engine;

use super::*;

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
