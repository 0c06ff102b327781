//! The dealerless ceremony and the repair of a lost share through the real `x0` binary:
//! five guardians run DKG parts 1-3 (each into its own directory, as on its own machine),
//! all compute the same group; guardian 4's share is lost and rebuilt by helpers 1, 2 and 5
//! in three steps; the repaired share then signs an approval and recovers the key with
//! two others. A helper whose share file was altered is named and the repair stops.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PREFIX: &str = "X0_TEST_DKG_PASS_";
const KEY_VAR: &str = "X0_TEST_DKG_MASTER";

fn x0(args: &[String]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_x0"));
    command
        .args(args)
        .env_remove("X0_CONFIG")
        .env("X0_LOG", "warn")
        .env(KEY_VAR, "the master key file's passphrase");
    for g in 1..=5 {
        command.env(
            format!("{PREFIX}{g}"),
            format!("dkg guardian {g} passphrase"),
        );
    }
    command.output().expect("x0 runs")
}

fn run(args: &[&str], code: i32) -> String {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let output = x0(&args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(
        output.status.code(),
        Some(code),
        "x0 {args:?}\nstderr: {stderr}"
    );
    String::from_utf8_lossy(&output.stdout).into_owned() + &stderr
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

#[test]
fn dkg_by_five_then_repair_of_a_lost_share() {
    let root = tempfile::tempdir().unwrap();
    let ceremony = root.path().join("ceremony");
    let home = |g: u16| -> PathBuf { root.path().join(format!("guardian-{g}")) };
    let (c, pass) = (p(&ceremony), ["--passphrase-env-prefix", PREFIX]);
    for g in 1..=5u16 {
        let gs = g.to_string();
        let mut args = vec![
            "guardian",
            "dkg",
            "part1",
            "--guardian",
            &gs,
            "--guardians",
            "5",
            "--threshold",
            "3",
            "--name",
            "emergency",
            "--dir",
            &c,
        ];
        args.extend_from_slice(&pass);
        run(&args, 0);
    }
    for g in 1..=5u16 {
        let gs = g.to_string();
        let mut args = vec!["guardian", "dkg", "part2", "--guardian", &gs, "--dir", &c];
        args.extend_from_slice(&pass);
        run(&args, 0);
    }
    let mut fingerprints = Vec::new();
    for g in 1..=5u16 {
        let (gs, out) = (g.to_string(), p(&home(g)));
        let mut args = vec![
            "guardian",
            "dkg",
            "part3",
            "--guardian",
            &gs,
            "--dir",
            &c,
            "--out",
            &out,
        ];
        args.extend_from_slice(&pass);
        let printed = run(&args, 0);
        assert!(
            printed.contains("3 of 5, epoch 0, dkg ceremony"),
            "{printed}"
        );
        fingerprints.push(
            printed
                .lines()
                .find(|l| l.starts_with("fingerprint"))
                .unwrap()
                .to_string(),
        );
    }
    assert!(
        fingerprints.windows(2).all(|w| w[0] == w[1]),
        "{fingerprints:?}"
    );
    let group_text = std::fs::read(home(1).join("group.json")).unwrap();
    for g in 2..=5 {
        assert_eq!(
            std::fs::read(home(g).join("group.json")).unwrap(),
            group_text
        );
    }
    let group = p(&home(1).join("group.json"));
    let share = |g: u16| p(&home(g).join(format!("guardian-{g}.share")));

    // Guardian 4 loses its share.
    std::fs::remove_file(share(4)).unwrap();
    let repair = p(&root.path().join("repair"));
    let party = [
        "--group",
        group.as_str(),
        "--helpers",
        "1,2,5",
        "--lost",
        "4",
        "--dir",
        repair.as_str(),
    ];

    // A helper whose share file was altered is named; nothing is written for it.
    let altered = root.path().join("altered.share");
    let mut bytes = std::fs::read(share(2)).unwrap();
    let at = bytes.len() - 1;
    bytes[at] ^= 1;
    std::fs::write(&altered, bytes).unwrap();
    let mut args = vec!["guardian", "repair", "step1"];
    args.extend_from_slice(&party);
    let altered_s = p(&altered);
    args.extend_from_slice(&["--share", &altered_s]);
    args.extend_from_slice(&pass);
    let refused = run(&args, 2);
    assert!(
        refused.contains("guardian 2") && refused.contains("altered"),
        "{refused}"
    );

    for g in [1u16, 2, 5] {
        let s = share(g);
        let mut args = vec!["guardian", "repair", "step1"];
        args.extend_from_slice(&party);
        args.extend_from_slice(&["--share", &s]);
        args.extend_from_slice(&pass);
        run(&args, 0);
    }
    for g in [1u16, 2, 5] {
        let gs = g.to_string();
        let mut args = vec!["guardian", "repair", "step2", "--guardian", &gs];
        args.extend_from_slice(&party);
        run(&args, 0);
    }
    let s4 = share(4);
    let mut args = vec!["guardian", "repair", "step3", "--out", &s4];
    args.extend_from_slice(&party);
    args.extend_from_slice(&pass);
    assert!(run(&args, 0).contains("repaired and checked"));

    // The repaired share approves and recovers with two others.
    let work = root.path().join("approval");
    let request = p(&work.join("request.json"));
    run(
        &[
            "guardian",
            "approve",
            "request",
            "--group",
            &group,
            "--operation",
            "recover",
            "--out",
            &request,
        ],
        0,
    );
    let signers = [3u16, 4, 5];
    let commit = |g: u16| p(&work.join(format!("c{g}.json")));
    let nonce = |g: u16| p(&work.join(format!("n{g}")));
    let sig = |g: u16| p(&work.join(format!("s{g}.json")));
    for g in signers {
        let (s, c, n) = (share(g), commit(g), nonce(g));
        let mut args = vec![
            "guardian",
            "approve",
            "commit",
            "--group",
            &group,
            "--share",
            &s,
            "--request",
            &request,
            "--nonces",
            &n,
            "--out",
            &c,
        ];
        args.extend_from_slice(&pass);
        run(&args, 0);
    }
    let commits: Vec<String> = signers.iter().map(|g| commit(*g)).collect();
    for g in signers {
        let (s, n, o) = (share(g), nonce(g), sig(g));
        let mut args = vec![
            "guardian",
            "approve",
            "sign",
            "--group",
            &group,
            "--share",
            &s,
            "--request",
            &request,
            "--nonces",
            &n,
            "--out",
            &o,
        ];
        for c in &commits {
            args.extend_from_slice(&["--commitment", c]);
        }
        args.extend_from_slice(&pass);
        run(&args, 0);
    }
    let approval = p(&work.join("approval.json"));
    let sigs: Vec<String> = signers.iter().map(|g| sig(*g)).collect();
    let mut args = vec![
        "guardian",
        "approve",
        "aggregate",
        "--group",
        &group,
        "--request",
        &request,
        "--out",
        &approval,
    ];
    for c in &commits {
        args.extend_from_slice(&["--commitment", c]);
    }
    for s in &sigs {
        args.extend_from_slice(&["--signature-share", s]);
    }
    run(&args, 0);
    let (s1, s3, s4, key, seen) = (
        share(1),
        share(3),
        share(4),
        p(&root.path().join("master.key")),
        p(&root.path().join("seen.json")),
    );
    let mut args = vec![
        "guardian",
        "recover",
        "--group",
        &group,
        "--approval",
        &approval,
        "--seen",
        &seen,
        "--share",
        &s1,
        "--share",
        &s3,
        "--share",
        &s4,
        "--out",
        &key,
        "--key-passphrase-env",
        KEY_VAR,
    ];
    args.extend_from_slice(&pass);
    assert!(run(&args, 0).contains("from guardians 1, 3, 4"));
    assert!(Path::new(&key).exists());
}
