//! The network task: owns the swarm, drives it, and executes commands from the
//! [`NetworkActor`]. It holds no protocol logic; gossip messages go to the actor for a
//! verdict and come back as `Command::Validated`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use actix::Addr;
use futures::StreamExt;
use libp2p::core::transport::ListenerId;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, MessageId, TopicHash};
use libp2p::identity::Keypair;
use libp2p::metrics::{Metrics as Libp2pMetrics, Recorder};
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use libp2p::swarm::SwarmEvent;
use libp2p::{identify, kad, mdns, noise, tcp, yamux, Multiaddr, PeerId, Swarm};
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use x0_actors::messages::{PublishError, SyncResponseArrived};
use x0_actors::wall_clock::unix_ms_now;
use x0_core::duplicates::DuplicateTrackerConfig;

use super::actor::{GossipArrived, NetworkActor, PeerChanged, SyncRequestFromPeer};
use super::behaviour::{self, Behaviour, BehaviourEvent};
use super::duplicates::DuplicateCounter;
use super::metrics::NetworkMetrics;
use crate::config::Config;

/// Commands the swarm task accepts. The queue is bounded (see [`COMMAND_QUEUE_LEN`]).
#[derive(Debug)]
pub enum Command {
    Publish {
        topic: String,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<(), PublishError>>,
    },
    Subscribe {
        topic: String,
    },
    Validated {
        message_id: MessageId,
        propagation_source: PeerId,
        acceptance: MessageAcceptance,
    },
    Dial {
        address: Multiaddr,
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// Send a `/x0/sync/1` request; the outcome goes to the actor as
    /// [`SyncResponseArrived`] with `id`.
    SyncRequest {
        peer: PeerId,
        id: u64,
        bytes: Vec<u8>,
    },
    /// Answer the inbound request held under `channel`; `None` closes its stream.
    SyncRespond {
        channel: u64,
        bytes: Option<Vec<u8>>,
    },
    /// Set a peer's gossipsub application score (what it served through sync).
    SetApplicationScore {
        peer: PeerId,
        score: f64,
    },
    Status {
        reply: oneshot::Sender<NetworkStatus>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

/// Commands waiting for the swarm task. Sized for a burst of verdicts from a full
/// validation window plus control traffic.
pub const COMMAND_QUEUE_LEN: usize = 4096;

/// Sync requests this node has in flight, and peers' requests waiting for an answer. A
/// response may be 1 MiB, so the outbound bound caps what peers can make this node hold
/// at once (64 MiB), whatever the number of peers; past it a request fails at once and
/// the core asks that peer again later. Rounds go to one peer at a time, so honest sync
/// rarely has more than a few requests out.
const SYNC_OUTBOUND_MAX: usize = 64;
const SYNC_INBOUND_MAX: usize = 256;
/// Peers' requests waiting for an answer, per peer: a few peers cannot take every slot.
/// The core asks at most 4 at once, so an honest peer never meets this.
const SYNC_INBOUND_PER_PEER_MAX: usize = 8;

/// How often duplicate counts are settled when no traffic arrives to do it.
const SETTLE_INTERVAL: Duration = Duration::from_secs(1);

/// What the network looks like now; served as part of `/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkStatus {
    pub peer_id: String,
    pub listen_addrs: Vec<String>,
    pub connected_peers: Vec<PeerStatus>,
    pub topics: Vec<TopicStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerStatus {
    pub peer_id: String,
    /// gossipsub v1.1 peer score; below zero means the peer misbehaved.
    pub score: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopicStatus {
    pub topic: String,
    pub mesh_peers: Vec<String>,
    pub subscribed_peers: usize,
}

/// Builds the swarm, starts listening, dials the bootstrap peers, and spawns the task on
/// the current (actix) runtime. Errors here are the operator's to fix (bad or busy
/// listen address) and name the field.
pub fn spawn(
    key: &Keypair,
    config: &Config,
    registry: &mut Registry,
    actor: Addr<NetworkActor>,
    commands: mpsc::Receiver<Command>,
    metrics: NetworkMetrics,
) -> Result<(), crate::NodeError> {
    let duplicates = DuplicateCounter::new(
        DuplicateTrackerConfig::default(),
        registry.sub_registry_with_prefix("x0"),
    );
    let behaviour = Behaviour::new(key, config, duplicates.clone(), registry)
        .map_err(|e| crate::NodeError::Config(e.to_string()))?;
    let libp2p_metrics = Libp2pMetrics::new(registry);
    let swarm = libp2p::SwarmBuilder::with_existing_identity(key.clone())
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| crate::NodeError::Runtime(format!("tcp transport: {e}")))?
        .with_quic()
        .with_bandwidth_metrics(registry)
        .with_behaviour(move |_| behaviour)
        .map_err(|e| crate::NodeError::Runtime(format!("behaviour: {e}")))?
        .with_swarm_config(|c| {
            c.with_idle_connection_timeout(Duration::from_secs(
                config.network.idle_connection_timeout_s,
            ))
        })
        .build();
    let mut task = SwarmTask {
        swarm,
        commands,
        actor,
        duplicates,
        libp2p_metrics,
        listen_addrs: BTreeSet::new(),
        listener_ids: Vec::new(),
        sync_outbound: BTreeMap::new(),
        sync_inbound: BTreeMap::new(),
        sync_inbound_next: 0,
        metrics,
    };
    task.start_listening(config)?;
    task.bootstrap(config);
    actix::spawn(task.run());
    Ok(())
}

struct SwarmTask {
    swarm: Swarm<Behaviour>,
    commands: mpsc::Receiver<Command>,
    actor: Addr<NetworkActor>,
    duplicates: DuplicateCounter,
    libp2p_metrics: Libp2pMetrics,
    listen_addrs: BTreeSet<Multiaddr>,
    listener_ids: Vec<ListenerId>,
    /// Our sync requests in flight: libp2p's id to the sync core's.
    sync_outbound: BTreeMap<OutboundRequestId, u64>,
    /// Peers' sync requests the sync actor is answering, by our key for them.
    sync_inbound: BTreeMap<u64, (PeerId, ResponseChannel<Vec<u8>>)>,
    sync_inbound_next: u64,
    /// Counted here, not by messages to the actor: a message per drop would itself be an
    /// unbounded queue (actix's do_send ignores mailbox capacity).
    metrics: NetworkMetrics,
}

impl SwarmTask {
    fn start_listening(&mut self, config: &Config) -> Result<(), crate::NodeError> {
        for (index, address) in config.network.listen.iter().enumerate() {
            let id = self.swarm.listen_on(address.clone()).map_err(|e| {
                crate::NodeError::Config(format!(
                    "config field `network.listen[{index}]` (or --listen): cannot listen on {address}: {}; pick a free port, or port 0 for any",
                    crate::error_chain(&e)
                ))
            })?;
            self.listener_ids.push(id);
        }
        Ok(())
    }

    fn bootstrap(&mut self, config: &Config) {
        for address in &config.network.bootstrap {
            let Some(peer) = behaviour::peer_of(address) else {
                continue; // validated at config load: every bootstrap address has a /p2p/
            };
            let transport: Multiaddr = address
                .iter()
                .filter(|p| !matches!(p, Protocol::P2p(_)))
                .collect();
            self.swarm.behaviour_mut().kad.add_address(&peer, transport);
            if let Err(error) = self.swarm.dial(address.clone()) {
                tracing::warn!(%address, %error, "cannot dial bootstrap peer");
            }
        }
        if !config.network.bootstrap.is_empty() {
            // NoKnownPeers is impossible here: every bootstrap peer was just added.
            let _ = self.swarm.behaviour_mut().kad.bootstrap();
        }
    }

    async fn run(mut self) {
        let mut settle = tokio::time::interval(SETTLE_INTERVAL);
        loop {
            tokio::select! {
                command = self.commands.recv() => match command {
                    Some(Command::Shutdown { reply }) => {
                        self.shutdown();
                        let _ = reply.send(());
                        return;
                    }
                    Some(command) => self.execute(command),
                    None => {
                        self.shutdown();
                        return;
                    }
                },
                event = self.swarm.select_next_some() => self.on_event(event),
                _ = settle.tick() => self.duplicates.settle(),
            }
        }
    }

    /// Closes every listener (the sockets are released now, not when the process exits)
    /// and every connection.
    fn shutdown(&mut self) {
        tracing::info!(listeners = self.listener_ids.len(), "closing listeners");
        for id in std::mem::take(&mut self.listener_ids) {
            self.swarm.remove_listener(id);
        }
        let peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
        for peer in peers {
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }

    fn execute(&mut self, command: Command) {
        match command {
            Command::Publish { topic, data, reply } => {
                let result = self
                    .swarm
                    .behaviour_mut()
                    .gossipsub
                    .publish(IdentTopic::new(topic), data)
                    .map(|_| ())
                    .map_err(publish_error);
                let _ = reply.send(result);
            }
            Command::Subscribe { topic } => {
                if let Err(error) = self
                    .swarm
                    .behaviour_mut()
                    .gossipsub
                    .subscribe(&IdentTopic::new(topic.clone()))
                {
                    tracing::error!(%topic, %error, "cannot subscribe");
                }
            }
            Command::Validated {
                message_id,
                propagation_source,
                acceptance,
            } => {
                // false: the message already left the cache (validation took too long);
                // gossipsub then forwards nothing, which is the safe outcome.
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(&message_id, &propagation_source, acceptance);
            }
            Command::Dial { address, reply } => {
                let result = self.swarm.dial(address).map_err(|e| e.to_string());
                let _ = reply.send(result);
            }
            Command::Status { reply } => {
                let _ = reply.send(self.status());
            }
            Command::SyncRequest { peer, id, bytes } => self.sync_request(peer, id, bytes),
            Command::SyncRespond { channel, bytes } => {
                let Some((_, channel)) = self.sync_inbound.remove(&channel) else {
                    return;
                };
                if let (Some(bytes), Some(sync)) = (bytes, self.swarm.behaviour_mut().sync.as_mut())
                {
                    // Err: the peer gave up waiting (its stream closed); nothing to do.
                    let _ = sync.send_response(channel, bytes);
                }
            }
            Command::SetApplicationScore { peer, score } => {
                self.swarm
                    .behaviour_mut()
                    .gossipsub
                    .set_application_score(&peer, score);
            }
            Command::Shutdown { .. } => unreachable!("handled in run"),
        }
    }

    /// Sends a sync request to a connected peer (never dials: sync rounds follow the
    /// connections gossip made); anything else fails at once, at no cost to the peer.
    fn sync_request(&mut self, peer: PeerId, id: u64, bytes: Vec<u8>) {
        let connected = self.swarm.is_connected(&peer);
        let full = self.sync_outbound.len() >= SYNC_OUTBOUND_MAX;
        let sent = match self.swarm.behaviour_mut().sync.as_mut() {
            Some(sync) if connected && !full => Ok(sync.send_request(&peer, bytes)),
            Some(_) if full => Err("sync requests in flight full"),
            Some(_) => Err("not connected"),
            None => Err("sync disabled"),
        };
        match sent {
            Ok(request_id) => {
                self.sync_outbound.insert(request_id, id);
            }
            Err(error) => self.sync_outcome(id, Err(error.to_string())),
        }
    }

    fn sync_outcome(&self, id: u64, response: Result<Vec<u8>, String>) {
        if self
            .actor
            .try_send(SyncResponseArrived { id, response })
            .is_err()
        {
            // The core times the request out instead.
            self.metrics.drop_sync("mailbox_full");
        }
    }

    fn on_sync(&mut self, event: request_response::Event<Vec<u8>, Vec<u8>>) {
        match event {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                // A channel whose answer never came (a `SyncRespond` dropped on a full
                // command queue) closes when libp2p times the request out: its slot is
                // freed here, or the table would fill and refuse every peer for good.
                let held = self.sync_inbound.len();
                self.sync_inbound
                    .retain(|_, (_, channel)| channel.is_open());
                for _ in self.sync_inbound.len()..held {
                    self.metrics.drop_sync("inbound_abandoned");
                }
                let from_peer = self
                    .sync_inbound
                    .values()
                    .filter(|(from, _)| *from == peer)
                    .count();
                if self.sync_inbound.len() >= SYNC_INBOUND_MAX
                    || from_peer >= SYNC_INBOUND_PER_PEER_MAX
                {
                    // Dropping the channel closes the stream: the peer's core sees a
                    // failure and waits before asking again.
                    self.metrics.drop_sync("inbound_full");
                    return;
                }
                let key = self.sync_inbound_next;
                self.sync_inbound_next += 1;
                let arrived = SyncRequestFromPeer {
                    peer,
                    channel: key,
                    bytes: request,
                };
                if self.actor.try_send(arrived).is_ok() {
                    self.sync_inbound.insert(key, (peer, channel));
                } else {
                    self.metrics.drop_sync("mailbox_full");
                }
            }
            request_response::Event::Message {
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                if let Some(id) = self.sync_outbound.remove(&request_id) {
                    self.sync_outcome(id, Ok(response));
                }
            }
            request_response::Event::OutboundFailure {
                request_id, error, ..
            } => {
                if let Some(id) = self.sync_outbound.remove(&request_id) {
                    self.sync_outcome(id, Err(error.to_string()));
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "sync request from a peer failed");
                self.metrics.drop_sync("inbound_failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    fn status(&self) -> NetworkStatus {
        let gossipsub = &self.swarm.behaviour().gossipsub;
        let peer_id = *self.swarm.local_peer_id();
        let mut connected_peers: Vec<PeerStatus> = self
            .swarm
            .connected_peers()
            .map(|peer| PeerStatus {
                peer_id: peer.to_string(),
                score: gossipsub.peer_score(peer),
            })
            .collect();
        connected_peers.sort_by(|a, b| a.peer_id.cmp(&b.peer_id));
        let mut topics: Vec<TopicStatus> = gossipsub
            .topics()
            .map(|topic: &TopicHash| {
                let mut mesh_peers: Vec<String> =
                    gossipsub.mesh_peers(topic).map(|p| p.to_string()).collect();
                mesh_peers.sort();
                TopicStatus {
                    topic: topic.to_string(),
                    subscribed_peers: gossipsub
                        .all_peers()
                        .filter(|(_, topics)| topics.contains(&topic))
                        .count(),
                    mesh_peers,
                }
            })
            .collect();
        topics.sort_by(|a, b| a.topic.cmp(&b.topic));
        NetworkStatus {
            peer_id: peer_id.to_string(),
            listen_addrs: self
                .listen_addrs
                .iter()
                .map(|a| a.clone().with(Protocol::P2p(peer_id)).to_string())
                .collect(),
            connected_peers,
            topics,
        }
    }

    fn on_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        self.libp2p_metrics.record(&event);
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(address = %address.clone().with(Protocol::P2p(*self.swarm.local_peer_id())), "listening");
                self.listen_addrs.insert(address);
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                self.listen_addrs.remove(&address);
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                num_established,
                ..
            } if num_established.get() == 1 => {
                tracing::debug!(%peer_id, "peer connected");
                self.metrics.peers_connected.inc();
                self.notify_peer(peer_id, true);
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                tracing::debug!(%peer_id, "peer disconnected");
                self.metrics.peers_connected.dec();
                self.notify_peer(peer_id, false);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(event)) => {
                self.libp2p_metrics.record(&event);
                if let gossipsub::Event::Message {
                    propagation_source,
                    message_id,
                    message,
                } = event
                {
                    self.on_gossip(propagation_source, message_id, message);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(event)) => {
                self.libp2p_metrics.record(&event);
                if let identify::Event::Received { peer_id, info, .. } = event {
                    if info.protocols.contains(&behaviour::KAD_PROTOCOL) {
                        for address in info.listen_addrs {
                            self.swarm
                                .behaviour_mut()
                                .kad
                                .add_address(&peer_id, address);
                        }
                    }
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Sync(event)) => self.on_sync(event),
            SwarmEvent::Behaviour(BehaviourEvent::Ping(event)) => {
                self.libp2p_metrics.record(&event);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Kad(event)) => {
                self.libp2p_metrics.record(&event);
                if let kad::Event::OutboundQueryProgressed {
                    result: kad::QueryResult::Bootstrap(Err(error)),
                    ..
                } = event
                {
                    tracing::debug!(%error, "kademlia bootstrap did not finish");
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(found))) => {
                for (peer, address) in found {
                    self.swarm
                        .behaviour_mut()
                        .kad
                        .add_address(&peer, address.clone());
                    if !self.swarm.is_connected(&peer) {
                        let _ = self.swarm.dial(address);
                    }
                }
            }
            SwarmEvent::IncomingConnectionError { error, .. } => {
                tracing::debug!(%error, "incoming connection refused or failed");
            }
            _ => {}
        }
    }

    fn on_gossip(
        &mut self,
        propagation_source: PeerId,
        message_id: MessageId,
        message: gossipsub::Message,
    ) {
        let arrived = GossipArrived {
            message_id: message_id.clone(),
            propagation_source,
            author: message.source,
            topic: message.topic.into_string(),
            data: message.data,
            received_at_unix_ms: unix_ms_now(),
        };
        if self.actor.try_send(arrived).is_err() {
            // The actor's mailbox is full: judge nothing, forward nothing, penalise no one.
            self.swarm
                .behaviour_mut()
                .gossipsub
                .report_message_validation_result(
                    &message_id,
                    &propagation_source,
                    MessageAcceptance::Ignore,
                );
            self.metrics
                .drop_validation(x0_core::verdicts::ShellRefusal::MailboxFull.reason());
        }
    }

    fn notify_peer(&self, peer: PeerId, connected: bool) {
        if self
            .actor
            .try_send(PeerChanged { peer, connected })
            .is_err()
        {
            self.metrics.peer_events_dropped.inc();
        }
    }
}

fn publish_error(error: gossipsub::PublishError) -> PublishError {
    match error {
        gossipsub::PublishError::NoPeersSubscribedToTopic => PublishError::NoPeers,
        // The network actor checks sizes first; reaching this means the limits disagree.
        gossipsub::PublishError::MessageTooLarge => {
            PublishError::Refused("gossipsub: message over the topic's transmit limit".into())
        }
        other => PublishError::Refused(other.to_string()),
    }
}
