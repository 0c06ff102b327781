//! A model of gossipsub v1.1 as the node configures it, one instance per simulated node.
//! Sans-IO like every core: RPCs and heartbeats in (with `now`), RPCs to send and
//! messages to validate out. The world ([`crate::world`]) delivers RPCs over the network
//! model; the application's verdict comes back through [`GossipNode::report_validation`].
//!
//! What it follows, with the node's parameter names: mesh degree `mesh_n` (D) kept within
//! `mesh_n_low`..=`mesh_n_high` at each heartbeat, GRAFT/PRUNE with `prune_backoff`,
//! IHAVE to `gossip_lazy` non-mesh peers from the last `history_gossip` heartbeats of the
//! message cache (`history_length` windows) and IWANT answered from it, the seen-cache
//! (`duplicate_cache_time`), flood publishing of own messages, validation before
//! forwarding, and the P4 penalty for rejected messages (peers below zero are pruned and
//! not grafted; below the graylist threshold their RPCs are ignored).
//!
//! What it leaves out, deliberately: message and RPC sizes (no bandwidth model), P1-P3
//! and P5-P7 scoring, opportunistic grafting, peer exchange, IDONTWANT, fanout for topics
//! a node does not join (every simulated node joins every topic).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rustc_hash::FxHashMap;
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
    IHave {
        topic: &'static str,
        ids: Vec<MessageId>,
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

/// The node's gossip parameters (`[gossip]` in the node's config, times in ms).
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
}

