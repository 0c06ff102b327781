//! The sync state machine: one per node, both sides of the protocol.
//!
//! As a client it runs rounds: with each new connection, and every `round_interval_ms`
//! with one connected peer the shell picks at random, it asks for the peer's summary,
//! narrows a difference down to buckets and keys, and fetches the items it lacks. Each
//! fetched item is checked against the key it was asked for, then handed to the shell to
//! pass the gossip checks of its topic ([`Action::Deliver`]); the verdict comes back
//! through [`SyncCore::on_verdict`]. As a server it answers requests from what it holds,
//! within a per-peer budget.
//!
//! What a refusal costs, like gossip's REJECT and IGNORE (docs/PROTOCOL.md): a server
//! that sends bytes that do not decode, an item it was not asked for, or an item the cores
//! reject as invalid in itself is penalised ([`Action::Penalize`]). An item refused for
//! time, order or local state costs the server nothing, and is not fetched again for
//! `refused_ttl_ms`. A busy server, a timeout or a missing item cost nothing.
//!
//! Everything is bounded: peers, requests in flight, queued requests per round, keys
//! wanted (in all and per serving peer), keys refused, deliveries awaiting a verdict.
//! What a bound drops is reported ([`Action::Dropped`]).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::digest::{Buckets, KeySet};
use super::item::{Item, ItemKey, Kind};
use super::wire::{
    item_wire_bytes, Request, Response, FETCH_KEYS_MAX, ITEMS_BYTES_MAX, KEYS_PER_RESPONSE_MAX,
};
use crate::ids::{PeerKey, Verdict};

#[derive(Debug, Clone, PartialEq)]
pub struct SyncConfig {
    /// How often a round starts with one random connected peer.
    pub round_interval_ms: u64,
    /// How long a request may wait for its response.
    pub request_timeout_ms: u64,
    /// Requests one node keeps in flight to one peer.
    pub requests_inflight_per_peer_max: usize,
    /// Requests one round may queue (a summary leads to at most one buckets request per
    /// kind, each to at most 256 keys requests, each to fetches).
    pub round_requests_max: usize,
    /// Connected peers tracked; requests from others get `Busy`.
    pub peers_max: usize,
    /// Server budget per peer: requests per second, and the burst it may save up.
    pub peer_requests_per_s: u32,
    pub peer_request_burst: u32,
    /// Keys being fetched or awaiting a verdict, in all and per serving peer.
    pub wanted_max: usize,
    pub wanted_per_peer_max: usize,
    /// Keys whose items were refused for time, order or local state, not fetched again for
    /// `refused_ttl_ms`.
    pub refused_max: usize,
    pub refused_ttl_ms: u64,
    /// A peer penalised this many times (decaying) is not asked again until it decays.
    pub penalty_shun_min: f64,
    /// Multiplier of a peer's penalty per second (gossip's `invalid_message_decay`).
    pub penalty_decay_per_s: f64,
}

impl Default for SyncConfig {
    fn default() -> SyncConfig {
        SyncConfig {
            round_interval_ms: 5_000,
            request_timeout_ms: 10_000,
            requests_inflight_per_peer_max: 4,
            round_requests_max: 512,
            peers_max: 256,
            peer_requests_per_s: 20,
            peer_request_burst: 64,
            wanted_max: 4_096,
            wanted_per_peer_max: 1_024,
            refused_max: 8_192,
            refused_ttl_ms: 600_000,
            penalty_shun_min: 3.0,
            penalty_decay_per_s: 0.99,
        }
    }
}

