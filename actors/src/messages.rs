//! Every message an actor takes, in one place: between the actors and the network first,
//! then each actor's own (what the node's assembly, HTTP API and CLI send it). The actor
//! modules re-export theirs, so `x0_actors::certify::Propose` names the same type.
//!
//! The network actor in `x0-node` owns no protocol logic: it delivers each gossip message to
//! the one actor that owns its topic, waits for that actor's [`Verdict`], and only then lets
//! gossipsub forward (Accept), drop quietly (Ignore) or drop and penalise the sender
//! (Reject). Protocol actors publish through [`Publish`]. Nothing here names libp2p types.

use actix::{Message, Recipient};

use x0_core::ballot::effect::Effect;
use x0_core::ballot::rules::Choice;
use x0_core::ballot::wire::BallotId;
use x0_core::certify::node::ProposeError;
use x0_core::certify::proposal::ProposalId;
use x0_core::certify::wire::CertificateMessage;
pub use x0_core::ids::{PeerKey, Verdict};
pub use x0_core::known_topics::Payload;

use crate::auth::{AuthStatus, RevocationReceipt};
use crate::ballot::{BallotReport, BallotResult};
use crate::certify::CertifyStatus;
use crate::charter::CharterStatus;
use crate::probe::ProbeStats;

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

/// A privileged message the auth actor admitted, for the actor that owns its topic: the
/// inbound message with its payload taken out of the envelope, and what the gate's
/// classifier already decoded of it (a proposal), so that nothing decodes it twice.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Verdict")]
pub struct AdmittedInbound {
    pub inbound: Inbound,
    pub decoded: Payload,
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

/// Send every [`PeerEvent`] to `watcher` from now on, starting with a `Connected` for each
/// peer connected already (a watcher that starts after the first connections opened must
/// still learn of them).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct WatchPeers {
    pub watcher: Recipient<PeerEvent>,
}

// ---- Sync (crate::sync) and the network ----
//
// The sync actor speaks `/x0/sync/1` through the network actor, which owns the libp2p
// request-response behaviour; these messages carry the bytes both ways. Items fetched by
// sync come back to the network actor as [`SyncDeliver`] and meet the same topic owner,
// the same validation bound and the same verdict counters as a gossip message.

/// A `/x0/sync/1` request from `peer`, for the sync actor to answer. `None`: nothing is
/// answered and the stream is dropped (the request did not decode).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Option<Vec<u8>>")]
pub struct SyncRequestArrived {
    pub peer: PeerKey,
    pub bytes: Vec<u8>,
}

/// The outcome of a request the sync actor sent with [`SyncToNetwork::Request`]: the
/// response's bytes, or why there is none (timeout, closed stream, not connected).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct SyncResponseArrived {
    pub id: u64,
    pub response: Result<Vec<u8>, String>,
}

/// The network accepted a message a sync peer may ask for: it arrived (by gossip or sync)
/// and its topic's owner accepted it, or this node published it.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct ItemHeld {
    pub topic: String,
    pub bytes: Vec<u8>,
}

/// What the sync actor asks of the network.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub enum SyncToNetwork {
    /// Send a request to a connected peer; the outcome comes back as
    /// [`SyncResponseArrived`] with this `id`.
    Request {
        peer: PeerKey,
        id: u64,
        bytes: Vec<u8>,
    },
    /// The peer's score for what it served through sync, in gossipsub's application
    /// score (P5): `-penalty²`, weighted like an invalid gossip message.
    Score { peer: PeerKey, score: f64 },
}

/// An item fetched by sync, to be judged exactly like a gossip message on `topic` from
/// `from` (the peer that served it, penalised on Reject).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Verdict")]
pub struct SyncDeliver {
    pub topic: String,
    pub from: PeerKey,
    pub data: Vec<u8>,
}

/// Where the network actor sends what concerns sync.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct AttachSync {
    pub requests: Recipient<SyncRequestArrived>,
    pub responses: Recipient<SyncResponseArrived>,
    pub held: Recipient<ItemHeld>,
}

/// Stop the receiving actor: sent by the node's assembly on shutdown, so no actor keeps
/// publishing into a network that is closing.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct Stop;

// ---- Probe actor (crate::probe) ----

/// Ask the probe actor to publish one probe now (devnet and tests use it).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<(), PublishError>")]
pub struct PublishProbeNow;

/// Counts of probes published and delivered here, for `x0 devnet` and tests.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "ProbeStats")]
pub struct GetProbeStats;

// ---- Auth actor (crate::auth) ----

/// Publish a signed revocation list (from the operator's API) to the mesh.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<RevocationReceipt, String>")]
pub struct PublishRevocations(pub Vec<u8>);

/// For `/status`.
#[derive(Debug, Clone, Message)]
#[rtype(result = "AuthStatus")]
pub struct GetAuthStatus;

// ---- Certify actor (crate::certify) ----

/// Propose a change (from the local operator's API).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<ProposalId, ProposeError>")]
pub struct Propose {
    pub slot: String,
    pub payload: Vec<u8>,
    pub affected_ppm: u32,
}

/// The certificate for a proposal, if this node holds one.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Option<CertificateMessage>")]
pub struct GetCertificate(pub ProposalId);

/// Where a proposal stands on this node (pending with its shares, certified, expired).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "x0_core::certify::node::ProposalState")]
pub struct GetProposalState(pub ProposalId);

/// A summary for `/status` and the CLI.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "CertifyStatus")]
pub struct GetCertifyStatus;

/// A passed ballot (local certificate or Snapshot) decided `effect`; `ballot_id` names
/// it, so one ballot acts once. Answers what the effect did, for the log and `/status`.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<String, String>")]
pub struct ApplyDecision {
    pub ballot_id: [u8; 32],
    pub effect: Effect,
}

/// Proposals approved by ballots (proposal id, ballot id), in id order.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Vec<(ProposalId, [u8; 32])>")]
pub struct GetApproved;

/// A certified change, for the actor that applies its slot (the Charter's enforcement
/// actor applies `charter/policy`).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct CertifiedChange {
    pub id: ProposalId,
    pub epoch: u64,
    pub slot: String,
    pub payload: Vec<u8>,
}

/// Subscribes `recipient` to certified changes whose slot starts with `prefix`. The
/// certificates this node already holds (restored from its store) are delivered at once,
/// in (epoch, slot) order, so a restarted node applies the latest again.
#[derive(Message)]
#[rtype(result = "Result<(), crate::certify::SubscribeError>")]
pub struct SubscribeCertified {
    pub prefix: String,
    pub recipient: Recipient<CertifiedChange>,
}

// ---- Ballot actor (crate::ballot) ----

/// One Snapshot poll ended: `healthy` when the hub returned valid data.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct HubPolled {
    pub healthy: bool,
}

/// Open a local ballot (operator API).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<BallotId, String>")]
pub struct OpenBallot {
    pub title: String,
    pub effect: Effect,
    pub duration_ms: u64,
}

/// Cast or change this node's vote (operator API). Answers the sequence used.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<u64, String>")]
pub struct CastVote {
    pub id: BallotId,
    pub choice: Choice,
}

#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "BallotReport")]
pub struct GetBallotStatus;

/// One ballot: decided (with its certificate) or its tally so far.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Option<BallotResult>")]
pub struct GetBallot(pub BallotId);

// ---- Charter actor (crate::charter) ----

#[derive(Debug, Message)]
#[rtype(result = "CharterStatus")]
pub struct GetCharterStatus;

/// Filters an exposition for `/metrics`.
#[derive(Debug, Message)]
#[rtype(result = "String")]
pub struct FilterExport(pub String);
