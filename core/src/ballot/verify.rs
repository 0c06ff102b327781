//! Checks on ballot messages that need no state beyond the committee: shared by the live
//! core ([`super::book`]) and the offline certificate check ([`super::certificate`]).

use super::rules::faulty_max;
use super::wire::{Attestation, Equivocation, Open, Vote};
use crate::ids::PeerKey;

/// Node-key signatures live with the peer identity; re-exported where ballots began using them.
pub use crate::ids::{NodeSigner, SignatureCheck};

/// Time rules of the fallback, shared by everyone who checks an open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenRules {
    /// An attestation supports an open made at most this long after it.
    pub attestation_ttl_ms: u64,
    /// Allowed clock difference between members.
    pub skew_ms: u64,
    pub duration_ms_min: u64,
    pub duration_ms_max: u64,
}

impl OpenRules {
    /// Ballot durations no node accepts, whatever its `[ballot]` config: the config check
    /// keeps `duration_s_min` and `duration_s_max` inside these (1 s to 30 days). An open
    /// outside them is invalid in itself; one inside them but outside this node's own
    /// range is only not allowed here ([`Refusal::DurationNotAllowed`]).
    pub const DURATION_MS_LIMITS: (u64, u64) = (1_000, 30 * 86_400_000);
}

impl Default for OpenRules {
    fn default() -> Self {
        OpenRules {
            attestation_ttl_ms: 120_000,
            skew_ms: 30_000,
            duration_ms_min: 60_000,
            duration_ms_max: 7 * 24 * 3_600_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the opener is not a member")]
    OpenerNotMember,
    #[error("the electorate is not this committee's members")]
    WrongElectorate,
    #[error("the duration of {0} ms is outside what any node allows")]
    Duration(u64),
    #[error("the duration of {0} ms is outside this node's [ballot] range")]
    DurationNotAllowed(u64),
    #[error("{have} members attest an outage where f+1 = {need} are needed")]
    TooFewAttestations { have: usize, need: usize },
    #[error(
        "{have} outage attestations are fresh by this node's rules where f+1 = {need} are needed"
    )]
    AttestationsNotFresh { have: usize, need: usize },
    #[error("a signature does not verify")]
    BadSignature,
    #[error("the voter is not in the ballot's electorate")]
    NotInElectorate,
    #[error("the message is not from its signer")]
    NotFromSigner,
    #[error("the evidence does not show two choices under one sequence")]
    NotEquivocation,
}

impl Refusal {
    /// One of each refusal, for the verdict-table tests.
    pub const ALL: [Refusal; 10] = [
        Refusal::OpenerNotMember,
        Refusal::WrongElectorate,
        Refusal::Duration(0),
        Refusal::DurationNotAllowed(0),
        Refusal::TooFewAttestations { have: 0, need: 1 },
        Refusal::AttestationsNotFresh { have: 0, need: 1 },
        Refusal::BadSignature,
        Refusal::NotInElectorate,
        Refusal::NotFromSigner,
        Refusal::NotEquivocation,
    ];

    /// Whether every honest member refuses the message whatever its clock and `[ballot]`
    /// config. The committee (`wrong_electorate`) is the one every member was dealt
    /// (committee.toml), the same everywhere. The two "here" refusals read this node's
    /// own `[ballot]` durations and attestation lifetime, which operators set per node.
    pub fn invalid_in_itself(&self) -> bool {
        match self {
            Refusal::OpenerNotMember
            | Refusal::WrongElectorate
            | Refusal::Duration(_)
            | Refusal::TooFewAttestations { .. }
            | Refusal::BadSignature
            | Refusal::NotInElectorate
            | Refusal::NotFromSigner
            | Refusal::NotEquivocation => true,
            Refusal::DurationNotAllowed(_) | Refusal::AttestationsNotFresh { .. } => false,
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::OpenerNotMember => "opener_not_member",
            Refusal::WrongElectorate => "wrong_electorate",
            Refusal::Duration(_) => "duration",
            Refusal::DurationNotAllowed(_) => "duration_not_allowed",
            Refusal::TooFewAttestations { .. } => "too_few_attestations",
            Refusal::AttestationsNotFresh { .. } => "attestations_not_fresh",
            Refusal::BadSignature => "bad_signature",
            Refusal::NotInElectorate => "not_in_electorate",
            Refusal::NotFromSigner => "not_from_signer",
            Refusal::NotEquivocation => "not_equivocation",
        }
    }
}

