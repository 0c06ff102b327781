//! `x0 committee`, `x0 propose` and `x0 cert` as an operator meets them: a 10-node devnet
//! certifies a proposal made with `x0 propose`, the certificate verifies offline and a
//! tampered one does not, and every operator mistake exits 2 naming what to fix.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{text, x0};

const X0: &str = env!("CARGO_BIN_EXE_x0");

fn assert_exit(output: &Output, code: i32, needles: &[&str]) {
    let stderr = text(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout: {}\nstderr: {stderr}",
        text(&output.stdout)
    );
    for needle in needles {
        assert!(stderr.contains(needle), "expected `{needle}` in: {stderr}");
    }
}

#[test]
fn devnet_of_ten_certifies_a_proposal_made_with_x0_propose() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("devnet");
    let mut devnet = Command::new(X0)
        .args([
            "devnet",
            "--nodes",
            "10",
            "--duration-s",
            "40",
            "--probe-interval-ms",
            "1000",
            "--data-dir",
            &data.display().to_string(),
        ])
        .env("X0_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = devnet.stdout.take().unwrap();
    let (lines_tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let api = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines.recv_timeout(left).unwrap_or_else(|_| {
            let _ = devnet.kill();
            panic!("the devnet printed no propose hint within 60 s")
        });
        if let Some(rest) = line.strip_prefix("Propose a change: x0 propose --api ") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    let cert = dir.path().join("cert.json");
    let cert_path = cert.display().to_string();
    let output = x0(&[
        "propose",
        "--api",
        &api,
        "--slot",
        "gossip/mesh_n",
        "--payload",
        "8",
        "--affected-fraction",
        "0.4",
        "--wait-s",
        "15",
        "--out",
        &cert_path,
    ]);
    assert_exit(&output, 0, &[]);
    assert!(text(&output.stdout).contains("certified by"));
    let committee = data.join("committee.toml").display().to_string();
    let verified = x0(&["cert", "verify", &cert_path, "--committee", &committee]);
    assert_exit(&verified, 0, &[]);
    assert!(text(&verified.stdout).starts_with("valid certificate"));

    // The same certificate with its readable payload changed: refused, exit 1.
    let document = std::fs::read_to_string(&cert).unwrap();
    let forged = dir.path().join("forged.json");
    std::fs::write(
        &forged,
        document.replace("\"payload\": \"8\"", "\"payload\": \"80\""),
    )
    .unwrap();
    let refused = x0(&[
        "cert",
        "verify",
        &forged.display().to_string(),
        "--committee",
        &committee,
    ]);
    assert_exit(&refused, 1, &["INVALID"]);

    let shown = x0(&["committee", "show", "--committee", &committee]);
    assert_exit(&shown, 0, &[]);
    let shown = text(&shown.stdout);
    assert!(shown.contains("10 members"), "{shown}");
    assert!(
        shown.contains("standard certificates need 4 signers"),
        "{shown}"
    );

    // The devnet's own summary counts the certificate on every node; stop it with SIGTERM.
    std::thread::sleep(Duration::from_secs(6));
    let status = Command::new("kill")
        .args(["-TERM", &devnet.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = devnet.wait().unwrap();
    assert_eq!(exit.code(), Some(0));
    let summary: Vec<String> = lines
        .try_iter()
        .filter(|l| l.starts_with("node "))
        .collect();
    let last = &summary[summary.len() - 10..];
    for line in last {
        assert!(line.ends_with("certificates 1"), "{line}");
    }
}

#[test]
fn committee_deal_writes_private_shares_and_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let members = dir.path().join("members.txt");
    let peers: Vec<String> = (0..7)
        .map(|_| libp2p::PeerId::random().to_string())
        .collect();
    std::fs::write(&members, format!("# seven\n{}\n", peers.join("\n"))).unwrap();
    let out = dir.path().join("keys");
    let members_arg = members.display().to_string();
    let out_arg = out.display().to_string();
    let dealt = x0(&[
        "committee",
        "deal",
        "--members",
        &members_arg,
        "--out",
        &out_arg,
        "--supermajority-slot",
        "charter/*",
    ]);
    assert_exit(&dealt, 0, &[]);
    assert!(text(&dealt.stdout).contains("7 members, t = 2"));
    for (index, peer) in peers.iter().enumerate() {
        let path = out.join(format!("member-{index:04}.share.toml"));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", path.display());
        let share = std::fs::read_to_string(&path).unwrap();
        assert!(share.contains(peer.as_str()));
    }
    let public = std::fs::read_to_string(out.join("committee.toml")).unwrap();
    assert!(
        !public.contains("_share"),
        "secret material in committee.toml"
    );

    // Dealing again into the same directory never overwrites secrets.
    let again = x0(&[
        "committee",
        "deal",
        "--members",
        &members_arg,
        "--out",
        &out_arg,
    ]);
    assert_exit(&again, 2, &["--out", "new, empty directory"]);
    // A members file with a bad line names the line.
    std::fs::write(&members, format!("{}\nnot-a-peer-id\n", peers[0])).unwrap();
    let bad = x0(&[
        "committee",
        "deal",
        "--members",
        &members_arg,
        "--out",
        &dir.path().join("other").display().to_string(),
    ]);
    assert_exit(&bad, 2, &["--members", "line 2"]);
    let bad_slot = x0(&[
        "committee",
        "deal",
        "--members",
        &members_arg,
        "--out",
        &dir.path().join("third").display().to_string(),
        "--supermajority-slot",
        "Charter!",
    ]);
    assert_exit(&bad_slot, 2, &["--supermajority-slot #1"]);
}

fn write(dir: &Path, name: &str, body: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    path.display().to_string()
}

#[test]
fn certificate_mistakes_exit_2_naming_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let out_of_range = x0(&[
        "propose",
        "--slot",
        "gossip/mesh_n",
        "--payload",
        "8",
        "--affected-fraction",
        "2",
    ]);
    assert_exit(&out_of_range, 2, &["--affected-fraction"]);

    let no_table = write(dir.path(), "plain.toml", "[probe]\ninterval_ms = 5\n");
    let cert = write(dir.path(), "cert.json", "{}");
    let verify = x0(&["cert", "verify", &cert, "--committee", &no_table]);
    assert_exit(&verify, 2, &["no [committee] table"]);

    // A node whose committee key set is not hex refuses to start, naming the field.
    let members = format!("\"{}\"", libp2p::PeerId::random());
    let broken = write(
        dir.path(),
        "node.toml",
        &format!(
            "[committee]\nepoch = 1\nmembers = [{members}]\npublic_key_set = \"zz\"\nsupermajority_public_key_set = \"zz\"\n"
        ),
    );
    let node = x0(&["node", "--config", &broken]);
    assert_exit(&node, 2, &["committee.public_key_set", "x0 committee deal"]);
}

#[test]
fn simulate_runs_a_scenario_and_names_broken_fields() {
    let scenarios = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios");
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let output = x0(&[
        "simulate",
        &format!("{scenarios}/byzantine-33.toml"),
        "--report",
        &report.display().to_string(),
    ]);
    assert_exit(&output, 0, &[]);
    let stdout = text(&output.stdout);
    assert!(stdout.contains("ok   safety"), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(report["passed"], true);
    assert_eq!(report["seed"], 7);

    let broken = std::fs::read_to_string(format!("{scenarios}/byzantine-33.toml"))
        .unwrap()
        .replace("last = 2", "last = 5");
    let path = write(dir.path(), "broken.toml", &broken);
    let refused = x0(&["simulate", &path]);
    assert_exit(&refused, 2, &["byzantine", "at most t = 3"]);
}
