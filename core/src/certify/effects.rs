//! The one interpreter of a [`CertifyNode`](super::node::CertifyNode)'s actions.
//!
//! The core says what must happen ([`Action`]); a shell says how ([`CertifyEffects`]): the
//! node's actor persists to redb and publishes through libp2p, the simulator persists to a
//! modelled store and publishes into its gossip model. The order and the rules between the
//! two live here once, in [`carry_out`], so the shells cannot drift:
//!
//! * persist, then publish: a share is published only after its slot is durably recorded
//!   as signed, a certificate only after it is stored; a failed write publishes nothing;
//! * a second, different signature for a slot is refused by the store itself
//!   ([`check_signed_slot`]), whichever store it is, so even a core that lost its memory
//!   cannot make an honest member sign twice;
//! * effects happen in the order of the actions, one at a time.
//!
//! Two copies of this loop existed before (the actor's and the simulator's) and had
//! drifted: the simulator's store overwrote a second signature the node's refused.

use super::actions::{Action, Evidence, HeldShare, Origin};
use super::collector::SlotKey;
use super::proposal::ProposalId;
use super::scheme::MemberIndex;
use super::threshold::ChangeClass;
use crate::ids::Verdict;
use crate::topics;

/// Why a store write failed. Nothing that depends on it is published.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JournalError {
    /// The member signed a different proposal for this slot already; never publish.
    #[error("slot already signed for another proposal")]
    SlotAlreadySigned,
    #[error("evidence store is full")]
    EvidenceFull,
    #[error("{0}")]
    Storage(String),
}

/// The rule every store applies before recording `slot -> id` as signed, given what it
/// holds for the slot: `Ok(true)` to write, `Ok(false)` when the same id is recorded
/// already (a no-op), and a refusal for a different id.
pub fn check_signed_slot(
    recorded: Option<&ProposalId>,
    id: &ProposalId,
) -> Result<bool, JournalError> {
    match recorded {
        None => Ok(true),
        Some(recorded) if recorded == id => Ok(false),
        Some(_) => Err(JournalError::SlotAlreadySigned),
    }
}

/// What a publication is, so a shell can treat kinds differently (a share and a proposal
/// travel in an envelope; a withholding simulated node republishes nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Publication {
    /// This member's signature share, after its slot was recorded as signed.
    Share,
    /// A proposal this node made.
    Proposal,
    /// A certificate formed here, after it was stored.
    Certificate,
    /// A certificate held here, published again for nodes that missed it.
    Republished,
}

impl Publication {
    /// The topic it goes out on.
    pub fn topic(self) -> &'static str {
        match self {
            Publication::Share => topics::SHARES,
            Publication::Proposal => topics::PROPOSALS,
            Publication::Certificate | Publication::Republished => topics::CERTIFICATES,
        }
    }
}

/// What happened, for the shell's metrics, logs and traces: nothing here changes state.
#[derive(Debug, Clone, Copy)]
pub enum Observation<'a> {
    /// A valid certificate for `slot` is held here now.
    Certified {
        slot: &'a SlotKey,
        id: &'a ProposalId,
        class: ChangeClass,
        origin: Origin,
        collecting_ms: Option<u64>,
    },
    /// Two valid certificates for one slot: halted until a ballot settles it.
    Conflict {
        slot: &'a SlotKey,
        ids: &'a [ProposalId; 2],
        double_signers: &'a [MemberIndex],
    },
    /// Proof of misbehaviour, observed before it is persisted.
    Evidence(&'a Evidence),
    ShareReceived {
        class: ChangeClass,
    },
    ShareRefused {
        verdict: Verdict,
    },
    CertificateRefused {
        verdict: Verdict,
    },
    ProposalRefused {
        verdict: Verdict,
    },
    /// Something was refused for a bound or a rule; `what` is the metric label.
    Dropped {
        what: &'static str,
    },
    /// A store write failed; nothing was published for it.
    JournalFailed {
        what: &'static str,
        error: &'a JournalError,
    },
}

/// What could not be persisted while carrying out a batch of actions: nothing that
/// depends on it was published or applied, and the node undoes its side with
/// [`CertifyNode::undo_unpersisted`](super::node::CertifyNode::undo_unpersisted).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Carried {
    /// This member's own shares whose slot record failed: published nowhere, and to be
    /// withdrawn from their pending entries (a certificate must never carry a share this
    /// member could sign differently after a restart).
    pub unsigned: Vec<(SlotKey, ProposalId)>,
    /// Certificates not stored (received, or formed here): neither published nor applied.
    pub unstored: Vec<ProposalId>,
    /// A received certificate was not stored: its gossip message must not be forwarded.
    pub received_unstored: bool,
}