impl SyncConfig {
    /// The first field out of its range, with the range.
    pub fn check(&self) -> Result<(), String> {
        let positive = [
            ("round_interval_ms", self.round_interval_ms),
            ("request_timeout_ms", self.request_timeout_ms),
            (
                "requests_inflight_per_peer_max",
                self.requests_inflight_per_peer_max as u64,
            ),
            ("round_requests_max", self.round_requests_max as u64),
            ("peers_max", self.peers_max as u64),
            ("peer_requests_per_s", u64::from(self.peer_requests_per_s)),
            ("peer_request_burst", u64::from(self.peer_request_burst)),
            ("wanted_max", self.wanted_max as u64),
            ("wanted_per_peer_max", self.wanted_per_peer_max as u64),
            ("refused_max", self.refused_max as u64),
        ];
        if let Some((field, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err(format!("sync.{field} must be at least 1"));
        }
        if self.wanted_per_peer_max > self.wanted_max {
            return Err("sync.wanted_per_peer_max must be at most sync.wanted_max".into());
        }
        if !(self.penalty_decay_per_s > 0.0 && self.penalty_decay_per_s < 1.0) {
            return Err("sync.penalty_decay_per_s must be in (0, 1)".into());
        }
        if self.penalty_shun_min.is_nan() || self.penalty_shun_min < 1.0 {
            return Err("sync.penalty_shun_min must be at least 1".into());
        }
        Ok(())
    }
}

/// Names one item handed to the shell for checking; its verdict comes back with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeliveryId(pub u64);

/// What the core asks its shell to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send a request to a connected peer; its response or failure comes back under `id`.
    Request {
        peer: PeerKey,
        id: u64,
        bytes: Vec<u8>,
    },
    /// Check an item exactly as if it had arrived on its topic from `from`, and report the
    /// verdict with [`SyncCore::on_verdict`].
    Deliver {
        delivery: DeliveryId,
        from: PeerKey,
        item: Item,
    },
    /// `peer` served something invalid in itself. `penalty` is its decayed count of such
    /// offences, for the shell's peer score (gossip's P4 is `-count²` times its weight).
    Penalize {
        peer: PeerKey,
        reason: &'static str,
        penalty: f64,
    },
    /// A bound dropped something (a metric: `x0_sync_dropped_total{what}`).
    Dropped { what: &'static str },
}

/// A peer as this node sees it.
#[derive(Debug, Clone)]
struct Peer {
    /// Server side: the request budget, in thousandths of a request, and when it was last
    /// topped up.
    budget_milli: u64,
    budget_at_ms: u64,
    /// Client side: requests waiting for a free in-flight slot, and the slots in use.
    queued: VecDeque<Request>,
    inflight: usize,
    /// Not asked before this time (it said busy, or it timed out).
    quiet_until_ms: u64,
    /// Decaying count of invalid things it served, and when it was last decayed.
    penalty: f64,
    penalty_at_ms: u64,
}

#[derive(Debug, Clone)]
struct Outstanding {
    peer: PeerKey,
    request: Request,
    deadline_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WantedState {
    /// Asked for (or about to be) from this peer.
    Fetching,
    /// Handed to the shell for its verdict.
    Delivered,
}

#[derive(Debug, Clone)]
struct Wanted {
    from: PeerKey,
    state: WantedState,
}

/// Figures for `/status` and the simulator's report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncSummary {
    pub peers: usize,
    pub held: usize,
    pub wanted: usize,
    pub refused: usize,
    pub inflight: usize,
}

pub struct SyncCore {
    config: SyncConfig,
    held: KeySet,
    peers: BTreeMap<PeerKey, Peer>,
    outstanding: BTreeMap<u64, Outstanding>,
    request_id_next: u64,
    wanted: BTreeMap<ItemKey, Wanted>,
    deliveries: BTreeMap<DeliveryId, (ItemKey, PeerKey)>,
    delivery_next: u64,
    refused: BTreeMap<ItemKey, u64>,
    round_next_ms: Option<u64>,
    /// Penalties of peers that disconnected, (count, when), at most `peers_max`: a peer
    /// that reconnects gets its count back, so leaving does not wash an offence away.
    departed: BTreeMap<PeerKey, (f64, u64)>,
}

impl SyncCore {
    pub fn new(config: SyncConfig, epoch: u64) -> SyncCore {
        config.check().expect("a checked sync config");
        SyncCore {
            config,
            held: KeySet::new(epoch),
            peers: BTreeMap::new(),
            outstanding: BTreeMap::new(),
            request_id_next: 0,
            wanted: BTreeMap::new(),
            deliveries: BTreeMap::new(),
            delivery_next: 0,
            refused: BTreeMap::new(),
            round_next_ms: None,
            departed: BTreeMap::new(),
        }
    }

    pub fn config(&self) -> &SyncConfig {
        &self.config
    }

