//! Probes: small timestamped messages that measure gossip health on a live mesh.
//!
//! Every node may publish a probe at a fixed interval; every receiver measures the
//! end-to-end delivery latency from the publish time carried inside it. Probes are also
//! what `x0 devnet` trickles through a local mesh. The actix shell is `x0_actors::probe`.

mod core;
mod wire;

pub use core::{Delivered, ProbeConfig, ProbeCore, Refusal};
pub use wire::{Probe, WireError, BODY_BYTES_MAX, HEADER_BYTES, MESSAGE_BYTES_MAX, VERSION};
