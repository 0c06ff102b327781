//! The two signature suites a run can use, behind what the world needs of them beyond
//! the node's own use: dealing keys from the run's RNG, signing as a Byzantine member
//! (with that member's key, nothing else), and checking certificates strictly for the
//! report. Real BLS for small runs; the cost-modelled suite ([`crate::model_crypto`]) for
//! large ones, or wherever the scenario asks for it. Capability tokens follow the suite:
//! real biscuit tokens with real BLS, the cost-free token model with the modelled suite
//! ([`crate::tokens`]).

use std::rc::Rc;

use blsttc::SecretKeySet;
use rand_chacha::ChaCha8Rng;
use x0_core::certify::committee::key_set_threshold;
use x0_core::certify::scheme::{
    decode_certificate, Bls, BlsCommittee, BlsMember, MemberIndex, Suite, ThresholdScheme,
    SIGNATURE_BYTES,
};
use x0_core::certify::threshold::ChangeClass;

use crate::model_crypto::{ModelKeys, Modelled, OperationCount, Weakness};
use crate::model_tokens::ModelTokens;
use crate::tokens::{BiscuitTokens, SimTokens};

pub trait SimSuite: Suite {
    /// One class's secret key set.
    type Keys;
    /// The capability tokens that go with this suite.
    type Tokens: SimTokens;

    fn deal(
        committee_size: usize,
        class: ChangeClass,
        rng: &mut ChaCha8Rng,
        weakness: Weakness,
        count: &Rc<OperationCount>,
    ) -> Self::Keys;
    /// What every node verifies with.
    fn scheme(keys: &Self::Keys, committee_size: usize) -> Self::Scheme;
    fn signer(keys: &Self::Keys, member: MemberIndex) -> Self::Signer;
    /// Member `member`'s share over `message`, in wire form.
    fn sign(keys: &Self::Keys, member: MemberIndex, message: &[u8]) -> [u8; SIGNATURE_BYTES];
    /// Whether `signature` is the certificate of `message`, checked with the real
    /// semantics even when the nodes ran a weakened core.
    fn verifies_strictly(
        keys: &Self::Keys,
        scheme: &Self::Scheme,
        message: &[u8],
        signature: &[u8],
    ) -> bool;
}

impl SimSuite for Bls {
    type Keys = SecretKeySet;
    type Tokens = BiscuitTokens;

    fn deal(
        committee_size: usize,
        class: ChangeClass,
        rng: &mut ChaCha8Rng,
        weakness: Weakness,
        _count: &Rc<OperationCount>,
    ) -> SecretKeySet {
        assert_eq!(weakness, Weakness::None, "BLS runs are never weakened");
        SecretKeySet::random(key_set_threshold(committee_size, class), rng)
    }

    fn scheme(keys: &SecretKeySet, committee_size: usize) -> BlsCommittee {
        BlsCommittee::new(keys.public_keys(), committee_size)
    }

    fn signer(keys: &SecretKeySet, member: MemberIndex) -> BlsMember {
        BlsMember::new(member, keys.secret_key_share(usize::from(member)))
    }

    fn sign(keys: &SecretKeySet, member: MemberIndex, message: &[u8]) -> [u8; SIGNATURE_BYTES] {
        keys.secret_key_share(usize::from(member))
            .sign(message)
            .to_bytes()
    }

    /// BLS runs are never weakened: the nodes' scheme is the strict one.
    fn verifies_strictly(
        _keys: &SecretKeySet,
        scheme: &BlsCommittee,
        message: &[u8],
        signature: &[u8],
    ) -> bool {
        decode_certificate(signature)
            .is_ok_and(|signature| scheme.verify_certificate(message, &signature))
    }
}

impl SimSuite for Modelled {
    type Keys = ModelKeys;
    type Tokens = ModelTokens;

    fn deal(
        committee_size: usize,
        class: ChangeClass,
        rng: &mut ChaCha8Rng,
        weakness: Weakness,
        count: &Rc<OperationCount>,
    ) -> ModelKeys {
        use rand::Rng;
        ModelKeys::new(
            rng.gen(),
            key_set_threshold(committee_size, class),
            committee_size,
            weakness,
            count.clone(),
        )
    }

    fn scheme(keys: &ModelKeys, _committee_size: usize) -> ModelKeys {
        keys.clone()
    }

    fn signer(keys: &ModelKeys, member: MemberIndex) -> crate::model_crypto::ModelMember {
        keys.signer(member)
    }

    fn sign(keys: &ModelKeys, member: MemberIndex, message: &[u8]) -> [u8; SIGNATURE_BYTES] {
        Modelled::encode_share(&keys.sign(member, message))
    }

    fn verifies_strictly(
        keys: &ModelKeys,
        _scheme: &ModelKeys,
        message: &[u8],
        signature: &[u8],
    ) -> bool {
        Modelled::decode_certificate(signature)
            .is_ok_and(|signature| keys.strict().verify_certificate(message, &signature))
    }
}
