//! The certify actor: hosts the collection cores in a node.
//!
//! It owns three topics (proposals, shares, certificates), checks what the core cannot
//! (the wire format, that a share comes from the member it names, the epoch, the clock),
//! feeds the core, and carries out its outputs in the one safe order: persist through the
//! [`Journal`], then publish. A share's gossip verdict is held while the core waits for a
//! combination to prove it ([`collector`](super::collector)).
//!
//! Two cores, one per key set: standard (t+1) and supermajority slots never mix shares.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use tokio::sync::oneshot;

use super::collector::{
    Certificate, CertificateVerdict, Collector, CollectorConfig, Output, ShareVerdict, SlotKey,
};
use super::committee::Committee;
use super::proposal::{Proposal, ProposalId};
use super::scheme::{decode_certificate, decode_share, BlsCommittee, BlsMember, MemberIndex};
use super::threshold::{share_count_min, ChangeClass};
use super::wire::{CertificateMessage, ShareMessage};
use crate::network::{Inbound, PeerKey, Publish, PublishError, Stop, Verdict};
use crate::topics;
use crate::wall_clock::unix_ms_now;

type Core = Collector<BlsCommittee, BlsMember>;
type CoreOutput = Output<blsttc::SignatureShare, blsttc::Signature>;

/// Durable storage the actor writes before it lets anything leave the node.
/// Every method returns only once the write is durable (a committed redb transaction).
pub trait Journal: Send + 'static {
    /// This member signed `id` for `slot`; `share` is what it is about to publish.
    fn record_signed(
        &self,
        slot: &SlotKey,
        id: &ProposalId,
        share: &[u8],
    ) -> Result<(), JournalError>;
    /// A verified certificate (formed here or received), in its wire encoding.
    fn record_certificate(&self, id: &ProposalId, encoded: &[u8]) -> Result<(), JournalError>;
    /// Proof of misbehaviour, kept for operators and for a ballot to settle.
    fn record_evidence(&self, evidence: &Evidence) -> Result<(), JournalError>;
}

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

/// Misbehaviour the node can prove to anyone holding the committee's public keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evidence {
    /// `member` published a share for `id` that does not verify.
    InvalidShare {
        member: MemberIndex,
        id: ProposalId,
        share: Vec<u8>,
    },
    /// Two valid certificates for one slot; `members` have valid shares for both.
    DoubleSigned {
        slot: SlotKey,
        ids: [ProposalId; 2],
        members: Vec<MemberIndex>,
    },
}

/// Bounds and timers of the actor (the `[certify]` config section).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertifyConfig {
    pub collector: CollectorConfig,
    /// How often held shares and pending proposals are looked at.
    pub tick_ms: u64,
    /// Share verdicts waiting for the core at once; beyond it a share is ignored.
    pub held_verdicts_max: usize,
    /// A proposal stamped further ahead of our clock than this is ignored.
    pub proposal_future_skew_ms_max: u64,
    /// A proposal older than this is ignored (it could only be a replay or a straggler).
    pub proposal_age_ms_max: u64,
    /// Publications waiting for a retry (no peers yet, queue full).
    pub retry_queue_max: usize,
}

/// Metrics of certificate collection, registered once in the node's registry.
#[derive(Clone)]
pub struct CertifyMetrics {
    pub formation_seconds: Histogram,
    pub certificates: Family<OriginLabel, Counter>,
    pub shares_received: Family<ClassLabel, Counter>,
    pub shares_rejected: Family<ReasonLabel, Counter>,
    pub shares_ignored: Family<ReasonLabel, Counter>,
    pub certificates_rejected: Family<ReasonLabel, Counter>,
    pub proposals_ignored: Family<ReasonLabel, Counter>,
    pub conflicts: Counter,
    pub evidence: Family<KindLabel, Counter>,
    pub dropped: Family<WhatLabel, Counter>,
    pub journal_failures: Counter,
    pub pending: Gauge,
    pub held_verdicts: Gauge,
    pub halted_slots: Gauge,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct OriginLabel {
    pub origin: &'static str,
}
#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct ClassLabel {
    pub class: &'static str,
}
#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}
#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct KindLabel {
    pub kind: &'static str,
}
#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct WhatLabel {
    pub what: &'static str,
}

