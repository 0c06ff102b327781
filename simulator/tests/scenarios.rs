//! The shipped scenarios run to their criteria, replay exactly from their seed, and a
//! broken scenario file is refused naming the field.

use std::path::PathBuf;

use x0_simulator::{Report, Scenario, World};

fn scenario(name: &str) -> Scenario {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(format!("{name}.toml"));
    Scenario::from_file(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn run(scenario: &Scenario, seed: u64) -> Report {
    World::new(scenario.clone(), seed).run()
}

fn assert_passed(report: &Report) {
    assert!(
        report.passed,
        "{}",
        serde_json::to_string_pretty(report).unwrap()
    );
}

#[test]
fn quickstart_meets_its_criteria_and_replays_byte_for_byte() {
    let scenario = scenario("quickstart");
    let first = run(&scenario, scenario.seed);
    assert_passed(&first);
    assert_eq!(first.certificates.len(), 2);
    assert!(first.figures.probe_deliveries > 0);
    let again = run(&scenario, scenario.seed);
    assert_eq!(
        serde_json::to_string(&first).unwrap(),
        serde_json::to_string(&again).unwrap(),
        "same scenario and seed, same report"
    );
    let other = run(&scenario, scenario.seed + 1);
    assert_ne!(first.trace_sha256, other.trace_sha256);
}

#[test]
fn a_byzantine_third_of_the_committee_cannot_stop_or_forge_certificates() {
    let scenario = scenario("byzantine-33");
    let report = run(&scenario, scenario.seed);
    assert_passed(&report);
    assert!(
        report.figures.shares_rejected > 0,
        "no invalid share was ever rejected"
    );
    assert!(report.figures.evidence_records > 0);
}

#[test]
fn a_partitioned_half_gets_the_certificate_after_the_heal() {
    let scenario = scenario("partition-heal");
    let report = run(&scenario, scenario.seed);
    assert_passed(&report);
    // Made during the split: the far side can only have got it after the heal (35 s).
    let certificate = &report.certificates[0];
    let slowest = certificate.slowest_ms.unwrap();
    assert!(slowest > 0 && slowest <= 120_000, "{slowest}");
}

#[test]
fn restarted_nodes_catch_up_from_what_they_persisted_and_from_republication() {
    let scenario = scenario("node-down");
    let report = run(&scenario, scenario.seed);
    assert_passed(&report);
    assert_eq!(report.certificates.len(), 2);
    assert!(report.certificates.iter().all(|c| c.held_by == 60));
}

#[test]
fn conflicting_certificates_halt_the_slot_everywhere_and_forgeries_never_count() {
    let scenario = scenario("conflicting-proposals");
    let report = run(&scenario, scenario.seed);
    assert_passed(&report);
    assert_eq!(report.certificates.len(), 2, "this seed forms a conflict");
    assert!(
        report.figures.certificates_rejected > 0,
        "no forgery was rejected"
    );
    // A run where honest members all saw the same proposal first has no conflict, and
    // still passes: detection is what is promised, not that a conflict forms. (Seed 21:
    // seed 5 was calm until the gossip model followed upstream's mesh rules more closely;
    // with both proposals at one moment most seeds form a conflict, 5 of 98 do not.)
    let calm = run(&scenario, 21);
    assert_passed(&calm);
    assert_eq!(calm.certificates.len(), 1);
}

#[test]
fn half_the_nodes_losing_half_their_messages_still_get_every_certificate() {
    let scenario = scenario("loss-50");
    let report = run(&scenario, scenario.seed);
    assert_passed(&report);
    assert!(report.figures.messages_lost > 0);
}

#[test]
fn cascading_crashes_and_loss_lose_no_certificate() {
    let scenario = scenario("cascading-failures");
    let report = run(&scenario, scenario.seed);
    assert_passed(&report);
    assert_eq!(report.certificates.len(), 2);
}

#[test]
fn flooding_and_replaying_members_are_shrugged_off() {
    let scenario = scenario("byzantine-noise");
    let report = run(&scenario, scenario.seed);
    assert_passed(&report);
    let f = &report.figures;
    assert!(
        f.flood_published > 1_000 && f.replays_published > 10,
        "{f:?}"
    );
    // The flooder's peers graylist it after a few rejections: of its garbage, only the
    // first few messages per peer ever reach an honest node's validation.
    assert!(f.flood_messages_validated * 5 < f.flood_published, "{f:?}");
}

#[test]
fn broken_scenarios_name_the_field() {
    let base = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/quickstart.toml"),
    )
    .unwrap();
    for (from, to, field) in [
        ("nodes = 100", "nodes = 1", "topology.nodes"),
        ("size = 10", "size = 0", "committee.size"),
        ("proposer = 3", "proposer = 30", "proposals[1].proposer"),
        ("min_ms = 10", "min_ms = 100", "network.latency"),
        (
            "probe_interval_ms = 1000",
            "probe_interval_ms = \"x\"",
            "traffic.probe_interval_ms",
        ),
        ("seed = 1", "seed = 1\nspeed = 2", "speed"),
        (
            "[criteria]",
            "[[byzantine]]\nmembers = { first = 0, last = 3 }\nbehaviours = [\"flood\"]\n\n[criteria]",
            "at most t = 3",
        ),
    ] {
        let text = base.replacen(from, to, 1);
        assert_ne!(text, base, "{from}");
        let error = Scenario::from_toml(&text, "test.toml").unwrap_err();
        assert!(
            error.field.contains(field) || error.message.contains(field),
            "{field}: {error}"
        );
    }
}
