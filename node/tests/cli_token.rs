//! `x0 token` as an operator meets it: the real binary, real files, real keys. The
//! authority's key, a member credential, the access token derived from it, attenuation,
//! each refusal reason, operator mistakes (exit 2 naming the flag), signed revocation lists,
//! and interop with a second biscuit stack (biscuit-python in target/interop-venv, which
//! scripts/setup installs): tokens minted here verify there, and tokens minted there
//! verify here.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use biscuit_auth::{Algorithm, PublicKey};
use libp2p::PeerId;
use x0_core::auth::token::{inspect, read_revocations, Revoked};

mod common;

use common::{assert_exit, text, x0};

const DAY_S: u64 = 24 * 3600;

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Exit 2 with every needle in stderr.
fn assert_operator_error(output: &Output, needles: &[&str]) {
    assert_exit(output, 2);
    let stderr = text(&output.stderr);
    for needle in needles {
        assert!(stderr.contains(needle), "expected `{needle}` in: {stderr}");
    }
}

/// Runs `x0`, expects exit 0, returns stdout.
fn ok(args: &[&str]) -> String {
    let output = x0(args);
    assert_exit(&output, 0);
    text(&output.stdout)
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// A directory with an authority key made by `x0 token keygen`.
struct Authority {
    dir: tempfile::TempDir,
    key: PathBuf,
    public: String,
}

impl Authority {
    fn new() -> Authority {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("authority.key");
        let public = ok(&["token", "keygen", "--out", &path(&key)])
            .trim()
            .to_string();
        Authority { dir, key, public }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn root(&self) -> PublicKey {
        PublicKey::from_bytes_hex(&self.public, Algorithm::Ed25519).unwrap()
    }

    /// `x0 token mint` into `name`, with extra flags.
    fn mint(&self, name: &str, member: &str, extra: &[&str]) -> PathBuf {
        let out = self.file(name);
        let key = path(&self.key);
        let out_text = path(&out);
        let mut args = vec![
            "token",
            "mint",
            "--authority-key",
            &key,
            "--member",
            member,
            "--out",
            &out_text,
        ];
        args.extend_from_slice(extra);
        ok(&args);
        out
    }

    /// `x0 token access` from `credential` into `name`.
    fn access(&self, credential: &Path, name: &str) -> PathBuf {
        let out = self.file(name);
        ok(&[
            "token",
            "access",
            "--credential",
            &path(credential),
            "--authority-public",
            &self.public,
            "--out",
            &path(&out),
        ]);
        out
    }

    /// `x0 token verify`; returns (exit code, stdout).
    fn verify(&self, token: &Path, holder: &str, operation: &str, extra: &[&str]) -> (i32, String) {
        let token = path(token);
        let mut args = vec![
            "token",
            "verify",
            "--token",
            &token,
            "--authority-public",
            &self.public,
            "--holder",
            holder,
            "--operation",
            operation,
        ];
        args.extend_from_slice(extra);
        let output = x0(&args);
        let code = output.status.code().unwrap();
        assert!(
            code == 0 || code == 1,
            "verify exit {code}: {}",
            text(&output.stderr)
        );
        (code, text(&output.stdout))
    }

    fn assert_granted(&self, token: &Path, holder: &str, operation: &str, extra: &[&str]) {
        let (code, stdout) = self.verify(token, holder, operation, extra);
        assert_eq!(code, 0, "{operation}: {stdout}");
        assert!(stdout.starts_with("granted "), "{stdout}");
    }

    fn assert_refused(
        &self,
        token: &Path,
        holder: &str,
        operation: &str,
        extra: &[&str],
        reason: &str,
    ) {
        let (code, stdout) = self.verify(token, holder, operation, extra);
        assert_eq!(code, 1, "{operation}: {stdout}");
        assert!(
            stdout.starts_with(&format!("refused: {reason} ")),
            "expected {reason}: {stdout}"
        );
    }
}

fn member() -> String {
    PeerId::random().to_string()
}

/// Token bytes from a token file, checking the file format on the way: one line of
/// URL-safe base64 ending in a newline.
fn token_bytes(file: &Path) -> Vec<u8> {
    let content = std::fs::read_to_string(file).unwrap();
    assert!(content.ends_with('\n'), "{content:?}");
    assert_eq!(content.lines().count(), 1, "{content:?}");
    let line = content.trim_end();
    assert!(
        line.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_=".contains(c)),
        "not URL-safe base64: {line}"
    );
    base64::engine::general_purpose::URL_SAFE
        .decode(line)
        .unwrap()
}

#[test]
fn keygen_mint_access_verify_and_every_refusal_reason() {
    let authority = Authority::new();
    // The key files: private hex, mode 0600; public hex on stdout.
    assert_eq!(authority.public.len(), 64, "{}", authority.public);
    assert!(authority.public.chars().all(|c| c.is_ascii_hexdigit()));
    let key_text = std::fs::read_to_string(&authority.key).unwrap();
    assert_eq!(key_text.trim().len(), 64);
    assert!(key_text.ends_with('\n'));
    let mode = std::fs::metadata(&authority.key)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let again = x0(&["token", "keygen", "--out", &path(&authority.key)]);
    assert_operator_error(&again, &["--out", "already exists"]);
    assert_eq!(std::fs::read_to_string(&authority.key).unwrap(), key_text);

    let m = member();
    let credential = authority.mint("member.credential", &m, &[]);
    let access = authority.access(&credential, "member.access");
    let bytes = token_bytes(&access);
    let summary = inspect(&bytes, &authority.root()).unwrap();
    assert_eq!(summary.member.as_deref(), Some(m.as_str()));
    // All four operations on their own topics, and propose also on the ballots topic.
    assert_eq!(summary.rights.len(), 5, "all four by default");
    let expires = summary.expires_unix_s.unwrap();
    assert!(expires.abs_diff(now_s() + 30 * DAY_S) < 120, "{expires}");
    let access_until = summary.access_until_unix_s.unwrap();
    assert!(
        access_until.abs_diff(now_s() + DAY_S) < 120,
        "{access_until}"
    );

    for operation in ["propose", "sign", "vote", "charter-update"] {
        authority.assert_granted(&access, &m, operation, &[]);
    }
    let other = member();
    authority.assert_refused(&access, &other, "sign", &[], "wrong_holder");
    let later = (now_s() + DAY_S + 3600).to_string();
    authority.assert_refused(
        &access,
        &m,
        "sign",
        &["--at-unix-s", &later],
        "token_expired",
    );
    let soon = (now_s() + 3600).to_string();
    authority.assert_granted(&access, &m, "sign", &["--at-unix-s", &soon]);
    // A right names its topic: signing on the ballots topic is not granted.
    authority.assert_refused(
        &access,
        &m,
        "sign",
        &["--topic", "/x0/1/ballots"],
        "not_permitted",
    );
    // The credential itself is not an access token, unless asked to accept one.
    authority.assert_refused(&credential, &m, "vote", &[], "not_access_token");
    authority.assert_granted(&credential, &m, "vote", &["--credential-ok"]);
    let past_credential = (now_s() + 31 * DAY_S).to_string();
    authority.assert_refused(
        &credential,
        &m,
        "vote",
        &["--credential-ok", "--at-unix-s", &past_credential],
        "token_expired",
    );
    // Not a token at all (valid base64 of other bytes).
    let junk = authority.file("junk");
    std::fs::write(&junk, "bm90IGEgdG9rZW4=\n").unwrap();
    authority.assert_refused(&junk, &m, "vote", &[], "token_malformed");

    // Narrower rights at mint time.
    let narrow = authority.mint(
        "narrow.credential",
        &m,
        &["--rights", "vote", "--ttl-days", "2"],
    );
    let summary = inspect(&token_bytes(&narrow), &authority.root()).unwrap();
    assert_eq!(
        summary.rights,
        vec![("vote".to_string(), "/x0/1/ballots".to_string())]
    );
    assert!(
        summary
            .expires_unix_s
            .unwrap()
            .abs_diff(now_s() + 2 * DAY_S)
            < 120
    );
    authority.assert_granted(&narrow, &m, "vote", &["--credential-ok"]);
    authority.assert_refused(&narrow, &m, "sign", &["--credential-ok"], "not_permitted");
}

#[test]
fn inspect_prints_the_token_with_and_without_the_key() {
    let authority = Authority::new();
    let m = member();
    let credential = authority.mint("c", &m, &["--rights", "sign,vote"]);
    let access = authority.access(&credential, "a");
    let ids = inspect(&token_bytes(&access), &authority.root())
        .unwrap()
        .revocation_ids;
    let verified = ok(&[
        "token",
        "inspect",
        "--token",
        &path(&access),
        "--authority-public",
        &authority.public,
    ]);
    let unverified = ok(&["token", "inspect", "--token", &path(&access)]);
    for (output, verdict) in [
        (&verified, "signature chain verified"),
        (&unverified, "signature NOT verified"),
    ] {
        for needle in [
            verdict,
            "kind       access token",
            &format!("member     {m}"),
            "sign on /x0/1/shares",
            "vote on /x0/1/ballots",
            "block 0 (authority)",
            "block 1",
            "check if time($t), $t <",
            &format!("member(\"{m}\")"),
            &ids[0],
            &ids[1],
        ] {
            assert!(output.contains(needle), "expected `{needle}` in:\n{output}");
        }
        // Expiry and access date in RFC 3339 and Unix seconds.
        let line = output.lines().find(|l| l.starts_with("expires ")).unwrap();
        assert!(line.contains("T") && line.contains("Z ("), "{line}");
        assert!(output.lines().any(|l| l.starts_with("access     until ")));
    }
    // The same reading both ways, apart from the verdict line.
    let strip = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| !l.contains("signature"))
            .map(String::from)
            .collect()
    };
    assert_eq!(strip(&verified), strip(&unverified));
    let credential_view = ok(&["token", "inspect", "--token", &path(&credential)]);
    assert!(
        credential_view.contains("kind       credential"),
        "{credential_view}"
    );
    assert!(
        credential_view.contains("none: a credential"),
        "{credential_view}"
    );
    // A key that did not sign it: refused, not printed as if verified.
    let stranger = Authority::new();
    let wrong = x0(&[
        "token",
        "inspect",
        "--token",
        &path(&access),
        "--authority-public",
        &stranger.public,
    ]);
    assert_exit(&wrong, 1);
    assert!(text(&wrong.stderr).contains("does not verify"));
}

