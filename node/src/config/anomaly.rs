//! `[anomaly]`: change-rate limits over accepted certificates.

use serde::{Deserialize, Serialize};
use x0_core::anomaly::AnomalyConfig;

use super::FieldError;

/// The `[anomaly]` section: change-rate limits over accepted certificates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnomalySection {
    /// The network's size, nodes; 0 means the committee's size. The percentages below are
    /// of this many nodes (and never less than one node).
    pub network_nodes: u64,
    pub certificate_required_ppm: u32,
    pub warn_ppm: u32,
    pub halt_ppm: u32,
    pub window_ms: u64,
    pub changes_max: usize,
}

impl Default for AnomalySection {
    fn default() -> Self {
        let core = AnomalyConfig::default();
        AnomalySection {
            network_nodes: 0,
            certificate_required_ppm: core.certificate_required_ppm,
            warn_ppm: core.warn_ppm,
            halt_ppm: core.halt_ppm,
            window_ms: core.window_ms,
            changes_max: core.changes_max,
        }
    }
}

impl AnomalySection {
    pub fn core_config(&self) -> AnomalyConfig {
        AnomalyConfig {
            certificate_required_ppm: self.certificate_required_ppm,
            warn_ppm: self.warn_ppm,
            halt_ppm: self.halt_ppm,
            window_ms: self.window_ms,
            changes_max: self.changes_max,
        }
    }

    pub(super) fn check(&self) -> Result<(), FieldError> {
        self.core_config()
            .check()
            .map_err(|error| FieldError::new(format!("anomaly.{}", error.field), error.message))
    }
}
