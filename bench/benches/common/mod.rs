//! Fixtures shared by `tokens.rs` and `tokens_interleaved.rs`: the same fixed clock, key
//! shapes and access token as the unit tests in `x0_core::auth::token`.

// Each bench uses its own subset.
#![allow(dead_code)]

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use biscuit_auth::builder::{fact, string, Term};
use biscuit_auth::{Algorithm, AuthorizerBuilder, AuthorizerLimits, Biscuit, KeyPair, PublicKey};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use x0_core::auth::envelope::{Envelope, NONCE_BYTES};
use x0_core::auth::gate::{Gate, GateConfig};
use x0_core::auth::replay::{Nonce, ReplayGuard};
use x0_core::auth::token::{
    derive_access, mint, BiscuitVerifier, Grant, Operation, Right, VerifierConfig, VerifierStats,
    ACCESS_TTL_S_DEFAULT, CREDENTIAL_TTL_S_DEFAULT,
};
use x0_core::certify::proposal::ProposalId;
use x0_core::certify::scheme::SIGNATURE_BYTES;
use x0_core::certify::threshold::ChangeClass;
use x0_core::certify::wire::ShareMessage;
use x0_core::ids::{NodeSigner, PeerKey, SignatureCheck};
use x0_node::node_keys::{NodeKeys, PeerSignatures};
use x0_simulator::seals::ModelSeals;

const SEAL_SEED: u64 = 1;
use x0_core::topics;

pub const NOW_S: u64 = 1_800_000_000;
pub const NOW_MS: u64 = NOW_S * 1000;
pub const SKEW_MS: u64 = 30_000;
/// The pre-filled live-nonce counts of the `nonce` benches.
pub const NONCE_SET_SIZES: [usize; 3] = [1_024, 65_536, 262_144];

pub fn authority_key(seed: u8) -> KeyPair {
    KeyPair::new_with_rng(Algorithm::Ed25519, &mut ChaCha8Rng::from_seed([seed; 32]))
}

/// The shape of an Ed25519 PeerId: identity multihash of a protobuf public key.
pub fn peer(i: u8) -> PeerKey {
    let mut bytes = vec![0x00, 0x24, 0x08, 0x01, 0x12, 0x20];
    bytes.extend([i; 32]);
    PeerKey(bytes)
}

/// A two-block access token: the credential (all four rights on their own topics) and
/// the access block `derive_access` appends.
pub fn access_token(authority: &KeyPair, member: &PeerKey) -> Vec<u8> {
    let credential = mint(
        authority,
        &Grant {
            member: member.clone(),
            rights: Operation::ALL
                .into_iter()
                .map(Right::on_own_topic)
                .collect(),
            expires_unix_s: NOW_S + CREDENTIAL_TTL_S_DEFAULT,
        },
    )
    .expect("mint");
    derive_access(
        &credential,
        &authority.public(),
        NOW_S,
        ACCESS_TTL_S_DEFAULT,
    )
    .expect("derive_access")
}

/// Biscuit's plain documented path for the same request: parse (signature chain), an
/// `AuthorizerBuilder` with the same four facts and the same allow policy, `build`,
/// `authorize`. Biscuit's default limits but x0's 50 ms wall-clock budget: the default
/// 1 ms budget fails with `RunLimit(Timeout)` whenever this shared machine preempts the
/// bench, and a deadline does not change what is computed.
pub fn biscuit_plain(token: &[u8], root: PublicKey, holder_text: &str) -> usize {
    let biscuit = Biscuit::from(token, root).expect("parses");
    let mut authorizer = AuthorizerBuilder::new()
        .set_limits(AuthorizerLimits {
            max_time: Duration::from_millis(50),
            ..AuthorizerLimits::default()
        })
        .fact(fact("time", &[Term::Date(NOW_S)]))
        .and_then(|a| a.fact(fact("holder", &[string(holder_text)])))
        .and_then(|a| a.fact(fact("operation", &[string(Operation::Sign.as_str())])))
        .and_then(|a| a.fact(fact("topic", &[string(topics::SHARES)])))
        .and_then(|a| {
            a.policy("allow if member($m), holder($m), operation($op), topic($t), right($op, $t)")
        })
        .and_then(|a| a.build(&biscuit))
        .expect("authorizer");
    authorizer.authorize().expect("allowed")
}

