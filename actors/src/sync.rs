//! The sync actor: the node's shell around [`SyncCore`] and its [`Archive`].
//!
//! It learns what the node holds from the network actor ([`ItemHeld`]: accepted gossip and
//! the node's own publications), answers peers' `/x0/sync/1` requests from the archive,
//! runs rounds with connected peers on a timer, and hands every fetched item back to the
//! network actor ([`SyncDeliver`]), which judges it exactly like a gossip message on its
//! topic. It holds no protocol logic: the core decides what to ask, what to serve and whom
//! to penalise.

use std::time::Duration;

use actix::prelude::*;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};

use crate::messages::{
    ItemHeld, PeerEvent, PeerKey, Stop, SyncDeliver, SyncRequestArrived, SyncResponseArrived,
    SyncToNetwork, Verdict,
};
use crate::wall_clock::unix_ms_now;
use x0_core::sync::archive::ArchiveConfig;
use x0_core::sync::host::{SyncEffects, SyncHost};
use x0_core::sync::item::{Item, ItemKey, Kind};
use x0_core::sync::machine::{DeliveryId, SyncConfig};

/// Durable storage of the archive, so a restarted node serves what it served before and
/// does not fetch again what its replay guard would refuse. Each method returns once the
/// write is committed.
pub trait SyncJournal: Send + 'static {
    fn record_item(&self, key: &ItemKey, bytes: &[u8], expires_ms: u64) -> Result<(), String>;
    /// Drops items whose hold ended before `now_ms`. Returns how many.
    fn forget_items(&self, now_ms: u64) -> Result<usize, String>;
    /// Every item kept, with its expiry.
    fn items(&self) -> Result<Vec<(Item, u64)>, String>;
}

/// What the node's assembly gives the sync actor.
#[derive(Debug, Clone)]
pub struct SyncSetup {
    pub core: SyncConfig,
    pub archive: ArchiveConfig,
    /// The committee epoch whose proposals, shares and certificates are compared.
    pub epoch: u64,
    /// How often the actor expires archived items and gives the core a tick.
    pub tick_ms: u64,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct WhatLabel {
    pub what: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct KindVerdictLabel {
    pub kind: String,
    pub verdict: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct KindLabel {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: String,
}

/// Metrics the sync actor records.
#[derive(Clone)]
pub struct SyncMetrics {
    /// `x0_sync_requests_sent_total`
    pub requests_sent: Counter,
    /// `x0_sync_requests_served_total`: requests from peers answered (busy included).
    pub requests_served: Counter,
    /// `x0_sync_delivered_total{kind,verdict}`: fetched items and the verdict the
    /// topic's owner gave them.
    pub delivered: Family<KindVerdictLabel, Counter>,
    /// `x0_sync_penalties_total{reason}`: things peers served that were invalid in
    /// themselves.
    pub penalties: Family<ReasonLabel, Counter>,
    /// `x0_sync_dropped_total{what}`: what a bound dropped.
    pub dropped: Family<WhatLabel, Counter>,
    /// `x0_sync_archive_items{kind}` and `x0_sync_archive_bytes{kind}`.
    pub archive_items: Family<KindLabel, Gauge>,
    pub archive_bytes: Family<KindLabel, Gauge>,
}

impl SyncMetrics {
    pub fn register(registry: &mut Registry) -> SyncMetrics {
        let metrics = SyncMetrics {
            requests_sent: Counter::default(),
            requests_served: Counter::default(),
            delivered: Family::default(),
            penalties: Family::default(),
            dropped: Family::default(),
            archive_items: Family::default(),
            archive_bytes: Family::default(),
        };
        registry.register(
            "sync_requests_sent",
            "Anti-entropy sync requests sent to peers",
            metrics.requests_sent.clone(),
        );
        registry.register(
            "sync_requests_served",
            "Anti-entropy sync requests from peers answered (busy answers included)",
            metrics.requests_served.clone(),
        );
        registry.register(
            "sync_delivered",
            "Items fetched by sync, by kind and the verdict of their topic's checks",
            metrics.delivered.clone(),
        );
        registry.register(
            "sync_penalties",
            "Invalid things sync peers served, by reason; each lowers the peer's score",
            metrics.penalties.clone(),
        );
        registry.register(
            "sync_dropped",
            "What a sync bound dropped, by bound",
            metrics.dropped.clone(),
        );
        registry.register(
            "sync_archive_items",
            "Items this node serves to sync peers, by kind",
            metrics.archive_items.clone(),
        );
        registry.register(
            "sync_archive_bytes",
            "Bytes of the items this node serves to sync peers, by kind",
            metrics.archive_bytes.clone(),
        );
        metrics
    }

    fn drop(&self, what: &str) {
        self.dropped
            .get_or_create(&WhatLabel {
                what: what.to_string(),
            })
            .inc();
    }
}

/// Sync as `/status` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, MessageResponse)]
pub struct SyncStatus {
    pub peers: usize,
    pub held: usize,
    pub archived: usize,
    pub wanted: usize,
    pub refused: usize,
    pub requests_inflight: usize,
}

/// Ask for [`SyncStatus`].
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "SyncStatus")]
pub struct GetSyncStatus;

pub struct SyncActor {
    host: SyncHost,
    tick: Duration,
    journal: Box<dyn SyncJournal>,
    network: Recipient<SyncToNetwork>,
    deliver: Recipient<SyncDeliver>,
    metrics: SyncMetrics,
}

/// The actor's side of the interpreter: libp2p through the network actor, redb through
/// the journal. Deliveries are collected and sent once the host call returns, since each
/// awaits its verdict in the actor's context.
struct ActorEffects<'a> {
    network: &'a Recipient<SyncToNetwork>,
    journal: &'a dyn SyncJournal,
    metrics: &'a SyncMetrics,
    deliveries: Vec<(DeliveryId, SyncDeliver)>,
}

