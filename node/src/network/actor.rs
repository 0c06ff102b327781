//! The network actor: the one door between protocol actors and the swarm task.
//!
//! It routes each gossip message to its topic's owner, turns the owner's [`Verdict`] into
//! gossipsub's acceptance (so nothing is forwarded before an actor accepted it), counts
//! every outcome, and forwards publishes and subscriptions to the swarm task.

use std::collections::{BTreeMap, BTreeSet};

use actix::prelude::*;
use libp2p::gossipsub::{MessageAcceptance, MessageId};
use libp2p::{Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot};
use x0_actors::messages::{
    AttachSync, Inbound, ItemHeld, PeerEvent, PeerKey, Publish, PublishError, Subscribe,
    SubscribeError, SyncDeliver, SyncRequestArrived, SyncResponseArrived, SyncToNetwork, Verdict,
    WatchPeers,
};
use x0_actors::wall_clock::unix_ms_now;
use x0_core::known_topics;
use x0_core::sync::item::Kind;
use x0_core::verdicts::ShellRefusal;

use super::metrics::{NetworkMetrics, TopicReasonLabel, VerdictLabel};
use super::swarm_task::{Command, NetworkStatus};

/// Routes gossip between the swarm task and protocol actors.
pub struct NetworkActor {
    commands: mpsc::Sender<Command>,
    owners: BTreeMap<String, Recipient<Inbound>>,
    watchers: Vec<Recipient<PeerEvent>>,
    /// Peers connected now, for a watcher that starts late. Bounded by the connection
    /// limits (`network.limits.established_total_max`).
    connected: BTreeSet<PeerKey>,
    sync: Option<SyncPeer>,
    validations_inflight: usize,
    validations_inflight_max: usize,
    metrics: NetworkMetrics,
}

/// Bound on peer-event watchers: each is a protocol actor, a handful at most.
const WATCHERS_MAX: usize = 64;

impl NetworkActor {
    pub fn new(
        commands: mpsc::Sender<Command>,
        validations_inflight_max: usize,
        metrics: NetworkMetrics,
    ) -> Self {
        assert!(validations_inflight_max > 0);
        NetworkActor {
            commands,
            owners: BTreeMap::new(),
            watchers: Vec::new(),
            connected: BTreeSet::new(),
            sync: None,
            validations_inflight: 0,
            validations_inflight_max,
            metrics,
        }
    }

    fn send_command(&self, command: Command, name: &'static str) -> bool {
        match self.commands.try_send(command) {
            Ok(()) => true,
            Err(_) => {
                self.metrics.drop_command(name);
                false
            }
        }
    }

    fn report(
        &self,
        message_id: MessageId,
        propagation_source: PeerId,
        acceptance: MessageAcceptance,
    ) {
        self.send_command(
            Command::Validated {
                message_id,
                propagation_source,
                acceptance,
            },
            "validated",
        );
    }
}

impl Actor for NetworkActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // The swarm task uses try_send: a full mailbox means "ignore this message" rather
        // than an unbounded queue in front of the validators.
        ctx.set_mailbox_capacity(self.validations_inflight_max);
    }
}

/// A gossip message from the swarm task, waiting for a verdict.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(super) struct GossipArrived {
    pub message_id: MessageId,
    pub propagation_source: PeerId,
    pub author: Option<PeerId>,
    pub topic: String,
    pub data: Vec<u8>,
    pub received_at_unix_ms: u64,
}

impl Handler<GossipArrived> for NetworkActor {
    type Result = ();

    fn handle(&mut self, arrived: GossipArrived, ctx: &mut Self::Context) {
        let GossipArrived {
            message_id,
            propagation_source,
            author,
            topic,
            data,
            received_at_unix_ms,
        } = arrived;
        let inbound = Inbound {
            topic,
            propagation_source: PeerKey(propagation_source.to_bytes()),
            author: author.map(|p| PeerKey(p.to_bytes())),
            data,
            received_at_unix_ms,
        };
        // What gossip brings and the owner accepts, sync peers may ask for.
        let held =
            (self.sync.is_some() && Kind::of_topic(&inbound.topic).is_some()).then(|| ItemHeld {
                topic: inbound.topic.clone(),
                bytes: inbound.data.clone(),
            });
        self.validate(inbound, ctx, move |actor, verdict| {
            let acceptance = match verdict {
                Verdict::Accept => MessageAcceptance::Accept,
                Verdict::Reject { .. } => MessageAcceptance::Reject,
                Verdict::Ignore { .. } => MessageAcceptance::Ignore,
            };
            if let (Verdict::Accept, Some(held), Some(sync)) = (verdict, held, &actor.sync) {
                sync.held.do_send(held);
            }
            actor.report(message_id, propagation_source, acceptance);
        });
    }
}

