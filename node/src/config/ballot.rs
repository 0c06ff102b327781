//! `[ballot]`: the local fallback ballot.

use serde::{Deserialize, Serialize};
use x0_core::ballot::book::BallotConfig;
use x0_core::ballot::fallback::FallbackConfig;

use super::{in_range, FieldError};

/// The `[ballot]` section: the local fallback ballot (docs/PROTOCOL.md, "Ballots").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BallotSection {
    /// While the outage lasts, a fresh attestation this often, s.
    pub attest_interval_s: u64,
    /// An attestation supports opens for this long, s.
    pub attestation_ttl_s: u64,
    /// Allowed ballot durations, s (`x0 ballot open --duration-s`).
    pub duration_s_min: u64,
    pub duration_s_max: u64,
    /// A member may open a ballot at most this often, s.
    pub open_interval_s: u64,
    /// Ballots open at once, at most.
    pub ballots_open_max: usize,
    /// Ballots one opener holds open at once, at most (so f faulty openers cannot take
    /// every slot).
    pub ballots_open_per_opener_max: usize,
    /// Longest duration of an `approve` ballot (it resolves no pending halt), s; capped
    /// by `duration_s_max`.
    pub duration_s_max_without_halt: u64,
    /// Decided ballots kept in memory for `x0 ballot tally` (all are persisted).
    pub decided_kept_max: usize,
}

impl Default for BallotSection {
    fn default() -> Self {
        let core = BallotConfig::default();
        BallotSection {
            attest_interval_s: core.fallback.attest_interval_ms / 1000,
            attestation_ttl_s: core.fallback.attestation_ttl_ms / 1000,
            duration_s_min: core.duration_ms_min / 1000,
            duration_s_max: core.duration_ms_max / 1000,
            open_interval_s: core.open_interval_ms_min / 1000,
            ballots_open_max: core.ballots_open_max,
            ballots_open_per_opener_max: core.ballots_open_per_opener_max,
            duration_s_max_without_halt: core.duration_ms_max_without_halt / 1000,
            decided_kept_max: core.decided_kept_max,
        }
    }
}

impl BallotSection {
    /// The core's config; `skew_ms` is the auth gate's, `outage_s` is `[snapshot]`'s.
    pub fn core_config(&self, skew_ms: u64, outage_s: u64) -> BallotConfig {
        BallotConfig {
            fallback: FallbackConfig {
                outage_ms: outage_s * 1000,
                attest_interval_ms: self.attest_interval_s * 1000,
                attestation_ttl_ms: self.attestation_ttl_s * 1000,
            },
            skew_ms,
            duration_ms_min: self.duration_s_min * 1000,
            duration_ms_max: self.duration_s_max * 1000,
            ballots_open_max: self.ballots_open_max,
            ballots_open_per_opener_max: self.ballots_open_per_opener_max,
            duration_ms_max_without_halt: self.duration_s_max_without_halt * 1000,
            open_interval_ms_min: self.open_interval_s * 1000,
            decided_kept_max: self.decided_kept_max,
        }
    }

    /// With a committee of `members`: its f faulty members, at their per-opener share
    /// each, must leave a slot free, or they could keep every honest member from opening.
    pub(super) fn check_with_committee(&self, members: usize) -> Result<(), FieldError> {
        let faulty = x0_core::ballot::rules::faulty_max(members as u64);
        let held_by_faulty = self.ballots_open_per_opener_max as u64 * faulty;
        if self.ballots_open_max as u64 <= held_by_faulty {
            return Err(FieldError::new(
                "ballot.ballots_open_max",
                format!(
                    "{} open ballots can all be held by the committee's f = {faulty} faulty members at ballot.ballots_open_per_opener_max = {} each, and then no honest member can open one; raise it to at least {}, or lower ballots_open_per_opener_max",
                    self.ballots_open_max,
                    self.ballots_open_per_opener_max,
                    held_by_faulty + 1
                ),
            ));
        }
        Ok(())
    }

    pub(super) fn check(&self) -> Result<(), FieldError> {
        let (limit_min_ms, limit_max_ms) = x0_core::ballot::verify::OpenRules::DURATION_MS_LIMITS;
        let (limit_min_s, limit_max_s) = (limit_min_ms / 1000, limit_max_ms / 1000);
        for (field, value, min, max) in [
            ("ballot.attest_interval_s", self.attest_interval_s, 1, 3_600),
            (
                "ballot.attestation_ttl_s",
                self.attestation_ttl_s,
                1,
                86_400,
            ),
            // Within the limits every node shares, so an open outside this node's range
            // but inside them is only not allowed here (an Ignore, not a Reject).
            (
                "ballot.duration_s_min",
                self.duration_s_min,
                limit_min_s,
                limit_max_s,
            ),
            (
                "ballot.duration_s_max",
                self.duration_s_max,
                limit_min_s,
                limit_max_s,
            ),
            (
                "ballot.duration_s_max_without_halt",
                self.duration_s_max_without_halt,
                limit_min_s,
                limit_max_s,
            ),
            ("ballot.open_interval_s", self.open_interval_s, 0, 86_400),
            (
                "ballot.ballots_open_max",
                self.ballots_open_max as u64,
                1,
                1_024,
            ),
            (
                "ballot.ballots_open_per_opener_max",
                self.ballots_open_per_opener_max as u64,
                1,
                1_024,
            ),
            (
                "ballot.decided_kept_max",
                self.decided_kept_max as u64,
                1,
                65_536,
            ),
        ] {
            in_range(field, value, min, max)?;
        }
        if self.duration_s_min > self.duration_s_max {
            return Err(FieldError::new(
                "ballot.duration_s_min",
                format!(
                    "must not exceed ballot.duration_s_max ({}), got {}",
                    self.duration_s_max, self.duration_s_min
                ),
            ));
        }
        if self.duration_s_max_without_halt < self.duration_s_min {
            return Err(FieldError::new(
                "ballot.duration_s_max_without_halt",
                format!(
                    "must not be below ballot.duration_s_min ({}), got {}",
                    self.duration_s_min, self.duration_s_max_without_halt
                ),
            ));
        }
        if self.ballots_open_per_opener_max > self.ballots_open_max {
            return Err(FieldError::new(
                "ballot.ballots_open_per_opener_max",
                format!(
                    "must not exceed ballot.ballots_open_max ({}), got {}",
                    self.ballots_open_max, self.ballots_open_per_opener_max
                ),
            ));
        }
        // Attestations must outlive the interval at which they are renewed, or the
        // fallback would flicker off between two renewals.
        if self.attestation_ttl_s <= self.attest_interval_s {
            return Err(FieldError::new(
                "ballot.attestation_ttl_s",
                format!(
                    "must exceed ballot.attest_interval_s ({}) so a renewed attestation arrives before the last one lapses, got {}",
                    self.attest_interval_s, self.attestation_ttl_s
                ),
            ));
        }
        Ok(())
    }
}
