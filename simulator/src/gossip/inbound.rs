//! What reaches a gossip node from outside: RPCs from its peers (messages, deduplicated
//! by the seen cache and handed to the application for validation; subscriptions;
//! IHAVE, answered with IWANT within upstream's limits; IWANT, answered from the message
//! cache; GRAFT and PRUNE), and the application's verdict on each message, which forwards
//! it to the mesh or, for a rejection, penalises (P4) the peer that sent it and every
//! peer that sent a copy while it was validated.

use std::rc::Rc;

use super::{Acceptance, GossipMessage, GossipNode, MessageId, NodeId, Rpc, ToValidate};

/// IHAVEs handled per peer per heartbeat (upstream `max_ihave_messages_heartbeat`).
const IHAVE_PER_PEER_PER_HEARTBEAT_MAX: u32 = 10;

impl GossipNode {
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

    /// The application's verdict on a message from [`ToValidate`]. Returns the message
    /// when this verdict accepted it (the first Accept of a message still cached).
    pub fn report_validation(
        &mut self,
        id: MessageId,
        acceptance: Acceptance,
        now_ms: u64,
        out: &mut Vec<(NodeId, Rpc)>,
    ) -> Option<Rc<GossipMessage>> {
        let _ = now_ms;
        match acceptance {
            Acceptance::Accept => {
                let Some(cached) = self.cached.get_mut(&id) else {
                    self.counters.accepted_after_eviction += 1;
                    return None;
                };
                if cached.validated {
                    return None;
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
                Some(message)
            }
            Acceptance::Reject | Acceptance::Ignore => {
                // Upstream drops the message from its cache either way; a rejection costs
                // the sender and every peer that sent a copy while it was validated.
                let cached = self.uncache(&id)?;
                if acceptance == Acceptance::Reject {
                    self.counters.rejected += 1;
                    for peer in cached.from.into_iter().chain(cached.originating) {
                        *self.invalid.entry(peer).or_insert(0.0) += 1.0;
                    }
                }
                None
            }
        }
    }
}
