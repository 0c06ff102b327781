//! Anti-entropy sync in the simulator: each scenario of issue 19 passes with the nodes'
//! sync on, and fails with it off (the mutation check: without sync nothing recovers
//! what gossip's caches let go). The 20-seed sweeps are in docs/BENCHMARKS.md
//! (`x0 sim FILE --runs 20`), not here.

mod common;
use common::scenario;
use x0_simulator::model_crypto::Weakness;
use x0_simulator::scenario::{Behaviour, Byzantine, Fault, NodeRange, RevocationSpec};
use x0_simulator::{Report, World};

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
fn a_revocation_missed_by_a_crashed_node_and_a_late_joiner_is_in_force_after_they_come_up() {
    let report = recovers_only_by_sync("sync-revocation-missed", "revocations_applied_within_ms");
    // Nodes 5 and 20 each fetched the list (nobody else lacked it).
    assert!(fetched(&report, "revocation_list/accept") >= 2);
    let list = &report.revocations[0];
    assert_eq!((list.applied_by, list.honest_up), (60, 60));
    // The revoked member kept signing; gates refused it, and no gate let it in after the
    // list was in force there.
    assert!(report
        .figures
        .auth_rejected
        .get("revoked")
        .is_some_and(|n| *n > 0));
    assert!(report
        .criteria
        .iter()
        .any(|c| c.name == "revoked_refused" && c.passed));
}

/// Every node but the revoked member 9 restarts after the list is in force: a gate that
/// forgot its revoked ids admits member 9's shares again, and the invariant says so.
#[test]
fn a_restarted_gate_that_forgets_its_revocations_fails_the_invariant() {
    let mut scenario = scenario("sync-revocation-missed");
    for nodes in [
        NodeRange { first: 0, last: 8 },
        NodeRange {
            first: 10,
            last: 59,
        },
    ] {
        scenario.faults.push(Fault::Crash {
            at_ms: 20_000,
            nodes,
        });
        scenario.faults.push(Fault::Restart {
            at_ms: 25_000,
            nodes,
        });
    }
    let sound = World::weakened(scenario.clone(), scenario.seed, Weakness::None).run();
    assert!(sound.passed, "{:?}", failed(&sound));
    let weakened = World::weakened(
        scenario.clone(),
        scenario.seed,
        Weakness::RevocationsForgotten,
    )
    .run();
    let failures = failed(&weakened);
    assert!(
        failures.iter().any(|f| f.starts_with("revoked_refused")),
        "a gate without its revocations must fail revoked_refused, failed: {failures:?}"
    );
}

/// Forgers publish lists signed by their own authority that revoke the whole committee,
/// by gossip and to sync peers: honest nodes refuse every one as invalid in itself, and
/// the committee keeps certifying.
#[test]
fn forged_revocation_lists_revoke_nobody() {
    let mut scenario = scenario("sync-revocation-missed");
    scenario.byzantine.push(Byzantine {
        members: NodeRange {
            first: 40,
            last: 41,
        },
        behaviours: vec![Behaviour::ForgeTokens],
        target: None,
    });
    let report = World::new(scenario.clone(), scenario.seed).run();
    assert!(report.passed, "{:?}", failed(&report));
    let forged = report
        .figures
        .auth_attacks_published
        .get("forged_revocations");
    assert!(forged.is_some_and(|n| *n > 10), "{forged:?}");
    let refused = report
        .figures
        .revocations_refused
        .get("revocations_signature");
    assert!(refused.is_some_and(|n| *n > 0), "{refused:?}");
    // The authority's list is in force on all 58 honest nodes, and no forged one is
    // anywhere: the committee's proposals still certified (the report passed).
    assert_eq!(report.revocations[0].applied_by, 58);
}

/// A second list revoking more (8 and 9) while the same nodes are down, and a third that
/// adds nothing where it is handed in. A node that took the second list first ignores the
/// first as known, yet holds it in force: lists count by their ids. The third is not
/// published, and so not judged.
#[test]
fn overlapping_revocation_lists_are_in_force_by_their_ids() {
    let mut scenario = scenario("sync-revocation-missed");
    let list = |at_ms: u64, publisher: u32, first: u32| RevocationSpec {
        at_ms,
        publisher,
        revoked: NodeRange { first, last: 9 },
    };
    scenario.revocations.push(list(20_000, 31, 8));
    scenario.revocations.push(list(25_000, 32, 9));
    let report = World::new(scenario.clone(), scenario.seed).run();
    assert!(report.passed, "{:?}", failed(&report));
    let published: Vec<(u64, bool, usize)> = report
        .revocations
        .iter()
        .map(|r| (r.sequence, r.published, r.applied_by))
        .collect();
    assert_eq!(published, vec![(1, true, 60), (2, true, 60), (3, false, 0)]);
}

#[test]
fn broken_revocation_fields_are_refused_by_name() {
    common::assert_edits_refused(
        "sync-revocation-missed",
        &[
            (
                "publisher = 30",
                "publisher = 60",
                "revocations[0].publisher",
            ),
            (
                "revoked = { first = 9, last = 9 }",
                "revoked = { first = 9, last = 70 }",
                "revocations[0].revoked",
            ),
            (
                "revoked = { first = 9, last = 9 }",
                "revoked = { first = 9, last = 8 }",
                "revocations[0].revoked",
            ),
            ("publisher = 30", "publisher = 30\nrevoke = 2", "revoke"),
        ],
    );
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
