//! What one node does with certificate traffic, sans-IO: the wire checks, the two
//! collection cores (standard and supermajority key sets), held share verdicts, and the
//! certificates it holds. The actix actor (`x0_actors::certify`) and the simulator are the
//! shells: they bring bytes, authors and `now`, and carry out the [`Action`]s (persist,
//! then publish; metrics; logs).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use super::collector::{
    Certificate, CertificateVerdict, Collector, CollectorConfig, Output, ShareVerdict, SlotKey,
};
use super::committee::Committee;
use super::effects::Carried;
use super::proposal::{Proposal, ProposalId};
use super::scheme::{Bls, MemberIndex, Suite, ThresholdScheme};
use super::threshold::{share_count_min, ChangeClass};
use super::wire::{CertificateMessage, ShareMessage};
use crate::ids::{PeerKey, Verdict};
use crate::topics;

pub use super::actions::{
    Action, Evidence, HeldShare, InboundVerdict, Origin, ProposeError, SettleError,
};

type Core<S> = Collector<<S as Suite>::Scheme, <S as Suite>::Signer>;
type CoreOutput<S> = Output<
    <<S as Suite>::Scheme as ThresholdScheme>::Share,
    <<S as Suite>::Scheme as ThresholdScheme>::Certificate,
>;

/// Bounds and timers (the `[certify]` config section).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertifyConfig {
    pub collector: CollectorConfig,
    /// How often the shell calls [`CertifyNode::tick`].
    pub tick_ms: u64,
    /// Share verdicts waiting for the core at once; beyond it a share is ignored.
    pub held_verdicts_max: usize,
    /// A proposal stamped further ahead of our clock than this is ignored.
    pub proposal_future_skew_ms_max: u64,
    /// A proposal older than this is ignored (it could only be a replay or a straggler).
    pub proposal_age_ms_max: u64,
    /// Publications waiting for a retry (no peers yet, queue full), in the shell.
    pub retry_queue_max: usize,
    /// A certificate is published again this often by t+1 members (so at least one honest
    /// one), for nodes that missed it: gossip repairs only from a cache of a few
    /// heartbeats, so a node cut off by a partition or down for a while would otherwise
    /// never learn of it. Receivers that hold it already ignore the copy without a pairing.
    pub republish_interval_ms: u64,
    /// How long after a node first holds a certificate it keeps publishing it again.
    pub republish_window_ms: u64,
}

/// A summary for `/status`, the CLI and the simulator's report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertifySummary {
    pub epoch: u64,
    pub members: usize,
    pub own_member: Option<MemberIndex>,
    pub standard_signers_min: usize,
    pub supermajority_signers_min: usize,
    pub certificates: usize,
    pub pending: usize,
    pub held_verdicts: usize,
    pub halted: Vec<SlotKey>,
    /// The latest proposals that expired uncertified here, newest first (at most 16).
    pub recently_expired: Vec<ExpiredProposal>,
}

/// What a node brings from its keys and its store.
pub struct CertifySetup<S: Suite = Bls> {
    pub committee: Arc<Committee<S>>,
    pub own_key: PeerKey,
    /// This node's secret shares (standard, supermajority), if it is a member.
    pub shares: Option<(S::Signer, S::Signer)>,
    /// What the store remembers this member signed.
    pub signed: BTreeMap<SlotKey, ProposalId>,
    /// Certificates the store kept, in wire form.
    pub certificates: Vec<CertificateMessage>,
}

/// One node's certificate state machine, over signature suite `S` (BLS on every node).
pub struct CertifyNode<S: Suite = Bls> {
    committee: Arc<Committee<S>>,
    own_key: PeerKey,
    own_member: Option<MemberIndex>,
    standard: Core<S>,
    supermajority: Core<S>,
    config: CertifyConfig,
    held: BTreeSet<HeldShare>,
    /// Every certificate held here, by proposal id, in wire form (bounded like the cores).
    certificates: BTreeMap<ProposalId, CertificateMessage>,
    /// Certificates this member publishes again: (first held, next due), times in ms;
    /// `None` until the first tick after the node got it. Bounded with `certificates`.
    republish: BTreeMap<ProposalId, Option<(u64, u64)>>,
    /// When this node last forwarded a copy of each certificate it holds (bounded with
    /// `certificates`).
    forwarded_ms: BTreeMap<ProposalId, u64>,
    /// Proposals that expired uncertified, the latest [`EXPIRED_KEPT_MAX`], oldest first:
    /// what `/status` and `x0 propose` report.
    expired: VecDeque<ExpiredProposal>,
}