impl NetworkActor {
    /// Hands `inbound` to its topic's owner within the validation bound, counts the
    /// verdict, and calls `done` with it. Gossip and sync deliveries both come through
    /// here, so they meet the same owner, the same bound and the same counters.
    fn validate(
        &mut self,
        inbound: Inbound,
        ctx: &mut Context<Self>,
        done: impl FnOnce(&mut Self, Verdict) + 'static,
    ) {
        let Some(owner) = self.owners.get(&inbound.topic).cloned() else {
            self.metrics.drop_validation(ShellRefusal::NoOwner.reason());
            done(self, ShellRefusal::NoOwner.verdict());
            return;
        };
        if self.validations_inflight >= self.validations_inflight_max {
            self.metrics
                .drop_validation(ShellRefusal::InflightFull.reason());
            done(self, ShellRefusal::InflightFull.verdict());
            return;
        }
        self.validations_inflight += 1;
        self.metrics
            .validation_inflight
            .set(self.validations_inflight as i64);
        let topic = inbound.topic.clone();
        let propagation_source = inbound.propagation_source.clone();
        owner
            .send(inbound)
            .into_actor(self)
            .map(move |result, actor, _| {
                actor.validations_inflight -= 1;
                actor.metrics.validation_inflight.set(actor.validations_inflight as i64);
                let verdict = match result {
                    Ok(verdict) => verdict,
                    Err(_) => {
                        actor.metrics.drop_validation(ShellRefusal::OwnerGone.reason());
                        ShellRefusal::OwnerGone.verdict()
                    }
                };
                let label = match verdict {
                    Verdict::Accept => "accept",
                    Verdict::Reject { reason } => {
                        tracing::debug!(source = ?propagation_source, %topic, reason, "rejected message");
                        actor
                            .metrics
                            .rejected
                            .get_or_create(&TopicReasonLabel {
                                topic: topic.clone(),
                                reason: reason.to_string(),
                            })
                            .inc();
                        "reject"
                    }
                    Verdict::Ignore { reason } => {
                        actor
                            .metrics
                            .ignored
                            .get_or_create(&TopicReasonLabel {
                                topic: topic.clone(),
                                reason: reason.to_string(),
                            })
                            .inc();
                        "ignore"
                    }
                };
                actor
                    .metrics
                    .validated
                    .get_or_create(&VerdictLabel {
                        topic,
                        verdict: label.to_string(),
                    })
                    .inc();
                done(actor, verdict);
            })
            .spawn(ctx);
    }
}

/// What concerns sync, once the sync actor is attached.
struct SyncPeer {
    requests: Recipient<SyncRequestArrived>,
    responses: Recipient<SyncResponseArrived>,
    held: Recipient<ItemHeld>,
}

impl Handler<AttachSync> for NetworkActor {
    type Result = ();

    fn handle(&mut self, attach: AttachSync, _: &mut Self::Context) {
        self.sync = Some(SyncPeer {
            requests: attach.requests,
            responses: attach.responses,
            held: attach.held,
        });
    }
}

/// A peer's `/x0/sync/1` request, from the swarm task; the answer goes back under
/// `channel`.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(super) struct SyncRequestFromPeer {
    pub peer: PeerId,
    pub channel: u64,
    pub bytes: Vec<u8>,
}

impl Handler<SyncRequestFromPeer> for NetworkActor {
    type Result = ();

