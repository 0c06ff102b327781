//! The ballot shell of a simulated node, as the node's ballot actor hosts
//! [`BallotBook`]: Snapshot hub polls (down while a `hub_down` fault covers the node),
//! gossip on the ballots topic after the node's gate, a tick at the book's next
//! deadline, and its actions carried out in order (store first, then publish). What the
//! book stores survives a crash and is restored on restart. Honest members vote as the
//! scenario's ballot says; Byzantine members equivocate, always vote yes, forge votes or
//! spam opens. Every honest decision is recorded with its certificate checked offline,
//! for the report's ballot invariants.

use std::rc::Rc;

use rand::Rng;
use sha2::{Digest, Sha256};
use x0_core::ballot::book::{Action as BallotAction, BallotBook};
use x0_core::ballot::certificate::Certificate;
use x0_core::ballot::effect::Effect;
use x0_core::ballot::effects::{carry_out, BallotEffects};
use x0_core::ballot::fallback::Mode;
use x0_core::ballot::rules::{faulty_max, Choice, Outcome};
use x0_core::ballot::verify::NodeSigner;
use x0_core::ballot::wire::{
    decode_evidence, decode_open, decode_vote, BallotId, Message, Open, Vote,
};
use x0_core::ids::{PeerKey, Verdict};
use x0_core::topics;

use super::{peer_key, withholds, Event, Origin, Sim, EPOCH_UNIX_MS};
use crate::ballots::{weak_outcome, Decision};
use crate::crypto::SimSuite;
use crate::gossip::{GossipMessage, MessageId, NodeId, Rpc};
use crate::model_crypto::Weakness;
use crate::report::BallotOpenRecord;
use crate::scenario::{Behaviour, Fault};

/// Outage attestations a `spam_opens` node keeps, at most (one per member).
const HEARD_ATTESTATIONS_MAX: usize = x0_core::ballot::wire::ELECTORATE_MAX;

impl<S: SimSuite> Sim<S> {
    /// Starts `node`'s ballot book from its store, and its hub polls (ballot runs only).
    pub(super) fn boot_ballots(&mut self, node: NodeId) {
        let Some(table) = self.ballot_keys.clone() else {
            return;
        };
        let mut book = BallotBook::new(
            table.node(self.seed, node),
            self.members.clone(),
            self.ballot_config,
        );
        let store = &self.nodes[node as usize].store.ballots;
        for encoded in store.opens.values() {
            if let Ok(open) = decode_open(encoded) {
                book.restore_ballot(open);
            }
        }
        if self.weakness != Weakness::BallotVotesForgotten {
            for encoded in store.votes.values() {
                if let Ok(vote) = decode_vote(encoded) {
                    book.restore_vote(vote);
                }
            }
        }
        for encoded in store.evidence.values() {
            if let Ok(evidence) = decode_evidence(encoded) {
                book.restore_evidence(evidence);
            }
        }
        for encoded in store.decided.values() {
            if let Ok(certificate) = Certificate::decode(encoded) {
                book.restore_decided(certificate);
            }
        }
        let open: Vec<BallotId> = store
            .opens
            .keys()
            .filter(|id| book.is_open(id))
            .copied()
            .collect();
        let restarted = self.nodes[node as usize].life > 0;
        let sim = &mut self.nodes[node as usize];
        sim.ballot = Some(book);
        sim.ballot_tick_at_ms = None;
        let interval = self.scenario.ballot.hub_poll_interval_ms;
        let phase = self.engine.rng().gen_range(0..interval);
        self.schedule(phase, Event::HubPoll { node });
        // A member back from a crash while a ballot is open votes again: its vote may
        // have been lost with its gossip state, and the next sequence replaces it.
        if restarted {
            for id in open {
                self.schedule_vote(node, id);
            }
        }
        self.plan_ballot_tick(node);
    }

