//! The paths of `tokens.rs`, timed in alternation: each round runs a short batch of every
//! path, in a fresh random order, so a change in the shared machine's load hits all of
//! them alike. Reports each path's median, 10th and 90th percentile and minimum over the
//! rounds (time per call, from batches of about 2 ms), and each ratio as the median of
//! the per-round ratios.
//!
//! Run: `cargo bench -p x0-bench --bench tokens_interleaved [-- --rounds 400]`

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use x0_core::auth::token::{
    peer_text, BiscuitVerifier, Operation, Request, TokenVerifier, VerifierConfig,
};
use x0_core::topics;

use common::*;

const BATCH: Duration = Duration::from_millis(2);

struct Path<'a> {
    name: String,
    run: Box<dyn FnMut(u64) -> Duration + 'a>,
    per_batch: u64,
    ns: Vec<f64>,
}

impl<'a> Path<'a> {
    fn new(name: impl Into<String>, run: impl FnMut(u64) -> Duration + 'a) -> Path<'a> {
        Path {
            name: name.into(),
            run: Box::new(run),
            per_batch: 1,
            ns: Vec::new(),
        }
    }

    /// Calls per batch of about `BATCH`, from the quickest of five trial batches (a trial
    /// the machine interrupted would make the batches too short).
    fn calibrate(&mut self) {
        let mut calls = 1;
        while (self.run)(calls) < BATCH / 2 {
            calls *= 2;
        }
        let quickest = (0..5)
            .map(|_| (self.run)(calls))
            .min()
            .expect("five trials");
        let per_call = quickest.as_secs_f64() / calls as f64;
        self.per_batch = ((BATCH.as_secs_f64() / per_call) as u64).max(1);
    }

    fn batch(&mut self) {
        let took = (self.run)(self.per_batch);
        self.ns.push(took.as_nanos() as f64 / self.per_batch as f64);
    }
}

fn timed(calls: u64, mut call: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..calls {
        call();
    }
    start.elapsed()
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    quantile(&sorted, 0.5)
}

fn show(ns: f64) -> String {
    if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds: usize = args
        .iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1))
        .map(|n| n.parse().expect("--rounds N"))
        .unwrap_or(400);

    let authority = authority_key(1);
    let root = authority.public();
    let member = peer(1);
    let holder = peer_text(&member);
    let token = access_token(&authority, &member);
    let request = Request {
        holder: &member,
        operation: Operation::Sign,
        topic: topics::SHARES,
    };
    let verifier = BiscuitVerifier::new(root, VerifierConfig::default());
    let mut cached = BiscuitVerifier::new(root, VerifierConfig::default());
    cached.verify(&token, &request, NOW_MS).expect("granted");
    let message = [0x5a_u8; 64];
    let signature = authority.sign(&message).expect("sign");
    let mut gate_cached = GateLoop::<Modelled>::cached(&authority);
    let mut gate_uncached = GateLoop::<Modelled>::uncached(&authority);

    let mut paths = vec![
        Path::new("token/verify_full_two_blocks", |calls| {
            timed(calls, || {
                black_box(
                    verifier
                        .verify_uncached(black_box(&token), &request, NOW_MS)
                        .expect("granted"),
                );
            })
        }),
        Path::new("token/verify_cached", |calls| {
            timed(calls, || {
                black_box(
                    cached
                        .verify(black_box(&token), &request, NOW_MS)
                        .expect("granted"),
                );
            })
        }),
        Path::new("token/baseline_biscuit_plain", |calls| {
            timed(calls, || {
                black_box(biscuit_plain(black_box(&token), root, &holder));
            })
        }),
        Path::new("token/baseline_biscuit_parse_only", |calls| {
            timed(calls, || {
                black_box(
                    biscuit_auth::Biscuit::from(black_box(&token[..]), root).expect("parses"),
                );
            })
        }),
        Path::new("token/baseline_ed25519_verify", |calls| {
            timed(calls, || {
                root.verify_signature(black_box(&message), black_box(&signature))
                    .expect("verifies");
            })
        }),
        Path::new("gate/admit_cached", |calls| {
            timed(calls, || gate_cached.admit_one())
        }),
        Path::new("gate/admit_uncached", |calls| {
            timed(calls, || gate_uncached.admit_one())
        }),
    ];
    for live in NONCE_SET_SIZES {
        let mut rng = ChaCha8Rng::seed_from_u64(live as u64);
        let mut guard = prefilled_guard(live, &mut rng);
        paths.push(Path::new(
            format!("nonce/check_and_insert/{live}"),
            move |calls| {
                time_inserts(
                    calls,
                    live,
                    &mut guard,
                    &mut rng,
                    prefilled_guard,
                    |g| g.len(),
                    guard_admit,
                )
            },
        ));
        let mut rng = ChaCha8Rng::seed_from_u64(live as u64 + 1);
        let mut map = prefilled_map(live, &mut rng);
        paths.push(Path::new(
            format!("nonce/baseline_hashmap_insert/{live}"),
            move |calls| {
                time_inserts(
                    calls,
                    live,
                    &mut map,
                    &mut rng,
                    prefilled_map,
                    |m| m.len(),
                    map_insert,
                )
            },
        ));
    }

    for path in &mut paths {
        path.calibrate();
    }
    let mut order: Vec<usize> = (0..paths.len()).collect();
    let mut shuffle = ChaCha8Rng::seed_from_u64(7);
    let start = Instant::now();
    for _ in 0..rounds {
        order.shuffle(&mut shuffle);
        for &i in &order {
            paths[i].batch();
        }
    }
    println!(
        "{rounds} rounds of {} paths in {:.0} s; time per call over the rounds:",
        paths.len(),
        start.elapsed().as_secs_f64()
    );
    println!(
        "{:<40} {:>10} {:>10} {:>10} {:>10} {:>8}",
        "path", "median", "p10", "p90", "min", "calls/b"
    );
    for path in &paths {
        let mut sorted = path.ns.clone();
        sorted.sort_by(f64::total_cmp);
        println!(
            "{:<40} {:>10} {:>10} {:>10} {:>10} {:>8}",
            path.name,
            show(quantile(&sorted, 0.5)),
            show(quantile(&sorted, 0.1)),
            show(quantile(&sorted, 0.9)),
            show(sorted[0]),
            path.per_batch
        );
    }

    let find = |name: &str| {
        paths
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("{name}"))
    };
    let ratio = |a: &str, b: &str| {
        let (a, b) = (find(a), find(b));
        let per_round: Vec<f64> = a.ns.iter().zip(&b.ns).map(|(x, y)| x / y).collect();
        median(&per_round)
    };
    println!("ratios (median of the per-round ratios):");
    let mut pairs = vec![
        (
            "token/verify_full_two_blocks",
            "token/baseline_biscuit_plain",
        ),
        (
            "token/verify_full_two_blocks",
            "token/baseline_biscuit_parse_only",
        ),
        (
            "token/verify_full_two_blocks",
            "token/baseline_ed25519_verify",
        ),
        (
            "token/baseline_biscuit_parse_only",
            "token/baseline_ed25519_verify",
        ),
        ("token/verify_cached", "token/baseline_ed25519_verify"),
        ("token/verify_full_two_blocks", "token/verify_cached"),
        ("gate/admit_uncached", "token/verify_full_two_blocks"),
        ("gate/admit_cached", "token/verify_cached"),
    ];
    let names: Vec<(String, String)> = NONCE_SET_SIZES
        .iter()
        .map(|n| {
            (
                format!("nonce/check_and_insert/{n}"),
                format!("nonce/baseline_hashmap_insert/{n}"),
            )
        })
        .collect();
    pairs.extend(names.iter().map(|(a, b)| (a.as_str(), b.as_str())));
    // Growth from the smallest set to the largest, ours and the bare map's.
    let growth: Vec<(String, String)> = ["check_and_insert", "baseline_hashmap_insert"]
        .iter()
        .map(|kind| {
            (
                format!("nonce/{kind}/{}", NONCE_SET_SIZES[2]),
                format!("nonce/{kind}/{}", NONCE_SET_SIZES[0]),
            )
        })
        .collect();
    pairs.extend(growth.iter().map(|(a, b)| (a.as_str(), b.as_str())));
    for (a, b) in pairs {
        println!("  {a} / {b} = {:.3}", ratio(a, b));
    }

    for name in ["gate/admit_cached", "gate/admit_uncached"] {
        let m = median(&find(name).ns);
        println!(
            "{name}: {:.0} messages authorised per second per core",
            1e9 / m
        );
    }
    let full = &find("token/verify_full_two_blocks").ns;
    println!(
        "token/verify_full_two_blocks <= 150 µs in {} of {} rounds",
        full.iter().filter(|&&ns| ns <= 150_000.0).count(),
        full.len()
    );
    let cached_ns = &find("token/verify_cached").ns;
    println!(
        "token/verify_cached <= 5 µs in {} of {} rounds",
        cached_ns.iter().filter(|&&ns| ns <= 5_000.0).count(),
        cached_ns.len()
    );
    drop(paths);
    assert_eq!(
        cached.stats().cache_misses,
        1,
        "the cached path never missed"
    );
    assert_eq!(gate_cached.stats().cache_misses, 1);
    assert_eq!(gate_uncached.stats().cache_hits, 0);
    println!(
        "live nonces in the gates' guards at the end: {} and {}",
        gate_cached.live_nonces(),
        gate_uncached.live_nonces()
    );
}
