//! The deterministic simulator's engine: a virtual clock, an event queue, one seeded RNG,
//! one thread. Nothing here reads the wall clock, so the same seed replays the same run.
//!
//! The gossip and network models, Byzantine behaviours and scenario files build on this
//! engine (issue "Deterministic simulator"); the protocol logic they drive is the cores of
//! `x0-actors`, the very code the node runs.

pub mod engine;

pub use engine::{Engine, QueueFull};
