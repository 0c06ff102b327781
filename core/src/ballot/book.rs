//! The local ballot core, sans-IO: outage attestations, opens, votes, equivocation and
//! the tally at the deadline. The shell feeds it admitted gossip (after the auth gate),
//! the operator's commands, each Snapshot poll's outcome and a clock tick; it carries out
//! the [`Action`]s in order (persist first, then publish).
//!
//! ```text
//! hub polls ──> HubWatch ──(down ≥ outage)──> own Attestation ──publish──┐
//! gossip ──> Attestation ─┐                                               │
//!                         └─> Attestations: f+1 fresh? ── Mode::Fallback ─┘
//! operator open ──(Fallback)──> Open{electorate = committee, f+1 attestations} ──> Ballot
//! votes (seq replaces, equal seq + other choice = evidence, voter excluded)
//! tick ≥ deadline ──> tally ──> Certificate ──> Action::Decided
//! ```

use std::collections::BTreeMap;

use super::certificate::Certificate;
use super::effect::Effect;
use super::fallback::{Attestations, FallbackConfig, HubWatch, Mode};
use super::refusal::InboundRefusal;
use super::rules::{local_outcome, Choice, Outcome, Tally};
use super::verify::{
    check_attestation, check_equivocation, check_open, check_vote, NodeSigner, OpenRules, Refusal,
};
use super::wire::{
    Attestation, BallotId, Equivocation, Message, Open, Vote, EFFECT_BYTES_MAX, ELECTORATE_MAX,
    TITLE_BYTES_MAX,
};
use crate::ids::{PeerKey, Verdict};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BallotConfig {
    pub fallback: FallbackConfig,
    /// Clock difference allowed between members (the auth gate's skew).
    pub skew_ms: u64,
    pub duration_ms_min: u64,
    pub duration_ms_max: u64,
    /// Ballots open at once; a further open is ignored (and counted) until one decides.
    /// Keep it above `ballots_open_per_opener_max` × f, or the committee's f faulty
    /// members could hold every slot (the node's config check says so).
    pub ballots_open_max: usize,
    /// Ballots one opener holds open at once: a faulty member cannot take more than its
    /// share of `ballots_open_max`, so an honest member still finds a free slot.
    pub ballots_open_per_opener_max: usize,
    /// Longest duration of a ballot that resolves no pending halt (`approve`): it holds a
    /// slot for a day rather than the week a halt may need (capped by `duration_ms_max`).
    pub duration_ms_max_without_halt: u64,
    /// A member may open a ballot at most this often.
    pub open_interval_ms_min: u64,
    /// Decided ballots kept in memory for `x0 ballot tally` (all are persisted).
    pub decided_kept_max: usize,
}

impl Default for BallotConfig {
    fn default() -> Self {
        let rules = OpenRules::default();
        BallotConfig {
            fallback: FallbackConfig::default(),
            skew_ms: rules.skew_ms,
            duration_ms_min: rules.duration_ms_min,
            duration_ms_max: rules.duration_ms_max,
            ballots_open_max: 16,
            ballots_open_per_opener_max: 2,
            duration_ms_max_without_halt: 24 * 3_600_000,
            open_interval_ms_min: 600_000,
            decided_kept_max: 256,
        }
    }
}

impl BallotConfig {
    /// Longest duration allowed for a ballot with `effect`. `lift-halt` and `settle` resolve a
    /// halt that stops changes until they pass, so they may run up to `duration_ms_max`;
    /// `approve` resolves none and gets the shorter `duration_ms_max_without_halt`.
    pub fn duration_ms_max_for(&self, effect: &Effect) -> u64 {
        match effect {
            Effect::LiftHalt | Effect::Settle { .. } => self.duration_ms_max,
            Effect::Approve { .. } => self.duration_ms_max.min(self.duration_ms_max_without_halt),
        }
    }

    pub fn open_rules(&self) -> OpenRules {
        OpenRules {
            attestation_ttl_ms: self.fallback.attestation_ttl_ms,
            skew_ms: self.skew_ms,
            duration_ms_min: self.duration_ms_min,
            duration_ms_max: self.duration_ms_max,
        }
    }
}

