//! Guardian approval of a key operation: a t-of-n FROST signature (frost's round 1,
//! round 2 and aggregate) over the operation, the group id, a fresh 128-bit nonce and the
//! time it was requested. Any node verifies it with the group key alone.
//!
//! A verifier refuses an approval for another operation or group, a bad signature, one
//! requested more than [`SKEW_S`] in the future or older than its window, and a nonce it
//! has seen: [`SeenNonces`] is kept (and persisted) by the caller, holds at most
//! [`SEEN_NONCES_MAX`] nonces, forgets a nonce only once its approval has expired anyway,
//! and refuses new approvals when full rather than forgetting a live nonce.

use std::collections::BTreeMap;

use frost_ristretto255::keys::KeyPackage;
use frost_ristretto255::round1::{SigningCommitments, SigningNonces};
use frost_ristretto255::round2::SignatureShare;
use frost_ristretto255::{Signature, SigningPackage};
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};

use super::group::Group;
use super::{identifier, index_of, GuardianError};

/// How far in the future a request may be dated (clock skew between machines), s.
pub const SKEW_S: u64 = 300;
/// Default validity of an approval after it was requested: a day, for people to sign.
pub const WINDOW_S_DEFAULT: u64 = 24 * 3600;
/// Longest validity a verifier accepts, s (bounds how long nonces are remembered).
pub const WINDOW_S_MAX: u64 = 7 * 24 * 3600;
/// Most live nonces a verifier remembers.
pub const SEEN_NONCES_MAX: usize = 4096;
const DOMAIN: &[u8] = b"x0/guardian-approval/v1\0";

/// A key operation guardians approve.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Operation {
    /// Refresh every share, taking the group from `from_epoch` to `from_epoch + 1`.
    Refresh { from_epoch: u32 },
    /// Recover the group secret (the store's master key).
    Recover,
    /// Emergency access to a store (recover and open it).
    EmergencyAccess { store: String },
}

impl Operation {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Operation::Refresh { from_epoch } => {
                out.push(1);
                out.extend_from_slice(&from_epoch.to_be_bytes());
            }
            Operation::Recover => out.push(2),
            Operation::EmergencyAccess { store } => {
                out.push(3);
                out.extend_from_slice(&(store.len() as u32).to_be_bytes());
                out.extend_from_slice(store.as_bytes());
            }
        }
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Operation::Refresh { from_epoch } => write!(f, "refresh from epoch {from_epoch}"),
            Operation::Recover => write!(f, "recover"),
            Operation::EmergencyAccess { store } => write!(f, "emergency access to `{store}`"),
        }
    }
}

/// What the guardians sign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// Hex of the group id.
    pub group_id: String,
    pub operation: Operation,
    /// Hex of 16 random bytes.
    pub nonce: String,
    /// Unix time of the request, s.
    pub requested_at_s: u64,
    /// How long the approval stays valid after `requested_at_s`, s.
    pub valid_for_s: u64,
}

impl Request {
    pub fn new<R: RngCore + CryptoRng>(
        group: &Group,
        operation: Operation,
        now_s: u64,
        valid_for_s: u64,
        rng: &mut R,
    ) -> Result<Request, GuardianError> {
        if valid_for_s == 0 || valid_for_s > WINDOW_S_MAX {
            return Err(GuardianError::Approval(format!(
                "validity {valid_for_s} s; use 1 to {WINDOW_S_MAX}"
            )));
        }
        let mut nonce = [0u8; 16];
        rng.fill_bytes(&mut nonce);
        Ok(Request {
            group_id: hex::encode(group.id()),
            operation,
            nonce: hex::encode(nonce),
            requested_at_s: now_s,
            valid_for_s,
        })
    }

    pub fn nonce_bytes(&self) -> Result<[u8; 16], GuardianError> {
        let bytes = hex::decode(&self.nonce)
            .map_err(|_| GuardianError::Approval("the nonce is not hex".into()))?;
        bytes
            .try_into()
            .map_err(|_| GuardianError::Approval("the nonce is not 16 bytes".into()))
    }

    fn group_id_bytes(&self) -> Result<[u8; 32], GuardianError> {
        let bytes = hex::decode(&self.group_id)
            .map_err(|_| GuardianError::Approval("the group id is not hex".into()))?;
        bytes
            .try_into()
            .map_err(|_| GuardianError::Approval("the group id is not 32 bytes".into()))
    }

    /// The exact bytes signed.
    pub fn message(&self) -> Result<Vec<u8>, GuardianError> {
        let mut out = DOMAIN.to_vec();
        out.extend_from_slice(&self.group_id_bytes()?);
        self.operation.encode(&mut out);
        out.extend_from_slice(&self.nonce_bytes()?);
        out.extend_from_slice(&self.requested_at_s.to_be_bytes());
        out.extend_from_slice(&self.valid_for_s.to_be_bytes());
        Ok(out)
    }
}

/// A request and the group's aggregated signature over it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    pub request: Request,
    pub signature: Signature,
}

/// Round 1, by each signing guardian: nonces to keep secret (used once) and the
/// commitments to send to the coordinator.
pub fn commit<R: RngCore + CryptoRng>(
    group: &Group,
    index: u16,
    share: &KeyPackage,
    rng: &mut R,
) -> Result<(SigningNonces, SigningCommitments), GuardianError> {
    group.check_share(index, share)?;
    Ok(frost_ristretto255::round1::commit(
        share.signing_share(),
        rng,
    ))
}

