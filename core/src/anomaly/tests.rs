//! Tests of the anomaly limits: the warning and halt lines, the rolling window and the
//! ballot override.

use super::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn id(n: u64) -> Id {
    let mut id = [0; 32];
    id[..8].copy_from_slice(&n.to_be_bytes());
    id
}

fn change(n: u64, affected_nodes: u64, network_nodes: u64, certified: bool) -> Change {
    Change {
        id: id(n),
        affected_nodes,
        network_nodes,
        certified,
    }
}

fn applied(level: Level) -> Decision {
    Decision::Applied { level }
}

fn refused(refusal: Refusal) -> Decision {
    Decision::Refused(refusal)
}

fn level_changed(from: Level, to: Level, changed_nodes: u64) -> AnomalyEvent {
    AnomalyEvent::LevelChanged {
        from,
        to,
        changed_nodes,
    }
}

/// Offers changes of `affected_nodes` each (ids from `first_id` on) at `now_ms`.
fn offer(
    core: &mut AnomalyLimits,
    first_id: u64,
    affected: &[u64],
    network_nodes: u64,
    now_ms: u64,
) -> Vec<Decision> {
    let mut out = Vec::new();
    affected
        .iter()
        .zip(first_id..)
        .map(|(&a, n)| core.on_change(change(n, a, network_nodes, false), now_ms, &mut out))
        .collect()
}

#[test]
fn defaults_are_the_issue_s_and_valid() {
    let config = AnomalyConfig::default();
    assert_eq!(config.certificate_required_ppm, 100_000);
    assert_eq!(config.warn_ppm, 50_000);
    assert_eq!(config.halt_ppm, 150_000);
    assert_eq!(config.window_ms, 3_600_000);
    assert_eq!(config.changes_max, 4096);
    assert_eq!(config.check(), Ok(()));
}

#[test]
fn check_names_the_invalid_field() {
    let base = AnomalyConfig::default();
    let cases = [
        (
            AnomalyConfig {
                certificate_required_ppm: PPM_MAX + 1,
                ..base
            },
            "certificate_required_ppm",
        ),
        (
            AnomalyConfig {
                halt_ppm: PPM_MAX + 1,
                ..base
            },
            "halt_ppm",
        ),
        (
            AnomalyConfig {
                warn_ppm: 150_000,
                ..base
            },
            "warn_ppm",
        ),
        (
            AnomalyConfig {
                warn_ppm: 200_000,
                ..base
            },
            "warn_ppm",
        ),
        (
            AnomalyConfig {
                window_ms: 0,
                ..base
            },
            "window_ms",
        ),
        (
            AnomalyConfig {
                changes_max: 0,
                ..base
            },
            "changes_max",
        ),
    ];
    for (config, field) in cases {
        let error = config.check().unwrap_err();
        assert_eq!(error.field, field);
        assert!(error.to_string().contains(field), "{error}");
        assert_eq!(AnomalyLimits::new(config).unwrap_err().field, field);
    }
    // The extremes that are allowed.
    let extreme = AnomalyConfig {
        certificate_required_ppm: PPM_MAX,
        warn_ppm: 0,
        halt_ppm: PPM_MAX,
        window_ms: 1,
        changes_max: 1,
    };
    assert_eq!(extreme.check(), Ok(()));
}

#[test]
fn thresholds_in_nodes_never_fall_below_one() {
    let default = AnomalyConfig::default();
    let custom = AnomalyConfig {
        certificate_required_ppm: 200_000,
        warn_ppm: 20_000,
        halt_ppm: 30_000,
        ..default
    };
    let table = [
        // (config, n, certificate_free_nodes_max, warn_nodes, halt_nodes)
        (default, 100, 10, 5, 15),
        (default, 101, 10, 6, 16),
        (default, 1000, 100, 50, 150),
        (default, 10_000, 1000, 500, 1500),
        (default, 20, 2, 1, 3),
        (default, 7, 1, 1, 2),
        (default, 6, 1, 1, 1),
        (default, 5, 1, 1, 1),
        (default, 1, 1, 1, 1),
        (default, 0, 1, 1, 1),
        (custom, 1000, 200, 20, 30),
        (custom, 1001, 200, 21, 31),
        (custom, 10, 2, 1, 1),
    ];
    for (config, n, certificate_free_nodes_max, warn_nodes, halt_nodes) in table {
        assert_eq!(
            config.thresholds(n),
            Thresholds {
                certificate_free_nodes_max,
                warn_nodes,
                halt_nodes
            },
            "n = {n}, {config:?}"
        );
    }
    assert_eq!(threshold_nodes(PPM_MAX, u64::MAX), u64::MAX);
    assert_eq!(threshold_nodes(u32::MAX, u64::MAX), u64::MAX);
    assert_eq!(threshold_nodes(0, u64::MAX), 1);
}

