//! The auth actor: the actix shell around the admission [`Gate`].
//!
//! It sits between the network and the actors that own privileged topics, both ways:
//!
//! * inbound, it owns the privileged topics (proposals, shares, ballots) and the
//!   revocations topic. A privileged message passes the gate, its nonce is persisted, and only then is
//!   the payload handed to the topic's protocol actor, whose verdict is returned;
//! * outbound, protocol actors publish through it: a privileged payload leaves inside an
//!   envelope with this node's access token, a fresh 128-bit nonce and the time.
//!
//! The node's credential (30 days) never leaves this actor; it derives a 24 h access
//! token from it at start and again when half of that lifetime has passed.

use std::time::Duration;

use actix::prelude::*;
use biscuit_auth::PublicKey;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::ballot::BoxedSigner;
use crate::messages::{AdmittedInbound, Inbound, Publish, PublishError, Stop, Verdict};
use crate::wall_clock::unix_ms_now;
use x0_core::auth::envelope::Envelope;
use x0_core::auth::gate::{is_privileged, Gate, GateConfig, Refusal};
use x0_core::auth::replay::Nonce;
use x0_core::auth::revocations::ListRefusal;
use x0_core::auth::token::{
    derive_access, inspect, read_revocations, BiscuitVerifier, RevocationError, RevocationList,
    Revoked, VerifierConfig, VerifierStats,
};
use x0_core::ids::NodeSigner;
use x0_core::known_topics::KnownTopics;
use x0_core::topics;
use x0_core::verdicts::ShellRefusal;

pub use crate::messages::{GetAuthStatus, PublishRevocations};

/// Durable storage of what the gate has acknowledged. Each method returns once the write
/// is committed.
pub trait AuthJournal: Send + 'static {
    /// A nonce the gate accepted; it must be refused until `expiry_ms`.
    fn record_nonce(
        &self,
        nonce: &Nonce,
        timestamp_unix_ms: u64,
        expiry_ms: u64,
    ) -> Result<(), String>;
    /// Drops nonces that left the window before `now_ms`. Returns how many.
    fn forget_nonces(&self, now_ms: u64) -> Result<usize, String>;
    /// Drops one nonce recorded with `expiry_ms`: its message had no effect.
    fn forget_nonce(&self, nonce: &Nonce, expiry_ms: u64) -> Result<(), String>;
    /// Revoked ids from an accepted list.
    fn record_revoked(&self, entries: &[Revoked]) -> Result<(), String>;
}

/// Who owns the payloads the gate admits.
#[derive(Default)]
pub struct Downstream {
    /// Certify: proposals (decoded by the gate's classifier) and shares.
    pub certify: Option<Recipient<AdmittedInbound>>,
    /// The ballot actor: the ballots topic.
    pub ballots: Option<Recipient<Inbound>>,
}

