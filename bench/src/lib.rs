//! Benchmarks live in `benches/`; results and how to read them in docs/BENCHMARKS.md.
//! Every benchmark group pairs the measured path with a baseline run in the same process,
//! so a result is a ratio that survives a change of machine.
//!
//! The library holds what the end-to-end harnesses in `src/bin/` share:
//!
//! * [`delay`]: a fixed one-way latency for in-process libp2p connections;
//! * [`fidelity`]: the simulator's gossip model against real libp2p gossipsub swarms
//!   (`src/bin/gossip_fidelity.rs`).

pub mod delay;
pub mod fidelity;