    pub fn summary(&self) -> SyncSummary {
        SyncSummary {
            peers: self.peers.len(),
            held: Kind::ALL.iter().map(|kind| self.held.len(*kind)).sum(),
            wanted: self.wanted.len(),
            refused: self.refused.len(),
            inflight: self.outstanding.len(),
        }
    }

    /// The node holds an item it can serve: it arrived by gossip or sync and was accepted,
    /// or the node made it. A full kind is reported and the item is not served.
    pub fn on_held(&mut self, key: ItemKey, out: &mut Vec<Action>) {
        self.refused.remove(&key);
        if self.held.insert(key).is_err() {
            out.push(Action::Dropped { what: "held_full" });
        }
    }

    /// The node no longer serves an item (expired, superseded, pruned).
    pub fn on_forgotten(&mut self, key: &ItemKey) {
        self.held.remove(key);
    }

    /// Each tracked peer's decayed penalty, where it has one: the shell keeps the peer's
    /// score current from it (gossipsub does not decay an application score itself).
    pub fn penalties(&self, now_ms: u64) -> Vec<(PeerKey, f64)> {
        self.peers
            .iter()
            .filter(|(_, peer)| peer.penalty > 0.0)
            .map(|(key, peer)| (key.clone(), self.decayed(peer, now_ms)))
            .collect()
    }

    /// Keys of `kind` offered to peers.
    pub fn held_len(&self, kind: Kind) -> usize {
        self.held.len(kind)
    }

    pub fn holds(&self, key: &ItemKey) -> bool {
        self.held.contains(key)
    }

    /// The committee epoch changed: per-epoch items of the old one are neither served nor
    /// wanted any more.
    pub fn enter_epoch(&mut self, epoch: u64) {
        self.held.enter_epoch(epoch);
        self.wanted.retain(|key, _| !key.kind.per_epoch());
        self.refused.retain(|key, _| !key.kind.per_epoch());
    }

    /// A connection to `peer` opened: a round with it starts now.
    pub fn on_connected(&mut self, peer: PeerKey, now_ms: u64, out: &mut Vec<Action>) {
        if !self.peers.contains_key(&peer) {
            if self.peers.len() >= self.config.peers_max {
                out.push(Action::Dropped { what: "peers_full" });
                return;
            }
            let (penalty, penalty_at_ms) = self.departed.remove(&peer).unwrap_or((0.0, now_ms));
            self.peers.insert(
                peer.clone(),
                Peer {
                    budget_milli: u64::from(self.config.peer_request_burst) * 1000,
                    budget_at_ms: now_ms,
                    queued: VecDeque::new(),
                    inflight: 0,
                    quiet_until_ms: 0,
                    penalty,
                    penalty_at_ms,
                },
            );
        }
        self.round_next_ms
            .get_or_insert(now_ms + self.config.round_interval_ms);
        // A peer shunned before it left is not asked on its return either.
        if self
            .peers
            .get(&peer)
            .is_some_and(|p| !self.shunned(p, now_ms))
        {
            self.start_round(&peer, now_ms, out);
        }
    }

    /// The last connection to `peer` closed: its requests fail, what it was to serve is
    /// wanted from others.
    pub fn on_disconnected(&mut self, peer: &PeerKey) {
        if let Some(state) = self.peers.remove(peer) {
            if state.penalty > 0.0 {
                if self.departed.len() >= self.config.peers_max {
                    // The oldest offence goes first: it has decayed the most.
                    let oldest = self
                        .departed
                        .iter()
                        .min_by_key(|(_, (_, at_ms))| *at_ms)
                        .map(|(key, _)| key.clone());
                    if let Some(oldest) = oldest {
                        self.departed.remove(&oldest);
                    }
                }
                self.departed
                    .insert(peer.clone(), (state.penalty, state.penalty_at_ms));
            }
        }
        self.outstanding.retain(|_, o| &o.peer != peer);
        self.wanted
            .retain(|_, w| !(&w.from == peer && w.state == WantedState::Fetching));
    }