/// Everything the actor needs at start.
pub struct AuthSetup {
    pub authority: PublicKey,
    /// This node's member credential, if it is a member.
    pub credential: Option<Vec<u8>>,
    pub access_ttl_s: u64,
    pub gate: GateConfig,
    pub verifier: VerifierConfig,
    /// What the journal held at start.
    pub persisted_nonces: Vec<(Nonce, u64)>,
    pub persisted_revoked: Vec<Revoked>,
    /// This node's key: it seals what this node publishes and checks anyone's seal.
    pub keys: Box<dyn NodeSigner + Send>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabel {
    pub operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: &'static str,
}

#[derive(Clone)]
pub struct AuthMetrics {
    admitted: Family<OperationLabel, Counter>,
    rejected: Family<ReasonLabel, Counter>,
    ignored: Family<ReasonLabel, Counter>,
    nonces: Gauge,
    revoked: Gauge,
    token_cache: Family<OutcomeLabel, Counter>,
    revocation_lists: Family<OutcomeLabel, Counter>,
    journal_failures: Counter,
    access_expiry: Gauge,
}

impl AuthMetrics {
    pub fn register(registry: &mut Registry) -> AuthMetrics {
        let metrics = AuthMetrics {
            admitted: Family::default(),
            rejected: Family::default(),
            ignored: Family::default(),
            nonces: Gauge::default(),
            revoked: Gauge::default(),
            token_cache: Family::default(),
            revocation_lists: Family::default(),
            journal_failures: Counter::default(),
            access_expiry: Gauge::default(),
        };
        registry.register(
            "auth_admitted",
            "Privileged messages that passed token, revocation, timestamp and nonce checks",
            metrics.admitted.clone(),
        );
        registry.register(
            "auth_rejected",
            "Privileged messages and revocation lists refused as invalid in themselves, by reason (each a gossipsub Reject)",
            metrics.rejected.clone(),
        );
        registry.register(
            "auth_ignored",
            "Privileged messages and revocation lists refused for reasons of this node's clock, order or state (replay, skew, revoked, full), by reason (each a gossipsub Ignore)",
            metrics.ignored.clone(),
        );
        registry.register(
            "auth_nonces",
            "Seen nonces held (persisted) to refuse replays within the skew window",
            metrics.nonces.clone(),
        );
        registry.register(
            "auth_revoked_ids",
            "Revoked token ids held from the authority's lists",
            metrics.revoked.clone(),
        );
        registry.register(
            "auth_token_cache",
            "Token verifications answered by the cache (hit), verified in full (miss), evicted",
            metrics.token_cache.clone(),
        );
        registry.register(
            "auth_revocation_lists",
            "Revocation lists by outcome: applied (persisted, then applied and forwarded), known (adds nothing here: ignored), full, not_persisted (the store write failed: neither applied nor forwarded)",
            metrics.revocation_lists.clone(),
        );
        registry.register(
            "auth_journal_failures",
            "Nonce or revocation writes that failed; the message was not passed on",
            metrics.journal_failures.clone(),
        );
        registry.register(
            "auth_access_token_expiry_timestamp_seconds",
            "When this node's current access token expires (Unix seconds; 0: none)",
            metrics.access_expiry.clone(),
        );
        metrics
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationReceipt {
    pub sequence: u64,
    pub added: usize,
    pub known: usize,
    /// Whether gossip took it (false: no peers yet; it is applied here regardless).
    pub published: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, MessageResponse)]
pub struct AuthStatus {
    pub authority_public_key: String,
    pub member_credential: bool,
    pub access_until_unix_s: Option<u64>,
    pub nonces: usize,
    pub nonces_max: usize,
    pub revoked_ids: usize,
    pub revocation_sequence_max: Option<u64>,
    pub skew_ms: u64,
}

/// How often nonces and revoked ids are swept and the access token checked.
const TICK: Duration = Duration::from_secs(1);

pub struct AuthActor {
    gate: Gate<BiscuitVerifier, KnownTopics, BoxedSigner>,
    authority: PublicKey,
    credential: Option<Vec<u8>>,
    access_ttl_s: u64,
    /// The access token in use and when it expires (Unix s).
    access: Option<(Vec<u8>, u64)>,
    journal: Box<dyn AuthJournal>,
    network: Recipient<Publish>,
    /// The protocol actors behind the privileged topics, if this node runs them.
    downstream: Downstream,
    metrics: AuthMetrics,
    stats_seen: VerifierStats,
}

impl AuthActor {
    pub fn new(
        setup: AuthSetup,
        journal: Box<dyn AuthJournal>,
        network: Recipient<Publish>,
        downstream: Downstream,
        metrics: AuthMetrics,
    ) -> AuthActor {
        let now_ms = unix_ms_now();
        let verifier = BiscuitVerifier::new(setup.authority, setup.verifier);
        let mut gate = Gate::new(
            verifier,
            setup.gate,
            KnownTopics,
            BoxedSigner(setup.keys),
            now_ms,
        );
        let skipped = gate.restore(setup.persisted_nonces, setup.persisted_revoked, now_ms);
        if skipped > 0 {
            tracing::warn!(
                skipped,
                "persisted nonces beyond the bound were not restored"
            );
        }
        let mut actor = AuthActor {
            gate,
            authority: setup.authority,
            credential: setup.credential,
            access_ttl_s: setup.access_ttl_s,
            access: None,
            journal,
            network,
            downstream,
            metrics,
            stats_seen: VerifierStats::default(),
        };
        actor.refresh_access(now_ms);
        actor.update_gauges();
        actor
    }