/// Formation buckets, seconds: the target is a certificate within seconds of a proposal.
const FORMATION_BUCKETS_SECONDS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

impl CertifyMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let m = CertifyMetrics {
            formation_seconds: Histogram::new(FORMATION_BUCKETS_SECONDS.iter().copied()),
            certificates: Family::default(),
            shares_received: Family::default(),
            shares_rejected: Family::default(),
            shares_ignored: Family::default(),
            certificates_rejected: Family::default(),
            proposals_ignored: Family::default(),
            conflicts: Counter::default(),
            evidence: Family::default(),
            dropped: Family::default(),
            journal_failures: Counter::default(),
            pending: Gauge::default(),
            held_verdicts: Gauge::default(),
            halted_slots: Gauge::default(),
        };
        registry.register_with_unit(
            "certificate_formation",
            "First sight of a proposal or share here to its certificate (formed here or received)",
            Unit::Seconds,
            m.formation_seconds.clone(),
        );
        registry.register(
            "certificates",
            "Valid certificates accepted, by origin (formed here, received, restored)",
            m.certificates.clone(),
        );
        registry.register(
            "shares_received",
            "Signature shares received from the network, by key set",
            m.shares_received.clone(),
        );
        registry.register(
            "shares_rejected",
            "Signature shares rejected, by reason",
            m.shares_rejected.clone(),
        );
        registry.register(
            "shares_ignored",
            "Signature shares not forwarded though not invalid (duplicate, late, no room), by reason",
            m.shares_ignored.clone(),
        );
        registry.register(
            "certificates_rejected",
            "Certificates rejected, by reason",
            m.certificates_rejected.clone(),
        );
        registry.register(
            "proposals_ignored",
            "Proposals not acted on, by reason",
            m.proposals_ignored.clone(),
        );
        registry.register(
            "certificate_conflicts",
            "Slots halted by two valid certificates for different proposals",
            m.conflicts.clone(),
        );
        registry.register(
            "evidence",
            "Evidence records of misbehaviour, by kind",
            m.evidence.clone(),
        );
        registry.register(
            "certify_dropped",
            "Proposals, shares or publications dropped by a bound or rule, by what",
            m.dropped.clone(),
        );
        registry.register(
            "certify_journal_failures",
            "Writes to the store that failed; nothing was published for them",
            m.journal_failures.clone(),
        );
        registry.register(
            "certify_pending_proposals",
            "Proposals being collected",
            m.pending.clone(),
        );
        registry.register(
            "certify_held_verdicts",
            "Share messages waiting for their verdict",
            m.held_verdicts.clone(),
        );
        registry.register(
            "certify_halted_slots",
            "Slots halted by a conflict, waiting for a ballot",
            m.halted_slots.clone(),
        );
        m
    }

    fn drop(&self, what: &'static str) {
        self.dropped.get_or_create(&WhatLabel { what }).inc();
    }
}

