//! Kernel enforcement of the Charter with eBPF, and the decision of whether this host can
//! have it.
//!
//! - [`host`]: reads the host and decides, with a reason an operator can act on, between
//!   kernel enforcement and the userspace fallback.
//! - [`destination`]: a telemetry destination (CIDR + port) and its allow-list key.
//! - [`cgroup`]: where cgroup v2 is mounted, cgroup ids.
//! - [`programs`]: the compiled eBPF object (programs/charter.bpf.c, built by build.rs).
//! - [`kernel`]: the loader, [`KernelEnforcer`].

pub mod cgroup;
pub mod destination;
pub mod host;
pub mod kernel;
pub mod programs;

pub use cgroup::cgroup2_mount;
pub use destination::{Destination, DestinationParseError, DESTINATIONS_MAX};
pub use kernel::{KernelCounters, KernelEnforcer, KernelError, KernelSettings, ProgramStats};
pub use programs::{programs_built, EGRESS_TRACKED_MAX};