impl Carried {
    /// The verdict for the inbound message these actions came from: a received
    /// certificate that could not be stored is ignored (not forwarded, no penalty: the
    /// failure is this node's), whatever the core said.
    pub fn verdict(&self, verdict: Verdict) -> Verdict {
        if self.received_unstored && verdict == Verdict::Accept {
            Verdict::Ignore {
                reason: "store_failed",
            }
        } else {
            verdict
        }
    }

    pub fn is_empty(&self) -> bool {
        self.unsigned.is_empty() && self.unstored.is_empty()
    }
}

/// What a shell provides to carry out a certify node's actions.
pub trait CertifyEffects {
    /// Durably records that this member signed `id` for `slot` (the raw `share` too).
    /// Must refuse a different id for a recorded slot ([`check_signed_slot`]).
    fn persist_signed(
        &mut self,
        slot: &SlotKey,
        id: &ProposalId,
        share: &[u8],
    ) -> Result<(), JournalError>;
    /// Durably records a verified certificate, in its wire encoding.
    fn persist_certificate(&mut self, id: &ProposalId, encoded: &[u8]) -> Result<(), JournalError>;
    /// Durably records proof of misbehaviour.
    fn persist_evidence(&mut self, evidence: &Evidence) -> Result<(), JournalError>;
    /// Sends `encoded` on `publication.topic()`; called only after what it depends on is
    /// persisted.
    fn publish(&mut self, publication: Publication, encoded: Vec<u8>);
    /// Hands the verdict on a held share message back to gossip.
    fn verdict(&mut self, held: HeldShare, verdict: Verdict);
    /// Metrics, logs, traces, and telling subscribers of a certified change.
    fn observe(&mut self, observation: Observation<'_>);
}

/// Carries out `actions` in order, persisting before publishing; reports what could not
/// be persisted, so the shell can have the node undo it. After a failed write, what
/// depends on it in the same batch is skipped too: a certificate formed with this
/// member's unrecorded share is neither stored nor published, and a certificate that
/// was not stored is not applied (no `Certified` observation).
pub fn carry_out(effects: &mut impl CertifyEffects, actions: Vec<Action>) -> Carried {
    let mut carried = Carried::default();
    for action in actions {
        match action {
            Action::PublishShare {
                slot,
                id,
                share,
                encoded,
            } => match effects.persist_signed(&slot, &id, &share) {
                Ok(()) => effects.publish(Publication::Share, encoded),
                Err(error) => {
                    failed(effects, "signed slot", &error);
                    carried.unsigned.push((slot, id));
                }
            },
            Action::PublishCertificate { id, encoded } => {
                if carried.unsigned.iter().any(|(_, unsigned)| *unsigned == id) {
                    effects.observe(Observation::Dropped {
                        what: "certificate_with_unrecorded_share",
                    });
                    carried.unstored.push(id);
                    continue;
                }
                match effects.persist_certificate(&id, &encoded) {
                    Ok(()) => effects.publish(Publication::Certificate, encoded),
                    Err(error) => {
                        failed(effects, "certificate", &error);
                        carried.unstored.push(id);
                    }
                }
            }
            Action::StoreCertificate { id, encoded } => {
                if let Err(error) = effects.persist_certificate(&id, &encoded) {
                    failed(effects, "certificate", &error);
                    carried.unstored.push(id);
                    carried.received_unstored = true;
                }
            }
            Action::PublishProposal { encoded } => {
                effects.publish(Publication::Proposal, encoded);
            }
            Action::RepublishCertificate { encoded, .. } => {
                effects.publish(Publication::Republished, encoded);
            }
            Action::Verdict { held, verdict } => effects.verdict(held, verdict),
            Action::Evidence(evidence) => {
                effects.observe(Observation::Evidence(&evidence));
                if let Err(error) = effects.persist_evidence(&evidence) {
                    failed(effects, "evidence", &error);
                }
            }
            Action::Certified { id, .. } if carried.unstored.contains(&id) => {
                effects.observe(Observation::Dropped {
                    what: "certificate_unstored",
                })
            }
            Action::Certified {
                slot,
                id,
                class,
                origin,
                collecting_ms,
            } => effects.observe(Observation::Certified {
                slot: &slot,
                id: &id,
                class,
                origin,
                collecting_ms,
            }),
            Action::Conflict {
                slot,
                ids,
                double_signers,
            } => effects.observe(Observation::Conflict {
                slot: &slot,
                ids: &ids,
                double_signers: &double_signers,
            }),
            Action::ShareReceived { class } => {
                effects.observe(Observation::ShareReceived { class })
            }
            Action::ShareRefused { verdict } => {
                effects.observe(Observation::ShareRefused { verdict })
            }
            Action::CertificateRefused { verdict } => {
                effects.observe(Observation::CertificateRefused { verdict })
            }
            Action::ProposalRefused { verdict } => {
                effects.observe(Observation::ProposalRefused { verdict })
            }
            Action::Dropped { what } => effects.observe(Observation::Dropped { what }),
        }
    }
    carried
}

fn failed(effects: &mut impl CertifyEffects, what: &'static str, error: &JournalError) {
    effects.observe(Observation::JournalFailed { what, error });
}

/// A store in memory with the same rules as the node's: what the simulator persists, and
/// what tests use where a file adds nothing. Bounded by what the core itself bounds (one
/// signed entry per slot it signs, one certificate per certificate it holds).
#[derive(Debug, Clone, Default)]
pub struct MemoryJournal {
    pub signed: std::collections::BTreeMap<SlotKey, ProposalId>,
    pub certificates: std::collections::BTreeMap<ProposalId, Vec<u8>>,
}

impl MemoryJournal {
    /// Records `slot -> id` as signed, refusing a different id for a recorded slot.
    pub fn record_signed(&mut self, slot: &SlotKey, id: &ProposalId) -> Result<(), JournalError> {
        if check_signed_slot(self.signed.get(slot), id)? {
            self.signed.insert(slot.clone(), *id);
        }
        Ok(())
    }

