//! The sync shell of a simulated node, as the node's sync actor hosts [`SyncHost`]: the
//! same core, archive and interpreter (`x0_core::sync::host`), over the simulated links
//! instead of libp2p request-response and the modelled store instead of redb.
//!
//! A request and its response each take the link's fate as gossip does (a partition cuts
//! them, loss drops them, latency delays them); a lost one times out in the core. A
//! fetched item goes through the same gate and core checks as the same bytes arriving by
//! gossip ([`Sim::validate_synced`]), and its verdict comes back to the host. What the node
//! accepted by gossip or published itself is archived ([`Sim::sync_hold`]), and the
//! archive is persisted: a restarted node serves it again.

use std::collections::BTreeMap;
use std::rc::Rc;

use rand::Rng;
use x0_core::auth::gate::is_privileged;
use x0_core::ids::{PeerKey, Verdict};
use x0_core::sync::host::{SyncEffects, SyncHost};
use x0_core::sync::item::{Item, ItemKey};
use x0_core::sync::machine::DeliveryId;
use x0_core::topics;

use super::links::Fate;
use super::{node_of, peer_key, withholds, Event, Origin, Sim, EPOCH_UNIX_MS, WITHHELD};
use crate::crypto::SimSuite;
use crate::gossip::{GossipMessage, MessageId, NodeId};
use crate::report::Stats;

/// The committee epoch of every run (the world deals one committee).
const EPOCH: u64 = 1;

/// A sync frame on a link. `life` is the requester's: a response reaching a node that
/// restarted since it asked is for a core that no longer exists.
#[derive(Debug)]
pub(super) enum SyncFrame {
    Request {
        id: u64,
        bytes: Vec<u8>,
        life: u32,
    },
    /// `None`: the server could not decode the request and closed the stream.
    Response {
        id: u64,
        bytes: Option<Vec<u8>>,
        life: u32,
    },
}

/// Bytes a sync exchange costs on the wire beyond its frames: libp2p opens a stream per
/// request (multistream-select of `/x0/sync/1` both ways, yamux SYN and FIN), and each
/// frame carries its 4-byte length. Estimated, not measured; only the cost figures use it.
const SYNC_STREAM_BYTES: u64 = 120;

/// What the node persisted of its archive: item, expiry (node clock, Unix ms), by key.
pub(super) type SyncJournal = BTreeMap<ItemKey, (Item, u64)>;

/// The simulator's side of the interpreter; what needs the whole world (sending,
/// validating, scores) is collected and done once the host call returns.
struct SimSyncEffects<'a> {
    journal: &'a mut SyncJournal,
    stats: &'a mut Stats,
    honest: bool,
    requests: Vec<(PeerKey, u64, Vec<u8>)>,
    deliveries: Vec<(DeliveryId, PeerKey, &'static str, Vec<u8>)>,
    scores: Vec<(PeerKey, f64)>,
}

impl SyncEffects for SimSyncEffects<'_> {
    fn request(&mut self, peer: PeerKey, id: u64, bytes: Vec<u8>) {
        self.requests.push((peer, id, bytes));
    }

    fn deliver(
        &mut self,
        delivery: DeliveryId,
        from: PeerKey,
        topic: &'static str,
        bytes: Vec<u8>,
    ) {
        self.deliveries.push((delivery, from, topic, bytes));
    }

    fn set_score(&mut self, peer: PeerKey, score: f64) {
        self.scores.push((peer, score));
    }

    fn penalized(&mut self, _peer: &PeerKey, reason: &'static str) {
        if self.honest {
            *self.stats.sync_penalties.entry(reason).or_insert(0) += 1;
        }
    }

    fn dropped(&mut self, what: &'static str) {
        if self.honest {
            *self.stats.sync_dropped.entry(what).or_insert(0) += 1;
        }
    }

    fn persist(&mut self, key: &ItemKey, bytes: &[u8], expires_ms: u64) -> Result<(), String> {
        let item = Item {
            kind: key.kind,
            bytes: bytes.to_vec(),
        };
        self.journal.insert(*key, (item, expires_ms));
        Ok(())
    }

    fn forget(&mut self, now_ms: u64) -> Result<(), String> {
        self.journal
            .retain(|_, (_, expires_ms)| *expires_ms > now_ms);
        Ok(())
    }
}