#[test]
fn attenuation_narrows_and_the_removed_right_is_refused() {
    let authority = Authority::new();
    let m = member();
    let credential = authority.mint("c", &m, &[]);
    let access = authority.access(&credential, "a");
    let attenuate = |name: &str, flags: &[&str]| -> PathBuf {
        let out = authority.file(name);
        let token = path(&access);
        let out_text = path(&out);
        let mut args = vec![
            "token",
            "attenuate",
            "--token",
            &token,
            "--authority-public",
            &authority.public,
            "--out",
            &out_text,
        ];
        args.extend_from_slice(flags);
        ok(&args);
        out
    };
    let sign_only = attenuate("sign-only", &["--rights", "sign"]);
    authority.assert_granted(&sign_only, &m, "sign", &[]);
    for removed in ["vote", "propose", "charter-update"] {
        authority.assert_refused(&sign_only, &m, removed, &[], "not_permitted");
    }
    let ballots_only = attenuate("ballots-only", &["--topics", "/x0/1/ballots"]);
    authority.assert_granted(&ballots_only, &m, "vote", &[]);
    authority.assert_refused(&ballots_only, &m, "sign", &[], "not_permitted");
    let an_hour = attenuate("an-hour", &["--ttl-s", "3600"]);
    let in_two_hours = (now_s() + 7200).to_string();
    authority.assert_granted(&an_hour, &m, "vote", &[]);
    authority.assert_refused(
        &an_hour,
        &m,
        "vote",
        &["--at-unix-s", &in_two_hours],
        "token_expired",
    );
    let summary = inspect(&token_bytes(&an_hour), &authority.root()).unwrap();
    assert_eq!(summary.blocks.len(), 3);
    assert!(summary.expires_unix_s.unwrap() <= now_s() + 3600);
    // Attenuating with nothing to narrow is an operator mistake.
    let nothing = x0(&[
        "token",
        "attenuate",
        "--token",
        &path(&access),
        "--authority-public",
        &authority.public,
    ]);
    assert_operator_error(&nothing, &["--rights", "--topics", "--ttl-s"]);
}