    fn hub_down(&self, node: NodeId, now_ms: u64) -> bool {
        self.scenario.faults.iter().any(|fault| match fault {
            Fault::HubDown {
                at_ms,
                until_ms,
                nodes,
            } => nodes.contains(node) && *at_ms <= now_ms && until_ms.is_none_or(|u| now_ms < u),
            _ => false,
        })
    }

    /// One Snapshot poll: its outcome goes to the book, which attests an outage after
    /// the bound.
    pub(super) fn hub_poll(&mut self, node: NodeId, now_ms: u64) {
        let healthy = !self.hub_down(node, now_ms);
        let clock = self.node_clock_ms(node);
        let mut actions = Vec::new();
        if let Some(book) = self.nodes[node as usize].ballot.as_mut() {
            book.hub_observed(healthy, clock, &mut actions);
        }
        self.carry_out_ballot(node, actions);
        self.plan_ballot_tick(node);
        let interval = self.scenario.ballot.hub_poll_interval_ms;
        self.schedule(interval, Event::HubPoll { node });
    }

    /// Plans the tick at the book's next deadline (on the node's clock), keeping an
    /// earlier one already planned.
    pub(super) fn plan_ballot_tick(&mut self, node: NodeId) {
        let now_ms = self.engine.now_ms();
        let sim = &self.nodes[node as usize];
        let Some(due_clock_ms) = sim.ballot.as_ref().and_then(|b| b.next_tick_ms()) else {
            return;
        };
        let offset_ms = EPOCH_UNIX_MS as i64 + sim.skew_ms;
        let at_ms = ((due_clock_ms as i64 - offset_ms).max(0) as u64).max(now_ms + 1);
        if sim
            .ballot_tick_at_ms
            .is_some_and(|t| t >= now_ms && t <= at_ms)
        {
            return;
        }
        self.nodes[node as usize].ballot_tick_at_ms = Some(at_ms);
        self.schedule(at_ms - now_ms, Event::BallotTick { node });
    }

    pub(super) fn ballot_tick(&mut self, node: NodeId) {
        let clock = self.node_clock_ms(node);
        let mut actions = Vec::new();
        if let Some(book) = self.nodes[node as usize].ballot.as_mut() {
            book.tick(clock, &mut actions);
        }
        self.carry_out_ballot(node, actions);
        self.plan_ballot_tick(node);
    }

    /// The scenario's ballot `index`: its opener asks its book to open it (refused unless
    /// f+1 members' attestations put it in fallback mode).
    pub(super) fn open_ballot(&mut self, index: usize, now_ms: u64) {
        let spec = self.scenario.ballots[index].clone();
        let node = spec.opener;
        let mut record = BallotOpenRecord {
            index,
            at_ms: now_ms,
            id: None,
            refused: None,
        };
        let clock = self.node_clock_ms(node);
        let effect: Effect = spec.effect.parse().expect("a validated scenario");
        let mut actions = Vec::new();
        match self.nodes[node as usize].ballot.as_mut() {
            None => record.refused = Some(format!("node {node} is down")),
            Some(book) => {
                match book.open(&spec.title, effect, spec.duration_ms, clock, &mut actions) {
                    Ok(id) => {
                        self.ballot_ids.insert(id, index);
                        record.id = Some(id);
                    }
                    Err(error) => record.refused = Some(error.to_string()),
                }
            }
        }
        match (&record.id, &record.refused) {
            (Some(id), _) => self.trace(format_args!(
                "ballot {index} opened by {node}: {}",
                hex::encode(id.0)
            )),
            (None, refused) => self.trace(format_args!(
                "ballot {index} by {node} refused: {}",
                refused.as_deref().unwrap_or("")
            )),
        }
        self.stats.ballot_opens.push(record);
        self.carry_out_ballot(node, actions);
        self.plan_ballot_tick(node);
    }