impl<S: SimSuite> Sim<S> {
    /// Starts `node`'s sync host from its persisted archive (sync runs only).
    pub(super) fn boot_sync(&mut self, node: NodeId) {
        let Some((core, archive)) = self.sync_config.clone() else {
            return;
        };
        let clock = self.node_clock_ms(node);
        let kept: Vec<(Item, u64)> = self.nodes[node as usize]
            .store
            .sync
            .values()
            .cloned()
            .collect();
        self.nodes[node as usize].sync = Some(SyncHost::new(core, archive, EPOCH));
        self.nodes[node as usize].sync_tick_at_ms = None;
        self.with_sync(node, |host, effects| host.restore(kept, clock, effects));
    }

    /// Runs `call` on `node`'s host (if it has one) with the simulator's effects, then
    /// sends, scores and validates what the call asked for.
    fn with_sync<R>(
        &mut self,
        node: NodeId,
        call: impl FnOnce(&mut SyncHost, &mut SimSyncEffects<'_>) -> R,
    ) -> Option<R> {
        let mut host = self.nodes[node as usize].sync.take()?;
        let honest = self.nodes[node as usize].byzantine.is_empty();
        let mut effects = SimSyncEffects {
            journal: &mut self.nodes[node as usize].store.sync,
            stats: &mut self.stats,
            honest,
            requests: Vec::new(),
            deliveries: Vec::new(),
            scores: Vec::new(),
        };
        let result = call(&mut host, &mut effects);
        let SimSyncEffects {
            requests,
            deliveries,
            scores,
            ..
        } = effects;
        self.nodes[node as usize].sync = Some(host);
        let life = self.nodes[node as usize].life;
        for (peer, id, bytes) in requests {
            let to = node_of(&peer).expect("sync peers are nodes");
            self.send_sync(node, to, SyncFrame::Request { id, bytes, life });
        }
        for (peer, score) in scores {
            let peer = node_of(&peer).expect("sync peers are nodes");
            self.nodes[node as usize]
                .gossip
                .set_application_score(peer, score);
        }
        for (delivery, from, topic, bytes) in deliveries {
            self.validate_synced(node, delivery, from, topic, bytes);
        }
        self.plan_sync_tick(node);
        Some(result)
    }

    /// What `node` accepted on a topic (or published itself): archived and offered.
    pub(super) fn sync_hold(&mut self, node: NodeId, topic: &'static str, data: &[u8]) {
        if self.sync_config.is_none() || topic == topics::PROBE {
            return;
        }
        let clock = self.node_clock_ms(node);
        self.with_sync(node, |host, effects| {
            host.on_accepted(topic, data.to_vec(), clock, effects)
        });
    }

    pub(super) fn sync_connected(&mut self, node: NodeId, peer: NodeId) {
        let clock = self.node_clock_ms(node);
        self.with_sync(node, |host, effects| {
            host.on_connected(peer_key(peer), clock, effects)
        });
    }

    pub(super) fn sync_disconnected(&mut self, node: NodeId, peer: NodeId) {
        if let Some(host) = self.nodes[node as usize].sync.as_mut() {
            host.on_disconnected(&peer_key(peer));
        }
    }

    /// Plans `node`'s next sync tick where its host has work (a round, a timeout, an
    /// expiry); keeps an earlier tick already planned.
    pub(super) fn plan_sync_tick(&mut self, node: NodeId) {
        let now_ms = self.engine.now_ms();
        let sim = &self.nodes[node as usize];
        let Some(due_clock_ms) = sim.sync.as_ref().and_then(|h| h.next_tick_ms()) else {
            return;
        };
        let offset_ms = EPOCH_UNIX_MS as i64 + sim.skew_ms;
        let at_ms = ((due_clock_ms as i64 - offset_ms).max(0) as u64).max(now_ms + 1);
        if sim
            .sync_tick_at_ms
            .is_some_and(|t| t >= now_ms && t <= at_ms)
        {
            return;
        }
        self.nodes[node as usize].sync_tick_at_ms = Some(at_ms);
        self.schedule(at_ms - now_ms, Event::SyncTick { node });
    }

    pub(super) fn sync_tick(&mut self, node: NodeId, now_ms: u64) {
        if self.nodes[node as usize].sync_tick_at_ms != Some(now_ms) {
            return;
        }
        self.nodes[node as usize].sync_tick_at_ms = None;
        let clock = self.node_clock_ms(node);
        let pick: u64 = self.engine.rng().gen();
        self.with_sync(node, |host, effects| host.tick(clock, pick, effects));
    }

    /// Puts a sync frame on the link from `from` to `to`: the fate gossip RPCs get.
    fn send_sync(&mut self, from: NodeId, to: NodeId, frame: SyncFrame) {
        let bytes = match &frame {
            SyncFrame::Request { bytes, .. } => bytes.len() as u64 + SYNC_STREAM_BYTES,
            SyncFrame::Response { bytes, .. } => bytes.as_ref().map_or(0, |b| b.len() as u64 + 4),
        };
        if self.nodes[from as usize].byzantine.is_empty() {
            self.stats.sync_frames_sent += 1;
            self.stats.sync_bytes_sent += bytes;
        }
        *self.stats.bytes_sent.entry("sync").or_insert(0) += bytes;
        match self.link_fate(from, to) {
            Fate::Delivered { delay_ms } => {
                self.schedule(delay_ms, Event::Sync { to, from, frame })
            }
            Fate::Blocked | Fate::Lost => {}
        }
    }

    /// A sync frame arrives at `to`.
    pub(super) fn deliver_sync(&mut self, to: NodeId, from: NodeId, frame: SyncFrame) {
        if !self.nodes[to as usize].up {
            return;
        }
        let clock = self.node_clock_ms(to);
        match frame {
            SyncFrame::Request { id, bytes, life } => {
                let response = self.with_sync(to, |host, effects| {
                    host.on_request(&peer_key(from), &bytes, clock, effects)
                });
                let Some(response) = response else {
                    return;
                };
                let frame = SyncFrame::Response {
                    id,
                    bytes: response,
                    life,
                };
                self.send_sync(to, from, frame);
            }
            SyncFrame::Response { id, bytes, life } => {
                if self.nodes[to as usize].life != life {
                    return;
                }
                self.with_sync(to, |host, effects| match bytes {
                    Some(bytes) => host.on_response(id, &bytes, clock, effects),
                    None => host.on_failed(id, clock, effects),
                });
            }
        }
    }

    /// A fetched item: the checks the same bytes get arriving by gossip on `topic` (gate,
    /// then the topic's core), with the verdict going back to the sync host. Nothing on
    /// this path reads the message id; it names the serving peer and the delivery.
    fn validate_synced(
        &mut self,
        node: NodeId,
        delivery: DeliveryId,
        from: PeerKey,
        topic: &'static str,
        data: Vec<u8>,
    ) {
        let origin = Origin::Sync(delivery);
        let Some(from_node) = node_of(&from) else {
            self.report(
                node,
                origin,
                Verdict::Ignore {
                    reason: "unknown_peer",
                },
            );
            return;
        };
        if withholds(&self.nodes[node as usize].byzantine) {
            self.report(node, origin, WITHHELD);
            return;
        }
        let clock = self.node_clock_ms(node);
        let message = Rc::new(GossipMessage {
            id: MessageId {
                author: from_node,
                sequence: delivery.0,
            },
            topic,
            data,
            published_at_ms: self.engine.now_ms(),
        });
        if topic == topics::BALLOTS {
            self.validate_ballot(node, &message, origin, clock, None);
            return;
        }
        if topic == topics::REVOCATIONS {
            let verdict = self.take_revocations(node, &message.data, clock);
            self.report(node, origin, verdict);
            return;
        }
        self.validate_certify(node, &message, origin, &from, is_privileged(topic), clock);
    }

    /// The verdict on a fetched item, back to the host that fetched it.
    pub(super) fn sync_verdict(&mut self, node: NodeId, delivery: DeliveryId, verdict: Verdict) {
        let clock = self.node_clock_ms(node);
        let kind = self
            .with_sync(node, |host, effects| {
                host.on_verdict(delivery, verdict, clock, effects)
            })
            .flatten();
        if let (Some(kind), true) = (kind, self.nodes[node as usize].byzantine.is_empty()) {
            let label = match verdict {
                Verdict::Accept => "accept",
                Verdict::Ignore { .. } => "ignore",
                Verdict::Reject { .. } => "reject",
            };
            *self
                .stats
                .sync_delivered
                .entry((kind.name(), label))
                .or_insert(0) += 1;
        }
    }
}