/// Propose a change (from the local operator's API).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<ProposalId, ProposeError>")]
pub struct Propose {
    pub slot: String,
    pub payload: Vec<u8>,
    pub affected_ppm: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposeError {
    #[error("this node is not a committee member, so it may not propose")]
    NotMember,
    #[error("invalid proposal: {0}")]
    Invalid(String),
    #[error("slot ({0}) is halted by conflicting certificates; a ballot must settle it")]
    Halted(String),
    #[error("could not persist: {0}")]
    Journal(String),
}

/// The certificate for a proposal, if this node holds one.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Option<CertificateMessage>")]
pub struct GetCertificate(pub ProposalId);

/// A summary for `/status` and the CLI.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "CertifyStatus")]
pub struct GetCertifyStatus;

#[derive(Debug, Clone, MessageResponse)]
pub struct CertifyStatus {
    pub epoch: u64,
    pub members: usize,
    pub own_member: Option<MemberIndex>,
    pub standard_signers_min: usize,
    pub supermajority_signers_min: usize,
    pub certificates: usize,
    pub pending: usize,
    pub halted: Vec<SlotKey>,
}

struct Retry {
    topic: &'static str,
    data: Vec<u8>,
    first_try_ms: u64,
}

/// Hosts the two collection cores of a node.
pub struct CertifyActor {
    committee: Arc<Committee>,
    own_key: PeerKey,
    own_member: Option<MemberIndex>,
    standard: Core,
    supermajority: Core,
    journal: Box<dyn Journal>,
    network: Recipient<Publish>,
    config: CertifyConfig,
    metrics: CertifyMetrics,
    held: BTreeMap<(ChangeClass, ProposalId, MemberIndex), oneshot::Sender<Verdict>>,
    /// Every certificate held here, by proposal id, in wire form (bounded with the core).
    certificates: BTreeMap<ProposalId, CertificateMessage>,
    retries: Vec<Retry>,
}

/// What a node brings to the actor from its store and keys.
pub struct CertifySetup {
    pub committee: Arc<Committee>,
    pub own_key: PeerKey,
    /// This node's secret shares (standard, supermajority), if it is a member.
    pub shares: Option<(BlsMember, BlsMember)>,
    /// What the store remembers this member signed.
    pub signed: BTreeMap<SlotKey, ProposalId>,
    /// Certificates the store kept, in wire form.
    pub certificates: Vec<CertificateMessage>,
}

impl CertifyActor {
    pub fn new(
        setup: CertifySetup,
        journal: Box<dyn Journal>,
        network: Recipient<Publish>,
        config: CertifyConfig,
        metrics: CertifyMetrics,
    ) -> CertifyActor {
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
        let split = |class: ChangeClass| -> BTreeMap<SlotKey, ProposalId> {
            setup
                .signed
                .iter()
                .filter(|((_, slot), _)| committee.class_of(slot) == class)
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
        let mut actor = CertifyActor {
            committee,
            own_key: setup.own_key,
            own_member,
            standard,
            supermajority,
            journal,
            network,
            config,
            metrics,
            held: BTreeMap::new(),
            certificates: BTreeMap::new(),
            retries: Vec::new(),
        };
        for message in setup.certificates {
            actor.restore(message);
        }
        actor
    }

    fn core(&mut self, class: ChangeClass) -> &mut Core {
        match class {
            ChangeClass::Standard => &mut self.standard,
            ChangeClass::Supermajority => &mut self.supermajority,
        }
    }

    fn restore(&mut self, message: CertificateMessage) {
        let class = self.committee.class_of(&message.proposal.slot);
        let Ok(signature) = decode_certificate(&message.signature) else {
            tracing::warn!("a stored certificate does not decode; skipped");
            return;
        };
        let mut out = Vec::new();
        self.core(class).restore(
            Certificate {
                proposal: message.proposal.clone(),
                signers: message.signers.clone(),
                signature,
            },
            &mut out,
        );
        self.remember(message.proposal.id(), message);
        self.metrics
            .certificates
            .get_or_create(&OriginLabel { origin: "restored" })
            .inc();
        self.apply(class, out, unix_ms_now(), None);
    }

    /// Checks a proposal against what only the shell knows: the epoch, the proposer, the
    /// clock. `Err` is the verdict for its gossip message.
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

    fn on_proposal(&mut self, inbound: &Inbound, ctx: &mut Context<Self>) -> Verdict {
        let Ok(proposal) = Proposal::decode(&inbound.data) else {
            return Verdict::Reject {
                reason: "malformed_proposal",
            };
        };
        let now_ms = inbound.received_at_unix_ms;
        if let Err(verdict) = self.admit_proposal(&proposal, inbound.author.as_ref(), now_ms) {
            let reason = match verdict {
                Verdict::Reject { reason } | Verdict::Ignore { reason } => reason,
                Verdict::Accept => unreachable!("admit only refuses"),
            };
            self.metrics
                .proposals_ignored
                .get_or_create(&ReasonLabel { reason })
                .inc();
            return verdict;
        }
        let class = self.committee.class_of(&proposal.slot);
        let mut out = Vec::new();
        self.core(class).on_proposal(proposal, now_ms, &mut out);
        self.apply(class, out, now_ms, Some(ctx));
        Verdict::Accept
    }

    /// Immediate verdict, or `None` with the verdict arriving later on `reply`.
    fn on_share(
        &mut self,
        inbound: &Inbound,
        reply: oneshot::Sender<Verdict>,
        ctx: &mut Context<Self>,
    ) -> Option<Verdict> {
        let Ok(message) = ShareMessage::decode(&inbound.data) else {
            return Some(self.reject_share("malformed_share"));
        };
        self.metrics
            .shares_received
            .get_or_create(&ClassLabel {
                class: class_name(message.class),
            })
            .inc();
        // Strict signing makes `author` the libp2p key that signed the message: a member
        // index is only believed from that member's own key.
        if self.committee.member(message.member) != inbound.author.as_ref() {
            return Some(self.reject_share("share_not_from_member"));
        }
        let Ok(share) = decode_share(&message.share) else {
            return Some(self.reject_share("malformed_share"));
        };
        let key = (message.class, message.id, message.member);
        if self.held.contains_key(&key) {
            return Some(self.share_verdict(ShareVerdict::Ignored("duplicate_share")));
        }
        if self.held.len() >= self.config.held_verdicts_max {
            self.metrics.drop("held_verdicts_full");
            return Some(Verdict::Ignore {
                reason: "held_verdicts_full",
            });
        }
        let now_ms = inbound.received_at_unix_ms;
        let mut out = Vec::new();
        let verdict =
            self.core(message.class)
                .on_share(message.member, message.id, share, now_ms, &mut out);
        match verdict {
            Some(verdict) => {
                self.apply(message.class, out, now_ms, Some(ctx));
                Some(self.share_verdict(verdict))
            }
            None => {
                self.held.insert(key, reply);
                self.apply(message.class, out, now_ms, Some(ctx));
                self.metrics.held_verdicts.set(self.held.len() as i64);
                None
            }
        }
    }

    fn reject_share(&self, reason: &'static str) -> Verdict {
        self.metrics
            .shares_rejected
            .get_or_create(&ReasonLabel { reason })
            .inc();
        Verdict::Reject { reason }
    }

    fn share_verdict(&self, verdict: ShareVerdict) -> Verdict {
        match verdict {
            ShareVerdict::Valid => Verdict::Accept,
            ShareVerdict::Invalid(reason) => self.reject_share(reason),
            ShareVerdict::Ignored(reason) => {
                self.metrics
                    .shares_ignored
                    .get_or_create(&ReasonLabel { reason })
                    .inc();
                Verdict::Ignore { reason }
            }
        }
    }

    fn on_certificate(&mut self, inbound: &Inbound, ctx: &mut Context<Self>) -> Verdict {
        let reject = |metrics: &CertifyMetrics, reason: &'static str| {
            metrics
                .certificates_rejected
                .get_or_create(&ReasonLabel { reason })
                .inc();
            Verdict::Reject { reason }
        };
        let Ok(message) = CertificateMessage::decode(&inbound.data) else {
            return reject(&self.metrics, "malformed_certificate");
        };
        if message.proposal.epoch != self.committee.epoch {
            return Verdict::Ignore {
                reason: "other_epoch",
            };
        }
        let class = self.committee.class_of(&message.proposal.slot);
        let needed = share_count_min(self.committee.size(), class);
        let size = self.committee.size();
        if message.signers.len() < needed || message.signers.iter().any(|s| usize::from(*s) >= size)
        {
            return reject(&self.metrics, "signers_malformed");
        }
        let Ok(signature) = decode_certificate(&message.signature) else {
            return reject(&self.metrics, "malformed_certificate");
        };
        let now_ms = inbound.received_at_unix_ms;
        let mut out = Vec::new();
        let certificate = Certificate {
            proposal: message.proposal.clone(),
            signers: message.signers.clone(),
            signature,
        };
        match self
            .core(class)
            .on_certificate(certificate, now_ms, &mut out)
        {
            CertificateVerdict::Accepted => {
                // Persisted before it is forwarded, and before the node acts on it.
                let id = message.proposal.id();
                if let Err(error) = self.journal.record_certificate(&id, &inbound.data) {
                    self.journal_failed("certificate", &error);
                }
                self.metrics
                    .certificates
                    .get_or_create(&OriginLabel { origin: "received" })
                    .inc();
                self.remember(id, message);
                self.apply(class, out, now_ms, Some(ctx));
                Verdict::Accept
            }
            CertificateVerdict::Duplicate => Verdict::Ignore {
                reason: "duplicate_certificate",
            },
            CertificateVerdict::Rejected(reason) => reject(&self.metrics, reason),
        }
    }