    /// Plans `node`'s vote on `id` after the scenario's voting delay (members, and
    /// vote forgers, which need not be).
    fn schedule_vote(&mut self, node: NodeId, id: BallotId) {
        let member = (node as usize) < self.committee.size();
        if !member
            && !self.nodes[node as usize]
                .byzantine
                .contains(&Behaviour::ForgeVotes)
        {
            return;
        }
        let settings = &self.scenario.ballot;
        let (min, max) = (settings.vote_delay_ms_min, settings.vote_delay_ms_max);
        let delay_ms = self.engine.rng().gen_range(min..=max);
        self.schedule(delay_ms, Event::Vote { node, ballot: id });
    }

    /// `node` votes on `id` as its behaviour says: honest members on the scenario's
    /// ballots only, with the ballot's choice for them.
    pub(super) fn vote(&mut self, node: NodeId, id: BallotId) {
        let behaviours = self.nodes[node as usize].byzantine.clone();
        if !self.nodes[node as usize]
            .ballot
            .as_ref()
            .is_some_and(|b| b.is_open(&id))
        {
            return;
        }
        if behaviours.contains(&Behaviour::ForgeVotes) {
            self.forge_votes(node, id);
        }
        if behaviours.contains(&Behaviour::EquivocateVotes) {
            self.equivocate(node, id);
            return;
        }
        let choice = if behaviours.contains(&Behaviour::VoteYesAlways) {
            Some(Choice::Yes)
        } else if behaviours.is_empty() {
            self.ballot_ids.get(&id).map(|index| {
                let honest: Vec<NodeId> = (0..self.committee.size() as NodeId)
                    .filter(|m| self.nodes[*m as usize].byzantine.is_empty())
                    .collect();
                self.scenario.ballots[*index].choice_of(node, &honest)
            })
        } else {
            None
        };
        let Some(choice) = choice else {
            return;
        };
        let clock = self.node_clock_ms(node);
        let mut actions = Vec::new();
        let book = self.nodes[node as usize]
            .ballot
            .as_mut()
            .expect("checked above");
        match book.vote(id, choice, clock, &mut actions) {
            Ok(sequence) => self.trace(format_args!(
                "vote {node} {} {} #{sequence}",
                &hex::encode(id.0)[..12],
                choice.as_str()
            )),
            Err(error) => self.trace(format_args!("vote {node} refused: {error}")),
        }
        self.carry_out_ballot(node, actions);
    }

    /// A gossip message of `node`'s own that it hands to chosen peers itself (not through
    /// its mesh): the next message id, sealed in its envelope.
    fn own_message(&mut self, node: NodeId, payload: &[u8]) -> Rc<GossipMessage> {
        let data = self.seal(node, topics::BALLOTS, payload);
        let gossip = &mut self.nodes[node as usize].gossip;
        let sequence = gossip.sequence_next();
        gossip.resume_sequence(sequence + 1);
        Rc::new(GossipMessage {
            id: MessageId {
                author: node,
                sequence,
            },
            topic: topics::BALLOTS,
            data,
            published_at_ms: self.engine.now_ms(),
        })
    }

    /// The side of the partition in force that `node` is on (its first group).
    fn side_of(&self, node: NodeId) -> Option<usize> {
        let (groups, _, _) = self.partitions.as_ref()?;
        groups.iter().position(|g| g.contains(node))
    }

    fn signed_vote(&self, node: NodeId, id: BallotId, voter: NodeId, choice: Choice) -> Vote {
        let keys = self
            .ballot_keys
            .as_ref()
            .expect("ballot runs have keys")
            .node(self.seed, node);
        let mut vote = Vote {
            ballot: id,
            voter: peer_key(voter),
            choice,
            sequence: 1,
            signature: Vec::new(),
        };
        vote.signature = keys.sign(&vote.signed_bytes());
        vote
    }

