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

/// Carries out `actions` in order, persisting before publishing.
pub fn carry_out(effects: &mut impl CertifyEffects, actions: Vec<Action>) {
    for action in actions {
        match action {
            Action::PublishShare {
                slot,
                id,
                share,
                encoded,
            } => match effects.persist_signed(&slot, &id, &share) {
                Ok(()) => effects.publish(Publication::Share, encoded),
                Err(error) => failed(effects, "signed slot", &error),
            },
            Action::PublishCertificate { id, encoded } => {
                match effects.persist_certificate(&id, &encoded) {
                    Ok(()) => effects.publish(Publication::Certificate, encoded),
                    Err(error) => failed(effects, "certificate", &error),
                }
            }
            Action::StoreCertificate { id, encoded } => {
                if let Err(error) = effects.persist_certificate(&id, &encoded) {
                    failed(effects, "certificate", &error);
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
