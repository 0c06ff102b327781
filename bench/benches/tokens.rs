//! Capability tokens, the seen-nonce guard and the admission gate, each next to a
//! baseline in the same run (docs/BENCHMARKS.md, "Capability tokens and replay guard").
//!
//! * `token/verify_full_two_blocks`: an access token (the authority's credential plus
//!   the block `derive_access` appends) through `BiscuitVerifier::verify_uncached`:
//!   signature chain, member, declared dates, datalog authorization.
//! * `token/verify_cached`: the same token and request through `TokenVerifier::verify`
//!   after one warm-up call: SHA-256 of the token, LRU lookup, expiry and holder compare.
//! * baselines: `token/baseline_biscuit_plain` parses the same token with
//!   `Biscuit::from` and authorizes it the way biscuit documents (`AuthorizerBuilder`
//!   with the same four facts and the same allow policy, `build`, `authorize`; the same
//!   50 ms wall-clock budget as x0), without our member and date queries;
//!   `token/baseline_biscuit_parse_only` is `Biscuit::from` alone (the signature chain
//!   and block decoding); `token/baseline_ed25519_verify` is one Ed25519
//!   verification of a 64-byte message through biscuit's own `PublicKey` (ed25519-dalek
//!   `verify_strict`, the call biscuit makes once per block).
//! * `nonce/check_and_insert/{1024,65536,262144}`: `ReplayGuard::admit` of fresh random
//!   nonces into a guard pre-filled with that many live nonces, `now` fixed so nothing
//!   expires. The guard is rebuilt (untimed) whenever it has grown by a quarter, so the
//!   live set stays within [size, 1.25 x size], and std's `HashMap` never resizes inside
//!   the timed part. `nonce/baseline_hashmap_insert/*`: a bare `HashMap<[u8; 16], u64>`
//!   insert under the same regime.
//! * `gate/admit_cached`, `gate/admit_uncached`: `Gate::admit` of a share envelope, each
//!   iteration with a new nonce and the clock 1 ms further on (a node admitting 1,000
//!   messages a second: about 30,000 live nonces in the guard, swept as they leave the
//!   window). Uncached: the verifier's cache holds one entry and the iterations alternate
//!   between two access tokens of the same member, so every verification misses (the
//!   hash, the lookup, the full verification and the LRU insert with its eviction).
//!
//! Messages authorised per second per core = 1 / median of a `gate/*` bench (criterion
//! runs one thread). `tokens_interleaved.rs` times the same paths in alternation, for
//! ratios that a shared machine's drifting load does not skew.
//!
//! Run: `cargo bench -p x0-bench --bench tokens`

mod common;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use x0_core::auth::token::{
    peer_text, BiscuitVerifier, Operation, Request, TokenVerifier, VerifierConfig,
};
use x0_core::topics;

use common::*;
use x0_core::ids::NodeSigner;

fn tokens(c: &mut Criterion) {
    let authority = authority_key(1);
    let root = authority.public();
    let member = peer(1);
    let token = access_token(&authority, &member);
    let request = Request {
        holder: &member,
        operation: Operation::Sign,
        topic: topics::SHARES,
    };
    let verifier = BiscuitVerifier::new(root, VerifierConfig::default());
    let mut cached = BiscuitVerifier::new(root, VerifierConfig::default());
    let granted = cached
        .verify(&token, &request, NOW_MS)
        .expect("the token grants the request");
    assert_eq!(granted.revocation_ids.len(), 2, "two blocks");
    assert_eq!(cached.stats().cache_misses, 1);

    let mut group = c.benchmark_group("token");
    group.bench_function("verify_full_two_blocks", |b| {
        b.iter(|| {
            black_box(
                verifier
                    .verify_uncached(black_box(&token), &request, NOW_MS)
                    .expect("granted"),
            )
        })
    });
    group.bench_function("verify_cached", |b| {
        b.iter(|| {
            black_box(
                cached
                    .verify(black_box(&token), &request, NOW_MS)
                    .expect("granted"),
            )
        })
    });
    assert_eq!(
        cached.stats().cache_misses,
        1,
        "every timed call hit the cache"
    );

    let holder = peer_text(&member);
    group.bench_function("baseline_biscuit_plain", |b| {
        b.iter(|| black_box(biscuit_plain(black_box(&token), root, &holder)))
    });
    group.bench_function("baseline_biscuit_parse_only", |b| {
        b.iter(|| {
            black_box(biscuit_auth::Biscuit::from(black_box(&token[..]), root).expect("parses"))
        })
    });
    let message = [0x5a_u8; 64];
    let signature = authority.sign(&message).expect("sign");
    group.bench_function("baseline_ed25519_verify", |b| {
        b.iter(|| {
            root.verify_signature(black_box(&message), black_box(&signature))
                .expect("verifies")
        })
    });
    group.finish();
}

fn nonces(c: &mut Criterion) {
    let mut group = c.benchmark_group("nonce");
    for live in NONCE_SET_SIZES {
        let mut rng = ChaCha8Rng::seed_from_u64(live as u64);
        // Filled on first use, so a run filtered to other benches skips the filling.
        let mut guard = None;
        group.bench_function(BenchmarkId::new("check_and_insert", live), |b| {
            b.iter_custom(|iters| {
                let guard = guard.get_or_insert_with(|| prefilled_guard(live, &mut rng));
                time_inserts(
                    iters,
                    live,
                    guard,
                    &mut rng,
                    prefilled_guard,
                    |g| g.len(),
                    guard_admit,
                )
            })
        });
        let mut map = None;
        group.bench_function(BenchmarkId::new("baseline_hashmap_insert", live), |b| {
            b.iter_custom(|iters| {
                let map = map.get_or_insert_with(|| prefilled_map(live, &mut rng));
                time_inserts(
                    iters,
                    live,
                    map,
                    &mut rng,
                    prefilled_map,
                    |m| m.len(),
                    map_insert,
                )
            })
        });
    }
    group.finish();
}

fn gate(c: &mut Criterion) {
    let authority = authority_key(1);
    let mut group = c.benchmark_group("gate");
    let mut cached = GateLoop::<Modelled>::cached(&authority);
    group.bench_function("admit_cached", |b| b.iter(|| cached.admit_one()));
    let stats = cached.stats();
    assert_eq!(stats.cache_misses, 1, "only the warm-up missed: {stats:?}");

    let mut uncached = GateLoop::<Modelled>::uncached(&authority);
    group.bench_function("admit_uncached", |b| b.iter(|| uncached.admit_one()));
    let stats = uncached.stats();
    assert_eq!(stats.cache_hits, 0, "every call missed: {stats:?}");

    // The same with the node's ed25519 seal: what a node pays per admission. Sealing is
    // the sender's cost, but it happens inside the timed call here too (a fresh seal per
    // message): the bench reports it alone as `seal/ed25519_sign` to subtract.
    let mut node_cached = GateLoop::<NodeKey>::cached(&authority);
    group.bench_function("admit_cached_node_seal", |b| {
        b.iter(|| node_cached.admit_one())
    });
    group.finish();

    let (_, signer, _) = NodeKey::member();
    let signed = vec![0x5a_u8; 800];
    c.bench_function("seal/ed25519_sign", |b| {
        b.iter(|| black_box(signer.sign(black_box(&signed))))
    });
}

criterion_group!(benches, tokens, nonces, gate);
criterion_main!(benches);
