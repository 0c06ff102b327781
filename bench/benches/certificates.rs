//! Threshold BLS certificates (blsttc): the per-share and per-certificate costs, and a
//! full certificate both ways, for committees of 10, 100 and 300.
//!
//! * `sign_share`, `verify_share`, `combine` (t+1 shares), `verify_certificate`;
//! * `full_combine_first`: combine t+1 unverified shares and verify the result once (the
//!   node's normal path); `full_verify_all`: verify each of the t+1 shares, then combine
//!   and verify (the path taken when a combination fails), the shares checked on all
//!   cores as the node does; `full_verify_all_1thread`: the same with the shares checked
//!   one after the other. Same run, so their ratios are the saving of combine-first and
//!   the gain of the threads.
//!
//! Run: `cargo bench -p x0-bench --bench certificates`

use std::hint::black_box;

use blsttc::SecretKeySet;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use x0_core::certify::proposal::ProposalId;
use x0_core::certify::scheme::{
    signing_message, BlsCommittee, BlsMember, MemberIndex, ShareSigner, ThresholdScheme,
};
use x0_core::certify::threshold::faulty_max;

fn certificates(c: &mut Criterion) {
    let message = signing_message(&ProposalId([42; 32]));
    for n in [10usize, 100, 300] {
        let secret = SecretKeySet::random(faulty_max(n), &mut ChaCha8Rng::seed_from_u64(n as u64));
        let committee = BlsCommittee::new(secret.public_keys(), n);
        let needed = committee.share_count_min();
        let members: Vec<BlsMember> = (0..needed)
            .map(|i| BlsMember::new(i as MemberIndex, secret.secret_key_share(i)))
            .collect();
        let shares: Vec<_> = members
            .iter()
            .map(|m| (m.member(), m.sign_share(&message)))
            .collect();
        let certificate = committee.combine(&shares).expect("t+1 shares");

        let mut group = c.benchmark_group(format!("certificates_n{n}"));
        group.bench_function(BenchmarkId::new("sign_share", n), |b| {
            b.iter(|| black_box(members[0].sign_share(black_box(&message))))
        });
        group.bench_function(BenchmarkId::new("verify_share", n), |b| {
            b.iter(|| black_box(committee.verify_share(0, &message, black_box(&shares[0].1))))
        });
        group.bench_function(BenchmarkId::new("combine", n), |b| {
            b.iter(|| black_box(committee.combine(black_box(&shares))))
        });
        group.bench_function(BenchmarkId::new("verify_certificate", n), |b| {
            b.iter(|| black_box(committee.verify_certificate(&message, black_box(&certificate))))
        });
        group.bench_function(BenchmarkId::new("full_combine_first", n), |b| {
            b.iter(|| {
                let combined = committee.combine(black_box(&shares)).unwrap();
                assert!(committee.verify_certificate(&message, &combined));
            })
        });
        group.bench_function(BenchmarkId::new("full_verify_all", n), |b| {
            b.iter(|| {
                assert!(committee
                    .invalid_shares(&message, black_box(&shares))
                    .is_empty());
                let combined = committee.combine(&shares).unwrap();
                assert!(committee.verify_certificate(&message, &combined));
            })
        });
        group.bench_function(BenchmarkId::new("full_verify_all_1thread", n), |b| {
            b.iter(|| {
                assert!(committee
                    .invalid_shares_on(&message, black_box(&shares), 1)
                    .is_empty());
                let combined = committee.combine(&shares).unwrap();
                assert!(committee.verify_certificate(&message, &combined));
            })
        });
        group.finish();
    }
}

fn quick() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = quick();
    targets = certificates
}
criterion_main!(benches);