    /// Derives a fresh access token when there is none or half its life has passed.
    fn refresh_access(&mut self, now_ms: u64) {
        let Some(credential) = &self.credential else {
            return;
        };
        let now_s = now_ms / 1000;
        let due = match &self.access {
            None => true,
            Some((_, until_s)) => now_s + self.access_ttl_s / 2 >= *until_s,
        };
        if !due {
            return;
        }
        // The credential's own expiry caps the access token's.
        let credential_until_s = inspect(credential, &self.authority)
            .ok()
            .and_then(|summary| summary.expires_unix_s)
            .filter(|&until_s| until_s > now_s);
        let Some(credential_until_s) = credential_until_s else {
            tracing::error!(
                "the member credential has expired or is not from this network's authority: this node can no longer propose or sign; ask the authority for a new one (x0 token mint)"
            );
            self.credential = None;
            self.access = None;
            self.metrics.access_expiry.set(0);
            return;
        };
        match derive_access(credential, &self.authority, now_s, self.access_ttl_s) {
            Ok(token) => {
                let until_s = (now_s + self.access_ttl_s).min(credential_until_s);
                tracing::info!(
                    until_unix_s = until_s,
                    "access token derived from the credential"
                );
                self.metrics.access_expiry.set(until_s as i64);
                self.access = Some((token, until_s));
            }
            Err(error) => tracing::error!(%error, "cannot derive an access token"),
        }
    }

    fn update_gauges(&mut self) {
        self.metrics
            .nonces
            .set(self.gate.replay_guard().len() as i64);
        self.metrics
            .revoked
            .set(self.gate.revocations().len() as i64);
        let stats = self.gate.verifier().stats();
        let seen = std::mem::replace(&mut self.stats_seen, stats);
        for (outcome, now, before) in [
            ("hit", stats.cache_hits, seen.cache_hits),
            ("miss", stats.cache_misses, seen.cache_misses),
            ("eviction", stats.cache_evictions, seen.cache_evictions),
        ] {
            if now > before {
                self.metrics
                    .token_cache
                    .get_or_create(&OutcomeLabel { outcome })
                    .inc_by(now - before);
            }
        }
    }

    /// Counts a refusal under its verdict and hands the verdict back.
    fn refuse(&self, verdict: Verdict) -> Verdict {
        let family = match verdict {
            Verdict::Reject { .. } => &self.metrics.rejected,
            Verdict::Ignore { .. } => &self.metrics.ignored,
            Verdict::Accept => return verdict,
        };
        if let Some(reason) = verdict.reason() {
            family.get_or_create(&ReasonLabel { reason }).inc();
        }
        verdict
    }

    /// Reads a revocation list, persists what it adds, and only then applies it. A list
    /// not taken is counted here; its [`ListNotTaken::verdict`] is what gossip is told.
    fn on_revocations(&mut self, data: &[u8], now_ms: u64) -> Result<ListTaken, ListNotTaken> {
        let not_taken = |actor: &AuthActor, not_taken: ListNotTaken| {
            actor.refuse(not_taken.verdict());
            Err(not_taken)
        };
        let list = match read_revocations(data, &self.authority) {
            Ok(list) => list,
            Err(error) => return not_taken(self, ListNotTaken::Unreadable(error)),
        };
        let plan = match self.gate.plan_revocations(&list, now_ms) {
            Ok(plan) => plan,
            Err(refusal) => {
                if refusal == ListRefusal::Full {
                    tracing::error!(
                        sequence = list.sequence,
                        "revocation list refused: the revoked-id set is full"
                    );
                    self.count_list("full");
                } else {
                    self.count_list("known");
                }
                return not_taken(self, ListNotTaken::Refused(refusal, list));
            }
        };
        // Persist first: a revocation applied but not persisted would be forgotten by a
        // restart, silently re-admitting the member; one not applied is simply taken when
        // the list comes again.
        if let Err(error) = self.journal.record_revoked(&plan.added) {
            self.metrics.journal_failures.inc();
            self.count_list("not_persisted");
            tracing::error!(
                %error,
                sequence = list.sequence,
                "revocation list not persisted, so neither applied nor forwarded"
            );
            return not_taken(self, ListNotTaken::NotPersisted(error));
        }
        self.gate.apply_revocations(&plan);
        tracing::warn!(
            sequence = list.sequence,
            revoked = plan.added.len(),
            "revocation list applied"
        );
        self.count_list("applied");
        self.update_gauges();
        Ok(ListTaken {
            sequence: list.sequence,
            added: plan.added.len(),
            known: plan.known,
        })
    }

