//! The threshold-signature scheme behind certificates, as a small trait so the simulator
//! can plug in a cost-modelled scheme with the same valid/invalid semantics, and its real
//! implementation on BLS12-381 with blsttc.
//!
//! Keys, shares and the wire format are blsttc's. Verification goes through blst, the
//! library under blsttc, with the same ciphersuite (`blsttc::DST`, keys in G1, signatures
//! in G2, i.e. blst's `min_pk`): blst's `verify` runs the two Miller loops and one final
//! exponentiation on their product, where blsttc's `verify` computes two full pairings and
//! compares them; the answer is the same (a test checks it against blsttc), the cost about
//! a third lower. Combination and batch verification are composed from blstrs and blst in
//! [`super::bls_compose`] (one multi-scalar multiplication instead of t+1; one verification
//! for many shares of one message), byte-identical to blsttc's combination (property
//! tests). No curve arithmetic of our own: only the libraries' public APIs.

use std::collections::BTreeSet;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};

use blst::min_pk as blst_bls;
use blst::BLST_ERROR;
use blsttc::{PublicKeySet, SecretKeyShare, Signature, SignatureShare};

use super::bls_compose;
use super::proposal::ProposalId;

/// A committee member's position in the key set, 0-based.
pub type MemberIndex = u16;

/// Bytes of a signature share and of a combined certificate signature.
pub const SIGNATURE_BYTES: usize = 96;

/// Domain tag of what members sign: a share can only ever endorse a proposal id.
const SIGNING_DOMAIN: &[u8] = b"x0/1/certificate";

/// The bytes every member signs for `id`.
pub fn signing_message(id: &ProposalId) -> Vec<u8> {
    let mut message = Vec::with_capacity(SIGNING_DOMAIN.len() + 32);
    message.extend_from_slice(SIGNING_DOMAIN);
    message.extend_from_slice(&id.0);
    message
}

/// Verification side of a committee's threshold scheme: everything a node needs to judge
/// shares and certificates.
pub trait ThresholdScheme {
    type Share: Clone;
    type Certificate: Clone;

    /// Members in the committee.
    fn committee_size(&self) -> usize;
    /// Distinct shares a combination needs (the key set's degree plus one).
    fn share_count_min(&self) -> usize;
    fn verify_share(&self, member: MemberIndex, message: &[u8], share: &Self::Share) -> bool;
    /// Combines `share_count_min` shares from distinct members. `None` for too few shares,
    /// a repeated member or an unknown one; it does not check the shares themselves (combine
    /// first, verify once, and only on failure verify shares one by one).
    fn combine(&self, shares: &[(MemberIndex, Self::Share)]) -> Option<Self::Certificate>;
    fn verify_certificate(&self, message: &[u8], certificate: &Self::Certificate) -> bool;

    /// The members among `shares` whose share does not verify for `message`, each checked
    /// on its own. A scheme may share work across the shares.
    fn invalid_shares(
        &self,
        message: &[u8],
        shares: &[(MemberIndex, Self::Share)],
    ) -> Vec<MemberIndex> {
        shares
            .iter()
            .filter(|(member, share)| !self.verify_share(*member, message, share))
            .map(|(member, _)| *member)
            .collect()
    }

    /// True when every share verifies for `message` on its own (each share individually
    /// valid, not merely a valid combination), checked at once where the scheme can: a
    /// randomised batch verification of all of them. True for no shares. A false names
    /// nobody; [`ThresholdScheme::invalid_shares_batched`] finds the culprits.
    fn shares_valid_batch(&self, message: &[u8], shares: &[(MemberIndex, Self::Share)]) -> bool {
        shares
            .iter()
            .all(|(member, share)| self.verify_share(*member, message, share))
    }

    /// [`ThresholdScheme::invalid_shares`] through one batch check first: when the batch
    /// passes (the usual case) nobody is invalid; when it fails, every share is checked
    /// on its own. So each share costs at most one batch membership and one verification
    /// of its own, whoever misbehaves and however many bad shares there are.
    fn invalid_shares_batched(
        &self,
        message: &[u8],
        shares: &[(MemberIndex, Self::Share)],
    ) -> Vec<MemberIndex> {
        // One share: its own verification is the batch.
        if shares.len() > 1 && self.shares_valid_batch(message, shares) {
            return Vec::new();
        }
        self.invalid_shares(message, shares)
    }
}