#[test]
fn a_token_of_another_authority_is_refused_as_token_signature() {
    let authority = Authority::new();
    let impostor = Authority::new();
    let m = member();
    let forged_credential = impostor.mint("forged", &m, &[]);
    let forged = impostor.access(&forged_credential, "forged.access");
    // The impostor's own key accepts it; the network's does not.
    impostor.assert_granted(&forged, &m, "sign", &[]);
    authority.assert_refused(&forged, &m, "sign", &[], "token_signature");
    authority.assert_refused(
        &forged_credential,
        &m,
        "sign",
        &["--credential-ok"],
        "token_signature",
    );
    // Deriving an access token needs the credential's own authority: exit 2, naming it.
    let derive = x0(&[
        "token",
        "access",
        "--credential",
        &path(&forged_credential),
        "--authority-public",
        &authority.public,
    ]);
    assert_operator_error(&derive, &["--credential", "not signed by this authority"]);
    // An access token is not a credential to derive from.
    let twice = x0(&[
        "token",
        "access",
        "--credential",
        &path(&forged),
        "--authority-public",
        &impostor.public,
    ]);
    assert_operator_error(&twice, &["--credential", "already an access token"]);
}

#[test]
fn operator_mistakes_exit_2_naming_the_flag() {
    let authority = Authority::new();
    let m = member();
    let key = path(&authority.key);
    let credential = authority.mint("c", &m, &[]);
    let cred = path(&credential);
    let mint = |extra: &[&str]| {
        let mut args = vec!["token", "mint", "--authority-key", &key];
        args.extend_from_slice(extra);
        x0(&args)
    };
    assert_operator_error(
        &mint(&["--member", "not-a-peer-id"]),
        &["--member", "PeerId"],
    );
    assert_operator_error(
        &mint(&["--member", &m, "--rights", "sign,fly"]),
        &["--rights", "unknown right `fly`", "charter-update"],
    );
    assert_operator_error(&mint(&["--member", &m, "--ttl-days", "0"]), &["--ttl-days"]);
    let missing = authority.file("no-such-key");
    assert_operator_error(
        &x0(&[
            "token",
            "mint",
            "--authority-key",
            &path(&missing),
            "--member",
            &m,
        ]),
        &["--authority-key", "cannot read"],
    );
    let not_a_key = authority.file("not-a-key");
    std::fs::write(&not_a_key, "hello\n").unwrap();
    assert_operator_error(
        &x0(&[
            "token",
            "mint",
            "--authority-key",
            &path(&not_a_key),
            "--member",
            &m,
        ]),
        &["--authority-key", "64 hex digits"],
    );
    let verify = |extra: &[&str]| {
        let mut args = vec!["token", "verify"];
        args.extend_from_slice(extra);
        x0(&args)
    };
    assert_operator_error(
        &verify(&[
            "--token",
            &cred,
            "--authority-public",
            "zz",
            "--holder",
            &m,
            "--operation",
            "sign",
        ]),
        &["--authority-public", "64 hex digits"],
    );
    // A truncated key.
    let short = &authority.public[..40];
    assert_operator_error(
        &verify(&[
            "--token",
            &cred,
            "--authority-public",
            short,
            "--holder",
            &m,
            "--operation",
            "sign",
        ]),
        &["--authority-public"],
    );
    assert_operator_error(
        &verify(&["--token", &cred, "--holder", &m, "--operation", "sign"]),
        &["--authority-public HEX", "--authority-public-file FILE"],
    );
    assert_operator_error(
        &verify(&[
            "--token",
            &cred,
            "--authority-public",
            &authority.public,
            "--holder",
            &m,
            "--operation",
            "dance",
        ]),
        &["--operation", "unknown right `dance`"],
    );
    assert_operator_error(
        &verify(&[
            "--token",
            &cred,
            "--authority-public",
            &authority.public,
            "--holder",
            "12D3",
            "--operation",
            "sign",
        ]),
        &["--holder", "PeerId"],
    );
    assert_operator_error(
        &verify(&[
            "--token",
            &path(&authority.file("absent")),
            "--authority-public",
            &authority.public,
            "--holder",
            &m,
            "--operation",
            "sign",
        ]),
        &["--token", "cannot read"],
    );
    let garbled = authority.file("garbled");
    std::fs::write(&garbled, "this is ** not base64\n").unwrap();
    assert_operator_error(
        &verify(&[
            "--token",
            &path(&garbled),
            "--authority-public",
            &authority.public,
            "--holder",
            &m,
            "--operation",
            "sign",
        ]),
        &["--token", "base64"],
    );
    let not_a_token = authority.file("not-a-token");
    std::fs::write(&not_a_token, "bm90IGEgdG9rZW4=\n").unwrap();
    assert_operator_error(
        &x0(&["token", "inspect", "--token", &path(&not_a_token)]),
        &["--token", "not a biscuit token"],
    );
    let public_file = authority.file("authority.pub");
    std::fs::write(&public_file, "not hex at all\n").unwrap();
    assert_operator_error(
        &verify(&[
            "--token",
            &cred,
            "--authority-public-file",
            &path(&public_file),
            "--holder",
            &m,
            "--operation",
            "sign",
        ]),
        &["--authority-public-file", "authority.pub"],
    );
    // ... and a good public key file works.
    std::fs::write(&public_file, format!("{}\n", authority.public)).unwrap();
    let output = verify(&[
        "--token",
        &cred,
        "--authority-public-file",
        &path(&public_file),
        "--holder",
        &m,
        "--operation",
        "sign",
        "--credential-ok",
    ]);
    assert_exit(&output, 0);
    assert_operator_error(
        &x0(&[
            "token",
            "access",
            "--credential",
            &cred,
            "--authority-public",
            &authority.public,
            "--ttl-hours",
            "48",
        ]),
        &["--ttl-hours"],
    );
    assert_operator_error(
        &x0(&[
            "token",
            "revoke",
            "--authority-key",
            &key,
            "--sequence",
            "1",
        ]),
        &["--token", "--id"],
    );
    assert_operator_error(
        &x0(&[
            "token",
            "revoke",
            "--authority-key",
            &key,
            "--sequence",
            "1",
            "--id",
            "xyz",
            "--until-unix-s",
            "2000000000",
        ]),
        &["--id xyz", "not hex"],
    );
}

