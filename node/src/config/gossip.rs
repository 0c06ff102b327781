//! `[gossip]`: gossipsub's mesh, history and peer scoring.

use serde::{Deserialize, Serialize};

use super::{within, FieldError};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GossipSection {
    pub mesh_n: usize,
    pub mesh_n_low: usize,
    pub mesh_n_high: usize,
    pub gossip_lazy: usize,
    pub heartbeat_interval_ms: u64,
    pub history_length: usize,
    pub history_gossip: usize,
    pub duplicate_cache_time_s: u64,
    pub flood_publish: bool,
    pub prune_backoff_s: u64,
    pub max_transmit_size_bytes: usize,
    pub score: ScoreSection,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreSection {
    pub gossip_threshold: f64,
    pub publish_threshold: f64,
    pub graylist_threshold: f64,
    pub accept_px_threshold: f64,
    pub opportunistic_graft_threshold: f64,
    pub invalid_message_weight: f64,
    pub invalid_message_decay: f64,
    pub ip_colocation_factor_threshold: f64,
    pub ip_colocation_factor_weight: f64,
}

impl GossipSection {
    /// A mesh gossipsub can keep and scores that mean what their names say.
    pub(super) fn check(&self) -> Result<(), FieldError> {
        if !(self.mesh_n_low <= self.mesh_n && self.mesh_n <= self.mesh_n_high) {
            return Err(FieldError::new(
                "gossip.mesh_n",
                format!(
                    "needs mesh_n_low <= mesh_n <= mesh_n_high, got {} <= {} <= {}",
                    self.mesh_n_low, self.mesh_n, self.mesh_n_high
                ),
            ));
        }
        // Upper bounds keep what the operator sets from turning into allocations: gossipsub
        // sizes its backoff ring as prune_backoff / heartbeat slots, for example.
        for (field, value, min, max) in [
            ("gossip.mesh_n_low", self.mesh_n_low as u64, 1, 64),
            ("gossip.mesh_n_high", self.mesh_n_high as u64, 1, 128),
            ("gossip.gossip_lazy", self.gossip_lazy as u64, 0, 128),
            (
                "gossip.heartbeat_interval_ms",
                self.heartbeat_interval_ms,
                100,
                60_000,
            ),
            ("gossip.history_length", self.history_length as u64, 1, 100),
            (
                "gossip.duplicate_cache_time_s",
                self.duplicate_cache_time_s,
                1,
                3_600,
            ),
            ("gossip.prune_backoff_s", self.prune_backoff_s, 1, 3_600),
            (
                "gossip.max_transmit_size_bytes",
                self.max_transmit_size_bytes as u64,
                100,
                16 << 20,
            ),
        ] {
            within(field, value, min, max)?;
        }
        if self.history_gossip > self.history_length {
            return Err(FieldError::new(
                "gossip.history_gossip",
                format!("must not exceed history_length ({})", self.history_length),
            ));
        }
        self.score.check()
    }
}

impl ScoreSection {
    fn check(&self) -> Result<(), FieldError> {
        for (field, value) in [
            ("gossip.score.gossip_threshold", self.gossip_threshold),
            ("gossip.score.publish_threshold", self.publish_threshold),
            ("gossip.score.graylist_threshold", self.graylist_threshold),
            ("gossip.score.accept_px_threshold", self.accept_px_threshold),
            (
                "gossip.score.opportunistic_graft_threshold",
                self.opportunistic_graft_threshold,
            ),
            (
                "gossip.score.invalid_message_weight",
                self.invalid_message_weight,
            ),
            (
                "gossip.score.invalid_message_decay",
                self.invalid_message_decay,
            ),
            (
                "gossip.score.ip_colocation_factor_threshold",
                self.ip_colocation_factor_threshold,
            ),
            (
                "gossip.score.ip_colocation_factor_weight",
                self.ip_colocation_factor_weight,
            ),
        ] {
            if !value.is_finite() {
                return Err(FieldError::new(
                    field,
                    format!("{value} is not a finite number"),
                ));
            }
        }
        if !(0.0 >= self.gossip_threshold
            && self.gossip_threshold >= self.publish_threshold
            && self.publish_threshold >= self.graylist_threshold)
        {
            return Err(FieldError::new(
                "gossip.score.gossip_threshold",
                "needs 0 >= gossip_threshold >= publish_threshold >= graylist_threshold",
            ));
        }
        if self.accept_px_threshold < 0.0 || self.opportunistic_graft_threshold < 0.0 {
            return Err(FieldError::new(
                "gossip.score.accept_px_threshold",
                "accept_px_threshold and opportunistic_graft_threshold must be >= 0",
            ));
        }
        if self.invalid_message_weight > 0.0 {
            return Err(FieldError::new(
                "gossip.score.invalid_message_weight",
                "must be <= 0 (it is a penalty)",
            ));
        }
        if !(0.0 < self.invalid_message_decay && self.invalid_message_decay < 1.0) {
            return Err(FieldError::new(
                "gossip.score.invalid_message_decay",
                "must be in (0, 1)",
            ));
        }
        if self.ip_colocation_factor_weight > 0.0 || self.ip_colocation_factor_threshold < 1.0 {
            return Err(FieldError::new(
                "gossip.score.ip_colocation_factor_weight",
                "weight must be <= 0 and ip_colocation_factor_threshold >= 1",
            ));
        }
        Ok(())
    }
}