    /// `equivocate_votes`: yes and no under one sequence, each to part of its peers
    /// (during a partition, yes to the first group and no to the rest).
    fn equivocate(&mut self, node: NodeId, id: BallotId) {
        let yes = self.signed_vote(node, id, node, Choice::Yes).encode();
        let no = self.signed_vote(node, id, node, Choice::No).encode();
        let yes = self.own_message(node, &yes);
        let no = self.own_message(node, &no);
        let split = self.partitions.is_some();
        let peers: Vec<NodeId> = self.nodes[node as usize]
            .gossip
            .peers()
            .iter()
            .copied()
            .collect();
        self.trace(format_args!(
            "equivocate-vote {node} {}",
            &hex::encode(id.0)[..12]
        ));
        self.stats.count_ballot_attack("equivocating_votes", 2);
        for (rank, peer) in peers.into_iter().enumerate() {
            let to_yes = if split {
                self.side_of(peer) == Some(0)
            } else {
                rank % 2 == 0
            };
            let message = if to_yes { yes.clone() } else { no.clone() };
            self.send(node, peer, Rpc::Message(message));
        }
    }

    /// `forge_votes`: its own vote with a broken signature, and a vote in another
    /// member's name signed with its own key.
    fn forge_votes(&mut self, node: NodeId, id: BallotId) {
        let m = self.committee.size() as NodeId;
        let mut broken = self.signed_vote(node, id, node, Choice::Yes);
        broken.signature = vec![0; 64];
        let other = (node + 1) % m;
        let impersonated = self.signed_vote(node, id, other, Choice::Yes);
        for vote in [broken, impersonated] {
            self.stats.count_ballot_attack("forged_votes", 1);
            self.publish_sealed(node, topics::BALLOTS, &vote.encode());
        }
    }

    /// `spam_opens`: a new ballot every timer once f+1 fresh attestations reached it,
    /// past its own rate limit (the receivers' must hold).
    pub(super) fn spam_open(&mut self, node: NodeId) {
        let clock = self.node_clock_ms(node);
        let config = self.ballot_config;
        let need = faulty_max(self.members.len() as u64) as usize + 1;
        let attestations: Vec<_> = self.nodes[node as usize]
            .heard_attestations
            .values()
            .filter(|a| {
                a.attested_at_unix_ms
                    .saturating_add(config.fallback.attestation_ttl_ms)
                    >= clock
                    && a.attested_at_unix_ms <= clock
            })
            .take(need)
            .cloned()
            .collect();
        if attestations.len() < need {
            return;
        }
        let spam = self
            .stats
            .ballot_attacks
            .get("spam_opens")
            .copied()
            .unwrap_or(0);
        let mut open = Open {
            opener: peer_key(node),
            title: format!("spam {spam}"),
            effect: Effect::LiftHalt,
            opened_at_unix_ms: clock,
            deadline_unix_ms: clock + config.duration_ms_min,
            electorate: self.members.clone(),
            attestations,
            signature: Vec::new(),
        };
        let keys = self
            .ballot_keys
            .as_ref()
            .expect("ballot runs have keys")
            .node(self.seed, node);
        open.signature = keys.sign(&open.signed_bytes());
        self.stats.count_ballot_attack("spam_opens", 1);
        self.publish_sealed(node, topics::BALLOTS, &open.encode());
    }

