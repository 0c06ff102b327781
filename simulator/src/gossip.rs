//! A model of gossipsub v1.1 as the node configures it, one instance per simulated node.
//! Sans-IO like every core: RPCs and heartbeats in (with `now`), RPCs to send and
//! messages to validate out. The world ([`crate::world`]) delivers RPCs over the network
//! model; the application's verdict comes back through [`GossipNode::report_validation`].
//!
//! It follows libp2p-gossipsub 0.50 (libp2p 0.57, the node's version; "upstream" below),
//! with the node's parameter names: mesh degree `mesh_n` (D) kept within
//! `mesh_n_low`..`mesh_n_high` at each heartbeat with at least `mesh_outbound_min` peers this
//! node dialled, GRAFT/PRUNE with `prune_backoff`, peers grafted as their subscription
//! arrives, IHAVE to `max(gossip_lazy, gossip_factor x eligible)` non-mesh peers from the
//! last `history_gossip` heartbeats of the message cache (`history_length` windows), IWANT
//! answered from it at most `gossip_retransmission` times per peer and never asked twice
//! while a promise is open, the seen-cache (`duplicate_cache_time`), flood publishing of
//! own messages, validation before forwarding (not back to peers that sent a copy while it
//! was validated), and the P4 penalty for rejected messages (peers below zero are pruned
//! and not grafted; below the graylist threshold their RPCs are ignored).
//!
//! What it leaves out, deliberately: message and RPC sizes (no bandwidth model, and so no
//! IDONTWANT, which upstream sends only for messages over 1000 bytes), P1-P3 and P5-P7
//! scoring (so no opportunistic grafting, which needs them), peer exchange, fanout for
//! topics a node does not join (every simulated node joins every topic), and the random
//! top-up to `mesh_n` of a non-flood publish (the node flood-publishes).
//!
//! Fidelity is measured, not assumed: `bench/src/bin/gossip_fidelity.rs` runs real libp2p
//! swarms and this model on one plan (docs/BENCHMARKS.md, "Gossip model fidelity").

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rustc_hash::FxHashMap;

use crate::peer_set::PeerSet;
use crate::seen::SeenTable;
use std::rc::Rc;

use rand::seq::SliceRandom;
use rand::Rng;

/// A simulated node's index.
pub type NodeId = u32;

/// gossipsub's default message id: author and sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageId {
    pub author: NodeId,
    pub sequence: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GossipMessage {
    pub id: MessageId,
    pub topic: &'static str,
    pub data: Vec<u8>,
    /// Virtual time of publication, for latency figures only (the node never sees it).
    pub published_at_ms: u64,
}

/// What travels between two nodes.
#[derive(Debug, Clone)]
pub enum Rpc {
    Message(Rc<GossipMessage>),
    /// The topics the sender has joined: upstream sends them all in one RPC as a
    /// connection opens (`on_connection_established`).
    Subscribe {
        topics: Vec<&'static str>,
    },
    IHave {
        topic: &'static str,
        /// Shared by every peer the one heartbeat sends it to.
        ids: Rc<[MessageId]>,
    },
    IWant {
        ids: Vec<MessageId>,
    },
    Graft {
        topic: &'static str,
    },
    Prune {
        topic: &'static str,
    },
}

/// The node's gossip parameters (`[gossip]` in the node's config, times in ms), and the
/// upstream defaults the node leaves alone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GossipConfig {
    pub mesh_n: usize,
    pub mesh_n_low: usize,
    pub mesh_n_high: usize,
    pub gossip_lazy: usize,
    pub heartbeat_interval_ms: u64,
    pub history_length: usize,
    pub history_gossip: usize,
    pub duplicate_cache_time_ms: u64,
    pub flood_publish: bool,
    pub prune_backoff_ms: u64,
    pub invalid_message_weight: f64,
    pub invalid_message_decay: f64,
    pub gossip_threshold: f64,
    pub publish_threshold: f64,
    pub graylist_threshold: f64,
    /// IWANT requests answered per peer per heartbeat, and ids per IHAVE (gossipsub's
    /// `max_ihave_length`).
    pub ihave_ids_max: usize,
    /// Share of the eligible non-mesh peers that get IHAVE, if more than `gossip_lazy`
    /// (upstream default 0.25).
    pub gossip_factor: f64,
    /// How often one peer's IWANT for one message is answered (upstream default 3).
    pub gossip_retransmission: u32,
    /// How long an IWANT waits for its message before the id may be asked again
    /// (upstream `iwant_followup_time`, default 3 s).
    pub iwant_followup_time_ms: u64,
}

impl GossipConfig {
    /// Mesh peers this node dialled that heartbeats keep: the node sets
    /// `mesh_outbound_min = min(mesh_n / 2, mesh_n_low - 1)`
    /// (x0_node::network::behaviour::gossipsub_config).
    pub fn mesh_outbound_min(&self) -> usize {
        (self.mesh_n / 2).min(self.mesh_n_low.saturating_sub(1))
    }
}

impl Default for GossipConfig {
    /// The node's defaults (node/src/default_config.toml), and upstream's for the rest.
    fn default() -> Self {
        GossipConfig {
            mesh_n: 6,
            mesh_n_low: 5,
            mesh_n_high: 12,
            gossip_lazy: 6,
            heartbeat_interval_ms: 1_000,
            history_length: 5,
            history_gossip: 3,
            duplicate_cache_time_ms: 120_000,
            flood_publish: true,
            prune_backoff_ms: 60_000,
            invalid_message_weight: -10.0,
            invalid_message_decay: 0.99,
            gossip_threshold: -10.0,
            publish_threshold: -50.0,
            graylist_threshold: -80.0,
            ihave_ids_max: 5_000,
            gossip_factor: 0.25,
            gossip_retransmission: 3,
            iwant_followup_time_ms: 3_000,
        }
    }
}