/// Signing side: one member's secret share.
pub trait ShareSigner {
    type Share;
    fn member(&self) -> MemberIndex;
    fn sign_share(&self, message: &[u8]) -> Self::Share;
}

/// A threshold-signature suite end to end: the committee's side, a member's side, and the
/// 96-byte wire forms of shares and certificates. [`Bls`] is the one nodes run; the
/// simulator plugs in a cost-modelled suite with the same valid/invalid semantics, so the
/// cores it drives are the very cores the node runs.
pub trait Suite: 'static {
    type Scheme: ThresholdScheme + Clone;
    type Signer: ShareSigner<Share = <Self::Scheme as ThresholdScheme>::Share>;

    /// Decodes a share from untrusted bytes; never panics.
    fn decode_share(
        bytes: &[u8],
    ) -> Result<<Self::Scheme as ThresholdScheme>::Share, SignatureBytesError>;
    fn encode_share(share: &<Self::Scheme as ThresholdScheme>::Share) -> [u8; SIGNATURE_BYTES];
    /// Decodes a combined signature from untrusted bytes; never panics.
    fn decode_certificate(
        bytes: &[u8],
    ) -> Result<<Self::Scheme as ThresholdScheme>::Certificate, SignatureBytesError>;
    fn encode_certificate(
        certificate: &<Self::Scheme as ThresholdScheme>::Certificate,
    ) -> [u8; SIGNATURE_BYTES];
}

/// BLS12-381 threshold signatures with blsttc (verification through blst): what nodes run.
pub struct Bls;

impl Suite for Bls {
    type Scheme = BlsCommittee;
    type Signer = BlsMember;

    fn decode_share(bytes: &[u8]) -> Result<SignatureShare, SignatureBytesError> {
        decode_share(bytes)
    }

    fn encode_share(share: &SignatureShare) -> [u8; SIGNATURE_BYTES] {
        share.to_bytes()
    }

    fn decode_certificate(bytes: &[u8]) -> Result<Signature, SignatureBytesError> {
        decode_certificate(bytes)
    }

    fn encode_certificate(certificate: &Signature) -> [u8; SIGNATURE_BYTES] {
        certificate.to_bytes()
    }
}

/// From this many shares on, [`BlsCommittee::combine`] combines with one multi-scalar
/// multiplication ([`bls_compose::combine_signatures`]); below it with blsttc's own
/// combination, which gives the same bytes. 32 is where blst (0.3.17) switches to
/// Pippenger on a machine with two or more cores: below it, it multiplies each point on
/// its own on its thread pool, which on this project's 2-core machine measured slower than
/// blsttc (e.g. 0.92 against 0.67 ms for 4 shares, 6.3-7.4 against 2.7 ms for 16), while
/// at 34 shares Pippenger took 3.5 ms against blsttc's 6.1-9.8 ms (docs/BENCHMARKS.md).
pub const COMPOSED_COMBINE_SHARES_MIN: usize = 32;

/// A committee's public BLS key set, with every member's public key share computed once
/// (deriving one costs milliseconds; a node checks many shares per epoch) and decoded
/// for blst's verifier.
#[derive(Clone)]
pub struct BlsCommittee {
    key_set: PublicKeySet,
    /// The group public key, as blst's verifier takes it; `None` if blst rejects it.
    public_key: Option<blst_bls::PublicKey>,
    /// Member `i`'s public key share, as blst's verifier takes it; `None` if blst rejects
    /// it (the point at infinity), and then none of that member's shares verify, as with
    /// blsttc, which refuses a zero key.
    member_keys: Vec<Option<blst_bls::PublicKey>>,
    /// Threads `invalid_shares` may use: the cores this process may run on.
    workers: usize,
}

/// blsttc's 48-byte compressed G1 key, decoded and validated (on the curve, in the
/// subgroup, not the identity) once, so verifying with it needs no further key check.
fn blst_key(compressed: [u8; blsttc::PK_SIZE]) -> Option<blst_bls::PublicKey> {
    blst_bls::PublicKey::key_validate(&compressed).ok()
}

/// BLS verification of `signature` on `message` under `key` with blst's public API, in
/// blsttc's ciphersuite. The signature crosses over as its 96-byte compressed form (blsttc
/// does not expose the point); blst re-checks it is in G2, although blsttc's decoder
/// already did, which costs about 0.08 ms.
fn blst_verify(key: Option<&blst_bls::PublicKey>, message: &[u8], signature: &Signature) -> bool {
    let Some(key) = key else {
        return false;
    };
    let Ok(signature) = blst_bls::Signature::from_bytes(&signature.to_bytes()) else {
        return false;
    };
    signature.verify(true, message, blsttc::DST, &[], key, false) == BLST_ERROR::BLST_SUCCESS
}

