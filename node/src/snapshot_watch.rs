//! The Snapshot poller: every `poll_interval_s` it reads the space's proposals, tallies
//! each closed `basic` proposal that carries an `x0-effect:` line (one node one vote,
//! signatures re-verified, [`snapshot_tally`]), hands a passed one's effect to the certify
//! actor once, and reports each poll's health to the ballot actor, which attests an
//! outage after `outage_s` of failures (docs/PROTOCOL.md, "Ballots").
//!
//! A poll is healthy only if every request of it returned valid data: a hub that answers
//! with garbage is as unusable as one that is down.

use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;

use actix::Recipient;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry as MetricsRegistry;
use sha2::{Digest, Sha256};
use x0_actors::ballot::HubPolled;
use x0_actors::certify::ApplyDecision;
use x0_core::ballot::effect::Effect;
use x0_core::ballot::rules::Outcome;

use crate::snapshot::{snapshot_tally, Proposal, Registry, SnapshotClient};

/// Proposals whose outcome was acted on, remembered so each acts once (oldest forgotten;
/// a lift-halt ballot is also refused twice by the anomaly core).
const DECIDED_REMEMBERED_MAX: usize = 4_096;
/// The line in a proposal's body that names its effect.
pub const EFFECT_PREFIX: &str = "x0-effect:";
const BALLOT_ID_DOMAIN: &[u8] = b"x0/1/snapshot-proposal";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Clone)]
pub struct SnapshotMetrics {
    polls: Family<OutcomeLabel, Counter>,
    votes: Family<OutcomeLabel, Counter>,
    decisions: Family<OutcomeLabel, Counter>,
    healthy: Gauge,
}

impl SnapshotMetrics {
    pub fn register(registry: &mut MetricsRegistry) -> SnapshotMetrics {
        let metrics = SnapshotMetrics {
            polls: Family::default(),
            votes: Family::default(),
            decisions: Family::default(),
            healthy: Gauge::default(),
        };
        registry.register(
            "snapshot_polls",
            "Polls of the Snapshot hub by outcome (ok, or why the hub was unusable after its retries)",
            metrics.polls.clone(),
        );
        registry.register(
            "snapshot_votes",
            "Snapshot votes read, by outcome (accepted, bad_signature, unregistered, duplicate, skipped)",
            metrics.votes.clone(),
        );
        registry.register(
            "snapshot_decisions",
            "Closed Snapshot proposals with an x0 effect, by outcome",
            metrics.decisions.clone(),
        );
        registry.register(
            "snapshot_hub_healthy",
            "1 when the latest poll of the Snapshot hub returned valid data",
            metrics.healthy.clone(),
        );
        metrics
    }
}

/// The effect a proposal's body names, if any (`x0-effect: lift-halt`).
pub fn effect_of(body: &str) -> Option<Result<Effect, String>> {
    body.lines().find_map(|line| {
        let rest = line.trim().strip_prefix(EFFECT_PREFIX)?;
        Some(rest.trim().parse::<Effect>().map_err(|e| e.to_string()))
    })
}

/// The id a Snapshot proposal's decision carries into the certify actor.
pub fn decision_id(proposal_id: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(BALLOT_ID_DOMAIN);
    hasher.update(proposal_id.as_bytes());
    hasher.finalize().into()
}

pub struct SnapshotWatch {
    pub client: SnapshotClient,
    pub registry: Registry,
    /// The network's size for the 5% quorum.
    pub network_nodes: u64,
    pub poll_interval: Duration,
    pub ballot: Option<Recipient<HubPolled>>,
    pub effects: Option<Recipient<ApplyDecision>>,
    pub metrics: SnapshotMetrics,
}

