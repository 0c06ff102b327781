//! The ballot actor: the actix shell of a node's [`BallotBook`].
//!
//! Inbound, the auth actor hands it ballot messages that passed the gate (token, nonce,
//! time); outbound, it publishes through the auth actor, which seals each message in an
//! envelope. Every store the core asks for is committed before the message it concerns is
//! accepted or published; a vote whose write fails is not sent. A passed ballot's effect
//! goes to the certify actor ([`ApplyDecision`]). The node's Snapshot poller reports each
//! poll here ([`HubPolled`]).

use std::collections::BTreeMap;
use std::time::Duration;

use actix::prelude::*;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::certify::ApplyDecision;
use crate::messages::{Inbound, PeerKey, Publish, PublishError, Stop, Verdict};
use crate::wall_clock::unix_ms_now;
use x0_core::auth::gate::Refusal as GateRefusal;
use x0_core::ballot::book::{Action, BallotBook, BallotConfig, BallotCounters, BallotStatus};
use x0_core::ballot::certificate::Certificate;
use x0_core::ballot::effect::Effect;
use x0_core::ballot::effects::{carry_out, BallotEffects};
use x0_core::ballot::fallback::Mode;
use x0_core::ballot::rules::{Outcome, Tally};
use x0_core::ballot::verify::{NodeSigner, SignatureCheck};
use x0_core::ballot::wire::{decode_evidence, decode_open, decode_vote, BallotId};
use x0_core::topics;
use x0_core::verdicts::ShellRefusal;

pub use crate::messages::{CastVote, GetBallot, GetBallotStatus, HubPolled, OpenBallot};

/// Durable storage of what the ballot core acknowledged. Each call returns once the write
/// is committed.
pub trait BallotJournal: Send + 'static {
    fn record_ballot(&self, id: &BallotId, encoded: &[u8]) -> Result<(), String>;
    fn record_vote(&self, id: &BallotId, voter: &PeerKey, encoded: &[u8]) -> Result<(), String>;
    fn record_evidence(&self, id: &BallotId, voter: &PeerKey, encoded: &[u8])
        -> Result<(), String>;
    fn record_decided(&self, id: &BallotId, certificate: &[u8]) -> Result<(), String>;
}

/// What the store held at start, as encoded.
#[derive(Debug, Default, Clone)]
pub struct PersistedBallots {
    pub ballots: Vec<Vec<u8>>,
    pub votes: Vec<Vec<u8>>,
    pub evidence: Vec<Vec<u8>>,
    pub decided: Vec<Vec<u8>>,
}

/// The node key behind a trait object, so the actor is not generic.
pub struct BoxedSigner(pub Box<dyn NodeSigner + Send>);

impl SignatureCheck for BoxedSigner {
    fn verify(&self, signer: &PeerKey, message: &[u8], signature: &[u8]) -> bool {
        self.0.verify(signer, message, signature)
    }
}