#[test]
fn certificate_is_required_exactly_above_ten_percent() {
    let config = AnomalyConfig::default();
    for (n, free_max) in [(100, 10), (101, 10), (110, 11), (5, 1), (1, 1)] {
        let mut out = Vec::new();
        let mut core = AnomalyLimits::new(config).unwrap();
        let at_line = core.on_change(change(1, free_max, n, false), 0, &mut out);
        assert!(
            matches!(at_line, Decision::Applied { .. }),
            "n = {n}: {at_line:?}"
        );

        let mut core = AnomalyLimits::new(config).unwrap();
        let above = change(2, free_max + 1, n, false);
        assert_eq!(
            core.on_change(above, 0, &mut out),
            refused(Refusal::CertificateRequired),
            "n = {n}"
        );
        let certified = Change {
            certified: true,
            ..above
        };
        assert!(matches!(
            core.on_change(certified, 0, &mut out),
            Decision::Applied { .. }
        ));
    }
}

#[test]
fn warning_starts_exactly_at_five_percent() {
    let mut out = Vec::new();
    let mut core = AnomalyLimits::new(AnomalyConfig::default()).unwrap();
    assert_eq!(
        offer(&mut core, 0, &[2, 2], 100, 0),
        [applied(Level::Normal), applied(Level::Normal)]
    );
    assert!(out.is_empty());
    assert_eq!(
        core.on_change(change(9, 1, 100, false), 0, &mut out),
        applied(Level::Warning)
    );
    assert_eq!(out, [level_changed(Level::Normal, Level::Warning, 5)]);
    out.clear();
    core.on_change(change(10, 1, 100, false), 0, &mut out);
    assert!(out.is_empty(), "the warning is reported once");

    // 101 nodes: 5 nodes are 4.95%, so the warning waits for the sixth.
    let mut core = AnomalyLimits::new(AnomalyConfig::default()).unwrap();
    assert_eq!(offer(&mut core, 0, &[5], 101, 0), [applied(Level::Normal)]);
    assert_eq!(offer(&mut core, 1, &[1], 101, 0), [applied(Level::Warning)]);
}

#[test]
fn halt_starts_exactly_at_fifteen_percent_and_refuses_further_changes() {
    let mut out = Vec::new();
    let mut core = AnomalyLimits::new(AnomalyConfig::default()).unwrap();
    assert_eq!(
        offer(&mut core, 0, &[10, 4], 100, 0),
        [applied(Level::Warning), applied(Level::Warning)]
    );
    // 14 + 2 would pass the line of 15: refused, not counted, no halt.
    assert_eq!(
        core.on_change(change(2, 2, 100, false), 0, &mut out),
        refused(Refusal::WouldExceedHalt)
    );
    assert_eq!(core.status(0).changed_nodes_in_window, 14);
    assert_eq!(core.level(), Level::Warning);
    out.clear();
    // 14 + 1 lands on the line: applied, and the halt begins.
    assert_eq!(
        core.on_change(change(3, 1, 100, false), 0, &mut out),
        applied(Level::Halted)
    );
    assert_eq!(out, [level_changed(Level::Warning, Level::Halted, 15)]);
    out.clear();
    for further in [change(4, 0, 100, false), change(5, 1, 100, true)] {
        assert_eq!(
            core.on_change(further, 1, &mut out),
            refused(Refusal::Halted)
        );
    }
    // The certificate rule still answers first for a change that could never pass.
    assert_eq!(
        core.on_change(change(6, 11, 100, false), 1, &mut out),
        refused(Refusal::CertificateRequired)
    );
    assert!(out.is_empty());
    let status = core.status(1);
    assert_eq!(status.level, Level::Halted);
    assert_eq!(status.changed_nodes_in_window, 15);
    assert_eq!(status.changes_in_window, 3);
}

