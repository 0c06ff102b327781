//! `x0 ballot` as an operator meets it: a real `x0 devnet` process of four members whose
//! Snapshot hub is down, the real CLI against their HTTP endpoints, a decided ballot's
//! certificate verified offline, tampered certificates refused, operator mistakes exit 2.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{assert_exit, text, x0, KillOnDrop};

/// A base port with `count` free ports after it.
fn free_port_base(count: u16) -> u16 {
    for _ in 0..200 {
        let base = 20_000 + (rand::random::<u16>() % 40_000);
        if (0..count).all(|i| TcpListener::bind(("127.0.0.1", base + i)).is_ok()) {
            return base;
        }
    }
    panic!("no {count} consecutive free ports");
}

fn api(base: u16, node: u16) -> String {
    format!("http://127.0.0.1:{}", base + node)
}

/// Runs `x0 ballot ...` until it succeeds and `accept` likes its stdout.
fn wait_for(args: &[&str], timeout: Duration, accept: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let output = x0(args);
        let stdout = text(&output.stdout);
        if output.status.success() && accept(&stdout) {
            return stdout;
        }
        assert!(
            Instant::now() < deadline,
            "`x0 {}` never gave what was expected; last stdout: {stdout}\nstderr: {}",
            args.join(" "),
            text(&output.stderr)
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn devnet(dir: &Path, base: u16) -> KillOnDrop {
    let child = Command::new(env!("CARGO_BIN_EXE_x0"))
        .args([
            "devnet",
            "--nodes",
            "4",
            "--hub-down",
            "--outage-s",
            "2",
            "--duration-s",
            "180",
            "--probe-interval-ms",
            "1000",
            "--http-port-base",
            &base.to_string(),
            "--data-dir",
            &dir.display().to_string(),
        ])
        .env_remove("X0_CONFIG")
        .env("X0_LOG", "warn,libp2p_kad=error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("x0 devnet starts");
    KillOnDrop(child)
}

#[test]
fn a_devnet_ballot_with_the_hub_down_passes_and_its_certificate_verifies_offline() {
    let dir = tempfile::tempdir().unwrap();
    let base = free_port_base(4);
    let _devnet = devnet(dir.path(), base);
    let a0 = api(base, 0);

    // The hub refuses connections: after 2 s every node attests, and with f+1 = 2 of 4
    // attestations the fallback is on.
    let status = wait_for(
        &["ballot", "status", "--api", &a0, "--json"],
        Duration::from_secs(60),
        |out| out.contains("\"mode\": \"fallback\""),
    );
    let document: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(document["attestations_needed"], 2);
    assert!(document["hub_down_since_unix_ms"].as_u64().is_some());

    let opened = x0(&[
        "ballot",
        "open",
        "--api",
        &a0,
        "--title",
        "lift the halt",
        "--effect",
        "lift-halt",
        "--duration-s",
        "12",
    ]);
    assert_exit(&opened, 0);
    let id = text(&opened.stdout).trim().to_string();
    assert_eq!(id.len(), 64, "a ballot id: {id}");

    // A second open by the same member within its open interval is refused.
    let again = x0(&[
        "ballot",
        "open",
        "--api",
        &a0,
        "--title",
        "again",
        "--effect",
        "lift-halt",
    ]);
    assert_exit(&again, 1);
    assert!(text(&again.stderr).contains("opened a ballot less than"));

    // Every node learns of the ballot, then votes: three yes, one no; node 3 first said
    // yes and changed its mind (sequence 2 replaces 1).
    for node in 0..4 {
        wait_for(
            &["ballot", "status", "--api", &api(base, node)],
            Duration::from_secs(10),
            |out| out.contains(&id),
        );
    }
    for (node, choice, sequence) in [
        (0, "yes", 1),
        (1, "yes", 1),
        (2, "yes", 1),
        (3, "yes", 1),
        (3, "no", 2),
    ] {
        let voted = x0(&["ballot", "vote", "--api", &api(base, node), &id, choice]);
        assert_exit(&voted, 0);
        assert!(
            text(&voted.stdout).contains(&format!("(sequence {sequence};")),
            "{}",
            text(&voted.stdout)
        );
    }
    let counted = wait_for(
        &["ballot", "status", "--api", &api(base, 1)],
        Duration::from_secs(10),
        |out| out.contains("yes 3 no 1 abstain 0 of 4"),
    );
    assert!(counted.contains("(this node: yes)"), "{counted}");

    // After the deadline every node decides the same, and node 2 hands out the proof.
    for node in 0..4 {
        wait_for(
            &["ballot", "status", "--api", &api(base, node)],
            Duration::from_secs(30),
            |out| out.contains(&format!("decided {id}")) && out.contains("passed"),
        );
    }
    let file = dir.path().join("ballot.cert");
    let tally = x0(&[
        "ballot",
        "tally",
        "--api",
        &api(base, 2),
        &id,
        "--out",
        &file.display().to_string(),
    ]);
    assert_exit(&tally, 0);
    let printed = text(&tally.stdout);
    assert!(printed.contains("outcome passed: yes 3 no 1 abstain 0 of an electorate of 4"));
    // The anomaly level was normal: the effect ran and said so.
    assert!(printed.contains("effect here: changed nothing: the anomaly level is not halted"));

    let committee = dir.path().join("committee.toml");
    let verify = |path: &Path| {
        x0(&[
            "ballot",
            "tally",
            "--certificate",
            &path.display().to_string(),
            "--committee",
            &committee.display().to_string(),
        ])
    };
    let valid = verify(&file);
    assert_exit(&valid, 0);
    assert!(text(&valid.stdout)
        .contains("valid: every signature verifies, the electorate is the committee,"));

    // Tampering anywhere is caught: flip one hex digit at several places.
    let hex_text = std::fs::read_to_string(&file).unwrap();
    let hex_text = hex_text.trim();
    for at in [
        20,
        hex_text.len() / 3,
        hex_text.len() / 2,
        hex_text.len() - 70,
    ] {
        let mut bytes = hex_text.as_bytes().to_vec();
        bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
        let tampered = dir.path().join(format!("tampered-{at}.cert"));
        std::fs::write(&tampered, &bytes).unwrap();
        let refused = verify(&tampered);
        assert_exit(&refused, 1);
        assert!(
            text(&refused.stdout).starts_with("invalid certificate"),
            "{}",
            text(&refused.stdout)
        );
    }
    // A certificate checked against another committee is refused too.
    let other = dir.path().join("other-committee.toml");
    let committee_text = std::fs::read_to_string(&committee).unwrap();
    let first_member = committee_text
        .split("12D3KooW")
        .nth(1)
        .map(|rest| format!("12D3KooW{}", &rest[..44]))
        .unwrap();
    let stranger = libp2p::PeerId::random().to_string();
    std::fs::write(&other, committee_text.replace(&first_member, &stranger)).unwrap();
    let wrong = x0(&[
        "ballot",
        "tally",
        "--certificate",
        &file.display().to_string(),
        "--committee",
        &other.display().to_string(),
    ]);
    assert_exit(&wrong, 1);
    assert!(
        text(&wrong.stdout).contains("electorate"),
        "{}",
        text(&wrong.stdout)
    );

    // Voting after the deadline is refused by the node.
    let late = x0(&["ballot", "vote", "--api", &a0, &id, "no"]);
    assert_exit(&late, 1);
}

#[test]
fn operator_mistakes_exit_2_naming_the_argument() {
    let dir = tempfile::tempdir().unwrap();
    for (args, needle) in [
        (
            vec!["ballot", "vote", "not-an-id", "yes"],
            "expected 64 hex digits",
        ),
        (
            vec!["ballot", "vote", &"ab".repeat(32), "maybe"],
            "expected yes, no or abstain",
        ),
        (
            vec!["ballot", "open", "--title", "t", "--effect", "drop-tables"],
            "--effect",
        ),
        (vec!["ballot", "tally"], "<ID>"),
    ] {
        let output = x0(&args);
        assert_exit(&output, 2);
        assert!(
            text(&output.stderr).contains(needle),
            "{args:?}: {}",
            text(&output.stderr)
        );
    }
    let missing = dir.path().join("missing.cert");
    let output = x0(&[
        "ballot",
        "tally",
        "--certificate",
        &missing.display().to_string(),
    ]);
    assert_exit(&output, 2);
    assert!(text(&output.stderr).contains("--certificate"));
    let not_hex = dir.path().join("not-hex.cert");
    std::fs::write(&not_hex, "zz\n").unwrap();
    let output = x0(&[
        "ballot",
        "tally",
        "--certificate",
        &not_hex.display().to_string(),
    ]);
    assert_exit(&output, 2);
    assert!(text(&output.stderr).contains("not hex"));
    // No node listening: the --api flag is named.
    let output = x0(&["ballot", "status", "--api", "http://127.0.0.1:1"]);
    assert_exit(&output, 2);
    assert!(text(&output.stderr).contains("--api"));
}