    /// A message on the ballots topic reached `node`'s validation: its gate, then its
    /// book. An equivocator bridging a partition relays honest members' messages only
    /// within the author's side.
    pub(super) fn validate_ballot(
        &mut self,
        node: NodeId,
        message: &Rc<GossipMessage>,
        origin: Origin,
        clock_ms: u64,
        from: Option<NodeId>,
    ) {
        let Some((holder, payload, _, nonce)) = self.admit(node, message, origin, clock_ms) else {
            return;
        };
        let sim = &mut self.nodes[node as usize];
        let honest = sim.byzantine.is_empty();
        let Some(book) = sim.ballot.as_mut() else {
            self.report(
                node,
                origin,
                Verdict::Ignore {
                    reason: "no_ballots",
                },
            );
            return;
        };
        let mut actions = Vec::new();
        let verdict = book.on_message(&holder, payload, clock_ms, &mut actions);
        if sim.byzantine.contains(&Behaviour::SpamOpens) {
            if let Ok(Message::Attestation(attestation)) = Message::decode(payload) {
                remember_attestation(&mut sim.heard_attestations, attestation);
            }
        }
        if honest {
            if let Verdict::Reject { reason } | Verdict::Ignore { reason } = verdict {
                *self.stats.ballot_refused.entry(reason).or_insert(0) += 1;
            }
        }
        if let Verdict::Ignore { reason } = verdict {
            if x0_core::verdicts::not_yet(reason) {
                self.forget_admission(node, &holder, &nonce);
            }
        }
        let sim = &mut self.nodes[node as usize];
        // Only gossip is relayed: the bridge plays on what gossip carries.
        let bridge = sim.byzantine.contains(&Behaviour::EquivocateVotes)
            && self.partitions.is_some()
            && from.is_some();
        self.carry_out_ballot(node, actions);
        // Its accomplices' votes are not relayed: they reach each side as sent.
        let honest_author = self.nodes[message.id.author as usize].byzantine.is_empty();
        if bridge {
            self.report(node, origin, super::WITHHELD);
            if !honest_author {
                self.plan_ballot_tick(node);
                return;
            }
            let side = self.side_of(message.id.author);
            let peers: Vec<NodeId> = self.nodes[node as usize]
                .gossip
                .peers()
                .iter()
                .copied()
                .filter(|p| Some(*p) != from && *p != message.id.author && self.side_of(*p) == side)
                .collect();
            for peer in peers {
                self.send(node, peer, Rpc::Message(message.clone()));
            }
        } else {
            self.report(node, origin, verdict);
        }
        self.plan_ballot_tick(node);
    }

    /// Carries out a ballot book's actions through the interpreter the actor runs too
    /// (x0_core::ballot::effects): store, then publish.
    pub(super) fn carry_out_ballot(&mut self, node: NodeId, actions: Vec<BallotAction>) {
        let now_ms = self.engine.now_ms();
        let mut shell = BallotShell {
            sim: self,
            node,
            now_ms,
        };
        // The modelled store never fails a write.
        let stored = carry_out(&mut shell, actions);
        debug_assert!(stored.is_ok());
    }

    /// An honest node's decision: the outcome it acts on (the weakened rule's, in the
    /// mutation check) and its certificate checked offline with the committee.
    fn record_decision(
        &mut self,
        node: NodeId,
        id: BallotId,
        certificate: &Certificate,
        encoded: &[u8],
        now_ms: u64,
    ) {
        let outcome = if self.weakness == Weakness::BallotMajorityOnly {
            weak_outcome(&certificate.tally, certificate.open.electorate.len() as u64)
        } else {
            certificate.outcome
        };
        let digest: [u8; 32] = Sha256::digest(encoded).into();
        let table = self.ballot_keys.as_ref().expect("ballot runs have keys");
        let rules = self.ballot_config.open_rules();
        let members = &self.members;
        let verified: Result<Outcome, String> = self
            .ballot_verified
            .entry(digest)
            .or_insert_with(|| {
                certificate
                    .verify(table, Some(members), &rules)
                    .map_err(|e| e.to_string())
            })
            .clone();
        self.stats
            .ballot_decisions
            .entry(id)
            .or_default()
            .entry(node)
            .or_insert_with(|| Decision::from_certificate(certificate, outcome, verified, now_ms));
    }
}

fn remember_attestation(
    heard: &mut std::collections::BTreeMap<PeerKey, x0_core::ballot::wire::Attestation>,
    attestation: x0_core::ballot::wire::Attestation,
) {
    let newer = heard
        .get(&attestation.attester)
        .is_none_or(|held| held.attested_at_unix_ms < attestation.attested_at_unix_ms);
    if newer && (heard.len() < HEARD_ATTESTATIONS_MAX || heard.contains_key(&attestation.attester))
    {
        heard.insert(attestation.attester.clone(), attestation);
    }
}

