//! What Byzantine nodes do beyond or instead of what their cores do: on a timer
//! (replaying what they saw, flooding garbage, eclipse attempts, forged tokens, replays
//! of privileged messages, spammed ballot opens), on seeing a proposal or share (signing
//! twice, forging certificates, capturing envelopes), and in what they publish (invalid
//! shares, nothing at all for withholders). Honest nodes do none of it; the report's
//! invariants check that none of it got through. The ballot-specific
//! behaviours (equivocating votes, forged votes, open spam) live in the ballot shell,
//! since they are made of the ballot core's own messages.

use std::collections::BTreeSet;
use std::rc::Rc;

use crate::seals::ModelSeals;
use rand::Rng;
use x0_core::auth::envelope::{Envelope, Sealed};
use x0_core::auth::token::{RevocationList, Revoked, REVOCATION_IDS_PER_LIST_MAX};
use x0_core::certify::proposal::{Proposal, ProposalId};
use x0_core::certify::scheme::{signing_message, MemberIndex};
use x0_core::certify::threshold::ChangeClass;
use x0_core::certify::wire::{CertificateMessage, ShareMessage};
use x0_core::topics;

use super::{peer_key, Event, Sim};
use crate::crypto::SimSuite;
use crate::gossip::{GossipMessage, NodeId, Rpc};
use crate::scenario::Behaviour;
use crate::tokens::SimTokens;

/// Nodes that never sign nor forward: withholders, and Sybils.
pub(super) fn withholds(byzantine: &BTreeSet<Behaviour>) -> bool {
    byzantine.contains(&Behaviour::Withhold) || byzantine.contains(&Behaviour::Eclipse)
}

/// Messages a replaying Byzantine node keeps, and how often Byzantine timers fire.
const REPLAY_MAX: usize = 64;
const MISBEHAVE_INTERVAL_MS: u64 = 500;
/// A forger in a run with revocations publishes a forged list this often.
const FORGED_LIST_INTERVAL_MS: u64 = 5_000;
/// Garbage messages a flooding node publishes per timer.
const FLOOD_BURST: usize = 20;
/// Valid shares over random ids a `share_flood` member publishes per timer.
const SHARE_FLOOD_BURST: usize = 50;
/// Proposals on fresh slot names a `slot_burn` member publishes per timer.
const SLOT_BURN_BURST: usize = 10;

impl<S: SimSuite> Sim<S> {
    /// Starts the misbehaviour timer of a node with a timed behaviour, at a random phase.
    pub(super) fn start_misbehaving(&mut self, node: NodeId) {
        let byzantine = &self.nodes[node as usize].byzantine;
        let on_timer = [
            Behaviour::SpamOpens,
            Behaviour::Replay,
            Behaviour::Flood,
            Behaviour::Eclipse,
            Behaviour::ForgeTokens,
            Behaviour::ReplayPrivileged,
            Behaviour::ShareFlood,
            Behaviour::SlotBurn,
        ];
        if on_timer.iter().any(|b| byzantine.contains(b)) {
            let phase = self.engine.rng().gen_range(0..MISBEHAVE_INTERVAL_MS);
            self.schedule(phase, Event::Misbehave { node });
        }
    }

    /// One timer of a Byzantine node: every timed behaviour it has, then the next timer.
    pub(super) fn misbehave(&mut self, node: NodeId, now_ms: u64) {
        let behaviours = self.nodes[node as usize].byzantine.clone();
        if behaviours.contains(&Behaviour::Replay) {
            let recorded = &self.nodes[node as usize].recorded;
            if !recorded.is_empty() {
                let pick = self.engine.rng().gen_range(0..recorded.len());
                let (topic, data) = self.nodes[node as usize].recorded[pick].clone();
                self.stats.replays_published += 1;
                self.publish(node, topic, data);
            }
        }
        if behaviours.contains(&Behaviour::Flood) {
            for _ in 0..FLOOD_BURST {
                let length = self.engine.rng().gen_range(1..200);
                let garbage: Vec<u8> = (0..length).map(|_| self.engine.rng().gen()).collect();
                self.stats.flood_published += 1;
                self.publish(node, topics::SHARES, garbage);
            }
        }
        if let Some(target) = self.nodes[node as usize].eclipse_target {
            self.eclipse(node, target);
        }
        if behaviours.contains(&Behaviour::ForgeTokens) {
            self.publish_beyond_rights(node);
            let window_started = now_ms / FORGED_LIST_INTERVAL_MS
                != now_ms.saturating_sub(MISBEHAVE_INTERVAL_MS) / FORGED_LIST_INTERVAL_MS;
            if self.topics.contains(&topics::REVOCATIONS) && window_started {
                self.publish_forged_revocations(node, now_ms);
            }
        }
        if behaviours.contains(&Behaviour::ReplayPrivileged) {
            self.replay_privileged(node, now_ms);
        }
        if behaviours.contains(&Behaviour::SpamOpens) {
            self.spam_open(node);
        }
        if behaviours.contains(&Behaviour::ShareFlood) {
            self.share_flood(node);
        }
        if behaviours.contains(&Behaviour::SlotBurn) {
            self.slot_burn(node);
        }
        self.schedule(MISBEHAVE_INTERVAL_MS, Event::Misbehave { node });
    }