impl NodeSigner for BoxedSigner {
    fn signer(&self) -> &PeerKey {
        self.0.signer()
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.0.sign(message)
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: &'static str,
}

#[derive(Clone)]
pub struct BallotMetrics {
    mode: Gauge,
    open: Gauge,
    attestations: Gauge,
    accepted: Counter,
    refused: Family<ReasonLabel, Counter>,
    votes_cast: Counter,
    decided: Family<OutcomeLabel, Counter>,
    effects: Family<OutcomeLabel, Counter>,
    equivocations: Counter,
    journal_failures: Counter,
    dropped: Family<ReasonLabel, Counter>,
}

impl BallotMetrics {
    pub fn register(registry: &mut Registry) -> BallotMetrics {
        let metrics = BallotMetrics {
            mode: Gauge::default(),
            open: Gauge::default(),
            attestations: Gauge::default(),
            accepted: Counter::default(),
            refused: Family::default(),
            votes_cast: Counter::default(),
            decided: Family::default(),
            effects: Family::default(),
            equivocations: Counter::default(),
            journal_failures: Counter::default(),
            dropped: Family::default(),
        };
        registry.register(
            "ballot_mode",
            "Who decides: 0 Snapshot, 1 the local fallback ballot (f+1 members attest the hub down)",
            metrics.mode.clone(),
        );
        registry.register(
            "ballot_open",
            "Local ballots open now",
            metrics.open.clone(),
        );
        registry.register(
            "ballot_attestations_fresh",
            "Members whose hub-outage attestation counts now",
            metrics.attestations.clone(),
        );
        registry.register(
            "ballot_messages_accepted",
            "Ballot messages (attestations, opens, votes, evidence) accepted from the mesh",
            metrics.accepted.clone(),
        );
        registry.register(
            "ballot_messages_refused",
            "Ballot messages rejected or ignored, by reason",
            metrics.refused.clone(),
        );
        registry.register(
            "ballot_votes_cast",
            "Votes this node cast (each persisted before it was sent)",
            metrics.votes_cast.clone(),
        );
        registry.register(
            "ballot_decided",
            "Local ballots decided here, by outcome",
            metrics.decided.clone(),
        );
        registry.register(
            "ballot_effects",
            "Effects of passed ballots, applied or refused",
            metrics.effects.clone(),
        );
        registry.register(
            "ballot_equivocations",
            "Voters excluded for two choices under one sequence",
            metrics.equivocations.clone(),
        );
        registry.register(
            "ballot_journal_failures",
            "Ballot writes that failed; the message was not accepted or sent",
            metrics.journal_failures.clone(),
        );
        registry.register(
            "ballot_dropped",
            "Ballot work dropped at a bound or after a failure, by reason",
            metrics.dropped.clone(),
        );
        metrics
    }
}

#[derive(Debug, Clone, MessageResponse)]
pub struct BallotReport {
    pub status: BallotStatus,
    pub counters: BallotCounters,
    /// Recently decided ballots, oldest first: id, outcome, tally, what the effect did.
    pub decided: Vec<DecidedSummary>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecidedSummary {
    pub id: BallotId,
    pub title: String,
    pub effect: Effect,
    pub outcome: Outcome,
    pub tally: Tally,
    pub electorate: usize,
    pub effect_result: Option<Result<String, String>>,
}

#[derive(Debug, Clone, MessageResponse)]
pub struct BallotResult {
    pub decided: bool,
    pub outcome: Outcome,
    pub certificate: Option<Vec<u8>>,
    pub effect_result: Option<Result<String, String>>,
}

pub struct BallotSetup {
    pub keys: Box<dyn NodeSigner + Send>,
    /// The committee's members: every ballot's electorate.
    pub members: Vec<PeerKey>,
    pub config: BallotConfig,
    pub persisted: PersistedBallots,
}

/// How often deadlines and attestations are checked.
const TICK: Duration = Duration::from_secs(1);
/// Own messages that found no peer are tried again each tick for this long, at most
/// `RETRIES_MAX` at once.
const RETRY_WINDOW_MS: u64 = 60_000;
const RETRIES_MAX: usize = 64;
/// Effect outcomes remembered for `/status` (the certificates themselves are persisted).
const EFFECT_RESULTS_MAX: usize = 256;

pub struct BallotActor {
    book: BallotBook<BoxedSigner>,
    journal: Box<dyn BallotJournal>,
    publish: Recipient<Publish>,
    effects: Option<Recipient<ApplyDecision>>,
    metrics: BallotMetrics,
    retries: Vec<(Vec<u8>, u64)>,
    effect_results: BTreeMap<BallotId, Result<String, String>>,
    counters_seen: BallotCounters,
}

impl BallotActor {
    pub fn new(
        setup: BallotSetup,
        journal: Box<dyn BallotJournal>,
        publish: Recipient<Publish>,
        effects: Option<Recipient<ApplyDecision>>,
        metrics: BallotMetrics,
    ) -> BallotActor {
        let mut book = BallotBook::new(BoxedSigner(setup.keys), setup.members, setup.config);
        let persisted = setup.persisted;
        let mut unreadable = 0usize;
        // Decided first, so a ballot decided before the crash is not reopened.
        for bytes in &persisted.decided {
            match Certificate::decode(bytes) {
                Ok(certificate) => book.restore_decided(certificate),
                Err(_) => unreadable += 1,
            }
        }
        for bytes in &persisted.ballots {
            match decode_open(bytes) {
                Ok(open) => book.restore_ballot(open),
                Err(_) => unreadable += 1,
            }
        }
        for bytes in &persisted.votes {
            match decode_vote(bytes) {
                Ok(vote) => book.restore_vote(vote),
                Err(_) => unreadable += 1,
            }
        }
        for bytes in &persisted.evidence {
            match decode_evidence(bytes) {
                Ok(evidence) => book.restore_evidence(evidence),
                Err(_) => unreadable += 1,
            }
        }
        if unreadable > 0 {
            tracing::error!(unreadable, "stored ballot records do not decode; skipped");
        }
        let status = book.status(unix_ms_now());
        tracing::info!(
            open = status.open.len(),
            decided = status.decided,
            "ballots loaded"
        );
        let actor = BallotActor {
            book,
            journal,
            publish,
            effects,
            metrics,
            retries: Vec::new(),
            effect_results: BTreeMap::new(),
            counters_seen: BallotCounters::default(),
        };
        actor.update_gauges(unix_ms_now());
        actor
    }