/// The simulator's side of the ballot interpreter: the modelled store, the gossip model,
/// the run's statistics and trace, and what a Byzantine voter does instead.
struct BallotShell<'a, S: SimSuite> {
    sim: &'a mut Sim<S>,
    node: NodeId,
    now_ms: u64,
}

impl<S: SimSuite> BallotShell<'_, S> {
    fn honest(&self) -> bool {
        self.sim.nodes[self.node as usize].byzantine.is_empty()
    }
}

impl<S: SimSuite> BallotEffects for BallotShell<'_, S> {
    fn persist_ballot(&mut self, id: &BallotId, encoded: &[u8]) -> Result<(), String> {
        let node = self.node;
        if self.honest() {
            if let Ok(open) = decode_open(encoded) {
                let interval_ms = self.sim.ballot_config.open_interval_ms_min;
                self.sim.stats.record_ballot_open(node, &open, interval_ms);
            }
        }
        self.sim.nodes[node as usize]
            .store
            .ballots
            .opens
            .insert(*id, encoded.to_vec());
        self.sim.schedule_vote(node, *id);
        Ok(())
    }

    fn persist_vote(
        &mut self,
        id: &BallotId,
        voter: &PeerKey,
        encoded: &[u8],
    ) -> Result<(), String> {
        let node = self.node;
        if self.honest() && *voter == peer_key(node) {
            if let Ok(vote) = decode_vote(encoded) {
                self.sim.stats.record_own_vote(node, *id, vote.sequence);
            }
        }
        self.sim.nodes[node as usize]
            .store
            .ballots
            .votes
            .insert((*id, voter.clone()), encoded.to_vec());
        Ok(())
    }

    fn persist_evidence(
        &mut self,
        id: &BallotId,
        voter: &PeerKey,
        encoded: &[u8],
    ) -> Result<(), String> {
        let node = self.node;
        self.sim
            .trace(format_args!("ballot-evidence {node} against {voter:?}"));
        self.sim.nodes[node as usize]
            .store
            .ballots
            .evidence
            .insert((*id, voter.clone()), encoded.to_vec());
        Ok(())
    }

    fn persist_decided(&mut self, id: &BallotId, encoded: &[u8]) -> Result<(), String> {
        self.sim.nodes[self.node as usize]
            .store
            .ballots
            .decided
            .insert(*id, encoded.to_vec());
        Ok(())
    }

    fn publish(&mut self, encoded: Vec<u8>) {
        let node = self.node;
        let sim = &mut self.sim.nodes[node as usize];
        if withholds(&sim.byzantine) {
            return;
        }
        let message = Message::decode(&encoded);
        if sim.byzantine.contains(&Behaviour::SpamOpens) {
            if let Ok(Message::Attestation(attestation)) = &message {
                remember_attestation(&mut sim.heard_attestations, attestation.clone());
            }
        }
        // An equivocator never spreads the proofs against its accomplices.
        if sim.byzantine.contains(&Behaviour::EquivocateVotes)
            && matches!(message, Ok(Message::Evidence(_)))
        {
            return;
        }
        self.sim.publish_sealed(node, topics::BALLOTS, &encoded);
    }

    fn decided(&mut self, id: BallotId, certificate: Certificate, encoded: &[u8]) {
        let (node, now_ms) = (self.node, self.now_ms);
        self.sim.trace(format_args!(
            "ballot-decided {node} {} {}",
            &hex::encode(id.0)[..12],
            certificate.outcome.as_str()
        ));
        if self.honest() {
            self.sim
                .record_decision(node, id, &certificate, encoded, now_ms);
        }
    }

    fn mode_changed(&mut self, mode: Mode) {
        let node = self.node;
        self.sim
            .trace(format_args!("ballot-mode {node} {}", mode.as_str()));
    }

    fn journal_failed(&mut self, error: &str) {
        let node = self.node;
        self.sim
            .trace(format_args!("ballot-journal-refused {node}: {error}"));
    }
}
