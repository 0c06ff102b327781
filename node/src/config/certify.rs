//! `[certify]`: the certify actor's bounds; and the check of `[committee]`, whose section
//! lives with the dealer (`crate::committee`).

use serde::{Deserialize, Serialize};

use super::{in_range, FieldError};
use crate::committee::{CommitteeKeyError, CommitteeSection};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertifySection {
    pub pending_max: usize,
    pub pending_ttl_ms: u64,
    pub certified_max: usize,
    pub share_hold_ms: u64,
    pub tick_ms: u64,
    pub held_verdicts_max: usize,
    pub proposal_future_skew_ms_max: u64,
    pub proposal_age_ms_max: u64,
    pub retry_queue_max: usize,
    pub republish_interval_ms: u64,
    pub republish_window_ms: u64,
}

impl CertifySection {
    pub fn actor_config(&self) -> x0_actors::certify::CertifyConfig {
        x0_actors::certify::CertifyConfig {
            collector: x0_core::certify::collector::CollectorConfig {
                pending_max: self.pending_max,
                pending_ttl_ms: self.pending_ttl_ms,
                certified_max: self.certified_max,
                share_hold_ms: self.share_hold_ms,
            },
            tick_ms: self.tick_ms,
            held_verdicts_max: self.held_verdicts_max,
            proposal_future_skew_ms_max: self.proposal_future_skew_ms_max,
            proposal_age_ms_max: self.proposal_age_ms_max,
            retry_queue_max: self.retry_queue_max,
            republish_interval_ms: self.republish_interval_ms,
            republish_window_ms: self.republish_window_ms,
        }
    }

    pub(super) fn check(&self) -> Result<(), FieldError> {
        for (field, value, min, max) in [
            ("certify.pending_max", self.pending_max as u64, 1, 1 << 16),
            (
                "certify.pending_ttl_ms",
                self.pending_ttl_ms,
                1_000,
                3_600_000,
            ),
            (
                "certify.certified_max",
                self.certified_max as u64,
                1,
                1 << 20,
            ),
            ("certify.share_hold_ms", self.share_hold_ms, 0, 60_000),
            ("certify.tick_ms", self.tick_ms, 1, 10_000),
            (
                "certify.held_verdicts_max",
                self.held_verdicts_max as u64,
                1,
                1 << 20,
            ),
            (
                "certify.proposal_future_skew_ms_max",
                self.proposal_future_skew_ms_max,
                0,
                3_600_000,
            ),
            (
                "certify.proposal_age_ms_max",
                self.proposal_age_ms_max,
                1_000,
                86_400_000,
            ),
            (
                "certify.retry_queue_max",
                self.retry_queue_max as u64,
                1,
                1 << 16,
            ),
        ] {
            in_range(field, value, min, max)?;
        }
        Ok(())
    }
}

/// The `[committee]` keys decode and fit the member list.
pub(super) fn check_committee(committee: &CommitteeSection) -> Result<(), FieldError> {
    committee.check().map_err(|error| match error {
        CommitteeKeyError::Field { field, message } => FieldError::new(field, message),
        other => FieldError::new("committee", other.to_string()),
    })
}
