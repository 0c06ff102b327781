//! Per-message and per-scrape hot paths, each next to a baseline in the same run.
//!
//! * `probe_validate`: judging one received probe (decode, bounds, timestamps) against
//!   copying its bytes, the one allocation any decoder must make.
//! * `duplicate_observe`: counting one copy of a message in a full tracker (65,536 ids,
//!   settling as it goes) against a bare BTreeMap insert and remove of the same id.
//! * `metrics_render`: serving /metrics in the classic format (conform + convert) against
//!   the OpenMetrics encoding alone.
//!
//! Run: `cargo bench -p x0-bench --bench hot_paths`

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use x0_core::duplicates::{DuplicateTracker, DuplicateTrackerConfig};
use x0_core::probe::{ProbeConfig, ProbeCore};
use x0_node::http::metrics as exposition;

const NOW_UNIX_MS: u64 = 1_800_000_000_000;

fn probe_validate(c: &mut Criterion) {
    let mut author = ProbeCore::new(ProbeConfig::default());
    let receiver = ProbeCore::new(ProbeConfig::default());
    let bytes = author.next_probe(NOW_UNIX_MS);
    let mut group = c.benchmark_group("probe_validate");
    group.bench_function("baseline_copy_bytes", |b| {
        b.iter(|| black_box(black_box(&bytes).to_vec()))
    });
    group.bench_function("on_inbound", |b| {
        b.iter(|| black_box(receiver.on_inbound(black_box(&bytes), NOW_UNIX_MS + 3)))
    });
    group.finish();
}

fn duplicate_observe(c: &mut Criterion) {
    let config = DuplicateTrackerConfig::default();
    let ids: Vec<Vec<u8>> = (0..config.entries_max as u64 * 2)
        .map(|i| {
            let mut id = vec![0x00, 0x24, 0x08, 0x01, 0x12, 0x20];
            id.extend_from_slice(&[7u8; 32]);
            id.extend_from_slice(&i.to_be_bytes());
            id
        })
        .collect();
    let mut group = c.benchmark_group("duplicate_observe");
    group.bench_function("baseline_btreemap_insert_remove", |b| {
        let mut map: BTreeMap<Vec<u8>, u64> = ids[..config.entries_max]
            .iter()
            .map(|id| (id.clone(), 0))
            .collect();
        let mut next = config.entries_max;
        b.iter(|| {
            let id = &ids[next % ids.len()];
            map.insert(id.clone(), 1);
            map.remove(&ids[(next + ids.len() - config.entries_max) % ids.len()]);
            next += 1;
        })
    });
    group.bench_function("observe_full_tracker", |b| {
        let mut tracker = DuplicateTracker::new(config);
        let mut settled = Vec::new();
        for (i, id) in ids[..config.entries_max].iter().enumerate() {
            tracker.observe(id, "/x0/1/probe", i as u64 / 16, &mut settled);
        }
        let mut next = config.entries_max;
        b.iter(|| {
            let now_ms = next as u64 / 16;
            tracker.observe(&ids[next % ids.len()], "/x0/1/probe", now_ms, &mut settled);
            tracker.settle(now_ms, &mut settled);
            settled.clear();
            next += 1;
        })
    });
    group.finish();
}

/// An exposition of the size a node serves (~30 families, ~140 samples).
fn sample_exposition() -> String {
    let mut text = String::new();
    for family in 0..30 {
        text.push_str(&format!("# HELP fam_{family} Family {family}.\n"));
        if family % 3 == 0 {
            text.push_str(&format!("# TYPE fam_{family} histogram\n"));
            text.push_str(&format!("fam_{family}_sum{{topic=\"/x0/1/probe\"}} 1.5\nfam_{family}_count{{topic=\"/x0/1/probe\"}} 3\n"));
            for le in ["-10.0", "0.1", "1.0", "+Inf"] {
                text.push_str(&format!(
                    "fam_{family}_bucket{{le=\"{le}\",topic=\"/x0/1/probe\"}} 3\n"
                ));
            }
        } else {
            text.push_str(&format!("# TYPE fam_{family} counter\n"));
            for label in 0..3 {
                text.push_str(&format!(
                    "fam_{family}_total{{reason=\"r{label}\"}} {label}\n"
                ));
            }
        }
    }
    text.push_str("# EOF\n");
    text
}

fn metrics_render(c: &mut Criterion) {
    let openmetrics = sample_exposition();
    let mut group = c.benchmark_group("metrics_render");
    group.bench_function("baseline_clone_openmetrics", |b| {
        b.iter_batched(
            || (),
            |_| black_box(openmetrics.clone()),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("conform_and_classic", |b| {
        b.iter(|| {
            let conformed = exposition::conform_openmetrics(black_box(&openmetrics));
            black_box(exposition::openmetrics_to_classic(&conformed))
        })
    });
    group.finish();
}

fn quick() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = quick();
    targets = probe_validate, duplicate_observe, metrics_render
}
criterion_main!(benches);