    /// When the core next needs [`SyncCore::tick`].
    pub fn next_tick_ms(&self) -> Option<u64> {
        let deadline = self.outstanding.values().map(|o| o.deadline_ms).min();
        match (self.round_next_ms, deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Times out requests and, when due, starts a round with a connected peer: the one at
    /// `pick` modulo the number of peers that may be asked (the shell draws `pick` from its
    /// random source, so the core stays deterministic).
    pub fn tick(&mut self, now_ms: u64, pick: u64, out: &mut Vec<Action>) {
        let timed_out: Vec<u64> = self
            .outstanding
            .iter()
            .filter(|(_, o)| o.deadline_ms <= now_ms)
            .map(|(id, _)| *id)
            .collect();
        for id in timed_out {
            self.on_failed(id, now_ms, out);
        }
        self.forget_refused(now_ms);
        let Some(due) = self.round_next_ms else {
            return;
        };
        if now_ms < due {
            return;
        }
        self.round_next_ms = Some(now_ms + self.config.round_interval_ms);
        let candidates: Vec<PeerKey> = self
            .peers
            .iter()
            .filter(|(_, p)| {
                p.queued.is_empty()
                    && p.inflight == 0
                    && p.quiet_until_ms <= now_ms
                    && !self.shunned(p, now_ms)
            })
            .map(|(peer, _)| peer.clone())
            .collect();
        if candidates.is_empty() {
            return;
        }
        let peer = candidates[(pick % candidates.len() as u64) as usize].clone();
        self.start_round(&peer, now_ms, out);
    }

    fn shunned(&self, peer: &Peer, now_ms: u64) -> bool {
        self.decayed(peer, now_ms) >= self.config.penalty_shun_min
    }

    fn decayed(&self, peer: &Peer, now_ms: u64) -> f64 {
        let seconds = now_ms.saturating_sub(peer.penalty_at_ms) as f64 / 1000.0;
        peer.penalty * self.config.penalty_decay_per_s.powf(seconds)
    }

    fn start_round(&mut self, peer: &PeerKey, now_ms: u64, out: &mut Vec<Action>) {
        self.enqueue(peer, Request::Summary, out);
        self.pump(peer, now_ms, out);
    }

    fn enqueue(&mut self, peer: &PeerKey, request: Request, out: &mut Vec<Action>) {
        let Some(state) = self.peers.get_mut(peer) else {
            return;
        };
        if state.queued.len() >= self.config.round_requests_max {
            out.push(Action::Dropped {
                what: "round_requests_full",
            });
            return;
        }
        state.queued.push_back(request);
    }

    /// Sends queued requests to `peer` while it has free in-flight slots.
    fn pump(&mut self, peer: &PeerKey, now_ms: u64, out: &mut Vec<Action>) {
        loop {
            let Some(state) = self.peers.get_mut(peer) else {
                return;
            };
            if state.inflight >= self.config.requests_inflight_per_peer_max
                || state.quiet_until_ms > now_ms
            {
                return;
            }
            let Some(request) = state.queued.pop_front() else {
                return;
            };
            state.inflight += 1;
            let id = self.request_id_next;
            self.request_id_next += 1;
            out.push(Action::Request {
                peer: peer.clone(),
                id,
                bytes: request.encode(),
            });
            self.outstanding.insert(
                id,
                Outstanding {
                    peer: peer.clone(),
                    request,
                    deadline_ms: now_ms + self.config.request_timeout_ms,
                },
            );
        }
    }

    /// A request failed (timeout, closed stream, dial failure): no penalty, but the peer
    /// is not asked again for a while and its keys are wanted from others.
    pub fn on_failed(&mut self, id: u64, now_ms: u64, out: &mut Vec<Action>) {
        let Some(outstanding) = self.outstanding.remove(&id) else {
            return;
        };
        out.push(Action::Dropped {
            what: "request_failed",
        });
        self.release_fetch(&outstanding);
        if let Some(peer) = self.peers.get_mut(&outstanding.peer) {
            peer.inflight -= 1;
            peer.queued.clear();
            peer.quiet_until_ms = now_ms + self.config.request_timeout_ms;
        }
    }

    fn release_fetch(&mut self, outstanding: &Outstanding) {
        if let Request::Fetch(keys) = &outstanding.request {
            for key in keys {
                if self
                    .wanted
                    .get(key)
                    .is_some_and(|w| w.state == WantedState::Fetching && w.from == outstanding.peer)
                {
                    self.wanted.remove(key);
                }
            }
        }
    }

    /// A response to request `id`.
    pub fn on_response(&mut self, id: u64, bytes: &[u8], now_ms: u64, out: &mut Vec<Action>) {
        let Some(outstanding) = self.outstanding.remove(&id) else {
            out.push(Action::Dropped {
                what: "response_unknown",
            });
            return;
        };
        let peer = outstanding.peer.clone();
        if let Some(state) = self.peers.get_mut(&peer) {
            state.inflight -= 1;
        }
        match Response::decode(bytes) {
            Err(error) => {
                self.release_fetch(&outstanding);
                self.penalize(&peer, error.reason(), now_ms, out);
            }
            Ok(response) => match self.answer(&outstanding, response, now_ms, out) {
                Ok(()) => {}
                Err(reason) => {
                    self.release_fetch(&outstanding);
                    self.penalize(&peer, reason, now_ms, out);
                }
            },
        }
        self.pump(&peer, now_ms, out);
    }

    /// Takes in a response that decoded. An error names why it does not answer its
    /// request: the server is penalised.
    fn answer(
        &mut self,
        outstanding: &Outstanding,
        response: Response,
        now_ms: u64,
        out: &mut Vec<Action>,
    ) -> Result<(), &'static str> {
        let peer = &outstanding.peer;
        match (&outstanding.request, response) {
            (_, Response::Busy { retry_after_ms }) => {
                self.release_fetch(outstanding);
                if let Some(state) = self.peers.get_mut(peer) {
                    state.queued.clear();
                    let wait_ms = u64::from(retry_after_ms).min(self.config.request_timeout_ms);
                    state.quiet_until_ms = now_ms + wait_ms;
                }
                Ok(())
            }
            (Request::Summary, Response::Summary(theirs)) => {
                for kind in self.held.kinds_differing(&theirs) {
                    // Only a difference where the peer holds something can be fetched, and
                    // only of a kind some core takes in: ballot certificates have no topic
                    // and no core adopts one yet (issue 21), so fetching them would only
                    // let any peer make this node download blobs it must ignore.
                    if theirs.kinds[kind.index()].count > 0 && kind.topic().is_some() {
                        self.enqueue(peer, Request::Buckets(kind), out);
                    }
                }
                Ok(())
            }
            (Request::Buckets(kind), Response::Buckets(theirs)) if theirs.kind == *kind => {
                // Differing buckets go in ranges whose keys (by the peer's counts) fit one
                // keys response, so a few requests list what hundreds of buckets hold.
                for (first, last) in key_ranges(&self.held.buckets_differing(&theirs), &theirs) {
                    self.enqueue(
                        peer,
                        Request::Keys {
                            kind: *kind,
                            first,
                            last,
                        },
                        out,
                    );
                }
                Ok(())
            }
            (
                Request::Keys { kind, first, last },
                Response::Keys {
                    kind: listed_kind,
                    first: listed_first,
                    last: listed_last,
                    hashes,
                    ..
                },
            ) if listed_kind == *kind && listed_first == *first && listed_last == *last => {
                let keys: Vec<ItemKey> = hashes
                    .into_iter()
                    .map(|hash| ItemKey { kind: *kind, hash })
                    .collect();
                self.want(peer, &keys, now_ms, out);
                Ok(())
            }
            (Request::Fetch(asked), Response::Items(items)) => {
                self.take_items(peer, asked, items, out)
            }
            _ => Err("sync_unanswered"),
        }
    }

    /// Marks the keys a peer listed that this node lacks as wanted from it, and queues
    /// fetches for them.
    fn want(&mut self, peer: &PeerKey, keys: &[ItemKey], now_ms: u64, out: &mut Vec<Action>) {
        let mut from_peer = self.wanted.values().filter(|w| &w.from == peer).count();
        let mut fetch = Vec::new();
        for key in keys {
            if self.held.contains(key)
                || self.wanted.contains_key(key)
                || self.refused.get(key).is_some_and(|until| *until > now_ms)
            {
                continue;
            }
            if self.wanted.len() >= self.config.wanted_max
                || from_peer >= self.config.wanted_per_peer_max
            {
                out.push(Action::Dropped {
                    what: "wanted_full",
                });
                break;
            }
            self.wanted.insert(
                *key,
                Wanted {
                    from: peer.clone(),
                    state: WantedState::Fetching,
                },
            );
            from_peer += 1;
            fetch.push(*key);
        }
        fetch.sort();
        // Fetches go before the listing still queued: what a round found is fetched first,
        // and a full queue drops listing, which the next round redoes.
        let fetches: Vec<Request> = fetch
            .chunks(FETCH_KEYS_MAX)
            .map(|chunk| Request::Fetch(chunk.to_vec()))
            .collect();
        if let Some(state) = self.peers.get_mut(peer) {
            for request in fetches.into_iter().rev() {
                if state.queued.len() >= self.config.round_requests_max {
                    state.queued.pop_back();
                    out.push(Action::Dropped {
                        what: "round_requests_full",
                    });
                }
                state.queued.push_front(request);
            }
        }
    }

    fn take_items(
        &mut self,
        peer: &PeerKey,
        asked: &[ItemKey],
        items: Vec<Item>,
        out: &mut Vec<Action>,
    ) -> Result<(), &'static str> {
        let asked: BTreeSet<ItemKey> = asked.iter().copied().collect();
        let keys: Vec<ItemKey> = items.iter().map(Item::key).collect();
        // All or nothing: one item that was not asked for (or twice) taints the response.
        let mut seen = BTreeSet::new();
        if keys
            .iter()
            .any(|key| !asked.contains(key) || !seen.insert(*key))
        {
            return Err("sync_unrequested");
        }
        for (item, key) in items.into_iter().zip(keys) {
            let Some(wanted) = self.wanted.get_mut(&key) else {
                // Arrived meanwhile by gossip, or dropped by a bound: nothing to do.
                continue;
            };
            if &wanted.from != peer || wanted.state != WantedState::Fetching {
                continue;
            }
            wanted.state = WantedState::Delivered;
            let delivery = DeliveryId(self.delivery_next);
            self.delivery_next += 1;
            self.deliveries.insert(delivery, (key, peer.clone()));
            out.push(Action::Deliver {
                delivery,
                from: peer.clone(),
                item,
            });
        }
        // What was asked but not served is wanted from whoever lists it next.
        for key in asked {
            if self
                .wanted
                .get(&key)
                .is_some_and(|w| &w.from == peer && w.state == WantedState::Fetching)
            {
                self.wanted.remove(&key);
                out.push(Action::Dropped { what: "unserved" });
            }
        }
        Ok(())
    }

