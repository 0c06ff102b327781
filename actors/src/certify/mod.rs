//! Peer-signature collection ("Anti-Meave"): proposals for network-wide changes, the
//! threshold they need, and the threshold-signature scheme behind certificates.
//!
//! Work in progress for the peer-signature issue: the proposal format, the threshold rule
//! and the signature scheme are here and tested; the collection state machine, its actor
//! and persistence come next.

pub mod collector;
pub mod proposal;
pub mod scheme;
pub mod threshold;
pub mod wire;