impl BlsCommittee {
    pub fn new(key_set: PublicKeySet, committee_size: usize) -> Self {
        assert!(
            committee_size > key_set.threshold(),
            "a committee must be able to reach its threshold"
        );
        assert!(committee_size <= usize::from(MemberIndex::MAX));
        let member_keys = (0..committee_size)
            .map(|i| blst_key(key_set.public_key_share(i).to_bytes()))
            .collect();
        BlsCommittee {
            public_key: blst_key(key_set.public_key().to_bytes()),
            key_set,
            member_keys,
            workers: std::thread::available_parallelism().map_or(1, NonZeroUsize::get),
        }
    }

    pub fn key_set(&self) -> &PublicKeySet {
        &self.key_set
    }

    /// `invalid_shares` on at most `workers` threads (the calling one included); 1 checks
    /// the shares one after the other on the calling thread. The answer does not depend
    /// on `workers`: the members whose share does not verify, in the order of `shares`.
    ///
    /// Each share costs one BLS verification (two Miller loops, one final exponentiation,
    /// one hash to G2), about 1.5 ms here, and they are independent, so the threads claim
    /// shares one at a time from a shared counter (a thread slowed by other load simply
    /// claims fewer) and report positions, sorted afterwards.
    ///
    /// Not a batch verification: this is the fallback after a failed batch
    /// ([`ThresholdScheme::invalid_shares_batched`]), when at least one share is bad and
    /// a failed batch names nobody. Bisection would need about two batch checks per bad
    /// share per halving, and the faulty members choose how many bad shares there are;
    /// one verification per share costs the same whoever misbehaves.
    pub fn invalid_shares_on(
        &self,
        message: &[u8],
        shares: &[(MemberIndex, SignatureShare)],
        workers: usize,
    ) -> Vec<MemberIndex> {
        let invalid = |(member, share): &(MemberIndex, SignatureShare)| {
            !self.verify_share(*member, message, share)
        };
        let workers = workers.clamp(1, shares.len().max(1));
        if workers == 1 {
            return shares
                .iter()
                .filter(|entry| invalid(entry))
                .map(|(member, _)| *member)
                .collect();
        }
        let next = AtomicUsize::new(0);
        let claim = || {
            let mut bad = Vec::new();
            loop {
                let position = next.fetch_add(1, Ordering::Relaxed);
                let Some(entry) = shares.get(position) else {
                    return bad;
                };
                if invalid(entry) {
                    bad.push(position);
                }
            }
        };
        let mut bad: Vec<usize> = std::thread::scope(|scope| {
            let helpers: Vec<_> = (1..workers).map(|_| scope.spawn(claim)).collect();
            let mut bad = claim();
            for helper in helpers {
                bad.extend(
                    helper
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                );
            }
            bad
        });
        bad.sort_unstable();
        bad.into_iter().map(|position| shares[position].0).collect()
    }
}

impl ThresholdScheme for BlsCommittee {
    type Share = SignatureShare;
    type Certificate = Signature;

    fn committee_size(&self) -> usize {
        self.member_keys.len()
    }

    fn share_count_min(&self) -> usize {
        self.key_set.threshold() + 1
    }

    fn verify_share(&self, member: MemberIndex, message: &[u8], share: &SignatureShare) -> bool {
        self.member_keys
            .get(usize::from(member))
            .is_some_and(|key| blst_verify(key.as_ref(), message, &share.0))
    }

    fn combine(&self, shares: &[(MemberIndex, SignatureShare)]) -> Option<Signature> {
        let needed = self.share_count_min();
        let chosen = &shares.get(..needed)?;
        let distinct: BTreeSet<MemberIndex> = chosen.iter().map(|(member, _)| *member).collect();
        if distinct.len() != needed
            || distinct
                .iter()
                .any(|&m| usize::from(m) >= self.committee_size())
        {
            return None;
        }
        if needed < COMPOSED_COMBINE_SHARES_MIN {
            return self
                .key_set
                .combine_signatures(
                    chosen
                        .iter()
                        .map(|(member, share)| (usize::from(*member), share)),
                )
                .ok();
        }
        // The same bytes as `self.key_set.combine_signatures(chosen)`, one multi-scalar
        // multiplication instead of t+1 (bls_compose's property tests).
        let chosen: Vec<(MemberIndex, &SignatureShare)> = chosen
            .iter()
            .map(|(member, share)| (*member, share))
            .collect();
        bls_compose::combine_signatures(&chosen)
    }

