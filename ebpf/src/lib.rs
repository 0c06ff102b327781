//! Kernel enforcement of the Charter with eBPF, and the decision of whether this host can
//! have it.
//!
//! The programs and their aya loader arrive with the Charter issue. What lives here now is
//! the part every later piece needs first: reading the host and deciding, with a reason an
//! operator can act on, between kernel enforcement and the userspace fallback.

pub mod host;