    fn handle(&mut self, request: SyncRequestFromPeer, ctx: &mut Self::Context) {
        let channel = request.channel;
        let Some(sync) = &self.sync else {
            self.send_command(
                Command::SyncRespond {
                    channel,
                    bytes: None,
                },
                "sync_respond",
            );
            return;
        };
        let arrived = SyncRequestArrived {
            peer: PeerKey(request.peer.to_bytes()),
            bytes: request.bytes,
        };
        sync.requests
            .send(arrived)
            .into_actor(self)
            .map(move |answer, actor, _| {
                let bytes = answer.unwrap_or(None);
                actor.send_command(Command::SyncRespond { channel, bytes }, "sync_respond");
            })
            .spawn(ctx);
    }
}

impl Handler<SyncResponseArrived> for NetworkActor {
    type Result = ();

    fn handle(&mut self, arrived: SyncResponseArrived, _: &mut Self::Context) {
        if let Some(sync) = &self.sync {
            sync.responses.do_send(arrived);
        }
    }
}

impl Handler<SyncToNetwork> for NetworkActor {
    type Result = ();

    fn handle(&mut self, command: SyncToNetwork, _: &mut Self::Context) {
        match command {
            SyncToNetwork::Request { peer, id, bytes } => match PeerId::from_bytes(&peer.0) {
                Ok(peer) => {
                    // A full queue drops it (counted); the core times the request out.
                    self.send_command(Command::SyncRequest { peer, id, bytes }, "sync_request");
                }
                Err(_) => {
                    if let Some(sync) = &self.sync {
                        sync.responses.do_send(SyncResponseArrived {
                            id,
                            response: Err("not a peer id".into()),
                        });
                    }
                }
            },
            SyncToNetwork::Score { peer, score } => {
                if let Ok(peer) = PeerId::from_bytes(&peer.0) {
                    self.send_command(Command::SetApplicationScore { peer, score }, "score");
                }
            }
        }
    }
}

impl Handler<SyncDeliver> for NetworkActor {
    type Result = ResponseFuture<Verdict>;

    fn handle(&mut self, deliver: SyncDeliver, ctx: &mut Self::Context) -> Self::Result {
        let inbound = Inbound {
            topic: deliver.topic,
            propagation_source: deliver.from,
            // Privileged items prove their holder by their seal (the gate reads it);
            // certificates and revocation lists need no author.
            author: None,
            data: deliver.data,
            received_at_unix_ms: unix_ms_now(),
        };
        // Sync may use half the validation slots: items a peer makes this node fetch must
        // not crowd out live gossip. Refused as "not yet", so it is fetched next round.
        if self.validations_inflight >= (self.validations_inflight_max / 2).max(1) {
            self.metrics.drop_sync("validations_half_full");
            return Box::pin(async { ShellRefusal::InflightFull.verdict() });
        }
        let (reply, verdict) = oneshot::channel();
        // The sync actor archives what it fetched itself: no ItemHeld from here.
        self.validate(inbound, ctx, move |_, verdict| {
            let _ = reply.send(verdict);
        });
        Box::pin(async move { verdict.await.unwrap_or(ShellRefusal::OwnerGone.verdict()) })
    }
}

/// A peer connected or left.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(super) struct PeerChanged {
    pub peer: PeerId,
    pub connected: bool,
}

impl Handler<PeerChanged> for NetworkActor {
    type Result = ();

    fn handle(&mut self, change: PeerChanged, _: &mut Self::Context) {
        let key = PeerKey(change.peer.to_bytes());
        let event = if change.connected {
            self.connected.insert(key.clone());
            PeerEvent::Connected(key)
        } else {
            self.connected.remove(&key);
            PeerEvent::Disconnected(key)
        };
        self.watchers.retain(|w| w.connected());
        for watcher in &self.watchers {
            watcher.do_send(event.clone());
        }
    }
}

impl Handler<WatchPeers> for NetworkActor {
    type Result = ();

    fn handle(&mut self, watch: WatchPeers, _: &mut Self::Context) {
        self.watchers.retain(|w| w.connected());
        assert!(
            self.watchers.len() < WATCHERS_MAX,
            "more peer watchers than actors"
        );
        for peer in &self.connected {
            watch.watcher.do_send(PeerEvent::Connected(peer.clone()));
        }
        self.watchers.push(watch.watcher);
    }
}