    fn verify_certificate(&self, message: &[u8], certificate: &Signature) -> bool {
        blst_verify(self.public_key.as_ref(), message, certificate)
    }

    /// Verifies the shares on all the cores this process may use; see
    /// [`BlsCommittee::invalid_shares_on`].
    fn invalid_shares(
        &self,
        message: &[u8],
        shares: &[(MemberIndex, SignatureShare)],
    ) -> Vec<MemberIndex> {
        self.invalid_shares_on(message, shares, self.workers)
    }

    /// One blst verification of the weighted sums of the shares and of their members' keys
    /// ([`bls_compose::shares_valid_batch`]). An unknown member, or one without a usable
    /// key, makes the batch fail (its share verifies for nothing).
    fn shares_valid_batch(&self, message: &[u8], shares: &[(MemberIndex, SignatureShare)]) -> bool {
        let Some(entries) = shares
            .iter()
            .map(|(member, share)| {
                let key = self.member_keys.get(usize::from(*member))?.as_ref()?;
                Some((key, share))
            })
            .collect::<Option<Vec<_>>>()
        else {
            return false;
        };
        bls_compose::shares_valid_batch(message, &entries)
    }
}

/// A member's secret BLS key share.
pub struct BlsMember {
    member: MemberIndex,
    secret: SecretKeyShare,
}

impl BlsMember {
    pub fn new(member: MemberIndex, secret: SecretKeyShare) -> Self {
        BlsMember { member, secret }
    }
}

impl ShareSigner for BlsMember {
    type Share = SignatureShare;

    fn member(&self) -> MemberIndex {
        self.member
    }

    fn sign_share(&self, message: &[u8]) -> SignatureShare {
        self.secret.sign(message)
    }
}

/// Why 96 bytes are not a signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureBytesError {
    #[error("expected {SIGNATURE_BYTES} bytes, got {0}")]
    Length(usize),
    #[error("not a point of the signature group")]
    NotAPoint,
}

fn signature_array(bytes: &[u8]) -> Result<[u8; SIGNATURE_BYTES], SignatureBytesError> {
    bytes
        .try_into()
        .map_err(|_| SignatureBytesError::Length(bytes.len()))
}

/// Decodes a share from untrusted bytes; never panics.
pub fn decode_share(bytes: &[u8]) -> Result<SignatureShare, SignatureBytesError> {
    SignatureShare::from_bytes(signature_array(bytes)?).map_err(|_| SignatureBytesError::NotAPoint)
}

/// Decodes a combined signature from untrusted bytes; never panics.
pub fn decode_certificate(bytes: &[u8]) -> Result<Signature, SignatureBytesError> {
    Signature::from_bytes(signature_array(bytes)?).map_err(|_| SignatureBytesError::NotAPoint)
}

#[cfg(test)]
mod tests {
    use blsttc::SecretKeySet;
    use rand::seq::SliceRandom;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::certify::threshold::{faulty_max, share_count_min, ChangeClass};

    const N: usize = 10;

    struct Committee {
        scheme: BlsCommittee,
        members: Vec<BlsMember>,
    }

    fn committee(seed: u64) -> Committee {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let secret_set = SecretKeySet::random(faulty_max(N), &mut rng);
        let members = (0..N)
            .map(|i| BlsMember::new(i as MemberIndex, secret_set.secret_key_share(i)))
            .collect();
        Committee {
            scheme: BlsCommittee::new(secret_set.public_keys(), N),
            members,
        }
    }

    fn message() -> Vec<u8> {
        signing_message(&ProposalId([7; 32]))
    }

    fn all_shares(committee: &Committee, message: &[u8]) -> Vec<(MemberIndex, SignatureShare)> {
        committee
            .members
            .iter()
            .map(|m| (m.member(), m.sign_share(message)))
            .collect()
    }

    #[test]
    fn threshold_matches_the_33_percent_rule() {
        let c = committee(1);
        assert_eq!(
            c.scheme.share_count_min(),
            share_count_min(N, ChangeClass::Standard)
        );
        assert_eq!(c.scheme.share_count_min(), 4);
    }