#[test]
fn revoke_signs_a_list_of_each_credentials_first_id() {
    let authority = Authority::new();
    let (a, b) = (member(), member());
    let credential_a = authority.mint("a.credential", &a, &[]);
    let access_a = authority.access(&credential_a, "a.access");
    let credential_b = authority.mint("b.credential", &b, &["--ttl-days", "7"]);
    let list_file = authority.file("revocations");
    let raw_id = "ab".repeat(64);
    let stdout = ok(&[
        "token",
        "revoke",
        "--authority-key",
        &path(&authority.key),
        // An access token names its credential: revoking its first id cuts the member off.
        "--token",
        &path(&access_a),
        "--token",
        &path(&credential_b),
        "--id",
        &raw_id,
        "--until-unix-s",
        "2000000000",
        "--sequence",
        "3",
        "--out",
        &path(&list_file),
    ]);
    assert!(stdout.contains("revocation list #3 with 3 ids"), "{stdout}");
    let root = authority.root();
    let list = read_revocations(&token_bytes(&list_file), &root).unwrap();
    assert_eq!(list.sequence, 3);
    let summary_a = inspect(&token_bytes(&credential_a), &root).unwrap();
    let summary_access_a = inspect(&token_bytes(&access_a), &root).unwrap();
    let summary_b = inspect(&token_bytes(&credential_b), &root).unwrap();
    // The access token's first id is its credential's: the authority block is shared.
    assert_eq!(
        summary_access_a.revocation_ids[0],
        summary_a.revocation_ids[0]
    );
    let mut expected = vec![
        Revoked {
            id: hex::decode(&summary_a.revocation_ids[0]).unwrap(),
            // The credential's own expiry, not the access token's day.
            until_unix_s: summary_a.expires_unix_s.unwrap(),
        },
        Revoked {
            id: hex::decode(&summary_b.revocation_ids[0]).unwrap(),
            until_unix_s: summary_b.expires_unix_s.unwrap(),
        },
        Revoked {
            id: hex::decode(&raw_id).unwrap(),
            until_unix_s: 2_000_000_000,
        },
    ];
    expected.sort();
    assert_eq!(list.entries, expected);
    // Another authority's key does not read it, and printing to stdout gives the same kind.
    assert!(read_revocations(&token_bytes(&list_file), &Authority::new().root()).is_err());
    let printed = ok(&[
        "token",
        "revoke",
        "--authority-key",
        &path(&authority.key),
        "--token",
        &path(&credential_b),
        "--sequence",
        "4",
    ]);
    let printed_bytes = base64::engine::general_purpose::URL_SAFE
        .decode(printed.trim())
        .unwrap();
    let second = read_revocations(&printed_bytes, &root).unwrap();
    assert_eq!(second.sequence, 4);
    assert_eq!(second.entries.len(), 1);
    // A token of another authority cannot be revoked with this key: exit 2, naming it.
    let stranger = Authority::new();
    let foreign = stranger.mint("foreign", &a, &[]);
    let refused = x0(&[
        "token",
        "revoke",
        "--authority-key",
        &path(&authority.key),
        "--token",
        &path(&foreign),
        "--sequence",
        "5",
    ]);
    assert_operator_error(&refused, &["--token", "not signed by this authority"]);
    // Inspect recognises the list.
    let view = ok(&[
        "token",
        "inspect",
        "--token",
        &path(&list_file),
        "--authority-public",
        &authority.public,
    ]);
    assert!(view.contains("kind       revocation list #3"), "{view}");
}