/// Expired proposals remembered for `/status` and `GET /proposals/{id}`.
pub const EXPIRED_KEPT_MAX: usize = 1_024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiredProposal {
    pub id: ProposalId,
    pub shares: usize,
    pub needed: usize,
}

/// Where a proposal stands on this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProposalState {
    /// Collecting: `shares` of `needed`, until `expires_ms` (Unix ms).
    Pending {
        shares: usize,
        needed: usize,
        expires_ms: u64,
    },
    Certified,
    /// Its lifetime passed with `shares` of `needed`; its proposer may propose again.
    Expired {
        shares: usize,
        needed: usize,
    },
    /// Never seen here, or forgotten.
    Unknown,
}

impl<S: Suite> CertifyNode<S> {
    /// Builds the node and re-admits the stored certificates; `out` receives what that
    /// found (certified slots, conflicts among stored certificates).
    pub fn new(setup: CertifySetup<S>, config: CertifyConfig, out: &mut Vec<Action>) -> Self {
        assert!(config.tick_ms > 0 && config.held_verdicts_max > 0);
        let committee = setup.committee;
        let own_member = setup.shares.as_ref().map(|(s, _)| {
            use super::scheme::ShareSigner;
            s.member()
        });
        let (standard_signer, supermajority_signer) = match setup.shares {
            Some((a, b)) => (Some(a), Some(b)),
            None => (None, None),
        };
        // Only this epoch's slots: each epoch has its own bounded tables, and a store keeps
        // older epochs only until the node prunes them at start.
        let split = |class: ChangeClass| -> BTreeMap<SlotKey, ProposalId> {
            setup
                .signed
                .iter()
                .filter(|((epoch, slot), _)| {
                    *epoch == committee.epoch && committee.class_of(slot) == class
                })
                .map(|(k, v)| (k.clone(), *v))
                .collect()
        };
        let standard = Collector::new(
            committee.scheme(ChangeClass::Standard).clone(),
            standard_signer,
            config.collector,
            split(ChangeClass::Standard),
        );
        let supermajority = Collector::new(
            committee.scheme(ChangeClass::Supermajority).clone(),
            supermajority_signer,
            config.collector,
            split(ChangeClass::Supermajority),
        );
        let mut node = CertifyNode {
            committee,
            own_key: setup.own_key,
            own_member,
            standard,
            supermajority,
            config,
            held: BTreeSet::new(),
            certificates: BTreeMap::new(),
            republish: BTreeMap::new(),
            forwarded_ms: BTreeMap::new(),
            expired: VecDeque::new(),
        };
        for message in setup.certificates {
            node.restore(message, out);
        }
        node
    }

    pub fn committee(&self) -> &Committee<S> {
        &self.committee
    }

    pub fn config(&self) -> &CertifyConfig {
        &self.config
    }

    pub fn certificate(&self, id: &ProposalId) -> Option<&CertificateMessage> {
        self.certificates.get(id)
    }

    pub fn certificates(&self) -> impl Iterator<Item = &CertificateMessage> {
        self.certificates.values()
    }

    pub fn summary(&self) -> CertifySummary {
        let n = self.committee.size();
        CertifySummary {
            epoch: self.committee.epoch,
            members: n,
            own_member: self.own_member,
            standard_signers_min: share_count_min(n, ChangeClass::Standard),
            supermajority_signers_min: share_count_min(n, ChangeClass::Supermajority),
            certificates: self.certificates.len(),
            pending: self.standard.pending_count() + self.supermajority.pending_count(),
            held_verdicts: self.held.len(),
            halted: self
                .standard
                .halted()
                .chain(self.supermajority.halted())
                .cloned()
                .collect(),
            recently_expired: self.expired.iter().rev().take(16).copied().collect(),
        }
    }

