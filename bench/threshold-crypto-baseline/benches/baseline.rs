//! Threshold BLS certificates, x0's scheme (blsttc 8 via `x0_core::certify::scheme::
//! BlsCommittee`) against threshold_crypto 0.4, measured in one run so that their ratio
//! is not a comparison across runs. Committees of 10, 100 and 300, t = floor((n-1)/3), a
//! certificate from t+1 shares, one message.
//!
//! Criterion groups are `<operation>_n<n>`, each with the functions `blsttc` and
//! `threshold_crypto`:
//!
//! * `sign_share`, `verify_share`, `combine` (t+1 shares), `verify_certificate`;
//! * `full_combine_first`: combine t+1 unverified shares, verify the result once;
//! * `full_verify_all`: check every one of the t+1 shares, then combine and verify, the
//!   shares spread over all cores: x0's `invalid_shares`, and for threshold_crypto the same
//!   scheme of threads (a shared counter, one share at a time) around `PublicKeyShare::verify`;
//! * `full_verify_all_1thread`: the same with the shares checked one after the other.
//!
//! Run (from this folder): `cargo bench --bench baseline`

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use x0_core::certify::proposal::ProposalId;
use x0_core::certify::scheme::{
    signing_message, BlsCommittee, BlsMember, MemberIndex, ShareSigner, ThresholdScheme,
};
use x0_core::certify::threshold::faulty_max;

/// True if `valid` holds for every item, checked on `workers` threads that claim items one
/// at a time, as `BlsCommittee::invalid_shares` does; used for threshold_crypto only.
fn all_valid_on<T: Sync>(items: &[T], workers: usize, valid: impl Fn(&T) -> bool + Sync) -> bool {
    let next = AtomicUsize::new(0);
    let claim = || {
        let mut ok = true;
        while let Some(item) = items.get(next.fetch_add(1, Ordering::Relaxed)) {
            ok &= valid(item);
        }
        ok
    };
    std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..workers).map(|_| scope.spawn(claim)).collect();
        let mut ok = claim();
        for helper in helpers {
            ok &= helper.join().expect("no panic");
        }
        ok
    })
}

fn baseline(c: &mut Criterion) {
    let message = signing_message(&ProposalId([42; 32]));
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    for n in [10usize, 100, 300] {
        let t = faulty_max(n);

        // x0: the node's own code.
        let secret = blsttc::SecretKeySet::random(t, &mut ChaCha8Rng::seed_from_u64(n as u64));
        let committee = BlsCommittee::new(secret.public_keys(), n);
        let members: Vec<BlsMember> = (0..=t)
            .map(|i| BlsMember::new(i as MemberIndex, secret.secret_key_share(i)))
            .collect();
        let shares: Vec<_> = members
            .iter()
            .map(|m| (m.member(), m.sign_share(&message)))
            .collect();
        let certificate = committee.combine(&shares).expect("t+1 shares");

        // threshold_crypto 0.4, set up the same way: key shares of the signers computed once.
        let tc_secret = threshold_crypto::SecretKeySet::random(
            t,
            &mut <rand_chacha02::ChaChaRng as rand07::SeedableRng>::seed_from_u64(n as u64),
        );
        let tc_public = tc_secret.public_keys();
        let tc_group_key = tc_public.public_key();
        let tc_members: Vec<_> = (0..=t).map(|i| tc_secret.secret_key_share(i)).collect();
        let tc_keys: Vec<_> = (0..=t).map(|i| tc_public.public_key_share(i)).collect();
        let tc_shares: Vec<_> = tc_members.iter().map(|s| s.sign(&message)).collect();
        let tc_combine = |shares: &[threshold_crypto::SignatureShare]| {
            tc_public
                .combine_signatures(shares.iter().enumerate())
                .expect("t+1 shares")
        };
        let tc_certificate = tc_combine(&tc_shares);
        assert!(tc_group_key.verify(&tc_certificate, &message));
        let tc_verify_all = |workers: usize| {
            let indices: Vec<usize> = (0..=t).collect();
            assert!(all_valid_on(&indices, workers, |&i| tc_keys[i]
                .verify(&tc_shares[i], &message)));
            let combined = tc_combine(black_box(&tc_shares));
            assert!(tc_group_key.verify(&combined, &message));
        };

        let mut group = c.benchmark_group(format!("sign_share_n{n}"));
        group.bench_function("blsttc", |b| {
            b.iter(|| black_box(members[0].sign_share(black_box(&message))))
        });
        group.bench_function("threshold_crypto", |b| {
            b.iter(|| black_box(tc_members[0].sign(black_box(&message))))
        });
        group.finish();

        let mut group = c.benchmark_group(format!("verify_share_n{n}"));
        group.bench_function("blsttc", |b| {
            b.iter(|| black_box(committee.verify_share(0, &message, black_box(&shares[0].1))))
        });
        group.bench_function("threshold_crypto", |b| {
            b.iter(|| black_box(tc_keys[0].verify(black_box(&tc_shares[0]), &message)))
        });
        group.finish();

        let mut group = c.benchmark_group(format!("combine_n{n}"));
        group.bench_function("blsttc", |b| {
            b.iter(|| black_box(committee.combine(black_box(&shares))))
        });
        group.bench_function("threshold_crypto", |b| {
            b.iter(|| black_box(tc_combine(black_box(&tc_shares))))
        });
        group.finish();

        let mut group = c.benchmark_group(format!("verify_certificate_n{n}"));
        group.bench_function("blsttc", |b| {
            b.iter(|| black_box(committee.verify_certificate(&message, black_box(&certificate))))
        });
        group.bench_function("threshold_crypto", |b| {
            b.iter(|| black_box(tc_group_key.verify(black_box(&tc_certificate), &message)))
        });
        group.finish();

        let mut group = c.benchmark_group(format!("full_combine_first_n{n}"));
        group.bench_function("blsttc", |b| {
            b.iter(|| {
                let combined = committee.combine(black_box(&shares)).unwrap();
                assert!(committee.verify_certificate(&message, &combined));
            })
        });
        group.bench_function("threshold_crypto", |b| {
            b.iter(|| {
                let combined = tc_combine(black_box(&tc_shares));
                assert!(tc_group_key.verify(&combined, &message));
            })
        });
        group.finish();

        for (name, threads) in [("full_verify_all", workers), ("full_verify_all_1thread", 1)] {
            let mut group = c.benchmark_group(format!("{name}_n{n}"));
            group.bench_function("blsttc", |b| {
                b.iter(|| {
                    assert!(committee
                        .invalid_shares_on(&message, black_box(&shares), threads)
                        .is_empty());
                    let combined = committee.combine(&shares).unwrap();
                    assert!(committee.verify_certificate(&message, &combined));
                })
            });
            group.bench_function("threshold_crypto", |b| b.iter(|| tc_verify_all(threads)));
            group.finish();
        }
    }
}

fn quick() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = quick();
    targets = baseline
}
criterion_main!(benches);
