//! The Charter ("Anti-Delos"): what a node may measure and where its telemetry may go.
//!
//! * [`policy`]: the versioned policy and its checks;
//! * [`exposition`]: the userspace enforcer's filter over `/metrics`;
//! * [`statsd`]: the telemetry push format (StatsD lines in bounded datagrams).
//!
//! The node's enforcement actor (`x0_actors::charter`) owns the policy, applies these, and
//! drives the kernel backend (the `ebpf` crate) where the host allows it.

pub mod exposition;
pub mod policy;
pub mod statsd;

#[cfg(test)]
mod tests;
