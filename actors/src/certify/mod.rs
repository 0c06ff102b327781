//! Peer-signature collection ("Anti-Meave"): proposals for network-wide changes, the
//! threshold they need, and the threshold-signature scheme behind certificates.
//!
//! The cores are sans-IO: [`collector`] collects one key set's shares into certificates;
//! [`node`] is everything one node does with certificate traffic (wire checks, two
//! collectors, held verdicts). [`actor`] is the node's actix shell around it, with a
//! journal that persists before publishing; the simulator is the other shell.

pub mod actor;
pub mod collector;
pub mod committee;
pub mod node;
pub mod proposal;
pub mod scheme;
pub mod threshold;
pub mod wire;