    /// What the collectors hold now, against their bounds: (pending entries, slots
    /// charged to proposers), both classes together. Each is at most twice the
    /// collector's `pending_max` + `certified_max` and `certified_max`; cheap enough to
    /// sample after every message (the simulator tracks the peak).
    pub fn state_size(&self) -> (usize, usize) {
        (
            self.standard.pending_count() + self.supermajority.pending_count(),
            self.standard.slots_charged() + self.supermajority.slots_charged(),
        )
    }

    fn core(&mut self, class: ChangeClass) -> &mut Core<S> {
        match class {
            ChangeClass::Standard => &mut self.standard,
            ChangeClass::Supermajority => &mut self.supermajority,
        }
    }

    fn restore(&mut self, message: CertificateMessage, out: &mut Vec<Action>) {
        if message.proposal.epoch != self.committee.epoch {
            return; // another epoch's certificate: nothing in this epoch depends on it
        }
        let Some(proposer) = self
            .committee
            .member_index(&PeerKey(message.proposal.proposer.clone()))
        else {
            out.push(Action::Dropped {
                what: "stored_certificate_unreadable",
            });
            return;
        };
        let class = self.committee.class_of(&message.proposal.slot);
        let Ok(signature) = S::decode_certificate(&message.signature) else {
            out.push(Action::Dropped {
                what: "stored_certificate_unreadable",
            });
            return;
        };
        let mut core_out = Vec::new();
        self.core(class).restore(
            Certificate {
                proposal: message.proposal.clone(),
                signers: message.signers.clone(),
                signature,
            },
            proposer,
            &mut core_out,
        );
        self.remember(message.proposal.id(), message, out);
        self.apply(class, core_out, Origin::Restored, out);
    }

    /// Undoes what the shell could not persist ([`carry_out`](super::effects::carry_out)'s
    /// report): this member's unrecorded shares leave their pending entries, so no
    /// certificate formed here carries them; an unstored certificate is forgotten, so it
    /// is not republished and the next copy that arrives is taken up (and stored) again.
    /// The slot a share was refused for stays signed here: nothing was sent for it, and
    /// signing nothing else for it in this run is the safe side.
    pub fn undo_unpersisted(&mut self, carried: &Carried) {
        for (slot, id) in &carried.unsigned {
            let class = self.committee.class_of(&slot.1);
            self.core(class).withdraw_own_share(id);
        }
        for id in &carried.unstored {
            self.republish.remove(id);
            self.forwarded_ms.remove(id);
            let Some(message) = self.certificates.remove(id) else {
                continue;
            };
            let slot: SlotKey = (message.proposal.epoch, message.proposal.slot.clone());
            let class = self.committee.class_of(&slot.1);
            self.core(class).forget_certificate(&slot, id);
        }
    }

    /// A passed ballot chose proposal `id` for `slot` (of the current epoch), which two
    /// certificates had halted: the slot keeps that certificate and opens again.
    pub fn settle(&mut self, slot: &str, id: &ProposalId) -> Result<(), SettleError> {
        let message = self
            .certificates
            .get(id)
            .cloned()
            .ok_or(SettleError::NotCertified)?;
        if message.proposal.slot != slot || message.proposal.epoch != self.committee.epoch {
            return Err(SettleError::OtherSlot);
        }
        let class = self.committee.class_of(slot);
        let signature =
            S::decode_certificate(&message.signature).map_err(|_| SettleError::NotCertified)?;
        let key: SlotKey = (message.proposal.epoch, message.proposal.slot.clone());
        let chosen = Certificate {
            proposal: message.proposal,
            signers: message.signers,
            signature,
        };
        if self.core(class).settle(&key, chosen) {
            Ok(())
        } else {
            Err(SettleError::NotHalted)
        }
    }

    /// A gossip message on one of the certificate topics arrived.
    pub fn on_inbound(
        &mut self,
        topic: &str,
        author: Option<&PeerKey>,
        data: &[u8],
        now_ms: u64,
        out: &mut Vec<Action>,
    ) -> InboundVerdict {
        let verdict = match topic {
            topics::PROPOSALS => self.on_proposal(author, data, now_ms, out),
            topics::CERTIFICATES => self.on_certificate(data, now_ms, out),
            topics::SHARES => return self.on_share(author, data, now_ms, out),
            _ => Verdict::Ignore {
                reason: "not_my_topic",
            },
        };
        InboundVerdict::Now(verdict)
    }

