//! Protocol cores and the actix actors that host them.
//!
//! Every protocol lives here twice, on purpose:
//!
//! * a **core**: a deterministic state machine. Inputs are bytes and a `now` passed in by
//!   the caller; outputs are values. It reads no clock, opens no socket and iterates in a
//!   fixed order, so the simulator can drive the very same code with a virtual clock.
//! * an **actor**: a thin actix shell that feeds the core from the network, reads the
//!   clock, and turns the core's outputs into messages and metrics.
//!
//! This crate knows nothing of libp2p. Actors talk to the network through the messages in
//! [`network`]; the node (crate `x0-node`) wires them to the real swarm in one place.

pub mod auth;
pub mod ballot;
pub mod certify;
pub mod charter;
pub mod duplicates;
pub mod guardians;
pub mod network;
pub mod probe;
pub mod topics;
pub mod wall_clock;

#[cfg(test)]
mod test_bytes;