// ---- interop with biscuit-python ----

/// The interop virtualenv's python; the test fails (never skips) without it.
fn interop_python() -> PathBuf {
    let venv = std::env::var_os("X0_INTEROP_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("target")
                .join("interop-venv")
        });
    let python = venv.join("bin").join("python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup (it creates the interop virtualenv with biscuit-python==0.4.0)",
        python.display()
    );
    python
}

fn interop(args: &[&str]) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("scripts")
        .join("interop")
        .join("biscuit_interop.py");
    let output = Command::new(interop_python())
        .arg(script)
        .args(args)
        .output()
        .expect("the interop python runs");
    assert!(
        output.status.code() != Some(2),
        "biscuit_interop.py {args:?}: {}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    output
}

/// biscuit-python's verdict: Ok(stdout) granted, Err(stdout) refused.
fn python_verify(
    authority: &Authority,
    token: &Path,
    holder: &str,
    operation: &str,
    at_s: u64,
) -> Result<String, String> {
    let output = interop(&[
        "verify",
        "--root",
        &authority.public,
        "--token",
        &path(token),
        "--holder",
        holder,
        "--operation",
        operation,
        "--at-unix-s",
        &at_s.to_string(),
    ]);
    let stdout = text(&output.stdout);
    match output.status.code() {
        Some(0) if stdout.starts_with("granted") => Ok(stdout),
        Some(1) if stdout.starts_with("refused") => Err(stdout),
        other => panic!("biscuit_interop.py verify exit {other:?}: {stdout}"),
    }
}

