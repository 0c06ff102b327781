//! Peer-signature collection ("Anti-Meave"): proposals for network-wide changes, the
//! threshold they need, and the threshold-signature scheme behind certificates.
//!
//! [`collector`] collects one key set's shares into certificates; [`node`] is everything
//! one node does with certificate traffic (wire checks, two collectors, held verdicts).
//! [`effects`] is the one interpreter of the node's actions (persist, then publish) that
//! both shells run: the actor in `x0_actors::certify` and the simulator.

pub mod actions;
pub mod bls_compose;
pub mod collector;
pub mod committee;
pub mod effects;
pub mod node;
pub mod proposal;
pub mod scheme;
pub mod threshold;
pub mod wire;

#[cfg(test)]
mod tests_share_checks;

use crate::auth::token::Operation;

/// How the admission gate classifies a proposal: on a `charter/` slot it is a Charter
/// update, on any other slot proposing. The decoded proposal goes on to the core with the
/// admission ([`node::CertifyNode::on_admitted_proposal`]), so it is decoded once. A
/// proposal that does not decode performs nothing (the gate refuses it).
pub fn classify_proposal(payload: &[u8]) -> Option<(Operation, proposal::Proposal)> {
    let proposal = proposal::Proposal::decode(payload).ok()?;
    let operation = if proposal.slot.starts_with("charter/") {
        Operation::CharterUpdate
    } else {
        Operation::Propose
    };
    Some((operation, proposal))
}

/// How the admission gate classifies a share: signing, whatever it holds (the core
/// decodes and checks it).
pub fn classify_share(_payload: &[u8]) -> Operation {
    Operation::Sign
}
