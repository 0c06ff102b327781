//! The admission gate for privileged messages, sans-IO: envelope, token, revocation,
//! timestamp and nonce, in that order, each failure with its own reason.
//!
//! ```text
//! data ──decode──> Sealed envelope ──holder's node-key signature (SignatureCheck)
//!   ──classify(topic, payload)──> Request
//!   token: signature chain, member == the envelope's holder, rights, expiry (TokenVerifier)
//!   revoked?                                                          (RevocationSet)
//!   timestamp within [-lifetime, +skew], nonce unseen, holder's share (ReplayGuard)
//!   ──> Admitted { payload, decoded, nonce, timestamp }: the shell persists the nonce, then hands
//!       the payload to the protocol core that owns the topic
//! ```
//!
//! A refusal is a gossipsub Reject only when the message is invalid in itself (bytes,
//! envelope and token signatures, rights, holder); what depends on this node's clock, on the order
//! messages reached it or on what it holds (the skew window, a seen nonce, a revocation it
//! may have learnt before its neighbour, a full guard) is an Ignore:
//! [`Refusal::invalid_in_itself`] decides, and docs/PROTOCOL.md ("Gossip verdicts") lists
//! every reason. Gossipsub's seen cache stops a relay from forwarding one gossip message
//! twice, but not one envelope re-wrapped in two gossip messages (new sequence numbers):
//! the second copy reaches a node through an honest relay that never saw the first.
//!
//! The envelope proves its sender by itself, so the gate does not ask who carried it: a
//! gossip relay and a peer serving it by sync hand over the same bytes, checked alike.

use super::envelope::{EnvelopeError, Sealed};
use super::replay::{holder_tag, Nonce, ReplayBounds, ReplayGuard, ReplayRefusal};
use super::revocations::{ListRefusal, PlannedList, RevocationSet};
use super::token::{Operation, Request, RevocationList, Revoked, TokenRefusal, TokenVerifier};
use crate::ids::{PeerKey, SignatureCheck, Verdict};
use crate::topics;

/// Bounds and windows (the `[auth]` config section).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateConfig {
    /// A message stamped further ahead of our clock than this is refused.
    pub skew_ms: u64,
    /// How long a message lives: one stamped further behind our clock is refused. Long
    /// enough for a node cut off or down for a while to take what it missed from a peer
    /// (sync, docs/PROTOCOL.md); its nonce is held as long, so a replay stays a replay.
    pub lifetime_ms: u64,
    /// Seen nonces held at once; when full, new messages are refused (fail closed).
    pub nonces_max: usize,
    /// Seen nonces one holder's messages may hold at once, so that one member cannot fill
    /// the table every member needs.
    pub nonces_per_holder_max: usize,
    /// Revoked ids held at once.
    pub revoked_max: usize,
}