impl Handler<Subscribe> for NetworkActor {
    type Result = Result<(), SubscribeError>;

    fn handle(&mut self, subscribe: Subscribe, _: &mut Self::Context) -> Self::Result {
        if known_topics::spec(&subscribe.topic).is_none() {
            return Err(SubscribeError::UnknownTopic(subscribe.topic));
        }
        if self.owners.contains_key(&subscribe.topic) {
            return Err(SubscribeError::AlreadyOwned(subscribe.topic));
        }
        if !self.send_command(
            Command::Subscribe {
                topic: subscribe.topic.clone(),
            },
            "subscribe",
        ) {
            return Err(SubscribeError::ShuttingDown);
        }
        self.owners.insert(subscribe.topic, subscribe.owner);
        Ok(())
    }
}

impl Handler<Publish> for NetworkActor {
    type Result = ResponseFuture<Result<(), PublishError>>;

    fn handle(&mut self, publish: Publish, _: &mut Self::Context) -> Self::Result {
        let Some(spec) = known_topics::spec(&publish.topic) else {
            return Box::pin(async move { Err(PublishError::UnknownTopic(publish.topic)) });
        };
        // Assert at the sending end too: never put on the wire what a receiver must refuse.
        if publish.data.len() > spec.message_bytes_max {
            let error = PublishError::TooLarge {
                bytes: publish.data.len(),
                limit: spec.message_bytes_max,
            };
            return Box::pin(async move { Err(error) });
        }
        // What this node makes, sync peers may ask for, even if gossip has no peer for it
        // yet (the publisher retries; a sync round may carry it sooner).
        if let Some(sync) = &self.sync {
            if Kind::of_topic(&publish.topic).is_some() {
                sync.held.do_send(ItemHeld {
                    topic: publish.topic.clone(),
                    bytes: publish.data.clone(),
                });
            }
        }
        let (reply, response) = oneshot::channel();
        let queued = self.send_command(
            Command::Publish {
                topic: publish.topic,
                data: publish.data,
                reply,
            },
            "publish",
        );
        Box::pin(async move {
            if !queued {
                return Err(PublishError::QueueFull);
            }
            response.await.unwrap_or(Err(PublishError::ShuttingDown))
        })
    }
}

/// Ask for the network's current state.
#[derive(Debug, Message)]
#[rtype(result = "Option<NetworkStatus>")]
pub struct GetNetworkStatus;

impl Handler<GetNetworkStatus> for NetworkActor {
    type Result = ResponseFuture<Option<NetworkStatus>>;

    fn handle(&mut self, _: GetNetworkStatus, _: &mut Self::Context) -> Self::Result {
        let (reply, response) = oneshot::channel();
        let queued = self.send_command(Command::Status { reply }, "status");
        Box::pin(async move {
            if !queued {
                return None;
            }
            response.await.ok()
        })
    }
}

/// Dial a peer (devnet and tests wire meshes with it).
#[derive(Debug, Message)]
#[rtype(result = "Result<(), String>")]
pub struct Dial(pub Multiaddr);

impl Handler<Dial> for NetworkActor {
    type Result = ResponseFuture<Result<(), String>>;

    fn handle(&mut self, Dial(address): Dial, _: &mut Self::Context) -> Self::Result {
        let (reply, response) = oneshot::channel();
        let queued = self.send_command(Command::Dial { address, reply }, "dial");
        Box::pin(async move {
            if !queued {
                return Err("network queue full".into());
            }
            response
                .await
                .unwrap_or_else(|_| Err("network stopped".into()))
        })
    }
}

/// Close listeners and connections, and stop the swarm task.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Shutdown;

impl Handler<Shutdown> for NetworkActor {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _: Shutdown, _: &mut Self::Context) -> Self::Result {
        let (reply, response) = oneshot::channel();
        // Shutdown must not be lost to a full queue: wait for room.
        let commands = self.commands.clone();
        let stopped = async move {
            if commands.send(Command::Shutdown { reply }).await.is_ok() {
                let _ = response.await;
            }
        };
        // Once the swarm task is gone, this actor has nothing left to route.
        Box::pin(stopped.into_actor(self).map(|_, _, ctx| ctx.stop()))
    }
}