#[test]
fn certified_change_may_cross_the_halt_line_and_starts_the_halt() {
    let mut out = Vec::new();
    let mut core = AnomalyLimits::new(AnomalyConfig::default()).unwrap();
    assert_eq!(
        offer(&mut core, 0, &[14], 1000, 0),
        [applied(Level::Normal)]
    );
    out.clear();
    assert_eq!(
        core.on_change(change(1, 1000, 1000, true), 0, &mut out),
        applied(Level::Halted)
    );
    assert_eq!(out, [level_changed(Level::Normal, Level::Halted, 1014)]);
    assert_eq!(
        core.on_change(change(2, 1, 1000, true), 0, &mut out),
        refused(Refusal::Halted)
    );
}

#[test]
fn small_network_uses_one_node() {
    let config = AnomalyConfig {
        window_ms: 1000,
        ..AnomalyConfig::default()
    };
    let mut out = Vec::new();
    let mut core = AnomalyLimits::new(config).unwrap();
    // n = 5: every threshold is 1 node.
    assert_eq!(
        core.on_change(change(1, 2, 5, false), 0, &mut out),
        refused(Refusal::CertificateRequired)
    );
    assert_eq!(
        core.on_change(change(2, 1, 5, false), 0, &mut out),
        applied(Level::Halted)
    );
    assert_eq!(out, [level_changed(Level::Normal, Level::Halted, 1)]);
    assert_eq!(
        core.on_change(change(3, 1, 5, false), 999, &mut out),
        refused(Refusal::Halted)
    );
    // One node per window, not none.
    assert_eq!(
        core.on_change(change(3, 1, 5, false), 1000, &mut out),
        applied(Level::Halted)
    );

    // n = 7: a certificate above 1 node, warning at 1, halt at 2 (15% is 1.05).
    let mut core = AnomalyLimits::new(config).unwrap();
    assert_eq!(
        offer(&mut core, 0, &[1, 1, 1], 7, 0),
        [
            applied(Level::Warning),
            applied(Level::Halted),
            refused(Refusal::Halted)
        ]
    );
}

/// The rule stated on real numbers, independently of the integer thresholds.
fn exact_needs_certificate(config: &AnomalyConfig, affected: u64, n: u64) -> bool {
    let more_than_share = u128::from(affected) * u128::from(PPM_MAX)
        > u128::from(config.certificate_required_ppm) * u128::from(n);
    more_than_share && affected > 1
}

fn exact_reaches(ppm: u32, changed: u64, n: u64) -> bool {
    let reaches_share =
        u128::from(changed) * u128::from(PPM_MAX) >= u128::from(ppm) * u128::from(n);
    reaches_share && changed >= 1
}

#[test]
fn boundaries_match_the_real_percentages_for_many_configs_and_sizes() {
    let configs = [
        AnomalyConfig::default(),
        AnomalyConfig {
            certificate_required_ppm: 200_000,
            warn_ppm: 20_000,
            halt_ppm: 30_000,
            window_ms: 10_000,
            changes_max: 4096,
        },
        AnomalyConfig {
            certificate_required_ppm: 33_333,
            warn_ppm: 66_667,
            halt_ppm: 250_001,
            window_ms: 1,
            changes_max: 4096,
        },
        AnomalyConfig {
            certificate_required_ppm: 0,
            warn_ppm: 0,
            halt_ppm: 1,
            window_ms: 60_000,
            changes_max: 4096,
        },
    ];
    let sizes = [
        0, 1, 2, 3, 5, 6, 7, 9, 19, 20, 21, 99, 100, 101, 333, 1000, 1001,
    ];
    for config in configs {
        for n in sizes {
            // Certificate: every size of change from a fresh core.
            for affected in 0..=n + 2 {
                let mut core = AnomalyLimits::new(config).unwrap();
                let decision = core.on_change(change(1, affected, n, false), 0, &mut Vec::new());
                assert_eq!(
                    decision == refused(Refusal::CertificateRequired),
                    exact_needs_certificate(&config, affected, n),
                    "{config:?} n = {n} affected = {affected}: {decision:?}"
                );
            }
            // Warning and halt: one node at a time (certified, so the certificate line
            // does not interfere) until the halt.
            let mut core = AnomalyLimits::new(config).unwrap();
            let mut out = Vec::new();
            let mut changed = 0;
            loop {
                let decision = core.on_change(change(changed, 1, n, true), 0, &mut out);
                let before_halted = exact_reaches(config.halt_ppm, changed, n);
                if before_halted {
                    assert_eq!(decision, refused(Refusal::Halted));
                    break;
                }
                changed += 1;
                let expected = if exact_reaches(config.halt_ppm, changed, n) {
                    Level::Halted
                } else if exact_reaches(config.warn_ppm, changed, n) {
                    Level::Warning
                } else {
                    Level::Normal
                };
                assert_eq!(
                    decision,
                    applied(expected),
                    "{config:?} n = {n} changed = {changed}"
                );
            }
        }
    }
}