    pub fn record_certificate(&mut self, id: &ProposalId, encoded: &[u8]) {
        self.certificates.insert(*id, encoded.to_vec());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Recorder {
        journal: MemoryJournal,
        log: Vec<String>,
    }

    impl CertifyEffects for Recorder {
        fn persist_signed(
            &mut self,
            slot: &SlotKey,
            id: &ProposalId,
            _share: &[u8],
        ) -> Result<(), JournalError> {
            self.log.push(format!("persist signed {}", id.0[0]));
            self.journal.record_signed(slot, id)
        }
        fn persist_certificate(
            &mut self,
            id: &ProposalId,
            encoded: &[u8],
        ) -> Result<(), JournalError> {
            self.log.push(format!("persist certificate {}", id.0[0]));
            self.journal.record_certificate(id, encoded);
            Ok(())
        }
        fn persist_evidence(&mut self, _: &Evidence) -> Result<(), JournalError> {
            Err(JournalError::EvidenceFull)
        }
        fn publish(&mut self, publication: Publication, encoded: Vec<u8>) {
            self.log
                .push(format!("publish {:?} {}", publication, encoded[0]));
        }
        fn verdict(&mut self, _: HeldShare, verdict: Verdict) {
            self.log.push(format!("verdict {verdict:?}"));
        }
        fn observe(&mut self, observation: Observation<'_>) {
            if let Observation::JournalFailed { what, error } = observation {
                self.log.push(format!("failed {what}: {error}"));
            }
        }
    }

    fn share(slot: &str, id: u8) -> Action {
        Action::PublishShare {
            slot: (1, slot.to_string()),
            id: ProposalId([id; 32]),
            share: [0; super::super::scheme::SIGNATURE_BYTES],
            encoded: vec![id],
        }
    }

    #[test]
    fn persists_before_publishing_and_refuses_a_second_signature() {
        let mut recorder = Recorder {
            journal: MemoryJournal::default(),
            log: Vec::new(),
        };
        carry_out(
            &mut recorder,
            vec![
                share("gossip/mesh_n", 7),
                share("gossip/mesh_n", 7),
                share("gossip/mesh_n", 9),
                Action::PublishCertificate {
                    id: ProposalId([7; 32]),
                    encoded: vec![70],
                },
                Action::Evidence(Evidence::InvalidShare {
                    member: 1,
                    id: ProposalId([7; 32]),
                    share: vec![],
                }),
            ],
        );
        assert_eq!(
            recorder.log,
            [
                "persist signed 7",
                "publish Share 7",
                "persist signed 7",
                "publish Share 7",
                "persist signed 9",
                "failed signed slot: slot already signed for another proposal",
                "persist certificate 7",
                "publish Certificate 70",
                "failed evidence: evidence store is full",
            ]
        );
        assert_eq!(
            recorder
                .journal
                .signed
                .get(&(1, "gossip/mesh_n".to_string())),
            Some(&ProposalId([7; 32]))
        );
    }

    #[test]
    fn the_signed_slot_rule() {
        let a = ProposalId([1; 32]);
        let b = ProposalId([2; 32]);
        assert_eq!(check_signed_slot(None, &a), Ok(true));
        assert_eq!(check_signed_slot(Some(&a), &a), Ok(false));
        assert_eq!(
            check_signed_slot(Some(&a), &b),
            Err(JournalError::SlotAlreadySigned)
        );
    }
}

/// Store failures, injected on command: what a node acknowledges or acts on is persisted
/// first, and what could not be persisted is neither sent nor applied, and is undone.
#[cfg(test)]
mod store_failures {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use blsttc::SecretKeySet;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::certify::collector::CollectorConfig;
    use crate::certify::committee::{key_set_threshold, Committee};
    use crate::certify::node::{CertifyConfig, CertifyNode, CertifySetup, InboundVerdict};
    use crate::certify::proposal::Proposal;
    use crate::certify::scheme::{signing_message, BlsMember};
    use crate::certify::wire::{CertificateMessage, ShareMessage};
    use crate::ids::PeerKey;

