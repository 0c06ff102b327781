//! `x0 guardian` and `x0 sublime` as an operator meets them: the real binary, real files,
//! real cryptography. The runbook's drill (docs/GUARDIANS.md) end to end, and every refusal
//! a guardian or operator can run into (exit 2, naming the argument and the guardian).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PREFIX: &str = "X0_TEST_GUARDIAN_PASS_";
const KEY_VAR: &str = "X0_TEST_MASTER_PASS";

fn passphrase(guardian: u16) -> String {
    format!("passphrase of guardian {guardian}")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs x0 with every guardian's passphrase (1..=10) and the master key's in the environment.
fn x0(args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_x0"));
    command
        .args(args)
        .env_remove("X0_CONFIG")
        .env("X0_LOG", "warn")
        .env(KEY_VAR, "master key file passphrase");
    for guardian in 1..=10 {
        command.env(format!("{PREFIX}{guardian}"), passphrase(guardian));
    }
    command.output().expect("x0 runs")
}

fn ok(args: &[&str]) -> String {
    let output = x0(args);
    assert_eq!(
        output.status.code(),
        Some(0),
        "x0 {args:?}\nstdout: {}\nstderr: {}",
        text(&output.stdout),
        text(&output.stderr)
    );
    text(&output.stdout)
}

/// Exit 2 with every needle in stderr.
fn refused(args: &[&str], needles: &[&str]) {
    let output = x0(args);
    let stderr = text(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(2),
        "x0 {args:?}\nstderr: {stderr}"
    );
    for needle in needles {
        assert!(stderr.contains(needle), "expected `{needle}` in: {stderr}");
    }
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

struct Ceremony {
    dir: tempfile::TempDir,
}

impl Ceremony {
    fn init(guardians: u16, threshold: u16, name: &str) -> Ceremony {
        let dir = tempfile::tempdir().unwrap();
        let out = ok(&[
            "guardian",
            "init",
            "--guardians",
            &guardians.to_string(),
            "--threshold",
            &threshold.to_string(),
            "--name",
            name,
            "--out",
            &p(&dir.path().join("group")),
            "--passphrase-env-prefix",
            PREFIX,
        ]);
        assert!(out.contains("fingerprint"), "{out}");
        Ceremony { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn group(&self) -> String {
        p(&self.path("group/group.json"))
    }

    fn share(&self, guardian: u16) -> String {
        p(&self.path(&format!("group/guardian-{guardian}.share")))
    }

    /// The four approval steps by `signers`; returns the approval file.
    fn approve(&self, group: &str, tag: &str, operation: &[&str], signers: &[u16]) -> String {
        self.approve_with_shares(group, tag, operation, signers, &|g| self.share(g))
    }

    fn approve_with_shares(
        &self,
        group: &str,
        tag: &str,
        operation: &[&str],
        signers: &[u16],
        share: &dyn Fn(u16) -> String,
    ) -> String {
        let work = self.path(&format!("approval-{tag}"));
        std::fs::create_dir_all(&work).unwrap();
        let request = p(&work.join("request.json"));
        let mut args = vec!["guardian", "approve", "request", "--group", group];
        args.extend_from_slice(operation);
        args.extend_from_slice(&["--out", &request]);
        ok(&args);
        let commitment = |g: u16| p(&work.join(format!("commit-{g}.json")));
        let nonces = |g: u16| p(&work.join(format!("nonces-{g}.sealed")));
        let signature = |g: u16| p(&work.join(format!("sig-{g}.json")));
        for &g in signers {
            ok(&[
                "guardian",
                "approve",
                "commit",
                "--group",
                group,
                "--share",
                &share(g),
                "--request",
                &request,
                "--nonces",
                &nonces(g),
                "--out",
                &commitment(g),
                "--passphrase-env-prefix",
                PREFIX,
            ]);
        }
        let mut commitment_args = Vec::new();
        for &g in signers {
            commitment_args.push("--commitment".to_string());
            commitment_args.push(commitment(g));
        }
        for &g in signers {
            let mut args: Vec<String> = [
                "guardian",
                "approve",
                "sign",
                "--group",
                group,
                "--share",
                &share(g),
                "--request",
                &request,
                "--nonces",
                &nonces(g),
                "--out",
                &signature(g),
                "--passphrase-env-prefix",
                PREFIX,
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            args.extend(commitment_args.iter().cloned());
            ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
            assert!(
                !Path::new(&nonces(g)).exists(),
                "signing nonces are deleted after use"
            );
        }
        let approval = p(&work.join("approval.json"));
        let mut args: Vec<String> = [
            "guardian",
            "approve",
            "aggregate",
            "--group",
            group,
            "--request",
            &request,
            "--out",
            &approval,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(commitment_args.iter().cloned());
        for &g in signers {
            args.push("--signature-share".into());
            args.push(signature(g));
        }
        ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let verified = ok(&[
            "guardian",
            "approve",
            "verify",
            "--group",
            group,
            "--approval",
            &approval,
        ]);
        assert!(verified.starts_with("valid:"), "{verified}");
        approval
    }

    fn recover_args<'a>(
        &'a self,
        group: &'a str,
        shares: &'a [String],
        approval: &'a str,
        out: &'a str,
    ) -> Vec<&'a str> {
        let mut args = vec![
            "guardian",
            "recover",
            "--group",
            group,
            "--approval",
            approval,
        ];
        for share in shares {
            args.extend_from_slice(&["--share", share]);
        }
        args.extend_from_slice(&[
            "--out",
            out,
            "--key-passphrase-env",
            KEY_VAR,
            "--passphrase-env-prefix",
            PREFIX,
        ]);
        args
    }
}

/// The drill, through the CLI: store written with a recovered key; guardian 2's
/// share leaks; an approved refresh gives all 10 guardians new shares; then 7 guardians
/// are unreachable and guardians 1-3 grant emergency access: the store is readable, and
/// the leaked share is refused (named) in a recovery and in an approval.
#[test]
fn drill_seven_unreachable_and_a_leaked_share_refreshed() {
    let c = Ceremony::init(10, 3, "sublime");
    let group = c.group();
    let seen = p(&c.path("seen.json"));
    // Recover the master key (approved by 4, 7, 9) and write into the store.
    let approval = c.approve(&group, "recover", &["--operation", "recover"], &[4, 7, 9]);
    let shares: Vec<String> = [4, 7, 9].iter().map(|g| c.share(*g)).collect();
    let key = p(&c.path("master.key"));
    let mut args = c.recover_args(&group, &shares, &approval, &key);
    args.extend_from_slice(&["--seen", &seen]);
    assert!(ok(&args).contains("from guardians 4, 7, 9"));
    let store = p(&c.path("store"));
    ok(&["sublime", "init", "--store", &store, "--group", &group]);
    let secret = c.path("secret.txt");
    std::fs::write(&secret, b"the seed phrase, in an envelope").unwrap();
    ok(&[
        "sublime",
        "put",
        "--store",
        &store,
        "--key",
        &key,
        "--key-passphrase-env",
        KEY_VAR,
        "--name",
        "seed.txt",
        "--in",
        &p(&secret),
    ]);
    std::fs::remove_file(&key).unwrap();

    // Guardian 2's share leaks (an attacker copies the file and learns the passphrase).
    let leaked = p(&c.path("leaked.share"));
    std::fs::copy(c.share(2), &leaked).unwrap();

    // Approved refresh; every guardian applies its refreshing share.
    let approval = c.approve(&group, "refresh", &["--operation", "refresh"], &[1, 5, 10]);
    let next = c.path("epoch1");
    ok(&[
        "guardian",
        "refresh",
        "deal",
        "--group",
        &group,
        "--approval",
        &approval,
        "--seen",
        &seen,
        "--out",
        &p(&next),
    ]);
    let new_group = p(&next.join("group.json"));
    for g in 1..=10u16 {
        ok(&[
            "guardian",
            "refresh",
            "apply",
            "--group",
            &group,
            "--new-group",
            &new_group,
            "--share",
            &c.share(g),
            "--refreshing",
            &p(&next.join(format!("refresh-guardian-{g}.json"))),
            "--passphrase-env-prefix",
            PREFIX,
        ]);
    }
    assert!(ok(&["guardian", "show", "--group", &new_group]).contains("epoch 1"));

    // Guardians 4..=10 are unreachable: 1, 2, 3 approve emergency access and recover.
    let approval = c.approve(
        &new_group,
        "emergency",
        &["--operation", "emergency-access", "--store", "sublime"],
        &[1, 2, 3],
    );
    let shares: Vec<String> = [1, 2, 3].iter().map(|g| c.share(*g)).collect();
    let key = p(&c.path("master-emergency.key"));
    let mut args = c.recover_args(&new_group, &shares, &approval, &key);
    args.extend_from_slice(&["--seen", &seen, "--store", "sublime"]);
    ok(&args);
    let read = c.path("read.txt");
    ok(&[
        "sublime",
        "get",
        "--store",
        &store,
        "--key",
        &key,
        "--key-passphrase-env",
        KEY_VAR,
        "--name",
        "seed.txt",
        "--out",
        &p(&read),
    ]);
    assert_eq!(
        std::fs::read(&read).unwrap(),
        b"the seed phrase, in an envelope"
    );

    // The leaked share is useless: refused in a recovery (named) and for signing.
    let with_leak = vec![c.share(1), leaked.clone(), c.share(3)];
    let approval = c.approve(
        &new_group,
        "after-leak",
        &["--operation", "recover"],
        &[1, 3, 6],
    );
    let mut args = c.recover_args(&new_group, &with_leak, &approval, "unused.key");
    args.extend_from_slice(&["--seen", &seen]);
    refused(
        &args,
        &[
            "--share",
            "leaked.share",
            "guardian 2",
            "epoch 0",
            "epoch 1",
        ],
    );
    let request = p(&c.path("approval-after-leak/request.json"));
    refused(
        &[
            "guardian",
            "approve",
            "commit",
            "--group",
            &new_group,
            "--share",
            &leaked,
            "--request",
            &request,
            "--nonces",
            &p(&c.path("leak.nonces")),
            "--out",
            &p(&c.path("leak.commit")),
            "--passphrase-env-prefix",
            PREFIX,
        ],
        &["--share", "guardian 2"],
    );
    // The same approval still works with current shares (it was not used up by refusals).
    let current = vec![c.share(1), c.share(6), c.share(3)];
    let key = p(&c.path("master-after.key"));
    let mut args = c.recover_args(&new_group, &current, &approval, &key);
    args.extend_from_slice(&["--seen", &seen]);
    ok(&args);
}

#[test]
fn recover_refuses_two_shares_bad_files_replays_and_other_groups() {
    let c = Ceremony::init(10, 3, "sublime");
    let group = c.group();
    let seen = p(&c.path("seen.json"));
    let approval = c.approve(&group, "recover", &["--operation", "recover"], &[1, 2, 3]);
    let run = |shares: &[String], approval: &str, out: &str, needles: &[&str]| {
        let mut args = c.recover_args(&group, shares, approval, out);
        args.extend_from_slice(&["--seen", &seen]);
        refused(&args, needles);
    };
    // Two shares: never.
    run(
        &[c.share(1), c.share(2)],
        &approval,
        "k",
        &["--share", "2 share(s) given, 3 needed"],
    );
    // The same share twice.
    run(
        &[c.share(1), c.share(2), c.share(2)],
        &approval,
        "k",
        &["guardian 2", "more than once"],
    );
    // A tampered share file (one ciphertext byte): named, never combined.
    let tampered = c.path("tampered.share");
    let mut bytes = std::fs::read(c.share(5)).unwrap();
    let last = bytes.len() - 3;
    bytes[last] ^= 0x20;
    std::fs::write(&tampered, &bytes).unwrap();
    run(
        &[c.share(1), p(&tampered), c.share(3)],
        &approval,
        "k",
        &["tampered.share", "guardian 5", "altered"],
    );
    // A wrong passphrase (from files this time).
    let pass_dir = c.path("pass");
    std::fs::create_dir_all(&pass_dir).unwrap();
    for g in 1..=10u16 {
        std::fs::write(
            pass_dir.join(format!("guardian-{g}.pass")),
            passphrase(g) + "\n",
        )
        .unwrap();
    }
    std::fs::write(pass_dir.join("guardian-3.pass"), "not the passphrase\n").unwrap();
    let shares = [c.share(1), c.share(2), c.share(3)];
    let mut args = vec![
        "guardian",
        "recover",
        "--group",
        &group,
        "--approval",
        &approval,
        "--seen",
        &seen,
        "--out",
        "k",
        "--key-passphrase-env",
        KEY_VAR,
        "--passphrase-dir",
    ];
    let pass_dir_s = p(&pass_dir);
    args.push(&pass_dir_s);
    for s in &shares {
        args.extend_from_slice(&["--share", s]);
    }
    refused(&args, &["--share", "guardian 3", "wrong passphrase"]);
    // A share of another group (same name, another ceremony): named.
    let other = Ceremony::init(10, 3, "sublime");
    run(
        &[c.share(1), c.share(2), other.share(7)],
        &approval,
        "k",
        &["guardian 7", "another group"],
    );
    // No passphrase source.
    refused(
        &[
            "guardian",
            "recover",
            "--group",
            &group,
            "--approval",
            &approval,
            "--seen",
            &seen,
            "--out",
            "k",
            "--key-passphrase-env",
            KEY_VAR,
            "--share",
            &c.share(1),
        ],
        &["--passphrase-env-prefix", "--passphrase-dir"],
    );
    // An approval by another group (the seed's 3-of-5 emergency group) is refused here.
    let emergency = Ceremony::init(5, 3, "emergency");
    let theirs = emergency.approve(
        &emergency.group(),
        "recover",
        &["--operation", "recover"],
        &[1, 4, 5],
    );
    run(
        &[c.share(1), c.share(2), c.share(3)],
        &theirs,
        "k",
        &["--approval", "another group"],
    );
    // An approval of another operation.
    let refresh = c.approve(&group, "refresh", &["--operation", "refresh"], &[4, 5, 6]);
    run(
        &[c.share(1), c.share(2), c.share(3)],
        &refresh,
        "k",
        &["--approval", "approves refresh from epoch 0, not recover"],
    );
    // Nothing above used up the approval; it works once, then is a replay.
    let key = p(&c.path("master.key"));
    let mut args = c.recover_args(&group, &shares, &approval, &key);
    args.extend_from_slice(&["--seen", &seen]);
    ok(&args);
    let again = p(&c.path("again.key"));
    run(&shares, &approval, &again, &["--approval", "already used"]);
    assert!(!Path::new(&again).exists());
    // Operator mistakes.
    refused(
        &[
            "guardian",
            "init",
            "--guardians",
            "10",
            "--threshold",
            "11",
            "--out",
            &p(&c.path("bad")),
            "--passphrase-env-prefix",
            PREFIX,
        ],
        &["--guardians/--threshold", "threshold 11 of 10"],
    );
    refused(
        &[
            "guardian",
            "init",
            "--guardians",
            "3",
            "--threshold",
            "2",
            "--out",
            &p(&c.path("nope")),
            "--passphrase-env-prefix",
            "X0_TEST_UNSET_",
        ],
        &["--passphrase-env-prefix", "$X0_TEST_UNSET_1 is not set"],
    );
    // The store refuses a master key of another group.
    let store = p(&c.path("store"));
    ok(&[
        "sublime",
        "init",
        "--store",
        &store,
        "--group",
        &other.group(),
    ]);
    std::fs::write(c.path("x"), b"x").unwrap();
    refused(
        &[
            "sublime",
            "put",
            "--store",
            &store,
            "--key",
            &key,
            "--key-passphrase-env",
            KEY_VAR,
            "--name",
            "x",
            "--in",
            &p(&c.path("x")),
        ],
        &["--key", "another guardian group"],
    );
}

/// A new passphrase shorter than 12 characters is refused before anything is written,
/// naming where it came from and the guardian; a share file whose header asks for a
/// huge Argon2 cost is refused at once, naming the parameter, instead of stretching keys
/// for minutes (the old bounds allowed 1 GiB and 16 passes).
#[test]
fn short_new_passphrases_and_huge_kdf_costs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pass_dir = dir.path().join("pass");
    std::fs::create_dir_all(&pass_dir).unwrap();
    for guardian in 1..=3 {
        std::fs::write(
            pass_dir.join(format!("guardian-{guardian}.pass")),
            passphrase(guardian) + "\n",
        )
        .unwrap();
    }
    // Eleven characters: enough under the old 8-byte rule, refused now.
    std::fs::write(pass_dir.join("guardian-2.pass"), "elevenchars\n").unwrap();
    let out = dir.path().join("group");
    refused(
        &[
            "guardian",
            "init",
            "--guardians",
            "3",
            "--threshold",
            "2",
            "--out",
            &p(&out),
            "--passphrase-dir",
            &p(&pass_dir),
        ],
        &[
            "--passphrase-dir",
            "guardian 2's passphrase",
            "11 characters",
            "at least 12",
        ],
    );
    assert!(!out.join("group.json").exists(), "nothing is written");

    // A real share, then its header's Argon2 memory raised to 1 GiB and passes to 16.
    let c = Ceremony::init(3, 2, "kdf");
    let share = c.share(1);
    let mut bytes = std::fs::read(&share).unwrap();
    bytes[44..48].copy_from_slice(&(1024u32 * 1024).to_be_bytes());
    bytes[48..52].copy_from_slice(&16u32.to_be_bytes());
    let crafted = p(&c.path("crafted.share"));
    std::fs::write(&crafted, &bytes).unwrap();
    let started = std::time::Instant::now();
    refused(
        &[
            "guardian",
            "recover",
            "--group",
            &c.group(),
            "--share",
            &crafted,
            "--approval",
            &p(&c.path("no-approval.json")),
            "--seen",
            &p(&c.path("seen.json")),
            "--out",
            &p(&c.path("master.key")),
            "--key-passphrase-env",
            KEY_VAR,
            "--passphrase-env-prefix",
            PREFIX,
        ],
        &["--share", "crafted.share", "Argon2 passes 16 outside 1..=4"],
    );
    let elapsed = started.elapsed();
    assert!(
        elapsed < std::time::Duration::from_secs(5),
        "refused after {elapsed:?}"
    );
    assert!(!c.path("master.key").exists());
}
