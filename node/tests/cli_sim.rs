//! `x0 sim` as an operator meets it: a run writes its reports and plots, a sweep of seeds
//! is summarised, a failing criterion exits 1 with the command that replays it (and that
//! command does replay it), and a node count the scenario cannot take exits 2 naming
//! `--nodes`. Small node counts keep each run under a few seconds.

use std::path::Path;
use std::process::Output;

mod common;

use common::{text, x0};

const SCENARIOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios");

fn assert_exit(output: &Output, code: i32) -> (String, String) {
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    // Not a terminal: no progress bar, so no carriage returns or escape codes.
    assert!(
        !stderr.contains('\r') && !stderr.contains('\x1b'),
        "{stderr:?}"
    );
    (stdout, stderr)
}

fn quickstart() -> String {
    format!("{SCENARIOS}/quickstart.toml")
}

fn read_json(path: &Path) -> serde_json::Value {
    let body = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn assert_svg(path: &Path, needles: &[&str]) {
    let body = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(body.starts_with("<svg "), "{}", path.display());
    assert!(body.contains("xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(body.trim_end().ends_with("</svg>"));
    for needle in needles {
        assert!(body.contains(needle), "{} lacks {needle}", path.display());
    }
}

#[test]
fn sim_writes_the_report_and_plots_into_out() {
    let dir = tempfile::tempdir().unwrap();
    // --out creates missing directories.
    let out = dir.path().join("runs/quick");
    let output = x0(&[
        "sim",
        &quickstart(),
        "--nodes",
        "30",
        "--out",
        &out.display().to_string(),
    ]);
    let (stdout, _) = assert_exit(&output, 0);
    assert!(
        stdout.contains("scenario quickstart seed 1: 30 nodes"),
        "{stdout}"
    );
    assert!(stdout.contains("ok   safety"), "{stdout}");
    assert!(stdout.contains("passed: all 7 criteria held"), "{stdout}");
    // The speed line: the events counted in the report, per second of wall time.
    let speed = stdout
        .lines()
        .find(|l| l.starts_with("ran in "))
        .unwrap_or_else(|| panic!("no speed line in {stdout}"));
    assert!(speed.ends_with(" events/s"), "{speed}");

    let report = read_json(&out.join("report.json"));
    assert_eq!(report["passed"], true);
    let events = report["figures"]["events"].as_u64().unwrap();
    assert!(
        events > 10_000,
        "a 30-node run of 30 s fires more: {events}"
    );
    assert!(speed.contains(&format!(": {events} events, ")), "{speed}");
    assert_eq!(report["seed"], 1);
    assert_eq!(report["nodes"], 30);
    assert_eq!(report["honest_nodes"], 30);
    assert!(!report["latency_cdf"].as_array().unwrap().is_empty());
    let spread = report["certificate_spread"].as_array().unwrap();
    assert_eq!(spread.len(), 2);
    // Both certificates end on all 30 honest nodes.
    for certificate in spread {
        let last = certificate["holders"].as_array().unwrap().last().unwrap();
        assert_eq!(last[1], 30, "{certificate}");
    }
    // report.txt is the report printed above, word for word.
    let report_text = std::fs::read_to_string(out.join("report.txt")).unwrap();
    assert!(
        stdout.starts_with(&report_text),
        "{stdout}\n---\n{report_text}"
    );
    // Each plot's title, its data series (the curves are polylines, the formation
    // diamonds polygons) and, for the CDF, the p99 mark's label.
    assert_svg(
        &out.join("latency-cdf.svg"),
        &["Probe delivery latency (CDF)", "<polyline", "p99 "],
    );
    assert_svg(
        &out.join("certificates.svg"),
        &["Certificates held by honest nodes over time", "<polyline"],
    );
    assert_svg(
        &out.join("timeline.svg"),
        &["Faults and certificates over time", "<polygon"],
    );
}

#[test]
fn sim_runs_sweeps_seeds_and_summarises_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let output = x0(&[
        "sim",
        &quickstart(),
        "--nodes",
        "20",
        "--seed",
        "5",
        "--runs",
        "2",
        "--out",
        &out.display().to_string(),
    ]);
    let (stdout, _) = assert_exit(&output, 0);
    assert!(stdout.contains("seed 5: ok"), "{stdout}");
    assert!(stdout.contains("seed 6: ok"), "{stdout}");
    assert!(
        stdout.contains("2 runs of quickstart (seeds 5..=6, 20 nodes): 2 passed, 0 failed"),
        "{stdout}"
    );
    assert!(stdout.contains("safety 2/2"), "{stdout}");
    assert!(stdout.contains("delivery p99: min "), "{stdout}");
    assert!(stdout.contains("slowest certification: min "), "{stdout}");

    let summary = read_json(&out.join("summary.json"));
    assert_eq!(summary["runs"], 2);
    assert_eq!(summary["passed"], 2);
    let seeds: Vec<u64> = summary["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["seed"].as_u64().unwrap())
        .collect();
    assert_eq!(seeds, vec![5, 6]);
    let p99 = &summary["delivery_p99_ms"];
    assert!(p99["min"].as_u64().unwrap() <= p99["median"].as_u64().unwrap());
    assert!(p99["median"].as_u64().unwrap() <= p99["max"].as_u64().unwrap());
    for seed in [5, 6] {
        let run = out.join(format!("seed-{seed}"));
        assert_eq!(read_json(&run.join("report.json"))["seed"], seed);
        assert_svg(&run.join("timeline.svg"), &["</svg>"]);
    }
    // Two seeds, two different runs.
    let traces: Vec<&str> = summary["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["trace_sha256"].as_str().unwrap())
        .collect();
    assert_ne!(traces[0], traces[1]);
}

#[test]
fn a_failed_criterion_exits_1_and_prints_the_command_that_replays_it() {
    let dir = tempfile::tempdir().unwrap();
    let impossible = std::fs::read_to_string(quickstart())
        .unwrap()
        .replace("delivery_p99_ms_max = 500", "delivery_p99_ms_max = 0");
    let path = dir.path().join("impossible.toml");
    std::fs::write(&path, impossible).unwrap();
    let path = path.display().to_string();

    let output = x0(&["sim", &path, "--seed", "3", "--nodes", "12"]);
    let (stdout, stderr) = assert_exit(&output, 1);
    let replay = format!("x0 sim {path} --seed 3 --nodes 12");
    assert!(stdout.contains("FAIL delivery_p99_ms_max"), "{stdout}");
    assert!(
        stdout.contains(&format!("replay with: {replay}\n")),
        "{stdout}"
    );
    assert!(
        stderr.contains(&format!("replay with: {replay}")),
        "{stderr}"
    );

    // The printed command replays the run: same trace digest.
    let words: Vec<&str> = replay.split(' ').skip(1).collect();
    let again = x0(&words);
    let (again_stdout, _) = assert_exit(&again, 1);
    let digest = |out: &str| {
        out.lines()
            .find(|l| l.contains("trace sha256"))
            .unwrap()
            .to_string()
    };
    assert_eq!(digest(&stdout), digest(&again_stdout));

    // A sweep fails if any run fails, and lists the replay of every failed seed.
    let swept = x0(&["sim", &path, "--seed", "3", "--nodes", "12", "--runs", "2"]);
    let (stdout, stderr) = assert_exit(&swept, 1);
    assert!(stdout.contains("0 passed, 2 failed"), "{stdout}");
    assert!(stdout.contains("delivery_p99_ms_max 0/2"), "{stdout}");
    for seed in [3, 4] {
        let replay = format!("x0 sim {path} --seed {seed} --nodes 12");
        assert!(
            stdout.contains(&format!("replay with: {replay}")),
            "{stdout}"
        );
        assert!(stderr.contains(&replay), "{stderr}");
    }
}

#[test]
fn node_counts_and_runs_the_scenario_cannot_take_exit_2_naming_the_flag() {
    // Quickstart has a committee of 10 and 8 connections per node.
    for (nodes, field) in [
        ("0", "topology.nodes"),
        ("3", "topology.connections_per_node"),
        ("9", "committee.size"),
    ] {
        let output = x0(&["sim", &quickstart(), "--nodes", nodes]);
        let (_, stderr) = assert_exit(&output, 2);
        for needle in [
            &format!("--nodes {nodes}:"),
            field,
            "pass --nodes between 10 and 20000",
        ] {
            assert!(stderr.contains(needle), "expected `{needle}` in: {stderr}");
        }
    }
    // A fault naming nodes 40-79 needs at least 80 of them.
    let output = x0(&[
        "sim",
        &format!("{SCENARIOS}/partition-heal.toml"),
        "--nodes",
        "50",
    ]);
    let (_, stderr) = assert_exit(&output, 2);
    assert!(stderr.contains("faults[0]"), "{stderr}");
    assert!(stderr.contains("between 80 and"), "{stderr}");

    let output = x0(&["sim", &quickstart(), "--runs", "0"]);
    let (_, stderr) = assert_exit(&output, 2);
    assert!(stderr.contains("--runs"), "{stderr}");
    let output = x0(&["sim", "no/such/scenario.toml"]);
    let (_, stderr) = assert_exit(&output, 2);
    assert!(stderr.contains("cannot read"), "{stderr}");
}