    /// A replaying node keeps what it receives (probes aside) to publish it again later.
    pub(super) fn record_for_replay(&mut self, node: NodeId, message: &GossipMessage) {
        let sim = &mut self.nodes[node as usize];
        if sim.byzantine.contains(&Behaviour::Replay) && message.topic != topics::PROBE {
            if sim.recorded.len() >= REPLAY_MAX {
                sim.recorded.pop_front();
            }
            sim.recorded
                .push_back((message.topic, message.data.clone()));
        }
    }

    /// One step of a Sybil's eclipse attempt: dial the target if not connected (refused
    /// when the target is at `connections_max`), then GRAFT it on every topic.
    fn eclipse(&mut self, sybil: NodeId, target: NodeId) {
        if !self.nodes[target as usize].up {
            return;
        }
        if !self.nodes[target as usize].gossip.peers().contains(&sybil) {
            let connections = self.nodes[target as usize].gossip.peers().len();
            if connections >= self.scenario.topology.connections_max as usize {
                self.stats.eclipse_dials_refused += 1;
                return;
            }
            self.links[sybil as usize].insert(target);
            self.links[target as usize].insert(sybil);
            self.dialled[sybil as usize].insert(target);
            self.stats.eclipse_connections += 1;
            self.open_connection(sybil, target);
        }
        for topic in self.topics.clone() {
            self.send(sybil, target, Rpc::Graft { topic });
        }
    }

    /// What a Byzantine node does on seeing a proposal or share, beyond what its core
    /// does (before its own gate: it reads every envelope).
    pub(super) fn misbehave_on_privileged(
        &mut self,
        node: NodeId,
        message: &Rc<GossipMessage>,
        now_ms: u64,
    ) {
        let behaviours = &self.nodes[node as usize].byzantine;
        if behaviours.contains(&Behaviour::ReplayPrivileged)
            && self.nodes[message.id.author as usize].byzantine.is_empty()
        {
            let sim = &mut self.nodes[node as usize];
            if sim.captured.len() >= REPLAY_MAX {
                sim.captured.pop_front();
            }
            sim.captured.push_back(message.clone());
            if sim.reinject.len() < REPLAY_MAX {
                sim.reinject.push_back((now_ms, message.clone()));
            }
        }
        if message.topic == topics::PROPOSALS {
            if let Ok(sealed) = Sealed::decode(&message.data) {
                self.misbehave_on_proposal(node, sealed.envelope.payload);
            }
        }
    }

    /// What a Byzantine member does on seeing a proposal, beyond what its core does.
    fn misbehave_on_proposal(&mut self, node: NodeId, data: &[u8]) {
        let behaviours = self.nodes[node as usize].byzantine.clone();
        if behaviours.is_empty() {
            return;
        }
        let Ok(proposal) = Proposal::decode(data) else {
            return;
        };
        let class = self.committee.class_of(&proposal.slot);
        if behaviours.contains(&Behaviour::ForgeTokens) {
            self.nodes[node as usize].last_proposal = Some((proposal.id(), class));
        }
        if behaviours.contains(&Behaviour::Equivocate) {
            // Signs whatever it sees, whatever it signed before for the slot.
            let id = proposal.id();
            let share = ShareMessage {
                class,
                id,
                member: node as MemberIndex,
                share: self.sign_as(node, class, &signing_message(&id)),
            };
            self.trace(format_args!("equivocate {node} {}", hex::encode(id.0)));
            self.publish_sealed(node, topics::SHARES, &share.encode());
        }
        if behaviours.contains(&Behaviour::ForgedCertificates) {
            let mut forged = proposal.clone();
            forged.payload = b"forged".to_vec();
            forged.proposer = peer_key(node).0;
            let id = forged.id();
            let t = x0_core::certify::threshold::faulty_max(self.committee.size());
            let certificate = CertificateMessage {
                proposal: forged,
                signers: (0..=t as MemberIndex).collect(),
                signature: self.sign_as(node, class, &signing_message(&id)),
            };
            self.trace(format_args!("forge {node} {}", hex::encode(id.0)));
            self.publish(node, topics::CERTIFICATES, certificate.encode());
        }
    }

