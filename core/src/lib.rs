//! The protocol cores of x0tta6bl4 mesh: deterministic, sans-IO state machines.
//!
//! Inputs are bytes and a `now` passed in by the caller; outputs are values (actions,
//! verdicts, evidence). Nothing here reads a clock, opens a socket or a file, spawns a
//! task, or iterates a HashMap, so the node's actors (crate `x0-actors`) and the simulator
//! (crate `x0-simulator`) drive the very same code, and a simulated run replays exactly from
//! its seed. `core/tests/no_io.rs` keeps the I/O crates out of this crate's dependencies.
//!
//! The modules, lowest first; each imports only from those above it:
//!
//! * [`ids`], [`topics`]: who a peer is, what a core decided, the versioned topic names;
//! * [`probe`], [`duplicates`]: gossip-health probes and the duplicates-per-message count;
//! * [`auth`]: envelopes, capability tokens, replay guard, revocations, the admission gate;
//! * [`certify`]: proposals, threshold signature shares and certificates;
//! * [`anomaly`]: the change-rate limits over certified changes;
//! * [`ballot`]: DAO decisions (Snapshot rule, the local fallback ballot, their effects);
//! * [`charter`]: the privacy Charter's policy and its userspace filters;
//! * [`guardians`]: guardian custody of the master key (FROST);
//! * [`known_topics`]: every topic's size limit, and the classifier the gate asks which
//!   operation a privileged payload performs (it dispatches to the protocols above);
//! * [`sync`]: anti-entropy sync, the items, digests and wire format peers exchange to
//!   catch up on what gossip did not bring them (it names items by the topics above);
//! * [`verdicts`]: every refusal reason of every topic with its verdict (REJECT only what
//!   is invalid in itself), held to the table in docs/PROTOCOL.md by a test.
//!
//! Each protocol with actions to carry out has one interpreter of them
//! ([`certify::effects`], [`ballot::effects`]) that the actors and the simulator share.

pub mod anomaly;
pub mod auth;
pub mod ballot;
pub mod certify;
pub mod charter;
pub mod duplicates;
pub mod guardians;
pub mod ids;
pub mod known_topics;
pub mod probe;
pub mod sync;
pub mod topics;
pub mod verdicts;

#[cfg(test)]
mod test_bytes;
