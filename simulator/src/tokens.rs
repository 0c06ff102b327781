//! Capability tokens in the simulated world: the network authority, the credentials it
//! mints, the access tokens nodes derive from them, and the verifier every node's gate
//! runs. Like the signature suites ([`crate::crypto`]), there are two: real biscuit tokens
//! ([`BiscuitTokens`], the node's own code from `x0_core::auth::token`) for runs with
//! real BLS, and a cost-free model with the same accept/refuse semantics
//! ([`crate::model_tokens::ModelTokens`]) for runs with modelled crypto, where a real
//! verification (about 100 µs per cache miss, at every node for every member's token)
//! would dominate a 10,000-node run.

use biscuit_auth::{Algorithm, KeyPair};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use x0_core::auth::token::{
    self, BiscuitVerifier, Grant, RevocationError, RevocationList, TokenVerifier, VerifierConfig,
};

use crate::model_crypto::Weakness;

/// What the world needs of a token scheme.
pub trait SimTokens {
    /// A key pair that mints credentials: the network authority's, or a forger's own.
    type Authority;
    /// What a node's gate checks tokens with.
    type Verifier: TokenVerifier;

    /// A key pair drawn from the run's RNG: the same seed, the same authority.
    fn authority(rng: &mut ChaCha8Rng) -> Self::Authority;
    /// A member credential minted with `authority`; `entropy` seeds what the scheme
    /// would draw at random, so a seed replays the same bytes.
    fn mint(authority: &Self::Authority, grant: &Grant, entropy: [u8; 32]) -> Vec<u8>;
    /// The access token a node derives from its credential (minted by `authority`): the
    /// credential, valid `ttl_s` more seconds from `now_unix_s`.
    fn derive_access(
        authority: &Self::Authority,
        credential: &[u8],
        now_unix_s: u64,
        ttl_s: u64,
        entropy: [u8; 32],
    ) -> Vec<u8>;
    /// A verifier that trusts `authority` and nothing else.
    fn verifier(
        authority: &Self::Authority,
        config: VerifierConfig,
        weakness: Weakness,
    ) -> Self::Verifier;
    /// The id that revokes `credential` (minted by `authority`) and every access token
    /// derived from it: what the verifier names first in `Granted::revocation_ids`.
    fn revocation_id(authority: &Self::Authority, credential: &[u8]) -> Vec<u8>;
    /// A revocation list signed by `authority`, as `x0 revoke` makes one.
    fn mint_revocations(
        authority: &Self::Authority,
        list: &RevocationList,
        entropy: [u8; 32],
    ) -> Vec<u8>;
    /// Reads untrusted bytes as a list signed by `authority`, as the auth actor does.
    fn read_revocations(
        authority: &Self::Authority,
        bytes: &[u8],
    ) -> Result<RevocationList, RevocationError>;
}

/// Real biscuit tokens, minted, derived and verified by the node's code.
///
/// The authority's key pair comes from the run's RNG, and the key of each block from the
/// world's `entropy` (biscuit would draw it from the operating system): the token bytes
/// are the same in every run of a seed. They must be, since sync names items by the hash
/// of their bytes, and the order it fetches them in follows those names.
pub struct BiscuitTokens;

impl SimTokens for BiscuitTokens {
    type Authority = KeyPair;
    type Verifier = BiscuitVerifier;

    fn authority(rng: &mut ChaCha8Rng) -> KeyPair {
        KeyPair::new_with_rng(Algorithm::Ed25519, rng)
    }

    fn mint(authority: &KeyPair, grant: &Grant, entropy: [u8; 32]) -> Vec<u8> {
        token::mint_with_rng(authority, grant, &mut ChaCha8Rng::from_seed(entropy))
            .expect("the world mints well-formed grants")
    }

    fn derive_access(
        authority: &KeyPair,
        credential: &[u8],
        now_unix_s: u64,
        ttl_s: u64,
        entropy: [u8; 32],
    ) -> Vec<u8> {
        token::derive_access_with_rng(
            credential,
            &authority.public(),
            now_unix_s,
            ttl_s,
            &mut ChaCha8Rng::from_seed(entropy),
        )
        .expect("a credential the world minted with this key derives")
    }

    fn verifier(
        authority: &KeyPair,
        config: VerifierConfig,
        weakness: Weakness,
    ) -> BiscuitVerifier {
        assert_eq!(
            weakness,
            Weakness::None,
            "runs with real tokens are never weakened"
        );
        BiscuitVerifier::new(authority.public(), config)
    }

    fn revocation_id(authority: &KeyPair, credential: &[u8]) -> Vec<u8> {
        token::credential_revocation_id(credential, &authority.public())
            .expect("a credential the world minted with this key parses")
    }

    fn mint_revocations(authority: &KeyPair, list: &RevocationList, entropy: [u8; 32]) -> Vec<u8> {
        token::mint_revocations_with_rng(authority, list, &mut ChaCha8Rng::from_seed(entropy))
            .expect("the world mints lists of 1..=REVOCATION_IDS_PER_LIST_MAX ids")
    }

    fn read_revocations(
        authority: &KeyPair,
        bytes: &[u8],
    ) -> Result<RevocationList, RevocationError> {
        token::read_revocations(bytes, &authority.public())
    }
}
