//! The deterministic simulator: a virtual clock, an event queue, one seeded RNG, one
//! thread, running the protocol cores of `x0-actors` (the very code the node runs) over a
//! model of gossipsub and of the network. The same scenario and seed replay the same run,
//! event for event.
//!
//! * [`engine`]: events in virtual-time order, the run's only RNG;
//! * [`gossip`]: gossipsub v1.1 as the node configures it, per node;
//! * [`crypto`], [`model_crypto`]: real BLS or a cost-modelled suite with its semantics;
//! * [`tokens`], [`model_tokens`]: real biscuit capability tokens or a cost-free model with
//!   their verdicts, checked by the node's own admission gate in front of the certify core;
//! * [`scenario`]: the scenario files (`scenarios/*.toml`);
//! * [`world`]: nodes, links, faults and Byzantine members;
//! * [`report`]: figures, invariants, the trace digest, and the report for a person;
//! * [`plot`]: SVG plots of a report (latency CDF, certificate spread, fault time line).

pub mod ballots;
pub mod crypto;
pub mod engine;
pub mod gossip;
pub mod model_crypto;
pub mod model_tokens;
pub mod peer_set;
pub mod plot;
pub mod report;
pub mod scenario;
pub mod seals;
pub mod seen;
pub mod tokens;
pub mod world;

pub use engine::{Engine, QueueFull};
pub use report::Report;
pub use scenario::Scenario;
pub use world::World;