#[test]
fn tokens_minted_by_x0_verify_in_biscuit_python() {
    let authority = Authority::new();
    let m = member();
    let credential = authority.mint("c", &m, &["--rights", "sign,vote"]);
    let access = authority.access(&credential, "a");
    let now = now_s();
    for token in [&credential, &access] {
        assert!(python_verify(&authority, token, &m, "sign", now).is_ok());
        assert!(python_verify(&authority, token, &m, "vote", now).is_ok());
        let refused = python_verify(&authority, token, &m, "propose", now).unwrap_err();
        assert!(refused.contains("no matching policy"), "{refused}");
        assert!(python_verify(&authority, token, &member(), "sign", now).is_err());
    }
    // The access block's time check holds there too.
    let expired = python_verify(&authority, &access, &m, "sign", now + DAY_S + 60).unwrap_err();
    assert!(expired.contains("check if time($t)"), "{expired}");
    // An attenuation made by x0 binds there.
    let narrowed = authority.file("narrowed");
    ok(&[
        "token",
        "attenuate",
        "--token",
        &path(&access),
        "--authority-public",
        &authority.public,
        "--rights",
        "vote",
        "--out",
        &path(&narrowed),
    ]);
    assert!(python_verify(&authority, &narrowed, &m, "vote", now).is_ok());
    assert!(python_verify(&authority, &narrowed, &m, "sign", now).is_err());
    // Another authority's key refuses the signature.
    let stranger = Authority::new();
    let refused = python_verify(&stranger, &access, &m, "sign", now).unwrap_err();
    assert!(refused.contains("does not verify"), "{refused}");
}

