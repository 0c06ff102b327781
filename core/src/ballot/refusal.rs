//! Why the ballot core refused a message from the network, and the verdict each reason
//! earns (docs/PROTOCOL.md, "Gossip verdicts: REJECT and IGNORE").

use super::verify::Refusal as CheckRefusal;
use crate::ids::Verdict;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboundRefusal {
    /// The bytes are not a ballot message of this version.
    Malformed,
    /// An attestation by a peer outside the committee.
    NotMember,
    /// An attestation or open stamped earlier than this node's clock allows.
    TimestampStale,
    /// An attestation or open stamped later than this node's clock allows.
    TimestampFuture,
    /// One of the checks that need no state beyond the committee ([`super::verify`]).
    Check(CheckRefusal),
    /// The opener opened another ballot less than `open_interval_ms_min` before.
    RateLimited,
    /// `ballots_open_max` ballots are open here.
    BallotsFull,
    /// The opener holds `ballots_open_per_opener_max` open ballots here already.
    OpenerFull,
    /// An open without a pending halt (an approve ballot) runs longer than this node's
    /// `duration_s_max_without_halt`.
    DurationWithoutHalt,
    /// Already held (an attestation no newer than the held one, an open, a vote, a proof).
    Duplicate,
    /// A vote or proof for a ballot this node does not hold open.
    UnknownBallot,
    /// A vote after the deadline (by this node's clock), or for a decided ballot.
    Closed,
    /// A vote by a voter this node already excluded for equivocation.
    Excluded,
    /// A vote older than the voter's vote held here.
    StaleSequence,
    /// A second vote under one sequence with another choice: kept as evidence, not
    /// forwarded as a vote.
    Equivocation,
}

impl InboundRefusal {
    /// One of each refusal, for the verdict-table tests.
    pub fn all() -> Vec<InboundRefusal> {
        let mut all = vec![
            InboundRefusal::Malformed,
            InboundRefusal::NotMember,
            InboundRefusal::TimestampStale,
            InboundRefusal::TimestampFuture,
            InboundRefusal::RateLimited,
            InboundRefusal::BallotsFull,
            InboundRefusal::OpenerFull,
            InboundRefusal::DurationWithoutHalt,
            InboundRefusal::Duplicate,
            InboundRefusal::UnknownBallot,
            InboundRefusal::Closed,
            InboundRefusal::Excluded,
            InboundRefusal::StaleSequence,
            InboundRefusal::Equivocation,
        ];
        all.extend(CheckRefusal::ALL.map(InboundRefusal::Check));
        all
    }

    /// The metric label (`x0_ballot_messages_refused_total{reason}`).
    pub fn reason(self) -> &'static str {
        match self {
            InboundRefusal::Malformed => "malformed",
            InboundRefusal::NotMember => "not_member",
            InboundRefusal::TimestampStale => "timestamp_stale",
            InboundRefusal::TimestampFuture => "timestamp_future",
            InboundRefusal::Check(refusal) => refusal.reason(),
            InboundRefusal::RateLimited => "rate_limited",
            InboundRefusal::BallotsFull => "ballots_full",
            InboundRefusal::OpenerFull => "opener_full",
            InboundRefusal::DurationWithoutHalt => "duration_without_halt",
            InboundRefusal::Duplicate => "duplicate",
            InboundRefusal::UnknownBallot => "unknown_ballot",
            InboundRefusal::Closed => "closed",
            InboundRefusal::Excluded => "excluded",
            InboundRefusal::StaleSequence => "stale_sequence",
            InboundRefusal::Equivocation => "equivocation",
        }
    }

    /// Whether every honest member refuses the message whatever its clock, the order
    /// messages reached it in, or what it holds. Membership is the committee every member
    /// was dealt. A rate limit, a full book, a duplicate, an unknown or closed ballot, a
    /// stale sequence and an equivocation all depend on what reached this node first: an
    /// honest relay that saw the messages in another order forwarded them in good faith
    /// (for `rate_limited`: a member's two opens cross the mesh on different paths).
    pub fn invalid_in_itself(self) -> bool {
        match self {
            InboundRefusal::Malformed | InboundRefusal::NotMember => true,
            InboundRefusal::Check(refusal) => refusal.invalid_in_itself(),
            InboundRefusal::TimestampStale
            | InboundRefusal::TimestampFuture
            | InboundRefusal::RateLimited
            | InboundRefusal::BallotsFull
            | InboundRefusal::OpenerFull
            | InboundRefusal::DurationWithoutHalt
            | InboundRefusal::Duplicate
            | InboundRefusal::UnknownBallot
            | InboundRefusal::Closed
            | InboundRefusal::Excluded
            | InboundRefusal::StaleSequence
            | InboundRefusal::Equivocation => false,
        }
    }

    pub fn verdict(self) -> Verdict {
        Verdict::refused(self.reason(), self.invalid_in_itself())
    }

    /// The skew check of an attestation or open stamped `stamped_ms`, at `now_ms`.
    pub fn skew(stamped_ms: u64, now_ms: u64, skew_ms: u64) -> Option<InboundRefusal> {
        if stamped_ms.abs_diff(now_ms) <= skew_ms {
            None
        } else if stamped_ms < now_ms {
            Some(InboundRefusal::TimestampStale)
        } else {
            Some(InboundRefusal::TimestampFuture)
        }
    }
}

impl From<CheckRefusal> for InboundRefusal {
    fn from(refusal: CheckRefusal) -> Self {
        InboundRefusal::Check(refusal)
    }
}
