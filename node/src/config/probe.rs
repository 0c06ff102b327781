//! `[probe]`: the probes each node publishes, and how old or early one may be.

use serde::{Deserialize, Serialize};

use super::{within, FieldError};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeSection {
    pub interval_ms: u64,
    pub body_bytes: usize,
    pub future_skew_ms_max: u64,
    pub age_ms_max: u64,
}

impl ProbeSection {
    pub(super) fn check(&self) -> Result<(), FieldError> {
        within(
            "probe.future_skew_ms_max",
            self.future_skew_ms_max,
            0,
            3_600_000,
        )?;
        within("probe.age_ms_max", self.age_ms_max, 1, 3_600_000)?;
        if self.body_bytes > x0_core::probe::BODY_BYTES_MAX {
            return Err(FieldError::new(
                "probe.body_bytes",
                format!("must be at most {}", x0_core::probe::BODY_BYTES_MAX),
            ));
        }
        Ok(())
    }
}