#[test]
fn tokens_minted_by_biscuit_python_verify_in_x0() {
    // The authority key comes from `x0 token keygen`; biscuit-python signs with it.
    let authority = Authority::new();
    let m = member();
    let now = now_s();
    let credential = authority.file("py.credential");
    interop(&[
        "mint",
        "--key",
        &path(&authority.key),
        "--member",
        &m,
        "--rights",
        "sign,vote",
        "--expires-unix-s",
        &(now + 30 * DAY_S).to_string(),
        "--out",
        &path(&credential),
    ]);
    let access = authority.file("py.access");
    interop(&[
        "access",
        "--root",
        &authority.public,
        "--credential",
        &path(&credential),
        "--until-unix-s",
        &(now + DAY_S).to_string(),
        "--out",
        &path(&access),
    ]);
    // Read by our own operator functions as our format.
    let summary = inspect(&token_bytes(&access), &authority.root()).unwrap();
    assert_eq!(summary.member.as_deref(), Some(m.as_str()));
    assert_eq!(
        summary.rights,
        vec![
            ("sign".to_string(), "/x0/1/shares".to_string()),
            ("vote".to_string(), "/x0/1/ballots".to_string()),
        ]
    );
    assert_eq!(summary.expires_unix_s, Some(now + 30 * DAY_S));
    assert_eq!(summary.access_until_unix_s, Some(now + DAY_S));

    authority.assert_granted(&access, &m, "sign", &[]);
    authority.assert_granted(&access, &m, "vote", &[]);
    authority.assert_refused(&access, &m, "propose", &[], "not_permitted");
    authority.assert_refused(&access, &member(), "sign", &[], "wrong_holder");
    let later = (now + DAY_S + 1).to_string();
    authority.assert_refused(
        &access,
        &m,
        "sign",
        &["--at-unix-s", &later],
        "token_expired",
    );
    authority.assert_refused(&credential, &m, "sign", &[], "not_access_token");
    authority.assert_granted(&credential, &m, "sign", &["--credential-ok"]);
    // x0 derives its own access token from the Python-minted credential.
    let derived = authority.access(&credential, "x0.access");
    authority.assert_granted(&derived, &m, "vote", &[]);

    // Tampered: another member's PeerId written over the signed one (same length), or one
    // bit flipped inside the signed authority block.
    let bytes = token_bytes(&access);
    let other = loop {
        let candidate = member();
        if candidate.len() == m.len() {
            break candidate;
        }
    };
    let at = bytes
        .windows(m.len())
        .position(|w| w == m.as_bytes())
        .expect("the member's PeerId text is in the token");
    let mut swapped = bytes.clone();
    swapped[at..at + m.len()].copy_from_slice(other.as_bytes());
    let swapped_file = authority.file("swapped");
    std::fs::write(
        &swapped_file,
        format!(
            "{}\n",
            base64::engine::general_purpose::URL_SAFE.encode(&swapped)
        ),
    )
    .unwrap();
    authority.assert_refused(&swapped_file, &other, "sign", &[], "token_signature");
    authority.assert_refused(&swapped_file, &m, "sign", &[], "token_signature");
    let mut flipped = bytes.clone();
    flipped[at + 10] ^= 0x01;
    let flipped_file = authority.file("flipped");
    std::fs::write(
        &flipped_file,
        format!(
            "{}\n",
            base64::engine::general_purpose::URL_SAFE.encode(&flipped)
        ),
    )
    .unwrap();
    authority.assert_refused(&flipped_file, &m, "sign", &[], "token_signature");
    // biscuit-python refuses the tampered one as well.
    assert!(python_verify(&authority, &swapped_file, &other, "sign", now).is_err());
    // A long-lived "access" block from Python is not an access token to a node.
    let week = authority.file("py.week");
    interop(&[
        "access",
        "--root",
        &authority.public,
        "--credential",
        &path(&credential),
        "--until-unix-s",
        &(now + 7 * DAY_S).to_string(),
        "--out",
        &path(&week),
    ]);
    authority.assert_refused(&week, &m, "sign", &[], "access_too_long");
}

/// biscuit_wire.py's reading (no biscuit library: a hand-written protobuf reader and
/// OpenSSL's Ed25519): (chain verifies, the JSON document).
fn wire_read(root_hex: &str, token: &Path) -> (bool, serde_json::Value) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("scripts")
        .join("interop")
        .join("biscuit_wire.py");
    let output = Command::new(interop_python())
        .arg(script)
        .args(["--root", root_hex, "--token", &path(token)])
        .output()
        .expect("the interop python runs");
    let code = output.status.code();
    assert!(
        code == Some(0) || code == Some(1),
        "biscuit_wire.py exit {code:?}: {}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    let document: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "biscuit_wire.py printed no JSON ({e}): {}",
            text(&output.stdout)
        )
    });
    (code == Some(0), document)
}

