//! Anti-entropy sync (`/x0/sync/1`): how a node that missed messages (a partition, a
//! restart, a late join) learns them from its peers, beyond what gossip's short message
//! cache repairs.
//!
//! Two peers compare compact [`digest`]s of the [`item`]s they hold, narrow the difference
//! down to keys, and fetch the items one side lacks, in the bounded messages of [`wire`].
//! A fetched item is named by the hash of its bytes, so it is the item asked for; it then
//! passes exactly the checks the same bytes would pass arriving by gossip.
//!
//! [`machine::SyncCore`] runs both sides of the protocol for one node; [`archive::Archive`]
//! keeps the bytes it serves; [`host::SyncHost`] joins the two and is the one interpreter
//! of the core's actions that the node's shell (`x0_actors::sync`) and the simulator's
//! both run.

pub mod archive;
pub mod digest;
pub mod host;
pub mod item;
pub mod machine;
pub mod wire;

#[cfg(test)]
mod tests;