    fn count_list(&self, outcome: &'static str) {
        self.metrics
            .revocation_lists
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
    }
}

/// A revocation list persisted and applied.
struct ListTaken {
    sequence: u64,
    added: usize,
    known: usize,
}

/// Why a revocation list was not applied.
enum ListNotTaken {
    /// Not a list from the network authority.
    Unreadable(RevocationError),
    /// Known here already, or the revoked-id set is full.
    Refused(ListRefusal, RevocationList),
    /// The store refused the write (its error).
    NotPersisted(String),
}

impl ListNotTaken {
    /// What gossip is told: only an unreadable list is a Reject.
    fn verdict(&self) -> Verdict {
        match self {
            ListNotTaken::Unreadable(error) => ListRefusal::Read(*error).verdict(),
            ListNotTaken::Refused(refusal, _) => refusal.verdict(),
            ListNotTaken::NotPersisted(_) => ShellRefusal::JournalFailed.verdict(),
        }
    }
}

impl Actor for AuthActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(TICK, |actor, _| {
            let now_ms = unix_ms_now();
            actor.gate.tick(now_ms);
            if let Err(error) = actor.journal.forget_nonces(now_ms) {
                actor.metrics.journal_failures.inc();
                tracing::warn!(%error, "cannot prune persisted nonces");
            }
            actor.refresh_access(now_ms);
            actor.update_gauges();
        });
    }
}

impl Handler<Inbound> for AuthActor {
    type Result = ResponseActFuture<Self, Verdict>;

    fn handle(&mut self, inbound: Inbound, _: &mut Self::Context) -> Self::Result {
        let now = |verdict: Verdict| -> Self::Result { Box::pin(actix::fut::ready(verdict)) };
        let now_ms = inbound.received_at_unix_ms;
        if inbound.topic == topics::REVOCATIONS {
            let verdict = match self.on_revocations(&inbound.data, now_ms) {
                Ok(_) => Verdict::Accept,
                Err(not_taken) => not_taken.verdict(),
            };
            return now(verdict);
        }
        if !is_privileged(&inbound.topic) {
            return now(ShellRefusal::NotMyTopic.verdict());
        }
        // The envelope proves its sender; whoever carried it (a gossip relay, a sync
        // server) is not asked.
        let admitted = match self.gate.admit(&inbound.topic, &inbound.data, now_ms) {
            Ok(admitted) => admitted,
            Err(refusal) => {
                let verdict = self.refuse(refusal.verdict());
                if matches!(refusal, Refusal::Token(_) | Refusal::Revoked) {
                    tracing::debug!(topic = %inbound.topic, %refusal, "privileged message refused");
                }
                self.update_gauges();
                return now(verdict);
            }
        };
        let expiry_ms = self
            .gate
            .replay_guard()
            .expiry_ms(admitted.timestamp_unix_ms);
        if let Err(error) =
            self.journal
                .record_nonce(&admitted.nonce, admitted.timestamp_unix_ms, expiry_ms)
        {
            // Not the sender's fault: drop without a penalty, and never pass on a message
            // whose nonce a restart could forget. It had no effect, so the gate lets the
            // nonce go too: the same message is taken once the store works again.
            self.gate.forget_nonce(&admitted.nonce);
            self.metrics.journal_failures.inc();
            tracing::error!(%error, "nonce not persisted; message dropped");
            return now(ShellRefusal::JournalFailed.verdict());
        }
        self.metrics
            .admitted
            .get_or_create(&OperationLabel {
                operation: admitted.operation.as_str(),
            })
            .inc();
        self.update_gauges();
        // The cores check their rules (a share names its sender's seat, a proposal its
        // proposer) against the envelope's proven holder.
        let inner = Inbound {
            data: admitted.payload.to_vec(),
            author: Some(admitted.holder.clone()),
            ..inbound
        };
        let owner_stopped = ShellRefusal::OwnerStopped.verdict();
        let nonce = admitted.nonce;
        let verdict: ResponseFuture<Verdict> = if inner.topic == topics::BALLOTS {
            let Some(owner) = self.downstream.ballots.clone() else {
                return now(ShellRefusal::NoOwner.verdict());
            };
            Box::pin(async move { owner.send(inner).await.unwrap_or(owner_stopped) })
        } else {
            let Some(owner) = self.downstream.certify.clone() else {
                return now(ShellRefusal::NoOwner.verdict());
            };
            let admitted = AdmittedInbound {
                inbound: inner,
                decoded: admitted.decoded,
            };
            Box::pin(async move { owner.send(admitted).await.unwrap_or(owner_stopped) })
        };
        Box::pin(verdict.into_actor(self).map(move |verdict, actor, _| {
            // Refused as "not yet" (a vote before its open, the owner's store failing):
            // the message had no effect, so its nonce is let go and the same message is
            // taken when sync or gossip brings it again. Kept, it would be a replay for
            // its whole lifetime and the item lost here.
            if let Verdict::Ignore { reason } = verdict {
                if x0_core::verdicts::not_yet(reason) && actor.gate.forget_nonce(&nonce) {
                    if let Err(error) = actor.journal.forget_nonce(&nonce, expiry_ms) {
                        // Kept on disk, it is refused as a replay after a restart only.
                        tracing::warn!(%error, "cannot forget a nonce");
                        actor.metrics.journal_failures.inc();
                    }
                    actor.update_gauges();
                }
            }
            verdict
        }))
    }
}

