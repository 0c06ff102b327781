//! Two BLS operations composed from the audited libraries under blsttc, faster than
//! blsttc's own and with the same answers:
//!
//! * [`combine_signatures`]: interpolation in the exponent. The Lagrange coefficients at 0
//!   are computed with blstrs' `Scalar` field operations (the field type blsttc re-exports as
//!   `Fr`, with ff's batch inversion), then the shares are combined by ONE G2 multi-scalar
//!   multiplication (blst's Pippenger, `MultiPoint::mult`), where blsttc multiplies each
//!   share by its coefficient separately (34 separate 255-bit G2 multiplications at
//!   n = 100). The result is the very point blsttc computes: a property test checks it is
//!   byte-identical to `PublicKeySet::combine_signatures` over thousands of random signer
//!   subsets at n = 4, 10, 100 and 300. Callers verify the combined signature before they
//!   use it, as they did with blsttc's. `BlsCommittee::combine` uses it from
//!   `COMPOSED_COMBINE_SHARES_MIN` (32) shares, where blst's multiplication is Pippenger.
//! * [`shares_valid_batch`]: randomised batch verification of k shares of ONE message
//!   (all shares of a proposal sign the same bytes): with weights r_i, Σ r_i·σ_i is checked
//!   against Σ r_i·pk_i by one BLS verification (blst's `aggregate_with_randomness` for
//!   signatures and keys, then `fast_aggregate_verify_pre_aggregated`), instead of k.
//!
//! No curve or field arithmetic of our own: points cross between blsttc and blst only as
//! their standard compressed encodings, and every operation is a public call of blstrs,
//! ff or blst (the versions blsttc 8 itself depends on, through blsttc's re-exports).

use blst::min_pk as blst_bls;
use blst::{MultiPoint, BLST_ERROR};
use blsttc::blstrs::Scalar;
use blsttc::group::ff::{BatchInvert, Field};
use blsttc::{Signature, SignatureShare};
use sha2::{Digest, Sha256};

use super::scheme::MemberIndex;

/// Bits of a Lagrange coefficient: the scalar field of BLS12-381 has a 255-bit modulus.
const SCALAR_BITS: usize = 255;

/// Bits of a batch weight. A set of shares with at least one invalid share passes the
/// batch check only if Σ r_i·ε_i = 0 for the errors ε_i of the invalid shares; with
/// weights the senders cannot predict or steer that happens with probability 2^-127 per
/// try (one bit is fixed to keep every weight nonzero), and a try means re-hashing the
/// whole batch, so it cannot be ground offline either.
const WEIGHT_BITS: usize = 128;

/// Domain tag of the batch weights' hash.
const WEIGHT_DOMAIN: &[u8] = b"x0/1/share-batch-weights";

/// Member `member`'s evaluation point in blsttc's key set: index + 1 (blsttc's
/// `into_fr_plus_1`), so that 0 is the group secret.
fn evaluation_point(member: MemberIndex) -> Scalar {
    Scalar::from(u64::from(member) + 1)
}

/// The Lagrange coefficients at 0 of the evaluation points of `members`, in their order:
/// λ_i = Π_{j≠i} x_j / (x_j − x_i). `None` if a member repeats (a zero denominator).
pub fn lagrange_at_zero(members: &[MemberIndex]) -> Option<Vec<Scalar>> {
    let xs: Vec<Scalar> = members.iter().map(|m| evaluation_point(*m)).collect();
    let k = xs.len();
    // Numerators: the product of all x_j but x_i, from prefix and suffix products (no
    // inversion, and correct for any nonzero x).
    let mut suffix = vec![Scalar::one(); k + 1];
    for i in (0..k).rev() {
        suffix[i] = suffix[i + 1] * xs[i];
    }
    let mut numerators = Vec::with_capacity(k);
    let mut prefix = Scalar::one();
    for i in 0..k {
        numerators.push(prefix * suffix[i + 1]);
        prefix *= xs[i];
    }
    let mut denominators: Vec<Scalar> = (0..k)
        .map(|i| {
            xs.iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .fold(Scalar::one(), |acc, (_, xj)| acc * (*xj - xs[i]))
        })
        .collect();
    if denominators.iter().any(|d| bool::from(d.is_zero())) {
        return None;
    }
    // One inversion for all k denominators (Montgomery's trick, ff's implementation).
    denominators.iter_mut().batch_invert();
    Some(
        numerators
            .into_iter()
            .zip(denominators)
            .map(|(n, d_inverse)| n * d_inverse)
            .collect(),
    )
}

