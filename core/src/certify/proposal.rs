//! A proposal for a network-wide change, its canonical encoding and its id
//! (docs/PROTOCOL.md, "Proposal").
//!
//! ```text
//! version u8 = 1
//! epoch u64 BE
//! slot_len u8, slot (1..=64 bytes of [a-z0-9_/.-])
//! payload_len u16 BE, payload (at most 4096 bytes)
//! affected_ppm u32 BE (share of the network affected, parts per million, at most 1e6)
//! proposer_len u8, proposer (the proposer's PeerId bytes, 1..=64)
//! nonce [u8; 16]
//! timestamp_unix_ms u64 BE
//! ```
//!
//! One proposal has exactly one encoding (no trailing bytes, fixed field order), so its id,
//! SHA-256 over a domain tag and the encoding, is the same at every node.

use sha2::{Digest, Sha256};

pub const VERSION: u8 = 1;
pub const SLOT_BYTES_MAX: usize = 64;
pub const PAYLOAD_BYTES_MAX: usize = 4096;
pub const PROPOSER_BYTES_MAX: usize = 64;
pub const AFFECTED_PPM_MAX: u32 = 1_000_000;
/// Largest encoded proposal.
pub const ENCODED_BYTES_MAX: usize =
    1 + 8 + 1 + SLOT_BYTES_MAX + 2 + PAYLOAD_BYTES_MAX + 4 + 1 + PROPOSER_BYTES_MAX + 16 + 8;

/// Domain tag of proposal ids: an id can never collide with a hash of anything else.
const ID_DOMAIN: &[u8] = b"x0/1/proposal-id";

/// 32-byte proposal id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProposalId(pub [u8; 32]);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    pub epoch: u64,
    /// What the change touches, e.g. `charter/policy` or `gossip/mesh_n`.
    pub slot: String,
    pub payload: Vec<u8>,
    pub affected_ppm: u32,
    pub proposer: Vec<u8>,
    pub nonce: [u8; 16],
    pub timestamp_unix_ms: u64,
}

/// Why bytes are not a proposal, or a proposal is not well-formed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposalError {
    #[error("truncated at {field}")]
    Truncated { field: &'static str },
    #[error("version {0} is not supported (this build speaks {VERSION})")]
    UnsupportedVersion(u8),
    #[error("{field} of {len} bytes is outside 1..={max}")]
    Length {
        field: &'static str,
        len: usize,
        max: usize,
    },
    #[error("slot has a byte outside [a-z0-9_/.-]")]
    SlotCharset,
    #[error("affected share {0} ppm exceeds {AFFECTED_PPM_MAX}")]
    Affected(u32),
    #[error("{0} bytes follow the proposal")]
    Trailing(usize),
}

/// A slot name: 1..=64 bytes of `[a-z0-9_/.-]` (also named by ballots' `settle` effect).
pub fn check_slot(slot: &str) -> Result<(), ProposalError> {
    if slot.is_empty() || slot.len() > SLOT_BYTES_MAX {
        return Err(ProposalError::Length {
            field: "slot",
            len: slot.len(),
            max: SLOT_BYTES_MAX,
        });
    }
    let slot_ok = slot
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_/.-".contains(&b));
    if !slot_ok {
        return Err(ProposalError::SlotCharset);
    }
    Ok(())
}

impl Proposal {
    /// Checks the limits every encoder and decoder enforces.
    pub fn check(&self) -> Result<(), ProposalError> {
        let length = |field, len: usize, min: usize, max| {
            if len < min || len > max {
                Err(ProposalError::Length { field, len, max })
            } else {
                Ok(())
            }
        };
        check_slot(&self.slot)?;
        length("payload", self.payload.len(), 0, PAYLOAD_BYTES_MAX)?;
        length("proposer", self.proposer.len(), 1, PROPOSER_BYTES_MAX)?;
        if self.affected_ppm > AFFECTED_PPM_MAX {
            return Err(ProposalError::Affected(self.affected_ppm));
        }
        Ok(())
    }

    /// The canonical encoding. Panics on a proposal that fails [`Proposal::check`]: the
    /// sender asserts what every receiver will check.
    pub fn encode(&self) -> Vec<u8> {
        self.check().expect("encoding an ill-formed proposal");
        let mut out = Vec::with_capacity(ENCODED_BYTES_MAX);
        out.push(VERSION);
        out.extend_from_slice(&self.epoch.to_be_bytes());
        out.push(self.slot.len() as u8);
        out.extend_from_slice(self.slot.as_bytes());
        out.extend_from_slice(&(self.payload.len() as u16).to_be_bytes());
        out.extend_from_slice(&self.payload);
        out.extend_from_slice(&self.affected_ppm.to_be_bytes());
        out.push(self.proposer.len() as u8);
        out.extend_from_slice(&self.proposer);
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(&self.timestamp_unix_ms.to_be_bytes());
        debug_assert!(out.len() <= ENCODED_BYTES_MAX);
        out
    }

