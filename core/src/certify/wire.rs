//! Wire formats of shares and certificates, version 1. Curve points stay opaque bytes
//! here; the scheme decodes them ([`super::scheme::decode_share`]).
//!
//! ```text
//! share:        version u8 = 1 | key set u8 (0 standard, 1 supermajority)
//!               | proposal id [32] | member u16 BE | signature share [96]
//! certificate:  version u8 = 1 | proposal_len u16 BE | proposal (canonical encoding)
//!               | signer_count u16 BE | signers u16 BE each, strictly increasing
//!               | signature [96]
//! ```

use super::proposal::{Proposal, ProposalError, ProposalId, ENCODED_BYTES_MAX};
use super::scheme::{MemberIndex, SIGNATURE_BYTES};
use super::threshold::ChangeClass;

pub const VERSION: u8 = 1;
pub const SHARE_BYTES: usize = 1 + 1 + 32 + 2 + SIGNATURE_BYTES;
/// Largest committee a certificate can name.
pub const SIGNERS_MAX: usize = 1024;
pub const CERTIFICATE_BYTES_MAX: usize =
    1 + 2 + ENCODED_BYTES_MAX + 2 + 2 * SIGNERS_MAX + SIGNATURE_BYTES;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareMessage {
    /// Which key set signed: a share is only ever combined with shares of its own set.
    pub class: ChangeClass,
    pub id: ProposalId,
    pub member: MemberIndex,
    pub share: [u8; SIGNATURE_BYTES],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateMessage {
    pub proposal: Proposal,
    pub signers: Vec<MemberIndex>,
    pub signature: [u8; SIGNATURE_BYTES],
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("{0} bytes where {1} were expected")]
    Length(usize, usize),
    #[error("version {0} is not supported")]
    UnsupportedVersion(u8),
    #[error("proposal: {0}")]
    Proposal(#[from] ProposalError),
    #[error("{0} signers exceed {SIGNERS_MAX}")]
    TooManySigners(usize),
    #[error("signers are not strictly increasing")]
    SignersUnordered,
    #[error("key set {0} is not known")]
    UnknownKeySet(u8),
}

impl ShareMessage {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(SHARE_BYTES);
        out.push(VERSION);
        out.push(match self.class {
            ChangeClass::Standard => 0,
            ChangeClass::Supermajority => 1,
        });
        out.extend_from_slice(&self.id.0);
        out.extend_from_slice(&self.member.to_be_bytes());
        out.extend_from_slice(&self.share);
        debug_assert_eq!(out.len(), SHARE_BYTES);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<ShareMessage, WireError> {
        if bytes.len() != SHARE_BYTES {
            return Err(WireError::Length(bytes.len(), SHARE_BYTES));
        }
        if bytes[0] != VERSION {
            return Err(WireError::UnsupportedVersion(bytes[0]));
        }
        let class = match bytes[1] {
            0 => ChangeClass::Standard,
            1 => ChangeClass::Supermajority,
            other => return Err(WireError::UnknownKeySet(other)),
        };
        let mut id = [0u8; 32];
        id.copy_from_slice(&bytes[2..34]);
        let member = u16::from_be_bytes([bytes[34], bytes[35]]);
        let mut share = [0u8; SIGNATURE_BYTES];
        share.copy_from_slice(&bytes[36..]);
        Ok(ShareMessage {
            class,
            id: ProposalId(id),
            member,
            share,
        })
    }
}

impl CertificateMessage {
    pub fn encode(&self) -> Vec<u8> {
        assert!(
            self.signers.len() <= SIGNERS_MAX,
            "too many signers to encode"
        );
        assert!(
            self.signers.windows(2).all(|w| w[0] < w[1]),
            "signers must be sorted and distinct"
        );
        let proposal = self.proposal.encode();
        let mut out =
            Vec::with_capacity(5 + proposal.len() + 2 * self.signers.len() + SIGNATURE_BYTES);
        out.push(VERSION);
        out.extend_from_slice(&(proposal.len() as u16).to_be_bytes());
        out.extend_from_slice(&proposal);
        out.extend_from_slice(&(self.signers.len() as u16).to_be_bytes());
        for signer in &self.signers {
            out.extend_from_slice(&signer.to_be_bytes());
        }
        out.extend_from_slice(&self.signature);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<CertificateMessage, WireError> {
        if bytes.len() > CERTIFICATE_BYTES_MAX || bytes.len() < 5 + SIGNATURE_BYTES {
            return Err(WireError::Length(bytes.len(), CERTIFICATE_BYTES_MAX));
        }
        if bytes[0] != VERSION {
            return Err(WireError::UnsupportedVersion(bytes[0]));
        }
        let proposal_len = u16::from_be_bytes([bytes[1], bytes[2]]) as usize;
        let after_proposal = 3 + proposal_len;
        if after_proposal + 2 + SIGNATURE_BYTES > bytes.len() {
            return Err(WireError::Length(
                bytes.len(),
                after_proposal + 2 + SIGNATURE_BYTES,
            ));
        }
        let proposal = Proposal::decode(&bytes[3..after_proposal])?;
        let signer_count =
            u16::from_be_bytes([bytes[after_proposal], bytes[after_proposal + 1]]) as usize;
        if signer_count > SIGNERS_MAX {
            return Err(WireError::TooManySigners(signer_count));
        }
        let expected = after_proposal + 2 + 2 * signer_count + SIGNATURE_BYTES;
        if bytes.len() != expected {
            return Err(WireError::Length(bytes.len(), expected));
        }
        let signers: Vec<MemberIndex> = bytes[after_proposal + 2..expected - SIGNATURE_BYTES]
            .chunks_exact(2)
            .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
            .collect();
        if !signers.windows(2).all(|w| w[0] < w[1]) {
            return Err(WireError::SignersUnordered);
        }
        let mut signature = [0u8; SIGNATURE_BYTES];
        signature.copy_from_slice(&bytes[expected - SIGNATURE_BYTES..]);
        Ok(CertificateMessage {
            proposal,
            signers,
            signature,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certificate() -> CertificateMessage {
        CertificateMessage {
            proposal: Proposal {
                epoch: 2,
                slot: "charter/policy".into(),
                payload: vec![5; 40],
                affected_ppm: 120_000,
                proposer: vec![0, 36, 8, 1, 18],
                nonce: [3; 16],
                timestamp_unix_ms: 1_800_000_000_000,
            },
            signers: vec![0, 3, 7, 9],
            signature: [0xaa; SIGNATURE_BYTES],
        }
    }

    #[test]
    fn share_round_trips_and_rejects_bad_shapes() {
        let share = ShareMessage {
            class: ChangeClass::Supermajority,
            id: ProposalId([1; 32]),
            member: 513,
            share: [2; SIGNATURE_BYTES],
        };
        let bytes = share.encode();
        assert_eq!(ShareMessage::decode(&bytes), Ok(share));
        assert_eq!(
            ShareMessage::decode(&bytes[1..]),
            Err(WireError::Length(SHARE_BYTES - 1, SHARE_BYTES))
        );
        let mut version = bytes.clone();
        version[0] = 7;
        assert_eq!(
            ShareMessage::decode(&version),
            Err(WireError::UnsupportedVersion(7))
        );
        let mut key_set = bytes;
        key_set[1] = 2;
        assert_eq!(
            ShareMessage::decode(&key_set),
            Err(WireError::UnknownKeySet(2))
        );
    }

    #[test]
    fn certificate_round_trips_and_every_truncation_fails() {
        let message = certificate();
        let bytes = message.encode();
        assert_eq!(CertificateMessage::decode(&bytes), Ok(message));
        for cut in 0..bytes.len() {
            assert!(
                CertificateMessage::decode(&bytes[..cut]).is_err(),
                "prefix {cut} accepted"
            );
        }
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(CertificateMessage::decode(&trailing).is_err());
    }

    #[test]
    fn unordered_or_repeated_signers_are_refused() {
        let bytes = certificate().encode();
        // Swap the first two signers (0 and 3) in place.
        let proposal_len = u16::from_be_bytes([bytes[1], bytes[2]]) as usize;
        let at = 3 + proposal_len + 2;
        let mut swapped = bytes.clone();
        swapped[at..at + 2].copy_from_slice(&3u16.to_be_bytes());
        swapped[at + 2..at + 4].copy_from_slice(&0u16.to_be_bytes());
        assert_eq!(
            CertificateMessage::decode(&swapped),
            Err(WireError::SignersUnordered)
        );
        let mut repeated = bytes;
        repeated[at + 2..at + 4].copy_from_slice(&0u16.to_be_bytes());
        assert_eq!(
            CertificateMessage::decode(&repeated),
            Err(WireError::SignersUnordered)
        );
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut state: u64 = 0x1234_5678_9abc_def1;
        for len in [0, 1, 5, 50, SHARE_BYTES, 200, 500] {
            for _ in 0..200 {
                let mut bytes: Vec<u8> = crate::test_bytes::pseudo_random(&mut state, len);
                if let Some(first) = bytes.first_mut() {
                    *first = VERSION;
                }
                let _ = ShareMessage::decode(&bytes);
                let _ = CertificateMessage::decode(&bytes);
            }
        }
    }
}