    /// The privileged messages of a forger (each timer) or a member beyond its rights
    /// (each proposal it admits): a proposal (beyond rights, also one on a `charter/`
    /// slot), and from a forger a share for the last proposal it saw (signed with its key
    /// share if it has one, else zeros, in the name of member `node % committee size`).
    /// Sealed with the node's token: the forger's own authority's, or the member's real
    /// vote-only one.
    pub(super) fn publish_beyond_rights(&mut self, node: NodeId) {
        let behaviours = &self.nodes[node as usize].byzantine;
        let forger = behaviours.contains(&Behaviour::ForgeTokens);
        let mut slots = vec!["gossip/unauthorised"];
        if behaviours.contains(&Behaviour::ExceedRights) {
            slots.push("charter/unauthorised");
        }
        for slot in slots {
            let proposal = Proposal {
                epoch: self.committee.epoch,
                slot: slot.to_string(),
                payload: b"unauthorised".to_vec(),
                affected_ppm: 100_000,
                proposer: peer_key(node).0,
                nonce: self.engine.rng().gen(),
                timestamp_unix_ms: self.node_clock_ms(node),
            };
            let what = if forger {
                "forged_proposals"
            } else {
                "proposals_beyond_rights"
            };
            self.stats.count_attack(what, 1);
            self.publish_sealed(node, topics::PROPOSALS, &proposal.encode());
        }
        let last = self.nodes[node as usize].last_proposal;
        if let (true, Some((id, class))) = (forger, last) {
            let m = self.committee.size();
            let share = if (node as usize) < m {
                self.sign_as(node, class, &signing_message(&id))
            } else {
                [0; 96]
            };
            let message = ShareMessage {
                class,
                id,
                member: (node as usize % m) as MemberIndex,
                share,
            };
            self.stats.count_attack("forged_shares", 1);
            self.publish_sealed(node, topics::SHARES, &message.encode());
        }
    }

    /// A forger in a run with revocations: a list revoking every committee member but
    /// itself (as many as one list holds), signed by its own authority (the ids are
    /// public: every token names them), so that honest nodes would cut the committee off
    /// if they took it.
    fn publish_forged_revocations(&mut self, node: NodeId, now_ms: u64) {
        let entries: Vec<Revoked> = (0..self.committee.size() as NodeId)
            .filter(|member| *member != node && !self.forgers.contains_key(member))
            .take(REVOCATION_IDS_PER_LIST_MAX)
            .map(|member| self.revoked(member))
            .collect();
        if entries.is_empty() {
            return;
        }
        let list = RevocationList {
            sequence: now_ms,
            entries,
        };
        let forger = &self.forgers[&node];
        let mut entropy = [0u8; 32];
        entropy[..8].copy_from_slice(&now_ms.to_be_bytes());
        entropy[8..12].copy_from_slice(&node.to_be_bytes());
        let bytes = <S::Tokens as SimTokens>::mint_revocations(forger, &list, entropy);
        self.stats.count_attack("forged_revocations", 1);
        self.publish(node, topics::REVOCATIONS, bytes);
    }