/// What the shell must do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Persist the open before it is accepted or published.
    StoreBallot {
        id: BallotId,
        encoded: Vec<u8>,
    },
    /// Persist this vote (own or received, the voter's latest) before it is published or
    /// accepted; on restart the own sequence continues from the highest stored.
    StoreVote {
        id: BallotId,
        voter: PeerKey,
        encoded: Vec<u8>,
    },
    /// Persist the proof that `voter` equivocated.
    StoreEvidence {
        id: BallotId,
        voter: PeerKey,
        encoded: Vec<u8>,
    },
    /// Publish on the ballots topic (an open, a vote, an attestation or evidence).
    Publish {
        encoded: Vec<u8>,
    },
    /// The ballot is decided: persist the certificate, then act on a passed effect.
    Decided {
        id: BallotId,
        certificate: Box<Certificate>,
    },
    ModeChanged {
        mode: Mode,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error(
        "the hub is not down by f+1 members' attestations ({have} of {need}): Snapshot decides"
    )]
    NotInFallback { have: usize, need: usize },
    #[error("this node is not a committee member")]
    NotMember,
    #[error("duration {0} ms is outside {1}..={2} ms")]
    Duration(u64, u64, u64),
    #[error("title must be 1..={TITLE_BYTES_MAX} bytes")]
    Title,
    #[error("{0} ballots are open already; wait for one to decide")]
    Full(usize),
    #[error("this node holds {0} open ballots, its most; wait for one to decide")]
    OpenerFull(usize),
    #[error(
        "duration {0} ms exceeds {1} ms, the most for a ballot that resolves no halt (`approve`)"
    )]
    DurationWithoutHalt(u64, u64),
    #[error("this node opened a ballot less than {0} ms ago")]
    RateLimited(u64),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VoteError {
    #[error("no open ballot has this id")]
    UnknownBallot,
    #[error("the ballot's deadline has passed")]
    Closed,
    #[error("this node is not in the ballot's electorate")]
    NotInElectorate,
    #[error("this node is excluded from the ballot for equivocation")]
    Excluded,
}

/// One ballot while it is open.
#[derive(Debug, Clone)]
struct Ballot {
    open: Open,
    /// The latest valid vote of each voter.
    votes: BTreeMap<PeerKey, Vote>,
    /// Voters proven to have equivocated, with the proof.
    excluded: BTreeMap<PeerKey, Equivocation>,
}

impl Ballot {
    fn new(open: Open) -> Ballot {
        Ballot {
            open,
            votes: BTreeMap::new(),
            excluded: BTreeMap::new(),
        }
    }

    fn tally(&self) -> Tally {
        let mut tally = Tally::default();
        for vote in self.votes.values() {
            tally.add(vote.choice);
        }
        tally
    }
}

/// An open ballot as `/status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenSummary {
    pub id: BallotId,
    pub title: String,
    pub effect: Effect,
    pub opener: PeerKey,
    pub opened_at_unix_ms: u64,
    pub deadline_unix_ms: u64,
    pub electorate: usize,
    pub tally: Tally,
    pub excluded: usize,
    /// This node's latest vote, if any.
    pub own_choice: Option<Choice>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BallotStatus {
    pub mode: Mode,
    pub attestations_fresh: usize,
    pub attestations_needed: usize,
    pub hub_down_since_unix_ms: Option<u64>,
    pub open: Vec<OpenSummary>,
    pub decided: usize,
}

/// Counters the shell exports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BallotCounters {
    pub equivocations_total: u64,
    pub opens_full_total: u64,
    pub opens_rate_limited_total: u64,
    pub decided_forgotten_total: u64,
}