/// The facts of one block as biscuit_wire.py decoded them, named `name`.
fn wire_facts(document: &serde_json::Value, block: usize, name: &str) -> Vec<serde_json::Value> {
    document["blocks"][block]["facts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|fact| fact[0] == name)
        .cloned()
        .collect()
}

#[test]
fn the_signature_chain_verifies_under_an_independent_reading_of_the_wire_format() {
    let authority = Authority::new();
    let m = member();
    let credential = authority.mint("c", &m, &["--rights", "propose,vote"]);
    let access = authority.access(&credential, "a");
    let narrowed = authority.file("narrowed");
    ok(&[
        "token",
        "attenuate",
        "--token",
        &path(&access),
        "--authority-public",
        &authority.public,
        "--rights",
        "vote",
        "--out",
        &path(&narrowed),
    ]);
    let summary = inspect(&token_bytes(&narrowed), &authority.root()).unwrap();
    let (valid, document) = wire_read(&authority.public, &narrowed);
    assert!(valid, "{document:#}");
    assert_eq!(document["signatures"], "valid");
    // The same revocation ids (block signatures) as biscuit-auth reports.
    let ids: Vec<String> = document["revocation_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, summary.revocation_ids);
    // The authority block says what x0 meant it to say.
    assert_eq!(
        wire_facts(&document, 0, "member"),
        vec![serde_json::json!(["member", m])]
    );
    assert_eq!(
        wire_facts(&document, 0, "right"),
        vec![
            serde_json::json!(["right", "propose", "/x0/1/proposals"]),
            serde_json::json!(["right", "propose", "/x0/1/ballots"]),
            serde_json::json!(["right", "vote", "/x0/1/ballots"]),
        ]
    );
    let expires = &wire_facts(&document, 0, "expires")[0][1];
    assert_eq!(expires["unix_s"], summary.expires_unix_s.unwrap());
    let access_date = &wire_facts(&document, 1, "access")[0][1];
    assert_eq!(access_date["unix_s"], summary.access_until_unix_s.unwrap());
    assert_eq!(document["blocks"].as_array().unwrap().len(), 3);
    assert_eq!(
        document["blocks"][2]["checks"], 1,
        "the attenuation's check"
    );

    // Another authority's key, and a token with one bit flipped in its authority block.
    let (valid, document) = wire_read(&Authority::new().public, &access);
    assert!(!valid);
    assert_eq!(document["signatures"], "block 0: signature does not verify");
    let mut bytes = token_bytes(&access);
    let at = bytes
        .windows(m.len())
        .position(|w| w == m.as_bytes())
        .unwrap();
    bytes[at + 3] ^= 0x01;
    let tampered = authority.file("tampered");
    std::fs::write(
        &tampered,
        format!(
            "{}\n",
            base64::engine::general_purpose::URL_SAFE.encode(&bytes)
        ),
    )
    .unwrap();
    let (valid, document) = wire_read(&authority.public, &tampered);
    assert!(!valid, "{document:#}");

    // A revocation list reads as the ids it revokes.
    let list = authority.file("list");
    ok(&[
        "token",
        "revoke",
        "--authority-key",
        &path(&authority.key),
        "--token",
        &path(&narrowed),
        "--sequence",
        "9",
        "--out",
        &path(&list),
    ]);
    let (valid, document) = wire_read(&authority.public, &list);
    assert!(valid, "{document:#}");
    assert_eq!(
        wire_facts(&document, 0, "revocation_list"),
        vec![serde_json::json!(["revocation_list", 9])]
    );
    let revoked = wire_facts(&document, 0, "revoked");
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0][1]["hex"], summary.revocation_ids[0]);
    assert_eq!(revoked[0][2]["unix_s"], summary.expires_unix_s.unwrap());

    // Tokens biscuit-python minted read the same way.
    let py_credential = authority.file("py.credential");
    interop(&[
        "mint",
        "--key",
        &path(&authority.key),
        "--member",
        &m,
        "--rights",
        "sign",
        "--expires-unix-s",
        "2000000000",
        "--out",
        &path(&py_credential),
    ]);
    let (valid, document) = wire_read(&authority.public, &py_credential);
    assert!(valid, "{document:#}");
    assert_eq!(
        wire_facts(&document, 0, "right"),
        vec![serde_json::json!(["right", "sign", "/x0/1/shares"])]
    );
}
