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
use tokio::sync::oneshot;

mod anomaly_watch;
mod effects;
mod metrics;

pub use anomaly_watch::{AnomalyWatch, OutcomeLabel};
use effects::ActorEffects;
pub use metrics::{CertifyMetrics, ClassLabel, KindLabel, OriginLabel, ReasonLabel, WhatLabel};

use crate::messages::{AdmittedInbound, Inbound, Payload, Publish, PublishError, Stop, Verdict};
use crate::wall_clock::unix_ms_now;
use x0_core::anomaly::Override;
use x0_core::ballot::effect::Effect;
use x0_core::certify::collector::SlotKey;
use x0_core::certify::effects::{carry_out, Carried};
pub use x0_core::certify::effects::{check_signed_slot, JournalError};
pub use x0_core::certify::node::{
    Action, CertifyConfig, CertifySetup, CertifySummary, Evidence, ProposalState, ProposeError,
};
use x0_core::certify::node::{CertifyNode, HeldShare, InboundVerdict};
use x0_core::certify::proposal::ProposalId;
use x0_core::certify::wire::CertificateMessage;

pub use crate::messages::{
    ApplyDecision, CertifiedChange, GetApproved, GetCertificate, GetCertifyStatus,
    GetProposalState, Propose, SubscribeCertified,
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
        let (publications, _) = actor.carry_out(restored);
        assert!(publications.is_empty(), "restoring publishes nothing");
        actor
    }

    /// Carries out the node's actions through the shared interpreter ([`carry_out`]):
    /// persist first, then the publications it allows (returned, for the caller to send).
    /// What could not be persisted is undone in the node and reported.
    fn carry_out(&mut self, actions: Vec<Action>) -> (Vec<(&'static str, Vec<u8>)>, Carried) {
        let mut effects = ActorEffects {
            node: &self.node,
            journal: self.journal.as_ref(),
            metrics: &self.metrics,
            anomaly: &mut self.anomaly,
            held: &mut self.held,
            subscribers: &self.subscribers,
            publications: Vec::new(),
        };
        let carried = carry_out(&mut effects, actions);
        let publications = effects.publications;
        if !carried.is_empty() {
            self.node.undo_unpersisted(&carried);
        }
        let summary = self.node.summary();
        self.metrics.held_verdicts.set(summary.held_verdicts as i64);
        self.metrics.pending.set(summary.pending as i64);
        self.metrics.halted_slots.set(summary.halted.len() as i64);
        (publications, carried)
    }

    fn carry_out_and_publish(&mut self, actions: Vec<Action>, ctx: &mut Context<Self>) -> Carried {
        let now_ms = unix_ms_now();
        let (publications, carried) = self.carry_out(actions);
        for (topic, data) in publications {
            self.publish(topic, data, now_ms, ctx);
        }
        carried
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
        self.answer(verdict, actions, ctx)
    }
}

impl Handler<AdmittedInbound> for CertifyActor {
    type Result = ResponseFuture<Verdict>;

    fn handle(&mut self, admitted: AdmittedInbound, ctx: &mut Self::Context) -> Self::Result {
        let inbound = admitted.inbound;
        let Payload::Proposal(proposal) = admitted.decoded else {
            return <Self as Handler<Inbound>>::handle(self, inbound, ctx);
        };
        let mut actions = Vec::new();
        let verdict = self.node.on_admitted_proposal(
            inbound.author.as_ref(),
            *proposal,
            inbound.received_at_unix_ms,
            &mut actions,
        );
        self.answer(InboundVerdict::Now(verdict), actions, ctx)
    }
}

impl CertifyActor {
    /// Carries out the actions, then answers the network with the verdict: now, or once
    /// the core decides a held share.
    fn answer(
        &mut self,
        verdict: InboundVerdict,
        actions: Vec<Action>,
        ctx: &mut Context<Self>,
    ) -> ResponseFuture<Verdict> {
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
        let carried = self.carry_out_and_publish(actions, ctx);
        match (verdict, waiting) {
            (InboundVerdict::Now(verdict), _) => {
                let verdict = carried.verdict(verdict);
                Box::pin(async move { verdict })
            }
            (InboundVerdict::Held(_), Some(waiting)) => Box::pin(async move {
                waiting
                    .await
                    .unwrap_or(x0_core::verdicts::ShellRefusal::VerdictLost.verdict())
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

impl Handler<GetProposalState> for CertifyActor {
    type Result = MessageResult<GetProposalState>;

    fn handle(
        &mut self,
        GetProposalState(id): GetProposalState,
        _: &mut Self::Context,
    ) -> Self::Result {
        MessageResult(self.node.proposal_state(&id))
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
                    hex::encode(id.0)
                )),
                Err(error) => Err(error.to_string()),
            },
            Effect::Approve { id } => {
                if self.approved.len() >= APPROVED_MAX {
                    self.approved.pop_first();
                    self.metrics.drop("approved_full");
                }
                self.approved.insert(id, decision.ballot_id);
                tracing::warn!(proposal = %hex::encode(id.0), ballot = %hex::encode(decision.ballot_id), "proposal approved by ballot");
                Ok(format!("proposal {} approved", hex::encode(id.0)))
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
pub(super) fn notify(
    subscribers: &[(String, Recipient<CertifiedChange>)],
    certificate: &CertificateMessage,
) {
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
