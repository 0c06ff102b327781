//! The certify shell of a simulated node, as the node's certify actor hosts
//! [`CertifyNode`]: proposals made when the scenario says, inbound proposals, shares and
//! certificates handed to the core (privileged ones after the gate), ticks on the node's
//! tick grid only when the core has work, and the core's actions carried out through the
//! interpreter the actor runs too (`x0_core::certify::effects::carry_out`), so the two
//! cannot drift. [`CertifyShell`] is the simulator's side of that interpreter: the
//! modelled store, the gossip model, the run's statistics and trace. In modelled runs a
//! call's results wait for the virtual CPU time its crypto cost.

use rand::Rng;
use x0_core::certify::collector::SlotKey;
use x0_core::certify::effects::{
    carry_out, CertifyEffects, JournalError, Observation, Publication,
};
use x0_core::certify::node::{
    Action, CertifyNode, CertifySetup, Evidence, HeldShare, InboundVerdict,
};
use x0_core::certify::proposal::ProposalId;
use x0_core::certify::scheme::MemberIndex;
use x0_core::certify::wire::CertificateMessage;
use x0_core::ids::{PeerKey, Verdict};
use x0_core::known_topics::Payload;
use x0_core::topics;

use super::{peer_key, withholds, Event, Finished, Origin, Sim, EPOCH_UNIX_MS};
use crate::crypto::SimSuite;
use crate::gossip::{GossipMessage, NodeId};
use crate::scenario::Behaviour;
use x0_core::certify::effects::Carried;

impl<S: SimSuite> Sim<S> {
    /// Starts `node`'s certify core from what its store holds (its own signatures and the
    /// certificates it kept), with its key shares if it is a member; returns the actions
    /// the core asked for at start.
    pub(super) fn boot_certify(&mut self, node: NodeId) -> Vec<Action> {
        let m = self.committee.size() as u32;
        let shares = (node < m).then(|| {
            (
                S::signer(&self.keys.0, node as MemberIndex),
                S::signer(&self.keys.1, node as MemberIndex),
            )
        });
        let sim = &self.nodes[node as usize];
        let certificates = sim
            .store
            .journal
            .certificates
            .values()
            .filter_map(|bytes| CertificateMessage::decode(bytes).ok())
            .collect();
        let setup = CertifySetup {
            committee: self.committee.clone(),
            own_key: peer_key(node),
            shares,
            signed: sim.store.journal.signed.clone(),
            certificates,
        };
        let mut actions = Vec::new();
        let certify = CertifyNode::new(setup, self.certify_config, &mut actions);
        self.nodes[node as usize].certify = Some(certify);
        actions
    }

    /// A scenario proposal, made by its proposer's core if the proposer is up.
    pub(super) fn propose(&mut self, index: usize, now_ms: u64) {
        let spec = self.scenario.proposals[index].clone();
        let node = spec.proposer;
        if !self.nodes[node as usize].up {
            self.trace(format_args!("propose {index} skipped: node {node} down"));
            return;
        }
        let clock = self.node_clock_ms(node);
        let nonce: [u8; 16] = self.engine.rng().gen();
        let mut actions = Vec::new();
        let certify = self.nodes[node as usize]
            .certify
            .as_mut()
            .expect("an up node has its certify node");
        let result = certify.propose(
            spec.slot.clone(),
            spec.payload.clone().into_bytes(),
            100_000,
            nonce,
            clock,
            &mut actions,
        );
        match result {
            Ok(id) => {
                let honest = self.nodes[node as usize].byzantine.is_empty();
                self.stats.proposals.push((id, now_ms, honest));
                self.trace(format_args!(
                    "propose {index} by {node}: {}",
                    hex::encode(id.0)
                ));
            }
            Err(error) => self.trace(format_args!("propose {index} by {node} refused: {error}")),
        }
        self.finish(node, actions, None);
    }

