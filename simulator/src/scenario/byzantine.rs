//! `[[byzantine]]`: groups of nodes that misbehave, and the behaviours they may have.
//! What each behaviour does is documented on its variant; `crate::world` carries them
//! out, and the report's invariants check that none of it got through.

use serde::{Deserialize, Serialize};

use super::NodeRange;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Byzantine {
    /// Nodes `members.first..=members.last` misbehave: at most a third of all nodes, and
    /// at most t of the committee.
    pub members: NodeRange,
    #[serde(default)]
    pub behaviours: Vec<Behaviour>,
    /// The node an `eclipse` group dials and grafts.
    pub target: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Behaviour {
    /// Publish shares over the wrong message instead of valid ones.
    InvalidShares,
    /// Never sign, never forward anything.
    Withhold,
    /// Sign every proposal it sees, also a second one for a slot it signed already.
    Equivocate,
    /// Whenever it sees a proposal, publish a certificate for a forged proposal on the
    /// same slot, signed with nothing but its own key share.
    ForgedCertificates,
    /// Every 500 ms, publish again (as a new message) one of the last 64 proposals,
    /// shares or certificates it saw.
    Replay,
    /// Every 500 ms, publish 20 messages of garbage on the shares topic.
    Flood,
    /// Sybils: dial the group's `target`, GRAFT it on every topic every 500 ms, and
    /// withhold everything (never sign, never forward), to cut it off from the mesh.
    Eclipse,
    /// Token forger: holds a credential minted by its own key pair (not the network
    /// authority's) that claims every right, and every 500 ms publishes in envelopes
    /// sealed with it a proposal and a share (for the last proposal it saw; a committee
    /// member signs it with its key share, anyone else sends a signature of zeros).
    /// Every honest gate must refuse them (`token_signature`).
    ForgeTokens,
    /// Replayer of privileged messages: captures the envelopes of proposals and shares
    /// it receives from honest members (the last 64, and the first 64 not yet
    /// re-injected) and (1) every 500 ms publishes one of them byte-identical as its own
    /// message (its source is not the token's holder: `wrong_holder`); (2) re-injects
    /// each original message unchanged (the honest author's own signed gossip message,
    /// which anyone can relay) to all its peers once the peers' seen caches have let it
    /// go (`duplicate_cache_time` plus a heartbeat; stale by then: `timestamp_stale`);
    /// (3) hands every peer that connects to it (a node back from a crash, whose seen
    /// cache is empty) all it captured, so a restarted node must refuse what it admitted
    /// before the crash from its persisted nonces (`replay`).
    ReplayPrivileged,
    /// A committee member beyond its rights: its credential grants only `vote`, yet it
    /// signs the proposals it sees (valid shares, sealed with its real token) and answers
    /// each with a proposal of its own and one on a `charter/` slot. Every honest gate
    /// must refuse them (`not_permitted`). Members only: nodes `0..committee.size`.
    ExceedRights,
    /// Ballots (members only): on each ballot it sees, votes yes to some peers and no to
    /// others under one sequence (during a partition, yes to the first group and no to
    /// the others); while a partition is in force it relays ballot traffic only within
    /// the side it came from, so that both sides may decide.
    EquivocateVotes,
    /// Ballots (members only): votes yes on every ballot it sees.
    VoteYesAlways,
    /// Ballots: on each ballot it sees, publishes a vote of its own with a broken
    /// signature and a vote in another member's name (signed with its own key).
    ForgeVotes,
    /// Ballots (members only): every 500 ms, once fresh outage attestations of f+1
    /// members have reached it, opens a new ballot, bypassing its own rate limit.
    SpamOpens,
    /// Members only: every 500 ms, publishes 50 valid shares (its real key share, sealed
    /// with its real token) for proposals nobody made, over random ids: it tries to fill
    /// every node's pending table so that no honest proposal finds room.
    ShareFlood,
    /// Members only: every 500 ms, proposes 10 changes on slot names never used before
    /// (`gossip/burn-N`), sealed with its real token: it tries to use up the epoch's
    /// certified and signed-slot tables.
    SlotBurn,
}

impl Behaviour {
    /// The behaviours that attack the capability tokens: none of their privileged
    /// messages may ever be admitted by an honest node.
    pub const AGAINST_TOKENS: [Behaviour; 3] = [
        Behaviour::ForgeTokens,
        Behaviour::ReplayPrivileged,
        Behaviour::ExceedRights,
    ];

    /// The behaviours that only members can have (they need a seat in the electorate).
    pub const MEMBERS_ONLY: [Behaviour; 6] = [
        Behaviour::ExceedRights,
        Behaviour::EquivocateVotes,
        Behaviour::VoteYesAlways,
        Behaviour::SpamOpens,
        Behaviour::ShareFlood,
        Behaviour::SlotBurn,
    ];
}