    /// Carries out the core's outputs: persist, then publish; verdicts; evidence; metrics.
    fn apply(
        &mut self,
        class: ChangeClass,
        outputs: Vec<CoreOutput>,
        now_ms: u64,
        ctx: Option<&mut Context<Self>>,
    ) {
        let mut publications: Vec<(&'static str, Vec<u8>)> = Vec::new();
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
                        share: share.to_bytes(),
                    };
                    match self.journal.record_signed(&slot, &id, &message.share) {
                        Ok(()) => publications.push((topics::SHARES, message.encode())),
                        Err(error) => self.journal_failed("signed slot", &error),
                    }
                }
                Output::PublishCertificate(certificate) => {
                    let message = CertificateMessage {
                        proposal: certificate.proposal,
                        signers: certificate.signers,
                        signature: certificate.signature.to_bytes(),
                    };
                    let id = message.proposal.id();
                    let encoded = message.encode();
                    match self.journal.record_certificate(&id, &encoded) {
                        Ok(()) => {
                            publications.push((topics::CERTIFICATES, encoded));
                            self.remember(id, message);
                            self.metrics
                                .certificates
                                .get_or_create(&OriginLabel { origin: "formed" })
                                .inc();
                        }
                        Err(error) => self.journal_failed("certificate", &error),
                    }
                }
                Output::Certified {
                    slot,
                    id,
                    collecting_ms,
                } => {
                    if let Some(ms) = collecting_ms {
                        self.metrics.formation_seconds.observe(ms as f64 / 1000.0);
                    }
                    if !self.certificates.contains_key(&id) {
                        continue; // a formed certificate whose journal write failed
                    }
                    tracing::info!(epoch = slot.0, slot = %slot.1, id = %hex(&id.0), ?class, "certificate accepted");
                }
                Output::ShareDecided {
                    member,
                    id,
                    verdict,
                } => {
                    if let Some(reply) = self.held.remove(&(class, id, member)) {
                        let _ = reply.send(self.share_verdict(verdict));
                    }
                }
                Output::InvalidShare { member, id, share } => {
                    tracing::warn!(member, id = %hex(&id.0), "invalid signature share");
                    self.record_evidence(Evidence::InvalidShare {
                        member,
                        id,
                        share: share.to_bytes().to_vec(),
                    });
                }
                Output::Conflict {
                    slot,
                    ids,
                    double_signers,
                } => {
                    self.metrics.conflicts.inc();
                    tracing::error!(
                        epoch = slot.0, slot = %slot.1, first = %hex(&ids[0].0), second = %hex(&ids[1].0),
                        ?double_signers,
                        "conflicting certificates: slot halted until a ballot settles it"
                    );
                    self.record_evidence(Evidence::DoubleSigned {
                        slot,
                        ids,
                        members: double_signers,
                    });
                }
                Output::Dropped { what } => self.metrics.drop(what),
            }
        }
        self.metrics.held_verdicts.set(self.held.len() as i64);
        self.metrics
            .pending
            .set((self.standard.pending_count() + self.supermajority.pending_count()) as i64);
        self.metrics
            .halted_slots
            .set((self.standard.halted().count() + self.supermajority.halted().count()) as i64);
        match ctx {
            Some(ctx) => {
                for (topic, data) in publications {
                    self.publish(topic, data, now_ms, ctx);
                }
            }
            None => assert!(publications.is_empty(), "restoring publishes nothing"),
        }
    }

    /// Keeps a certificate for the API, within the core's bound on certified slots.
    fn remember(&mut self, id: ProposalId, message: CertificateMessage) {
        if self.certificates.len() >= self.config.collector.certified_max {
            self.metrics.drop("certificate_index_full");
            return;
        }
        self.certificates.insert(id, message);
    }

    fn record_evidence(&self, evidence: Evidence) {
        let kind = match evidence {
            Evidence::InvalidShare { .. } => "invalid_share",
            Evidence::DoubleSigned { .. } => "double_signed",
        };
        self.metrics
            .evidence
            .get_or_create(&KindLabel { kind })
            .inc();
        if let Err(error) = self.journal.record_evidence(&evidence) {
            self.journal_failed("evidence", &error);
        }
    }

    fn journal_failed(&self, what: &str, error: &JournalError) {
        self.metrics.journal_failures.inc();
        tracing::error!(what, %error, "store write failed; nothing published for it");
    }

    fn publish(
        &mut self,
        topic: &'static str,
        data: Vec<u8>,
        first_try_ms: u64,
        ctx: &mut Context<Self>,
    ) {
        let publish = Publish {
            topic: topic.to_string(),
            data: data.clone(),
        };
        self.network
            .send(publish)
            .into_actor(self)
            .map(move |result, actor, _| {
                match result.unwrap_or(Err(PublishError::ShuttingDown)) {
                    Ok(()) => {}
                    // Nobody to hear it yet, or a momentary backlog: try again on a tick.
                    Err(PublishError::NoPeers | PublishError::QueueFull) => {
                        if actor.retries.len() >= actor.config.retry_queue_max {
                            actor.metrics.drop("retry_queue_full");
                        } else {
                            actor.retries.push(Retry {
                                topic,
                                data,
                                first_try_ms,
                            });
                        }
                    }
                    Err(error) => {
                        tracing::warn!(topic, %error, "publish failed");
                        actor.metrics.drop("publish_failed");
                    }
                }
            })
            .spawn(ctx);
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        let now_ms = unix_ms_now();
        for class in [ChangeClass::Standard, ChangeClass::Supermajority] {
            let mut out = Vec::new();
            self.core(class).tick(now_ms, &mut out);
            self.apply(class, out, now_ms, Some(ctx));
        }
        let ttl = self.config.collector.pending_ttl_ms;
        for retry in std::mem::take(&mut self.retries) {
            if now_ms.saturating_sub(retry.first_try_ms) >= ttl {
                self.metrics.drop("retry_expired");
                continue;
            }
            self.publish(retry.topic, retry.data, retry.first_try_ms, ctx);
        }
        // A held verdict whose share the core forgot (expired) has had its verdict; a
        // closed reply means the network gave up waiting. Either way, forget it.
        self.held.retain(|_, reply| !reply.is_closed());
        self.metrics.held_verdicts.set(self.held.len() as i64);
    }
}

