//! The Snapshot (snapshot.org) hub client: the DAO's votes, when the hub is reachable.
//!
//! * [`eip712`]: a vote's EIP-712 signature must recover to its voter, or it is dropped.
//! * [`client`]: GraphQL over HTTP(S) for one space, bounded and retried.
//! * [`snapshot_tally`]: the pure count, one node one vote through the configured
//!   registry (voter address -> member PeerId), decided by
//!   [`x0_core::ballot::rules::snapshot_outcome`].

pub mod client;
pub mod eip712;

use std::collections::BTreeMap;

use alloy_primitives::Address;
use libp2p::PeerId;
use x0_core::ballot::rules::{snapshot_outcome, Choice, Outcome, Tally};

pub use client::{
    AttemptError, ClientConfig, HubVote, Proposal, SnapshotClient, SnapshotError, VoteFetch,
};
pub use eip712::{verify_vote, ProposalIdType, VerifyError, VoteMessage};

/// Which member node each voter address speaks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registry {
    by_address: BTreeMap<Address, PeerId>,
}

/// A registry entry that cannot be used; `key` is the address as configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("registry entry {key:?}: {message}")]
pub struct RegistryError {
    pub key: String,
    pub message: String,
}

impl Registry {
    /// Parses `address -> PeerId` text pairs. Two addresses for one node are refused: a
    /// node would otherwise look like it has two votes in the configuration.
    pub fn parse<'a>(
        entries: impl IntoIterator<Item = (&'a String, &'a String)>,
    ) -> Result<Registry, RegistryError> {
        let mut by_address = BTreeMap::new();
        let mut by_node: BTreeMap<PeerId, String> = BTreeMap::new();
        for (address_text, peer_text) in entries {
            let error = |message: String| RegistryError {
                key: address_text.clone(),
                message,
            };
            let address = eip712::parse_address(address_text).map_err(|_| {
                error("not an Ethereum address; expected 0x followed by 40 hex digits".into())
            })?;
            let peer: PeerId = peer_text
                .parse()
                .map_err(|e| error(format!("{peer_text:?} is not a PeerId ({e})")))?;
            if let Some(other) = by_node.insert(peer, address_text.clone()) {
                return Err(error(format!(
                    "node {peer} is already registered for {other}; one node has one address"
                )));
            }
            if by_address.insert(address, peer).is_some() {
                return Err(error("address listed twice (letter case aside)".into()));
            }
        }
        Ok(Registry { by_address })
    }

    pub fn from_pairs(pairs: impl IntoIterator<Item = (Address, PeerId)>) -> Registry {
        Registry {
            by_address: pairs.into_iter().collect(),
        }
    }

    pub fn node_of(&self, address: &Address) -> Option<PeerId> {
        self.by_address.get(address).copied()
    }

    pub fn len(&self) -> usize {
        self.by_address.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_address.is_empty()
    }
}

/// What happened to the votes of one tally. Every vote lands in exactly one count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VoteCounts {
    /// Counted: one per node.
    pub accepted: u64,
    pub bad_signature: u64,
    /// Validly signed by an address the registry does not know.
    pub unregistered: u64,
    /// Superseded by the same node's later vote, or the same vote twice.
    pub duplicate: u64,
    /// Not a single choice 1..=3 (other voting types, or no choice).
    pub skipped: u64,
}

/// The outcome of one proposal and how it was reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotTally {
    pub outcome: Outcome,
    pub tally: Tally,
    pub counts: VoteCounts,
    /// The counted vote of each node.
    pub ballots: BTreeMap<PeerId, Choice>,
}

/// The signed message a hub vote claims to be.
pub fn vote_message(vote: &HubVote, choice: u32) -> VoteMessage {
    VoteMessage {
        from: vote.voter.clone(),
        space: vote.space.id.clone(),
        timestamp: u64::try_from(vote.created).unwrap_or(0),
        proposal: vote.proposal.id.clone(),
        choice,
        reason: vote.reason.clone().unwrap_or_default(),
        app: vote.app.clone().unwrap_or_default(),
        metadata: vote.metadata_text(),
    }
}

/// Counts the votes of one `basic` proposal: one node one vote, never token balance.
///
/// A vote counts only if its choice is 1, 2 or 3, its signature recovers to its voter,
/// and the registry maps the voter to a node. A node's latest vote (`created`) counts;
/// on a tie, the greatest vote id, so the result never depends on the hub's order.
/// The outcome is [`snapshot_outcome`] over `network_nodes`.
pub fn snapshot_tally(votes: &[HubVote], registry: &Registry, network_nodes: u64) -> SnapshotTally {
    let mut counts = VoteCounts::default();
    // Per node: (created, vote id, choice) of the winning vote.
    let mut latest: BTreeMap<PeerId, (i64, &str, Choice)> = BTreeMap::new();
    for vote in votes {
        let choice = vote
            .choice
            .as_u64()
            .and_then(|c| u8::try_from(c).ok())
            .and_then(Choice::from_code);
        let Some(choice) = choice else {
            counts.skipped += 1;
            continue;
        };
        let message = vote_message(vote, u32::from(choice.code()));
        let signature = vote.sig.as_deref().unwrap_or("");
        let address = match verify_vote(&message, signature) {
            Ok(address) => address,
            Err(error) => {
                tracing::debug!(vote = %vote.id, reason = error.as_str(), "snapshot: vote dropped");
                counts.bad_signature += 1;
                continue;
            }
        };
        let Some(node) = registry.node_of(&address) else {
            counts.unregistered += 1;
            continue;
        };
        let candidate = (vote.created, vote.id.as_str(), choice);
        match latest.get_mut(&node) {
            None => {
                latest.insert(node, candidate);
            }
            Some(held) => {
                counts.duplicate += 1;
                if (candidate.0, candidate.1) > (held.0, held.1) {
                    *held = candidate;
                }
            }
        }
    }
    let mut tally = Tally::default();
    let mut ballots = BTreeMap::new();
    for (node, (_, _, choice)) in latest {
        tally.add(choice);
        ballots.insert(node, choice);
    }
    counts.accepted = tally.cast();
    SnapshotTally {
        outcome: snapshot_outcome(&tally, network_nodes),
        tally,
        counts,
        ballots,
    }
}