impl SnapshotWatch {
    /// Runs until the task is aborted (at node shutdown).
    pub async fn run(self) {
        let mut decided: VecDeque<String> = VecDeque::new();
        let mut decided_ids: BTreeSet<String> = BTreeSet::new();
        let mut interval = tokio::time::interval(self.poll_interval);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let healthy = match self.poll(&mut decided, &mut decided_ids).await {
                Ok(()) => {
                    self.metrics
                        .polls
                        .get_or_create(&OutcomeLabel { outcome: "ok" })
                        .inc();
                    true
                }
                Err(outcome) => {
                    self.metrics
                        .polls
                        .get_or_create(&OutcomeLabel { outcome })
                        .inc();
                    tracing::debug!(outcome, "snapshot hub unusable");
                    false
                }
            };
            self.metrics.healthy.set(i64::from(healthy));
            if let Some(ballot) = &self.ballot {
                // A full mailbox loses one health report; the next poll sends another.
                let _ = ballot.try_send(HubPolled { healthy });
            }
        }
    }

    async fn poll(
        &self,
        decided: &mut VecDeque<String>,
        decided_ids: &mut BTreeSet<String>,
    ) -> Result<(), &'static str> {
        let proposals = self.client.proposals().await.map_err(|e| e.as_str())?;
        for proposal in proposals {
            if decided_ids.contains(&proposal.id) || proposal.state != "closed" {
                continue;
            }
            let Some(effect) = effect_of(&proposal.body) else {
                continue;
            };
            let outcome = self.decide(&proposal, effect).await?;
            self.metrics
                .decisions
                .get_or_create(&OutcomeLabel { outcome })
                .inc();
            if decided.len() >= DECIDED_REMEMBERED_MAX {
                if let Some(oldest) = decided.pop_front() {
                    decided_ids.remove(&oldest);
                }
            }
            decided.push_back(proposal.id.clone());
            decided_ids.insert(proposal.id);
        }
        Ok(())
    }

    /// Tallies one closed proposal and applies a passed effect; returns the metric label.
    async fn decide(
        &self,
        proposal: &Proposal,
        effect: Result<Effect, String>,
    ) -> Result<&'static str, &'static str> {
        let effect = match effect {
            Ok(effect) => effect,
            Err(why) => {
                tracing::warn!(proposal = %proposal.id, %why, "snapshot proposal names an effect x0 does not know");
                return Ok("unknown_effect");
            }
        };
        if !proposal.is_basic() {
            return Ok("not_basic");
        }
        let fetch = self
            .client
            .votes(&proposal.id)
            .await
            .map_err(|e| e.as_str())?;
        let tally = snapshot_tally(&fetch.votes, &self.registry, self.network_nodes);
        for (outcome, count) in [
            ("accepted", tally.counts.accepted),
            ("bad_signature", tally.counts.bad_signature),
            ("unregistered", tally.counts.unregistered),
            ("duplicate", tally.counts.duplicate),
            ("skipped", tally.counts.skipped),
        ] {
            self.metrics
                .votes
                .get_or_create(&OutcomeLabel { outcome })
                .inc_by(count);
        }
        tracing::warn!(
            proposal = %proposal.id,
            outcome = tally.outcome.as_str(),
            yes = tally.tally.yes,
            no = tally.tally.no,
            abstain = tally.tally.abstain,
            %effect,
            "snapshot proposal decided"
        );
        if tally.outcome != Outcome::Passed {
            return Ok(tally.outcome.as_str());
        }
        let Some(effects) = &self.effects else {
            return Ok("passed");
        };
        let decision = ApplyDecision {
            ballot_id: decision_id(&proposal.id),
            effect,
        };
        match effects.send(decision).await {
            Ok(Ok(done)) => {
                tracing::warn!(proposal = %proposal.id, %done, "snapshot effect applied")
            }
            Ok(Err(why)) => {
                tracing::warn!(proposal = %proposal.id, %why, "snapshot effect changed nothing")
            }
            Err(e) => tracing::error!(proposal = %proposal.id, %e, "certify actor gone"),
        }
        Ok("passed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effect_lines_are_found_and_bad_ones_reported() {
        assert_eq!(
            effect_of("Why:\nbecause\nx0-effect: lift-halt\n"),
            Some(Ok(Effect::LiftHalt))
        );
        assert_eq!(
            effect_of("  x0-effect:   lift-halt  "),
            Some(Ok(Effect::LiftHalt))
        );
        assert!(matches!(effect_of("x0-effect: drop-tables"), Some(Err(_))));
        assert_eq!(effect_of("no effect here"), None);
        assert_ne!(decision_id("0xabc"), decision_id("0xabd"));
    }
}