    const N: usize = 10;

    /// A journal in memory that fails every write while `failing` is set.
    #[derive(Default)]
    struct FailingStore {
        journal: MemoryJournal,
        failing: bool,
        published: Vec<(Publication, Vec<u8>)>,
        certified: Vec<ProposalId>,
    }

    impl CertifyEffects for FailingStore {
        fn persist_signed(
            &mut self,
            slot: &SlotKey,
            id: &ProposalId,
            _share: &[u8],
        ) -> Result<(), JournalError> {
            if self.failing {
                return Err(JournalError::Storage("disk full (injected)".into()));
            }
            self.journal.record_signed(slot, id)
        }
        fn persist_certificate(
            &mut self,
            id: &ProposalId,
            encoded: &[u8],
        ) -> Result<(), JournalError> {
            if self.failing {
                return Err(JournalError::Storage("disk full (injected)".into()));
            }
            self.journal.record_certificate(id, encoded);
            Ok(())
        }
        fn persist_evidence(&mut self, _: &Evidence) -> Result<(), JournalError> {
            Ok(())
        }
        fn publish(&mut self, publication: Publication, encoded: Vec<u8>) {
            self.published.push((publication, encoded));
        }
        fn verdict(&mut self, _: HeldShare, _: Verdict) {}
        fn observe(&mut self, observation: Observation<'_>) {
            if let Observation::Certified { id, .. } = observation {
                self.certified.push(*id);
            }
        }
    }

    struct Keys {
        standard: SecretKeySet,
        supermajority: SecretKeySet,
    }

    fn keys() -> Keys {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        Keys {
            standard: SecretKeySet::random(key_set_threshold(N, ChangeClass::Standard), &mut rng),
            supermajority: SecretKeySet::random(
                key_set_threshold(N, ChangeClass::Supermajority),
                &mut rng,
            ),
        }
    }

    fn member_key(i: usize) -> PeerKey {
        PeerKey(vec![i as u8, 9])
    }

    /// Node `me` of the committee, a member with its key shares.
    fn node(keys: &Keys, me: usize) -> CertifyNode {
        let committee = Committee::new(
            1,
            (0..N).map(member_key).collect(),
            keys.standard.public_keys(),
            keys.supermajority.public_keys(),
            vec!["charter/*".into()],
        )
        .unwrap();
        let signer = |set: &SecretKeySet| BlsMember::new(me as u16, set.secret_key_share(me));
        let setup = CertifySetup {
            committee: Arc::new(committee),
            own_key: member_key(me),
            shares: Some((signer(&keys.standard), signer(&keys.supermajority))),
            signed: BTreeMap::new(),
            certificates: Vec::new(),
        };
        let config = CertifyConfig {
            collector: CollectorConfig::default(),
            tick_ms: 50,
            held_verdicts_max: 4_096,
            proposal_future_skew_ms_max: 30_000,
            proposal_age_ms_max: 120_000,
            retry_queue_max: 256,
            republish_interval_ms: 60_000,
            republish_window_ms: 3_600_000,
        };
        CertifyNode::new(setup, config, &mut Vec::new())
    }

    const NOW_MS: u64 = 1_800_000_000_000;

