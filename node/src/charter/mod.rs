//! The Charter's userspace enforcer on the node's export: `/metrics` shows only what the
//! policy (`[charter] policy_file`) allows, and every dropped sample is counted in
//! `x0_charter_violations_total{reason}` (docs/PROTOCOL.md, "Charter").
//!
//! Work in progress (issue 7): the telemetry push path, the enforcement actor that reloads
//! a certified policy, and the kernel backend are not written yet.

use std::path::Path;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use x0_actors::charter::exposition::filter;
use x0_actors::charter::policy::CharterPolicy;

use crate::NodeError;

/// Largest policy file read.
const POLICY_FILE_BYTES_MAX: u64 = 256 * 1024;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModeLabel {
    mode: &'static str,
}

pub struct ExportFilter {
    policy: CharterPolicy,
    violations: Family<ReasonLabel, Counter>,
}

impl ExportFilter {
    /// Reads and checks the policy; registers `x0_charter_violations_total` and
    /// `x0_enforcement_mode{mode="userspace"} 1`.
    pub fn load(path: &Path, registry: &mut Registry) -> Result<ExportFilter, NodeError> {
        let bad = |why: String| {
            NodeError::Config(format!(
                "config: field `charter.policy_file`: {}: {why}",
                path.display()
            ))
        };
        let size = std::fs::metadata(path)
            .map_err(|e| bad(format!("cannot read ({e})")))?
            .len();
        if size > POLICY_FILE_BYTES_MAX {
            return Err(bad(format!(
                "{size} bytes; a policy is at most {POLICY_FILE_BYTES_MAX}"
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read ({e})")))?;
        let policy = CharterPolicy::parse(&text).map_err(|e| bad(e.to_string()))?;
        let violations = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "charter_violations",
            "Samples kept out of the export by the Charter, by reason",
            violations.clone(),
        );
        let mode = Family::<ModeLabel, Gauge>::default();
        mode.get_or_create(&ModeLabel { mode: "userspace" }).set(1);
        registry.register(
            "enforcement_mode",
            "Which Charter enforcer is active (1 for the active mode)",
            mode,
        );
        Ok(ExportFilter { policy, violations })
    }

    /// The exposition as the Charter allows it; drops are counted (they show from the
    /// next scrape on, since the registry was encoded first).
    pub fn apply(&self, exposition: &str) -> String {
        let filtered = filter(exposition, &self.policy);
        for (reason, count) in filtered.dropped {
            self.violations
                .get_or_create(&ReasonLabel { reason })
                .inc_by(count);
        }
        filtered.text
    }
}
