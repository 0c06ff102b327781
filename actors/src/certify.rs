//! The certify actor: the actix shell around [`CertifyNode`], the sans-IO core that
//! does everything certificate traffic needs.
//!
//! It owns three topics (proposals, shares, certificates). It brings the node the gossip
//! messages with their author and the wall clock, and carries out the node's actions in
//! the one safe order: persist through the [`Journal`], then publish. A held share's
//! verdict waits here, on a oneshot the network actor awaits, until the node decides it.

use std::collections::BTreeMap;
use std::time::Duration;

use actix::prelude::*;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use tokio::sync::oneshot;

use crate::messages::{Inbound, Publish, PublishError, Stop, Verdict};
use crate::wall_clock::unix_ms_now;
use x0_core::anomaly::{AnomalyEvent, AnomalyLimits, Change, Decision, Level, Override};
use x0_core::ballot::effect::Effect;
use x0_core::certify::collector::SlotKey;
use x0_core::certify::effects::{carry_out, CertifyEffects, Observation, Publication};
pub use x0_core::certify::effects::{check_signed_slot, JournalError};
pub use x0_core::certify::node::{
    Action, CertifyConfig, CertifySetup, CertifySummary, Evidence, ProposeError,
};
use x0_core::certify::node::{CertifyNode, HeldShare, InboundVerdict, Origin};
use x0_core::certify::proposal::ProposalId;
use x0_core::certify::threshold::ChangeClass;
use x0_core::certify::wire::CertificateMessage;

pub use crate::messages::{
    ApplyDecision, CertifiedChange, GetApproved, GetCertificate, GetCertifyStatus, Propose,
    SubscribeCertified,
};

/// Durable storage the actor writes before it lets anything leave the node.
/// Every method returns only once the write is durable (a committed redb transaction).
pub trait Journal: Send + 'static {
    /// This member signed `id` for `slot`; `share` is what it is about to publish. Refuses
    /// a different id for a recorded slot ([`check_signed_slot`]).
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
    pub republished: Counter,
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
            republished: Counter::default(),
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
            "certificates_republished",
            "Certificates this member published again for nodes that missed them",
            m.republished.clone(),
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

/// The anomaly limits over accepted certificates: the sans-IO [`AnomalyLimits`] core,
/// with its metrics and log lines. A certificate whose change would pass the halt line is
/// still held (it is valid), but the change is reported as not applied.
pub struct AnomalyWatch {
    limits: AnomalyLimits,
    /// The network's size as the operator states it (`[anomaly] network_nodes`), or the
    /// committee's when unset: the percentages are of this many nodes.
    network_nodes: u64,
    level: Gauge,
    changed_nodes: Gauge,
    changes: Family<OutcomeLabel, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: &'static str,
}

impl AnomalyWatch {
    pub fn new(limits: AnomalyLimits, network_nodes: u64, registry: &mut Registry) -> AnomalyWatch {
        assert!(network_nodes > 0, "a network has at least this node");
        let watch = AnomalyWatch {
            limits,
            network_nodes,
            level: Gauge::default(),
            changed_nodes: Gauge::default(),
            changes: Family::default(),
        };
        registry.register(
            "anomaly_level",
            "Change-rate level over the rolling window: 0 normal, 1 warning, 2 halted",
            watch.level.clone(),
        );
        registry.register(
            "anomaly_changed_nodes",
            "Nodes affected by changes applied within the rolling window",
            watch.changed_nodes.clone(),
        );
        registry.register(
            "anomaly_changes",
            "Certified changes by outcome (applied, duplicate, or the refusal reason)",
            watch.changes.clone(),
        );
        watch
    }

    fn on_certified(&mut self, id: &ProposalId, affected_ppm: u32, now_ms: u64) {
        // Round up: a change that touches any share of the network touches a node.
        let affected_nodes = (u64::from(affected_ppm) * self.network_nodes).div_ceil(1_000_000);
        let change = Change {
            id: id.0,
            affected_nodes,
            network_nodes: self.network_nodes,
            certified: true,
        };
        let mut events = Vec::new();
        let outcome = match self.limits.on_change(change, now_ms, &mut events) {
            Decision::Applied { .. } => "applied",
            Decision::Duplicate { .. } => "duplicate",
            Decision::Refused(refusal) => {
                tracing::error!(id = %hex::encode(&id.0), affected_nodes, reason = refusal.as_str(), "change not applied: anomaly limits");
                refusal.as_str()
            }
        };
        self.changes.get_or_create(&OutcomeLabel { outcome }).inc();
        self.report(events, now_ms);
    }