impl Default for GossipConfig {
    /// The node's defaults (node/src/default_config.toml).
    fn default() -> Self {
        GossipConfig {
            mesh_n: 6,
            mesh_n_low: 4,
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
}

/// Entries in the seen cache, at most; past it the oldest go first (and are counted).
pub const SEEN_MAX: usize = 200_000;

pub struct GossipNode {
    id: NodeId,
    config: GossipConfig,
    topics: Vec<&'static str>,
    peers: BTreeSet<NodeId>,
    mesh: BTreeMap<&'static str, BTreeSet<NodeId>>,
    backoff_until_ms: BTreeMap<(&'static str, NodeId), u64>,
    /// Looked up for every id of every IHAVE and never iterated, so a hash map (its
    /// order never reaches the run): in large runs a B-tree costs a cache miss per level.
    seen: FxHashMap<MessageId, u64>,
    seen_order: VecDeque<(u64, MessageId)>,
    /// Message cache: one window of ids per heartbeat, newest first.
    windows: VecDeque<Vec<MessageId>>,
    cached: BTreeMap<MessageId, Rc<GossipMessage>>,
    /// Messages waiting for the application's verdict, with the peer they came from.
    validating: BTreeMap<MessageId, (Rc<GossipMessage>, NodeId)>,
    /// P4: invalid messages per peer, decaying.
    invalid: BTreeMap<NodeId, f64>,
    sequence_next: u64,
    pub counters: GossipCounters,
}

impl GossipNode {
    pub fn new(id: NodeId, config: GossipConfig, topics: Vec<&'static str>) -> Self {
        assert!(config.mesh_n_low <= config.mesh_n && config.mesh_n <= config.mesh_n_high);
        assert!(config.history_gossip <= config.history_length && config.history_length > 0);
        GossipNode {
            id,
            config,
            mesh: topics.iter().map(|t| (*t, BTreeSet::new())).collect(),
            topics,
            peers: BTreeSet::new(),
            backoff_until_ms: BTreeMap::new(),
            seen: FxHashMap::default(),
            seen_order: VecDeque::new(),
            windows: VecDeque::from(vec![Vec::new()]),
            cached: BTreeMap::new(),
            validating: BTreeMap::new(),
            invalid: BTreeMap::new(),
            sequence_next: 0,
            counters: GossipCounters::default(),
        }
    }

    pub fn id(&self) -> NodeId {
        self.id
    }

    pub fn mesh(&self, topic: &str) -> Option<&BTreeSet<NodeId>> {
        self.mesh.get(topic)
    }

    pub fn peers(&self) -> &BTreeSet<NodeId> {
        &self.peers
    }

    /// The peer's score: only P4 is modelled.
    pub fn score(&self, peer: NodeId) -> f64 {
        let count = self.invalid.get(&peer).copied().unwrap_or(0.0);
        self.config.invalid_message_weight * count * count
    }

    pub fn connect(&mut self, peer: NodeId) {
        assert_ne!(peer, self.id);
        self.peers.insert(peer);
    }

    /// A connection closed: the peer leaves every mesh at once, as in libp2p.
    pub fn disconnect(&mut self, peer: NodeId) {
        self.peers.remove(&peer);
        for mesh in self.mesh.values_mut() {
            mesh.remove(&peer);
        }
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
        self.remember(&message, now_ms);
        let targets: Vec<NodeId> = if self.config.flood_publish {
            self.peers
                .iter()
                .copied()
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

    fn remember(&mut self, message: &Rc<GossipMessage>, now_ms: u64) {
        self.mark_seen(message.id, now_ms);
        self.windows[0].push(message.id);
        self.cached.insert(message.id, message.clone());
    }

    fn mark_seen(&mut self, id: MessageId, now_ms: u64) {
        if self.seen.len() >= SEEN_MAX {
            if let Some((_, oldest)) = self.seen_order.pop_front() {
                self.seen.remove(&oldest);
                self.counters.seen_evicted += 1;
            }
        }
        self.seen.insert(id, now_ms);
        self.seen_order.push_back((now_ms, id));
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
                if self.seen.contains_key(&message.id) {
                    self.counters.duplicates_received += 1;
                    return;
                }
                self.mark_seen(message.id, now_ms);
                self.validating.insert(message.id, (message.clone(), from));
                validate.push(ToValidate { message, from });
            }
            Rpc::IHave { topic, ids } => {
                if self.score(from) < self.config.gossip_threshold || !self.mesh.contains_key(topic)
                {
                    return;
                }
                let wanted: Vec<MessageId> = ids
                    .into_iter()
                    .filter(|id| !self.seen.contains_key(id))
                    .take(self.config.ihave_ids_max)
                    .collect();
                if !wanted.is_empty() {
                    self.counters.iwant_sent += 1;
                    out.push((from, Rpc::IWant { ids: wanted }));
                }
            }
            Rpc::IWant { ids } => {
                for id in ids.into_iter().take(self.config.ihave_ids_max) {
                    if let Some(message) = self.cached.get(&id).cloned() {
                        self.send_message(from, &message, out);
                    }
                }
            }
            Rpc::Graft { topic } => {
                let backed_off = self
                    .backoff_until_ms
                    .get(&(topic, from))
                    .is_some_and(|until| *until > now_ms);
                let negative = self.score(from) < 0.0;
                let Some(mesh) = self.mesh.get_mut(topic) else {
                    return;
                };
                if backed_off || negative {
                    self.counters.prunes_sent += 1;
                    out.push((from, Rpc::Prune { topic }));
                } else {
                    mesh.insert(from);
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

    /// The application's verdict on a message from [`ToValidate`].
    pub fn report_validation(
        &mut self,
        id: MessageId,
        acceptance: Acceptance,
        now_ms: u64,
        out: &mut Vec<(NodeId, Rpc)>,
    ) {
        let Some((message, from)) = self.validating.remove(&id) else {
            return;
        };
        match acceptance {
            Acceptance::Accept => {
                self.remember(&message, now_ms);
                let targets: Vec<NodeId> = self.mesh[message.topic]
                    .iter()
                    .copied()
                    .filter(|p| *p != from && *p != message.id.author)
                    .collect();
                for peer in targets {
                    self.send_message(peer, &message, out);
                }
            }
            Acceptance::Reject => {
                self.counters.rejected += 1;
                *self.invalid.entry(from).or_insert(0.0) += 1.0;
            }
            Acceptance::Ignore => {}
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
        self.backoff_until_ms.retain(|_, until| *until > now_ms);
        let topics = self.topics.clone();
        for topic in topics {
            self.maintain_mesh(topic, now_ms, rng, out);
            self.emit_gossip(topic, rng, out);
        }
        // Shift the message cache.
        self.windows.push_front(Vec::new());
        while self.windows.len() > self.config.history_length {
            for id in self.windows.pop_back().expect("non-empty") {
                self.cached.remove(&id);
            }
        }
        // Expire the seen cache.
        let ttl = self.config.duplicate_cache_time_ms;
        while let Some((at, id)) = self.seen_order.front().copied() {
            if now_ms.saturating_sub(at) < ttl {
                break;
            }
            self.seen_order.pop_front();
            if self.seen.get(&id) == Some(&at) {
                self.seen.remove(&id);
            }
        }
    }

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
        let size = self.mesh[topic].len();
        if size < config.mesh_n_low {
            let mut candidates: Vec<NodeId> = self
                .peers
                .iter()
                .copied()
                .filter(|p| {
                    !self.mesh[topic].contains(p)
                        && self.score(*p) >= 0.0
                        && self
                            .backoff_until_ms
                            .get(&(topic, *p))
                            .is_none_or(|until| *until <= now_ms)
                })
                .collect();
            candidates.shuffle(rng);
            for peer in candidates.into_iter().take(config.mesh_n - size) {
                self.mesh.get_mut(topic).expect("joined").insert(peer);
                self.counters.grafts_sent += 1;
                out.push((peer, Rpc::Graft { topic }));
            }
        } else if size > config.mesh_n_high {
            let mut members: Vec<NodeId> = self.mesh[topic].iter().copied().collect();
            members.shuffle(rng);
            for peer in members.into_iter().take(size - config.mesh_n) {
                self.prune(topic, peer, now_ms, out);
            }
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

    fn emit_gossip(
        &mut self,
        topic: &'static str,
        rng: &mut impl Rng,
        out: &mut Vec<(NodeId, Rpc)>,
    ) {
        let ids: Vec<MessageId> = self
            .windows
            .iter()
            .take(self.config.history_gossip)
            .flatten()
            .filter(|id| self.cached.get(id).is_some_and(|m| m.topic == topic))
            .copied()
            .take(self.config.ihave_ids_max)
            .collect();
        if ids.is_empty() {
            return;
        }
        let mut candidates: Vec<NodeId> = self
            .peers
            .iter()
            .copied()
            .filter(|p| {
                !self.mesh[topic].contains(p) && self.score(*p) >= self.config.gossip_threshold
            })
            .collect();
        candidates.shuffle(rng);
        for peer in candidates.into_iter().take(self.config.gossip_lazy) {
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
        assert_eq!(ids, vec![message.id]);
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
}