    /// Checks a proposal against what the core does not know: the epoch, the proposer,
    /// the clock.
    fn admit_proposal(
        &self,
        proposal: &Proposal,
        author: Option<&PeerKey>,
        now_ms: u64,
    ) -> Result<(), Verdict> {
        if proposal.epoch != self.committee.epoch {
            return Err(Verdict::Ignore {
                reason: "other_epoch",
            });
        }
        if author.map(|a| a.0.as_slice()) != Some(proposal.proposer.as_slice()) {
            return Err(Verdict::Reject {
                reason: "proposer_not_author",
            });
        }
        // Until capability tokens land, proposing is a committee member's right.
        if self
            .committee
            .member_index(&PeerKey(proposal.proposer.clone()))
            .is_none()
        {
            return Err(Verdict::Reject {
                reason: "proposer_not_member",
            });
        }
        if proposal.timestamp_unix_ms > now_ms + self.config.proposal_future_skew_ms_max {
            return Err(Verdict::Ignore {
                reason: "from_the_future",
            });
        }
        if now_ms.saturating_sub(proposal.timestamp_unix_ms) > self.config.proposal_age_ms_max {
            return Err(Verdict::Ignore { reason: "stale" });
        }
        Ok(())
    }

    fn on_proposal(
        &mut self,
        author: Option<&PeerKey>,
        data: &[u8],
        now_ms: u64,
        out: &mut Vec<Action>,
    ) -> Verdict {
        let refuse = |verdict: Verdict, out: &mut Vec<Action>| {
            out.push(Action::ProposalRefused { verdict });
            verdict
        };
        let Ok(proposal) = Proposal::decode(data) else {
            return refuse(
                Verdict::Reject {
                    reason: "malformed_proposal",
                },
                out,
            );
        };
        self.on_admitted_proposal(author, proposal, now_ms, out)
    }

    /// A proposal the admission gate decoded already (`known_topics::Payload::Proposal`):
    /// the same checks as one arriving as bytes, without decoding it again.
    pub fn on_admitted_proposal(
        &mut self,
        author: Option<&PeerKey>,
        proposal: Proposal,
        now_ms: u64,
        out: &mut Vec<Action>,
    ) -> Verdict {
        if let Err(verdict) = self.admit_proposal(&proposal, author, now_ms) {
            out.push(Action::ProposalRefused { verdict });
            return verdict;
        }
        let proposer = self
            .committee
            .member_index(&PeerKey(proposal.proposer.clone()))
            .expect("admit_proposal checked membership");
        let class = self.committee.class_of(&proposal.slot);
        let mut core_out = Vec::new();
        let taken = self
            .core(class)
            .on_proposal(proposal, proposer, now_ms, &mut core_out);
        self.apply(class, core_out, Origin::Formed, out);
        match taken {
            Ok(()) => Verdict::Accept,
            // A fair-share bound: it depends on what this node holds, so no penalty.
            Err(reason) => {
                let verdict = Verdict::Ignore { reason };
                out.push(Action::ProposalRefused { verdict });
                verdict
            }
        }
    }

    fn on_share(
        &mut self,
        author: Option<&PeerKey>,
        data: &[u8],
        now_ms: u64,
        out: &mut Vec<Action>,
    ) -> InboundVerdict {
        let refuse = |verdict: Verdict, out: &mut Vec<Action>| {
            out.push(Action::ShareRefused { verdict });
            InboundVerdict::Now(verdict)
        };
        let Ok(message) = ShareMessage::decode(data) else {
            return refuse(
                Verdict::Reject {
                    reason: "malformed_share",
                },
                out,
            );
        };
        out.push(Action::ShareReceived {
            class: message.class,
        });
        // Strict signing makes `author` the libp2p key that signed the message: a member
        // index is only believed from that member's own key.
        if self.committee.member(message.member) != author {
            return refuse(
                Verdict::Reject {
                    reason: "share_not_from_member",
                },
                out,
            );
        }
        let Ok(share) = S::decode_share(&message.share) else {
            return refuse(
                Verdict::Reject {
                    reason: "malformed_share",
                },
                out,
            );
        };
        let held: HeldShare = (message.class, message.id, message.member);
        if self.held.contains(&held) {
            return refuse(
                Verdict::Ignore {
                    reason: "duplicate_share",
                },
                out,
            );
        }
        if self.held.len() >= self.config.held_verdicts_max {
            out.push(Action::Dropped {
                what: "held_verdicts_full",
            });
            return refuse(
                Verdict::Ignore {
                    reason: "held_verdicts_full",
                },
                out,
            );
        }
        let mut core_out = Vec::new();
        let verdict = self.core(message.class).on_share(
            message.member,
            message.id,
            share,
            now_ms,
            &mut core_out,
        );
        match verdict {
            Some(verdict) => {
                self.apply(message.class, core_out, Origin::Formed, out);
                let verdict = share_verdict(verdict);
                if verdict != Verdict::Accept {
                    out.push(Action::ShareRefused { verdict });
                }
                InboundVerdict::Now(verdict)
            }
            None => {
                self.held.insert(held);
                self.apply(message.class, core_out, Origin::Formed, out);
                InboundVerdict::Held(held)
            }
        }
    }