    fn tick(&mut self, now_ms: u64) {
        let mut events = Vec::new();
        self.limits.tick(now_ms, &mut events);
        self.report(events, now_ms);
    }

    fn report(&mut self, events: Vec<AnomalyEvent>, now_ms: u64) {
        for event in events {
            match event {
                AnomalyEvent::LevelChanged {
                    from,
                    to,
                    changed_nodes,
                } => match to {
                    Level::Halted => tracing::error!(
                        from = from.as_str(),
                        changed_nodes,
                        "anomaly: changes halted until the window passes or a ballot lifts it"
                    ),
                    Level::Warning => tracing::warn!(
                        from = from.as_str(),
                        changed_nodes,
                        "anomaly: change-rate warning"
                    ),
                    Level::Normal => tracing::info!(
                        from = from.as_str(),
                        changed_nodes,
                        "anomaly: back to normal"
                    ),
                },
                AnomalyEvent::Overridden {
                    discounted_nodes, ..
                } => {
                    tracing::warn!(discounted_nodes, "anomaly: halt lifted by a ballot")
                }
            }
        }
        let status = self.limits.status(now_ms);
        self.level.set(status.level.gauge());
        self.changed_nodes
            .set(status.changed_nodes_in_window as i64);
    }
}

#[derive(Debug, Clone, MessageResponse)]
pub struct CertifyStatus(pub CertifySummary);

struct Retry {
    topic: &'static str,
    data: Vec<u8>,
    first_try_ms: u64,
}

/// The actix shell of a node's [`CertifyNode`].
pub struct CertifyActor {
    node: CertifyNode,
    /// Change-rate limits over the certificates this node accepts (Anti-Meave).
    anomaly: AnomalyWatch,
    journal: Box<dyn Journal>,
    network: Recipient<Publish>,
    metrics: CertifyMetrics,
    held: BTreeMap<HeldShare, oneshot::Sender<Verdict>>,
    retries: Vec<Retry>,
    /// Proposals a ballot approved directly, with the ballot (bounded by `APPROVED_MAX`).
    approved: BTreeMap<ProposalId, [u8; 32]>,
    /// Who applies certified changes, by slot prefix (at most `SUBSCRIBERS_MAX`).
    subscribers: Vec<(String, Recipient<CertifiedChange>)>,
}

impl CertifyActor {
    pub fn new(
        setup: CertifySetup,
        journal: Box<dyn Journal>,
        network: Recipient<Publish>,
        config: CertifyConfig,
        metrics: CertifyMetrics,
        anomaly: AnomalyWatch,
    ) -> CertifyActor {
        let mut restored = Vec::new();
        let node = CertifyNode::new(setup, config, &mut restored);
        let mut actor = CertifyActor {
            node,
            anomaly,
            journal,
            network,
            metrics,
            held: BTreeMap::new(),
            retries: Vec::new(),
            approved: BTreeMap::new(),
            subscribers: Vec::new(),
        };
        let publications = actor.carry_out(restored);
        assert!(publications.is_empty(), "restoring publishes nothing");
        actor
    }

    /// Carries out the node's actions through the shared interpreter ([`carry_out`]):
    /// persist first, then the publications it allows (returned, for the caller to send).
    fn carry_out(&mut self, actions: Vec<Action>) -> Vec<(&'static str, Vec<u8>)> {
        let mut effects = ActorEffects {
            node: &self.node,
            journal: self.journal.as_ref(),
            metrics: &self.metrics,
            anomaly: &mut self.anomaly,
            held: &mut self.held,
            subscribers: &self.subscribers,
            publications: Vec::new(),
        };
        carry_out(&mut effects, actions);
        let publications = effects.publications;
        let summary = self.node.summary();
        self.metrics.held_verdicts.set(summary.held_verdicts as i64);
        self.metrics.pending.set(summary.pending as i64);
        self.metrics.halted_slots.set(summary.halted.len() as i64);
        publications
    }

