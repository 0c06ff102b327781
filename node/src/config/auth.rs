//! `[auth]`: capability tokens and replay protection.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use x0_core::auth::gate::GateConfig;
use x0_core::auth::token::VerifierConfig;

use super::{in_range, FieldError};

/// The `[auth]` section: capability tokens and replay protection (Anti-Meave). Required
/// with a `[committee]`: every proposal and share travels with a token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSection {
    /// Hex of the network authority's Ed25519 public key (`x0 token keygen` prints it).
    pub authority_public_key: String,
    /// This node's member credential (`x0 token mint`), relative to the data dir.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_file: Option<PathBuf>,
    /// Lifetime of the access tokens derived from the credential, s.
    #[serde(default = "AuthSection::default_access_ttl_s")]
    pub access_ttl_s: u64,
    /// Privileged messages stamped further ahead of this node's clock are refused, ms.
    #[serde(default = "AuthSection::default_skew_ms")]
    pub skew_ms: u64,
    /// How long a privileged message lives: one stamped further behind this node's clock
    /// is refused, and its nonce is held this long, ms. A node that was cut off or down
    /// for less than this takes what it missed from its peers.
    #[serde(default = "AuthSection::default_message_lifetime_ms")]
    pub message_lifetime_ms: u64,
    /// Seen nonces held at once (persisted); beyond it new messages are refused.
    #[serde(default = "AuthSection::default_nonces_max")]
    pub nonces_max: usize,
    /// Seen nonces one sender's messages may hold at once; beyond it that sender's new
    /// messages are refused (one member cannot fill the table for everyone).
    #[serde(default = "AuthSection::default_nonces_per_holder_max")]
    pub nonces_per_holder_max: usize,
    /// Revoked token ids held at once.
    #[serde(default = "AuthSection::default_revoked_max")]
    pub revoked_max: usize,
    /// Verified tokens remembered so a repeat costs a lookup.
    #[serde(default = "AuthSection::default_token_cache_entries_max")]
    pub token_cache_entries_max: usize,
}

impl AuthSection {
    fn default_access_ttl_s() -> u64 {
        x0_core::auth::token::ACCESS_TTL_S_DEFAULT
    }
    fn default_skew_ms() -> u64 {
        GateConfig::default().skew_ms
    }
    fn default_nonces_max() -> usize {
        GateConfig::default().nonces_max
    }
    fn default_message_lifetime_ms() -> u64 {
        GateConfig::default().lifetime_ms
    }
    fn default_nonces_per_holder_max() -> usize {
        GateConfig::default().nonces_per_holder_max
    }
    fn default_revoked_max() -> usize {
        GateConfig::default().revoked_max
    }
    fn default_token_cache_entries_max() -> usize {
        VerifierConfig::default().cache_entries_max
    }

    /// A section with every bound at its default.
    pub fn new(authority_public_key: String, credential_file: Option<PathBuf>) -> AuthSection {
        AuthSection {
            authority_public_key,
            credential_file,
            access_ttl_s: Self::default_access_ttl_s(),
            skew_ms: Self::default_skew_ms(),
            message_lifetime_ms: Self::default_message_lifetime_ms(),
            nonces_max: Self::default_nonces_max(),
            nonces_per_holder_max: Self::default_nonces_per_holder_max(),
            revoked_max: Self::default_revoked_max(),
            token_cache_entries_max: Self::default_token_cache_entries_max(),
        }
    }

    pub fn authority(&self) -> Result<biscuit_auth::PublicKey, String> {
        biscuit_auth::PublicKey::from_bytes_hex(
            self.authority_public_key.trim(),
            biscuit_auth::Algorithm::Ed25519,
        )
        .map_err(|e| {
            format!("not an Ed25519 public key in hex ({e}); `x0 token keygen` prints one")
        })
    }

    pub fn gate_config(&self) -> GateConfig {
        GateConfig {
            skew_ms: self.skew_ms,
            lifetime_ms: self.message_lifetime_ms,
            nonces_max: self.nonces_max,
            nonces_per_holder_max: self.nonces_per_holder_max,
            revoked_max: self.revoked_max,
        }
    }

    pub fn verifier_config(&self) -> VerifierConfig {
        VerifierConfig {
            cache_entries_max: self.token_cache_entries_max,
            // The day plus the skew, so a token derived a moment ago passes on a node
            // whose clock is a little behind.
            access_ttl_ms_max: self.access_ttl_s * 1000 + self.skew_ms,
        }
    }

    pub(super) fn check(&self) -> Result<(), FieldError> {
        if let Err(message) = self.authority() {
            return Err(FieldError::new("auth.authority_public_key", message));
        }
        for (field, value, min, max) in [
            ("auth.access_ttl_s", self.access_ttl_s, 60, 7 * 24 * 3600),
            ("auth.skew_ms", self.skew_ms, 1000, 600_000),
            ("auth.nonces_max", self.nonces_max as u64, 1024, 1 << 24),
            (
                "auth.nonces_per_holder_max",
                self.nonces_per_holder_max as u64,
                1,
                1 << 24,
            ),
            ("auth.revoked_max", self.revoked_max as u64, 1, 1 << 20),
            (
                "auth.token_cache_entries_max",
                self.token_cache_entries_max as u64,
                1,
                1 << 20,
            ),
        ] {
            in_range(field, value, min, max)?;
        }
        // A message must outlive the skew (a message from a clock a little ahead is still
        // live), and its access token must outlive the message: a token is re-derived at
        // half its life, so the newest token on a message has at least half left.
        let lifetime_max_ms = self.access_ttl_s * 1000 / 2;
        if self.message_lifetime_ms < self.skew_ms || self.message_lifetime_ms > lifetime_max_ms {
            return Err(FieldError::new(
                "auth.message_lifetime_ms",
                format!(
                    "{} is outside {}..={lifetime_max_ms} (at least auth.skew_ms, at most half of auth.access_ttl_s); set it in that range",
                    self.message_lifetime_ms, self.skew_ms
                ),
            ));
        }
        if self.nonces_per_holder_max > self.nonces_max {
            return Err(FieldError::new(
                "auth.nonces_per_holder_max",
                format!(
                    "{} exceeds auth.nonces_max ({}); set it at most that",
                    self.nonces_per_holder_max, self.nonces_max
                ),
            ));
        }
        Ok(())
    }
}