pub fn share() -> Vec<u8> {
    ShareMessage {
        class: ChangeClass::Standard,
        id: ProposalId([3; 32]),
        member: 1,
        share: [5; SIGNATURE_BYTES],
    }
    .encode()
}

/// An envelope sealed anew for each message, with a new nonce and timestamp, by `N`: the
/// simulator's modelled seal (one SHA-256 to make, one to check), which isolates the token
/// and nonce work, or the node's own ed25519 node key, which is what a node pays.
pub struct Message<N: NodeSigner> {
    token: Vec<u8>,
    payload: Vec<u8>,
    sealer: N,
    bytes: Vec<u8>,
}

impl<N: NodeSigner> Message<N> {
    pub fn new(token: &[u8], payload: &[u8], sealer: N) -> Message<N> {
        Message {
            token: token.to_vec(),
            payload: payload.to_vec(),
            sealer,
            bytes: Vec::new(),
        }
    }

    pub fn stamp(&mut self, counter: u64, timestamp_unix_ms: u64) -> &[u8] {
        let mut nonce = [0; NONCE_BYTES];
        nonce[..8].copy_from_slice(&counter.to_be_bytes());
        self.bytes = Envelope {
            token: &self.token,
            nonce,
            timestamp_unix_ms,
            payload: &self.payload,
        }
        .seal(topics::SHARES, &self.sealer);
        &self.bytes
    }
}

/// How a [`GateLoop`] seals and checks envelopes.
pub trait Seals {
    type Check: SignatureCheck;
    type Signer: NodeSigner;
    /// The member's PeerKey, its signer, and the gate's check.
    fn member() -> (PeerKey, Self::Signer, Self::Check);
}

/// The simulator's modelled seal.
pub struct Modelled;

impl Seals for Modelled {
    type Check = ModelSeals;
    type Signer = x0_simulator::seals::ModelSealer;
    fn member() -> (PeerKey, Self::Signer, Self::Check) {
        let member = peer(1);
        let seals = ModelSeals::new(SEAL_SEED);
        (member.clone(), seals.of(member), seals)
    }
}

/// The node's ed25519 node key, checked from the PeerId as a node checks it.
pub struct NodeKey;

impl Seals for NodeKey {
    type Check = PeerSignatures;
    type Signer = NodeKeys;
    fn member() -> (PeerKey, Self::Signer, Self::Check) {
        let keypair = libp2p::identity::Keypair::ed25519_from_bytes([7u8; 32]).expect("key");
        let keys = NodeKeys::new(keypair);
        (keys.signer().clone(), keys, PeerSignatures)
    }
}

/// A seen-nonce guard holding `live` random nonces, with room for twice as many.
pub fn prefilled_guard(live: usize, rng: &mut ChaCha8Rng) -> ReplayGuard {
    let mut guard = ReplayGuard::new(SKEW_MS, 2 * live, NOW_MS);
    for _ in 0..live {
        guard
            .admit(&rng.gen(), NOW_MS, NOW_MS)
            .expect("fresh nonce");
    }
    guard
}

/// The baseline's structure: a bare std `HashMap` holding `live` random nonces.
pub fn prefilled_map(live: usize, rng: &mut ChaCha8Rng) -> HashMap<Nonce, u64> {
    let mut map = HashMap::new();
    for _ in 0..live {
        map.insert(rng.gen(), NOW_MS + SKEW_MS);
    }
    map
}

/// Times `iters` insertions of fresh random nonces into a structure kept between `live`
/// and `live + live / 4` entries: rebuilt, untimed, whenever it reaches the top. The
/// nonces are drawn before the clock starts. Returns the timed part only.
pub fn time_inserts<S>(
    iters: u64,
    live: usize,
    state: &mut S,
    rng: &mut ChaCha8Rng,
    rebuild: impl Fn(usize, &mut ChaCha8Rng) -> S,
    len: impl Fn(&S) -> usize,
    mut insert: impl FnMut(&mut S, &Nonce),
) -> Duration {
    let top = live + live / 4;
    let mut batch: Vec<Nonce> = vec![[0; NONCE_BYTES]; live / 4];
    let mut total = Duration::ZERO;
    let mut left = iters as usize;
    while left > 0 {
        if len(state) >= top {
            *state = rebuild(live, rng);
        }
        let n = left.min(top - len(state));
        for nonce in &mut batch[..n] {
            rng.fill(nonce);
        }
        let start = Instant::now();
        for nonce in &batch[..n] {
            insert(state, black_box(nonce));
        }
        total += start.elapsed();
        left -= n;
    }
    total
}

