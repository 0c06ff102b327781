//! DAO decisions: the Snapshot rule and the local fallback ballot (docs/PROTOCOL.md,
//! "Ballots"). Everything here is sans-IO; the node's ballot actor
//! (`x0_actors::ballot`) and the simulator are the shells.
//!
//! * [`rules`]: the two decision rules over a tally.
//! * [`fallback`]: when the local ballot may open (own hub watch, f+1 attestations).
//! * [`wire`]: opens, votes, attestations and equivocation proofs on `/x0/1/ballots`.
//! * [`verify`]: the checks every receiver and every certificate reader runs.
//! * [`book`]: the core that holds open ballots and decides them at the deadline.
//! * [`refusal`]: why the book refused a message from the network, and its verdict.
//! * [`certificate`]: the decided ballot as an offline-verifiable proof.
//! * [`effect`]: what a passed ballot does.
//! * [`effects`]: the one interpreter of the book's actions (persist, then publish) that
//!   the node's actor and the simulator share.

pub mod book;
pub mod certificate;
pub mod effect;
pub mod effects;
pub mod fallback;
pub mod refusal;
pub mod rules;
pub mod verify;
pub mod wire;

#[cfg(test)]
mod tests;