    fn update_gauges(&self, now_ms: u64) {
        let status = self.book.status(now_ms);
        self.metrics.mode.set(status.mode.gauge());
        self.metrics.open.set(status.open.len() as i64);
        self.metrics
            .attestations
            .set(status.attestations_fresh as i64);
    }

    fn count_counters(&mut self) {
        let now = self.book.counters();
        let before = std::mem::replace(&mut self.counters_seen, now);
        self.metrics
            .equivocations
            .inc_by(now.equivocations_total - before.equivocations_total);
        for (reason, now, before) in [
            ("opens_full", now.opens_full_total, before.opens_full_total),
            (
                "decided_forgotten",
                now.decided_forgotten_total,
                before.decided_forgotten_total,
            ),
        ] {
            if now > before {
                self.metrics
                    .dropped
                    .get_or_create(&ReasonLabel { reason })
                    .inc_by(now - before);
            }
        }
    }

    /// Carries out the book's actions through the interpreter the simulator runs too
    /// (`x0_core::ballot::effects`). If a write fails, nothing of this batch is published
    /// (`Err`): a vote is never sent unpersisted.
    fn carry_out(&mut self, actions: Vec<Action>, ctx: &mut Context<Self>) -> Result<(), String> {
        let mut effects = ActorEffects {
            actor: self,
            ctx,
            publications: Vec::new(),
        };
        let result = carry_out(&mut effects, actions);
        let publications = effects.publications;
        self.count_counters();
        result?;
        let now_ms = unix_ms_now();
        for data in publications {
            self.publish(data, now_ms, ctx);
        }
        Ok(())
    }

    fn decided(&mut self, id: BallotId, certificate: Certificate, ctx: &mut Context<Self>) {
        let outcome = certificate.outcome;
        self.metrics
            .decided
            .get_or_create(&OutcomeLabel {
                outcome: outcome.as_str(),
            })
            .inc();
        tracing::warn!(
            ballot = %id.to_hex(),
            outcome = outcome.as_str(),
            yes = certificate.tally.yes,
            no = certificate.tally.no,
            abstain = certificate.tally.abstain,
            electorate = certificate.open.electorate.len(),
            effect = %certificate.open.effect,
            "ballot decided"
        );
        if outcome != Outcome::Passed {
            return;
        }
        let Some(effects) = self.effects.clone() else {
            self.remember_effect(id, Err("this node runs no certify actor".into()));
            return;
        };
        let decision = ApplyDecision {
            ballot_id: id.0,
            effect: certificate.open.effect.clone(),
        };
        effects
            .send(decision)
            .into_actor(self)
            .map(move |result, actor, _| {
                let result = result.unwrap_or_else(|e| Err(format!("certify actor: {e}")));
                match &result {
                    Ok(done) => {
                        tracing::warn!(ballot = %id.to_hex(), %done, "ballot effect applied")
                    }
                    Err(why) => {
                        tracing::warn!(ballot = %id.to_hex(), %why, "ballot effect changed nothing")
                    }
                }
                actor.remember_effect(id, result);
            })
            .spawn(ctx);
    }