/// A new message for the application to validate; answer with
/// [`GossipNode::report_validation`].
#[derive(Debug, Clone)]
pub struct ToValidate {
    pub message: Rc<GossipMessage>,
    pub from: NodeId,
}

/// The application's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acceptance {
    Accept,
    Reject,
    Ignore,
}

/// Counters the report reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GossipCounters {
    /// Full messages sent (forwarded, published, or answering IWANT).
    pub messages_sent: u64,
    pub duplicates_received: u64,
    pub ihave_sent: u64,
    pub iwant_sent: u64,
    pub grafts_sent: u64,
    pub prunes_sent: u64,
    pub rejected: u64,
    /// Seen-cache entries dropped early because the bound was reached.
    pub seen_evicted: u64,
    /// Accepted messages not forwarded because they had left the message cache while
    /// they were validated (upstream does the same: "Message not in cache").
    pub accepted_after_eviction: u64,
    /// Messages of this node's own that a peer forwarded to it, refused unvalidated.
    pub self_origin_rejected: u64,
}

/// Entries in the seen cache, at most; past it the oldest go first (and are counted).
pub const SEEN_MAX: usize = 200_000;

/// IHAVEs handled per peer per heartbeat (upstream `max_ihave_messages_heartbeat`).
const IHAVE_PER_PEER_PER_HEARTBEAT_MAX: u32 = 10;

/// Heartbeats a pruned peer waits beyond its backoff before this node grafts it again
/// (upstream `backoff_slack`).
const BACKOFF_SLACK_HEARTBEATS: u64 = 1;

/// Mesh peers whose place is kept by score when the mesh is trimmed (upstream
/// `retain_scores`).
const RETAIN_SCORES: usize = 4;

/// One message in the message cache.
struct Cached {
    message: Rc<GossipMessage>,
    /// Forwarded and offered in IHAVE only once the application accepted it.
    validated: bool,
    /// Who sent it first; `None` for own messages.
    from: Option<NodeId>,
    /// Peers that sent a copy while it was being validated: it is not forwarded to them.
    originating: BTreeSet<NodeId>,
    /// IWANTs answered per peer.
    iwant_counts: BTreeMap<NodeId, u32>,
}

pub struct GossipNode {
    id: NodeId,
    config: GossipConfig,
    topics: Vec<&'static str>,
    peers: PeerSet,
    /// Peers this node dialled.
    outbound: PeerSet,
    /// Connected peers whose subscriptions have not arrived yet: not meshed, published to
    /// or gossiped to until they do.
    awaiting_subscriptions: PeerSet,
    mesh: BTreeMap<&'static str, PeerSet>,
    backoff_until_ms: BTreeMap<(&'static str, NodeId), u64>,
    /// The seen cache is this node's column of a table shared with the other nodes of a
    /// world ([`SeenTable`] says why); `seen_order` is what the column holds, oldest
    /// first, each id once.
    seen: Rc<RefCell<SeenTable>>,
    seen_column: usize,
    seen_order: VecDeque<(u64, MessageId)>,
    /// Message cache: one window of ids per heartbeat, newest first. A received message
    /// enters it on arrival, before validation, as upstream's does.
    windows: VecDeque<Vec<MessageId>>,
    /// Looked up by id, never iterated.
    cached: FxHashMap<MessageId, Cached>,
    /// Cached messages still waiting for their verdict: while none does, a duplicate
    /// needs no cache lookup (most copies arrive after the verdict).
    validating_count: usize,
    /// Ids asked for with IWANT and not yet arrived, with when the promise lapses.
    promises: BTreeMap<MessageId, u64>,
    /// IHAVEs received and ids asked per peer since the last heartbeat.
    ihave_received: BTreeMap<NodeId, u32>,
    iwant_ids_sent: BTreeMap<NodeId, usize>,
    /// P4: invalid messages per peer, decaying.
    invalid: BTreeMap<NodeId, f64>,
    sequence_next: u64,
    pub counters: GossipCounters,
}

impl GossipNode {
    /// A node with a seen cache of its own.
    pub fn new(id: NodeId, config: GossipConfig, topics: Vec<&'static str>) -> Self {
        GossipNode::with_seen_table(id, config, topics, SeenTable::shared(1), 0)
    }

    /// A node whose seen cache is column `seen_column` of a table shared by a world's
    /// nodes; each node needs its own column.
    pub fn with_seen_table(
        id: NodeId,
        config: GossipConfig,
        topics: Vec<&'static str>,
        seen: Rc<RefCell<SeenTable>>,
        seen_column: usize,
    ) -> Self {
        assert!(config.mesh_n_low <= config.mesh_n && config.mesh_n <= config.mesh_n_high);
        assert!(config.history_gossip <= config.history_length && config.history_length > 0);
        GossipNode {
            id,
            config,
            mesh: topics.iter().map(|t| (*t, PeerSet::new())).collect(),
            topics,
            peers: PeerSet::new(),
            outbound: PeerSet::new(),
            awaiting_subscriptions: PeerSet::new(),
            backoff_until_ms: BTreeMap::new(),
            seen,
            seen_column,
            seen_order: VecDeque::new(),
            windows: VecDeque::from(vec![Vec::new()]),
            cached: FxHashMap::default(),
            validating_count: 0,
            promises: BTreeMap::new(),
            ihave_received: BTreeMap::new(),
            iwant_ids_sent: BTreeMap::new(),
            invalid: BTreeMap::new(),
            sequence_next: 0,
            counters: GossipCounters::default(),
        }
    }

    pub fn id(&self) -> NodeId {
        self.id
    }

    pub fn mesh(&self, topic: &str) -> Option<&PeerSet> {
        self.mesh.get(topic)
    }

    pub fn peers(&self) -> &PeerSet {
        &self.peers
    }

    /// The peer's score: only P4 is modelled.
    pub fn score(&self, peer: NodeId) -> f64 {
        let count = self.invalid.get(&peer).copied().unwrap_or(0.0);
        self.config.invalid_message_weight * count * count
    }

