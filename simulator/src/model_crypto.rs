//! A cost-modelled threshold-signature suite for large simulated runs.
//!
//! It keeps BLS's valid/invalid semantics, which is all the cores act on: a share verifies
//! only for its member, its class's key set and its message; any `share_count_min` valid
//! shares from distinct members combine into the one certificate of that message; one bad
//! share spoils a combination; a certificate verifies only for its message and key set.
//! In place of curve points it uses SHA-256 tags under a per-run secret, and it counts
//! the operations so the world can charge each node virtual CPU time for them.
//!
//! This is a model, not cryptography: every simulated node could read the run secret.
//! Nothing outside the simulator uses it, and a simulated Byzantine member forges only
//! through the world, which signs for it with its own member key and nothing else.

use std::cell::Cell;
use std::rc::Rc;

use sha2::{Digest, Sha256};
use x0_core::certify::scheme::{
    MemberIndex, ShareSigner, SignatureBytesError, Suite, ThresholdScheme, SIGNATURE_BYTES,
};

/// Bytes of a tag inside the 96-byte wire form; the rest must be zero.
const TAG_BYTES: usize = 32;

/// How a deliberately weakened core cuts corners, to show the simulator catches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weakness {
    /// The real semantics.
    None,
    /// Shares and certificates are accepted without checking them.
    SharesUnverified,
    /// Every node's gate takes any token as valid for anything (the model token verifier
    /// grants every request).
    TokensUnverified,
    /// A restarted node's gate starts without the nonces it persisted.
    NoncesForgotten,
    /// A restarted node's gate starts without the revoked ids it persisted.
    RevocationsForgotten,
    /// Nodes act on a weaker ballot rule: participation above half the electorate and a
    /// majority of the votes cast (no 2/3 participation, no floor(n/3)+1 yes).
    BallotMajorityOnly,
    /// A restarted node's ballot book starts without the votes it persisted (so its own
    /// vote sequence starts again from 1).
    BallotVotesForgotten,
}

/// Operations done since the world last looked, shared by every scheme and signer of a
/// run (the world is single-threaded, and it reads and resets the count around each call
/// into a node's core, so the count is that node's).
#[derive(Debug, Default)]
pub struct OperationCount {
    signs: Cell<u64>,
    share_verifies: Cell<u64>,
    combined_shares: Cell<u64>,
    certificate_verifies: Cell<u64>,
}

/// Virtual CPU time per operation, µs (scenario `[crypto]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CryptoCost {
    pub sign_share_us: u64,
    pub verify_share_us: u64,
    pub combine_per_share_us: u64,
    pub verify_certificate_us: u64,
}

impl OperationCount {
    fn bump(cell: &Cell<u64>, by: u64) {
        cell.set(cell.get() + by);
    }

    /// The CPU time of the operations counted since the last call, µs; resets the count.
    pub fn take_us(&self, cost: &CryptoCost) -> u64 {
        cost.sign_share_us * self.signs.take()
            + cost.verify_share_us * self.share_verifies.take()
            + cost.combine_per_share_us * self.combined_shares.take()
            + cost.verify_certificate_us * self.certificate_verifies.take()
    }
}

/// The run's keys for one class: a secret and the threshold (degree) of the key set.
#[derive(Clone)]
pub struct ModelKeys {
    secret: [u8; 32],
    threshold: usize,
    committee_size: usize,
    weakness: Weakness,
    count: Rc<OperationCount>,
}

impl ModelKeys {
    pub fn new(
        secret: [u8; 32],
        threshold: usize,
        committee_size: usize,
        weakness: Weakness,
        count: Rc<OperationCount>,
    ) -> Self {
        assert!(committee_size > threshold);
        assert!(committee_size <= usize::from(MemberIndex::MAX));
        ModelKeys {
            secret,
            threshold,
            committee_size,
            weakness,
            count,
        }
    }

    /// The same keys with the real semantics: what the report checks safety with.
    pub fn strict(&self) -> ModelKeys {
        ModelKeys {
            weakness: Weakness::None,
            count: Rc::new(OperationCount::default()),
            ..self.clone()
        }
    }