#[test]
fn window_expiry_ends_the_halt() {
    let config = AnomalyConfig {
        window_ms: 1000,
        ..AnomalyConfig::default()
    };
    let mut out = Vec::new();
    let mut core = AnomalyLimits::new(config).unwrap();
    assert_eq!(core.next_tick_ms(), None);
    offer(&mut core, 0, &[10], 100, 0);
    assert_eq!(
        offer(&mut core, 1, &[5], 100, 500),
        [applied(Level::Halted)]
    );
    assert_eq!(core.next_tick_ms(), Some(1000));
    assert_eq!(
        offer(&mut core, 2, &[1], 100, 999),
        [refused(Refusal::Halted)]
    );

    // Status sees the expiry at its own time, without a tick.
    assert_eq!(core.status(999).changed_nodes_in_window, 15);
    assert_eq!(core.status(1000).changed_nodes_in_window, 5);
    assert_eq!(core.status(1000).level, Level::Warning);
    assert_eq!(core.level(), Level::Halted);

    core.tick(1000, &mut out);
    assert_eq!(out, [level_changed(Level::Halted, Level::Warning, 5)]);
    assert_eq!(core.next_tick_ms(), Some(1500));
    assert_eq!(
        offer(&mut core, 3, &[1], 100, 1000),
        [applied(Level::Warning)]
    );
    out.clear();
    core.tick(1499, &mut out);
    assert!(out.is_empty());
    core.tick(1500, &mut out);
    assert_eq!(out, [level_changed(Level::Warning, Level::Normal, 1)]);
    out.clear();
    core.tick(2000, &mut out);
    assert!(out.is_empty(), "Normal already: nothing to report");
    assert_eq!(core.status(2000).changes_in_window, 0);
    assert_eq!(core.next_tick_ms(), None);
}

#[test]
fn clock_stepping_back_does_not_shorten_the_window() {
    let config = AnomalyConfig {
        window_ms: 1000,
        ..AnomalyConfig::default()
    };
    let mut core = AnomalyLimits::new(config).unwrap();
    assert_eq!(
        offer(&mut core, 0, &[10, 5], 100, 5000),
        [applied(Level::Warning), applied(Level::Halted)]
    );
    // A change "at" 4000 is taken as at 5000: halted still.
    assert_eq!(
        offer(&mut core, 2, &[1], 100, 4000),
        [refused(Refusal::Halted)]
    );
    assert_eq!(core.status(0).level, Level::Halted);
    assert_eq!(
        offer(&mut core, 2, &[1], 100, 5999),
        [refused(Refusal::Halted)]
    );
    assert_eq!(
        offer(&mut core, 2, &[1], 100, 6000),
        [applied(Level::Normal)]
    );
}