    fn on_certificate(&mut self, data: &[u8], now_ms: u64, out: &mut Vec<Action>) -> Verdict {
        let refuse = |verdict: Verdict, out: &mut Vec<Action>| {
            out.push(Action::CertificateRefused { verdict });
            verdict
        };
        let Ok(message) = CertificateMessage::decode(data) else {
            return refuse(
                Verdict::Reject {
                    reason: "malformed_certificate",
                },
                out,
            );
        };
        if message.proposal.epoch != self.committee.epoch {
            return refuse(
                Verdict::Ignore {
                    reason: "other_epoch",
                },
                out,
            );
        }
        let class = self.committee.class_of(&message.proposal.slot);
        let needed = share_count_min(self.committee.size(), class);
        let size = self.committee.size();
        if message.signers.len() < needed || message.signers.iter().any(|s| usize::from(*s) >= size)
        {
            return refuse(
                Verdict::Reject {
                    reason: "signers_malformed",
                },
                out,
            );
        }
        let Ok(signature) = S::decode_certificate(&message.signature) else {
            return refuse(
                Verdict::Reject {
                    reason: "malformed_certificate",
                },
                out,
            );
        };
        // Members sign only a member's proposal, so a certificate of anything else could
        // only come from a forged or foreign signature.
        let Some(proposer) = self
            .committee
            .member_index(&PeerKey(message.proposal.proposer.clone()))
        else {
            return refuse(
                Verdict::Reject {
                    reason: "proposer_not_member",
                },
                out,
            );
        };
        let certificate = Certificate {
            proposal: message.proposal.clone(),
            signers: message.signers.clone(),
            signature,
        };
        let mut core_out = Vec::new();
        match self
            .core(class)
            .on_certificate(certificate, proposer, now_ms, &mut core_out)
        {
            CertificateVerdict::Accepted => {
                // Persisted before it is forwarded, and before the node acts on it.
                let id = message.proposal.id();
                out.push(Action::StoreCertificate {
                    id,
                    encoded: data.to_vec(),
                });
                self.remember(id, message, out);
                if self.certificates.contains_key(&id) {
                    self.forwarded_ms.insert(id, now_ms);
                }
                self.apply(class, core_out, Origin::Received, out);
                Verdict::Accept
            }
            CertificateVerdict::Duplicate => {
                // A copy is forwarded at most once per half republish interval: enough for
                // a republished certificate to cross the whole mesh to the nodes that
                // missed it, and a bound on what replaying an old one can make us send.
                let id = message.proposal.id();
                let half = self.config.republish_interval_ms / 2;
                let forwarded = self.forwarded_ms.get(&id).copied();
                if self.certificates.contains_key(&id)
                    && forwarded.is_none_or(|at| now_ms.saturating_sub(at) >= half)
                {
                    self.forwarded_ms.insert(id, now_ms);
                    Verdict::Accept
                } else {
                    refuse(
                        Verdict::Ignore {
                            reason: "duplicate_certificate",
                        },
                        out,
                    )
                }
            }
            CertificateVerdict::Ignored(reason) => {
                self.apply(class, core_out, Origin::Received, out);
                refuse(Verdict::Ignore { reason }, out)
            }
            CertificateVerdict::Rejected(reason) => refuse(Verdict::Reject { reason }, out),
        }
    }

