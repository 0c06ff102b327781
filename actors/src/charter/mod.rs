//! The Charter ("Anti-Delos"): what a node may measure and where its telemetry may go.
//!
//! * [`policy`]: the versioned policy and its checks;
//! * [`exposition`]: the userspace enforcer's filter over `/metrics`.
//!
//! In progress (issue 7): the enforcement actor, the telemetry push path and the kernel
//! backend are not written yet.

pub mod exposition;
pub mod policy;

#[cfg(test)]
mod tests;