impl SyncEffects for ActorEffects<'_> {
    fn request(&mut self, peer: PeerKey, id: u64, bytes: Vec<u8>) {
        self.metrics.requests_sent.inc();
        self.network
            .do_send(SyncToNetwork::Request { peer, id, bytes });
    }

    fn deliver(&mut self, delivery: DeliveryId, from: PeerKey, topic: &'static str, data: Vec<u8>) {
        self.deliveries.push((
            delivery,
            SyncDeliver {
                topic: topic.to_string(),
                from,
                data,
            },
        ));
    }

    fn set_score(&mut self, peer: PeerKey, score: f64) {
        self.network.do_send(SyncToNetwork::Score { peer, score });
    }

    fn penalized(&mut self, _peer: &PeerKey, reason: &'static str) {
        tracing::debug!(reason, "sync peer served something invalid");
        self.metrics
            .penalties
            .get_or_create(&ReasonLabel {
                reason: reason.to_string(),
            })
            .inc();
    }

    fn dropped(&mut self, what: &'static str) {
        self.metrics.drop(what);
    }

    fn persist(&mut self, key: &ItemKey, bytes: &[u8], expires_ms: u64) -> Result<(), String> {
        self.journal
            .record_item(key, bytes, expires_ms)
            .inspect_err(|error| tracing::warn!(%error, "sync archive: cannot persist an item"))
    }

    fn forget(&mut self, now_ms: u64) -> Result<(), String> {
        self.journal
            .forget_items(now_ms)
            .map(|_| ())
            .inspect_err(|error| tracing::warn!(%error, "sync archive: cannot prune expired items"))
    }
}

impl SyncActor {
    pub fn new(
        setup: SyncSetup,
        journal: Box<dyn SyncJournal>,
        network: Recipient<SyncToNetwork>,
        deliver: Recipient<SyncDeliver>,
        metrics: SyncMetrics,
    ) -> SyncActor {
        assert!(setup.tick_ms > 0, "config check: sync tick");
        SyncActor {
            host: SyncHost::new(setup.core, setup.archive, setup.epoch),
            tick: Duration::from_millis(setup.tick_ms),
            journal,
            network,
            deliver,
            metrics,
        }
    }

