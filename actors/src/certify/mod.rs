//! Peer-signature collection ("Anti-Meave"): proposals for network-wide changes, the
//! threshold they need, and the threshold-signature scheme behind certificates.
//!
//! The core ([`collector`]) is sans-IO; [`actor`] hosts it in a node, with two collectors
//! (standard and supermajority key sets) and a journal that persists before publishing.

pub mod actor;
pub mod collector;
pub mod committee;
pub mod proposal;
pub mod scheme;
pub mod threshold;
pub mod wire;