    /// The tag of `what` (a share of `member`, or the certificate) over a message with
    /// SHA-256 `digest`, under this key set's secret.
    fn tag(&self, what: &[u8], member: Option<MemberIndex>, digest: &[u8; 32]) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(what);
        hasher.update(self.secret);
        if let Some(member) = member {
            hasher.update(member.to_be_bytes());
        }
        hasher.update(digest);
        hasher.finalize().into()
    }

    /// Member `member`'s share over `message`: what its secret share would sign.
    pub fn sign(&self, member: MemberIndex, message: &[u8]) -> ModelSignature {
        OperationCount::bump(&self.count.signs, 1);
        let digest = Sha256::digest(message).into();
        ModelSignature {
            tag: self.tag(b"share", Some(member), &digest),
            digest,
        }
    }

    pub fn signer(&self, member: MemberIndex) -> ModelMember {
        ModelMember {
            member,
            keys: self.clone(),
        }
    }
}

/// A share or a certificate: a tag, and the digest of the message it is over (so
/// combining, which in BLS never sees the message, can still find the one certificate of
/// what the shares signed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelSignature {
    tag: [u8; TAG_BYTES],
    digest: [u8; TAG_BYTES],
}

impl ThresholdScheme for ModelKeys {
    type Share = ModelSignature;
    type Certificate = ModelSignature;

    fn committee_size(&self) -> usize {
        self.committee_size
    }

    fn share_count_min(&self) -> usize {
        self.threshold + 1
    }

    fn verify_share(&self, member: MemberIndex, message: &[u8], share: &ModelSignature) -> bool {
        OperationCount::bump(&self.count.share_verifies, 1);
        if self.weakness == Weakness::SharesUnverified {
            return true;
        }
        let digest: [u8; 32] = Sha256::digest(message).into();
        usize::from(member) < self.committee_size
            && share.digest == digest
            && self.tag(b"share", Some(member), &digest) == share.tag
    }

    fn combine(&self, shares: &[(MemberIndex, ModelSignature)]) -> Option<ModelSignature> {
        let needed = self.share_count_min();
        let chosen = shares.get(..needed)?;
        let mut members: Vec<MemberIndex> = chosen.iter().map(|(m, _)| *m).collect();
        members.sort_unstable();
        members.dedup();
        if members.len() != needed
            || members
                .iter()
                .any(|m| usize::from(*m) >= self.committee_size)
        {
            return None;
        }
        OperationCount::bump(&self.count.combined_shares, needed as u64);
        // As with BLS: t+1 valid shares of one message interpolate to that message's
        // certificate, whichever members they come from; anything else gives a value
        // that verifies for nothing.
        let digest = chosen[0].1.digest;
        let all_valid = chosen.iter().all(|(member, share)| {
            share.digest == digest && self.tag(b"share", Some(*member), &digest) == share.tag
        });
        if all_valid {
            return Some(ModelSignature {
                tag: self.tag(b"certificate", None, &digest),
                digest,
            });
        }
        let mut hasher = Sha256::new();
        hasher.update(b"spoiled");
        for (member, share) in chosen {
            hasher.update(member.to_be_bytes());
            hasher.update(share.tag);
        }
        Some(ModelSignature {
            tag: hasher.finalize().into(),
            digest,
        })
    }

    /// The batch verdict is exact (every share valid); its cost is what the BLS batch
    /// costs: a multi-scalar multiplication over the shares (charged like a combination of
    /// that many) and one verification.
    fn shares_valid_batch(&self, message: &[u8], shares: &[(MemberIndex, ModelSignature)]) -> bool {
        if shares.is_empty() {
            return true;
        }
        OperationCount::bump(&self.count.combined_shares, shares.len() as u64);
        OperationCount::bump(&self.count.share_verifies, 1);
        if self.weakness == Weakness::SharesUnverified {
            return true;
        }
        let digest: [u8; 32] = Sha256::digest(message).into();
        shares.iter().all(|(member, share)| {
            usize::from(*member) < self.committee_size
                && share.digest == digest
                && self.tag(b"share", Some(*member), &digest) == share.tag
        })
    }

