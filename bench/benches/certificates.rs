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
//! * issue 18: `combine_blsttc` and `full_combine_first_blsttc`, the same with blsttc's own
//!   `combine_signatures` (the same-run baseline of x0's one multi-scalar multiplication);
//!   `batch_check` (all t+1 shares valid on their own, one randomised batch) against
//!   `full_verify_all`'s share checks; at n = 100, `verdicts_honest` and
//!   `verdicts_t_faulty`: a collector (not a member) from the proposal to the published
//!   certificate, with t+1 honest shares, and with t faulty members whose shares come first
//!   (signed over another message; then t+1 honest ones), every share's verdict included.
//!
//! Run: `cargo bench -p x0-bench --bench certificates`

use std::hint::black_box;

use std::collections::BTreeMap;

use blsttc::SecretKeySet;
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use x0_core::certify::collector::{Collector, CollectorConfig, Output};
use x0_core::certify::proposal::{Proposal, ProposalId};
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
        let key_set = committee.key_set();
        let blsttc_combine = |shares: &[(MemberIndex, blsttc::SignatureShare)]| {
            key_set
                .combine_signatures(shares.iter().map(|(m, s)| (usize::from(*m), s)))
                .unwrap()
        };
        assert_eq!(blsttc_combine(&shares), certificate, "byte-identical");
        group.bench_function(BenchmarkId::new("combine_blsttc", n), |b| {
            b.iter(|| black_box(blsttc_combine(black_box(&shares))))
        });
        group.bench_function(BenchmarkId::new("full_combine_first_blsttc", n), |b| {
            b.iter(|| {
                let combined = blsttc_combine(black_box(&shares));
                assert!(committee.verify_certificate(&message, &combined));
            })
        });
        group.bench_function(BenchmarkId::new("batch_check", n), |b| {
            b.iter(|| assert!(committee.shares_valid_batch(&message, black_box(&shares))))
        });
        if n == 100 {
            verdicts(&mut group, &secret, &committee);
        }
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

/// The proposal the verdict benches certify.
fn proposal() -> Proposal {
    Proposal {
        epoch: 1,
        slot: "gossip/mesh_n".into(),
        payload: b"bench".to_vec(),
        affected_ppm: 500_000,
        proposer: vec![1, 2, 3],
        nonce: [4; 16],
        timestamp_unix_ms: 1_800_000_000_000,
    }
}

/// The collector's whole verdict path for one proposal: a fresh collector (not a member, so
/// it signs nothing) takes the proposal and then the shares in order, all at one instant,
/// until it publishes the certificate. `verdicts_honest`: t+1 honest shares (one
/// combination, one certificate verification, one batch check). `verdicts_t_faulty`: the
/// t faulty members' shares (signed over another message) come first, so the first
/// combination takes t of them: it fails, so its t+1 shares are checked one by one (on
/// both cores), and t more honest shares form the certificate (a second combination and
/// certificate verification, and one batch check of the t new shares).
fn verdicts(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    secret: &SecretKeySet,
    committee: &BlsCommittee,
) {
    let n = committee.committee_size();
    let t = committee.share_count_min() - 1;
    let proposal = proposal();
    let id = proposal.id();
    let message = signing_message(&id);
    let honest: Vec<_> = (0..n)
        .map(|i| (i as MemberIndex, secret.secret_key_share(i).sign(&message)))
        .collect();
    let mut faulty = honest.clone();
    for (i, share) in faulty.iter_mut().take(t) {
        *share = secret
            .secret_key_share(usize::from(*i))
            .sign(b"another proposal");
    }
    let run = |committee: BlsCommittee, shares: &[(MemberIndex, blsttc::SignatureShare)]| {
        let mut collector: Collector<BlsCommittee, BlsMember> =
            Collector::new(committee, None, CollectorConfig::default(), BTreeMap::new());
        let mut out = Vec::new();
        collector
            .on_proposal(proposal.clone(), 0, 0, &mut out)
            .expect("an empty collector has room");
        for (member, share) in shares {
            collector.on_share(*member, id, share.clone(), 0, &mut out);
            if out
                .iter()
                .any(|o| matches!(o, Output::PublishCertificate(_)))
            {
                return out;
            }
        }
        panic!("no certificate from {} shares", shares.len());
    };
    for (name, shares) in [
        ("verdicts_honest", &honest[..=t]),
        ("verdicts_t_faulty", &faulty[..=2 * t]),
    ] {
        // The clone of the committee (its keys derived once) is set-up, not measured.
        group.bench_function(BenchmarkId::new(name, n), |b| {
            b.iter_batched(
                || (committee.clone(), shares.to_vec()),
                |(committee, shares)| black_box(run(committee, &shares)),
                BatchSize::SmallInput,
            )
        });
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