    /// A tick of `node`'s certify core, when the tick planned for now falls due.
    pub(super) fn certify_tick(&mut self, node: NodeId, now_ms: u64) {
        // Only the tick planned last counts: one replanned since (`plan_tick`, a clock
        // skew) left its event in the queue, stale.
        if self.nodes[node as usize].tick_at_ms != Some(now_ms) {
            return;
        }
        self.nodes[node as usize].tick_at_ms = None;
        let clock = self.node_clock_ms(node);
        let mut actions = Vec::new();
        if let Some(certify) = self.nodes[node as usize].certify.as_mut() {
            certify.tick(clock, &mut actions);
        }
        self.finish(node, actions, None);
    }

    /// Plans `node`'s next tick at the first point of its tick grid, after now, where its
    /// core has work; keeps an earlier tick already planned.
    pub(super) fn plan_tick(&mut self, node: NodeId) {
        let now_ms = self.engine.now_ms();
        let sim = &self.nodes[node as usize];
        let Some(due_clock_ms) = sim.certify.as_ref().and_then(|c| c.next_tick_ms()) else {
            return;
        };
        let clock_offset_ms = EPOCH_UNIX_MS as i64 + sim.skew_ms;
        let due_ms = (due_clock_ms as i64 - clock_offset_ms).max(0) as u64;
        let earliest_ms = due_ms.max(now_ms + 1);
        let (grid, interval) = (sim.tick_grid_ms, self.certify_config.tick_ms);
        let at_ms = if earliest_ms <= grid {
            grid
        } else {
            grid + (earliest_ms - grid).div_ceil(interval) * interval
        };
        if sim.tick_at_ms.is_some_and(|t| t >= now_ms && t <= at_ms) {
            return;
        }
        self.nodes[node as usize].tick_at_ms = Some(at_ms);
        self.schedule(at_ms - now_ms, Event::Tick { node });
    }

    /// A proposal, share or certificate for `node`'s certify core: privileged ones pass
    /// the gate first ([`Sim::admit`]); the verdict goes to the gossip model now, or once
    /// the core decides a share it held back.
    pub(super) fn validate_certify(
        &mut self,
        node: NodeId,
        message: &GossipMessage,
        origin: Origin,
        author: &PeerKey,
        privileged: bool,
        clock: u64,
    ) {
        // A privileged message's author is the holder its envelope proves, whoever
        // carried it; a certificate needs none.
        let (author, payload, decoded): (PeerKey, &[u8], Payload) = if privileged {
            // Certify verdicts in the simulator are never "not yet" (no shell refusal
            // passes here), so no admission is forgotten on this path.
            let Some((holder, payload, decoded, _)) = self.admit(node, message, origin, clock)
            else {
                return;
            };
            // A member beyond its rights answers each proposal it admits with its own
            // (never one its gate refused: two of them would answer each other).
            if message.topic == topics::PROPOSALS
                && self.nodes[node as usize]
                    .byzantine
                    .contains(&Behaviour::ExceedRights)
            {
                self.publish_beyond_rights(node);
            }
            (holder, payload, decoded)
        } else {
            (author.clone(), &message.data, Payload::Undecoded)
        };
        let sim = &mut self.nodes[node as usize];
        let mut actions = Vec::new();
        let certify = sim
            .certify
            .as_mut()
            .expect("an up node has its certify node");
        // The gate decoded an admitted proposal already: the core takes it as it is.
        let verdict = match decoded {
            Payload::Proposal(proposal) => InboundVerdict::Now(certify.on_admitted_proposal(
                Some(&author),
                *proposal,
                clock,
                &mut actions,
            )),
            Payload::Undecoded => {
                certify.on_inbound(message.topic, Some(&author), payload, clock, &mut actions)
            }
        };
        let (pending, slots) = certify.state_size();
        let peak = &mut sim.certify_state_peak;
        *peak = (peak.0.max(pending), peak.1.max(slots));
        let acceptance = match verdict {
            InboundVerdict::Now(verdict) => Some((origin, verdict)),
            InboundVerdict::Held(held) => {
                sim.held.insert(held, origin);
                None
            }
        };
        self.finish(node, actions, acceptance);
    }