    #[test]
    fn any_t_plus_1_valid_shares_give_the_same_valid_certificate() {
        let c = committee(2);
        let message = message();
        let shares = all_shares(&c, &message);
        for (member, share) in &shares {
            assert!(c.scheme.verify_share(*member, &message, share));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut first: Option<[u8; SIGNATURE_BYTES]> = None;
        for _ in 0..25 {
            let mut subset = shares.clone();
            subset.shuffle(&mut rng);
            subset.truncate(c.scheme.share_count_min());
            let certificate = c
                .scheme
                .combine(&subset)
                .expect("t+1 distinct shares combine");
            assert!(c.scheme.verify_certificate(&message, &certificate));
            let bytes = certificate.to_bytes();
            assert_eq!(
                *first.get_or_insert(bytes),
                bytes,
                "every subset gives one certificate"
            );
        }
    }

    #[test]
    fn combine_gives_blsttcs_bytes_on_both_sides_of_the_multi_scalar_threshold() {
        let message = message();
        for n in [10usize, 100] {
            let mut rng = ChaCha8Rng::seed_from_u64(n as u64);
            let secret_set = SecretKeySet::random(faulty_max(n), &mut rng);
            let scheme = BlsCommittee::new(secret_set.public_keys(), n);
            let needed = scheme.share_count_min();
            assert_eq!(needed >= COMPOSED_COMBINE_SHARES_MIN, n == 100);
            let mut shares: Vec<(MemberIndex, SignatureShare)> = (0..n)
                .map(|i| {
                    (
                        i as MemberIndex,
                        secret_set.secret_key_share(i).sign(&message),
                    )
                })
                .collect();
            for _ in 0..3 {
                shares.shuffle(&mut rng);
                let chosen = &shares[..needed];
                let ours = scheme.combine(chosen).unwrap();
                let theirs = scheme
                    .key_set()
                    .combine_signatures(chosen.iter().map(|(m, s)| (usize::from(*m), s)))
                    .unwrap();
                assert_eq!(ours.to_bytes(), theirs.to_bytes(), "n = {n}");
                assert!(scheme.verify_certificate(&message, &ours));
            }
        }
    }

    #[test]
    fn t_shares_never_combine() {
        let c = committee(4);
        let shares = all_shares(&c, &message());
        assert!(c
            .scheme
            .combine(&shares[..c.scheme.share_count_min() - 1])
            .is_none());
    }

    #[test]
    fn repeated_or_unknown_members_never_count() {
        let c = committee(5);
        let shares = all_shares(&c, &message());
        let t_plus_1 = c.scheme.share_count_min();
        let mut repeated: Vec<_> = shares[..t_plus_1 - 1].to_vec();
        repeated.push(shares[0].clone());
        assert!(c.scheme.combine(&repeated).is_none());
        let mut unknown: Vec<_> = shares[..t_plus_1 - 1].to_vec();
        unknown.push((N as MemberIndex, shares[t_plus_1].1.clone()));
        assert!(c.scheme.combine(&unknown).is_none());
        assert!(!c
            .scheme
            .verify_share(N as MemberIndex, &message(), &shares[0].1));
    }

    #[test]
    fn an_invalid_share_spoils_the_combination_and_is_found_one_by_one() {
        let c = committee(6);
        let message = message();
        let mut shares = all_shares(&c, &message);
        // Member 2 signs something else: a Byzantine share.
        shares[2].1 = c.members[2].sign_share(b"another proposal");
        let subset = &shares[..c.scheme.share_count_min()];
        let certificate = c.scheme.combine(subset).expect("combines");
        assert!(!c.scheme.verify_certificate(&message, &certificate));
        let bad: Vec<MemberIndex> = subset
            .iter()
            .filter(|(m, s)| !c.scheme.verify_share(*m, &message, s))
            .map(|(m, _)| *m)
            .collect();
        assert_eq!(bad, vec![2]);
        assert_eq!(
            c.scheme.invalid_shares(&message, subset),
            vec![2],
            "the batched path agrees"
        );
    }

    #[test]
    fn two_members_shares_swapped_never_verify() {
        let c = committee(7);
        let message = message();
        let mut shares = all_shares(&c, &message);
        let (a, b) = (shares[0].1.clone(), shares[1].1.clone());
        shares[0].1 = b;
        shares[1].1 = a;
        assert!(!c.scheme.verify_share(0, &message, &shares[0].1));
        assert!(!c.scheme.verify_share(1, &message, &shares[1].1));
        let certificate = c
            .scheme
            .combine(&shares[..c.scheme.share_count_min()])
            .unwrap();
        assert!(!c.scheme.verify_certificate(&message, &certificate));
    }

    #[test]
    fn another_committee_cannot_certify() {
        let ours = committee(8);
        let theirs = committee(9);
        let message = message();
        let shares = all_shares(&theirs, &message);
        let certificate = theirs.scheme.combine(&shares[..4]).unwrap();
        assert!(theirs.scheme.verify_certificate(&message, &certificate));
        assert!(!ours.scheme.verify_certificate(&message, &certificate));
    }

    /// blsttc's own verification of a share, independent of the blst path under test.
    fn blsttc_verifies(
        key_set: &PublicKeySet,
        n: usize,
        message: &[u8],
        (member, share): &(MemberIndex, SignatureShare),
    ) -> bool {
        usize::from(*member) < n
            && key_set
                .public_key_share(usize::from(*member))
                .verify(share, message)
    }

    #[test]
    fn blst_verification_agrees_with_blsttc() {
        let c = committee(12);
        let message = message();
        let key_set = c.scheme.key_set();
        let mut shares = all_shares(&c, &message);
        shares[3].1 = c.members[3].sign_share(b"another proposal");
        shares.swap(5, 6);
        shares.push((N as MemberIndex, shares[0].1.clone()));
        for entry in &shares {
            assert_eq!(
                c.scheme.verify_share(entry.0, &message, &entry.1),
                blsttc_verifies(key_set, N, &message, entry),
                "member {}",
                entry.0
            );
        }
        let t_plus_1 = c.scheme.share_count_min();
        let good = c.scheme.combine(&all_shares(&c, &message)[..t_plus_1]);
        let bad = c.scheme.combine(&shares[..t_plus_1]);
        for certificate in [good.unwrap(), bad.unwrap()] {
            for m in [&message[..], b"another proposal"] {
                assert_eq!(
                    c.scheme.verify_certificate(m, &certificate),
                    key_set.public_key().verify(&certificate, m)
                );
            }
        }
    }

    #[test]
    fn parallel_invalid_shares_match_a_sequential_check() {
        const BIG: usize = 16;
        let mut rng = ChaCha8Rng::seed_from_u64(13);
        let secret_set = SecretKeySet::random(faulty_max(BIG), &mut rng);
        let scheme = BlsCommittee::new(secret_set.public_keys(), BIG);
        let message = message();
        let sign = |i: usize, m: &[u8]| secret_set.secret_key_share(i).sign(m);
        let mut shares: Vec<(MemberIndex, SignatureShare)> = (0..BIG)
            .map(|i| (i as MemberIndex, sign(i, &message)))
            .collect();
        // Bad shares at the start, in the middle and at the end of the list, so that
        // every split over 2..=6 threads puts some on more than one thread.
        shares[1].1 = sign(1, b"another proposal");
        shares.swap(4, 5);
        shares[4].0 = 4;
        shares[5].0 = 5;
        shares[9].1 = sign(9, b"another proposal");
        shares[14].0 = BIG as MemberIndex;
        shares[15].1 = sign(14, &message);
        let sequential: Vec<MemberIndex> = shares
            .iter()
            .filter(|entry| !blsttc_verifies(scheme.key_set(), BIG, &message, entry))
            .map(|(member, _)| *member)
            .collect();
        assert_eq!(sequential, vec![1, 4, 5, 9, BIG as MemberIndex, 15]);
        for workers in 0..=7 {
            assert_eq!(
                scheme.invalid_shares_on(&message, &shares, workers),
                sequential,
                "{workers} threads"
            );
        }
        assert_eq!(scheme.invalid_shares(&message, &shares), sequential);
        assert!(scheme.invalid_shares_on(&message, &[], 2).is_empty());
    }

    #[test]
    fn signature_bytes_round_trip_and_garbage_is_an_error() {
        let c = committee(10);
        let share = c.members[0].sign_share(&message());
        assert_eq!(decode_share(&share.to_bytes()).unwrap(), share);
        assert_eq!(
            decode_share(&[0u8; 10]),
            Err(SignatureBytesError::Length(10))
        );
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for _ in 0..64 {
            let garbage: Vec<u8> = (0..SIGNATURE_BYTES).map(|_| rng.gen()).collect();
            // Random bytes are almost never a valid compressed point; either way, no panic.
            let _ = decode_share(&garbage);
            let _ = decode_certificate(&garbage);
        }
    }
}
