//! `[charter]`: the Charter's metric and telemetry policy, and its kernel enforcer.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::FieldError;

/// The `[charter]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CharterSection {
    /// The policy file (TOML, docs/PROTOCOL.md "Charter"), relative to the data dir.
    pub policy_file: PathBuf,
    /// The kernel enforcer: `auto` (where the host allows it, else userspace with one log
    /// line naming the cause) or `off` (userspace only).
    #[serde(default)]
    pub kernel: KernelSwitch,
    /// The cgroup v2 directory the telemetry exporter runs in, under the kernel programs.
    /// Empty: `x0-charter-<pid>` under the cgroup2 mount.
    #[serde(default)]
    pub cgroup_dir: PathBuf,
    /// Interfaces that get the TC egress classifier too (interface-level enforcement).
    #[serde(default)]
    pub tc_interfaces: Vec<String>,
}

impl CharterSection {
    /// A section with `policy_file` and every other field at its default.
    pub fn with_policy_file(policy_file: impl Into<PathBuf>) -> CharterSection {
        CharterSection {
            policy_file: policy_file.into(),
            kernel: KernelSwitch::Auto,
            cgroup_dir: PathBuf::new(),
            tc_interfaces: Vec::new(),
        }
    }

    pub(super) fn check(&self) -> Result<(), FieldError> {
        if self.tc_interfaces.len() > 16 {
            return Err(FieldError::new(
                "charter.tc_interfaces",
                "at most 16 interfaces",
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KernelSwitch {
    #[default]
    Auto,
    Off,
}