    /// A connection to `peer` is up, and the peer is taken to have joined every topic this
    /// node has, at once. A shortcut for worlds that do not exchange subscriptions; see
    /// [`GossipNode::connected`] for the way upstream does it.
    pub fn connect(&mut self, peer: NodeId) {
        assert_ne!(peer, self.id);
        self.peers.insert(peer);
    }

    /// A connection to `peer` is up (`outbound` when this node dialled it). As upstream,
    /// this node sends the peer its topics in one RPC, and knows the peer's topics only
    /// when the peer's own such RPC ([`Rpc::Subscribe`]) arrives.
    pub fn connected(&mut self, peer: NodeId, outbound: bool, out: &mut Vec<(NodeId, Rpc)>) {
        assert_ne!(peer, self.id);
        if !self.peers.insert(peer) {
            return;
        }
        self.awaiting_subscriptions.insert(peer);
        if outbound {
            self.outbound.insert(peer);
        }
        out.push((
            peer,
            Rpc::Subscribe {
                topics: self.topics.clone(),
            },
        ));
    }

    /// A connection closed: the peer leaves every mesh at once, as in libp2p.
    pub fn disconnect(&mut self, peer: NodeId) {
        self.peers.remove(&peer);
        self.outbound.remove(&peer);
        self.awaiting_subscriptions.remove(&peer);
        for mesh in self.mesh.values_mut() {
            mesh.remove(&peer);
        }
    }

    /// Connected peers whose subscriptions are known (every simulated node joins every
    /// topic, so a known peer is subscribed to all of them).
    fn subscribed(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.peers
            .iter()
            .copied()
            .filter(|p| !self.awaiting_subscriptions.contains(p))
    }

    fn backed_off(&self, topic: &'static str, peer: NodeId, now_ms: u64) -> bool {
        self.backoff_until_ms
            .get(&(topic, peer))
            .is_some_and(|until| *until > now_ms)
    }

    /// Upstream's `is_backoff_with_slack`, used where this node itself decides to graft.
    fn backed_off_with_slack(&self, topic: &'static str, peer: NodeId, now_ms: u64) -> bool {
        let slack_ms = BACKOFF_SLACK_HEARTBEATS * self.config.heartbeat_interval_ms;
        self.backoff_until_ms
            .get(&(topic, peer))
            .is_some_and(|until| until + slack_ms > now_ms)
    }

    /// The sequence number of this node's next own message.
    pub fn sequence_next(&self) -> u64 {
        self.sequence_next
    }

    /// Continues the sequence of an earlier life of this node: upstream starts a node's
    /// sequence numbers at the time it starts (Unix nanoseconds), so a restarted node
    /// never reuses the id of a message it published before, which peers that still hold
    /// the old one in their seen caches would drop as a duplicate.
    pub fn resume_sequence(&mut self, sequence_next: u64) {
        self.sequence_next = self.sequence_next.max(sequence_next);
    }

    /// Publishes an own message; returns it (for the world's bookkeeping) and fills `out`.
    pub fn publish(
        &mut self,
        topic: &'static str,
        data: Vec<u8>,
        now_ms: u64,
        out: &mut Vec<(NodeId, Rpc)>,
    ) -> Rc<GossipMessage> {
        let message = Rc::new(GossipMessage {
            id: MessageId {
                author: self.id,
                sequence: self.sequence_next,
            },
            topic,
            data,
            published_at_ms: now_ms,
        });
        self.sequence_next += 1;
        self.mark_seen(message.id, now_ms);
        self.put_cached(&message, None, true);
        let targets: Vec<NodeId> = if self.config.flood_publish {
            self.subscribed()
                .filter(|p| self.score(*p) >= self.config.publish_threshold)
                .collect()
        } else {
            self.mesh[topic].iter().copied().collect()
        };
        for peer in targets {
            self.send_message(peer, &message, out);
        }
        message
    }

    fn send_message(
        &mut self,
        peer: NodeId,
        message: &Rc<GossipMessage>,
        out: &mut Vec<(NodeId, Rpc)>,
    ) {
        self.counters.messages_sent += 1;
        out.push((peer, Rpc::Message(message.clone())));
    }

    /// Upstream `mcache.put`: a message already in the cache (seen again after its
    /// seen-cache entry expired) stays as it is.
    fn put_cached(&mut self, message: &Rc<GossipMessage>, from: Option<NodeId>, validated: bool) {
        let std::collections::hash_map::Entry::Vacant(entry) = self.cached.entry(message.id) else {
            return;
        };
        entry.insert(Cached {
            message: message.clone(),
            validated,
            from,
            originating: BTreeSet::new(),
            iwant_counts: BTreeMap::new(),
        });
        self.windows[0].push(message.id);
        if !validated {
            self.validating_count += 1;
        }
    }

    fn uncache(&mut self, id: &MessageId) -> Option<Cached> {
        let cached = self.cached.remove(id)?;
        if !cached.validated {
            self.validating_count -= 1;
        }
        Some(cached)
    }

    fn has_seen(&self, id: &MessageId) -> bool {
        self.seen.borrow().contains(self.seen_column, id)
    }

    fn mark_seen(&mut self, id: MessageId, now_ms: u64) {
        let mut seen = self.seen.borrow_mut();
        if self.seen_order.len() >= SEEN_MAX {
            if let Some((_, oldest)) = self.seen_order.pop_front() {
                seen.remove(self.seen_column, &oldest);
                self.counters.seen_evicted += 1;
            }
        }
        let new = seen.insert(self.seen_column, id);
        assert!(new, "an id enters the seen cache only when it is not there");
        self.seen_order.push_back((now_ms, id));
        // Upstream: "Consider the message as delivered for gossip promises".
        self.promises.remove(&id);
    }