pub fn check_attestation(keys: &impl SignatureCheck, attestation: &Attestation) -> bool {
    keys.verify(
        &attestation.attester,
        &attestation.signed_bytes(),
        &attestation.signature,
    )
}

/// Everything about an open that does not depend on the receiver's clock: signatures,
/// the electorate (`members`, sorted, when the checker knows the committee), the
/// duration, and f+1 distinct electorate members attesting an outage shortly before it.
///
/// What the open is (its signatures, its electorate, a duration no node allows, fewer
/// than f+1 attesters at all) is checked before what `rules` (this node's `[ballot]`
/// config) make of it, so each refusal is either the open's fault or this node's view
/// ([`Refusal::invalid_in_itself`]). Every attestation by an electorate member is
/// signature-checked, fresh or not, so a bad signature is found by every node alike (at
/// most `OPEN_ATTESTATIONS_MAX` checks, the wire's bound).
pub fn check_open(
    keys: &impl SignatureCheck,
    open: &Open,
    members: Option<&[PeerKey]>,
    rules: &OpenRules,
) -> Result<(), Refusal> {
    if let Some(members) = members {
        if open.electorate != members {
            return Err(Refusal::WrongElectorate);
        }
    }
    if open.electorate.binary_search(&open.opener).is_err() {
        return Err(Refusal::OpenerNotMember);
    }
    let duration_ms = open.deadline_unix_ms.saturating_sub(open.opened_at_unix_ms);
    let (limit_min, limit_max) = OpenRules::DURATION_MS_LIMITS;
    if open.deadline_unix_ms <= open.opened_at_unix_ms
        || duration_ms < limit_min
        || duration_ms > limit_max
    {
        return Err(Refusal::Duration(duration_ms));
    }
    let need = faulty_max(open.electorate.len() as u64) as usize + 1;
    let mut attesters: Vec<&PeerKey> = Vec::with_capacity(open.attestations.len());
    for attestation in &open.attestations {
        if open
            .electorate
            .binary_search(&attestation.attester)
            .is_err()
        {
            continue;
        }
        if !check_attestation(keys, attestation) {
            return Err(Refusal::BadSignature);
        }
        if !attesters.contains(&&attestation.attester) {
            attesters.push(&attestation.attester);
        }
    }
    if attesters.len() < need {
        return Err(Refusal::TooFewAttestations {
            have: attesters.len(),
            need,
        });
    }
    if !keys.verify(&open.opener, &open.signed_bytes(), &open.signature) {
        return Err(Refusal::BadSignature);
    }
    if duration_ms < rules.duration_ms_min || duration_ms > rules.duration_ms_max {
        return Err(Refusal::DurationNotAllowed(duration_ms));
    }
    let earliest_ms = open
        .opened_at_unix_ms
        .saturating_sub(rules.attestation_ttl_ms);
    let latest_ms = open.opened_at_unix_ms.saturating_add(rules.skew_ms);
    let mut fresh: Vec<&PeerKey> = Vec::with_capacity(attesters.len());
    for attestation in &open.attestations {
        let in_window = (earliest_ms..=latest_ms).contains(&attestation.attested_at_unix_ms);
        if in_window
            && open.electorate.binary_search(&attestation.attester).is_ok()
            && !fresh.contains(&&attestation.attester)
        {
            fresh.push(&attestation.attester);
        }
    }
    if fresh.len() < need {
        return Err(Refusal::AttestationsNotFresh {
            have: fresh.len(),
            need,
        });
    }
    Ok(())
}

/// A vote for `open`'s ballot by a member of its electorate, signed by that member.
pub fn check_vote(keys: &impl SignatureCheck, open: &Open, vote: &Vote) -> Result<(), Refusal> {
    if open.electorate.binary_search(&vote.voter).is_err() {
        return Err(Refusal::NotInElectorate);
    }
    if !keys.verify(&vote.voter, &vote.signed_bytes(), &vote.signature) {
        return Err(Refusal::BadSignature);
    }
    Ok(())
}

/// Two valid votes by one voter for one ballot, one sequence, two choices.
pub fn check_equivocation(
    keys: &impl SignatureCheck,
    open: &Open,
    evidence: &Equivocation,
) -> Result<(), Refusal> {
    let (a, b) = (&evidence.first, &evidence.second);
    let ballot = open.id();
    if a.ballot != ballot
        || b.ballot != ballot
        || a.voter != b.voter
        || a.sequence != b.sequence
        || a.choice == b.choice
    {
        return Err(Refusal::NotEquivocation);
    }
    check_vote(keys, open, a)?;
    check_vote(keys, open, b)
}