    /// Decodes untrusted bytes; never panics, allocates only within the limits.
    pub fn decode(bytes: &[u8]) -> Result<Proposal, ProposalError> {
        let mut reader = Reader { bytes, at: 0 };
        let version = reader.u8("version")?;
        if version != VERSION {
            return Err(ProposalError::UnsupportedVersion(version));
        }
        let epoch = reader.u64("epoch")?;
        let slot_len = reader.u8("slot_len")? as usize;
        let slot = reader.take("slot", slot_len, SLOT_BYTES_MAX)?;
        let slot = String::from_utf8(slot.to_vec()).map_err(|_| ProposalError::SlotCharset)?;
        let payload_len = u16::from_be_bytes(reader.array::<2>("payload_len")?) as usize;
        let payload = reader
            .take("payload", payload_len, PAYLOAD_BYTES_MAX)?
            .to_vec();
        let affected_ppm = u32::from_be_bytes(reader.array::<4>("affected_ppm")?);
        let proposer_len = reader.u8("proposer_len")? as usize;
        let proposer = reader
            .take("proposer", proposer_len, PROPOSER_BYTES_MAX)?
            .to_vec();
        let nonce = reader.array::<16>("nonce")?;
        let timestamp_unix_ms = reader.u64("timestamp")?;
        if reader.at != bytes.len() {
            return Err(ProposalError::Trailing(bytes.len() - reader.at));
        }
        let proposal = Proposal {
            epoch,
            slot,
            payload,
            affected_ppm,
            proposer,
            nonce,
            timestamp_unix_ms,
        };
        proposal.check()?;
        Ok(proposal)
    }

    /// SHA-256 over the domain tag and the canonical encoding.
    pub fn id(&self) -> ProposalId {
        let mut hasher = Sha256::new();
        hasher.update(ID_DOMAIN);
        hasher.update(self.encode());
        ProposalId(hasher.finalize().into())
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(
        &mut self,
        field: &'static str,
        len: usize,
        max: usize,
    ) -> Result<&'a [u8], ProposalError> {
        if len > max {
            return Err(ProposalError::Length { field, len, max });
        }
        let end = self
            .at
            .checked_add(len)
            .filter(|&end| end <= self.bytes.len());
        let end = end.ok_or(ProposalError::Truncated { field })?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], ProposalError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(field, N, N)?);
        Ok(out)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, ProposalError> {
        Ok(self.array::<1>(field)?[0])
    }

    fn u64(&mut self, field: &'static str) -> Result<u64, ProposalError> {
        Ok(u64::from_be_bytes(self.array::<8>(field)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Proposal {
        Proposal {
            epoch: 7,
            slot: "gossip/mesh_n".into(),
            payload: b"8".to_vec(),
            affected_ppm: 1_000_000,
            proposer: vec![0, 36, 8, 1],
            nonce: [9; 16],
            timestamp_unix_ms: 1_800_000_000_000,
        }
    }

    #[test]
    fn round_trips_and_ids_are_stable_and_distinct() {
        let proposal = sample();
        let bytes = proposal.encode();
        assert_eq!(Proposal::decode(&bytes), Ok(proposal.clone()));
        assert_eq!(proposal.id(), Proposal::decode(&bytes).unwrap().id());
        let mut other = proposal.clone();
        other.payload = b"9".to_vec();
        assert_ne!(proposal.id(), other.id());
        let mut big = proposal;
        big.slot = "a".repeat(SLOT_BYTES_MAX);
        big.payload = vec![1; PAYLOAD_BYTES_MAX];
        big.proposer = vec![2; PROPOSER_BYTES_MAX];
        assert_eq!(big.encode().len(), ENCODED_BYTES_MAX);
    }

    #[test]
    fn rejects_malformed_bytes() {
        let bytes = sample().encode();
        for cut in 0..bytes.len() {
            assert!(
                Proposal::decode(&bytes[..cut]).is_err(),
                "prefix of {cut} bytes accepted"
            );
        }
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert_eq!(Proposal::decode(&trailing), Err(ProposalError::Trailing(1)));
        let mut version = bytes.clone();
        version[0] = 2;
        assert_eq!(
            Proposal::decode(&version),
            Err(ProposalError::UnsupportedVersion(2))
        );
        let mut upper = sample();
        upper.slot = "Gossip".into();
        assert_eq!(upper.check(), Err(ProposalError::SlotCharset));
        let mut affected = sample();
        affected.affected_ppm = AFFECTED_PPM_MAX + 1;
        assert_eq!(
            affected.check(),
            Err(ProposalError::Affected(AFFECTED_PPM_MAX + 1))
        );
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics() {
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        for len in 0..200 {
            for _ in 0..32 {
                let bytes: Vec<u8> = crate::test_bytes::pseudo_random(&mut state, len);
                let _ = Proposal::decode(&bytes);
            }
        }
    }
}
