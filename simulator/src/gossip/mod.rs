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
//! was validated), the P4 penalty for rejected messages and the P5 application score (the
//! sync shell's penalties; peers below zero are pruned and not grafted; below the graylist
//! threshold their RPCs are ignored).
//!
//! What it leaves out, deliberately: bandwidth (RPC sizes are estimated for the cost
//! figures, [`size`], but links carry any number of bytes at once, and so no IDONTWANT,
//! which upstream sends only for messages over 1000 bytes), P1-P3, P6 and P7
//! scoring (so no opportunistic grafting, which needs them), peer exchange, fanout for
//! topics a node does not join (every simulated node joins every topic), and the random
//! top-up to `mesh_n` of a non-flood publish (the node flood-publishes).
//!
//! Fidelity is measured, not assumed: `bench/src/bin/gossip_fidelity.rs` runs real libp2p
//! swarms and this model on one plan (docs/BENCHMARKS.md, "Gossip model fidelity").
//!
//! One [`GossipNode`] per simulated node: its state and its connections here, its
//! behaviour in one file per part of the protocol: [`config`] (the parameters, with the
//! node's defaults), `cache` (the seen cache and the message cache), `inbound` (RPCs from
//! peers and the application's verdicts) and `mesh` (the heartbeat: mesh maintenance with
//! GRAFT/PRUNE and backoff, IHAVE gossip, cache expiry).

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;

use rustc_hash::FxHashMap;

use crate::peer_set::PeerSet;
use crate::seen::SeenTable;

mod cache;
pub mod config;
mod inbound;
mod mesh;
pub mod size;
#[cfg(test)]
mod tests;

use cache::Cached;
pub use config::GossipConfig;

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
    /// P5: the application's score per peer (the sync shell's penalties), at most one
    /// entry per connected or recently connected peer; kept across a disconnect as
    /// upstream keeps a peer's score for its retention time.
    application: BTreeMap<NodeId, f64>,
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
            application: BTreeMap::new(),
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

    /// The peer's score: P4 (invalid messages) and P5 (the application's score, weighed
    /// as the node weighs it: `app_specific_weight = -invalid_message_weight`, so a sync
    /// penalty of `-count²` costs what `count` invalid gossip messages do).
    pub fn score(&self, peer: NodeId) -> f64 {
        let count = self.invalid.get(&peer).copied().unwrap_or(0.0);
        let application = self.application.get(&peer).copied().unwrap_or(0.0);
        self.config.invalid_message_weight * count * count
            - self.config.invalid_message_weight * application
    }

    /// Sets the peer's application score (P5); 0 forgets it.
    pub fn set_application_score(&mut self, peer: NodeId, score: f64) {
        if score == 0.0 {
            self.application.remove(&peer);
        } else {
            self.application.insert(peer, score);
        }
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