/// A blsttc share as blst's signature type: the same point, through its compressed bytes.
/// No subgroup check here: blsttc's decoder checked it (a `SignatureShare` is only ever
/// made from checked bytes or by signing), and the results are checked again where it
/// matters (a combined signature is verified with blst's group check).
fn blst_point(share: &SignatureShare) -> Option<blst_bls::Signature> {
    blst_bls::Signature::from_bytes(&share.to_bytes()).ok()
}

/// Combines shares of distinct members into the group signature, as blsttc's
/// `PublicKeySet::combine_signatures` over exactly these shares does (same bytes). All the
/// shares given are used: pass exactly threshold + 1. `None` for no shares, a repeated
/// member, or bytes blst does not take back.
///
/// This does not check any share: a bad share gives a signature that does not verify.
/// Verify the result before using it.
pub fn combine_signatures(shares: &[(MemberIndex, &SignatureShare)]) -> Option<Signature> {
    if shares.is_empty() {
        return None;
    }
    let members: Vec<MemberIndex> = shares.iter().map(|(member, _)| *member).collect();
    let coefficients = lagrange_at_zero(&members)?;
    let points: Vec<blst_bls::Signature> = shares
        .iter()
        .map(|(_, share)| blst_point(share))
        .collect::<Option<_>>()?;
    let scalars: Vec<u8> = coefficients.iter().flat_map(Scalar::to_bytes_le).collect();
    // Pippenger over all shares at once (on blst's thread pool when it has cores).
    let combined = points.mult(&scalars, SCALAR_BITS).to_signature();
    // Back through blsttc's checked decoder: the result is a blsttc `Signature` like the
    // one its own combination returns.
    Signature::from_bytes(combined.compress()).ok()
}

/// The batch weights: 128-bit scalars (little-endian, as blst takes them) derived with
/// SHA-256 from everything in the batch: the message and every (key, share) pair. A sender
/// who changes anything in its share changes every weight, so no weight is known before
/// all the shares are fixed.
fn batch_weights(message: &[u8], entries: &[(&blst_bls::PublicKey, &SignatureShare)]) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(WEIGHT_DOMAIN);
    hasher.update((message.len() as u64).to_be_bytes());
    hasher.update(message);
    hasher.update((entries.len() as u64).to_be_bytes());
    for (key, share) in entries {
        hasher.update(key.compress());
        hasher.update(share.to_bytes());
    }
    let seed = hasher.finalize();
    let mut weights = Vec::with_capacity(entries.len() * WEIGHT_BITS / 8);
    for i in 0..entries.len() as u64 {
        let mut block: [u8; 32] = Sha256::new()
            .chain_update(seed)
            .chain_update(i.to_be_bytes())
            .finalize()
            .into();
        // Never a zero weight: a zero would leave that share out of the check.
        block[0] |= 1;
        weights.extend_from_slice(&block[..WEIGHT_BITS / 8]);
    }
    weights
}