    fn carry_out_and_publish(&mut self, actions: Vec<Action>, ctx: &mut Context<Self>) {
        let now_ms = unix_ms_now();
        for (topic, data) in self.carry_out(actions) {
            self.publish(topic, data, now_ms, ctx);
        }
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
                        if actor.retries.len() >= actor.node.config().retry_queue_max {
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
        self.anomaly.tick(now_ms);
        let mut actions = Vec::new();
        self.node.tick(now_ms, &mut actions);
        self.carry_out_and_publish(actions, ctx);
        let ttl = self.node.config().collector.pending_ttl_ms;
        for retry in std::mem::take(&mut self.retries) {
            if now_ms.saturating_sub(retry.first_try_ms) >= ttl {
                self.metrics.drop("retry_expired");
                continue;
            }
            self.publish(retry.topic, retry.data, retry.first_try_ms, ctx);
        }
        // A reply the network stopped waiting for (it shut down) is of no use.
        self.held.retain(|_, reply| !reply.is_closed());
    }
}

fn class_name(class: ChangeClass) -> &'static str {
    match class {
        ChangeClass::Standard => "standard",
        ChangeClass::Supermajority => "supermajority",
    }
}

impl Actor for CertifyActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let tick = Duration::from_millis(self.node.config().tick_ms);
        ctx.run_interval(tick, |actor, ctx| actor.tick(ctx));
    }
}

impl Handler<Inbound> for CertifyActor {
    type Result = ResponseFuture<Verdict>;

    fn handle(&mut self, inbound: Inbound, ctx: &mut Self::Context) -> Self::Result {
        let mut actions = Vec::new();
        let verdict = self.node.on_inbound(
            &inbound.topic,
            inbound.author.as_ref(),
            &inbound.data,
            inbound.received_at_unix_ms,
            &mut actions,
        );
        // Register the reply before carrying out: the actions may already decide it.
        let waiting = match verdict {
            InboundVerdict::Now(_) => None,
            InboundVerdict::Held(held) => {
                let (reply, waiting) = oneshot::channel();
                self.held.insert(held, reply);
                Some(waiting)
            }
        };
        // Persisting happens here, before the verdict lets gossipsub forward anything.
        self.carry_out_and_publish(actions, ctx);
        match (verdict, waiting) {
            (InboundVerdict::Now(verdict), _) => Box::pin(async move { verdict }),
            (InboundVerdict::Held(_), Some(waiting)) => Box::pin(async move {
                waiting.await.unwrap_or(Verdict::Ignore {
                    reason: "verdict_lost",
                })
            }),
            (InboundVerdict::Held(_), None) => unreachable!("a held verdict has a reply"),
        }
    }
}

impl Handler<Propose> for CertifyActor {
    type Result = Result<ProposalId, ProposeError>;

    fn handle(&mut self, propose: Propose, ctx: &mut Self::Context) -> Self::Result {
        let mut actions = Vec::new();
        let result = self.node.propose(
            propose.slot,
            propose.payload,
            propose.affected_ppm,
            rand::random(),
            unix_ms_now(),
            &mut actions,
        );
        self.carry_out_and_publish(actions, ctx);
        result
    }
}

impl Handler<GetCertificate> for CertifyActor {
    type Result = Option<CertificateMessage>;

    fn handle(
        &mut self,
        GetCertificate(id): GetCertificate,
        _: &mut Self::Context,
    ) -> Self::Result {
        self.node.certificate(&id).cloned()
    }
}

impl Handler<GetCertifyStatus> for CertifyActor {
    type Result = CertifyStatus;

    fn handle(&mut self, _: GetCertifyStatus, _: &mut Self::Context) -> CertifyStatus {
        CertifyStatus(self.node.summary())
    }
}

/// Proposals approved by a ballot without a certificate, kept for `/status`.
pub const APPROVED_MAX: usize = 1024;

impl Handler<ApplyDecision> for CertifyActor {
    type Result = Result<String, String>;

