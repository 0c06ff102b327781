//! Recovery: at least `threshold` shares, each checked against the group's commitment
//! before use, combined with frost's `reconstruct`, and the result checked against the
//! group key. A bad share is named and never combined; fewer than `threshold` good shares
//! never produce a key. The store's master key is HKDF-SHA256 of the group secret.

use std::collections::BTreeSet;

use frost_ristretto255::keys::{self, KeyPackage};
use frost_ristretto255::{SigningKey, VerifyingKey};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::group::Group;
use super::store::MasterKey;
use super::GuardianError;

/// HKDF info for the store's master key.
pub const MASTER_KEY_INFO: &[u8] = b"x0/sublime/master-key/v1";

/// Checks every share (all errors, guardian by guardian) without combining anything.
pub fn check_shares(group: &Group, shares: &[(u16, KeyPackage)]) -> Vec<GuardianError> {
    let mut seen = BTreeSet::new();
    let mut errors = Vec::new();
    for (index, key_package) in shares {
        if !seen.insert(*index) {
            errors.push(GuardianError::DuplicateGuardian(*index));
            continue;
        }
        if let Err(error) = group.check_share(*index, key_package) {
            errors.push(error);
        }
    }
    errors
}

/// Recovers the group secret. Refuses (naming the guardian) a share that fails its
/// commitment check, a duplicate, or fewer than `threshold` shares.
pub fn recover(group: &Group, shares: &[(u16, KeyPackage)]) -> Result<SigningKey, GuardianError> {
    group.validate()?;
    if let Some(first) = check_shares(group, shares).into_iter().next() {
        return Err(first);
    }
    if shares.len() < group.threshold as usize {
        return Err(GuardianError::TooFewShares {
            given: shares.len(),
            threshold: group.threshold,
        });
    }
    let packages: Vec<KeyPackage> = shares.iter().map(|(_, kp)| kp.clone()).collect();
    let key = keys::reconstruct(&packages)?;
    if VerifyingKey::from(&key) != *group.public_key_package.verifying_key() {
        return Err(GuardianError::CombinedKeyMismatch);
    }
    Ok(key)
}

/// The store's master key: HKDF-SHA256(ikm = group secret, salt = group id, info).
pub fn master_key(group: &Group, secret: &SigningKey) -> MasterKey {
    let ikm = Zeroizing::new(secret.serialize());
    let hkdf = Hkdf::<Sha256>::new(Some(&group.id()), &ikm);
    let mut key = [0u8; 32];
    hkdf.expand(MASTER_KEY_INFO, &mut key)
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    MasterKey::new(key)
}