/// The coordinator's signing package: the request and at least `threshold` commitments.
pub fn signing_package(
    group: &Group,
    request: &Request,
    commitments: BTreeMap<u16, SigningCommitments>,
) -> Result<SigningPackage, GuardianError> {
    if request.group_id != hex::encode(group.id()) {
        return Err(GuardianError::Approval(
            "the request is for another group".into(),
        ));
    }
    if commitments.len() < group.threshold as usize {
        return Err(GuardianError::TooFewShares {
            given: commitments.len(),
            threshold: group.threshold,
        });
    }
    let mut by_id = BTreeMap::new();
    for (index, commitment) in commitments {
        if index == 0 || index > group.guardians {
            return Err(GuardianError::UnknownGuardian {
                guardian: index,
                guardians: group.guardians,
            });
        }
        by_id.insert(identifier(index)?, commitment);
    }
    Ok(SigningPackage::new(by_id, &request.message()?))
}

/// Round 2, by each signing guardian: its signature share. The guardian checks that the
/// package signs `request` (what it was shown), and includes its own commitment.
pub fn sign(
    group: &Group,
    index: u16,
    share: &KeyPackage,
    request: &Request,
    package: &SigningPackage,
    nonces: &SigningNonces,
) -> Result<SignatureShare, GuardianError> {
    group.check_share(index, share)?;
    if package.message() != &request.message()? {
        return Err(GuardianError::Approval(
            "the signing package does not sign this request".into(),
        ));
    }
    Ok(frost_ristretto255::round2::sign(package, nonces, share)?)
}

/// The coordinator aggregates the shares (frost checks each one and names a cheater).
pub fn aggregate(
    group: &Group,
    request: &Request,
    package: &SigningPackage,
    shares: BTreeMap<u16, SignatureShare>,
) -> Result<Approval, GuardianError> {
    if package.message() != &request.message()? {
        return Err(GuardianError::Approval(
            "the signing package does not sign this request".into(),
        ));
    }
    let mut by_id = BTreeMap::new();
    for (index, share) in shares {
        by_id.insert(identifier(index)?, share);
    }
    let signature = frost_ristretto255::aggregate(package, &by_id, &group.public_key_package)
        .map_err(|error| match error.culprits().first() {
            Some(culprit) => GuardianError::Approval(format!(
                "guardian {} sent an invalid signature share",
                index_of(culprit, group.guardians).unwrap_or(0)
            )),
            None => GuardianError::Approval(error.to_string()),
        })?;
    Ok(Approval {
        request: request.clone(),
        signature,
    })
}

/// Nonces of approvals already used, with the time each approval expires.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenNonces {
    /// Hex nonce -> expiry (unix s).
    pub nonces: BTreeMap<String, u64>,
}

impl SeenNonces {
    /// Forgets the nonces whose approvals have expired (they would be refused anyway).
    pub fn prune(&mut self, now_s: u64) {
        self.nonces.retain(|_, expires| *expires > now_s);
    }
}

/// Verifies `approval` for `operation` by `group` at `now_s`, and records its nonce in
/// `seen`. The caller persists `seen` before acting on the approval.
pub fn verify(
    group: &Group,
    approval: &Approval,
    operation: &Operation,
    now_s: u64,
    seen: &mut SeenNonces,
) -> Result<(), GuardianError> {
    let request = &approval.request;
    if request.group_id != hex::encode(group.id()) {
        return Err(GuardianError::Approval(format!(
            "it is for another group (group id {}…, this group is {})",
            request.group_id.get(..16).unwrap_or(&request.group_id),
            group.fingerprint()
        )));
    }
    if &request.operation != operation {
        return Err(GuardianError::Approval(format!(
            "it approves {}, not {operation}",
            request.operation
        )));
    }
    group
        .public_key_package
        .verifying_key()
        .verify(&request.message()?, &approval.signature)
        .map_err(|_| {
            GuardianError::Approval("the signature does not verify with the group key".into())
        })?;
    if request.valid_for_s == 0 || request.valid_for_s > WINDOW_S_MAX {
        return Err(GuardianError::Approval("validity out of bounds".into()));
    }
    if request.requested_at_s > now_s.saturating_add(SKEW_S) {
        return Err(GuardianError::Approval(format!(
            "requested at {} s, in the future (now {now_s} s)",
            request.requested_at_s
        )));
    }
    let expires = request.requested_at_s.saturating_add(request.valid_for_s);
    if expires <= now_s {
        return Err(GuardianError::Approval(format!(
            "expired at {expires} s (now {now_s} s); request a new one"
        )));
    }
    let nonce = hex::encode(request.nonce_bytes()?);
    seen.prune(now_s);
    if seen.nonces.contains_key(&nonce) {
        return Err(GuardianError::Approval(format!(
            "nonce {nonce} was already used (a replayed approval)"
        )));
    }
    if seen.nonces.len() >= SEEN_NONCES_MAX {
        return Err(GuardianError::Approval(format!(
            "{SEEN_NONCES_MAX} live approvals already used; wait for one to expire"
        )));
    }
    seen.nonces.insert(nonce, expires);
    Ok(())
}