/// True when every share verifies under its key for `message` (blsttc's ciphersuite,
/// `blsttc::DST`), checked at once: one BLS verification of the weighted sums instead of
/// one per share. False when at least one does not, up to a probability of 2^-127 (see
/// [`WEIGHT_BITS`]); a false names nobody, so the caller checks the shares one by one
/// then. True for an empty batch.
///
/// Keys must be validated (in G1, not the identity): `PublicKey::key_validate`.
pub fn shares_valid_batch(
    message: &[u8],
    entries: &[(&blst_bls::PublicKey, &SignatureShare)],
) -> bool {
    if entries.is_empty() {
        return true;
    }
    let Some(signatures) = entries
        .iter()
        .map(|(_, share)| blst_point(share))
        .collect::<Option<Vec<_>>>()
    else {
        return false;
    };
    let keys: Vec<blst_bls::PublicKey> = entries.iter().map(|(key, _)| **key).collect();
    let weights = batch_weights(message, entries);
    // Group checks off: the keys were validated when the committee was built, the shares
    // by blsttc's decoder (see `blst_point`).
    let (Ok(signature), Ok(key)) = (
        blst_bls::AggregateSignature::aggregate_with_randomness(
            &signatures,
            &weights,
            WEIGHT_BITS,
            false,
        ),
        blst_bls::AggregatePublicKey::aggregate_with_randomness(
            &keys,
            &weights,
            WEIGHT_BITS,
            false,
        ),
    ) else {
        return false;
    };
    signature
        .to_signature()
        .fast_aggregate_verify_pre_aggregated(false, message, blsttc::DST, &key.to_public_key())
        == BLST_ERROR::BLST_SUCCESS
}

/// The colluding construction of issue 18, for tests: members `a` and `b` turn their
/// valid shares into σa + λb·Δ and σb − λa·Δ for a random G2 point Δ, where λ are the
/// Lagrange coefficients of `subset` (which holds both). Neither share is valid on its own,
/// yet `subset`'s combination is the valid group signature: λa·λb·Δ − λb·λa·Δ = 0.
#[cfg(test)]
pub(crate) fn colluding_shares(
    (a, share_a): (MemberIndex, &SignatureShare),
    (b, share_b): (MemberIndex, &SignatureShare),
    subset: &[MemberIndex],
    rng: &mut impl rand::RngCore,
) -> (SignatureShare, SignatureShare) {
    use blsttc::blstrs::{G2Affine, G2Projective};
    use blsttc::group::Group;
    let lambda = lagrange_at_zero(subset).expect("distinct members");
    let position = |m: MemberIndex| subset.iter().position(|x| *x == m).expect("in subset");
    let (lambda_a, lambda_b) = (lambda[position(a)], lambda[position(b)]);
    let delta = G2Projective::random(rng);
    let point = |share: &SignatureShare| {
        G2Projective::from(G2Affine::from_compressed(&share.to_bytes()).expect("in G2"))
    };
    let share = |point: G2Projective| {
        SignatureShare::from_bytes(G2Affine::from(point).to_compressed()).expect("in G2")
    };
    (
        share(point(share_a) + delta * lambda_b),
        share(point(share_b) - delta * lambda_a),
    )
}

#[cfg(test)]
mod tests {
    use blsttc::blstrs::{G2Affine, G2Projective};
    use blsttc::group::Group;
    use blsttc::{PublicKeySet, SecretKeySet};
    use rand::seq::index::sample;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::certify::threshold::faulty_max;

    /// One committee of `n` with every member's share of `message`.
    struct Signed {
        key_set: PublicKeySet,
        shares: Vec<SignatureShare>,
        keys: Vec<blst_bls::PublicKey>,
    }

    fn signed(n: usize, seed: u64, message: &[u8]) -> Signed {
        let secret = SecretKeySet::random(faulty_max(n), &mut ChaCha8Rng::seed_from_u64(seed));
        let key_set = secret.public_keys();
        let shares = (0..n)
            .map(|i| secret.secret_key_share(i).sign(message))
            .collect();
        let keys = (0..n)
            .map(|i| {
                blst_bls::PublicKey::key_validate(&key_set.public_key_share(i).to_bytes())
                    .expect("a valid key")
            })
            .collect();
        Signed {
            key_set,
            shares,
            keys,
        }
    }

