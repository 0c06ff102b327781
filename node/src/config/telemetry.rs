//! `[telemetry]`: pushing the node's metrics out (through the Charter).

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::FieldError;

/// The `[telemetry]` section: pushing the node's metrics out. Every push passes the
/// Charter: only allowed families, and only to an allowed destination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySection {
    /// A StatsD receiver (e.g. Prometheus' statsd_exporter), `ip:port`.
    pub statsd: SocketAddr,
    /// Push this often, s.
    #[serde(default = "default_push_interval_s")]
    pub push_interval_s: u64,
    /// The program that runs the exporter as `<program> telemetry-exporter`; empty: this
    /// x0 executable.
    #[serde(default)]
    pub exporter_program: PathBuf,
}

fn default_push_interval_s() -> u64 {
    10
}

impl TelemetrySection {
    pub(super) fn check(&self) -> Result<(), FieldError> {
        if !(1..=3_600).contains(&self.push_interval_s) {
            return Err(FieldError::new(
                "telemetry.push_interval_s",
                format!("{} is outside 1..=3600", self.push_interval_s),
            ));
        }
        Ok(())
    }
}