    /// The verdict of the checks a delivered item passed or failed.
    pub fn on_verdict(
        &mut self,
        delivery: DeliveryId,
        verdict: Verdict,
        now_ms: u64,
        out: &mut Vec<Action>,
    ) {
        let Some((key, from)) = self.deliveries.remove(&delivery) else {
            return;
        };
        self.wanted.remove(&key);
        match verdict {
            Verdict::Accept => self.on_held(key, out),
            Verdict::Ignore { reason } => {
                let ttl_ms = if crate::verdicts::not_yet(reason) {
                    self.config.round_interval_ms
                } else {
                    self.config.refused_ttl_ms
                };
                if self.refused.len() >= self.config.refused_max {
                    self.forget_refused(now_ms);
                }
                if self.refused.len() >= self.config.refused_max {
                    out.push(Action::Dropped {
                        what: "refused_full",
                    });
                } else {
                    self.refused.insert(key, now_ms + ttl_ms);
                }
            }
            Verdict::Reject { reason } => self.penalize(&from, reason, now_ms, out),
        }
    }

    fn forget_refused(&mut self, now_ms: u64) {
        self.refused.retain(|_, until| *until > now_ms);
    }

    fn penalize(
        &mut self,
        peer: &PeerKey,
        reason: &'static str,
        now_ms: u64,
        out: &mut Vec<Action>,
    ) {
        let penalty = match self.peers.get(peer) {
            Some(state) => self.decayed(state, now_ms) + 1.0,
            None => 1.0,
        };
        if let Some(state) = self.peers.get_mut(peer) {
            state.penalty = penalty;
            state.penalty_at_ms = now_ms;
            if penalty >= self.config.penalty_shun_min {
                state.queued.clear();
            }
        }
        out.push(Action::Penalize {
            peer: peer.clone(),
            reason,
            penalty,
        });
    }