    /// An RPC from `from` arrived.
    pub fn on_rpc(
        &mut self,
        from: NodeId,
        rpc: Rpc,
        now_ms: u64,
        out: &mut Vec<(NodeId, Rpc)>,
        validate: &mut Vec<ToValidate>,
    ) {
        if !self.peers.contains(&from) || self.score(from) < self.config.graylist_threshold {
            return;
        }
        match rpc {
            Rpc::Message(message) => {
                if message.id.author == self.id {
                    // Upstream `message_is_valid`: a message claiming to be this node's own
                    // but forwarded by a peer (a restarted node handed its old messages) is
                    // invalid (`SelfOrigin`): the peer is penalised, and nothing is
                    // remembered, so a repeat is penalised again.
                    self.counters.self_origin_rejected += 1;
                    *self.invalid.entry(from).or_insert(0.0) += 1.0;
                    return;
                }
                if self.has_seen(&message.id) {
                    self.counters.duplicates_received += 1;
                    // Upstream `mcache.observe_duplicate`: remembered only while the
                    // message waits for its verdict.
                    if self.validating_count > 0 {
                        if let Some(cached) = self.cached.get_mut(&message.id) {
                            if !cached.validated {
                                cached.originating.insert(from);
                            }
                        }
                    }
                    return;
                }
                self.mark_seen(message.id, now_ms);
                self.put_cached(&message, Some(from), false);
                validate.push(ToValidate { message, from });
            }
            Rpc::Subscribe { topics } => self.on_subscribe(from, &topics, now_ms, out),
            Rpc::IHave { topic, ids } => self.on_ihave(from, topic, ids, now_ms, out),
            Rpc::IWant { ids } => {
                if self.score(from) < self.config.gossip_threshold {
                    return;
                }
                let retransmission_max = self.config.gossip_retransmission;
                for id in ids.into_iter().take(self.config.ihave_ids_max) {
                    let Some(cached) = self.cached.get_mut(&id) else {
                        continue;
                    };
                    if !cached.validated {
                        continue;
                    }
                    let count = cached.iwant_counts.entry(from).or_insert(0);
                    *count += 1;
                    if *count > retransmission_max {
                        continue;
                    }
                    let message = cached.message.clone();
                    self.send_message(from, &message, out);
                }
            }
            Rpc::Graft { topic } => {
                if !self.mesh.contains_key(topic) || self.awaiting_subscriptions.contains(&from) {
                    return;
                }
                if self.mesh[topic].contains(&from) {
                    return;
                }
                // Upstream `handle_graft`: refused (with a PRUNE, which restarts the
                // backoff) during a backoff, for a negative score, and when the mesh is
                // at `mesh_n_high` already unless this node dialled the peer.
                let full = self.mesh[topic].len() >= self.config.mesh_n_high
                    && !self.outbound.contains(&from);
                if self.backed_off(topic, from, now_ms) || self.score(from) < 0.0 || full {
                    self.prune(topic, from, now_ms, out);
                } else {
                    self.mesh.get_mut(topic).expect("joined").insert(from);
                }
            }
            Rpc::Prune { topic } => {
                if let Some(mesh) = self.mesh.get_mut(topic) {
                    mesh.remove(&from);
                }
                self.backoff_until_ms
                    .insert((topic, from), now_ms + self.config.prune_backoff_ms);
            }
        }
    }

