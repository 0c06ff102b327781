//! The sync actor: the node's shell around [`SyncCore`] and its [`Archive`].
//!
//! It learns what the node holds from the network actor ([`ItemHeld`]: accepted gossip and
//! the node's own publications), answers peers' `/x0/sync/1` requests from the archive,
//! runs rounds with connected peers on a timer, and hands every fetched item back to the
//! network actor ([`SyncDeliver`]), which judges it exactly like a gossip message on its
//! topic. It holds no protocol logic: the core decides what to ask, what to serve and whom
//! to penalise.

use std::collections::{BTreeMap, BTreeSet};
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
use x0_core::sync::archive::{Archive, ArchiveConfig, NotArchived};
use x0_core::sync::item::{Item, ItemKey, Kind};
use x0_core::sync::machine::{Action, DeliveryId, SyncConfig, SyncCore};

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

/// A decayed penalty below this is forgotten (its score would be under 10⁻⁴).
const PENALTY_NEGLIGIBLE: f64 = 0.01;

pub struct SyncActor {
    core: SyncCore,
    archive: Archive,
    tick: Duration,
    journal: Box<dyn SyncJournal>,
    network: Recipient<SyncToNetwork>,
    deliver: Recipient<SyncDeliver>,
    /// Peers whose score carries a sync penalty, refreshed each tick as it decays; at
    /// most the core's `peers_max`.
    scored: BTreeSet<PeerKey>,
    /// Items handed to the network for a verdict, by delivery: on Accept they are
    /// archived. Bounded by the core's `wanted_max` (a delivery is a wanted key).
    delivering: BTreeMap<DeliveryId, Item>,
    metrics: SyncMetrics,
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
            core: SyncCore::new(setup.core, setup.epoch),
            archive: Archive::new(setup.archive),
            tick: Duration::from_millis(setup.tick_ms),
            journal,
            network,
            deliver,
            delivering: BTreeMap::new(),
            scored: BTreeSet::new(),
            metrics,
        }
    }

    fn carry_out(&mut self, actions: Vec<Action>, ctx: &mut Context<Self>) {
        for action in actions {
            match action {
                Action::Request { peer, id, bytes } => {
                    self.metrics.requests_sent.inc();
                    // Bounded by the core: requests in flight per peer, peers tracked.
                    self.network
                        .do_send(SyncToNetwork::Request { peer, id, bytes });
                }
                Action::Deliver {
                    delivery,
                    from,
                    item,
                } => self.deliver(delivery, from, item, ctx),
                Action::Penalize {
                    peer,
                    reason,
                    penalty,
                } => {
                    tracing::debug!(reason, penalty, "sync peer served something invalid");
                    self.metrics
                        .penalties
                        .get_or_create(&ReasonLabel {
                            reason: reason.to_string(),
                        })
                        .inc();
                    // Gossip's P4 is -count² times the invalid-message weight; the network
                    // weighs the application score (P5) the same, so a bad sync server
                    // loses what a bad gossip sender would.
                    self.scored.insert(peer.clone());
                    self.network.do_send(SyncToNetwork::Score {
                        peer,
                        score: -(penalty * penalty),
                    });
                }
                Action::Dropped { what } => self.metrics.drop(what),
            }
        }
    }

    fn deliver(
        &mut self,
        delivery: DeliveryId,
        from: PeerKey,
        item: Item,
        ctx: &mut Context<Self>,
    ) {
        let Some(topic) = item.kind.topic() else {
            // The core asks only for kinds with a topic (ballot certificates have none
            // and no owner takes one in yet); should one come, nothing here can judge it:
            // refused at no cost to anyone.
            self.verdict(
                delivery,
                item.kind,
                Verdict::Ignore { reason: "no_owner" },
                ctx,
            );
            return;
        };
        let kind = item.kind;
        let request = SyncDeliver {
            topic: topic.to_string(),
            from,
            data: item.bytes.clone(),
        };
        self.delivering.insert(delivery, item);
        self.deliver
            .send(request)
            .into_actor(self)
            .map(move |result, actor, ctx| {
                let verdict = result.unwrap_or(Verdict::Ignore {
                    reason: "network_gone",
                });
                actor.verdict(delivery, kind, verdict, ctx);
            })
            .spawn(ctx);
    }

    fn verdict(
        &mut self,
        delivery: DeliveryId,
        kind: Kind,
        verdict: Verdict,
        ctx: &mut Context<Self>,
    ) {
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
        let item = self.delivering.remove(&delivery);
        let now_ms = unix_ms_now();
        let mut actions = Vec::new();
        self.core
            .on_verdict(delivery, verdict, now_ms, &mut actions);
        if let (Verdict::Accept, Some(item)) = (verdict, item) {
            self.hold(item, now_ms, &mut actions);
        }
        self.carry_out(actions, ctx);
    }

    /// Archives an accepted item and offers it to peers. An item the archive cannot keep
    /// is not offered, even if the core counted it held on its verdict: it could not be
    /// served.
    fn hold(&mut self, item: Item, now_ms: u64, actions: &mut Vec<Action>) {
        let kind = item.kind;
        let key = item.key();
        match self.archive.insert(item, now_ms) {
            Ok((_, new)) => {
                if new {
                    let bytes = self.archive.get(&key).expect("just archived");
                    let expires_ms = self.archive.expiry_of(&key).expect("just archived");
                    if let Err(error) = self.journal.record_item(&key, bytes, expires_ms) {
                        // Served now, only not after a restart: counted, not fatal.
                        tracing::warn!(%error, "sync archive: cannot persist an item");
                        self.metrics.drop("journal_failed");
                    }
                }
                self.core.on_held(key, actions);
            }
            Err(refused) => {
                if refused != NotArchived::ShortLived {
                    self.metrics.drop(refused.what());
                }
                self.core.on_forgotten(&key);
            }
        }
        self.update_gauges(kind);
    }

    /// Reloads what the journal kept before a restart; expired items are skipped (and
    /// pruned on the first tick).
    fn restore(&mut self) {
        let now_ms = unix_ms_now();
        let items = match self.journal.items() {
            Ok(items) => items,
            Err(error) => {
                tracing::warn!(%error, "sync archive: cannot read the kept items");
                self.metrics.drop("journal_failed");
                return;
            }
        };
        let mut actions = Vec::new();
        for (item, expires_ms) in items.into_iter().filter(|(_, e)| *e > now_ms) {
            let key = item.key();
            match self.archive.insert_until(item, expires_ms) {
                Ok(_) => self.core.on_held(key, &mut actions),
                Err(refused) => self.metrics.drop(refused.what()),
            }
        }
        // Nothing is connected yet: on_held only reports a full table.
        for action in actions {
            if let Action::Dropped { what } = action {
                self.metrics.drop(what);
            }
        }
    }

    fn update_gauges(&self, kind: Kind) {
        let label = KindLabel {
            kind: kind.name().to_string(),
        };
        let held = self.core.held_len(kind);
        self.metrics
            .archive_items
            .get_or_create(&label)
            .set(held as i64);
        self.metrics
            .archive_bytes
            .get_or_create(&label)
            .set(self.archive.bytes(kind) as i64);
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        let now_ms = unix_ms_now();
        let expired = self.archive.expire(now_ms);
        if !expired.is_empty() {
            if let Err(error) = self.journal.forget_items(now_ms) {
                tracing::warn!(%error, "sync archive: cannot prune expired items");
                self.metrics.drop("journal_failed");
            }
        }
        for key in expired {
            self.core.on_forgotten(&key);
        }
        for kind in Kind::ALL {
            self.update_gauges(kind);
        }
        self.refresh_scores(now_ms);
        let mut actions = Vec::new();
        self.core.tick(now_ms, rand::random(), &mut actions);
        self.carry_out(actions, ctx);
    }

    /// Penalties decay like gossip's invalid-message counts; a peer's score follows, and
    /// is cleared once the penalty is negligible.
    fn refresh_scores(&mut self, now_ms: u64) {
        if self.scored.is_empty() {
            return;
        }
        let penalties: BTreeMap<PeerKey, f64> = self.core.penalties(now_ms).into_iter().collect();
        for peer in std::mem::take(&mut self.scored) {
            let penalty = penalties.get(&peer).copied().unwrap_or(0.0);
            let score = if penalty < PENALTY_NEGLIGIBLE {
                0.0
            } else {
                self.scored.insert(peer.clone());
                -(penalty * penalty)
            };
            self.network.do_send(SyncToNetwork::Score { peer, score });
        }
    }
}