pub struct BallotBook<K> {
    keys: K,
    config: BallotConfig,
    /// The committee, sorted: every ballot's frozen electorate.
    members: Vec<PeerKey>,
    hub: HubWatch,
    attestations: Attestations,
    mode: Mode,
    open: BTreeMap<BallotId, Ballot>,
    decided: BTreeMap<BallotId, Certificate>,
    /// Decided ids oldest first, to forget beyond `decided_kept_max`.
    decided_order: std::collections::VecDeque<BallotId>,
    last_open_ms: BTreeMap<PeerKey, u64>,
    /// This node's highest vote sequence per ballot (restored from the store).
    own_sequence: BTreeMap<BallotId, u64>,
    counters: BallotCounters,
}

/// A refusal's verdict: Reject or Ignore by [`InboundRefusal::invalid_in_itself`].
fn refuse(refusal: impl Into<InboundRefusal>) -> Verdict {
    refusal.into().verdict()
}

impl<K: NodeSigner> BallotBook<K> {
    pub fn new(keys: K, mut members: Vec<PeerKey>, config: BallotConfig) -> Self {
        members.sort();
        members.dedup();
        assert!(
            members.len() <= ELECTORATE_MAX,
            "committee above the electorate bound"
        );
        BallotBook {
            keys,
            config,
            members,
            hub: HubWatch::default(),
            attestations: Attestations::default(),
            mode: Mode::Snapshot,
            open: BTreeMap::new(),
            decided: BTreeMap::new(),
            decided_order: Default::default(),
            last_open_ms: BTreeMap::new(),
            own_sequence: BTreeMap::new(),
            counters: BallotCounters::default(),
        }
    }

    pub fn config(&self) -> &BallotConfig {
        &self.config
    }

    pub fn counters(&self) -> BallotCounters {
        self.counters
    }

    fn me(&self) -> &PeerKey {
        self.keys.signer()
    }

    /// Open ballots `opener` opened (at most [`BallotConfig::ballots_open_max`], so the
    /// count is cheap).
    fn held_by(&self, opener: &PeerKey) -> usize {
        self.open
            .values()
            .filter(|ballot| ballot.open.opener == *opener)
            .count()
    }