    fn remember_effect(&mut self, id: BallotId, result: Result<String, String>) {
        let outcome = if result.is_ok() { "applied" } else { "refused" };
        self.metrics
            .effects
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
        if self.effect_results.len() >= EFFECT_RESULTS_MAX {
            self.effect_results.pop_first();
        }
        self.effect_results.insert(id, result);
    }

    fn publish(&mut self, data: Vec<u8>, first_try_ms: u64, ctx: &mut Context<Self>) {
        let message = Publish {
            topic: topics::BALLOTS.to_string(),
            data: data.clone(),
        };
        self.publish
            .send(message)
            .into_actor(self)
            .map(move |result, actor, _| match result {
                Ok(Ok(())) => {}
                Ok(Err(PublishError::NoPeers)) | Ok(Err(PublishError::QueueFull)) => {
                    if actor.retries.len() >= RETRIES_MAX {
                        actor.drop_("retry_queue_full");
                    } else {
                        actor.retries.push((data, first_try_ms));
                    }
                }
                Ok(Err(error)) => {
                    tracing::warn!(%error, "ballot publish failed");
                    actor.drop_("publish_failed");
                }
                Err(_) => actor.drop_("publish_failed"),
            })
            .spawn(ctx);
    }

    fn drop_(&self, reason: &'static str) {
        self.metrics
            .dropped
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        let now_ms = unix_ms_now();
        let mut actions = Vec::new();
        self.book.tick(now_ms, &mut actions);
        let _ = self.carry_out(actions, ctx);
        for (data, first_try_ms) in std::mem::take(&mut self.retries) {
            if now_ms.saturating_sub(first_try_ms) >= RETRY_WINDOW_MS {
                self.drop_("retry_expired");
                continue;
            }
            self.publish(data, first_try_ms, ctx);
        }
        self.update_gauges(now_ms);
    }
}

impl Actor for BallotActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(TICK, |actor, ctx| actor.tick(ctx));
    }
}

impl Handler<Inbound> for BallotActor {
    type Result = MessageResult<Inbound>;

    fn handle(&mut self, inbound: Inbound, ctx: &mut Self::Context) -> Self::Result {
        let Some(author) = inbound.author.as_ref() else {
            return MessageResult(GateRefusal::Unsigned.verdict());
        };
        let now_ms = inbound.received_at_unix_ms;
        let mut actions = Vec::new();
        let verdict = self
            .book
            .on_message(author, &inbound.data, now_ms, &mut actions);
        let verdict = match self.carry_out(actions, ctx) {
            Ok(()) => verdict,
            // Not the sender's fault: drop without a penalty, never accept unpersisted.
            Err(_) => ShellRefusal::JournalFailed.verdict(),
        };
        match verdict {
            Verdict::Accept => {
                self.metrics.accepted.inc();
            }
            Verdict::Reject { reason } | Verdict::Ignore { reason } => {
                self.metrics
                    .refused
                    .get_or_create(&ReasonLabel { reason })
                    .inc();
            }
        }
        self.update_gauges(now_ms);
        MessageResult(verdict)
    }
}

impl Handler<HubPolled> for BallotActor {
    type Result = ();

    fn handle(&mut self, polled: HubPolled, ctx: &mut Self::Context) {
        let now_ms = unix_ms_now();
        let mut actions = Vec::new();
        self.book.hub_observed(polled.healthy, now_ms, &mut actions);
        let _ = self.carry_out(actions, ctx);
        self.update_gauges(now_ms);
    }
}

impl Handler<OpenBallot> for BallotActor {
    type Result = Result<BallotId, String>;

    fn handle(&mut self, open: OpenBallot, ctx: &mut Self::Context) -> Self::Result {
        let now_ms = unix_ms_now();
        let mut actions = Vec::new();
        let id = self
            .book
            .open(
                &open.title,
                open.effect,
                open.duration_ms,
                now_ms,
                &mut actions,
            )
            .map_err(|e| e.to_string())?;
        self.carry_out(actions, ctx)
            .map_err(|e| format!("the ballot could not be persisted, so it was not sent: {e}"))?;
        tracing::warn!(ballot = %id.to_hex(), title = %open.title, "ballot opened");
        self.update_gauges(now_ms);
        Ok(id)
    }
}