    /// One timer of a `replay_privileged` node: one captured token presented in an
    /// envelope of its own (its seal is not the token's holder's), and the original of every capture whose
    /// seen-cache entries have lapsed everywhere re-injected, unchanged, to all its peers.
    fn replay_privileged(&mut self, node: NodeId, now_ms: u64) {
        let captured = self.nodes[node as usize].captured.len();
        if captured > 0 {
            let pick = self.engine.rng().gen_range(0..captured);
            let message = self.nodes[node as usize].captured[pick].clone();
            // The stolen token in an envelope the replayer seals as its own (it cannot
            // seal as the holder): a fresh nonce and its clock, the captured payload.
            if let Ok(sealed) = Sealed::decode(&message.data) {
                let nonce = self.engine.rng().gen();
                let data = Envelope {
                    nonce,
                    timestamp_unix_ms: self.node_clock_ms(node),
                    ..sealed.envelope
                }
                .seal(
                    message.topic,
                    &ModelSeals::new(self.seed).of(super::peer_key(node)),
                );
                self.stats.count_attack("replayed_as_own", 1);
                self.publish(node, message.topic, data);
            }
        }
        let lapsed_ms =
            self.gossip_config.duplicate_cache_time_ms + self.gossip_config.heartbeat_interval_ms;
        loop {
            let sim = &mut self.nodes[node as usize];
            match sim.reinject.front() {
                Some((at_ms, _)) if at_ms + lapsed_ms <= now_ms => {}
                _ => break,
            }
            let (_, message) = sim.reinject.pop_front().expect("front checked");
            let peers: Vec<NodeId> = sim.gossip.peers().iter().copied().collect();
            self.stats.count_attack("reinjected", 1);
            for peer in peers {
                self.send(node, peer, Rpc::Message(message.clone()));
            }
        }
    }

    /// `replay_privileged`: a peer that just connected (a node back from a crash starts
    /// with an empty seen cache) is handed every message the replayer captured, as
    /// gossip would hand it a message it has not seen.
    pub(super) fn hand_over_captured(&mut self, replayer: NodeId, peer: NodeId) {
        let sim = &self.nodes[replayer as usize];
        if !sim.up || !sim.byzantine.contains(&Behaviour::ReplayPrivileged) {
            return;
        }
        let mut messages: Vec<Rc<GossipMessage>> = sim
            .captured
            .iter()
            .cloned()
            .chain(sim.reinject.iter().map(|(_, message)| message.clone()))
            .collect();
        messages.sort_by_key(|message| message.id);
        messages.dedup_by_key(|message| message.id);
        self.stats
            .count_attack("handed_to_new_peers", messages.len() as u64);
        for message in messages {
            self.send(replayer, peer, Rpc::Message(message));
        }
    }

    /// `share_flood`: valid shares of this member for proposals nobody made.
    fn share_flood(&mut self, node: NodeId) {
        for _ in 0..SHARE_FLOOD_BURST {
            let id = ProposalId(self.engine.rng().gen());
            let class = ChangeClass::Standard;
            let share = ShareMessage {
                class,
                id,
                member: node as MemberIndex,
                share: self.sign_as(node, class, &signing_message(&id)),
            };
            self.stats.count_attack("flooded_shares", 1);
            self.publish_sealed(node, topics::SHARES, &share.encode());
        }
    }

    /// `slot_burn`: proposals of this member on slot names never used before.
    fn slot_burn(&mut self, node: NodeId) {
        for _ in 0..SLOT_BURN_BURST {
            let serial = self
                .stats
                .auth_attacks
                .get("burned_slots")
                .copied()
                .unwrap_or(0);
            let proposal = Proposal {
                epoch: self.committee.epoch,
                slot: format!("gossip/burn-{node}-{serial}"),
                payload: b"burn".to_vec(),
                affected_ppm: 0,
                proposer: peer_key(node).0,
                nonce: self.engine.rng().gen(),
                timestamp_unix_ms: self.node_clock_ms(node),
            };
            self.stats.count_attack("burned_slots", 1);
            self.publish_sealed(node, topics::PROPOSALS, &proposal.encode());
        }
    }

    /// A member's share over `message` with its own key (all a Byzantine member has).
    fn sign_as(&self, node: NodeId, class: ChangeClass, message: &[u8]) -> [u8; 96] {
        let keys = match class {
            ChangeClass::Standard => &self.keys.0,
            ChangeClass::Supermajority => &self.keys.1,
        };
        S::sign(keys, node as MemberIndex, message)
    }

    /// A Byzantine member's share: its real key share over the wrong message.
    pub(super) fn forged_share(&self, node: NodeId, encoded: &[u8]) -> Vec<u8> {
        let mut message = ShareMessage::decode(encoded).expect("own share encodes");
        message.share = self.sign_as(node, message.class, b"not the proposal");
        message.encode()
    }
}