    /// Answers a request from `peer`, loading item bytes with `load`. `None`: the request
    /// does not decode, nothing is answered (the shell closes the stream) and the peer is
    /// penalised.
    pub fn on_request(
        &mut self,
        peer: &PeerKey,
        bytes: &[u8],
        now_ms: u64,
        mut load: impl FnMut(&ItemKey) -> Option<Vec<u8>>,
        out: &mut Vec<Action>,
    ) -> Option<Vec<u8>> {
        let request = match Request::decode(bytes) {
            Ok(request) => request,
            Err(error) => {
                self.penalize(peer, error.reason(), now_ms, out);
                return None;
            }
        };
        if let Some(retry_after_ms) = self.spend(peer, now_ms) {
            out.push(Action::Dropped {
                what: "requests_over_budget",
            });
            return Some(Response::Busy { retry_after_ms }.encode());
        }
        let response = match request {
            Request::Summary => Response::Summary(self.held.summary()),
            Request::Buckets(kind) => Response::Buckets(self.held.buckets(kind)),
            Request::Keys { kind, first, last } => {
                let (keys, more) = self
                    .held
                    .bucket_keys(kind, first, last, KEYS_PER_RESPONSE_MAX);
                Response::Keys {
                    kind,
                    first,
                    last,
                    hashes: keys.into_iter().map(|key| key.hash).collect(),
                    more,
                }
            }
            Request::Fetch(keys) => {
                let mut items = Vec::new();
                let mut bytes_left = ITEMS_BYTES_MAX;
                for key in keys.iter().filter(|key| self.held.contains(key)) {
                    let Some(bytes) = load(key) else {
                        continue;
                    };
                    let item = Item {
                        kind: key.kind,
                        bytes,
                    };
                    // The shell's bytes are checked against the key: a store that lost
                    // or mangled an item must not get this node penalised.
                    if item.key() != *key || item.bytes.len() > key.kind.bytes_max() {
                        out.push(Action::Dropped {
                            what: "held_mismatch",
                        });
                        continue;
                    }
                    let cost = item_wire_bytes(&item);
                    if cost > bytes_left {
                        break;
                    }
                    bytes_left -= cost;
                    items.push(item);
                }
                Response::Items(items)
            }
        };
        Some(response.encode())
    }

