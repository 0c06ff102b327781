//! The auth shell of a simulated node, as the node's auth actor: credentials, sealing
//! what a node publishes on a privileged topic, and the admission gate in front of the
//! certify core, with the nonce store that survives a crash.
//!
//! Capability tokens, as the node's auth actor handles them: the network authority's key
//! pair is drawn from the run's RNG and mints every node's credential at the start (a
//! committee member may propose, update the Charter, sign and vote; any other node may
//! vote; an `exceed_rights` member only votes; a `forge_tokens` node mints its own with a
//! key pair of its own). A node seals each proposal and share it publishes in an
//! [`Envelope`] with its access token (derived from the credential when first needed and
//! again at half its life), a nonce from the run's RNG and its own clock, skew included.
//! Every privileged message a node receives passes its `Gate` (the envelope's modelled
//! seal names its holder, whom the token must name; [`crate::seals`]) before the certify core sees the payload;
//! a refusal is the gossip verdict Reject, which the gossip model turns into the P4
//! penalty of the peer that sent it, and is counted by reason. An admitted nonce goes to
//! the node's store before the payload moves on, and a restarted node's gate starts from
//! the nonces it stored. At the end, the report checks that no honest node admitted a
//! privileged message of a token forger, replayer or member beyond its rights, nor one
//! message twice.

use std::collections::BTreeSet;

use crate::seals::ModelSeals;
use rand::Rng;
use sha2::{Digest, Sha256};
use x0_core::auth::envelope::Envelope;
use x0_core::auth::gate::{Gate, Refusal};
use x0_core::auth::replay::Nonce;
use x0_core::auth::revocations::ListRefusal;
use x0_core::auth::token::{
    Grant, Operation, RevocationList, Revoked, Right, ACCESS_TTL_S_DEFAULT,
};
use x0_core::ids::PeerKey;
use x0_core::ids::Verdict;
use x0_core::known_topics::{KnownTopics, Payload};
use x0_core::topics;

use super::{peer_key, Sim, Store, ADMISSIONS_TRACKED_MAX, CREDENTIALS_EXPIRE_UNIX_S};
use crate::crypto::SimSuite;
use crate::gossip::{GossipMessage, MessageId, NodeId};
use crate::model_crypto::Weakness;
use crate::scenario::Behaviour;
use crate::tokens::SimTokens;

/// A nonce list shorter than this is not pruned.
const NONCES_PRUNE_MIN: usize = 1_024;

impl Store {
    /// Persists an admitted nonce, as the auth actor does before passing a message on.
    pub(super) fn record_nonce(
        &mut self,
        nonce: Nonce,
        timestamp_unix_ms: u64,
        clock_ms: u64,
        lifetime_ms: u64,
    ) {
        if self.nonces.len() >= self.nonces_prune_at.max(NONCES_PRUNE_MIN) {
            // The journal's `forget_nonces`: a nonce leaves with its message's window.
            self.nonces
                .retain(|(_, ts)| ts.saturating_add(lifetime_ms) >= clock_ms);
            self.nonces_prune_at = 2 * self.nonces.len();
        }
        self.nonces.push((nonce, timestamp_unix_ms));
    }

    /// The journal's `forget_nonce`: the message had no effect.
    pub(super) fn forget_nonce(&mut self, nonce: &Nonce) {
        if let Some(index) = self.nonces.iter().rposition(|(n, _)| n == nonce) {
            self.nonces.swap_remove(index);
        }
    }
}

impl<S: SimSuite> Sim<S> {
    /// Starts `node`'s gate from the nonces and revoked ids the node persisted, as the auth
    /// actor does (a weakened run forgets one or the other, to show that the replay or the
    /// revocation invariant catches it), and drops its access token: a new life derives a
    /// new one when it first publishes.
    pub(super) fn boot_gate(&mut self, node: NodeId) {
        let clock_ms = self.node_clock_ms(node);
        let verifier = <S::Tokens as SimTokens>::verifier(
            &self.authority,
            self.verifier_config,
            self.weakness,
        );
        let mut gate = Gate::new(
            verifier,
            self.gate_config,
            KnownTopics,
            ModelSeals::new(self.seed),
            clock_ms,
        );
        let sim = &mut self.nodes[node as usize];
        let nonces = match self.weakness {
            Weakness::NoncesForgotten => &[][..],
            _ => &sim.store.nonces[..],
        };
        let revoked = match self.weakness {
            Weakness::RevocationsForgotten => &[][..],
            _ => &sim.store.revoked[..],
        };
        let skipped = gate.restore(nonces.iter().copied(), revoked.iter().cloned(), clock_ms);
        self.stats.nonces_not_restored += skipped as u64;
        sim.gate = Some(gate);
        sim.access = None;
    }

