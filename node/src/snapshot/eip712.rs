//! Verification of a Snapshot vote's EIP-712 signature.
//!
//! Snapshot signs votes as EIP-712 typed data under the domain `{name: "snapshot",
//! version: "0.1.4"}` (no chainId, no verifyingContract). The `Vote` struct comes in two
//! shapes that differ only in the type of `proposal`: `bytes32` for proposals whose id is
//! a 32-byte hex hash (snapshot.js `vote2Types`), `string` for any other id (snapshot.js
//! `voteTypes`). Both carry `from, space, timestamp (uint64), proposal, choice (uint32),
//! reason, app, metadata`. Only single choices (`uint32`) are supported: Snapshot's
//! `basic` proposals, choice 1 For, 2 Against, 3 Abstain.
//!
//! All hashing (keccak256, EIP-712 encoding) and secp256k1 recovery is alloy's; nothing
//! cryptographic is written here.

use std::str::FromStr;

use alloy_primitives::{Address, FixedBytes, Signature, B256, U256};
use alloy_sol_types::{eip712_domain, Eip712Domain, SolStruct};
use serde::{Deserialize, Serialize};

/// Snapshot's signing domain.
pub const DOMAIN: Eip712Domain = eip712_domain! {
    name: "snapshot",
    version: "0.1.4",
};

mod bytes32_id {
    alloy_sol_types::sol! {
        struct Vote {
            address from;
            string space;
            uint64 timestamp;
            bytes32 proposal;
            uint32 choice;
            string reason;
            string app;
            string metadata;
        }
    }
}

mod string_id {
    alloy_sol_types::sol! {
        struct Vote {
            address from;
            string space;
            uint64 timestamp;
            string proposal;
            uint32 choice;
            string reason;
            string app;
            string metadata;
        }
    }
}

/// Which `Vote` type a voter signed: it follows from the proposal id, as in snapshot.js.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProposalIdType {
    Bytes32,
    String,
}

impl ProposalIdType {
    /// `bytes32` for `0x` followed by exactly 64 hex digits, `string` otherwise.
    pub fn of(proposal_id: &str) -> ProposalIdType {
        match proposal_id.strip_prefix("0x") {
            Some(hex) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
                ProposalIdType::Bytes32
            }
            _ => ProposalIdType::String,
        }
    }
}

/// The signed message of a single-choice Snapshot vote, field for field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoteMessage {
    /// The voter's address, `0x` and 40 hex digits (any letter case).
    pub from: String,
    pub space: String,
    /// Unix seconds, as signed.
    pub timestamp: u64,
    pub proposal: String,
    pub choice: u32,
    pub reason: String,
    pub app: String,
    pub metadata: String,
}

/// Why a vote's signature was refused. [`VerifyError::as_str`] is a metric label.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("`from` is not an Ethereum address: {0:?}")]
    BadAddress(String),
    #[error("signature is not 65 bytes of hex")]
    BadEncoding,
    #[error("signature recovery id v = {0} (expected 27, 28, 0 or 1)")]
    BadRecoveryId(u8),
    #[error("no public key recovers from this signature")]
    Unrecoverable,
    #[error("signed by {recovered}, not by the voter {expected}")]
    WrongSigner {
        expected: Address,
        recovered: Address,
    },
}

impl VerifyError {
    pub fn as_str(&self) -> &'static str {
        match self {
            VerifyError::BadAddress(_) => "bad_address",
            VerifyError::BadEncoding => "bad_encoding",
            VerifyError::BadRecoveryId(_) => "bad_recovery_id",
            VerifyError::Unrecoverable => "unrecoverable",
            VerifyError::WrongSigner { .. } => "wrong_signer",
        }
    }
}

/// Parses an address without insisting on an EIP-55 checksum: the hub lower-cases some.
pub fn parse_address(text: &str) -> Result<Address, VerifyError> {
    let hex = text
        .strip_prefix("0x")
        .filter(|h| h.len() == 40)
        .ok_or_else(|| VerifyError::BadAddress(text.chars().take(64).collect()))?;
    Address::from_str(hex).map_err(|_| VerifyError::BadAddress(text.chars().take(64).collect()))
}