    /// Takes one request from `peer`'s budget; `Some(wait)` if there is none.
    fn spend(&mut self, peer: &PeerKey, now_ms: u64) -> Option<u32> {
        let rate = u64::from(self.config.peer_requests_per_s);
        let burst_milli = u64::from(self.config.peer_request_burst) * 1000;
        let Some(state) = self.peers.get_mut(peer) else {
            // Not a tracked connection (the table is full): busy, at no cost to anyone.
            return Some(self.config.round_interval_ms.min(u64::from(u32::MAX)) as u32);
        };
        let elapsed_ms = now_ms.saturating_sub(state.budget_at_ms);
        state.budget_milli = (state.budget_milli + elapsed_ms * rate).min(burst_milli);
        state.budget_at_ms = now_ms;
        if state.budget_milli >= 1000 {
            state.budget_milli -= 1000;
            None
        } else {
            let wait_ms = (1000 - state.budget_milli).div_ceil(rate);
            Some(wait_ms as u32)
        }
    }
}

/// Groups the differing buckets (increasing) into ranges whose keys, by the peer's counts
/// (buckets in between included), fit one keys response; a bucket too full alone is a
/// range of its own and comes back with `more`.
fn key_ranges(differing: &[u8], theirs: &Buckets) -> Vec<(u8, u8)> {
    let count = |bucket: u8| u64::from(theirs.buckets[usize::from(bucket)].count);
    let mut ranges = Vec::new();
    let mut open: Option<(u8, u8, u64)> = None;
    for &bucket in differing {
        open = Some(match open {
            Some((first, last, keys)) => {
                let grown = keys + (last + 1..=bucket).map(count).sum::<u64>();
                if grown <= KEYS_PER_RESPONSE_MAX as u64 {
                    (first, bucket, grown)
                } else {
                    ranges.push((first, last));
                    (bucket, bucket, count(bucket))
                }
            }
            None => (bucket, bucket, count(bucket)),
        });
    }
    ranges.extend(open.map(|(first, last, _)| (first, last)));
    ranges
}