/// One `ReplayGuard::admit` with the clock fixed (nothing expires).
pub fn guard_admit(guard: &mut ReplayGuard, nonce: &Nonce) {
    assert!(guard.admit(nonce, NOW_MS, NOW_MS).is_ok());
}

/// The baseline's one insert.
pub fn map_insert(map: &mut HashMap<Nonce, u64>, nonce: &Nonce) {
    assert!(map.insert(*nonce, NOW_MS + SKEW_MS).is_none());
}

/// A gate admitting share envelopes from one member, each with a new nonce and the clock
/// 1 ms further on (a node admitting 1,000 messages a second: about 30,000 live nonces in
/// the guard, swept as they leave the window).
pub struct GateLoop<K: Seals> {
    gate: Gate<BiscuitVerifier, x0_core::known_topics::KnownTopics, K::Check>,
    messages: Vec<Message<K::Signer>>,
    now_ms: u64,
    counter: u64,
}

impl<K: Seals> GateLoop<K> {
    /// One token and the default verifier, warmed up: every timed admission hits the cache.
    pub fn cached(authority: &KeyPair) -> GateLoop<K> {
        let (member, signer, check) = K::member();
        let token = access_token(authority, &member);
        let mut this = GateLoop::new(
            authority,
            vec![(token, signer)],
            check,
            VerifierConfig::default(),
        );
        this.admit_one();
        this
    }

    /// Two tokens of the same member, taken in turn, and a cache of one entry: every
    /// admission misses (hash, lookup, full verification, insert with its eviction).
    pub fn uncached(authority: &KeyPair) -> GateLoop<K> {
        let (member, first, check) = K::member();
        let (_, second, _) = K::member();
        let tokens = vec![
            access_token(authority, &member),
            access_token(authority, &member),
        ];
        assert_ne!(tokens[0], tokens[1]);
        let config = VerifierConfig {
            cache_entries_max: 1,
            ..VerifierConfig::default()
        };
        let messages = tokens.into_iter().zip([first, second]).collect();
        GateLoop::new(authority, messages, check, config)
    }

    fn new(
        authority: &KeyPair,
        messages: Vec<(Vec<u8>, K::Signer)>,
        check: K::Check,
        config: VerifierConfig,
    ) -> GateLoop<K> {
        let payload = share();
        GateLoop {
            gate: Gate::new(
                BiscuitVerifier::new(authority.public(), config),
                // One member at 1,000 messages a second: under the defaults its share of
                // the nonce table (16,384) fills in 16 s and its messages are refused, as
                // they should be. The bench measures admission, not that refusal: the
                // member may use the whole table, and messages live 30 s, so the guard
                // holds about 30,000 live nonces swept as they leave, the regime of the
                // figures measured before the lifetime became an hour.
                GateConfig {
                    lifetime_ms: 30_000,
                    nonces_per_holder_max: GateConfig::default().nonces_max,
                    ..GateConfig::default()
                },
                x0_core::known_topics::KnownTopics,
                check,
                NOW_MS,
            ),
            messages: messages
                .into_iter()
                .map(|(token, signer)| Message::new(&token, &payload, signer))
                .collect(),
            now_ms: NOW_MS,
            counter: 0,
        }
    }

    pub fn admit_one(&mut self) {
        self.counter += 1;
        self.now_ms += 1;
        let which = (self.counter % self.messages.len() as u64) as usize;
        let data = self.messages[which].stamp(self.counter, self.now_ms);
        let admitted = self
            .gate
            .admit(topics::SHARES, black_box(data), self.now_ms)
            .expect("admitted");
        black_box(admitted.nonce);
    }

    pub fn stats(&self) -> VerifierStats {
        self.gate.verifier().stats()
    }

    pub fn live_nonces(&self) -> usize {
        self.gate.replay_guard().len()
    }
}