    /// Carries out what a call into `node`'s certify core produced, once the node's CPU
    /// has done the crypto the call cost (modelled runs; real crypto costs no virtual
    /// time). Work queues behind earlier work, as in the actor, one message at a time.
    pub(super) fn finish(
        &mut self,
        node: NodeId,
        actions: Vec<Action>,
        verdict: Option<(Origin, Verdict)>,
    ) {
        self.plan_tick(node);
        let spent_us = self.operations.take_us(&self.cost);
        let now_us = self.engine.now_ms() * 1_000;
        let sim = &mut self.nodes[node as usize];
        if spent_us == 0 && sim.cpu_free_us <= now_us {
            let carried = self.carry_out(node, actions);
            if let Some((origin, verdict)) = verdict {
                self.report(node, origin, super::after_carrying_out(&carried, verdict));
            }
            return;
        }
        sim.cpu_free_us = sim.cpu_free_us.max(now_us) + spent_us;
        self.cpu_busy_us += spent_us;
        let delay_ms = (sim.cpu_free_us - now_us).div_ceil(1_000);
        self.schedule(
            delay_ms,
            Event::Finish {
                node,
                work: Box::new(Finished { actions, verdict }),
            },
        );
    }

    /// Carries out a certify node's actions through the interpreter the actor runs too
    /// (x0_core::certify::effects): persist, then publish.
    /// What could not be persisted is undone in the node and reported.
    pub(super) fn carry_out(&mut self, node: NodeId, actions: Vec<Action>) -> Carried {
        let now_ms = self.engine.now_ms();
        let mut shell = CertifyShell {
            sim: self,
            node,
            now_ms,
        };
        let carried = carry_out(&mut shell, actions);
        if !carried.is_empty() {
            if let Some(certify) = self.nodes[node as usize].certify.as_mut() {
                certify.undo_unpersisted(&carried);
            }
        }
        carried
    }
}

/// The simulator's side of the certify interpreter: the modelled store, the gossip model,
/// the run's statistics and trace, and what a Byzantine member does instead.
struct CertifyShell<'a, S: SimSuite> {
    sim: &'a mut Sim<S>,
    node: NodeId,
    now_ms: u64,
}

