//! DAO decisions: the Snapshot rule and the local fallback ballot (docs/PROTOCOL.md,
//! "Ballots").

pub mod rules;
