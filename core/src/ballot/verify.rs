//! Checks on ballot messages that need no state beyond the committee: shared by the live
//! core ([`super::book`]) and the offline certificate check ([`super::certificate`]).

use super::rules::faulty_max;
use super::wire::{Attestation, Equivocation, Open, Vote};
use crate::ids::PeerKey;

/// Node-key signatures (ed25519 in the node, through libp2p's identity keys). The core
/// never sees a key type: the node, the simulator and tests each bring their own.
pub trait SignatureCheck {
    /// Does `signature` over `message` verify under `signer`'s node key?
    fn verify(&self, signer: &PeerKey, message: &[u8], signature: &[u8]) -> bool;
}

/// This node's own key, for its attestations, opens and votes.
pub trait NodeSigner: SignatureCheck {
    fn signer(&self) -> &PeerKey;
    fn sign(&self, message: &[u8]) -> Vec<u8>;
}

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

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the opener is not a member")]
    OpenerNotMember,
    #[error("the electorate is not this committee's members")]
    WrongElectorate,
    #[error("the duration of {0} ms is outside the allowed range")]
    Duration(u64),
    #[error("{have} valid outage attestations where f+1 = {need} are needed")]
    TooFewAttestations { have: usize, need: usize },
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
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::OpenerNotMember => "opener_not_member",
            Refusal::WrongElectorate => "wrong_electorate",
            Refusal::Duration(_) => "duration",
            Refusal::TooFewAttestations { .. } => "too_few_attestations",
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
    if open.deadline_unix_ms <= open.opened_at_unix_ms
        || duration_ms < rules.duration_ms_min
        || duration_ms > rules.duration_ms_max
    {
        return Err(Refusal::Duration(duration_ms));
    }
    let need = faulty_max(open.electorate.len() as u64) as usize + 1;
    let earliest_ms = open
        .opened_at_unix_ms
        .saturating_sub(rules.attestation_ttl_ms);
    let latest_ms = open.opened_at_unix_ms.saturating_add(rules.skew_ms);
    let mut attesters: Vec<&PeerKey> = Vec::with_capacity(open.attestations.len());
    for attestation in &open.attestations {
        let fresh = (earliest_ms..=latest_ms).contains(&attestation.attested_at_unix_ms);
        let member = open.electorate.binary_search(&attestation.attester).is_ok();
        if fresh && member && !attesters.contains(&&attestation.attester) {
            if !check_attestation(keys, attestation) {
                return Err(Refusal::BadSignature);
            }
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