    fn verify_certificate(&self, message: &[u8], certificate: &ModelSignature) -> bool {
        OperationCount::bump(&self.count.certificate_verifies, 1);
        if self.weakness == Weakness::SharesUnverified {
            return true;
        }
        let digest: [u8; 32] = Sha256::digest(message).into();
        certificate.digest == digest && certificate.tag == self.tag(b"certificate", None, &digest)
    }
}

/// A member's secret share in the model.
pub struct ModelMember {
    member: MemberIndex,
    keys: ModelKeys,
}

impl ShareSigner for ModelMember {
    type Share = ModelSignature;

    fn member(&self) -> MemberIndex {
        self.member
    }

    fn sign_share(&self, message: &[u8]) -> ModelSignature {
        self.keys.sign(self.member, message)
    }
}

/// The cost-modelled suite.
pub struct Modelled;

fn decode(bytes: &[u8]) -> Result<ModelSignature, SignatureBytesError> {
    let bytes: &[u8; SIGNATURE_BYTES] = bytes
        .try_into()
        .map_err(|_| SignatureBytesError::Length(bytes.len()))?;
    // As a BLS decoder refuses bytes that are not a point, this one refuses bytes that
    // could not be a tag.
    if bytes[2 * TAG_BYTES..].iter().any(|b| *b != 0) {
        return Err(SignatureBytesError::NotAPoint);
    }
    Ok(ModelSignature {
        tag: bytes[..TAG_BYTES].try_into().expect("32 bytes"),
        digest: bytes[TAG_BYTES..2 * TAG_BYTES]
            .try_into()
            .expect("32 bytes"),
    })
}

fn encode(signature: &ModelSignature) -> [u8; SIGNATURE_BYTES] {
    let mut bytes = [0; SIGNATURE_BYTES];
    bytes[..TAG_BYTES].copy_from_slice(&signature.tag);
    bytes[TAG_BYTES..2 * TAG_BYTES].copy_from_slice(&signature.digest);
    bytes
}

impl Suite for Modelled {
    type Scheme = ModelKeys;
    type Signer = ModelMember;

    fn decode_share(bytes: &[u8]) -> Result<ModelSignature, SignatureBytesError> {
        decode(bytes)
    }

    fn encode_share(share: &ModelSignature) -> [u8; SIGNATURE_BYTES] {
        encode(share)
    }

    fn decode_certificate(bytes: &[u8]) -> Result<ModelSignature, SignatureBytesError> {
        decode(bytes)
    }