#[test]
fn override_lifts_the_halt_until_the_limits_are_reached_again() {
    let mut out = Vec::new();
    let mut core = AnomalyLimits::new(AnomalyConfig::default()).unwrap();
    let ballot = id(1000);
    assert_eq!(
        offer(&mut core, 0, &[10], 100, 0),
        [applied(Level::Warning)]
    );
    // Not halted: nothing to lift, and the ballot is not used up.
    assert_eq!(core.override_halt(ballot, 0, &mut out), Override::NotHalted);
    assert!(out.is_empty());
    assert_eq!(offer(&mut core, 1, &[5], 100, 0), [applied(Level::Halted)]);
    out.clear();

    assert_eq!(
        core.override_halt(ballot, 10, &mut out),
        Override::Lifted {
            discounted_nodes: 15
        }
    );
    assert_eq!(
        out,
        [
            AnomalyEvent::Overridden {
                ballot_id: ballot,
                discounted_nodes: 15
            },
            level_changed(Level::Halted, Level::Normal, 0),
        ]
    );
    let status = core.status(10);
    assert_eq!(status.level, Level::Normal);
    assert_eq!(status.changed_nodes_in_window, 0);
    assert_eq!(
        status.changes_in_window, 2,
        "still remembered against duplicates"
    );
    assert_eq!(status.overrides_total, 1);

    // Discounted changes are still duplicates.
    assert_eq!(
        offer(&mut core, 0, &[10], 100, 20),
        [Decision::Duplicate {
            level: Level::Normal
        }]
    );
    // Changes count from zero again, under the same limits.
    assert_eq!(
        offer(&mut core, 10, &[4, 1, 9, 1], 100, 20),
        [
            applied(Level::Normal),
            applied(Level::Warning),
            applied(Level::Warning),
            applied(Level::Halted)
        ]
    );
    // One ballot lifts one halt.
    out.clear();
    assert_eq!(
        core.override_halt(ballot, 30, &mut out),
        Override::BallotReused
    );
    assert!(out.is_empty());
    assert_eq!(core.level(), Level::Halted);
    assert!(matches!(
        core.override_halt(id(1001), 30, &mut out),
        Override::Lifted {
            discounted_nodes: 15
        }
    ));
}

#[test]
fn override_is_forgotten_only_beyond_its_bound() {
    let config = AnomalyConfig {
        changes_max: BALLOTS_REMEMBERED_MAX + 8,
        ..AnomalyConfig::default()
    };
    let mut core = AnomalyLimits::new(config).unwrap();
    let mut out = Vec::new();
    for ballot in 0..=BALLOTS_REMEMBERED_MAX as u64 {
        core.on_change(change(ballot, 1, 1, false), 0, &mut out);
        assert!(matches!(
            core.override_halt(id(ballot), 0, &mut out),
            Override::Lifted { .. }
        ));
    }
    let status = core.status(0);
    assert_eq!(status.ballots_forgotten_total, 1);
    assert_eq!(core.ballots_used.len(), BALLOTS_REMEMBERED_MAX);
    assert_eq!(core.ballots_used_ids.len(), BALLOTS_REMEMBERED_MAX);
}

#[test]
fn window_full_fails_closed_and_counts() {
    let config = AnomalyConfig {
        window_ms: 1000,
        changes_max: 3,
        ..AnomalyConfig::default()
    };
    let mut core = AnomalyLimits::new(config).unwrap();
    assert_eq!(
        offer(&mut core, 0, &[0, 1, 1, 1], 1000, 0),
        [
            applied(Level::Normal),
            applied(Level::Normal),
            applied(Level::Normal),
            refused(Refusal::WindowFull)
        ]
    );
    // Refused for another reason first: not counted as the bound's.
    assert_eq!(
        offer(&mut core, 10, &[101], 1000, 0),
        [refused(Refusal::CertificateRequired)]
    );
    let status = core.status(0);
    assert_eq!(status.window_full_total, 1);
    assert_eq!(status.changes_in_window, 3);
    assert_eq!(status.changes_max, 3);
    assert_eq!(
        offer(&mut core, 3, &[1], 1000, 1000),
        [applied(Level::Normal)]
    );
}

#[test]
fn duplicate_id_is_not_counted_twice() {
    let config = AnomalyConfig {
        window_ms: 1000,
        ..AnomalyConfig::default()
    };
    let mut out = Vec::new();
    let mut core = AnomalyLimits::new(config).unwrap();
    assert_eq!(offer(&mut core, 7, &[3], 100, 0), [applied(Level::Normal)]);
    assert_eq!(
        offer(&mut core, 7, &[3], 100, 1),
        [Decision::Duplicate {
            level: Level::Normal
        }]
    );
    assert_eq!(core.status(1).changed_nodes_in_window, 3);
    // A duplicate is answered as such also while halted (it is applied already).
    assert_eq!(
        offer(&mut core, 8, &[10, 2], 100, 2),
        [applied(Level::Warning), applied(Level::Halted)]
    );
    assert_eq!(
        core.on_change(change(7, 3, 100, false), 3, &mut out),
        Decision::Duplicate {
            level: Level::Halted
        }
    );
    // A refused change is not remembered: offered again, it is judged again.
    assert_eq!(
        offer(&mut core, 20, &[1], 100, 3),
        [refused(Refusal::Halted)]
    );
    assert_eq!(
        offer(&mut core, 20, &[1], 100, 1002),
        [applied(Level::Normal)]
    );
    // Once expired, the id is a new change.
    assert_eq!(
        offer(&mut core, 7, &[3], 100, 1002),
        [applied(Level::Normal)]
    );
    assert_eq!(core.status(1002).changed_nodes_in_window, 4);
}

