//! Peer-signature collection ("Anti-Meave"): proposals for network-wide changes, the
//! threshold they need, and the threshold-signature scheme behind certificates.
//!
//! [`collector`] collects one key set's shares into certificates; [`node`] is everything
//! one node does with certificate traffic (wire checks, two collectors, held verdicts).
//! [`effects`] is the one interpreter of the node's actions (persist, then publish) that
//! both shells run: the actor in `x0_actors::certify` and the simulator.

pub mod actions;
pub mod collector;
pub mod committee;
pub mod effects;
pub mod node;
pub mod proposal;
pub mod scheme;
pub mod threshold;
pub mod wire;

use crate::auth::token::Operation;
use crate::topics;

/// How the admission gate classifies this protocol's privileged payloads: a share is
/// signing; a proposal on a `charter/` slot is a Charter update, any other proposal is
/// proposing. A proposal that does not decode performs nothing (the gate refuses it).
pub fn classify(topic: &str, payload: &[u8]) -> Option<Operation> {
    match topic {
        topics::SHARES => Some(Operation::Sign),
        topics::PROPOSALS => {
            let proposal = proposal::Proposal::decode(payload).ok()?;
            Some(if proposal.slot.starts_with("charter/") {
                Operation::CharterUpdate
            } else {
                Operation::Propose
            })
        }
        _ => None,
    }
}
