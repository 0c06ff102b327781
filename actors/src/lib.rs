//! The actix actors of a node: thin shells around the protocol cores of `x0-core`.
//!
//! An actor feeds its core from the network, reads the clock once per message and passes
//! it in, and turns the core's outputs into messages, store writes and metrics. No protocol
//! rule lives here: what a core decides is decided in `x0-core`, where the simulator runs
//! the same code.
//!
//! * [`messages`]: every message between the actors and the network, in one place;
//! * [`probe`], [`auth`], [`certify`], [`ballot`], [`charter`]: one actor each, with its
//!   metrics;
//! * [`exposition`]: `/metrics` in the format the scraper asks for (the Charter filters the
//!   same text).
//!
//! This crate knows nothing of libp2p. The node (crate `x0-node`) wires the actors to the
//! real swarm in one place, its assembly (`node/src/node.rs`).

pub mod auth;
pub mod ballot;
pub mod certify;
pub mod charter;
pub mod exposition;
pub mod messages;
pub mod probe;
pub mod sync;
pub mod wall_clock;