    fn need(&self) -> usize {
        super::rules::faulty_max(self.members.len() as u64) as usize + 1
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    fn update_mode(&mut self, now_ms: u64, out: &mut Vec<Action>) {
        let mode = self
            .attestations
            .mode(self.members.len(), now_ms, &self.config.fallback);
        if mode != self.mode {
            self.mode = mode;
            out.push(Action::ModeChanged { mode });
        }
    }

    // ---- restore (at start, from the store; nothing is published) ----

    /// An open ballot from the store. Its checks ran when it was stored.
    pub fn restore_ballot(&mut self, open: Open) {
        let id = open.id();
        if self.decided.contains_key(&id) {
            return;
        }
        self.last_open_ms
            .entry(open.opener.clone())
            .and_modify(|at| *at = (*at).max(open.opened_at_unix_ms))
            .or_insert(open.opened_at_unix_ms);
        self.open.entry(id).or_insert_with(|| Ballot::new(open));
    }

    /// A stored vote (own or received): restores the tally and this node's sequence.
    pub fn restore_vote(&mut self, vote: Vote) {
        if vote.voter == *self.me() {
            let sequence = self.own_sequence.entry(vote.ballot).or_insert(0);
            *sequence = (*sequence).max(vote.sequence);
        }
        if let Some(ballot) = self.open.get_mut(&vote.ballot) {
            let newer = ballot
                .votes
                .get(&vote.voter)
                .is_none_or(|held| held.sequence < vote.sequence);
            if newer && !ballot.excluded.contains_key(&vote.voter) {
                ballot.votes.insert(vote.voter.clone(), vote);
            }
        }
    }

    pub fn restore_evidence(&mut self, evidence: Equivocation) {
        if let Some(ballot) = self.open.get_mut(&evidence.first.ballot) {
            ballot.votes.remove(&evidence.first.voter);
            ballot
                .excluded
                .insert(evidence.first.voter.clone(), evidence);
        }
    }

    pub fn restore_decided(&mut self, certificate: Certificate) {
        let id = certificate.id();
        self.open.remove(&id);
        self.remember_decided(id, certificate);
    }

    fn remember_decided(&mut self, id: BallotId, certificate: Certificate) {
        if self.decided.insert(id, certificate).is_none() {
            self.decided_order.push_back(id);
        }
        while self.decided_order.len() > self.config.decided_kept_max {
            if let Some(oldest) = self.decided_order.pop_front() {
                self.decided.remove(&oldest);
                self.counters.decided_forgotten_total += 1;
            }
        }
    }

    // ---- the hub ----

    /// One Snapshot poll finished: `healthy` when it returned valid data.
    pub fn hub_observed(&mut self, healthy: bool, now_ms: u64, out: &mut Vec<Action>) {
        let due = self.hub.observe(healthy, now_ms, &self.config.fallback);
        if healthy {
            let me = self.me().clone();
            self.attestations.withdraw(&me);
        }
        if let Some(down_since_unix_ms) = due {
            self.attest(down_since_unix_ms, now_ms, out);
        }
        self.update_mode(now_ms, out);
    }

    fn attest(&mut self, down_since_unix_ms: u64, now_ms: u64, out: &mut Vec<Action>) {
        self.hub.attested(now_ms);
        if self.members.binary_search(self.me()).is_err() {
            return; // Only members' attestations count; others only watch.
        }
        let mut attestation = Attestation {
            attester: self.me().clone(),
            down_since_unix_ms,
            attested_at_unix_ms: now_ms,
            signature: Vec::new(),
        };
        attestation.signature = self.keys.sign(&attestation.signed_bytes());
        debug_assert!(check_attestation(&self.keys, &attestation));
        out.push(Action::Publish {
            encoded: attestation.encode(),
        });
        self.attestations.insert(attestation);
    }

    // ---- the operator ----

    /// Opens a local ballot; only in fallback mode, and only for a committee member.
    pub fn open(
        &mut self,
        title: &str,
        effect: Effect,
        duration_ms: u64,
        now_ms: u64,
        out: &mut Vec<Action>,
    ) -> Result<BallotId, OpenError> {
        if self.members.binary_search(self.me()).is_err() {
            return Err(OpenError::NotMember);
        }
        if title.is_empty() || title.len() > TITLE_BYTES_MAX {
            return Err(OpenError::Title);
        }
        assert!(effect.to_string().len() <= EFFECT_BYTES_MAX);
        let (min, max) = (self.config.duration_ms_min, self.config.duration_ms_max);
        if !(min..=max).contains(&duration_ms) {
            return Err(OpenError::Duration(duration_ms, min, max));
        }
        let effect_max = self.config.duration_ms_max_for(&effect);
        if duration_ms > effect_max {
            return Err(OpenError::DurationWithoutHalt(duration_ms, effect_max));
        }
        let held = self.held_by(self.me());
        if held >= self.config.ballots_open_per_opener_max {
            return Err(OpenError::OpenerFull(held));
        }
        if self.open.len() >= self.config.ballots_open_max {
            return Err(OpenError::Full(self.open.len()));
        }
        if let Some(last) = self.last_open_ms.get(self.me()) {
            if now_ms.saturating_sub(*last) < self.config.open_interval_ms_min {
                return Err(OpenError::RateLimited(self.config.open_interval_ms_min));
            }
        }
        let need = self.need();
        let attestations: Vec<Attestation> = self
            .attestations
            .fresh(now_ms, &self.config.fallback)
            .into_iter()
            .filter(|a| a.attested_at_unix_ms <= now_ms)
            .take(need)
            .cloned()
            .collect();
        if attestations.len() < need {
            return Err(OpenError::NotInFallback {
                have: attestations.len(),
                need,
            });
        }
        let mut open = Open {
            opener: self.me().clone(),
            title: title.to_string(),
            effect,
            opened_at_unix_ms: now_ms,
            deadline_unix_ms: now_ms + duration_ms,
            electorate: self.members.clone(),
            attestations,
            signature: Vec::new(),
        };
        open.signature = self.keys.sign(&open.signed_bytes());
        // What every receiver will check, asserted before sending.
        check_open(
            &self.keys,
            &open,
            Some(&self.members),
            &self.config.open_rules(),
        )
        .expect("own open passes the receivers' checks");
        let id = open.id();
        let encoded = open.encode();
        out.push(Action::StoreBallot {
            id,
            encoded: encoded.clone(),
        });
        out.push(Action::Publish { encoded });
        self.last_open_ms.insert(self.me().clone(), now_ms);
        self.open.insert(id, Ballot::new(open));
        Ok(id)
    }

    /// Casts (or changes) this node's vote: the next sequence, stored before published.
    pub fn vote(
        &mut self,
        id: BallotId,
        choice: Choice,
        now_ms: u64,
        out: &mut Vec<Action>,
    ) -> Result<u64, VoteError> {
        let me = self.me().clone();
        let ballot = self.open.get(&id).ok_or(VoteError::UnknownBallot)?;
        if now_ms >= ballot.open.deadline_unix_ms {
            return Err(VoteError::Closed);
        }
        if ballot.open.electorate.binary_search(&me).is_err() {
            return Err(VoteError::NotInElectorate);
        }
        if ballot.excluded.contains_key(&me) {
            return Err(VoteError::Excluded);
        }
        let sequence = self.own_sequence.get(&id).copied().unwrap_or(0) + 1;
        let mut vote = Vote {
            ballot: id,
            voter: me.clone(),
            choice,
            sequence,
            signature: Vec::new(),
        };
        vote.signature = self.keys.sign(&vote.signed_bytes());
        debug_assert!(check_vote(&self.keys, &ballot.open, &vote).is_ok());
        let encoded = vote.encode();
        out.push(Action::StoreVote {
            id,
            voter: me.clone(),
            encoded: encoded.clone(),
        });
        out.push(Action::Publish { encoded });
        self.own_sequence.insert(id, sequence);
        if let Some(ballot) = self.open.get_mut(&id) {
            ballot.votes.insert(me, vote);
        }
        Ok(sequence)
    }

    // ---- the network ----

    /// A message admitted by the auth gate from `source` (the verified libp2p author).
    pub fn on_message(
        &mut self,
        source: &PeerKey,
        bytes: &[u8],
        now_ms: u64,
        out: &mut Vec<Action>,
    ) -> Verdict {
        let message = match Message::decode(bytes) {
            Ok(message) => message,
            Err(_) => return refuse(InboundRefusal::Malformed),
        };
        match message {
            Message::Attestation(attestation) => {
                self.on_attestation(source, attestation, now_ms, out)
            }
            Message::Open(open) => self.on_open(source, open, now_ms, out),
            Message::Vote(vote) => self.on_vote(source, vote, now_ms, out),
            Message::Evidence(evidence) => self.on_evidence(evidence, out),
        }
    }

    fn on_attestation(
        &mut self,
        source: &PeerKey,
        attestation: Attestation,
        now_ms: u64,
        out: &mut Vec<Action>,
    ) -> Verdict {
        if attestation.attester != *source {
            return refuse(Refusal::NotFromSigner);
        }
        if self.members.binary_search(&attestation.attester).is_err() {
            return refuse(InboundRefusal::NotMember);
        }
        if let Some(refusal) =
            InboundRefusal::skew(attestation.attested_at_unix_ms, now_ms, self.config.skew_ms)
        {
            return refuse(refusal);
        }
        if !check_attestation(&self.keys, &attestation) {
            return refuse(Refusal::BadSignature);
        }
        if !self.attestations.insert(attestation) {
            return refuse(InboundRefusal::Duplicate);
        }
        self.update_mode(now_ms, out);
        Verdict::Accept
    }

    fn on_open(
        &mut self,
        source: &PeerKey,
        open: Open,
        now_ms: u64,
        out: &mut Vec<Action>,
    ) -> Verdict {
        if open.opener != *source {
            return refuse(Refusal::NotFromSigner);
        }
        let id = open.id();
        if self.open.contains_key(&id) || self.decided.contains_key(&id) {
            return refuse(InboundRefusal::Duplicate);
        }
        // An open is judged by its own stamps: not from the future, not past its deadline.
        // How old its envelope may be is the gate's rule (the message lifetime), so a node
        // that was cut off or down when it went out still joins a ballot that is open.
        if open.opened_at_unix_ms > now_ms.saturating_add(self.config.skew_ms) {
            return refuse(InboundRefusal::TimestampFuture);
        }
        if now_ms >= open.deadline_unix_ms {
            return refuse(InboundRefusal::Closed);
        }
        if let Err(refusal) = check_open(
            &self.keys,
            &open,
            Some(&self.members),
            &self.config.open_rules(),
        ) {
            return refuse(refusal);
        }
        if let Some(last) = self.last_open_ms.get(&open.opener) {
            if open.opened_at_unix_ms.saturating_sub(*last) < self.config.open_interval_ms_min {
                self.counters.opens_rate_limited_total += 1;
                return refuse(InboundRefusal::RateLimited);
            }
        }
        // Both below depend on this node's config and on what it holds now, not on the
        // open itself, so they ignore: an honest relay may hold fewer ballots.
        let duration_ms = open.deadline_unix_ms.saturating_sub(open.opened_at_unix_ms);
        if duration_ms > self.config.duration_ms_max_for(&open.effect) {
            return refuse(InboundRefusal::DurationWithoutHalt);
        }
        if self.held_by(&open.opener) >= self.config.ballots_open_per_opener_max {
            return refuse(InboundRefusal::OpenerFull);
        }
        if self.open.len() >= self.config.ballots_open_max {
            self.counters.opens_full_total += 1;
            return refuse(InboundRefusal::BallotsFull);
        }
        out.push(Action::StoreBallot {
            id,
            encoded: open.encode(),
        });
        self.last_open_ms
            .insert(open.opener.clone(), open.opened_at_unix_ms);
        self.open.insert(id, Ballot::new(open));
        Verdict::Accept
    }

    fn on_vote(
        &mut self,
        source: &PeerKey,
        vote: Vote,
        now_ms: u64,
        out: &mut Vec<Action>,
    ) -> Verdict {
        if vote.voter != *source {
            return refuse(Refusal::NotFromSigner);
        }
        let Some(ballot) = self.open.get_mut(&vote.ballot) else {
            return refuse(if self.decided.contains_key(&vote.ballot) {
                InboundRefusal::Closed
            } else {
                InboundRefusal::UnknownBallot
            });
        };
        if now_ms >= ballot.open.deadline_unix_ms {
            return refuse(InboundRefusal::Closed);
        }
        if let Err(refusal) = check_vote(&self.keys, &ballot.open, &vote) {
            return refuse(refusal);
        }
        if ballot.excluded.contains_key(&vote.voter) {
            return refuse(InboundRefusal::Excluded);
        }
        if let Some(held) = ballot.votes.get(&vote.voter) {
            if held.sequence > vote.sequence {
                return refuse(InboundRefusal::StaleSequence);
            }
            if held.sequence == vote.sequence {
                if held.choice == vote.choice {
                    return refuse(InboundRefusal::Duplicate);
                }
                let evidence = Equivocation {
                    first: held.clone(),
                    second: vote,
                };
                return self.exclude(evidence, out);
            }
        }
        out.push(Action::StoreVote {
            id: vote.ballot,
            voter: vote.voter.clone(),
            encoded: vote.encode(),
        });
        ballot.votes.insert(vote.voter.clone(), vote);
        Verdict::Accept
    }

    fn on_evidence(&mut self, evidence: Equivocation, out: &mut Vec<Action>) -> Verdict {
        let Some(ballot) = self.open.get(&evidence.first.ballot) else {
            return refuse(InboundRefusal::UnknownBallot);
        };
        if ballot.excluded.contains_key(&evidence.first.voter) {
            return refuse(InboundRefusal::Duplicate);
        }
        if let Err(refusal) = check_equivocation(&self.keys, &ballot.open, &evidence) {
            return refuse(refusal);
        }
        self.exclude(evidence, out);
        Verdict::Accept
    }

    /// Excludes a proven equivocator from the ballot and spreads the proof. The second
    /// vote itself is ignored, not rejected: an honest relay may have forwarded it before
    /// it saw the first.
    fn exclude(&mut self, evidence: Equivocation, out: &mut Vec<Action>) -> Verdict {
        let id = evidence.first.ballot;
        let voter = evidence.first.voter.clone();
        let encoded = evidence.encode();
        out.push(Action::StoreEvidence {
            id,
            voter: voter.clone(),
            encoded: encoded.clone(),
        });
        out.push(Action::Publish { encoded });
        self.counters.equivocations_total += 1;
        if let Some(ballot) = self.open.get_mut(&id) {
            ballot.votes.remove(&voter);
            ballot.excluded.insert(voter, evidence);
        }
        refuse(InboundRefusal::Equivocation)
    }

    // ---- time ----

    /// Decides every ballot whose deadline has come, renews this node's attestation while
    /// the outage lasts, ages attestations out.
    pub fn tick(&mut self, now_ms: u64, out: &mut Vec<Action>) {
        if let Some(since) = self.hub.down_since_ms() {
            if self.hub.due(now_ms, &self.config.fallback) {
                self.attest(since, now_ms, out);
            }
        }
        self.attestations.expire(now_ms, &self.config.fallback);
        self.update_mode(now_ms, out);
        let due: Vec<BallotId> = self
            .open
            .iter()
            .filter(|(_, ballot)| ballot.open.deadline_unix_ms <= now_ms)
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            let ballot = self.open.remove(&id).expect("due ids are open");
            let tally = ballot.tally();
            let outcome = local_outcome(&tally, ballot.open.electorate.len() as u64);
            let certificate = Certificate {
                open: ballot.open,
                votes: ballot.votes.into_values().collect(),
                evidence: ballot.excluded.into_values().collect(),
                tally,
                outcome,
            };
            debug_assert_eq!(
                certificate.verify(&self.keys, Some(&self.members), &self.config.open_rules()),
                Ok(outcome)
            );
            out.push(Action::Decided {
                id,
                certificate: Box::new(certificate.clone()),
            });
            self.remember_decided(id, certificate);
        }
    }