    /// `subsets` random signer subsets of size t+1 (random members in random order) of a
    /// committee of `n`; about one in eight gets a share of another message, so the
    /// byte-identity also covers combinations that do not verify.
    fn combine_matches_blsttc(n: usize, subsets: usize, seed: u64) {
        let message = b"x0 combine property";
        let s = signed(n, seed, message);
        let other = signed(n, seed, b"another message");
        let needed = s.key_set.threshold() + 1;
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
        let group_signature = s.key_set.public_key();
        for _ in 0..subsets {
            let members: Vec<MemberIndex> = sample(&mut rng, n, needed)
                .into_iter()
                .map(|i| i as MemberIndex)
                .collect();
            let spoiled = rng.gen_ratio(1, 8).then(|| rng.gen_range(0..needed));
            let shares: Vec<(MemberIndex, &SignatureShare)> = members
                .iter()
                .enumerate()
                .map(|(position, &m)| {
                    let from = if spoiled == Some(position) {
                        &other
                    } else {
                        &s
                    };
                    (m, &from.shares[usize::from(m)])
                })
                .collect();
            let ours = combine_signatures(&shares).expect("distinct members combine");
            let theirs = s
                .key_set
                .combine_signatures(shares.iter().map(|(m, share)| (usize::from(*m), *share)))
                .expect("blsttc combines");
            assert_eq!(
                ours.to_bytes(),
                theirs.to_bytes(),
                "n = {n}, members {members:?}"
            );
            assert_eq!(
                group_signature.verify(&ours, message),
                spoiled.is_none(),
                "n = {n}, members {members:?}"
            );
        }
    }

    // Subsets per size: 2,000 + 1,500 + 300 + 60 = 3,860 random signer subsets in all,
    // fewer for the large committees whose blsttc baseline costs tens of milliseconds each.
    #[test]
    fn combine_is_byte_identical_to_blsttc_at_n_4() {
        combine_matches_blsttc(4, 2_000, 4);
    }

    #[test]
    fn combine_is_byte_identical_to_blsttc_at_n_10() {
        combine_matches_blsttc(10, 1_500, 10);
    }

    #[test]
    fn combine_is_byte_identical_to_blsttc_at_n_100() {
        combine_matches_blsttc(100, 300, 100);
    }

    #[test]
    fn combine_is_byte_identical_to_blsttc_at_n_300() {
        combine_matches_blsttc(300, 60, 300);
    }

    #[test]
    fn repeated_members_and_empty_input_do_not_combine() {
        let s = signed(4, 1, b"m");
        assert!(combine_signatures(&[]).is_none());
        assert!(combine_signatures(&[(0, &s.shares[0]), (0, &s.shares[0])]).is_none());
        assert!(lagrange_at_zero(&[3, 1, 3]).is_none());
        // One share is its own combination (threshold 0: λ = 1).
        assert_eq!(
            combine_signatures(&[(2, &s.shares[2])]).unwrap().to_bytes(),
            s.shares[2].to_bytes()
        );
    }

    /// A share of member `m` moved by `by`: on the curve, in G2, and invalid for any
    /// message (unless `by` is the identity).
    fn shifted(share: &SignatureShare, by: &G2Projective) -> SignatureShare {
        let point = G2Projective::from(
            G2Affine::from_compressed(&share.to_bytes()).expect("blsttc's point"),
        ) + by;
        SignatureShare::from_bytes(G2Affine::from(point).to_compressed()).expect("in G2")
    }