    fn encode_certificate(certificate: &ModelSignature) -> [u8; SIGNATURE_BYTES] {
        encode(certificate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const N: usize = 10;
    const T: usize = 3;

    fn keys(secret: u8, weakness: Weakness) -> ModelKeys {
        ModelKeys::new(
            [secret; 32],
            T,
            N,
            weakness,
            Rc::new(OperationCount::default()),
        )
    }

    fn shares(
        keys: &ModelKeys,
        members: &[MemberIndex],
        message: &[u8],
    ) -> Vec<(MemberIndex, ModelSignature)> {
        members
            .iter()
            .map(|m| (*m, keys.signer(*m).sign_share(message)))
            .collect()
    }

    #[test]
    fn any_t_plus_1_valid_shares_give_the_one_certificate_and_nothing_else_does() {
        let keys = keys(1, Weakness::None);
        let message = b"proposal";
        let a = keys
            .combine(&shares(&keys, &[0, 1, 2, 3], message))
            .unwrap();
        let b = keys
            .combine(&shares(&keys, &[9, 4, 7, 5], message))
            .unwrap();
        assert_eq!(a, b);
        assert!(keys.verify_certificate(message, &a));
        assert!(!keys.verify_certificate(b"another", &a));
        assert!(!keys2().verify_certificate(message, &a), "another key set");
        // t shares, a repeated member, an unknown member: no combination.
        assert!(keys.combine(&shares(&keys, &[0, 1, 2], message)).is_none());
        assert!(keys
            .combine(&shares(&keys, &[0, 1, 2, 2], message))
            .is_none());
        assert!(keys
            .combine(&shares(&keys, &[0, 1, 2, 10], message))
            .is_none());
    }

    fn keys2() -> ModelKeys {
        keys(2, Weakness::None)
    }

    #[test]
    fn a_bad_share_spoils_the_combination_and_is_found_one_by_one() {
        let keys = keys(1, Weakness::None);
        let message = b"proposal";
        let mut chosen = shares(&keys, &[0, 1, 2, 3], message);
        chosen[2].1 = keys.signer(2).sign_share(b"not the proposal");
        let spoiled = keys.combine(&chosen).unwrap();
        assert!(!keys.verify_certificate(message, &spoiled));
        assert_eq!(keys.invalid_shares(message, &chosen), vec![2]);
        // A share is only good for its own member.
        let mine = keys.signer(4).sign_share(message);
        assert!(keys.verify_share(4, message, &mine));
        assert!(!keys.verify_share(5, message, &mine));
        assert!(!keys2().verify_share(4, message, &mine));
    }

    #[test]
    fn a_batch_is_valid_only_when_every_share_is_and_costs_one_verification() {
        let count = Rc::new(OperationCount::default());
        let keys = ModelKeys::new([1; 32], T, N, Weakness::None, count.clone());
        let message = b"proposal";
        let mut batch = shares(&keys, &[0, 1, 2, 3, 4], message);
        assert!(keys.shares_valid_batch(message, &batch));
        assert!(keys.invalid_shares_batched(message, &batch).is_empty());
        let cost = CryptoCost {
            sign_share_us: 0,
            verify_share_us: 10,
            combine_per_share_us: 100,
            verify_certificate_us: 1_000,
        };
        count.take_us(&cost);
        assert!(keys.invalid_shares_batched(message, &batch).is_empty());
        assert_eq!(count.take_us(&cost), 10 + 5 * 100, "one batch of five");
        batch[1].1 = keys.signer(1).sign_share(b"not the proposal");
        batch[4].0 = 9;
        assert!(!keys.shares_valid_batch(message, &batch));
        assert_eq!(keys.invalid_shares_batched(message, &batch), vec![1, 9]);
        assert!(keys.shares_valid_batch(message, &[]));
    }

    #[test]
    fn wire_forms_round_trip_and_garbage_is_an_error() {
        let keys = keys(1, Weakness::None);
        let share = keys.signer(3).sign_share(b"m");
        let bytes = Modelled::encode_share(&share);
        assert_eq!(Modelled::decode_share(&bytes), Ok(share));
        assert_eq!(
            Modelled::decode_share(&bytes[..95]),
            Err(SignatureBytesError::Length(95))
        );
        let mut garbage = bytes;
        garbage[90] = 1;
        assert_eq!(
            Modelled::decode_certificate(&garbage),
            Err(SignatureBytesError::NotAPoint)
        );
    }

    #[test]
    fn operations_cost_what_the_scenario_says_and_the_count_resets() {
        let count = Rc::new(OperationCount::default());
        let keys = ModelKeys::new([1; 32], T, N, Weakness::None, count.clone());
        let message = b"m";
        let chosen = shares(&keys, &[0, 1, 2, 3], message);
        let certificate = keys.combine(&chosen).unwrap();
        keys.verify_certificate(message, &certificate);
        keys.verify_share(0, message, &chosen[0].1);
        let cost = CryptoCost {
            sign_share_us: 1,
            verify_share_us: 10,
            combine_per_share_us: 100,
            verify_certificate_us: 1_000,
        };
        assert_eq!(count.take_us(&cost), 4 + 10 + 400 + 1_000);
        assert_eq!(count.take_us(&cost), 0);
    }

    #[test]
    fn the_weakened_scheme_accepts_what_the_strict_one_refuses() {
        let weak = keys(1, Weakness::SharesUnverified);
        let message = b"proposal";
        let forged = weak.signer(0).sign_share(b"not the proposal");
        assert!(weak.verify_share(0, message, &forged));
        let mut chosen = shares(&weak, &[0, 1, 2, 3], message);
        chosen[0].1 = forged;
        let certificate = weak.combine(&chosen).unwrap();
        assert!(weak.verify_certificate(message, &certificate));
        assert!(!weak.strict().verify_certificate(message, &certificate));
    }
}