    /// The local operator proposes a change, as this node.
    pub fn propose(
        &mut self,
        slot: String,
        payload: Vec<u8>,
        affected_ppm: u32,
        nonce: [u8; 16],
        now_ms: u64,
        out: &mut Vec<Action>,
    ) -> Result<ProposalId, ProposeError> {
        if self.own_member.is_none() {
            return Err(ProposeError::NotMember);
        }
        let proposal = Proposal {
            epoch: self.committee.epoch,
            slot,
            payload,
            affected_ppm,
            proposer: self.own_key.0.clone(),
            nonce,
            timestamp_unix_ms: now_ms,
        };
        proposal
            .check()
            .map_err(|e| ProposeError::Invalid(e.to_string()))?;
        let class = self.committee.class_of(&proposal.slot);
        let slot: SlotKey = (proposal.epoch, proposal.slot.clone());
        if self.core(class).is_halted(&slot) {
            return Err(ProposeError::Halted(slot.1));
        }
        let id = proposal.id();
        let encoded = proposal.encode();
        let proposer = self.own_member.expect("checked above");
        let mut core_out = Vec::new();
        let _ = self
            .core(class)
            .on_proposal(proposal, proposer, now_ms, &mut core_out);
        if let Some(what) = core_out.iter().find_map(|o| match o {
            Output::Dropped { what } => Some(*what),
            _ => None,
        }) {
            self.apply(class, core_out, Origin::Formed, out);
            return Err(ProposeError::Invalid(format!(
                "this node refused to sign it: {what}"
            )));
        }
        // The proposal goes out first, so receivers know it when the share arrives.
        out.push(Action::PublishProposal { encoded });
        self.apply(class, core_out, Origin::Formed, out);
        Ok(id)
    }

    /// Verifies held shares whose hold ended, forgets expired proposals, and publishes
    /// again the certificates this member is responsible for.
    pub fn tick(&mut self, now_ms: u64, out: &mut Vec<Action>) {
        for class in [ChangeClass::Standard, ChangeClass::Supermajority] {
            let mut core_out = Vec::new();
            self.core(class).tick(now_ms, &mut core_out);
            self.apply(class, core_out, Origin::Formed, out);
        }
        let interval = self.config.republish_interval_ms;
        let window = self.config.republish_window_ms;
        let mut finished = Vec::new();
        for (id, schedule) in self.republish.iter_mut() {
            let (first, next) = *schedule.get_or_insert((now_ms, now_ms + interval));
            if now_ms.saturating_sub(first) > window {
                finished.push(*id);
            } else if now_ms >= next {
                *schedule = Some((first, now_ms + interval));
                if let Some(message) = self.certificates.get(id) {
                    out.push(Action::RepublishCertificate {
                        id: *id,
                        encoded: message.encode(),
                    });
                }
            }
        }
        for id in finished {
            self.republish.remove(&id);
        }
    }

    /// The earliest node-clock time at which [`CertifyNode::tick`] has work, if any.
    /// A tick before it does nothing, so a shell may tick on a fixed interval (the actor
    /// does) or only then (the simulator does, rounded up to its tick interval) and see
    /// the same outcome.
    pub fn next_tick_ms(&self) -> Option<u64> {
        let window = self.config.republish_window_ms;
        let republish = self.republish.values().map(|schedule| match schedule {
            // Scheduled at the first tick after the node got the certificate.
            None => 0,
            Some((first, next)) => (*next).min(first.saturating_add(window).saturating_add(1)),
        });
        let cores = [
            self.standard.next_due_ms(),
            self.supermajority.next_due_ms(),
        ];
        republish.chain(cores).min().filter(|due| *due != u64::MAX)
    }

    /// Whether this member is one of the t+1 that publish `id` again: members
    /// h, h+1, ..., h+t (mod n), where h comes from the id, so the load spreads and at
    /// least one of them is honest.
    fn republishes(&self, id: &ProposalId) -> bool {
        let Some(member) = self.own_member else {
            return false;
        };
        let n = self.committee.size() as u64;
        let t = super::threshold::faulty_max(self.committee.size()) as u64;
        let mut first = [0u8; 8];
        first.copy_from_slice(&id.0[..8]);
        let h = u64::from_be_bytes(first) % n;
        (u64::from(member) + n - h) % n <= t
    }