    fn proposal(proposer: usize) -> Proposal {
        Proposal {
            epoch: 1,
            slot: "gossip/mesh_n_low".into(),
            payload: b"5".to_vec(),
            affected_ppm: 1_000_000,
            proposer: member_key(proposer).0,
            nonce: [3; 16],
            timestamp_unix_ms: NOW_MS,
        }
    }

    fn certificate(keys: &Keys, proposal: &Proposal, signers: &[usize]) -> CertificateMessage {
        let message = signing_message(&proposal.id());
        let shares: BTreeMap<usize, _> = signers
            .iter()
            .map(|&i| (i, keys.standard.secret_key_share(i).sign(&message)))
            .collect();
        let signature = keys
            .standard
            .public_keys()
            .combine_signatures(&shares)
            .unwrap();
        CertificateMessage {
            proposal: proposal.clone(),
            signers: signers.iter().map(|&i| i as u16).collect(),
            signature: signature.to_bytes(),
        }
    }

    /// Runs one inbound message through the node and the interpreter, as a shell does.
    fn inbound(
        node: &mut CertifyNode,
        store: &mut FailingStore,
        topic: &str,
        author: usize,
        data: &[u8],
    ) -> Verdict {
        let mut actions = Vec::new();
        let verdict = node.on_inbound(topic, Some(&member_key(author)), data, NOW_MS, &mut actions);
        let carried = carry_out(store, actions);
        node.undo_unpersisted(&carried);
        match verdict {
            InboundVerdict::Now(verdict) => carried.verdict(verdict),
            InboundVerdict::Held(_) => Verdict::Ignore { reason: "held" },
        }
    }

    #[test]
    fn a_received_certificate_the_store_refuses_is_not_accepted_forwarded_or_applied() {
        let keys = keys();
        let mut node = node(&keys, 0);
        let mut store = FailingStore {
            failing: true,
            ..Default::default()
        };
        let p = proposal(4);
        let message = certificate(&keys, &p, &[1, 2, 3, 4]);
        let verdict = inbound(
            &mut node,
            &mut store,
            topics::CERTIFICATES,
            7,
            &message.encode(),
        );
        assert_eq!(
            verdict,
            Verdict::Ignore {
                reason: "store_failed"
            },
            "not forwarded, and no penalty for the relay"
        );
        assert!(store.certified.is_empty(), "not applied");
        assert!(node.certificate(&p.id()).is_none(), "not held");
        assert!(store.published.is_empty());
        // The store works again: the next copy is taken up and stored, not a duplicate.
        store.failing = false;
        let verdict = inbound(
            &mut node,
            &mut store,
            topics::CERTIFICATES,
            7,
            &message.encode(),
        );
        assert_eq!(verdict, Verdict::Accept);
        assert_eq!(store.certified, vec![p.id()]);
        assert!(store.journal.certificates.contains_key(&p.id()));
        assert!(node.certificate(&p.id()).is_some());
    }

    #[test]
    fn an_own_share_whose_slot_record_fails_leaves_the_pending_entry() {
        let keys = keys();
        let mut node = node(&keys, 0);
        let mut store = FailingStore {
            failing: true,
            ..Default::default()
        };
        let p = proposal(4);
        let id = p.id();
        assert_eq!(
            inbound(&mut node, &mut store, topics::PROPOSALS, 4, &p.encode()),
            Verdict::Accept
        );
        assert!(
            store.published.is_empty(),
            "the unrecorded share is not sent"
        );
        store.failing = false;
        // Three more members' shares: with member 0's share that would be t+1 = 4; without
        // it, no certificate may form, and none may carry member 0's signature.
        let message = signing_message(&id);
        for m in 1..=3usize {
            let share = ShareMessage {
                class: ChangeClass::Standard,
                id,
                member: m as u16,
                share: keys.standard.secret_key_share(m).sign(&message).to_bytes(),
            };
            inbound(&mut node, &mut store, topics::SHARES, m, &share.encode());
        }
        assert!(
            node.certificate(&id).is_none(),
            "formed with the withdrawn own share"
        );
        // A fourth other member completes it, without member 0.
        let share = ShareMessage {
            class: ChangeClass::Standard,
            id,
            member: 5,
            share: keys
                .standard
                .secret_key_share(5usize)
                .sign(&message)
                .to_bytes(),
        };
        inbound(&mut node, &mut store, topics::SHARES, 5, &share.encode());
        let formed = node
            .certificate(&id)
            .expect("certified by members 1, 2, 3, 5");
        assert!(!formed.signers.contains(&0), "signers {:?}", formed.signers);
    }
}