    /// Batches of random size with 0..=k invalid shares of several kinds (another
    /// message, another member's share, a share moved by a random point, two shares that
    /// cancel in the plain sum): the batch verdict is the AND of blsttc's own `verify` of
    /// each share.
    #[test]
    fn batch_verdict_equals_the_and_of_individual_blsttc_verifications() {
        let n = 32;
        let message = b"x0 batch property";
        let s = signed(n, 77, message);
        let other = signed(n, 77, b"not this message");
        let mut rng = ChaCha8Rng::seed_from_u64(78);
        let (mut passed, mut failed) = (0, 0);
        for round in 0..240 {
            let k = rng.gen_range(1..=n);
            let members: Vec<usize> = sample(&mut rng, n, k).into_vec();
            let mut shares: Vec<SignatureShare> =
                members.iter().map(|&m| s.shares[m].clone()).collect();
            // Half the rounds all valid; the rest with 1..=k spoiled shares.
            let bad_count = if round % 2 == 0 {
                0
            } else {
                rng.gen_range(1..=k)
            };
            for position in sample(&mut rng, k, bad_count).into_vec() {
                shares[position] = match rng.gen_range(0..3) {
                    0 => other.shares[members[position]].clone(),
                    1 => s.shares[(members[position] + 1) % n].clone(),
                    _ => shifted(&shares[position], &G2Projective::random(&mut rng)),
                };
            }
            if k >= 2 && round % 4 == 1 {
                // Errors +Δ and −Δ: they cancel in an unweighted sum, not in a weighted one.
                let delta = G2Projective::random(&mut rng);
                shares[0] = shifted(&s.shares[members[0]], &delta);
                shares[1] = shifted(&s.shares[members[1]], &-delta);
            }
            let entries: Vec<(&blst_bls::PublicKey, &SignatureShare)> = members
                .iter()
                .zip(&shares)
                .map(|(&m, share)| (&s.keys[m], share))
                .collect();
            let individually = members
                .iter()
                .zip(&shares)
                .all(|(&m, share)| s.key_set.public_key_share(m).verify(share, message));
            assert_eq!(
                shares_valid_batch(message, &entries),
                individually,
                "round {round}: {k} shares"
            );
            if individually {
                passed += 1;
            } else {
                failed += 1;
            }
        }
        assert!(passed >= 90 && failed >= 90, "{passed} / {failed}");
        assert!(shares_valid_batch(message, &[]));
    }

    #[test]
    fn colluding_shares_combine_to_the_valid_signature_but_fail_the_batch() {
        let message = b"x0 colluding";
        let s = signed(7, 7, message);
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        let subset: [MemberIndex; 3] = [0, 1, 6];
        let (a, b) = colluding_shares((0, &s.shares[0]), (1, &s.shares[1]), &subset, &mut rng);
        let combined = combine_signatures(&[(0, &a), (1, &b), (6, &s.shares[6])]).unwrap();
        assert!(s.key_set.public_key().verify(&combined, message));
        // Neither share is valid on its own, and the batch says so.
        assert!(!s.key_set.public_key_share(0).verify(&a, message));
        assert!(!s.key_set.public_key_share(1).verify(&b, message));
        let entries = [
            (&s.keys[0], &a),
            (&s.keys[1], &b),
            (&s.keys[6], &s.shares[6]),
        ];
        assert!(!shares_valid_batch(message, &entries));
        // Another subset with one of them does not combine to a valid signature.
        let other = combine_signatures(&[(0, &a), (2, &s.shares[2]), (6, &s.shares[6])]);
        assert!(!s.key_set.public_key().verify(&other.unwrap(), message));
    }

    #[test]
    fn batch_weights_depend_on_every_share_and_are_never_zero() {
        let s = signed(10, 5, b"m");
        let entries: Vec<_> = (0..10).map(|i| (&s.keys[i], &s.shares[i])).collect();
        let weights = batch_weights(b"m", &entries);
        assert_eq!(weights.len(), 10 * 16);
        assert!(weights.chunks(16).all(|w| w.iter().any(|b| *b != 0)));
        let mut changed = entries.clone();
        changed[9].1 = &s.shares[8];
        let other = batch_weights(b"m", &changed);
        // Changing the last share changes the first weight too.
        assert_ne!(weights[..16], other[..16]);
        assert_ne!(weights, batch_weights(b"n", &entries));
    }
}
