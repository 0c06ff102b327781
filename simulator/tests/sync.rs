//! Anti-entropy sync in the simulator: each scenario of issue 19 passes with the nodes'
//! sync on, and fails with it off (the mutation check: without sync nothing recovers
//! what gossip's caches let go). The 20-seed sweeps are in docs/BENCHMARKS.md
//! (`x0 sim FILE --runs 20`), not here.

use std::path::PathBuf;

use x0_simulator::{Report, Scenario, World};

fn scenario(name: &str) -> Scenario {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(format!("{name}.toml"));
    Scenario::from_file(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn failed(report: &Report) -> Vec<String> {
    report
        .criteria
        .iter()
        .filter(|c| !c.passed)
        .map(|c| format!("{}: {}", c.name, c.detail))
        .collect()
}

/// Runs `name` with sync and without; returns both reports.
fn with_and_without_sync(name: &str) -> (Report, Report) {
    let scenario = scenario(name);
    assert!(scenario.sync.enabled, "{name} states sync on");
    let with = World::new(scenario.clone(), scenario.seed).run();
    let mut off = scenario.clone();
    off.sync.enabled = false;
    let without = World::new(off, scenario.seed).run();
    (with, without)
}

/// The scenario passes with sync, and without it fails exactly `criterion`.
fn recovers_only_by_sync(name: &str, criterion: &str) -> Report {
    let (with, without) = with_and_without_sync(name);
    assert!(with.passed, "{name} with sync: {:?}", failed(&with));
    let sync = with.figures.sync.as_ref().expect("sync figures");
    assert!(sync.frames_sent > 0, "{name}: sync ran");
    assert!(
        sync.penalties.is_empty(),
        "{name}: honest peers served nothing invalid"
    );
    assert!(without.figures.sync.is_none());
    let failures = failed(&without);
    assert!(
        failures.iter().any(|f| f.starts_with(criterion)),
        "{name} without sync must fail {criterion}, failed: {failures:?}"
    );
    with
}

fn fetched(report: &Report, what: &str) -> u64 {
    let sync = report.figures.sync.as_ref().expect("sync figures");
    sync.delivered.get(what).copied().unwrap_or(0)
}

#[test]
fn a_proposer_cut_off_with_fewer_than_t_plus_1_members_is_certified_after_the_heal() {
    let report = recovers_only_by_sync("sync-proposer-cut-off", "certified_within_ms");
    assert!(fetched(&report, "proposal/accept") > 0);
}

#[test]
fn members_down_when_a_proposal_is_made_certify_it_after_they_restart() {
    let report = recovers_only_by_sync("sync-members-down", "certified_within_ms");
    assert!(fetched(&report, "proposal/accept") > 0);
}

#[test]
fn a_supermajority_slot_short_of_members_is_certified_once_one_restarts() {
    let report = recovers_only_by_sync("sync-supermajority-short", "certified_within_ms");
    assert!(fetched(&report, "proposal/accept") > 0);
}

#[test]
fn rolling_partitions_of_several_shapes_lose_no_proposal() {
    let report = recovers_only_by_sync("sync-rolling-partitions", "certified_within_ms");
    assert_eq!(report.certificates.len(), 6);
}

#[test]
fn a_ballot_missed_by_a_partitioned_group_is_decided_there_after_the_heal() {
    let report = recovers_only_by_sync("sync-ballot-missed", "ballot_expected");
    assert!(fetched(&report, "ballot_message/accept") > 0);
}

#[test]
fn a_sync_run_replays_byte_for_byte() {
    let scenario = scenario("sync-proposer-cut-off");
    let first = World::new(scenario.clone(), scenario.seed).run();
    let again = World::new(scenario.clone(), scenario.seed).run();
    assert_eq!(
        serde_json::to_string(&first).unwrap(),
        serde_json::to_string(&again).unwrap()
    );
}