    /// Keeps a certificate, within the cores' bound on certified slots.
    fn remember(&mut self, id: ProposalId, message: CertificateMessage, out: &mut Vec<Action>) {
        if self.certificates.len() >= self.config.collector.certified_max {
            out.push(Action::Dropped {
                what: "certificate_index_full",
            });
            return;
        }
        self.certificates.insert(id, message);
        if self.republishes(&id) {
            self.republish.entry(id).or_insert(None);
        }
    }

    /// Turns the core's outputs into actions; `origin` says where a `Certified` came
    /// from (formed here, received, restored) when the core does not.
    fn apply(
        &mut self,
        class: ChangeClass,
        outputs: Vec<CoreOutput<S>>,
        origin: Origin,
        out: &mut Vec<Action>,
    ) {
        for output in outputs {
            match output {
                Output::PublishShare {
                    slot,
                    id,
                    member,
                    share,
                } => {
                    let message = ShareMessage {
                        class,
                        id,
                        member,
                        share: S::encode_share(&share),
                    };
                    out.push(Action::PublishShare {
                        slot,
                        id,
                        share: message.share,
                        encoded: message.encode(),
                    });
                }
                Output::PublishCertificate(certificate) => {
                    let message = CertificateMessage {
                        proposal: certificate.proposal,
                        signers: certificate.signers,
                        signature: S::encode_certificate(&certificate.signature),
                    };
                    let id = message.proposal.id();
                    let encoded = message.encode();
                    self.remember(id, message, out);
                    out.push(Action::PublishCertificate { id, encoded });
                }
                Output::Certified {
                    slot,
                    id,
                    collecting_ms,
                } => out.push(Action::Certified {
                    slot,
                    id,
                    class,
                    origin,
                    collecting_ms,
                }),
                Output::ShareDecided {
                    member,
                    id,
                    verdict,
                } => {
                    let held = (class, id, member);
                    if self.held.remove(&held) {
                        let verdict = share_verdict(verdict);
                        if verdict != Verdict::Accept {
                            out.push(Action::ShareRefused { verdict });
                        }
                        out.push(Action::Verdict { held, verdict });
                    }
                }
                Output::InvalidShare { member, id, share } => {
                    out.push(Action::Evidence(Evidence::InvalidShare {
                        member,
                        id,
                        share: S::encode_share(&share).to_vec(),
                    }))
                }
                Output::Conflict {
                    slot,
                    ids,
                    double_signers,
                } => {
                    out.push(Action::Evidence(Evidence::DoubleSigned {
                        slot: slot.clone(),
                        ids,
                        members: double_signers.clone(),
                    }));
                    out.push(Action::Conflict {
                        slot,
                        ids,
                        double_signers,
                    });
                }
                Output::Expired { id, shares, needed } => {
                    if self.expired.len() >= EXPIRED_KEPT_MAX {
                        self.expired.pop_front();
                    }
                    self.expired
                        .push_back(ExpiredProposal { id, shares, needed });
                }
                Output::Dropped { what } => out.push(Action::Dropped { what }),
            }
        }
    }

    /// Where proposal `id` stands here.
    pub fn proposal_state(&self, id: &ProposalId) -> ProposalState {
        if self.certificates.contains_key(id) {
            return ProposalState::Certified;
        }
        for core in [&self.standard, &self.supermajority] {
            if let Some(state) = core.pending_state(id) {
                return if state.certified {
                    ProposalState::Certified
                } else {
                    ProposalState::Pending {
                        shares: state.shares,
                        needed: state.needed,
                        expires_ms: state.expires_ms,
                    }
                };
            }
        }
        match self.expired.iter().rev().find(|e| e.id == *id) {
            Some(e) => ProposalState::Expired {
                shares: e.shares,
                needed: e.needed,
            },
            None => ProposalState::Unknown,
        }
    }

    /// The proposals that expired here uncertified, oldest first (at most
    /// [`EXPIRED_KEPT_MAX`]).
    pub fn expired(&self) -> impl Iterator<Item = &ExpiredProposal> {
        self.expired.iter()
    }
}

fn share_verdict(verdict: ShareVerdict) -> Verdict {
    match verdict {
        ShareVerdict::Valid => Verdict::Accept,
        ShareVerdict::Invalid(reason) => Verdict::Reject { reason },
        ShareVerdict::Ignored(reason) => Verdict::Ignore { reason },
    }
}
