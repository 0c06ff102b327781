//! The messages between the actors and the network, and between actors.
//!
//! The network actor in `x0-node` owns no protocol logic: it delivers each gossip message to
//! the one actor that owns its topic, waits for that actor's [`Verdict`], and only then lets
//! gossipsub forward (Accept), drop quietly (Ignore) or drop and penalise the sender
//! (Reject). Protocol actors publish through [`Publish`]. Nothing here names libp2p types.

use actix::{Message, Recipient};

pub use x0_core::ids::{PeerKey, Verdict};

/// A gossip message that arrived for a topic, waiting for its owner's verdict.
/// gossipsub holds it (not forwarded) until the verdict comes back.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Verdict")]
pub struct Inbound {
    pub topic: String,
    /// The neighbour that handed us the message; the one penalised on Reject.
    pub propagation_source: PeerKey,
    /// The signed author of the message (Strict validation guarantees it is present).
    pub author: Option<PeerKey>,
    pub data: Vec<u8>,
    /// Wall-clock time of receipt, read by the network shell, in Unix milliseconds.
    pub received_at_unix_ms: u64,
}

/// Publish `data` on `topic`. The network signs it with the node key.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<(), PublishError>")]
pub struct Publish {
    pub topic: String,
    pub data: Vec<u8>,
}

/// Why a publish did not go out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    #[error("no peer is subscribed to the topic yet")]
    NoPeers,
    #[error("message of {bytes} bytes exceeds the topic limit of {limit} bytes")]
    TooLarge { bytes: usize, limit: usize },
    #[error("topic {0} is not known to this node")]
    UnknownTopic(String),
    #[error("the network queue is full; message dropped")]
    QueueFull,
    #[error("the network is shutting down")]
    ShuttingDown,
    #[error("gossipsub refused the message: {0}")]
    Refused(String),
}

/// Make `owner` the validator of every message on `topic` and subscribe the node to it.
/// A topic has exactly one owner; a second subscription for the same topic is refused.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<(), SubscribeError>")]
pub struct Subscribe {
    pub topic: String,
    pub owner: Recipient<Inbound>,
}

/// Why a subscription was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscribeError {
    #[error("topic {0} already has an owner")]
    AlreadyOwned(String),
    #[error("topic {0} is not known to this node (see x0_core::known_topics::KNOWN)")]
    UnknownTopic(String),
    #[error("the network is shutting down")]
    ShuttingDown,
}

/// A change in the set of connected peers.
#[derive(Debug, Clone, PartialEq, Eq, Message)]
#[rtype(result = "()")]
pub enum PeerEvent {
    Connected(PeerKey),
    Disconnected(PeerKey),
}

/// Send every [`PeerEvent`] to `watcher` from now on.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct WatchPeers {
    pub watcher: Recipient<PeerEvent>,
}

/// Stop the receiving actor: sent by the node's assembly on shutdown, so no actor keeps
/// publishing into a network that is closing.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct Stop;