impl Default for GateConfig {
    fn default() -> Self {
        GateConfig {
            skew_ms: 30_000,
            lifetime_ms: 3_600_000,
            nonces_max: 262_144,
            nonces_per_holder_max: 16_384,
            revoked_max: 65_536,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The gossip message carries no author (the shell checks this before the gate; Strict
    /// validation makes it unreachable from a stock peer).
    #[error("the message is not signed by its author")]
    Unsigned,
    #[error("envelope: {0}")]
    Envelope(#[from] EnvelopeError),
    #[error("the envelope is not signed by the holder it names")]
    Signature,
    #[error("no privileged operation for this topic and payload")]
    NoOperation,
    #[error("{0}")]
    Token(#[from] TokenRefusal),
    #[error("token is revoked")]
    Revoked,
    #[error("{0}")]
    Replay(#[from] ReplayRefusal),
}

impl Refusal {
    /// One of each refusal, for the verdict-table tests.
    pub fn all() -> Vec<Refusal> {
        let mut all = vec![
            Refusal::Unsigned,
            Refusal::Envelope(EnvelopeError::Truncated("version")),
            Refusal::Signature,
            Refusal::NoOperation,
            Refusal::Revoked,
        ];
        all.extend(TokenRefusal::ALL.map(Refusal::Token));
        all.extend(ReplayRefusal::ALL.map(Refusal::Replay));
        all
    }

    /// Label for `x0_auth_rejected_total{reason}` (a Reject) or
    /// `x0_auth_ignored_total{reason}` (an Ignore).
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::Unsigned => "unsigned",
            Refusal::Envelope(_) => "malformed_envelope",
            Refusal::Signature => "envelope_signature",
            Refusal::NoOperation => "no_operation",
            Refusal::Token(refusal) => refusal.reason(),
            Refusal::Revoked => "revoked",
            Refusal::Replay(refusal) => refusal.reason(),
        }
    }

    /// Whether every honest node refuses the message, whatever its clock, the order
    /// messages reached it in, or what it holds (docs/PROTOCOL.md, "Gossip verdicts").
    ///
    /// `revoked` is an Ignore: a revocation list spreads through the mesh like any
    /// message, so a relay that has not got it yet forwards the revoked member's message
    /// in good faith. `no_operation` is a Reject: the topic and the payload's own kind
    /// bytes name the operation, the same everywhere.
    pub fn invalid_in_itself(self) -> bool {
        match self {
            Refusal::Unsigned
            | Refusal::Envelope(_)
            | Refusal::Signature
            | Refusal::NoOperation => true,
            Refusal::Token(refusal) => refusal.invalid_in_itself(),
            Refusal::Revoked => false,
            Refusal::Replay(refusal) => refusal.invalid_in_itself(),
        }
    }

    /// What gossipsub is told.
    pub fn verdict(self) -> Verdict {
        Verdict::refused(self.reason(), self.invalid_in_itself())
    }
}

/// A message the gate let through. The nonce is recorded in memory; the shell persists it
/// before it acts on the payload. `decoded` is what the owning protocol's classifier read
/// from the payload, handed on so that the payload is decoded once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted<'a, D> {
    /// Who sealed the envelope (its signature and token both name this peer): the author
    /// the protocol cores check their own rules against, whoever carried the bytes.
    pub holder: PeerKey,
    pub operation: Operation,
    pub payload: &'a [u8],
    pub decoded: D,
    pub nonce: Nonce,
    pub timestamp_unix_ms: u64,
}

/// How the protocols that own the privileged topics read a payload for the gate: the
/// operation it performs (so the right its token must grant) and the payload decoded as
/// far as that took, which travels on with the admission so that nothing decodes it twice.
/// `None` when the payload is not one of the owner's messages. Each protocol exports its
/// own reading (`certify::classify`, `ballot::wire::classify`) and
/// `crate::known_topics::KnownTopics` dispatches by topic, so the gate, below the
/// protocols, decodes nothing of theirs.
pub trait Classifier {
    type Decoded;
    fn classify(&self, topic: &str, payload: &[u8]) -> Option<(Operation, Self::Decoded)>;
}

/// Topics whose messages travel in envelopes.
pub fn is_privileged(topic: &str) -> bool {
    matches!(topic, topics::PROPOSALS | topics::SHARES | topics::BALLOTS)
}

pub struct Gate<V, C, S> {
    verifier: V,
    classifier: C,
    signatures: S,
    replay: ReplayGuard,
    revoked: RevocationSet,
}

impl<V: TokenVerifier, C: Classifier, S: SignatureCheck> Gate<V, C, S> {
    pub fn new(
        verifier: V,
        config: GateConfig,
        classifier: C,
        signatures: S,
        now_ms: u64,
    ) -> Gate<V, C, S> {
        Gate {
            verifier,
            classifier,
            signatures,
            replay: ReplayGuard::with_bounds(
                ReplayBounds {
                    skew_ms: config.skew_ms,
                    lifetime_ms: config.lifetime_ms,
                    nonces_max: config.nonces_max,
                    nonces_per_holder_max: config.nonces_per_holder_max,
                },
                now_ms,
            ),
            revoked: RevocationSet::new(config.revoked_max),
        }
    }

    pub fn verifier(&self) -> &V {
        &self.verifier
    }

    /// The node-key check the gate verifies seals with (the shell's own key, when it seals).
    pub fn signatures(&self) -> &S {
        &self.signatures
    }

    pub fn replay_guard(&self) -> &ReplayGuard {
        &self.replay
    }

    /// Forgets the nonce of an admitted message its owner refused as "not yet"
    /// ([`crate::verdicts::not_yet`]): it had no effect, so it may be taken when it comes
    /// again. See [`ReplayGuard::forget`].
    pub fn forget_nonce(&mut self, nonce: &Nonce) -> bool {
        self.replay.forget(nonce)
    }

    pub fn revocations(&self) -> &RevocationSet {
        &self.revoked
    }

    /// Puts back what the shell persisted before a restart. Returns persisted nonces that
    /// did not fit the bound.
    pub fn restore(
        &mut self,
        nonces: impl IntoIterator<Item = (Nonce, u64)>,
        revoked: impl IntoIterator<Item = Revoked>,
        now_ms: u64,
    ) -> usize {
        self.revoked.restore(revoked, now_ms);
        self.replay.restore(nonces, now_ms)
    }

    /// Checks one privileged message on `topic`, whoever carried it.
    pub fn admit<'a>(
        &mut self,
        topic: &str,
        data: &'a [u8],
        now_ms: u64,
    ) -> Result<Admitted<'a, C::Decoded>, Refusal> {
        let sealed = Sealed::decode(data)?;
        if !sealed.verify(topic, &self.signatures) {
            return Err(Refusal::Signature);
        }
        let holder = sealed.holder();
        let envelope = sealed.envelope;
        let (operation, decoded) = self
            .classifier
            .classify(topic, envelope.payload)
            .ok_or(Refusal::NoOperation)?;
        let request = Request {
            holder: &holder,
            operation,
            topic,
        };
        let granted = self.verifier.verify(envelope.token, &request, now_ms)?;
        if self.revoked.is_revoked(&granted.revocation_ids) {
            return Err(Refusal::Revoked);
        }
        self.replay.admit_from(
            &envelope.nonce,
            holder_tag(&holder.0),
            envelope.timestamp_unix_ms,
            now_ms,
        )?;
        Ok(Admitted {
            holder,
            operation,
            payload: envelope.payload,
            decoded,
            nonce: envelope.nonce,
            timestamp_unix_ms: envelope.timestamp_unix_ms,
        })
    }

    /// What a revocation list from the authority (already verified by the shell with
    /// [`super::token::read_revocations`]) would add. Nothing changes until the shell has
    /// persisted `added` and calls [`Gate::apply_revocations`].
    pub fn plan_revocations(
        &mut self,
        list: &RevocationList,
        now_ms: u64,
    ) -> Result<PlannedList, ListRefusal> {
        self.revoked.plan(list, now_ms)
    }

    /// Puts a persisted plan in force.
    pub fn apply_revocations(&mut self, plan: &PlannedList) {
        self.revoked.apply(plan)
    }

    /// Forgets nonces and revoked ids that left their windows.
    pub fn tick(&mut self, now_ms: u64) -> (usize, usize) {
        (
            self.replay.sweep(now_ms),
            self.revoked.forget_expired(now_ms),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::envelope::Envelope;
    use crate::auth::token::tests::{access, all_rights, authority_key, NOW_MS, NOW_S};
    use crate::auth::token::{
        attenuate, Attenuation, BiscuitVerifier, Revoked, Right, VerifierConfig,
    };
    use crate::certify::proposal::Proposal;
    use crate::certify::wire::ShareMessage;
    use crate::ids::NodeSigner;
    use crate::known_topics::{KnownTopics, Payload};
    use crate::test_bytes::{TestSignatures, TestSigner};

    fn share() -> Vec<u8> {
        ShareMessage {
            class: crate::certify::threshold::ChangeClass::Standard,
            id: crate::certify::proposal::ProposalId([3; 32]),
            member: 1,
            share: [5; crate::certify::scheme::SIGNATURE_BYTES],
        }
        .encode()
    }

    /// `payload` on `topic` in an envelope sealed by `by`.
    fn sealed_by(
        by: &TestSigner,
        topic: &str,
        token: &[u8],
        nonce: u8,
        timestamp_unix_ms: u64,
        payload: &[u8],
    ) -> Vec<u8> {
        Envelope {
            token,
            nonce: [nonce; 16],
            timestamp_unix_ms,
            payload,
        }
        .seal(topic, by)
    }

    type TestGate = Gate<BiscuitVerifier, KnownTopics, TestSignatures>;

    fn gate() -> TestGate {
        let verifier = BiscuitVerifier::new(authority_key(1).public(), VerifierConfig::default());
        Gate::new(
            verifier,
            GateConfig::default(),
            KnownTopics,
            TestSignatures,
            NOW_MS,
        )
    }

    fn reason(result: Result<Admitted<'_, Payload>, Refusal>) -> &'static str {
        result.map(|_| "admitted").unwrap_or_else(|r| r.reason())
    }

    #[test]
    fn each_failure_has_its_own_reason() {
        let authority = authority_key(1);
        let signer = TestSigner::new(1);
        let member = signer.me.clone();
        let token = access(&authority, &member, all_rights());
        let payload = share();
        let mut gate = gate();
        let topic = topics::SHARES;

        let ok = sealed_by(&signer, topic, &token, 1, NOW_MS, &payload);
        let admitted = gate.admit(topic, &ok, NOW_MS).unwrap();
        assert_eq!(admitted.operation, Operation::Sign);
        assert_eq!(admitted.payload, &payload[..]);
        assert_eq!(admitted.holder, member);
        // Another key's signature under the member's name, over the same fields: the
        // envelope no longer proves its holder, wherever it came from.
        let decoded = Sealed::decode(&ok).unwrap();
        let forged_signature = TestSigner::new(2).sign(b"not this envelope");
        let forged = Sealed {
            signature: &forged_signature,
            ..decoded
        }
        .encode();
        assert_eq!(
            reason(gate.admit(topic, &forged, NOW_MS)),
            "envelope_signature"
        );
        // Sealed for another topic (a share's envelope offered as a proposal's).
        let elsewhere = sealed_by(&signer, topics::PROPOSALS, &token, 10, NOW_MS, &payload);
        assert_eq!(
            reason(gate.admit(topic, &elsewhere, NOW_MS)),
            "envelope_signature"
        );
        assert_eq!(reason(gate.admit(topic, &ok, NOW_MS + 10)), "replay");
        assert_eq!(
            reason(gate.admit(
                topic,
                &sealed_by(&TestSigner::new(2), topic, &token, 2, NOW_MS, &payload),
                NOW_MS
            )),
            "wrong_holder"
        );
        assert_eq!(
            reason(gate.admit(
                topic,
                &sealed_by(&signer, topic, &token, 3, NOW_MS - 3_600_001, &payload),
                NOW_MS
            )),
            "timestamp_stale"
        );
        assert_eq!(
            reason(gate.admit(
                topic,
                &sealed_by(&signer, topic, &token, 4, NOW_MS + 30_001, &payload),
                NOW_MS
            )),
            "timestamp_future"
        );
        assert_eq!(
            reason(gate.admit(topic, &ok[..10], NOW_MS)),
            "malformed_envelope"
        );
        assert_eq!(
            reason(gate.admit(topics::PROPOSALS, &elsewhere, NOW_MS)),
            "no_operation"
        );
        let forged = access(&authority_key(2), &member, all_rights());
        assert_eq!(
            reason(gate.admit(
                topic,
                &sealed_by(&signer, topic, &forged, 5, NOW_MS, &payload),
                NOW_MS
            )),
            "token_signature"
        );
        let votes_only = attenuate(
            &token,
            &authority.public(),
            &Attenuation {
                operations: Some(vec![Operation::Vote]),
                ..Attenuation::default()
            },
        )
        .unwrap();
        assert_eq!(
            reason(gate.admit(
                topic,
                &sealed_by(&signer, topic, &votes_only, 6, NOW_MS, &payload),
                NOW_MS
            )),
            "not_permitted"
        );
        let expiry_ms = (NOW_S + 24 * 3600) * 1000;
        assert_eq!(
            reason(gate.admit(
                topic,
                &sealed_by(&signer, topic, &token, 7, expiry_ms, &payload),
                expiry_ms
            )),
            "token_expired"
        );

        let granted = gate
            .verifier
            .verify(
                &token,
                &Request {
                    holder: &member,
                    operation: Operation::Sign,
                    topic,
                },
                NOW_MS,
            )
            .unwrap();
        let list = RevocationList {
            sequence: 1,
            entries: vec![Revoked {
                id: granted.revocation_ids[0].clone(),
                until_unix_s: NOW_S + 30 * 24 * 3600,
            }],
        };
        let plan = gate.plan_revocations(&list, NOW_MS).unwrap();
        gate.apply_revocations(&plan);
        assert_eq!(
            reason(gate.admit(
                topic,
                &sealed_by(&signer, topic, &token, 8, NOW_MS, &payload),
                NOW_MS
            )),
            "revoked"
        );
        // Revoking the credential's first block revokes every token derived from it.
        let sign_only = attenuate(
            &token,
            &authority.public(),
            &Attenuation {
                operations: Some(vec![Operation::Sign]),
                ..Attenuation::default()
            },
        )
        .unwrap();
        assert_eq!(
            reason(gate.admit(
                topic,
                &sealed_by(&signer, topic, &sign_only, 9, NOW_MS, &payload),
                NOW_MS
            )),
            "revoked"
        );
    }

    /// The re-wrap attack at the gate: one envelope in two gossip messages reaches a node
    /// twice, the second time through an honest relay. The second copy is refused as a
    /// replay with an Ignore, so the relay is not penalised; forged or misused tokens are
    /// still Rejects wherever they land.
    #[test]
    fn a_replayed_envelope_is_ignored_and_a_forged_token_rejected() {
        let authority = authority_key(1);
        let signer = TestSigner::new(1);
        let member = signer.me.clone();
        let token = access(&authority, &member, all_rights());
        let payload = share();
        let envelope = sealed_by(&signer, topics::SHARES, &token, 1, NOW_MS, &payload);
        let mut gate = gate();
        assert!(gate.admit(topics::SHARES, &envelope, NOW_MS).is_ok());
        let second = gate
            .admit(topics::SHARES, &envelope, NOW_MS + 40)
            .unwrap_err();
        assert_eq!(second.verdict(), Verdict::Ignore { reason: "replay" });
        let stale = gate
            .admit(
                topics::SHARES,
                &sealed_by(
                    &signer,
                    topics::SHARES,
                    &token,
                    2,
                    NOW_MS - 3_600_001,
                    &payload,
                ),
                NOW_MS,
            )
            .unwrap_err();
        assert_eq!(
            stale.verdict(),
            Verdict::Ignore {
                reason: "timestamp_stale"
            }
        );
        let stolen = gate
            .admit(
                topics::SHARES,
                &sealed_by(
                    &TestSigner::new(2),
                    topics::SHARES,
                    &token,
                    3,
                    NOW_MS,
                    &payload,
                ),
                NOW_MS,
            )
            .unwrap_err();
        assert_eq!(
            stolen.verdict(),
            Verdict::Reject {
                reason: "wrong_holder"
            }
        );
        let forged = access(&authority_key(2), &member, all_rights());
        let forged = gate
            .admit(
                topics::SHARES,
                &sealed_by(&signer, topics::SHARES, &forged, 4, NOW_MS, &payload),
                NOW_MS,
            )
            .unwrap_err();
        assert_eq!(
            forged.verdict(),
            Verdict::Reject {
                reason: "token_signature"
            }
        );
        // Every refusal has one reason of its own and one verdict.
        let mut reasons: Vec<&str> = Refusal::all().into_iter().map(Refusal::reason).collect();
        let count = reasons.len();
        reasons.sort_unstable();
        reasons.dedup();
        assert_eq!(reasons.len(), count, "two refusals share a reason");
    }

    #[test]
    fn a_restart_does_not_reopen_the_replay_window() {
        let authority = authority_key(1);
        let signer = TestSigner::new(1);
        let member = signer.me.clone();
        let token = access(
            &authority,
            &member,
            vec![Right::on_own_topic(Operation::Sign)],
        );
        let message = sealed_by(&signer, topics::SHARES, &token, 1, NOW_MS, &share());
        let mut before = gate();
        let admitted = before.admit(topics::SHARES, &message, NOW_MS).unwrap();
        let persisted = vec![(admitted.nonce, admitted.timestamp_unix_ms)];
        drop(before);

        let mut after = gate();
        after.restore(persisted, Vec::new(), NOW_MS + 20_000);
        assert_eq!(
            reason(after.admit(topics::SHARES, &message, NOW_MS + 20_000)),
            "replay"
        );
        // Without what was persisted, the same message would pass: the restore is what
        // closes the window.
        assert_eq!(
            reason(gate().admit(topics::SHARES, &message, NOW_MS + 20_000)),
            "admitted"
        );
    }

    #[test]
    fn proposals_on_charter_slots_need_the_charter_right() {
        let authority = authority_key(1);
        let signer = TestSigner::new(1);
        let member = signer.me.clone();
        let propose_only = access(
            &authority,
            &member,
            vec![Right::on_own_topic(Operation::Propose)],
        );
        let proposal = |slot: &str| {
            Proposal {
                epoch: 1,
                slot: slot.into(),
                payload: b"x".to_vec(),
                affected_ppm: 0,
                proposer: member.0.clone(),
                nonce: [0; 16],
                timestamp_unix_ms: NOW_MS,
            }
            .encode()
        };
        let mut gate = gate();
        let plain = sealed_by(
            &signer,
            topics::PROPOSALS,
            &propose_only,
            1,
            NOW_MS,
            &proposal("gossip/mesh_n"),
        );
        assert_eq!(
            gate.admit(topics::PROPOSALS, &plain, NOW_MS)
                .unwrap()
                .operation,
            Operation::Propose
        );
        let charter = sealed_by(
            &signer,
            topics::PROPOSALS,
            &propose_only,
            2,
            NOW_MS,
            &proposal("charter/policy"),
        );
        assert_eq!(
            reason(gate.admit(topics::PROPOSALS, &charter, NOW_MS)),
            "not_permitted"
        );
    }

    #[test]
    fn opening_a_ballot_needs_propose_on_the_ballots_topic_and_voting_needs_vote() {
        let authority = authority_key(1);
        let signer = TestSigner::new(2);
        let member = signer.me.clone();
        let vote_only = access(&authority, &member, Right::for_operation(Operation::Vote));
        let full = access(
            &authority,
            &member,
            Operation::ALL
                .into_iter()
                .flat_map(Right::for_operation)
                .collect(),
        );
        // The gate reads only the version and kind bytes; the ballot core the rest.
        let open = [
            crate::ballot::wire::VERSION,
            crate::ballot::wire::KIND_OPEN,
            0,
        ];
        let vote = [crate::ballot::wire::VERSION, 2, 0];
        let mut gate = gate();
        let refused = sealed_by(&signer, topics::BALLOTS, &vote_only, 1, NOW_MS, &open);
        assert_eq!(
            reason(gate.admit(topics::BALLOTS, &refused, NOW_MS)),
            "not_permitted"
        );
        let voted = sealed_by(&signer, topics::BALLOTS, &vote_only, 2, NOW_MS, &vote);
        assert_eq!(
            gate.admit(topics::BALLOTS, &voted, NOW_MS)
                .unwrap()
                .operation,
            Operation::Vote
        );
        let opened = sealed_by(&signer, topics::BALLOTS, &full, 3, NOW_MS, &open);
        assert_eq!(
            gate.admit(topics::BALLOTS, &opened, NOW_MS)
                .unwrap()
                .operation,
            Operation::Propose
        );
    }
}