impl<S: SimSuite> CertifyEffects for CertifyShell<'_, S> {
    fn persist_signed(
        &mut self,
        slot: &SlotKey,
        id: &ProposalId,
        _share: &[u8],
    ) -> Result<(), JournalError> {
        let sim = &mut self.sim.nodes[self.node as usize];
        // A withholder keeps no record and publishes nothing (see `publish`).
        if withholds(&sim.byzantine) {
            return Ok(());
        }
        sim.store.journal.record_signed(slot, id)
    }

    fn persist_certificate(&mut self, id: &ProposalId, encoded: &[u8]) -> Result<(), JournalError> {
        self.sim.nodes[self.node as usize]
            .store
            .journal
            .record_certificate(id, encoded);
        Ok(())
    }

    fn persist_evidence(&mut self, _: &Evidence) -> Result<(), JournalError> {
        // Counted in `observe`; no simulated reader asks for the records.
        Ok(())
    }

    fn publish(&mut self, publication: Publication, encoded: Vec<u8>) {
        let node = self.node;
        let byzantine = &self.sim.nodes[node as usize].byzantine;
        match publication {
            Publication::Share => {
                if withholds(byzantine) {
                    return;
                }
                let beyond_rights = byzantine.contains(&Behaviour::ExceedRights);
                let forger = byzantine.contains(&Behaviour::ForgeTokens);
                let invalid = byzantine.contains(&Behaviour::InvalidShares);
                if beyond_rights {
                    self.sim.stats.count_attack("shares_beyond_rights", 1);
                }
                if forger {
                    self.sim.stats.count_attack("forged_shares", 1);
                }
                let encoded = if invalid {
                    self.sim.forged_share(node, &encoded)
                } else {
                    encoded
                };
                self.sim.publish_sealed(node, topics::SHARES, &encoded);
            }
            Publication::Proposal => self.sim.publish_sealed(node, topics::PROPOSALS, &encoded),
            Publication::Certificate => self.sim.publish(node, topics::CERTIFICATES, encoded),
            Publication::Republished => {
                if !withholds(byzantine) {
                    self.sim.publish(node, topics::CERTIFICATES, encoded);
                }
            }
        }
    }

    fn verdict(&mut self, held: HeldShare, verdict: Verdict) {
        if let Some(origin) = self.sim.nodes[self.node as usize].held.remove(&held) {
            self.sim.report(self.node, origin, verdict);
        }
    }

    fn observe(&mut self, observation: Observation<'_>) {
        let (node, now_ms) = (self.node, self.now_ms);
        match observation {
            Observation::Certified { id, origin, .. } => {
                self.sim.stats.record_certified(*id, node, now_ms);
                self.sim.trace(format_args!(
                    "certified {node} {} {}",
                    hex::encode(id.0),
                    origin.as_str()
                ));
            }
            Observation::Conflict { slot, ids, .. } => {
                // The second certificate is held here too, with the slot halted.
                self.sim.stats.record_certified(ids[1], node, now_ms);
                self.sim
                    .trace(format_args!("conflict {node} {}/{}", slot.0, slot.1));
            }
            Observation::CertificateRefused {
                verdict: Verdict::Reject { .. },
            } => self.sim.stats.certificates_rejected += 1,
            Observation::Evidence(_) => self.sim.stats.evidence += 1,
            Observation::ShareRefused {
                verdict: Verdict::Reject { .. },
            } => self.sim.stats.shares_rejected += 1,
            Observation::JournalFailed { what, error } => {
                self.sim.stats.journal_refused += 1;
                self.sim
                    .trace(format_args!("journal-refused {node} {what}: {error}"));
            }
            Observation::ShareReceived { .. }
            | Observation::ShareRefused { .. }
            | Observation::CertificateRefused { .. }
            | Observation::ProposalRefused { .. } => {}
            Observation::Dropped { what } => {
                if self.sim.nodes[self.node as usize].byzantine.is_empty() {
                    *self.sim.stats.certify_dropped.entry(what).or_default() += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use x0_core::certify::scheme::{Bls, SIGNATURE_BYTES};

    use super::*;
    use crate::model_crypto::Weakness;
    use crate::scenario::Scenario;

    /// The node's redb store and this one apply one rule through one interpreter: a
    /// second, different signature for a slot is refused and not published
    /// (node/tests/certificates.rs shows the node's side on a real store).
    #[test]
    fn the_store_refuses_a_second_signature_for_a_slot_as_the_node_does() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/quickstart.toml");
        let scenario = Scenario::from_file(&path).unwrap();
        let mut sim = Sim::<Bls>::new(scenario, 1, Weakness::None);
        let node: NodeId = 0;
        assert!(sim.nodes[node as usize].byzantine.is_empty());
        let slot: SlotKey = (1, "gossip/mesh_n".to_string());
        let share = |id: u8| Action::PublishShare {
            slot: slot.clone(),
            id: ProposalId([id; 32]),
            share: [0; SIGNATURE_BYTES],
            encoded: vec![id],
        };
        let published_before = sim.nodes[node as usize].gossip.sequence_next();
        sim.carry_out(node, vec![share(9), share(8), share(9)]);
        // The first and its repeat go out; the other proposal's share never does.
        assert_eq!(
            sim.nodes[node as usize].gossip.sequence_next(),
            published_before + 2
        );
        assert_eq!(sim.stats.journal_refused, 1);
        assert_eq!(
            sim.nodes[node as usize].store.journal.signed.get(&slot),
            Some(&ProposalId([9; 32]))
        );
    }
}