    /// Upstream `handle_received_subscriptions`: a peer whose subscription arrives joins
    /// the mesh at once (with a GRAFT) while the mesh is below `mesh_n_low`.
    fn on_subscribe(
        &mut self,
        from: NodeId,
        topics: &[&'static str],
        now_ms: u64,
        out: &mut Vec<(NodeId, Rpc)>,
    ) {
        self.awaiting_subscriptions.remove(&from);
        for topic in topics {
            let Some(mesh) = self.mesh.get(topic) else {
                continue;
            };
            if mesh.len() < self.config.mesh_n_low
                && !mesh.contains(&from)
                && self.score(from) >= 0.0
                && !self.backed_off_with_slack(topic, from, now_ms)
            {
                self.mesh.get_mut(topic).expect("joined").insert(from);
                self.counters.grafts_sent += 1;
                out.push((from, Rpc::Graft { topic }));
            }
        }
    }

    /// Upstream `handle_ihave`: at most `IHAVE_PER_PEER_PER_HEARTBEAT_MAX` IHAVEs and
    /// `ihave_ids_max` asked ids per peer per heartbeat; an id already asked of someone
    /// is not asked again until that promise lapses.
    fn on_ihave(
        &mut self,
        from: NodeId,
        topic: &'static str,
        ids: Rc<[MessageId]>,
        now_ms: u64,
        out: &mut Vec<(NodeId, Rpc)>,
    ) {
        if self.score(from) < self.config.gossip_threshold || !self.mesh.contains_key(topic) {
            return;
        }
        let received = self.ihave_received.entry(from).or_insert(0);
        *received += 1;
        if *received > IHAVE_PER_PEER_PER_HEARTBEAT_MAX {
            return;
        }
        let asked = self.iwant_ids_sent.get(&from).copied().unwrap_or(0);
        let room = self.config.ihave_ids_max.saturating_sub(asked);
        let mut wanted: Vec<MessageId> = Vec::new();
        let seen = self.seen.borrow();
        for id in ids.iter().copied() {
            if wanted.len() >= room {
                break;
            }
            if !seen.contains(self.seen_column, &id)
                && !self.promises.contains_key(&id)
                && !wanted.contains(&id)
            {
                wanted.push(id);
            }
        }
        drop(seen);
        if wanted.is_empty() {
            return;
        }
        *self.iwant_ids_sent.entry(from).or_insert(0) += wanted.len();
        let lapses_ms = now_ms + self.config.iwant_followup_time_ms;
        for id in &wanted {
            self.promises.insert(*id, lapses_ms);
        }
        self.counters.iwant_sent += 1;
        out.push((from, Rpc::IWant { ids: wanted }));
    }

    /// The application's verdict on a message from [`ToValidate`].
    pub fn report_validation(
        &mut self,
        id: MessageId,
        acceptance: Acceptance,
        now_ms: u64,
        out: &mut Vec<(NodeId, Rpc)>,
    ) {
        let _ = now_ms;
        match acceptance {
            Acceptance::Accept => {
                let Some(cached) = self.cached.get_mut(&id) else {
                    self.counters.accepted_after_eviction += 1;
                    return;
                };
                if cached.validated {
                    return;
                }
                cached.validated = true;
                self.validating_count -= 1;
                let originating = std::mem::take(&mut cached.originating);
                let from = cached.from;
                let message = cached.message.clone();
                let targets: Vec<NodeId> = self.mesh[message.topic]
                    .iter()
                    .copied()
                    .filter(|p| {
                        Some(*p) != from && *p != message.id.author && !originating.contains(p)
                    })
                    .collect();
                for peer in targets {
                    self.send_message(peer, &message, out);
                }
            }
            Acceptance::Reject | Acceptance::Ignore => {
                // Upstream drops the message from its cache either way; a rejection costs
                // the sender and every peer that sent a copy while it was validated.
                let Some(cached) = self.uncache(&id) else {
                    return;
                };
                if acceptance == Acceptance::Reject {
                    self.counters.rejected += 1;
                    for peer in cached.from.into_iter().chain(cached.originating) {
                        *self.invalid.entry(peer).or_insert(0.0) += 1.0;
                    }
                }
            }
        }
    }

    /// The heartbeat: mesh maintenance, gossip, cache shift, decay, seen-cache expiry.
    pub fn heartbeat(&mut self, now_ms: u64, rng: &mut impl Rng, out: &mut Vec<(NodeId, Rpc)>) {
        let decay = self
            .config
            .invalid_message_decay
            .powf(self.config.heartbeat_interval_ms as f64 / 1000.0);
        for count in self.invalid.values_mut() {
            *count *= decay;
        }
        self.invalid.retain(|_, c| *c > 0.01);
        let slack_ms = BACKOFF_SLACK_HEARTBEATS * self.config.heartbeat_interval_ms;
        self.backoff_until_ms
            .retain(|_, until| *until + slack_ms > now_ms);
        self.promises.retain(|_, lapses_ms| *lapses_ms > now_ms);
        self.ihave_received.clear();
        self.iwant_ids_sent.clear();
        // The ids to gossip, by topic, in one pass over the cache (mesh maintenance
        // does not change them).
        let topics = self.topics.clone();
        let mut ids_by_topic: Vec<Vec<MessageId>> = vec![Vec::new(); topics.len()];
        for id in self
            .windows
            .iter()
            .take(self.config.history_gossip)
            .flatten()
        {
            let Some(cached) = self.cached.get(id).filter(|c| c.validated) else {
                continue;
            };
            let Some(index) = topics.iter().position(|t| *t == cached.message.topic) else {
                continue;
            };
            if ids_by_topic[index].len() < self.config.ihave_ids_max {
                ids_by_topic[index].push(*id);
            }
        }
        for (topic, ids) in topics.into_iter().zip(ids_by_topic) {
            self.maintain_mesh(topic, now_ms, rng, out);
            self.emit_gossip(topic, ids, rng, out);
        }
        // Shift the message cache.
        self.windows.push_front(Vec::new());
        while self.windows.len() > self.config.history_length {
            for id in self.windows.pop_back().expect("non-empty") {
                self.uncache(&id);
            }
        }
        // Expire the seen cache.
        let ttl = self.config.duplicate_cache_time_ms;
        let mut seen = self.seen.borrow_mut();
        while let Some((at, id)) = self.seen_order.front().copied() {
            if now_ms.saturating_sub(at) < ttl {
                break;
            }
            self.seen_order.pop_front();
            let held = seen.remove(self.seen_column, &id);
            assert!(held, "the column holds what seen_order lists");
        }
    }

    /// Upstream's mesh maintenance in `heartbeat`, in its order.
    fn maintain_mesh(
        &mut self,
        topic: &'static str,
        now_ms: u64,
        rng: &mut impl Rng,
        out: &mut Vec<(NodeId, Rpc)>,
    ) {
        let config = self.config;
        // Negative-score peers leave the mesh (and are told).
        let bad: Vec<NodeId> = self.mesh[topic]
            .iter()
            .copied()
            .filter(|p| self.score(*p) < 0.0)
            .collect();
        for peer in bad {
            self.prune(topic, peer, now_ms, out);
        }
        // Too few: graft up to mesh_n.
        let size = self.mesh[topic].len();
        if size < config.mesh_n_low {
            let candidates = self.graft_candidates(topic, now_ms, false);
            self.graft_random(topic, candidates, config.mesh_n - size, rng, out);
        }
        // Too many (upstream trims at mesh_n_high already): back to mesh_n, worst score
        // first, keeping `mesh_outbound_min` peers this node dialled.
        let size = self.mesh[topic].len();
        if size >= config.mesh_n_high {
            let mut members: Vec<NodeId> = self.mesh[topic].iter().copied().collect();
            members.shuffle(rng);
            members.sort_by(|a, b| self.score(*a).total_cmp(&self.score(*b)));
            if members.len() > RETAIN_SCORES {
                let unretained = members.len() - RETAIN_SCORES;
                members[..unretained].shuffle(rng);
            }
            let outbound_min = config.mesh_outbound_min();
            let mut outbound = members.iter().filter(|p| self.outbound.contains(p)).count();
            let mut removed = 0;
            for peer in members {
                if removed == size - config.mesh_n {
                    break;
                }
                if self.outbound.contains(&peer) {
                    if outbound <= outbound_min {
                        continue;
                    }
                    outbound -= 1;
                }
                self.prune(topic, peer, now_ms, out);
                removed += 1;
            }
        }
        // Enough peers, but too few this node dialled: graft dialled ones.
        let size = self.mesh[topic].len();
        if size >= config.mesh_n_low {
            let outbound = self.mesh[topic]
                .iter()
                .filter(|p| self.outbound.contains(p))
                .count();
            let outbound_min = config.mesh_outbound_min();
            if outbound < outbound_min {
                let candidates = self.graft_candidates(topic, now_ms, true);
                self.graft_random(topic, candidates, outbound_min - outbound, rng, out);
            }
        }
    }

    fn graft_candidates(
        &self,
        topic: &'static str,
        now_ms: u64,
        outbound_only: bool,
    ) -> Vec<NodeId> {
        self.subscribed()
            .filter(|p| {
                !self.mesh[topic].contains(p)
                    && self.score(*p) >= 0.0
                    && !self.backed_off_with_slack(topic, *p, now_ms)
                    && (!outbound_only || self.outbound.contains(p))
            })
            .collect()
    }

    fn graft_random(
        &mut self,
        topic: &'static str,
        mut candidates: Vec<NodeId>,
        count: usize,
        rng: &mut impl Rng,
        out: &mut Vec<(NodeId, Rpc)>,
    ) {
        candidates.shuffle(rng);
        for peer in candidates.into_iter().take(count) {
            self.mesh.get_mut(topic).expect("joined").insert(peer);
            self.counters.grafts_sent += 1;
            out.push((peer, Rpc::Graft { topic }));
        }
    }

    fn prune(
        &mut self,
        topic: &'static str,
        peer: NodeId,
        now_ms: u64,
        out: &mut Vec<(NodeId, Rpc)>,
    ) {
        self.mesh.get_mut(topic).expect("joined").remove(&peer);
        self.backoff_until_ms
            .insert((topic, peer), now_ms + self.config.prune_backoff_ms);
        self.counters.prunes_sent += 1;
        out.push((peer, Rpc::Prune { topic }));
    }

    /// Upstream `emit_gossip`: IHAVE with the validated ids of the last `history_gossip`
    /// windows to `max(gossip_lazy, gossip_factor x eligible)` random non-mesh peers.
    fn emit_gossip(
        &mut self,
        topic: &'static str,
        ids: Vec<MessageId>,
        rng: &mut impl Rng,
        out: &mut Vec<(NodeId, Rpc)>,
    ) {
        if ids.is_empty() {
            return;
        }
        let ids: Rc<[MessageId]> = ids.into();
        let mut candidates: Vec<NodeId> = self
            .subscribed()
            .filter(|p| {
                !self.mesh[topic].contains(p) && self.score(*p) >= self.config.gossip_threshold
            })
            .collect();
        let count = self
            .config
            .gossip_lazy
            .max((self.config.gossip_factor * candidates.len() as f64) as usize);
        candidates.shuffle(rng);
        for peer in candidates.into_iter().take(count) {
            self.counters.ihave_sent += 1;
            out.push((
                peer,
                Rpc::IHave {
                    topic,
                    ids: ids.clone(),
                },
            ));
        }
    }
}

/// A node that goes (a crash, the end of a run) takes its seen cache with it: its column
/// of a shared table is emptied, so a node later made for the same column starts clean.
impl Drop for GossipNode {
    fn drop(&mut self) {
        let mut seen = self.seen.borrow_mut();
        for (_, id) in self.seen_order.drain(..) {
            seen.remove(self.seen_column, &id);
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    const TOPIC: &str = "/x0/1/probe";

    fn pair() -> (GossipNode, GossipNode) {
        let mut a = GossipNode::new(0, GossipConfig::default(), vec![TOPIC]);
        let mut b = GossipNode::new(1, GossipConfig::default(), vec![TOPIC]);
        a.connect(1);
        b.connect(0);
        (a, b)
    }

    #[test]
    fn a_message_is_validated_once_and_duplicates_are_counted() {
        let (mut a, mut b) = pair();
        let mut out = Vec::new();
        let message = a.publish(TOPIC, b"x".to_vec(), 0, &mut out);
        assert_eq!(out.len(), 1, "flood publish to the one peer");
        let mut validate = Vec::new();
        let mut replies = Vec::new();
        b.on_rpc(
            0,
            Rpc::Message(message.clone()),
            5,
            &mut replies,
            &mut validate,
        );
        b.on_rpc(
            0,
            Rpc::Message(message.clone()),
            6,
            &mut replies,
            &mut validate,
        );
        assert_eq!(validate.len(), 1);
        assert_eq!(b.counters.duplicates_received, 1);
    }

    #[test]
    fn a_peer_forwarding_this_nodes_own_message_is_penalised_and_a_restart_goes_on_numbering() {
        let (mut a, mut b) = pair();
        let mut out = Vec::new();
        let first = a.publish(TOPIC, b"x".to_vec(), 0, &mut out);
        let mut seen_by_b = Vec::new();
        b.on_rpc(0, Rpc::Message(first.clone()), 5, &mut out, &mut seen_by_b);
        assert_eq!(seen_by_b.len(), 1);
        // a restarts: a new node with nothing seen, handed its old message back by b.
        let mut restarted = GossipNode::new(0, GossipConfig::default(), vec![TOPIC]);
        restarted.connect(1);
        restarted.resume_sequence(a.sequence_next());
        let mut validate = Vec::new();
        for at_ms in [10, 11] {
            restarted.on_rpc(
                1,
                Rpc::Message(first.clone()),
                at_ms,
                &mut out,
                &mut validate,
            );
        }
        assert!(validate.is_empty());
        assert_eq!(restarted.counters.self_origin_rejected, 2);
        assert!(restarted.score(1) < 0.0);
        // Its next message has an id its peers have not seen.
        let next = restarted.publish(TOPIC, b"y".to_vec(), 12, &mut out);
        assert_eq!(next.id.sequence, first.id.sequence + 1);
        b.on_rpc(0, Rpc::Message(next), 13, &mut out, &mut seen_by_b);
        assert_eq!(seen_by_b.len(), 2, "not taken for the old one");
    }

    #[test]
    fn nodes_sharing_a_seen_table_see_only_their_own_column_and_a_new_node_starts_clean() {
        let table = SeenTable::shared(3);
        let node = |id: NodeId| {
            let mut node = GossipNode::with_seen_table(
                id,
                GossipConfig::default(),
                vec![TOPIC],
                table.clone(),
                id as usize,
            );
            for peer in (0..3).filter(|p| *p != id) {
                node.connect(peer);
            }
            node
        };
        let (mut a, mut b, mut c) = (node(0), node(1), node(2));
        let message = a.publish(TOPIC, b"x".to_vec(), 0, &mut Vec::new());
        let mut validate = Vec::new();
        b.on_rpc(
            0,
            Rpc::Message(message.clone()),
            5,
            &mut Vec::new(),
            &mut validate,
        );
        assert_eq!(validate.len(), 1, "b had not seen it, though a had");
        // b restarts: its memory, seen cache included, is gone.
        drop(b);
        let mut b = node(1);
        validate.clear();
        b.on_rpc(
            0,
            Rpc::Message(message.clone()),
            6,
            &mut Vec::new(),
            &mut validate,
        );
        assert_eq!(validate.len(), 1, "a new node has seen nothing");
        c.on_rpc(
            0,
            Rpc::Message(message.clone()),
            7,
            &mut Vec::new(),
            &mut validate,
        );
        c.on_rpc(
            1,
            Rpc::Message(message.clone()),
            8,
            &mut Vec::new(),
            &mut validate,
        );
        assert_eq!(validate.len(), 2);
        assert_eq!(c.counters.duplicates_received, 1);
        // The seen cache expires after duplicate_cache_time, and the slot goes with the
        // last holder.
        let expired_ms = GossipConfig::default().duplicate_cache_time_ms + 10;
        for node in [&mut a, &mut b, &mut c] {
            node.heartbeat(
                expired_ms,
                &mut ChaCha8Rng::seed_from_u64(1),
                &mut Vec::new(),
            );
        }
        assert_eq!(table.borrow().slots_used(), 0);
        validate.clear();
        c.on_rpc(
            0,
            Rpc::Message(message),
            expired_ms + 1,
            &mut Vec::new(),
            &mut validate,
        );
        assert_eq!(validate.len(), 1, "new again once expired");
    }

    #[test]
    fn rejected_senders_are_scored_down_pruned_and_not_regrafted() {
        let (mut a, mut b) = pair();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut out = Vec::new();
        b.heartbeat(0, &mut rng, &mut out);
        assert!(b.mesh(TOPIC).unwrap().contains(&0), "grafted its only peer");
        let message = a.publish(TOPIC, b"bad".to_vec(), 0, &mut Vec::new());
        let mut validate = Vec::new();
        b.on_rpc(0, Rpc::Message(message.clone()), 1, &mut out, &mut validate);
        b.report_validation(message.id, Acceptance::Reject, 2, &mut out);
        assert!(b.score(0) < 0.0);
        out.clear();
        b.heartbeat(1_000, &mut rng, &mut out);
        assert!(!b.mesh(TOPIC).unwrap().contains(&0), "pruned");
        assert!(matches!(out.as_slice(), [(0, Rpc::Prune { .. })]));
        out.clear();
        b.heartbeat(2_000, &mut rng, &mut out);
        assert!(out.iter().all(|(_, rpc)| !matches!(rpc, Rpc::Graft { .. })));
    }

    #[test]
    fn ihave_brings_a_missed_message_through_iwant() {
        // a keeps a mesh of one, so of its two peers one is outside the mesh and hears of
        // a's messages only through IHAVE.
        let config = GossipConfig {
            mesh_n: 1,
            mesh_n_low: 1,
            mesh_n_high: 1,
            flood_publish: false,
            ..GossipConfig::default()
        };
        let mut a = GossipNode::new(0, config, vec![TOPIC]);
        a.connect(1);
        a.connect(2);
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let mut out = Vec::new();
        a.heartbeat(0, &mut rng, &mut out);
        let in_mesh = *a.mesh(TOPIC).unwrap().iter().next().unwrap();
        let outside = 3 - in_mesh;
        out.clear();
        let message = a.publish(TOPIC, b"m".to_vec(), 10, &mut out);
        assert!(matches!(out.as_slice(), [(to, Rpc::Message(_))] if *to == in_mesh));
        out.clear();
        a.heartbeat(1_000, &mut rng, &mut out);
        let ids = out
            .iter()
            .find_map(|(to, rpc)| match rpc {
                Rpc::IHave { ids, .. } if *to == outside => Some(ids.clone()),
                _ => None,
            })
            .expect("the peer outside the mesh gets an IHAVE");
        assert_eq!(ids, vec![message.id].into());
        // The outside peer has not seen it, so it asks; a answers from its cache.
        let mut c = GossipNode::new(outside, config, vec![TOPIC]);
        c.connect(0);
        let mut asked = Vec::new();
        c.on_rpc(
            0,
            Rpc::IHave { topic: TOPIC, ids },
            1_001,
            &mut asked,
            &mut Vec::new(),
        );
        let [(0, Rpc::IWant { ids })] = asked.as_slice() else {
            panic!("expected one IWANT, got {asked:?}");
        };
        let mut replies = Vec::new();
        a.on_rpc(
            outside,
            Rpc::IWant { ids: ids.clone() },
            1_002,
            &mut replies,
            &mut Vec::new(),
        );
        assert!(
            matches!(replies.as_slice(), [(to, Rpc::Message(m))] if *to == outside && m.id == message.id)
        );
        // After history_length heartbeats the message has left the cache: no more repair.
        for beat in 2..=6 {
            a.heartbeat(beat * 1_000, &mut rng, &mut Vec::new());
        }
        let mut late = Vec::new();
        a.on_rpc(
            outside,
            Rpc::IWant {
                ids: vec![message.id],
            },
            7_000,
            &mut late,
            &mut Vec::new(),
        );
        assert!(late.is_empty());
    }

    #[test]
    fn a_peer_is_grafted_as_its_subscription_arrives_while_the_mesh_is_low() {
        let config = GossipConfig::default();
        let mut hub = GossipNode::new(0, config, vec![TOPIC]);
        let mut out = Vec::new();
        for peer in 1..=7 {
            hub.connected(peer, false, &mut out);
            hub.on_rpc(
                peer,
                Rpc::Subscribe {
                    topics: vec![TOPIC],
                },
                1,
                &mut out,
                &mut Vec::new(),
            );
        }
        // mesh_n_low (5) peers were grafted on arrival, the rest wait for heartbeats.
        assert_eq!(hub.mesh(TOPIC).unwrap().len(), config.mesh_n_low);
        let grafts = out
            .iter()
            .filter(|(_, rpc)| matches!(rpc, Rpc::Graft { .. }))
            .count();
        assert_eq!(grafts, config.mesh_n_low);
    }

    #[test]
    fn a_full_mesh_refuses_inbound_grafts_but_not_peers_it_dialled() {
        let config = GossipConfig::default();
        let mut hub = GossipNode::new(0, config, vec![TOPIC]);
        let high = config.mesh_n_high as NodeId;
        for peer in 1..=high {
            hub.connect(peer);
            hub.on_rpc(
                peer,
                Rpc::Graft { topic: TOPIC },
                1,
                &mut Vec::new(),
                &mut Vec::new(),
            );
        }
        assert_eq!(hub.mesh(TOPIC).unwrap().len(), config.mesh_n_high);
        let mut out = Vec::new();
        hub.connect(high + 1);
        hub.on_rpc(
            high + 1,
            Rpc::Graft { topic: TOPIC },
            2,
            &mut out,
            &mut Vec::new(),
        );
        assert!(matches!(out.as_slice(), [(p, Rpc::Prune { .. })] if *p == high + 1));
        out.clear();
        hub.connected(high + 2, true, &mut out);
        hub.on_rpc(
            high + 2,
            Rpc::Subscribe {
                topics: vec![TOPIC],
            },
            2,
            &mut out,
            &mut Vec::new(),
        );
        out.clear();
        hub.on_rpc(
            high + 2,
            Rpc::Graft { topic: TOPIC },
            3,
            &mut out,
            &mut Vec::new(),
        );
        assert!(out.is_empty());
        assert!(hub.mesh(TOPIC).unwrap().contains(&(high + 2)));
        // At mesh_n_high the heartbeat trims back to mesh_n, keeping the dialled peer
        // (one of the mesh_outbound_min it must keep).
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        hub.heartbeat(1_000, &mut rng, &mut out);
        assert_eq!(hub.mesh(TOPIC).unwrap().len(), config.mesh_n);
        assert!(hub.mesh(TOPIC).unwrap().contains(&(high + 2)));
    }

    #[test]
    fn an_id_is_asked_once_while_its_promise_is_open_and_answered_three_times_at_most() {
        let config = GossipConfig {
            flood_publish: false,
            ..GossipConfig::default()
        };
        let mut author = GossipNode::new(0, config, vec![TOPIC]);
        let mut asker = GossipNode::new(1, config, vec![TOPIC]);
        author.connect(1);
        asker.connect(0);
        asker.connect(2);
        let message = author.publish(TOPIC, b"m".to_vec(), 0, &mut Vec::new());
        let ids = vec![message.id];
        let mut out = Vec::new();
        asker.on_rpc(
            0,
            Rpc::IHave {
                topic: TOPIC,
                ids: ids.clone().into(),
            },
            1,
            &mut out,
            &mut Vec::new(),
        );
        asker.on_rpc(
            2,
            Rpc::IHave {
                topic: TOPIC,
                ids: ids.clone().into(),
            },
            2,
            &mut out,
            &mut Vec::new(),
        );
        assert_eq!(
            out.len(),
            1,
            "the second IHAVE finds the promise open: {out:?}"
        );
        out.clear();
        // After iwant_followup_time the promise has lapsed (at a heartbeat): ask again.
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        asker.heartbeat(config.iwant_followup_time_ms + 2, &mut rng, &mut Vec::new());
        asker.on_rpc(
            2,
            Rpc::IHave {
                topic: TOPIC,
                ids: ids.clone().into(),
            },
            3_003,
            &mut out,
            &mut Vec::new(),
        );
        assert!(matches!(out.as_slice(), [(2, Rpc::IWant { .. })]));
        // The author answers one peer's IWANT for one message gossip_retransmission times.
        let mut answers = Vec::new();
        for at in 0..5 {
            author.on_rpc(
                1,
                Rpc::IWant { ids: ids.clone() },
                10 + at,
                &mut answers,
                &mut Vec::new(),
            );
        }
        assert_eq!(answers.len(), config.gossip_retransmission as usize);
    }

    #[test]
    fn a_message_is_not_forwarded_to_peers_that_sent_it_during_validation() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut relay = GossipNode::new(0, GossipConfig::default(), vec![TOPIC]);
        for peer in 1..=6 {
            relay.connect(peer);
        }
        relay.heartbeat(0, &mut rng, &mut Vec::new());
        let mesh: Vec<NodeId> = relay.mesh(TOPIC).unwrap().iter().copied().collect();
        let mut author = GossipNode::new(9, GossipConfig::default(), vec![TOPIC]);
        let message = author.publish(TOPIC, b"m".to_vec(), 0, &mut Vec::new());
        let mut validate = Vec::new();
        let mut out = Vec::new();
        relay.on_rpc(
            mesh[0],
            Rpc::Message(message.clone()),
            1,
            &mut out,
            &mut validate,
        );
        relay.on_rpc(
            mesh[1],
            Rpc::Message(message.clone()),
            2,
            &mut out,
            &mut validate,
        );
        assert_eq!(validate.len(), 1);
        relay.report_validation(message.id, Acceptance::Accept, 3, &mut out);
        let sent_to: Vec<NodeId> = out.iter().map(|(to, _)| *to).collect();
        assert_eq!(sent_to, mesh[2..].to_vec());
    }
}