    /// Runs `call` on the host with the actor's effects, then sends the deliveries it
    /// asked for and updates the gauges.
    fn with_host<R>(
        &mut self,
        ctx: &mut Context<Self>,
        call: impl FnOnce(&mut SyncHost, &mut ActorEffects<'_>) -> R,
    ) -> R {
        let mut effects = ActorEffects {
            network: &self.network,
            journal: self.journal.as_ref(),
            metrics: &self.metrics,
            deliveries: Vec::new(),
        };
        let result = call(&mut self.host, &mut effects);
        let deliveries = effects.deliveries;
        for (delivery, request) in deliveries {
            self.deliver(delivery, request, ctx);
        }
        self.update_gauges();
        result
    }

    fn deliver(&mut self, delivery: DeliveryId, request: SyncDeliver, ctx: &mut Context<Self>) {
        self.deliver
            .send(request)
            .into_actor(self)
            .map(move |result, actor, ctx| {
                let verdict = result.unwrap_or(Verdict::Ignore {
                    reason: "network_gone",
                });
                actor.verdict(delivery, verdict, ctx);
            })
            .spawn(ctx);
    }

    fn verdict(&mut self, delivery: DeliveryId, verdict: Verdict, ctx: &mut Context<Self>) {
        let now_ms = unix_ms_now();
        let kind = self.with_host(ctx, |host, effects| {
            host.on_verdict(delivery, verdict, now_ms, effects)
        });
        let Some(kind) = kind else {
            return;
        };
        let label = match verdict {
            Verdict::Accept => "accept",
            Verdict::Ignore { .. } => "ignore",
            Verdict::Reject { .. } => "reject",
        };
        self.metrics
            .delivered
            .get_or_create(&KindVerdictLabel {
                kind: kind.name().to_string(),
                verdict: label.to_string(),
            })
            .inc();
    }

    /// Reloads what the journal kept before a restart.
    fn restore(&mut self, ctx: &mut Context<Self>) {
        let items = match self.journal.items() {
            Ok(items) => items,
            Err(error) => {
                tracing::warn!(%error, "sync archive: cannot read the kept items");
                self.metrics.drop("journal_failed");
                return;
            }
        };
        let now_ms = unix_ms_now();
        self.with_host(ctx, |host, effects| host.restore(items, now_ms, effects));
    }

    fn update_gauges(&self) {
        for kind in Kind::ALL {
            let label = KindLabel {
                kind: kind.name().to_string(),
            };
            self.metrics
                .archive_items
                .get_or_create(&label)
                .set(self.host.core().held_len(kind) as i64);
            self.metrics
                .archive_bytes
                .get_or_create(&label)
                .set(self.host.archive().bytes(kind) as i64);
        }
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        let now_ms = unix_ms_now();
        let pick = rand::random();
        self.with_host(ctx, |host, effects| host.tick(now_ms, pick, effects));
    }
}

impl Actor for SyncActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.restore(ctx);
        ctx.run_interval(self.tick, |actor, ctx| actor.tick(ctx));
    }
}

impl Handler<PeerEvent> for SyncActor {
    type Result = ();

    fn handle(&mut self, event: PeerEvent, ctx: &mut Self::Context) {
        match event {
            PeerEvent::Connected(peer) => {
                let now_ms = unix_ms_now();
                self.with_host(ctx, |host, effects| {
                    host.on_connected(peer, now_ms, effects)
                });
            }
            PeerEvent::Disconnected(peer) => self.host.on_disconnected(&peer),
        }
    }
}

impl Handler<ItemHeld> for SyncActor {
    type Result = ();

    fn handle(&mut self, held: ItemHeld, ctx: &mut Self::Context) {
        let now_ms = unix_ms_now();
        self.with_host(ctx, |host, effects| {
            host.on_accepted(&held.topic, held.bytes, now_ms, effects)
        });
    }
}

impl Handler<SyncRequestArrived> for SyncActor {
    type Result = Option<Vec<u8>>;

    fn handle(&mut self, arrived: SyncRequestArrived, ctx: &mut Self::Context) -> Self::Result {
        self.metrics.requests_served.inc();
        let now_ms = unix_ms_now();
        self.with_host(ctx, |host, effects| {
            host.on_request(&arrived.peer, &arrived.bytes, now_ms, effects)
        })
    }
}

impl Handler<SyncResponseArrived> for SyncActor {
    type Result = ();

    fn handle(&mut self, arrived: SyncResponseArrived, ctx: &mut Self::Context) {
        let now_ms = unix_ms_now();
        match arrived.response {
            Ok(bytes) => self.with_host(ctx, |host, effects| {
                host.on_response(arrived.id, &bytes, now_ms, effects)
            }),
            Err(error) => {
                tracing::debug!(id = arrived.id, %error, "sync request failed");
                self.with_host(ctx, |host, effects| {
                    host.on_failed(arrived.id, now_ms, effects)
                });
            }
        }
    }
}

impl Handler<GetSyncStatus> for SyncActor {
    type Result = SyncStatus;

    fn handle(&mut self, _: GetSyncStatus, _: &mut Self::Context) -> SyncStatus {
        let summary = self.host.core().summary();
        SyncStatus {
            peers: summary.peers,
            held: summary.held,
            archived: self.host.archive().len(),
            wanted: summary.wanted,
            refused: summary.refused,
            requests_inflight: summary.inflight,
        }
    }
}

impl Handler<Stop> for SyncActor {
    type Result = ();

    fn handle(&mut self, _: Stop, ctx: &mut Self::Context) {
        ctx.stop();
    }
}