    /// The member credential of `node`, by its role: a committee member may propose,
    /// update the Charter, sign and vote, any other node may vote; a member beyond its
    /// rights holds a vote-only credential; a forger mints one with every right using its
    /// own key pair.
    pub(super) fn credential(&self, node: NodeId, byzantine: &BTreeSet<Behaviour>) -> Vec<u8> {
        let member = node < self.committee.size() as u32;
        let operations: &[Operation] = if byzantine.contains(&Behaviour::ForgeTokens) {
            &Operation::ALL
        } else if byzantine.contains(&Behaviour::ExceedRights) || !member {
            &[Operation::Vote]
        } else {
            &Operation::ALL
        };
        let grant = Grant {
            member: peer_key(node),
            rights: operations
                .iter()
                .copied()
                .flat_map(Right::for_operation)
                .collect(),
            expires_unix_s: CREDENTIALS_EXPIRE_UNIX_S,
        };
        let issuer = self.forgers.get(&node).unwrap_or(&self.authority);
        <S::Tokens as SimTokens>::mint(issuer, &grant, self.token_entropy(node, 0))
    }

    /// What a token scheme would draw at random for `node`'s token made at `now_s`, from
    /// the run's seed (not its RNG: tokens are made outside the order of its draws).
    fn token_entropy(&self, node: NodeId, now_s: u64) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(b"x0/sim/token-entropy");
        hasher.update(self.seed.to_be_bytes());
        hasher.update(node.to_be_bytes());
        hasher.update(now_s.to_be_bytes());
        hasher.finalize().into()
    }

    /// `payload` in an envelope, as the auth actor seals what `node` publishes on a
    /// privileged topic: its access token (derived from its credential when it has none
    /// or half its life has passed), a nonce from the run's RNG, and its clock.
    pub(super) fn seal(&mut self, node: NodeId, topic: &str, payload: &[u8]) -> Vec<u8> {
        let clock_ms = self.node_clock_ms(node);
        let now_s = clock_ms / 1000;
        let sim = &self.nodes[node as usize];
        let due = sim
            .access
            .as_ref()
            .is_none_or(|(_, until_s)| now_s + ACCESS_TTL_S_DEFAULT / 2 >= *until_s);
        if due {
            let issuer = self.forgers.get(&node).unwrap_or(&self.authority);
            let token = <S::Tokens as SimTokens>::derive_access(
                issuer,
                &sim.credential,
                now_s,
                ACCESS_TTL_S_DEFAULT,
                self.token_entropy(node, now_s),
            );
            let until_s = (now_s + ACCESS_TTL_S_DEFAULT).min(CREDENTIALS_EXPIRE_UNIX_S);
            self.nodes[node as usize].access = Some((token, until_s));
        }
        let nonce: Nonce = self.engine.rng().gen();
        let (token, _) = self.nodes[node as usize]
            .access
            .as_ref()
            .expect("derived above");
        Envelope {
            token,
            nonce,
            timestamp_unix_ms: clock_ms,
            payload,
        }
        .seal(topic, &ModelSeals::new(self.seed).of(peer_key(node)))
    }

    /// Publishes a proposal or share of `node`'s in its envelope.
    pub(super) fn publish_sealed(&mut self, node: NodeId, topic: &'static str, payload: &[u8]) {
        let data = self.seal(node, topic, payload);
        self.publish(node, topic, data);
    }

    /// The auth actor's inbound path: `message` passes `node`'s gate (its author is the
    /// source the token must name), the admitted nonce is persisted, and the payload goes
    /// on to the certify core. A refusal is reported to the gossip model at once (the gate
    /// spends no modelled CPU time), as Reject (penalising the peer that sent it) only
    /// when the refusal says the message is invalid in itself, else as Ignore.
    /// Honest nodes count admissions and refusals (by reason) for the report, and every
    /// admission that breaks an invariant.
    pub(super) fn admit<'m>(
        &mut self,
        node: NodeId,
        message: &'m GossipMessage,
        origin: super::Origin,
        clock_ms: u64,
    ) -> Option<(PeerKey, &'m [u8], Payload, Nonce)> {
        let lifetime_ms = self.gate_config.lifetime_ms;
        let sim = &mut self.nodes[node as usize];
        let honest = sim.byzantine.is_empty();
        let gate = sim.gate.as_mut().expect("an up node has its gate");
        let admitted = match gate.admit(message.topic, &message.data, clock_ms) {
            Ok(admitted) => admitted,
            Err(refusal) => {
                if honest {
                    *self
                        .stats
                        .auth_rejected
                        .entry(refusal.reason())
                        .or_insert(0) += 1;
                    if refusal == Refusal::Revoked {
                        *self.stats.revoked_refused.entry(node).or_insert(0) += 1;
                    }
                }
                // Reject only what is invalid in itself (the node's auth actor does the
                // same): a replay or a stale timestamp costs the relay nothing.
                self.report(node, origin, refusal.verdict());
                return None;
            }
        };
        sim.store.record_nonce(
            admitted.nonce,
            admitted.timestamp_unix_ms,
            clock_ms,
            lifetime_ms,
        );
        if honest {
            self.stats.auth_admitted += 1;
            // Judged by who sealed the envelope, not who carried it: a replayer relaying an
            // honest member's envelope carries that member's message, admitted once.
            let holder = super::node_index(&admitted.holder).expect("every seal is a node's");
            let holder_behaviours = &self.nodes[holder as usize].byzantine;
            if Behaviour::AGAINST_TOKENS
                .iter()
                .any(|b| holder_behaviours.contains(b))
            {
                *self
                    .stats
                    .byzantine_privileged_admitted
                    .entry(node)
                    .or_insert(0) += 1;
            }
            let revoked_here = self.revoked_nodes.get(&holder).is_some_and(|sequences| {
                sequences.iter().any(|sequence| {
                    self.stats
                        .revocations_applied
                        .get(sequence)
                        .is_some_and(|applied| applied.contains_key(&node))
                })
            });
            if revoked_here {
                *self.stats.revoked_admitted.entry(node).or_insert(0) += 1;
            }
            // One envelope is one message however many gossip messages carry it: it is
            // named by its holder and nonce.
            let envelope = MessageId {
                author: holder,
                sequence: u64::from_be_bytes(admitted.nonce[..8].try_into().expect("16 bytes")),
            };
            let column = node as usize;
            if self.admissions.contains(column, &envelope) {
                *self
                    .stats
                    .privileged_replays_admitted
                    .entry(node)
                    .or_insert(0) += 1;
            } else if self.admissions.slots_used() < ADMISSIONS_TRACKED_MAX
                || self.admissions.is_tracked(&envelope)
            {
                self.admissions.insert(column, envelope);
            } else {
                self.stats.admissions_untracked += 1;
            }
        }
        Some((
            admitted.holder,
            admitted.payload,
            admitted.decoded,
            admitted.nonce,
        ))
    }

    /// An admitted message had no effect because it came too early (a vote before its
    /// ballot's open): the gate, the journal and the replay invariant let its nonce go,
    /// as the node's auth actor does, so the same bytes are taken when sync or gossip
    /// bring them again.
    pub(super) fn forget_admission(&mut self, node: NodeId, holder: &PeerKey, nonce: &Nonce) {
        let sim = &mut self.nodes[node as usize];
        if let Some(gate) = sim.gate.as_mut() {
            gate.forget_nonce(nonce);
        }
        sim.store.forget_nonce(nonce);
        if sim.byzantine.is_empty() {
            let holder = super::node_index(holder).expect("every seal is a node's");
            let envelope = MessageId {
                author: holder,
                sequence: u64::from_be_bytes(nonce[..8].try_into().expect("16 bytes")),
            };
            self.admissions.remove(node as usize, &envelope);
        }
    }

    /// The auth actor's revocation path: a list from the network authority is read, what
    /// it adds is written to the store, and only then put in force in the gate (a list
    /// applied but not written would be forgotten by a restart, and re-admit the member).
    /// The verdict is the REJECT/IGNORE table's: a list that does not read is invalid in
    /// itself; a known one or a full set depends on this node.
    pub(super) fn take_revocations(&mut self, node: NodeId, data: &[u8], clock_ms: u64) -> Verdict {
        let honest = self.nodes[node as usize].byzantine.is_empty();
        let refused = |stats: &mut crate::report::Stats, refusal: ListRefusal| {
            if honest {
                *stats
                    .revocations_refused
                    .entry(refusal.reason())
                    .or_insert(0) += 1;
            }
            refusal.verdict()
        };
        let list = match <S::Tokens as SimTokens>::read_revocations(&self.authority, data) {
            Ok(list) => list,
            Err(error) => return refused(&mut self.stats, ListRefusal::Read(error)),
        };
        let sim = &mut self.nodes[node as usize];
        let gate = sim.gate.as_mut().expect("an up node has its gate");
        let plan = match gate.plan_revocations(&list, clock_ms) {
            Ok(plan) => plan,
            Err(refusal) => return refused(&mut self.stats, refusal),
        };
        sim.store.revoked.extend(plan.added.iter().cloned());
        gate.apply_revocations(&plan);
        self.note_lists_in_force(node);
        Verdict::Accept
    }

    /// Records, for an honest up node, each published scenario list whose ids are all in
    /// force in its gate now (by the ids, not by the list: a node that took a larger list
    /// first holds a smaller one in force while ignoring it as known).
    fn note_lists_in_force(&mut self, node: NodeId) {
        let sim = &self.nodes[node as usize];
        let (true, Some(gate)) = (sim.byzantine.is_empty(), sim.gate.as_ref()) else {
            return;
        };
        let now_ms = self.engine.now_ms();
        for (sequence, ids) in &self.revocation_lists {
            let in_force = ids
                .iter()
                .all(|id| gate.revocations().is_revoked(std::slice::from_ref(id)));
            if in_force {
                self.stats
                    .revocations_applied
                    .entry(*sequence)
                    .or_default()
                    .entry(node)
                    .or_insert(now_ms);
            }
        }
    }

    /// What revokes `node`'s credential (minted by the network authority) until it would
    /// have expired anyway.
    pub(super) fn revoked(&self, node: NodeId) -> Revoked {
        Revoked {
            id: <S::Tokens as SimTokens>::revocation_id(
                &self.authority,
                &self.nodes[node as usize].credential,
            ),
            until_unix_s: CREDENTIALS_EXPIRE_UNIX_S,
        }
    }

    /// The scenario's revocation list `index`: the authority revokes the credentials of
    /// its nodes (until they would have expired anyway), and the operator hands the list
    /// to its publisher, which applies it and publishes it, as `POST /revocations` does.
    pub(super) fn revoke(&mut self, index: usize, now_ms: u64) {
        let spec = self.scenario.revocations[index].clone();
        let sequence = index as u64 + 1;
        let list = RevocationList {
            sequence,
            entries: spec.revoked.iter().map(|node| self.revoked(node)).collect(),
        };
        let mut entropy = Sha256::new();
        entropy.update(b"x0/sim/revocation-entropy");
        entropy.update(self.seed.to_be_bytes());
        entropy.update(sequence.to_be_bytes());
        let bytes = <S::Tokens as SimTokens>::mint_revocations(
            &self.authority,
            &list,
            entropy.finalize().into(),
        );
        let publisher = spec.publisher;
        // The publisher's own verdict decides, as the node's HTTP handler answers: a list
        // adding nothing new there (or a publisher that is down) publishes nothing.
        let published = self.nodes[publisher as usize].up && {
            let clock_ms = self.node_clock_ms(publisher);
            self.take_revocations(publisher, &bytes, clock_ms) == Verdict::Accept
        };
        self.stats
            .revocations
            .push(crate::report::RevocationRecord {
                sequence,
                at_ms: now_ms,
                publisher,
                revoked: spec.revoked.iter().collect(),
                published,
            });
        self.trace(format_args!(
            "revoke {sequence} at {publisher} published {published}"
        ));
        if !published {
            return;
        }
        for node in spec.revoked.iter() {
            self.revoked_nodes.entry(node).or_default().insert(sequence);
        }
        let ids = list.entries.into_iter().map(|entry| entry.id).collect();
        self.revocation_lists.push((sequence, ids));
        // Nodes that hold these ids in force already (from a larger list) count now.
        for node in 0..self.nodes.len() as NodeId {
            if self.nodes[node as usize].up {
                self.note_lists_in_force(node);
            }
        }
        self.publish(publisher, topics::REVOCATIONS, bytes);
    }
}
