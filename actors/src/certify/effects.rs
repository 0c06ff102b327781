//! The actor's side of the certify interpreter that the simulator runs too
//! (`x0_core::certify::effects`): redb through the [`Journal`], publications collected
//! for the network, metrics, logs, and the subscribers of certified changes.

use std::collections::BTreeMap;

use actix::Recipient;
use tokio::sync::oneshot;
use x0_core::certify::collector::SlotKey;
use x0_core::certify::effects::{CertifyEffects, JournalError, Observation, Publication};
use x0_core::certify::node::{CertifyNode, Evidence, HeldShare, Origin};
use x0_core::certify::proposal::ProposalId;
use x0_core::certify::threshold::ChangeClass;

use super::metrics::{ClassLabel, KindLabel, OriginLabel, ReasonLabel};
use super::{notify, AnomalyWatch, CertifyMetrics, Journal};
use crate::messages::{CertifiedChange, Verdict};
use crate::wall_clock::unix_ms_now;

/// The actor's side of the shared interpreter: redb through the [`Journal`], publications
/// collected for the network, metrics, logs and subscribers.
pub(super) struct ActorEffects<'a> {
    pub(super) node: &'a CertifyNode,
    pub(super) journal: &'a dyn Journal,
    pub(super) metrics: &'a CertifyMetrics,
    pub(super) anomaly: &'a mut AnomalyWatch,
    pub(super) held: &'a mut BTreeMap<HeldShare, oneshot::Sender<Verdict>>,
    pub(super) subscribers: &'a [(String, Recipient<CertifiedChange>)],
    pub(super) publications: Vec<(&'static str, Vec<u8>)>,
}

impl CertifyEffects for ActorEffects<'_> {
    fn persist_signed(
        &mut self,
        slot: &SlotKey,
        id: &ProposalId,
        share: &[u8],
    ) -> Result<(), JournalError> {
        self.journal.record_signed(slot, id, share)
    }

    fn persist_certificate(&mut self, id: &ProposalId, encoded: &[u8]) -> Result<(), JournalError> {
        self.journal.record_certificate(id, encoded)
    }

    fn persist_evidence(&mut self, evidence: &Evidence) -> Result<(), JournalError> {
        self.journal.record_evidence(evidence)
    }

    fn publish(&mut self, publication: Publication, encoded: Vec<u8>) {
        if publication == Publication::Republished {
            self.metrics.republished.inc();
        }
        self.publications.push((publication.topic(), encoded));
    }

    fn verdict(&mut self, held: HeldShare, verdict: Verdict) {
        if let Some(reply) = self.held.remove(&held) {
            let _ = reply.send(verdict);
        }
    }

    fn observe(&mut self, observation: Observation<'_>) {
        match observation {
            Observation::Certified {
                slot,
                id,
                class,
                origin,
                collecting_ms,
            } => {
                if let Some(ms) = collecting_ms {
                    self.metrics.formation_seconds.observe(ms as f64 / 1000.0);
                }
                let certificate = self.node.certificate(id);
                // Restored certificates were counted in the run that accepted them.
                if let (Some(certificate), true) = (certificate, origin != Origin::Restored) {
                    let ppm = certificate.proposal.affected_ppm;
                    self.anomaly.on_certified(id, ppm, unix_ms_now());
                }
                self.metrics
                    .certificates
                    .get_or_create(&OriginLabel {
                        origin: origin.as_str(),
                    })
                    .inc();
                tracing::info!(epoch = slot.0, slot = %slot.1, id = %hex::encode(id.0), ?class, origin = origin.as_str(), "certificate accepted");
                if let Some(certificate) = certificate {
                    notify(self.subscribers, certificate);
                }
            }
            Observation::Conflict {
                slot,
                ids,
                double_signers,
            } => {
                self.metrics.conflicts.inc();
                tracing::error!(
                    epoch = slot.0, slot = %slot.1, first = %hex::encode(ids[0].0), second = %hex::encode(ids[1].0),
                    ?double_signers,
                    "conflicting certificates: slot halted until a ballot settles it"
                );
            }
            Observation::Evidence(evidence) => {
                let kind = match evidence {
                    Evidence::InvalidShare { member, id, .. } => {
                        tracing::warn!(member, id = %hex::encode(id.0), "invalid signature share");
                        "invalid_share"
                    }
                    Evidence::DoubleSigned { .. } => "double_signed",
                };
                self.metrics
                    .evidence
                    .get_or_create(&KindLabel { kind })
                    .inc();
            }
            Observation::ShareReceived { class } => {
                self.metrics
                    .shares_received
                    .get_or_create(&ClassLabel {
                        class: class_name(class),
                    })
                    .inc();
            }
            Observation::ShareRefused { verdict } => match verdict {
                Verdict::Reject { reason } => {
                    self.metrics
                        .shares_rejected
                        .get_or_create(&ReasonLabel { reason })
                        .inc();
                }
                Verdict::Ignore { reason } => {
                    self.metrics
                        .shares_ignored
                        .get_or_create(&ReasonLabel { reason })
                        .inc();
                }
                Verdict::Accept => {}
            },
            Observation::CertificateRefused { verdict } => {
                if let Verdict::Reject { reason } = verdict {
                    self.metrics
                        .certificates_rejected
                        .get_or_create(&ReasonLabel { reason })
                        .inc();
                }
            }
            Observation::ProposalRefused { verdict } => {
                if let Verdict::Reject { reason } | Verdict::Ignore { reason } = verdict {
                    self.metrics
                        .proposals_ignored
                        .get_or_create(&ReasonLabel { reason })
                        .inc();
                }
            }
            Observation::Dropped { what } => self.metrics.drop(what),
            Observation::JournalFailed { what, error } => {
                self.metrics.journal_failures.inc();
                tracing::error!(what, %error, "store write failed; nothing published for it");
            }
        }
    }
}

fn class_name(class: ChangeClass) -> &'static str {
    match class {
        ChangeClass::Standard => "standard",
        ChangeClass::Supermajority => "supermajority",
    }
}