/// The EIP-712 digest the voter signed, and the `Vote` type it was computed with.
pub fn signing_hash(message: &VoteMessage) -> Result<(B256, ProposalIdType), VerifyError> {
    let from = parse_address(&message.from)?;
    let id_type = ProposalIdType::of(&message.proposal);
    let hash = match id_type {
        ProposalIdType::Bytes32 => {
            // `of` checked the shape, so this parse cannot fail; stay total anyway.
            let proposal = FixedBytes::<32>::from_str(&message.proposal)
                .map_err(|_| VerifyError::BadEncoding)?;
            bytes32_id::Vote {
                from,
                space: message.space.clone(),
                timestamp: message.timestamp,
                proposal,
                choice: message.choice,
                reason: message.reason.clone(),
                app: message.app.clone(),
                metadata: message.metadata.clone(),
            }
            .eip712_signing_hash(&DOMAIN)
        }
        ProposalIdType::String => string_id::Vote {
            from,
            space: message.space.clone(),
            timestamp: message.timestamp,
            proposal: message.proposal.clone(),
            choice: message.choice,
            reason: message.reason.clone(),
            app: message.app.clone(),
            metadata: message.metadata.clone(),
        }
        .eip712_signing_hash(&DOMAIN),
    };
    Ok((hash, id_type))
}

/// Parses a 65-byte `r || s || v` signature in hex. Only v in {27, 28} (and the 0/1 some
/// wallets emit) is accepted: alloy's own parser would also take EIP-155 values, which no
/// typed-data signature carries.
pub fn parse_signature(text: &str) -> Result<Signature, VerifyError> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    if digits.len() != 130 {
        return Err(VerifyError::BadEncoding);
    }
    let bytes = hex::decode(digits).map_err(|_| VerifyError::BadEncoding)?;
    let y_parity = match bytes[64] {
        0 | 27 => false,
        1 | 28 => true,
        v => return Err(VerifyError::BadRecoveryId(v)),
    };
    let r = U256::from_be_slice(&bytes[..32]);
    let s = U256::from_be_slice(&bytes[32..64]);
    Ok(Signature::new(r, s, y_parity))
}

/// The address that signed `message`, whoever that is.
pub fn recover_signer(message: &VoteMessage, signature: &str) -> Result<Address, VerifyError> {
    let (hash, _) = signing_hash(message)?;
    let signature = parse_signature(signature)?;
    signature
        .recover_address_from_prehash(&hash)
        .map_err(|_| VerifyError::Unrecoverable)
}

/// Checks that `message` was signed by its own `from`; returns that address.
pub fn verify_vote(message: &VoteMessage, signature: &str) -> Result<Address, VerifyError> {
    let expected = parse_address(&message.from)?;
    let recovered = recover_signer(message, signature)?;
    if recovered == expected {
        Ok(expected)
    } else {
        Err(VerifyError::WrongSigner {
            expected,
            recovered,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proposal_id_type_follows_the_id_shape() {
        let hash = format!("0x{}", "ab".repeat(32));
        assert_eq!(ProposalIdType::of(&hash), ProposalIdType::Bytes32);
        assert_eq!(ProposalIdType::of(&hash[..65]), ProposalIdType::String);
        assert_eq!(ProposalIdType::of("QmXyz"), ProposalIdType::String);
        let not_hex = format!("0x{}", "zz".repeat(32));
        assert_eq!(ProposalIdType::of(&not_hex), ProposalIdType::String);
    }

    #[test]
    fn type_strings_match_snapshot() {
        assert_eq!(
            bytes32_id::Vote::eip712_encode_type(),
            "Vote(address from,string space,uint64 timestamp,bytes32 proposal,uint32 choice,string reason,string app,string metadata)"
        );
        assert_eq!(
            string_id::Vote::eip712_encode_type(),
            "Vote(address from,string space,uint64 timestamp,string proposal,uint32 choice,string reason,string app,string metadata)"
        );
    }

    #[test]
    fn malformed_signatures_are_errors_not_panics() {
        assert_eq!(parse_signature("0x12"), Err(VerifyError::BadEncoding));
        assert_eq!(
            parse_signature(&"zz".repeat(65)),
            Err(VerifyError::BadEncoding)
        );
        let mut sig = "11".repeat(64);
        sig.push_str("25");
        assert_eq!(parse_signature(&sig), Err(VerifyError::BadRecoveryId(0x25)));
        // r = s = 0 parses but recovers nothing.
        let zero = format!("0x{}1b", "00".repeat(64));
        let message = VoteMessage {
            from: format!("0x{}", "11".repeat(20)),
            space: "s".into(),
            timestamp: 1,
            proposal: "p".into(),
            choice: 1,
            reason: String::new(),
            app: String::new(),
            metadata: String::new(),
        };
        assert_eq!(
            verify_vote(&message, &zero),
            Err(VerifyError::Unrecoverable)
        );
    }
}