impl Handler<Publish> for AuthActor {
    type Result = ResponseFuture<Result<(), PublishError>>;

    fn handle(&mut self, publish: Publish, _: &mut Self::Context) -> Self::Result {
        let network = self.network.clone();
        if !is_privileged(&publish.topic) {
            return Box::pin(async move {
                network
                    .send(publish)
                    .await
                    .unwrap_or(Err(PublishError::ShuttingDown))
            });
        }
        let now_ms = unix_ms_now();
        self.refresh_access(now_ms);
        let Some((token, _)) = &self.access else {
            return Box::pin(async {
                Err(PublishError::Refused(
                    "this node holds no valid member credential ([auth] credential_file)".into(),
                ))
            });
        };
        let data = Envelope {
            token,
            nonce: rand::random(),
            timestamp_unix_ms: now_ms,
            payload: &publish.data,
        }
        .seal(&publish.topic, self.gate.signatures());
        Box::pin(async move {
            network
                .send(Publish {
                    topic: publish.topic,
                    data,
                })
                .await
                .unwrap_or(Err(PublishError::ShuttingDown))
        })
    }
}

impl Handler<PublishRevocations> for AuthActor {
    type Result = ResponseFuture<Result<RevocationReceipt, String>>;

    fn handle(
        &mut self,
        PublishRevocations(bytes): PublishRevocations,
        _: &mut Self::Context,
    ) -> Self::Result {
        let receipt = match self.on_revocations(&bytes, unix_ms_now()) {
            Ok(taken) => RevocationReceipt {
                sequence: taken.sequence,
                added: taken.added,
                known: taken.known,
                published: false,
            },
            // Known here: published anyway, for nodes that missed it (they apply and
            // forward it; nodes that know it ignore it).
            Err(ListNotTaken::Refused(ListRefusal::Known, list)) => RevocationReceipt {
                sequence: list.sequence,
                added: 0,
                known: list.entries.len(),
                published: false,
            },
            Err(not_taken) => {
                let why = match not_taken {
                    ListNotTaken::Unreadable(error) => {
                        format!("not a revocation list from this network's authority: {error}")
                    }
                    ListNotTaken::Refused(..) => {
                        "the revoked-id set is full ([auth] revoked_max)".to_string()
                    }
                    ListNotTaken::NotPersisted(error) => format!(
                        "the list could not be persisted ({error}), so it was neither applied nor published"
                    ),
                };
                return Box::pin(async move { Err(why) });
            }
        };
        let network = self.network.clone();
        Box::pin(async move {
            let published = matches!(
                network
                    .send(Publish {
                        topic: topics::REVOCATIONS.to_string(),
                        data: bytes,
                    })
                    .await,
                Ok(Ok(()))
            );
            Ok(RevocationReceipt {
                published,
                ..receipt
            })
        })
    }
}

impl Handler<GetAuthStatus> for AuthActor {
    type Result = AuthStatus;

    fn handle(&mut self, _: GetAuthStatus, _: &mut Self::Context) -> AuthStatus {
        let guard = self.gate.replay_guard();
        AuthStatus {
            authority_public_key: self.authority.to_bytes_hex(),
            member_credential: self.credential.is_some(),
            access_until_unix_s: self.access.as_ref().map(|(_, until)| *until),
            nonces: guard.len(),
            nonces_max: guard.capacity(),
            revoked_ids: self.gate.revocations().len(),
            revocation_sequence_max: self.gate.revocations().sequence_max(),
            skew_ms: guard.skew_ms(),
        }
    }
}

impl Handler<Stop> for AuthActor {
    type Result = ();

    fn handle(&mut self, _: Stop, ctx: &mut Self::Context) {
        ctx.stop();
    }
}