#[test]
fn huge_affected_counts_never_overflow() {
    let mut out = Vec::new();
    let mut core = AnomalyLimits::new(AnomalyConfig {
        window_ms: 10,
        ..AnomalyConfig::default()
    })
    .unwrap();
    let n = u64::MAX;
    assert_eq!(
        core.on_change(change(1, 10u64.pow(18), n, false), 0, &mut out),
        applied(Level::Warning)
    );
    // A certified change may cross the line: the sum passes u64::MAX.
    assert_eq!(
        core.on_change(change(2, u64::MAX, n, true), 5, &mut out),
        applied(Level::Halted)
    );
    assert_eq!(core.status(5).changed_nodes_in_window, u64::MAX);
    core.tick(10, &mut out);
    assert_eq!(core.status(10).changed_nodes_in_window, u64::MAX);
    core.tick(15, &mut out);
    assert_eq!(core.status(15).changed_nodes_in_window, 0);
    assert_eq!(core.level(), Level::Normal);
}

/// What the model remembers of an applied change.
struct Remembered {
    id: Id,
    applied_ms: u64,
    affected_nodes: u64,
    certified: bool,
    counted: bool,
}

#[test]
fn random_sequences_keep_the_invariants() {
    // Outcomes seen over all runs: the runs must reach every path they check.
    let mut seen: std::collections::BTreeMap<String, u64> = Default::default();
    for seed in 0..300u64 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let halt_ppm = rng.gen_range(1..=PPM_MAX);
        let config = AnomalyConfig {
            certificate_required_ppm: rng.gen_range(0..=PPM_MAX / 2),
            warn_ppm: rng.gen_range(0..halt_ppm),
            halt_ppm,
            window_ms: rng.gen_range(1..=5_000),
            changes_max: rng.gen_range(1..=48),
        };
        let base_nodes: u64 = rng.gen_range(0..=300);
        // A third of the runs see the network size move between changes.
        let size_moves = seed % 3 == 0;
        let mut core = AnomalyLimits::new(config).unwrap();
        let mut model: Vec<Remembered> = Vec::new();
        let mut ballots_used: Vec<Id> = Vec::new();
        let mut network_nodes = 0;
        let mut latest_ms = 0u64;
        let mut reported = Level::Normal;
        let mut now_ms = 0u64;
        let mut out = Vec::new();
        for step in 0..400 {
            let context = format!("seed {seed} step {step} {config:?}");
            now_ms += rng.gen_range(0..=config.window_ms / 3 + 1);
            // Now and then the caller's clock steps back.
            let call_ms = if rng.gen_bool(0.05) {
                now_ms.saturating_sub(rng.gen_range(0..=config.window_ms))
            } else {
                now_ms
            };
            latest_ms = latest_ms.max(call_ms);
            model.retain(|m| latest_ms - m.applied_ms < config.window_ms);
            let counted = |model: &[Remembered]| -> u64 {
                model
                    .iter()
                    .filter(|m| m.counted)
                    .map(|m| m.affected_nodes)
                    .sum()
            };
            out.clear();
            match rng.gen_range(0..12) {
                0 => core.tick(call_ms, &mut out),
                1 => {
                    let ballot = id(1_000_000 + rng.gen_range(0..16));
                    let level = config.thresholds(network_nodes).level(counted(&model));
                    let result = core.override_halt(ballot, call_ms, &mut out);
                    let kind = format!("{result:?}");
                    let kind = kind.split([' ', '{']).next().unwrap_or_default();
                    *seen.entry(kind.to_string()).or_default() += 1;
                    if ballots_used.contains(&ballot) {
                        assert_eq!(result, Override::BallotReused, "{context}");
                    } else if level != Level::Halted {
                        assert_eq!(result, Override::NotHalted, "{context}");
                    } else {
                        let discounted_nodes = counted(&model);
                        assert_eq!(result, Override::Lifted { discounted_nodes }, "{context}");
                        model.iter_mut().for_each(|m| m.counted = false);
                        ballots_used.push(ballot);
                    }
                }
                _ => {
                    network_nodes = if size_moves {
                        rng.gen_range(0..=300)
                    } else {
                        base_nodes
                    };
                    let thresholds = config.thresholds(network_nodes);
                    let changed_before = counted(&model);
                    let level_before = thresholds.level(changed_before);
                    let offered = Change {
                        id: id(rng.gen_range(0..60)),
                        affected_nodes: rng.gen_range(0..=network_nodes / 4 + 2),
                        network_nodes,
                        certified: rng.gen_bool(0.3),
                    };
                    let decision = core.on_change(offered, call_ms, &mut out);
                    *seen.entry(format!("{decision:?}")).or_default() += 1;
                    let duplicate = model.iter().any(|m| m.id == offered.id);
                    if duplicate {
                        assert!(matches!(decision, Decision::Duplicate { .. }), "{context}");
                    } else {
                        assert!(!matches!(decision, Decision::Duplicate { .. }), "{context}");
                    }
                    if let Decision::Applied { level } = decision {
                        // No uncertified change above the certificate line, nothing
                        // while halted, and no uncertified change past the halt line.
                        assert!(
                            offered.certified
                                || offered.affected_nodes <= thresholds.certificate_free_nodes_max,
                            "{context}"
                        );
                        assert_ne!(level_before, Level::Halted, "{context}");
                        let changed_after = changed_before + offered.affected_nodes;
                        assert!(
                            offered.certified || changed_after <= thresholds.halt_nodes,
                            "{context}"
                        );
                        assert!(model.len() < config.changes_max, "{context}");
                        assert_eq!(level, thresholds.level(changed_after), "{context}");
                        model.push(Remembered {
                            id: offered.id,
                            applied_ms: latest_ms,
                            affected_nodes: offered.affected_nodes,
                            certified: offered.certified,
                            counted: true,
                        });
                    }
                    // Refusals are exactly the documented ones, in the documented order.
                    if let Decision::Refused(refusal) = decision {
                        let expected = if !offered.certified
                            && offered.affected_nodes > thresholds.certificate_free_nodes_max
                        {
                            Refusal::CertificateRequired
                        } else if level_before == Level::Halted {
                            Refusal::Halted
                        } else if !offered.certified
                            && changed_before + offered.affected_nodes > thresholds.halt_nodes
                        {
                            Refusal::WouldExceedHalt
                        } else {
                            assert_eq!(model.len(), config.changes_max, "{context}");
                            Refusal::WindowFull
                        };
                        assert_eq!(refusal, expected, "{context}");
                    }
                }
            }

            // Events report every level change, once, in order.
            for event in &out {
                if let AnomalyEvent::LevelChanged { from, to, .. } = *event {
                    assert_eq!(from, reported, "{context}");
                    assert_ne!(from, to, "{context}");
                    reported = to;
                }
            }
            let status = core.status(latest_ms);
            let changed = counted(&model);
            let thresholds = config.thresholds(network_nodes);
            assert_eq!(reported, core.level(), "{context}");
            assert_eq!(status.level, core.level(), "{context}");
            assert_eq!(status.changed_nodes_in_window, changed, "{context}");
            assert_eq!(status.level, thresholds.level(changed), "{context}");
            assert_eq!(status.changes_in_window, model.len(), "{context}");
            assert!(status.changes_in_window <= config.changes_max, "{context}");
            // Past the halt line only by a certified change (or a network that shrank
            // under changes counted at its larger size).
            if !size_moves && changed > thresholds.halt_nodes {
                assert!(model.iter().any(|m| m.counted && m.certified), "{context}");
            }
        }
    }
    let expected = [
        "Applied { level: Normal }",
        "Applied { level: Warning }",
        "Applied { level: Halted }",
        "Duplicate { level: Normal }",
        "Duplicate { level: Warning }",
        "Duplicate { level: Halted }",
        "Refused(CertificateRequired)",
        "Refused(Halted)",
        "Refused(WouldExceedHalt)",
        "Refused(WindowFull)",
        "Lifted",
        "NotHalted",
        "BallotReused",
    ];
    for kind in expected {
        assert!(
            seen.get(kind).copied().unwrap_or(0) > 0,
            "{kind} never seen: {seen:?}"
        );
    }
    assert_eq!(seen.len(), expected.len(), "{seen:?}");
}
