//! The result of a local ballot as a self-contained proof: the open (electorate and the
//! f+1 outage attestations), every counted vote with its signature, the equivocation
//! proofs of the excluded voters, the tally and the outcome. Anyone with the node keys'
//! verifier (and, to check the electorate, the committee) re-derives the outcome offline.
//!
//! ```text
//! version u8 = 1 | open_len u32 | open (kind 1 message)
//! | vote_count u16 | (vote_len u16 | vote)...       strictly increasing voter
//! | evidence_count u16 | (len u16 | evidence)...    strictly increasing voter
//! | yes u64 | no u64 | abstain u64 | outcome u8
//! ```

use super::rules::{local_outcome, Outcome, Tally};
use super::verify::{
    check_equivocation, check_open, check_vote, OpenRules, Refusal, SignatureCheck,
};
use super::wire::{
    decode_evidence, decode_open, decode_vote, BallotId, Equivocation, Open, Vote, WireError,
    ELECTORATE_MAX, EVIDENCE_BYTES_MAX, OPEN_BYTES_MAX, VOTE_BYTES_MAX,
};
use crate::ids::PeerKey;

pub const VERSION: u8 = 1;
pub const CERTIFICATE_BYTES_MAX: usize = 1
    + 4
    + OPEN_BYTES_MAX
    + 2
    + ELECTORATE_MAX * (2 + VOTE_BYTES_MAX)
    + 2
    + ELECTORATE_MAX * (2 + EVIDENCE_BYTES_MAX)
    + 25;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    pub open: Open,
    /// The latest vote of each counted voter.
    pub votes: Vec<Vote>,
    /// Proofs against the voters who were not counted.
    pub evidence: Vec<Equivocation>,
    pub tally: Tally,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    #[error("certificate of {0} bytes exceeds {CERTIFICATE_BYTES_MAX}")]
    TooLarge(usize),
    #[error("version {0} is not supported")]
    UnsupportedVersion(u8),
    #[error("truncated at {0}")]
    Truncated(&'static str),
    #[error("{0}")]
    Wire(#[from] WireError),
    #[error("open: {0}")]
    Open(Refusal),
    #[error("vote of {voter:?}: {refusal}")]
    Vote { voter: PeerKey, refusal: Refusal },
    #[error("a vote is for another ballot")]
    OtherBallot,
    #[error("voters are not strictly increasing (one vote per voter)")]
    VotersUnordered,
    #[error("an excluded voter's vote is counted")]
    ExcludedCounted,
    #[error("the tally {claimed:?} does not match the votes ({counted:?})")]
    Tally { claimed: Tally, counted: Tally },
    #[error("the outcome {claimed} does not follow from the tally ({derived})")]
    Outcome { claimed: String, derived: String },
    #[error("outcome code {0} is not known")]
    OutcomeCode(u8),
}

impl Certificate {
    pub fn id(&self) -> BallotId {
        self.open.id()
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![VERSION];
        let open = self.open.encode();
        out.extend_from_slice(&(open.len() as u32).to_be_bytes());
        out.extend_from_slice(&open);
        for list in [
            self.votes.iter().map(Vote::encode).collect::<Vec<_>>(),
            self.evidence.iter().map(Equivocation::encode).collect(),
        ] {
            out.extend_from_slice(&(list.len() as u16).to_be_bytes());
            for item in list {
                out.extend_from_slice(&(item.len() as u16).to_be_bytes());
                out.extend_from_slice(&item);
            }
        }
        for count in [self.tally.yes, self.tally.no, self.tally.abstain] {
            out.extend_from_slice(&count.to_be_bytes());
        }
        out.push(self.outcome.code());
        debug_assert!(out.len() <= CERTIFICATE_BYTES_MAX);
        out
    }

    /// Decodes untrusted bytes (no signature is checked: see [`Certificate::verify`]).
    pub fn decode(bytes: &[u8]) -> Result<Certificate, CertificateError> {
        if bytes.len() > CERTIFICATE_BYTES_MAX {
            return Err(CertificateError::TooLarge(bytes.len()));
        }
        let mut at = 0usize;
        let mut take = |field: &'static str, len: usize| -> Result<&[u8], CertificateError> {
            let end = at
                .checked_add(len)
                .filter(|end| *end <= bytes.len())
                .ok_or(CertificateError::Truncated(field))?;
            let out = &bytes[at..end];
            at = end;
            Ok(out)
        };
        let version = take("version", 1)?[0];
        if version != VERSION {
            return Err(CertificateError::UnsupportedVersion(version));
        }
        let open_len = u32::from_be_bytes(take("open_len", 4)?.try_into().expect("4 bytes"));
        let open = decode_open(take("open", open_len as usize)?)?;
        let mut items = |field: &'static str| -> Result<Vec<&[u8]>, CertificateError> {
            let count = u16::from_be_bytes(take(field, 2)?.try_into().expect("2 bytes"));
            if count as usize > ELECTORATE_MAX {
                return Err(CertificateError::Truncated(field));
            }
            let mut out = Vec::with_capacity(count as usize);
            for _ in 0..count {
                let len = u16::from_be_bytes(take(field, 2)?.try_into().expect("2 bytes"));
                out.push(take(field, len as usize)?);
            }
            Ok(out)
        };
        let votes = items("votes")?
            .into_iter()
            .map(decode_vote)
            .collect::<Result<Vec<_>, _>>()?;
        let evidence = items("evidence")?
            .into_iter()
            .map(decode_evidence)
            .collect::<Result<Vec<_>, _>>()?;
        let mut count = |field| -> Result<u64, CertificateError> {
            Ok(u64::from_be_bytes(
                take(field, 8)?.try_into().expect("8 bytes"),
            ))
        };
        let tally = Tally {
            yes: count("yes")?,
            no: count("no")?,
            abstain: count("abstain")?,
        };
        let code = take("outcome", 1)?[0];
        let outcome = Outcome::from_code(code).ok_or(CertificateError::OutcomeCode(code))?;
        if at != bytes.len() {
            return Err(CertificateError::Wire(WireError::Trailing(
                bytes.len() - at,
            )));
        }
        Ok(Certificate {
            open,
            votes,
            evidence,
            tally,
            outcome,
        })
    }

    /// Re-derives the outcome from the signed parts. `members`, when given, must be the
    /// electorate (the committee, sorted).
    pub fn verify(
        &self,
        keys: &impl SignatureCheck,
        members: Option<&[PeerKey]>,
        rules: &OpenRules,
    ) -> Result<Outcome, CertificateError> {
        check_open(keys, &self.open, members, rules).map_err(CertificateError::Open)?;
        let ballot = self.open.id();
        let mut excluded: Vec<&PeerKey> = Vec::with_capacity(self.evidence.len());
        for evidence in &self.evidence {
            check_equivocation(keys, &self.open, evidence).map_err(|refusal| {
                CertificateError::Vote {
                    voter: evidence.first.voter.clone(),
                    refusal,
                }
            })?;
            if excluded
                .last()
                .is_some_and(|last| **last >= evidence.first.voter)
            {
                return Err(CertificateError::VotersUnordered);
            }
            excluded.push(&evidence.first.voter);
        }
        let mut counted = Tally::default();
        let mut previous: Option<&PeerKey> = None;
        for vote in &self.votes {
            if vote.ballot != ballot {
                return Err(CertificateError::OtherBallot);
            }
            if previous.is_some_and(|previous| *previous >= vote.voter) {
                return Err(CertificateError::VotersUnordered);
            }
            previous = Some(&vote.voter);
            if excluded.binary_search(&&vote.voter).is_ok() {
                return Err(CertificateError::ExcludedCounted);
            }
            check_vote(keys, &self.open, vote).map_err(|refusal| CertificateError::Vote {
                voter: vote.voter.clone(),
                refusal,
            })?;
            counted.add(vote.choice);
        }
        if counted != self.tally {
            return Err(CertificateError::Tally {
                claimed: self.tally,
                counted,
            });
        }
        let derived = local_outcome(&counted, self.open.electorate.len() as u64);
        if derived != self.outcome {
            return Err(CertificateError::Outcome {
                claimed: self.outcome.as_str().into(),
                derived: derived.as_str().into(),
            });
        }
        Ok(derived)
    }
}
