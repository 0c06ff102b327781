//! Guardian key custody (docs/BENCHMARKS.md, "Guardian key custody"), 3 of 10, each next
//! to a baseline measured in the same run:
//!
//! * `guardians/split_verified`: `ceremony::deal` (frost's `generate_with_dealer`, then
//!   every share through `KeyPackage::try_from` (Feldman check) and our check against the
//!   group's verifying share); baseline `guardians/baseline_frost_generate_with_dealer`:
//!   frost's call alone.
//! * `guardians/recover_verified`: `recovery::recover` of 3 shares (3 commitment checks,
//!   `reconstruct`, the result against the group key) plus the HKDF master key; baseline
//!   `guardians/baseline_frost_reconstruct`: frost's `reconstruct` of the same 3 alone.
//! * `guardians/refresh_all_10`: `refresh_deal` and all 10 `refresh_apply` (each checks the
//!   old and the new share against its group).
//! * `guardians/repair_one`: 3 helpers' step 1, their step 2, the lost guardian's step 3
//!   (with the check of the repaired share).
//!
//! The Argon2id sealing of share files is not in these figures (a deliberate ~tens of ms
//! per file, its cost parameters in share_file.rs).
//!
//! Run: `cargo bench -p x0-bench --bench guardians`

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use frost_ristretto255::keys::{self, IdentifierList, KeyPackage};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use x0_core::guardians::frost as frost_ristretto255;
use x0_core::guardians::{ceremony, recovery, refresh};

fn guardians(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(8);
    let dealt = ceremony::deal("sublime", 10, 3, &mut rng).expect("deal");
    let group = dealt.group.clone();
    let three: Vec<(u16, KeyPackage)> = dealt.shares[..3].to_vec();
    let three_packages: Vec<KeyPackage> = three.iter().map(|(_, kp)| kp.clone()).collect();

    let mut g = c.benchmark_group("guardians");
    g.bench_function("split_verified", |b| {
        b.iter(|| black_box(ceremony::deal("sublime", 10, 3, &mut rng).expect("deal")))
    });
    g.bench_function("baseline_frost_generate_with_dealer", |b| {
        b.iter(|| {
            black_box(
                keys::generate_with_dealer(10, 3, IdentifierList::Default, &mut rng)
                    .expect("dealt"),
            )
        })
    });
    g.bench_function("recover_verified", |b| {
        b.iter(|| {
            let key = recovery::recover(&group, black_box(&three)).expect("recovers");
            black_box(recovery::master_key(&group, &key))
        })
    });
    g.bench_function("baseline_frost_reconstruct", |b| {
        b.iter(|| black_box(keys::reconstruct(black_box(&three_packages)).expect("combines")))
    });
    g.bench_function("refresh_all_10", |b| {
        b.iter(|| {
            let deal = refresh::refresh_deal(&group, &mut rng).expect("deal");
            let mut out = Vec::with_capacity(10);
            for (index, refreshing) in deal.refreshing {
                let current = &dealt.shares[index as usize - 1].1;
                out.push(
                    refresh::refresh_apply(&group, &deal.group, index, current, refreshing)
                        .expect("apply"),
                );
            }
            black_box(out)
        })
    });
    let helpers = [2u16, 6, 9];
    let lost = 4u16;
    g.bench_function("repair_one", |b| {
        b.iter(|| {
            let mut deltas: BTreeMap<u16, BTreeMap<u16, _>> = BTreeMap::new();
            for &h in &helpers {
                let share = &dealt.shares[h as usize - 1].1;
                for (to, d) in refresh::repair_step1(&group, h, share, &helpers, lost, &mut rng)
                    .expect("step 1")
                {
                    deltas.entry(to).or_default().insert(h, d);
                }
            }
            let mut sigmas = BTreeMap::new();
            for &h in &helpers {
                sigmas.insert(
                    h,
                    refresh::repair_step2(&group, &helpers, lost, &deltas[&h]).expect("step 2"),
                );
            }
            black_box(refresh::repair_step3(&group, &helpers, lost, &sigmas).expect("step 3"))
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3));
    targets = guardians
}
criterion_main!(benches);
