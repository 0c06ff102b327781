//! Guardian key custody (issue 8): the master key of the encrypted store ("Sublime") is
//! a FROST group secret split among guardians, t of n needed (3 of 10 by default).
//!
//! Everything here is sans-IO: no files, no clock, randomness passed in. The node's CLI
//! (`x0 guardian`, `x0 sublime`) does the files and passphrases. All cryptography is
//! frost-ristretto255 3 (Shamir sharing with Feldman commitments, refresh, repair, DKG,
//! threshold Schnorr), argon2 (Argon2id), chacha20poly1305 (XChaCha20-Poly1305) and
//! hkdf + sha2 (HKDF-SHA256): we only call their APIs.
//!
//! * [`group`]: the public group file (group key, per-guardian verifying shares, the
//!   dealer's Feldman commitment), its id, and the check of a share against it.
//! * [`share_file`]: a secret sealed at rest under a passphrase (versioned, bounded).
//! * [`ceremony`]: trusted-dealer split and the dealerless DKG.
//! * [`recovery`]: verified recombination and the store's master key (HKDF).
//! * [`refresh`]: new shares for the same group key; repair of a lost share.
//! * [`approval`]: the t-of-n FROST signature over an operation and a fresh nonce.
//! * [`store`]: the Sublime envelope (data keys wrapped by the master key).

pub mod approval;
pub mod ceremony;
pub mod group;
pub mod recovery;
pub mod refresh;
pub mod share_file;
pub mod store;

#[cfg(test)]
mod tests;

pub use frost_ristretto255 as frost;

/// Most guardians in one group (identifiers are u16 in FROST; we keep groups small).
pub const GUARDIANS_MAX: u16 = 255;
/// Fewest guardians needed to act (FROST's own minimum).
pub const THRESHOLD_MIN: u16 = 2;

/// Everything that can go wrong, naming the guardian (1-based index) where one is at fault.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GuardianError {
    #[error("threshold {threshold} of {guardians} guardians is not allowed: need 2 <= threshold <= guardians <= {GUARDIANS_MAX}")]
    BadParameters { threshold: u16, guardians: u16 },
    #[error("group name `{0}`: use 1 to 64 characters of a-z, 0-9 and `-`")]
    BadGroupName(String),
    #[error("the group file is inconsistent: {0}")]
    BadGroup(String),
    #[error("guardian {guardian}: no such guardian in this group (guardians are 1..={guardians})")]
    UnknownGuardian { guardian: u16, guardians: u16 },
    #[error("guardian {0}: given more than once")]
    DuplicateGuardian(u16),
    #[error("guardian {guardian}: the share belongs to another group (its group key differs)")]
    ForeignShare { guardian: u16 },
    #[error("guardian {guardian}: the share does not match the group's commitment for this guardian (corrupted, or stale from before a refresh)")]
    WrongShare { guardian: u16 },
    #[error("guardian {guardian}: the share is from epoch {share_epoch}, the group is at epoch {group_epoch}; apply the refresh to it or repair it")]
    StaleShare {
        guardian: u16,
        share_epoch: u32,
        group_epoch: u32,
    },
    #[error("{given} valid share(s) given, {threshold} needed")]
    TooFewShares { given: usize, threshold: u16 },
    #[error("the combined key is not the group key (refused; no share was at fault by its commitment, so the group file or shares were tampered with)")]
    CombinedKeyMismatch,
    #[error("wrong passphrase, or the file was altered")]
    Decrypt,
    #[error("not a {expected} file: {reason}")]
    Format {
        expected: &'static str,
        reason: String,
    },
    #[error("passphrase: {0}")]
    Passphrase(String),
    #[error("approval: {0}")]
    Approval(String),
    #[error("repair: {0}")]
    Repair(String),
    #[error("DKG: {0}")]
    Dkg(String),
    #[error("store: {0}")]
    Store(String),
    #[error("FROST: {0}")]
    Frost(String),
}

impl From<frost::Error> for GuardianError {
    fn from(error: frost::Error) -> Self {
        GuardianError::Frost(error.to_string())
    }
}

/// FROST's identifier of guardian `index` (1-based).
pub fn identifier(index: u16) -> Result<frost::Identifier, GuardianError> {
    frost::Identifier::try_from(index).map_err(GuardianError::from)
}

/// The 1-based index of an identifier made by [`identifier`], searching 1..=guardians.
pub fn index_of(id: &frost::Identifier, guardians: u16) -> Option<u16> {
    (1..=guardians).find(|i| identifier(*i).ok().as_ref() == Some(id))
}

/// Checks `2 <= threshold <= guardians <= GUARDIANS_MAX`.
pub fn check_parameters(guardians: u16, threshold: u16) -> Result<(), GuardianError> {
    if threshold < THRESHOLD_MIN || threshold > guardians || guardians > GUARDIANS_MAX {
        return Err(GuardianError::BadParameters {
            threshold,
            guardians,
        });
    }
    Ok(())
}

/// Group names: 1-64 of a-z, 0-9, `-` (they appear in file names and the group id).
pub fn check_name(name: &str) -> Result<(), GuardianError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(GuardianError::BadGroupName(name.to_string()))
    }
}
