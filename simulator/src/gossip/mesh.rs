//! The heartbeat of a gossip node, in upstream's order: scores decay, backoffs and IWANT
//! promises lapse, each topic's mesh is kept within `mesh_n_low`..`mesh_n_high` (negative
//! scores pruned, too few grafted, too many trimmed by score while keeping
//! `mesh_outbound_min` peers this node dialled), IHAVE gossip goes to non-mesh peers, and
//! the message and seen caches shift and expire. PRUNE and the backoff it starts live
//! here too, as the mesh is what they change.

use std::rc::Rc;

use rand::seq::SliceRandom;
use rand::Rng;

use super::{GossipNode, MessageId, NodeId, Rpc};

/// Heartbeats a pruned peer waits beyond its backoff before this node grafts it again
/// (upstream `backoff_slack`).
const BACKOFF_SLACK_HEARTBEATS: u64 = 1;

/// Mesh peers whose place is kept by score when the mesh is trimmed (upstream
/// `retain_scores`).
const RETAIN_SCORES: usize = 4;

impl GossipNode {
    pub(super) fn backed_off(&self, topic: &'static str, peer: NodeId, now_ms: u64) -> bool {
        self.backoff_until_ms
            .get(&(topic, peer))
            .is_some_and(|until| *until > now_ms)
    }

    /// Upstream's `is_backoff_with_slack`, used where this node itself decides to graft.
    pub(super) fn backed_off_with_slack(
        &self,
        topic: &'static str,
        peer: NodeId,
        now_ms: u64,
    ) -> bool {
        let slack_ms = BACKOFF_SLACK_HEARTBEATS * self.config.heartbeat_interval_ms;
        self.backoff_until_ms
            .get(&(topic, peer))
            .is_some_and(|until| until + slack_ms > now_ms)
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

    pub(super) fn prune(
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