fn class_name(class: ChangeClass) -> &'static str {
    match class {
        ChangeClass::Standard => "standard",
        ChangeClass::Supermajority => "supermajority",
    }
}

/// Lowercase hex of bytes, for ids in logs and APIs.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Actor for CertifyActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(Duration::from_millis(self.config.tick_ms), |actor, ctx| {
            actor.tick(ctx)
        });
    }
}

impl Handler<Inbound> for CertifyActor {
    type Result = ResponseFuture<Verdict>;

    fn handle(&mut self, inbound: Inbound, ctx: &mut Self::Context) -> Self::Result {
        let verdict = match inbound.topic.as_str() {
            topics::PROPOSALS => self.on_proposal(&inbound, ctx),
            topics::CERTIFICATES => self.on_certificate(&inbound, ctx),
            topics::SHARES => {
                let (reply, verdict) = oneshot::channel();
                if let Some(now) = self.on_share(&inbound, reply, ctx) {
                    now
                } else {
                    return Box::pin(async move {
                        verdict.await.unwrap_or(Verdict::Ignore {
                            reason: "verdict_lost",
                        })
                    });
                }
            }
            _ => Verdict::Ignore {
                reason: "not_my_topic",
            },
        };
        Box::pin(async move { verdict })
    }
}

impl Handler<Propose> for CertifyActor {
    type Result = Result<ProposalId, ProposeError>;