    /// The next time [`BallotBook::tick`] has something to do.
    pub fn next_tick_ms(&self) -> Option<u64> {
        self.open
            .values()
            .map(|ballot| ballot.open.deadline_unix_ms)
            .min()
    }

    // ---- reading ----

    pub fn status(&self, now_ms: u64) -> BallotStatus {
        let me = self.me();
        BallotStatus {
            mode: self.mode,
            attestations_fresh: self.attestations.fresh(now_ms, &self.config.fallback).len(),
            attestations_needed: self.need(),
            hub_down_since_unix_ms: self.hub.down_since_ms(),
            open: self
                .open
                .iter()
                .map(|(id, ballot)| OpenSummary {
                    id: *id,
                    title: ballot.open.title.clone(),
                    effect: ballot.open.effect.clone(),
                    opener: ballot.open.opener.clone(),
                    opened_at_unix_ms: ballot.open.opened_at_unix_ms,
                    deadline_unix_ms: ballot.open.deadline_unix_ms,
                    electorate: ballot.open.electorate.len(),
                    tally: ballot.tally(),
                    excluded: ballot.excluded.len(),
                    own_choice: ballot.votes.get(me).map(|vote| vote.choice),
                })
                .collect(),
            decided: self.decided.len(),
        }
    }

    pub fn decided(&self, id: &BallotId) -> Option<&Certificate> {
        self.decided.get(id)
    }

    pub fn decided_ids(&self) -> impl Iterator<Item = &BallotId> {
        self.decided_order.iter()
    }

    pub fn is_open(&self, id: &BallotId) -> bool {
        self.open.contains_key(id)
    }

    /// The outcome so far of an open ballot, or the decided one.
    pub fn outcome(&self, id: &BallotId) -> Option<(Outcome, bool)> {
        if let Some(certificate) = self.decided.get(id) {
            return Some((certificate.outcome, true));
        }
        let ballot = self.open.get(id)?;
        Some((
            local_outcome(&ballot.tally(), ballot.open.electorate.len() as u64),
            false,
        ))
    }
}