impl Actor for SyncActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.restore();
        ctx.run_interval(self.tick, |actor, ctx| actor.tick(ctx));
    }
}

impl Handler<PeerEvent> for SyncActor {
    type Result = ();

    fn handle(&mut self, event: PeerEvent, ctx: &mut Self::Context) {
        let mut actions = Vec::new();
        match event {
            PeerEvent::Connected(peer) => {
                let now_ms = unix_ms_now();
                self.core.on_connected(peer.clone(), now_ms, &mut actions);
                // A penalty it left with comes back with it, and so does its score.
                if self.core.penalties(now_ms).iter().any(|(p, _)| *p == peer) {
                    self.scored.insert(peer);
                }
            }
            PeerEvent::Disconnected(peer) => self.core.on_disconnected(&peer),
        }
        self.carry_out(actions, ctx);
    }
}

impl Handler<ItemHeld> for SyncActor {
    type Result = ();

    fn handle(&mut self, held: ItemHeld, ctx: &mut Self::Context) {
        let Some(kind) = Kind::of_topic(&held.topic) else {
            return;
        };
        let mut actions = Vec::new();
        self.hold(
            Item {
                kind,
                bytes: held.bytes,
            },
            unix_ms_now(),
            &mut actions,
        );
        self.carry_out(actions, ctx);
    }
}

impl Handler<SyncRequestArrived> for SyncActor {
    type Result = Option<Vec<u8>>;

    fn handle(&mut self, arrived: SyncRequestArrived, ctx: &mut Self::Context) -> Self::Result {
        self.metrics.requests_served.inc();
        let mut actions = Vec::new();
        let archive = &self.archive;
        let response = self.core.on_request(
            &arrived.peer,
            &arrived.bytes,
            unix_ms_now(),
            |key| archive.get(key).map(<[u8]>::to_vec),
            &mut actions,
        );
        self.carry_out(actions, ctx);
        response
    }
}

impl Handler<SyncResponseArrived> for SyncActor {
    type Result = ();

    fn handle(&mut self, arrived: SyncResponseArrived, ctx: &mut Self::Context) {
        let now_ms = unix_ms_now();
        let mut actions = Vec::new();
        match arrived.response {
            Ok(bytes) => self
                .core
                .on_response(arrived.id, &bytes, now_ms, &mut actions),
            Err(error) => {
                tracing::debug!(id = arrived.id, %error, "sync request failed");
                self.core.on_failed(arrived.id, now_ms, &mut actions);
            }
        }
        self.carry_out(actions, ctx);
    }
}

impl Handler<GetSyncStatus> for SyncActor {
    type Result = SyncStatus;

    fn handle(&mut self, _: GetSyncStatus, _: &mut Self::Context) -> SyncStatus {
        let summary = self.core.summary();
        SyncStatus {
            peers: summary.peers,
            held: summary.held,
            archived: self.archive.len(),
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