    fn handle(&mut self, propose: Propose, ctx: &mut Self::Context) -> Self::Result {
        if self.own_member.is_none() {
            return Err(ProposeError::NotMember);
        }
        let now_ms = unix_ms_now();
        let proposal = Proposal {
            epoch: self.committee.epoch,
            slot: propose.slot,
            payload: propose.payload,
            affected_ppm: propose.affected_ppm,
            proposer: self.own_key.0.clone(),
            nonce: rand::random(),
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
        let mut out = Vec::new();
        self.core(class).on_proposal(proposal, now_ms, &mut out);
        let refused = out.iter().find_map(|o| match o {
            Output::Dropped { what } => Some(*what),
            _ => None,
        });
        if let Some(what) = refused {
            self.apply(class, out, now_ms, Some(ctx));
            return Err(ProposeError::Invalid(format!(
                "this node refused to sign it: {what}"
            )));
        }
        // The proposal goes out first, so receivers know it when the share arrives.
        self.publish(topics::PROPOSALS, encoded, now_ms, ctx);
        self.apply(class, out, now_ms, Some(ctx));
        Ok(id)
    }
}

impl Handler<GetCertificate> for CertifyActor {
    type Result = Option<CertificateMessage>;

    fn handle(
        &mut self,
        GetCertificate(id): GetCertificate,
        _: &mut Self::Context,
    ) -> Self::Result {
        self.certificates.get(&id).cloned()
    }
}

impl Handler<GetCertifyStatus> for CertifyActor {
    type Result = CertifyStatus;

    fn handle(&mut self, _: GetCertifyStatus, _: &mut Self::Context) -> CertifyStatus {
        let n = self.committee.size();
        CertifyStatus {
            epoch: self.committee.epoch,
            members: n,
            own_member: self.own_member,
            standard_signers_min: share_count_min(n, ChangeClass::Standard),
            supermajority_signers_min: share_count_min(n, ChangeClass::Supermajority),
            certificates: self.certificates.len(),
            pending: self.standard.pending_count() + self.supermajority.pending_count(),
            halted: self
                .standard
                .halted()
                .chain(self.supermajority.halted())
                .cloned()
                .collect(),
        }
    }
}

impl Handler<Stop> for CertifyActor {
    type Result = ();

    fn handle(&mut self, _: Stop, ctx: &mut Self::Context) {
        ctx.stop();
    }
}
