//! `[sync]`: anti-entropy sync over `/x0/sync/1` (docs/PROTOCOL.md, "Sync").

use serde::{Deserialize, Serialize};
use x0_core::sync::archive::ArchiveConfig;
use x0_core::sync::machine::SyncConfig;

use super::{in_range, FieldError};

/// The `[sync]` section. The core's other bounds (peers, wanted and refused keys, penalty
/// decay) keep their defaults: they size tables, not behaviour an operator tunes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncSection {
    /// Off: the node neither asks nor answers; it learns only what gossip brings.
    pub enabled: bool,
    pub round_interval_ms: u64,
    pub request_timeout_ms: u64,
    pub peer_requests_per_s: u32,
    pub peer_request_burst: u32,
    /// Bytes of items this node keeps to serve, in all (each kind gets an equal share).
    pub archive_bytes_max: usize,
    /// How long certificates and revocation lists are served; envelopes are served for
    /// `auth.message_lifetime_ms`, as long as they live.
    pub long_hold_ms: u64,
}

impl Default for SyncSection {
    fn default() -> Self {
        let core = SyncConfig::default();
        let archive = ArchiveConfig::default();
        SyncSection {
            enabled: true,
            round_interval_ms: core.round_interval_ms,
            request_timeout_ms: core.request_timeout_ms,
            peer_requests_per_s: core.peer_requests_per_s,
            peer_request_burst: core.peer_request_burst,
            archive_bytes_max: archive.bytes_max,
            long_hold_ms: archive.long_hold_ms,
        }
    }
}

impl SyncSection {
    pub fn core_config(&self) -> SyncConfig {
        SyncConfig {
            round_interval_ms: self.round_interval_ms,
            request_timeout_ms: self.request_timeout_ms,
            peer_requests_per_s: self.peer_requests_per_s,
            peer_request_burst: self.peer_request_burst,
            ..SyncConfig::default()
        }
    }

    pub fn archive_config(&self, message_lifetime_ms: u64) -> ArchiveConfig {
        ArchiveConfig {
            envelope_hold_ms: message_lifetime_ms,
            long_hold_ms: self.long_hold_ms,
            bytes_max: self.archive_bytes_max,
        }
    }

    pub(super) fn check(&self) -> Result<(), FieldError> {
        in_range(
            "sync.round_interval_ms",
            self.round_interval_ms,
            100,
            600_000,
        )?;
        in_range(
            "sync.request_timeout_ms",
            self.request_timeout_ms,
            100,
            120_000,
        )?;
        in_range(
            "sync.archive_bytes_max",
            self.archive_bytes_max as u64,
            1024 * 1024,
            16 * 1024 * 1024 * 1024,
        )?;
        in_range(
            "sync.long_hold_ms",
            self.long_hold_ms,
            60_000,
            30 * 86_400_000,
        )?;
        self.core_config().check().map_err(|message| {
            // The core names the field first: "sync.FIELD must ...".
            let field = message.split(' ').next().unwrap_or("sync").to_string();
            FieldError::new(field, message)
        })
    }
}