impl Handler<CastVote> for BallotActor {
    type Result = Result<u64, String>;

    fn handle(&mut self, vote: CastVote, ctx: &mut Self::Context) -> Self::Result {
        let mut actions = Vec::new();
        let sequence = self
            .book
            .vote(vote.id, vote.choice, unix_ms_now(), &mut actions)
            .map_err(|e| e.to_string())?;
        self.carry_out(actions, ctx)
            .map_err(|e| format!("the vote could not be persisted, so it was not sent: {e}"))?;
        self.metrics.votes_cast.inc();
        Ok(sequence)
    }
}

impl Handler<GetBallotStatus> for BallotActor {
    type Result = BallotReport;

    fn handle(&mut self, _: GetBallotStatus, _: &mut Self::Context) -> BallotReport {
        let decided = self
            .book
            .decided_ids()
            .filter_map(|id| self.book.decided(id).map(|c| (id, c)))
            .map(|(id, certificate)| DecidedSummary {
                id: *id,
                title: certificate.open.title.clone(),
                effect: certificate.open.effect.clone(),
                outcome: certificate.outcome,
                tally: certificate.tally,
                electorate: certificate.open.electorate.len(),
                effect_result: self.effect_results.get(id).cloned(),
            })
            .collect();
        BallotReport {
            status: self.book.status(unix_ms_now()),
            counters: self.book.counters(),
            decided,
        }
    }
}

impl Handler<GetBallot> for BallotActor {
    type Result = Option<BallotResult>;

    fn handle(&mut self, GetBallot(id): GetBallot, _: &mut Self::Context) -> Self::Result {
        let (outcome, decided) = self.book.outcome(&id)?;
        Some(BallotResult {
            decided,
            outcome,
            certificate: self.book.decided(&id).map(Certificate::encode),
            effect_result: self.effect_results.get(&id).cloned(),
        })
    }
}

impl Handler<Stop> for BallotActor {
    type Result = ();

    fn handle(&mut self, _: Stop, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

/// The actor's side of the ballot interpreter: redb through the [`BallotJournal`],
/// publications held until the whole batch is persisted, decisions handed to certify.
struct ActorEffects<'a> {
    actor: &'a mut BallotActor,
    ctx: &'a mut Context<BallotActor>,
    publications: Vec<Vec<u8>>,
}

impl BallotEffects for ActorEffects<'_> {
    fn persist_ballot(&mut self, id: &BallotId, encoded: &[u8]) -> Result<(), String> {
        self.actor.journal.record_ballot(id, encoded)
    }

    fn persist_vote(
        &mut self,
        id: &BallotId,
        voter: &PeerKey,
        encoded: &[u8],
    ) -> Result<(), String> {
        self.actor.journal.record_vote(id, voter, encoded)
    }

    fn persist_evidence(
        &mut self,
        id: &BallotId,
        voter: &PeerKey,
        encoded: &[u8],
    ) -> Result<(), String> {
        self.actor.journal.record_evidence(id, voter, encoded)
    }

    fn persist_decided(&mut self, id: &BallotId, encoded: &[u8]) -> Result<(), String> {
        self.actor.journal.record_decided(id, encoded)
    }

    fn publish(&mut self, encoded: Vec<u8>) {
        self.publications.push(encoded);
    }

    fn decided(&mut self, id: BallotId, certificate: Certificate, _encoded: &[u8]) {
        self.actor.decided(id, certificate, self.ctx);
    }

    fn mode_changed(&mut self, mode: Mode) {
        tracing::warn!(mode = mode.as_str(), "ballot mode changed");
    }

    fn journal_failed(&mut self, error: &str) {
        self.actor.metrics.journal_failures.inc();
        tracing::error!(%error, "ballot record not persisted; nothing of it is sent");
    }
}