    fn handle(&mut self, decision: ApplyDecision, _: &mut Self::Context) -> Self::Result {
        let now_ms = unix_ms_now();
        match decision.effect {
            Effect::LiftHalt => {
                let mut events = Vec::new();
                let outcome =
                    self.anomaly
                        .limits
                        .override_halt(decision.ballot_id, now_ms, &mut events);
                self.anomaly.report(events, now_ms);
                match outcome {
                    Override::Lifted { discounted_nodes } => Ok(format!(
                        "anomaly halt lifted ({discounted_nodes} changed nodes discounted)"
                    )),
                    Override::NotHalted => Err("the anomaly level is not halted".into()),
                    Override::BallotReused => Err("this ballot lifted a halt before".into()),
                }
            }
            Effect::Settle { slot, id } => match self.node.settle(&slot, &id) {
                Ok(()) => Ok(format!(
                    "slot {slot} settled on proposal {}",
                    hex::encode(&id.0)
                )),
                Err(error) => Err(error.to_string()),
            },
            Effect::Approve { id } => {
                if self.approved.len() >= APPROVED_MAX {
                    self.approved.pop_first();
                    self.metrics.drop("approved_full");
                }
                self.approved.insert(id, decision.ballot_id);
                tracing::warn!(proposal = %hex::encode(&id.0), ballot = %hex::encode(&decision.ballot_id), "proposal approved by ballot");
                Ok(format!("proposal {} approved", hex::encode(&id.0)))
            }
        }
    }
}

impl Handler<GetApproved> for CertifyActor {
    type Result = Vec<(ProposalId, [u8; 32])>;

    fn handle(&mut self, _: GetApproved, _: &mut Self::Context) -> Self::Result {
        self.approved.iter().map(|(p, b)| (*p, *b)).collect()
    }
}

/// Subscribers to certified changes a node can have (one per applying actor).
pub const SUBSCRIBERS_MAX: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at most {SUBSCRIBERS_MAX} subscribers to certified changes")]
pub struct SubscribeError;

impl CertifiedChange {
    fn of(certificate: &CertificateMessage) -> CertifiedChange {
        let proposal = &certificate.proposal;
        CertifiedChange {
            id: proposal.id(),
            epoch: proposal.epoch,
            slot: proposal.slot.clone(),
            payload: proposal.payload.clone(),
        }
    }
}

/// Tells the subscribers whose prefix matches of a certified change.
fn notify(subscribers: &[(String, Recipient<CertifiedChange>)], certificate: &CertificateMessage) {
    for (prefix, recipient) in subscribers {
        if certificate.proposal.slot.starts_with(prefix.as_str()) {
            recipient.do_send(CertifiedChange::of(certificate));
        }
    }
}

impl Handler<SubscribeCertified> for CertifyActor {
    type Result = Result<(), SubscribeError>;

    fn handle(&mut self, message: SubscribeCertified, _: &mut Self::Context) -> Self::Result {
        if self.subscribers.len() >= SUBSCRIBERS_MAX {
            return Err(SubscribeError);
        }
        let mut held: Vec<&CertificateMessage> = self
            .node
            .certificates()
            .filter(|c| c.proposal.slot.starts_with(message.prefix.as_str()))
            .collect();
        held.sort_by(|a, b| {
            (a.proposal.epoch, &a.proposal.slot).cmp(&(b.proposal.epoch, &b.proposal.slot))
        });
        for certificate in held {
            message.recipient.do_send(CertifiedChange::of(certificate));
        }
        self.subscribers.push((message.prefix, message.recipient));
        Ok(())
    }
}

impl Handler<Stop> for CertifyActor {
    type Result = ();

    fn handle(&mut self, _: Stop, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

/// The actor's side of the shared interpreter: redb through the [`Journal`], publications
/// collected for the network, metrics, logs and subscribers.
struct ActorEffects<'a> {
    node: &'a CertifyNode,
    journal: &'a dyn Journal,
    metrics: &'a CertifyMetrics,
    anomaly: &'a mut AnomalyWatch,
    held: &'a mut BTreeMap<HeldShare, oneshot::Sender<Verdict>>,
    subscribers: &'a [(String, Recipient<CertifiedChange>)],
    publications: Vec<(&'static str, Vec<u8>)>,
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
                // Restored certificates were counted in the run that accepted them.
                if origin != Origin::Restored {
                    if let Some(certificate) = self.node.certificate(id) {
                        let ppm = certificate.proposal.affected_ppm;
                        self.anomaly.on_certified(id, ppm, unix_ms_now());
                    }
                }
                self.metrics
                    .certificates
                    .get_or_create(&OriginLabel {
                        origin: origin.as_str(),
                    })
                    .inc();
                tracing::info!(epoch = slot.0, slot = %slot.1, id = %hex::encode(id.0), ?class, origin = origin.as_str(), "certificate accepted");
                if let Some(certificate) = self.node.certificate(id) {
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
