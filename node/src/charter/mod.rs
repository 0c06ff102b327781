//! The Charter's enforcement on a node (docs/PROTOCOL.md, "Charter").
//!
//! * [`actor`]: the enforcement actor. It owns the policy, filters `/metrics`, pushes
//!   telemetry, drives the kernel backend where the host allows it, and applies certified
//!   `charter/policy` changes.
//! * [`exporter`]: the telemetry exporter, a child process (`x0 telemetry-exporter`) that
//!   sends the StatsD datagrams. In kernel mode it runs in the Charter's cgroup, so the
//!   kernel refuses any destination the policy does not allow, whatever the node asks.
//!
//! The filtering and push formats are sans-IO in `x0_core::charter`; the kernel programs
//! and their loader are the `x0-ebpf` crate.

pub mod actor;
pub mod exporter;

use std::path::Path;

use x0_core::charter::policy::CharterPolicy;

use crate::NodeError;

/// Largest policy file read, and largest certified policy applied.
pub const POLICY_BYTES_MAX: u64 = 256 * 1024;

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
