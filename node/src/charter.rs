//! The Charter's policy file, as `[charter] policy_file` names it (docs/PROTOCOL.md,
//! "Charter"). The enforcement actor and the telemetry exporter are in
//! `x0_actors::charter`; the filtering and push formats are sans-IO in `x0_core::charter`;
//! the kernel programs and their loader are the `x0-ebpf` crate.

use std::path::Path;

use x0_core::charter::policy::CharterPolicy;

use crate::NodeError;

pub use x0_actors::charter::POLICY_BYTES_MAX;

/// Reads and checks the policy file named by `[charter] policy_file`.
pub fn load_policy(path: &Path) -> Result<CharterPolicy, NodeError> {
    let bad = |why: String| {
        NodeError::Config(format!(
            "config: field `charter.policy_file`: {}: {why}",
            path.display()
        ))
    };
    let size = std::fs::metadata(path)
        .map_err(|e| bad(format!("cannot read ({e})")))?
        .len();
    if size > POLICY_BYTES_MAX {
        return Err(bad(format!(
            "{size} bytes; a policy is at most {POLICY_BYTES_MAX}"
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read ({e})")))?;
    CharterPolicy::parse(&text).map_err(|e| bad(e.to_string()))
}
