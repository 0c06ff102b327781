//! Local ballots in the simulator: the fallback opens only on f+1 attestations and
//! passes despite equivocators, the two sides of a partition never decide opposite
//! results (and a weaker rule would), a faulty third can neither open nor pass, and a
//! restarted node never reuses a vote sequence (and the check sees it when it does).

mod common;
use common::scenario;
use x0_simulator::model_crypto::Weakness;
use x0_simulator::report::CriterionResult;
use x0_simulator::{Report, World};

fn criterion<'r>(report: &'r Report, name: &str) -> &'r CriterionResult {
    report
        .criteria
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no criterion {name}"))
}

fn assert_passed(report: &Report) {
    assert!(report.passed, "{}", report.render());
}

const BALLOT_INVARIANTS: [&str; 6] = [
    "ballot_safety",
    "ballot_faulty_alone_never_pass",
    "ballot_certificates_verify",
    "ballot_sequence_reused",
    "ballot_opens_rate_limited",
    "ballot_expected",
];

#[test]
fn the_fallback_ballot_passes_everywhere_and_excludes_the_equivocators() {
    let scenario = scenario("ballot-fallback");
    let report = World::new(scenario.clone(), scenario.seed).run();
    assert_passed(&report);
    for name in BALLOT_INVARIANTS {
        assert!(criterion(&report, name).passed, "{name}");
    }
    assert_eq!(report.ballots.len(), 1, "{}", report.render());
    let ballot = &report.ballots[0];
    assert_eq!(ballot.passed, report.honest_nodes, "{}", report.render());
    assert_eq!(
        ballot.rejected + ballot.no_decision + ballot.undecided_up,
        0
    );
    assert_eq!(
        ballot.excluded_everywhere,
        vec![7, 8, 9],
        "{}",
        report.render()
    );
    assert!(report.figures.ballot_refused.contains_key("equivocation"));
    // The restarted member voted again with the next sequence, and the run replays.
    let again = World::new(scenario.clone(), scenario.seed).run();
    assert_eq!(report.trace_sha256, again.trace_sha256);
}

#[test]
fn the_two_sides_of_a_partition_never_decide_opposite_results() {
    let scenario = scenario("ballot-partition");
    let mut passed_somewhere = 0;
    let mut undecided_somewhere = 0;
    for seed in scenario.seed..scenario.seed + 4 {
        let report = World::new(scenario.clone(), seed).run();
        assert_passed(&report);
        assert!(criterion(&report, "ballot_safety").passed);
        let ballot = &report.ballots[0];
        assert_eq!(ballot.rejected, 0, "seed {seed}: {}", report.render());
        passed_somewhere += usize::from(ballot.passed > 0);
        undecided_somewhere += usize::from(ballot.no_decision > 0);
    }
    // Not vacuous: the split did split the outcome (one side passed, the other could
    // not decide), so the sides really decided on different votes.
    assert!(passed_somewhere > 0 && undecided_somewhere > 0);
}

#[test]
fn a_majority_only_rule_decides_opposite_results_across_the_partition() {
    // The check must be able to fail: with participation above 1/2 (instead of 2/3) the
    // side of 3 honest "no" plus the 3 equivocators' "no" rejects while the other side
    // passes, and `ballot_safety` names both, on every seed the safe rule passes.
    let scenario = scenario("ballot-partition");
    for seed in scenario.seed..scenario.seed + 4 {
        let report = World::weakened(scenario.clone(), seed, Weakness::BallotMajorityOnly).run();
        assert!(!report.passed);
        let safety = criterion(&report, "ballot_safety");
        assert!(!safety.passed, "seed {seed}: {}", report.render());
        assert!(
            safety.detail.contains("passed at nodes")
                && safety.detail.contains("rejected at nodes"),
            "{}",
            safety.detail
        );
    }
}

#[test]
fn a_faulty_third_can_neither_open_the_fallback_nor_pass_a_ballot() {
    let scenario = scenario("ballot-faulty-third");
    let report = World::new(scenario.clone(), scenario.seed).run();
    assert_passed(&report);
    let refused = report.ballots[0].refused.as_deref().unwrap_or("");
    assert!(refused.contains("3 of 4"), "{}", report.render());
    assert!(
        report.ballots.iter().all(|b| b.passed == 0),
        "{}",
        report.render()
    );
    let faulty = &report.ballots[1];
    assert_eq!(
        faulty.no_decision,
        report.honest_nodes,
        "{}",
        report.render()
    );
    let refusals = &report.figures.ballot_refused;
    for reason in ["rate_limited", "bad_signature", "not_from_signer"] {
        assert!(
            refusals.get(reason).is_some_and(|n| *n > 0),
            "{reason}: {refusals:?}"
        );
    }
    assert!(report
        .figures
        .ballot_attacks
        .get("spam_opens")
        .is_some_and(|n| *n > 10));
}

#[test]
fn a_restarted_node_without_its_votes_reuses_a_sequence_and_fails_the_invariant() {
    let scenario = scenario("ballot-fallback");
    let report = World::weakened(
        scenario.clone(),
        scenario.seed,
        Weakness::BallotVotesForgotten,
    )
    .run();
    let reused = criterion(&report, "ballot_sequence_reused");
    assert!(!reused.passed, "{}", report.render());
    assert!(reused.detail.contains("node 2"), "{}", reused.detail);
}

#[test]
fn broken_ballot_fields_are_refused_by_name() {
    common::assert_edits_refused(
        "ballot-fallback",
        &[
            ("opener = 0", "opener = 20", "ballots[0].opener"),
            (
                "honest_choice = \"yes\"",
                "honest_choice = \"maybe\"",
                "ballots[0].honest_choice",
            ),
            (
                "effect = \"lift-halt\"",
                "effect = \"lift\"",
                "ballots[0].effect",
            ),
            (
                "expect = \"passed\"",
                "expect = \"won\"",
                "ballots[0].expect",
            ),
            (
                "vote_delay_ms_min = 1000",
                "vote_delay_ms_min = 20000",
                "ballot.vote_delay_ms_min",
            ),
            (
                "hub_poll_interval_ms = 30000",
                "hub_poll_interval_ms = 0",
                "ballot.hub_poll_interval_ms",
            ),
            (
                "members = { first = 7, last = 9 }",
                "members = { first = 17, last = 19 }",
                "needs a seat in the electorate",
            ),
        ],
    );
}
