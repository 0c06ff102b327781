//! `x0 token`: the network authority's and a member's side of capability tokens, offline.
//!
//! The token format and every operation on it live in `x0_core::auth::token` (biscuit-auth
//! 6); this module reads and writes the files (docs/TOKENS.md) and turns flags into calls:
//!
//! - authority private key: one line, hex of the Ed25519 private key, mode 0600;
//! - authority public key: hex of the 32-byte Ed25519 public key (`--authority-public` or a
//!   one-line `--authority-public-file`);
//! - tokens and revocation lists: one line of biscuit's URL-safe base64, ending in newline.
//!
//! Operator mistakes (a flag, a file) exit 2 naming the flag and the fix; `verify` exits 1
//! when the token is refused, printing the refusal's metric reason.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use biscuit_auth::{
    Algorithm, AuthorizerBuilder, AuthorizerLimits, KeyPair, PrivateKey, PublicKey,
    UnverifiedBiscuit,
};
use libp2p::PeerId;
use x0_actors::messages::PeerKey;
use x0_core::auth::token::{
    self, Attenuation, BiscuitVerifier, Grant, Operation, Request, RevocationList, Revoked, Right,
    TokenError, TokenRefusal, TokenSummary, TokenVerifier, VerifierConfig, ACCESS_TTL_S_DEFAULT,
    REVOCATION_IDS_PER_LIST_MAX,
};

use crate::NodeError;

/// Largest file read as a token or a revocation list: base64 of the largest list, padded.
const TOKEN_FILE_BYTES_MAX: u64 = 64 * 1024;
/// Largest key file read.
const KEY_FILE_BYTES_MAX: u64 = 4 * 1024;
/// Longest access token a node accepts (`VerifierConfig::default`), in hours.
const ACCESS_TTL_HOURS_MAX: u64 = ACCESS_TTL_S_DEFAULT / 3600;

/// Biscuit's base64: the URL-safe alphabet, written padded (as `Biscuit::to_base64`),
/// read with or without padding.
const BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    base64::engine::GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

#[derive(clap::Subcommand, Debug, Clone)]
pub enum TokenCommand {
    /// Create the network authority's key: writes the private key (hex, mode 0600, never
    /// overwritten) and prints the public key hex that every node's config names.
    Keygen(KeygenArgs),
    /// Mint a member credential with the authority's private key (keep it offline).
    Mint(MintArgs),
    /// Narrow a token offline: fewer operations, fewer topics, a sooner expiry.
    Attenuate(AttenuateArgs),
    /// Derive a short-lived access token from a credential (the refresh step a node runs).
    Access(AccessArgs),
    /// Print what a token says: member, rights, expiry, every block's datalog, revocation ids.
    Inspect(InspectArgs),
    /// Check a token for one request as a node would. Exit 0 granted, 1 refused (the
    /// reason is printed), 2 when an argument must be fixed.
    Verify(VerifyArgs),
    /// Sign a revocation list: revokes each token's credential (and all derived from it).
    Revoke(RevokeArgs),
    /// Hand a signed revocation list to a running node (loopback API), which verifies it
    /// against the authority key, persists it and publishes it on the revocations topic.
    Publish(PublishArgs),
}

#[derive(clap::Args, Debug, Clone)]
pub struct PublishArgs {
    /// The node's HTTP endpoint (it must be on this machine).
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:9480")]
    pub api: reqwest::Url,
    /// The list `x0 token revoke` wrote.
    #[arg(long, value_name = "FILE")]
    pub list: PathBuf,
}

#[derive(clap::Args, Debug, Clone)]
pub struct KeygenArgs {
    /// Where to write the private key; must not exist yet.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

#[derive(clap::Args, Debug, Clone)]
pub struct MintArgs {
    /// The authority's private key file (from `x0 token keygen`).
    #[arg(long, value_name = "FILE")]
    pub authority_key: PathBuf,
    /// The member's libp2p PeerId (`x0 node` prints it at start).
    #[arg(long, value_name = "PEERID", value_parser = parse_peer)]
    pub member: PeerId,
    /// Operations granted, each on its own topic (propose and charter-update on
    /// /x0/1/proposals, sign on /x0/1/shares, vote on /x0/1/ballots); propose also on
    /// /x0/1/ballots (opening a ballot). Default: all four.
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = parse_operation)]
    pub rights: Vec<Operation>,
    /// Lifetime of the credential in days.
    #[arg(long, value_name = "DAYS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3650))]
    pub ttl_days: u64,
    /// Write the credential here (default: print it).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// The authority's public key, as hex on the command line or in a one-line file.
#[derive(clap::Args, Debug, Clone)]
pub struct AuthorityPublicArgs {
    /// The authority's public key: 64 hex digits, as `x0 token keygen` printed it.
    #[arg(long, value_name = "HEX", conflicts_with = "authority_public_file")]
    pub authority_public: Option<String>,
    /// A file holding the authority's public key hex on one line.
    #[arg(long, value_name = "FILE")]
    pub authority_public_file: Option<PathBuf>,
}

#[derive(clap::Args, Debug, Clone)]
pub struct AttenuateArgs {
    /// The token to narrow (a credential or an access token).
    #[arg(long, value_name = "FILE")]
    pub token: PathBuf,
    #[command(flatten)]
    pub authority: AuthorityPublicArgs,
    /// Keep only these operations (propose, sign, vote, charter-update).
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = parse_operation)]
    pub rights: Vec<Operation>,
    /// Keep only these topics, e.g. /x0/1/ballots.
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = parse_topic)]
    pub topics: Vec<String>,
    /// Expire this many seconds from now at the latest.
    #[arg(long, value_name = "N", conflicts_with = "expires_unix_s",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub ttl_s: Option<u64>,
    /// Expire at this Unix time (seconds) at the latest.
    #[arg(long, value_name = "N")]
    pub expires_unix_s: Option<u64>,
    /// Write the narrowed token here (default: print it).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(clap::Args, Debug, Clone)]
pub struct AccessArgs {
    /// The member credential the authority minted.
    #[arg(long, value_name = "FILE")]
    pub credential: PathBuf,
    #[command(flatten)]
    pub authority: AuthorityPublicArgs,
    /// Lifetime of the access token in hours; nodes refuse access tokens of more than 24 h.
    #[arg(long, value_name = "HOURS", default_value_t = ACCESS_TTL_HOURS_MAX,
          value_parser = clap::value_parser!(u64).range(1..=ACCESS_TTL_HOURS_MAX))]
    pub ttl_hours: u64,
    /// Write the access token here (default: print it). Replaced atomically.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(clap::Args, Debug, Clone)]
pub struct InspectArgs {
    /// The token (or revocation list) to print.
    #[arg(long, value_name = "FILE")]
    pub token: PathBuf,
    /// With the authority's public key the signature chain is verified too.
    #[command(flatten)]
    pub authority: AuthorityPublicArgs,
}

#[derive(clap::Args, Debug, Clone)]
pub struct VerifyArgs {
    /// The token a peer would send.
    #[arg(long, value_name = "FILE")]
    pub token: PathBuf,
    #[command(flatten)]
    pub authority: AuthorityPublicArgs,
    /// The PeerId the request comes from (the libp2p source of the message).
    #[arg(long, value_name = "PEERID", value_parser = parse_peer)]
    pub holder: PeerId,
    /// propose, sign, vote or charter-update.
    #[arg(long, value_name = "OP", value_parser = parse_operation)]
    pub operation: Operation,
    /// The topic the request arrives on (default: the operation's own topic).
    #[arg(long, value_name = "TOPIC", value_parser = parse_topic)]
    pub topic: Option<String>,
    /// Check as of this Unix time in seconds (default: now).
    #[arg(long, value_name = "N")]
    pub at_unix_s: Option<u64>,
    /// Accept a credential too (by default, like a node, only an access token of at most
    /// 24 h is accepted).
    #[arg(long)]
    pub credential_ok: bool,
}

#[derive(clap::Args, Debug, Clone)]
pub struct RevokeArgs {
    /// The authority's private key file: only the authority signs revocation lists.
    #[arg(long, value_name = "FILE")]
    pub authority_key: PathBuf,
    /// A token of the member to cut off (its credential, or any token derived from it);
    /// its credential's id is revoked until the credential's own expiry. Repeat for several.
    #[arg(long = "token", value_name = "FILE")]
    pub tokens: Vec<PathBuf>,
    /// A raw revocation id (hex), e.g. from `x0 token inspect`. Repeat for several.
    #[arg(long = "id", value_name = "HEX", requires = "until_unix_s")]
    pub ids: Vec<String>,
    /// Until when nodes keep each --id (Unix seconds): one for all, or one per --id in order.
    #[arg(long = "until-unix-s", value_name = "N", requires = "ids")]
    pub until_unix_s: Vec<u64>,
    /// The list's sequence number; give each new list a higher one.
    #[arg(long, value_name = "N")]
    pub sequence: u64,
    /// Write the signed list here (default: print it).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// How a `x0 token` command ended when no argument was at fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// `verify` refused the token: exit 1.
    Refused,
}

/// Runs one `x0 token` subcommand.
pub fn run(command: &TokenCommand) -> Result<Outcome, NodeError> {
    match command {
        TokenCommand::Keygen(args) => keygen(args).map(|()| Outcome::Done),
        TokenCommand::Mint(args) => mint(args, now_unix_s()).map(|()| Outcome::Done),
        TokenCommand::Attenuate(args) => attenuate(args, now_unix_s()).map(|()| Outcome::Done),
        TokenCommand::Access(args) => access(args, now_unix_s()).map(|()| Outcome::Done),
        TokenCommand::Inspect(args) => inspect(args, now_unix_s()).map(|()| Outcome::Done),
        TokenCommand::Verify(args) => verify(args, now_unix_s()),
        TokenCommand::Revoke(args) => revoke(args, now_unix_s()).map(|()| Outcome::Done),
        TokenCommand::Publish(args) => publish(args).map(|()| Outcome::Done),
    }
}

/// `x0 token publish`: POST /revocations on a running node.
pub fn publish(args: &PublishArgs) -> Result<(), NodeError> {
    let list = std::fs::read_to_string(&args.list).map_err(|e| {
        operator(format!(
            "--list {}: cannot read ({e}); write one with `x0 token revoke --out FILE`",
            args.list.display()
        ))
    })?;
    let url = args
        .api
        .join("revocations")
        .map_err(|e| operator(format!("--api {}: not a base URL ({e})", args.api)))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| NodeError::Runtime(e.to_string()))?;
    let (status, body) = runtime.block_on(async {
        let response = reqwest::Client::new()
            .post(url.clone())
            .json(&serde_json::json!({ "list": list.trim() }))
            .send()
            .await
            .map_err(|e| {
                operator(format!(
                    "--api {}: no node answers ({e}); start one, or give its http.bind address",
                    args.api
                ))
            })?;
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        Ok::<_, NodeError>((status, body))
    })?;
    if !status.is_success() {
        let message = body["error"].as_str().unwrap_or("no reason given");
        return Err(if status.as_u16() == 422 {
            operator(format!(
                "--list {}: the node refused it: {message}",
                args.list.display()
            ))
        } else {
            NodeError::Runtime(format!("{url}: HTTP {status}: {message}"))
        });
    }
    println!(
        "revocation list #{} applied: {} new ids, {} known; {}",
        body["sequence"],
        body["added"],
        body["known"],
        if body["published"] == true {
            "published to the mesh"
        } else {
            "NOT published yet (no peers on the revocations topic); publish it again later"
        }
    );
    Ok(())
}

fn operator(message: String) -> NodeError {
    NodeError::Config(message)
}

fn now_unix_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

// ---- flag parsers (clap reports their errors with the flag's name, exit 2) ----

fn parse_peer(text: &str) -> Result<PeerId, String> {
    PeerId::from_str(text.trim()).map_err(|e| {
        format!(
            "not a libp2p PeerId ({e}); pass the base58 text a node prints at start, like 12D3KooW..."
        )
    })
}

fn parse_operation(text: &str) -> Result<Operation, String> {
    Operation::parse(text.trim()).ok_or_else(|| {
        let names: Vec<&str> = Operation::ALL.iter().map(|op| op.as_str()).collect();
        format!("unknown right `{text}`; use {}", names.join(", "))
    })
}

fn parse_topic(text: &str) -> Result<String, String> {
    let topic = text.trim();
    if topic.is_empty() || topic.chars().any(char::is_whitespace) {
        return Err("a topic is a non-empty name without spaces, like /x0/1/ballots".into());
    }
    Ok(topic.to_string())
}

// ---- files ----

fn read_small(flag: &str, path: &Path, limit: u64, what: &str) -> Result<String, NodeError> {
    let name = path.display();
    let metadata = std::fs::metadata(path)
        .map_err(|e| operator(format!("{flag} {name}: cannot read: {e}")))?;
    if metadata.len() > limit {
        return Err(operator(format!(
            "{flag} {name}: {} bytes, more than any {what} ({limit}); is this the right file?",
            metadata.len()
        )));
    }
    std::fs::read_to_string(path).map_err(|e| operator(format!("{flag} {name}: cannot read: {e}")))
}

/// Token bytes from a file of biscuit base64 (surrounding whitespace ignored).
pub fn read_token_file(flag: &str, path: &Path) -> Result<Vec<u8>, NodeError> {
    let text = read_small(flag, path, TOKEN_FILE_BYTES_MAX, "token")?;
    let text = text.trim();
    if text.is_empty() {
        return Err(operator(format!(
            "{flag} {}: the file is empty; it should hold one line of biscuit base64",
            path.display()
        )));
    }
    BASE64.decode(text).map_err(|e| {
        operator(format!(
            "{flag} {}: not biscuit's URL-safe base64 ({e}); pass a file written by `x0 token` or `Biscuit::to_base64`",
            path.display()
        ))
    })
}

/// The authority's key pair from a private key file (hex of the Ed25519 private key).
pub fn read_authority_key(flag: &str, path: &Path) -> Result<KeyPair, NodeError> {
    let name = path.display();
    let text = read_small(flag, path, KEY_FILE_BYTES_MAX, "key file")?;
    #[cfg(unix)]
    if let Ok(metadata) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt;
        if metadata.permissions().mode() & 0o077 != 0 {
            eprintln!("warning: {flag} {name}: readable by others; `chmod 600 {name}`");
        }
    }
    let key = PrivateKey::from_bytes_hex(text.trim(), Algorithm::Ed25519).map_err(|_| {
        operator(format!(
            "{flag} {name}: not an authority private key (one line of 64 hex digits, as `x0 token keygen --out` writes)"
        ))
    })?;
    Ok(KeyPair::from(&key))
}

/// The authority's public key from `--authority-public` or `--authority-public-file`.
pub fn authority_public(args: &AuthorityPublicArgs) -> Result<Option<PublicKey>, NodeError> {
    let (flag, text) = match (&args.authority_public, &args.authority_public_file) {
        (Some(hex), _) => ("--authority-public".to_string(), hex.clone()),
        (None, Some(path)) => (
            format!("--authority-public-file {}", path.display()),
            read_small(
                "--authority-public-file",
                path,
                KEY_FILE_BYTES_MAX,
                "key file",
            )?,
        ),
        (None, None) => return Ok(None),
    };
    let hex = text.trim();
    // The prefixed form biscuit's tools print is accepted too.
    let hex = hex.strip_prefix("ed25519/").unwrap_or(hex);
    PublicKey::from_bytes_hex(hex, Algorithm::Ed25519)
        .map(Some)
        .map_err(|_| {
            operator(format!(
                "{flag}: not an Ed25519 public key; give the 64 hex digits `x0 token keygen` printed"
            ))
        })
}

fn required_public(args: &AuthorityPublicArgs) -> Result<PublicKey, NodeError> {
    authority_public(args)?.ok_or_else(|| {
        operator(
            "the authority's public key is needed: pass --authority-public HEX or --authority-public-file FILE"
                .into(),
        )
    })
}

/// Writes `text` and a newline to `path`, replacing it atomically (mode 0600).
fn write_replacing(flag: &str, path: &Path, text: &str) -> Result<(), NodeError> {
    let name = path.display();
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let fail = |e: &dyn std::fmt::Display| operator(format!("{flag} {name}: cannot write: {e}"));
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(|e| fail(&e))?;
    writeln!(file, "{text}").map_err(|e| fail(&e))?;
    file.as_file().sync_all().map_err(|e| fail(&e))?;
    file.persist(path).map_err(|e| fail(&e.error))?;
    Ok(())
}

/// Prints a token, or writes it to `--out`, then says what was written.
fn emit(out: &Option<PathBuf>, bytes: &[u8], description: &str) -> Result<(), NodeError> {
    let text = BASE64.encode(bytes);
    match out {
        Some(path) => {
            write_replacing("--out", path, &text)?;
            println!("wrote {}: {description}", path.display());
        }
        None => println!("{text}"),
    }
    Ok(())
}

fn rfc3339(unix_s: u64) -> String {
    i64::try_from(unix_s)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("@{unix_s}"))
}

fn date(unix_s: u64) -> String {
    format!("{} ({unix_s})", rfc3339(unix_s))
}

/// "1 block", "3 blocks".
fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn peer_key(peer: &PeerId) -> PeerKey {
    PeerKey(peer.to_bytes())
}

fn operations_text(operations: &[Operation]) -> String {
    operations
        .iter()
        .map(|op| op.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a token refusal means for the operator's flags: a key that does not match is a
/// wrong argument (exit 2).
fn token_error(flag: &str, path: &Path, error: TokenError) -> NodeError {
    let name = path.display();
    match error {
        TokenError::Refused(TokenRefusal::BadSignature) => operator(format!(
            "{flag} {name}: not signed by this authority (token_signature); check the authority key and the file"
        )),
        TokenError::Refused(refusal) => operator(format!(
            "{flag} {name}: {refusal} ({})",
            refusal.reason()
        )),
        other => operator(format!("{flag} {name}: {other}")),
    }
}

// ---- subcommands ----

/// `x0 token keygen`.
pub fn keygen(args: &KeygenArgs) -> Result<(), NodeError> {
    let name = args.out.display();
    let key = KeyPair::new();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&args.out).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            operator(format!(
                "--out {name}: already exists; an authority key is never overwritten, choose another path"
            ))
        } else {
            operator(format!("--out {name}: cannot create: {e}"))
        }
    })?;
    writeln!(file, "{}", key.private().to_bytes_hex())
        .and_then(|()| file.sync_all())
        .map_err(|e| operator(format!("--out {name}: cannot write: {e}")))?;
    println!("{}", key.public().to_bytes_hex());
    eprintln!(
        "wrote the authority private key to {name} (mode 0600): keep it offline. The line above is the public key every node's config names."
    );
    Ok(())
}

/// `x0 token mint`.
pub fn mint(args: &MintArgs, now_unix_s: u64) -> Result<(), NodeError> {
    let authority = read_authority_key("--authority-key", &args.authority_key)?;
    let operations: Vec<Operation> = if args.rights.is_empty() {
        Operation::ALL.to_vec()
    } else {
        args.rights
            .iter()
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    };
    let expires_unix_s = now_unix_s + args.ttl_days * 24 * 3600;
    let grant = Grant {
        member: peer_key(&args.member),
        rights: operations
            .iter()
            .copied()
            .flat_map(Right::for_operation)
            .collect(),
        expires_unix_s,
    };
    let token =
        token::mint(&authority, &grant).map_err(|e| NodeError::Runtime(format!("mint: {e}")))?;
    emit(
        &args.out,
        &token,
        &format!(
            "credential for {} ({}), expires {}",
            args.member,
            operations_text(&operations),
            date(expires_unix_s)
        ),
    )
}

/// `x0 token attenuate`.
pub fn attenuate(args: &AttenuateArgs, now_unix_s: u64) -> Result<(), NodeError> {
    if args.rights.is_empty()
        && args.topics.is_empty()
        && args.ttl_s.is_none()
        && args.expires_unix_s.is_none()
    {
        return Err(operator(
            "nothing to narrow: pass --rights, --topics, --ttl-s or --expires-unix-s".into(),
        ));
    }
    let root = required_public(&args.authority)?;
    let bytes = read_token_file("--token", &args.token)?;
    let expires_unix_s = args
        .ttl_s
        .map(|ttl| now_unix_s + ttl)
        .or(args.expires_unix_s);
    let attenuation = Attenuation {
        operations: (!args.rights.is_empty()).then(|| args.rights.clone()),
        topics: (!args.topics.is_empty()).then(|| args.topics.clone()),
        expires_unix_s,
        access_until_unix_s: None,
    };
    let narrowed = token::attenuate(&bytes, &root, &attenuation)
        .map_err(|e| token_error("--token", &args.token, e))?;
    let mut kept = Vec::new();
    if !args.rights.is_empty() {
        kept.push(format!("operations {}", operations_text(&args.rights)));
    }
    if !args.topics.is_empty() {
        kept.push(format!("topics {}", args.topics.join(", ")));
    }
    if let Some(seconds) = expires_unix_s {
        kept.push(format!("expiry {}", date(seconds)));
    }
    emit(
        &args.out,
        &narrowed,
        &format!("token narrowed to {}", kept.join("; ")),
    )
}

/// `x0 token access`.
pub fn access(args: &AccessArgs, now_unix_s: u64) -> Result<(), NodeError> {
    let root = required_public(&args.authority)?;
    let credential = read_token_file("--credential", &args.credential)?;
    let summary = token::inspect(&credential, &root)
        .map_err(|e| token_error("--credential", &args.credential, e))?;
    let name = args.credential.display();
    let Some(member) = &summary.member else {
        return Err(operator(format!(
            "--credential {name}: not a member credential (no single member fact)"
        )));
    };
    if let Some(access) = summary.access_until_unix_s {
        return Err(operator(format!(
            "--credential {name}: already an access token (access until {}); pass the credential the authority minted",
            date(access)
        )));
    }
    let Some(expires) = summary.expires_unix_s else {
        return Err(operator(format!(
            "--credential {name}: declares no expiry; nodes refuse such tokens"
        )));
    };
    if expires <= now_unix_s {
        return Err(NodeError::Runtime(format!(
            "--credential {name}: expired at {}; ask the authority for a new credential (`x0 token mint`)",
            date(expires)
        )));
    }
    let ttl_s = args.ttl_hours * 3600;
    let token = token::derive_access(&credential, &root, now_unix_s, ttl_s)
        .map_err(|e| token_error("--credential", &args.credential, e))?;
    let until = (now_unix_s + ttl_s).min(expires);
    let mut description = format!("access token for {member} valid until {}", date(until));
    if until < now_unix_s + ttl_s {
        description.push_str(" (the credential's expiry); renew the credential");
    } else {
        description.push_str("; derive the next one before then");
    }
    emit(&args.out, &token, &description)
}

/// What a token says, read without its signatures: the same queries as
/// `x0_core::auth::token::inspect`, over each block's datalog.
fn unverified_summary(
    biscuit: &UnverifiedBiscuit,
) -> Result<TokenSummary, biscuit_auth::error::Token> {
    let blocks = (0..biscuit.block_count())
        .map(|i| biscuit.print_block_source(i))
        .collect::<Result<Vec<_>, _>>()?;
    let authority = block_facts(&blocks[..1])?;
    let all = block_facts(&blocks)?;
    Ok(TokenSummary {
        member: match authority.members.as_slice() {
            [member] => Some(member.clone()),
            _ => None,
        },
        rights: authority.rights,
        expires_unix_s: all.expires.iter().min().copied(),
        access_until_unix_s: all.access.iter().min().copied(),
        blocks,
        revocation_ids: biscuit
            .revocation_identifiers()
            .iter()
            .map(hex::encode)
            .collect(),
    })
}

#[derive(Debug, Default)]
struct BlockFacts {
    members: Vec<String>,
    rights: Vec<(String, String)>,
    expires: Vec<u64>,
    access: Vec<u64>,
    revocation_list: Vec<i64>,
}

/// The facts of the given blocks' datalog, loaded into an authorizer of their own (no
/// token, so nothing is trusted or checked: this only reads what the blocks declare).
fn block_facts(sources: &[String]) -> Result<BlockFacts, biscuit_auth::error::Token> {
    let limits = AuthorizerLimits {
        max_time: Duration::from_secs(1),
        ..AuthorizerLimits::default()
    };
    let mut builder = AuthorizerBuilder::new().set_limits(limits.clone());
    for source in sources {
        builder = builder.code(source)?;
    }
    let mut authorizer = builder.build_unauthenticated()?;
    let dates = |authorizer: &mut biscuit_auth::Authorizer, rule: &str| {
        authorizer
            .query_with_limits::<_, (SystemTime,), _>(rule, limits.clone())
            .map(|rows| {
                rows.into_iter()
                    .map(|(t,)| {
                        t.duration_since(UNIX_EPOCH)
                            .map(|d| d.as_secs())
                            .unwrap_or(0)
                    })
                    .collect::<Vec<u64>>()
            })
    };
    let members: Vec<(String,)> =
        authorizer.query_with_limits("m($m) <- member($m)", limits.clone())?;
    let mut rights: Vec<(String, String)> =
        authorizer.query_with_limits("r($o, $t) <- right($o, $t)", limits.clone())?;
    rights.sort();
    let revocation_list: Vec<(i64,)> =
        authorizer.query_with_limits("s($s) <- revocation_list($s)", limits.clone())?;
    Ok(BlockFacts {
        members: members.into_iter().map(|(m,)| m).collect(),
        rights,
        expires: dates(&mut authorizer, "e($d) <- expires($d)")?,
        access: dates(&mut authorizer, "a($d) <- access($d)")?,
        revocation_list: revocation_list.into_iter().map(|(s,)| s).collect(),
    })
}

/// `x0 token inspect`.
pub fn inspect(args: &InspectArgs, now_unix_s: u64) -> Result<(), NodeError> {
    let root = authority_public(&args.authority)?;
    let bytes = read_token_file("--token", &args.token)?;
    let name = args.token.display();
    let unverified = UnverifiedBiscuit::from(&bytes).map_err(|e| {
        operator(format!(
            "--token {name}: not a biscuit token ({e}); pass a token or revocation list file"
        ))
    })?;
    let (summary, verdict) = match &root {
        Some(root) => match token::inspect(&bytes, root) {
            Ok(summary) => (
                summary,
                format!(
                    "signature chain verified against authority {}",
                    root.to_bytes_hex()
                ),
            ),
            Err(error) => {
                return Err(NodeError::Runtime(format!(
                    "--token {name}: does not verify against --authority-public: {error}"
                )))
            }
        },
        None => (
            unverified_summary(&unverified).map_err(|e| {
                NodeError::Runtime(format!("--token {name}: blocks do not read: {e}"))
            })?,
            "signature NOT verified (pass --authority-public to check it)".to_string(),
        ),
    };
    let sources: Vec<String> = summary.blocks.clone();
    let authority_facts = block_facts(&sources[..1.min(sources.len())]).unwrap_or_default();
    println!(
        "token      {} bytes, {}",
        bytes.len(),
        count(summary.blocks.len(), "block")
    );
    println!("           {verdict}");
    let kind = if let [sequence] = authority_facts.revocation_list.as_slice() {
        format!("revocation list #{sequence}")
    } else if summary.member.is_none() {
        "not a member token (no single member fact)".to_string()
    } else if summary.access_until_unix_s.is_some() {
        "access token".to_string()
    } else {
        "credential".to_string()
    };
    println!("kind       {kind}");
    if let Some(member) = &summary.member {
        println!("member     {member}");
    }
    if !summary.rights.is_empty() {
        println!("rights     (granted by the authority block; later blocks may narrow them)");
        for (operation, topic) in &summary.rights {
            println!("           {operation} on {topic}");
        }
    }
    let state = |until: u64| {
        if until <= now_unix_s {
            "  EXPIRED"
        } else {
            ""
        }
    };
    match summary.expires_unix_s {
        Some(expires) => println!("expires    {}{}", date(expires), state(expires)),
        None if summary.member.is_some() => {
            println!("expires    none declared: nodes refuse this token")
        }
        None => {}
    }
    match summary.access_until_unix_s {
        Some(access) => println!("access     until {}{}", date(access), state(access)),
        None if summary.member.is_some() => {
            println!("access     none: a credential, not sent on the wire")
        }
        None => {}
    }
    for (index, source) in summary.blocks.iter().enumerate() {
        let label = if index == 0 { " (authority)" } else { "" };
        println!("block {index}{label}");
        for line in source.lines() {
            println!("    {line}");
        }
    }
    if authority_facts.revocation_list.is_empty() {
        println!(
            "revocation ids (revoking any one revokes this token; #0 revokes its credential too)"
        );
    } else {
        println!("revocation ids (of the list itself)");
    }
    for (index, id) in summary.revocation_ids.iter().enumerate() {
        println!("    {index} {id}");
    }
    Ok(())
}

/// `x0 token verify`.
pub fn verify(args: &VerifyArgs, now_unix_s: u64) -> Result<Outcome, NodeError> {
    let root = required_public(&args.authority)?;
    let bytes = read_token_file("--token", &args.token)?;
    let at_unix_s = args.at_unix_s.unwrap_or(now_unix_s);
    let holder = peer_key(&args.holder);
    let topic = args
        .topic
        .clone()
        .unwrap_or_else(|| args.operation.topic().to_string());
    let config = VerifierConfig {
        access_ttl_ms_max: if args.credential_ok {
            0
        } else {
            VerifierConfig::default().access_ttl_ms_max
        },
        ..VerifierConfig::default()
    };
    let request = Request {
        holder: &holder,
        operation: args.operation,
        topic: &topic,
    };
    let mut verifier = BiscuitVerifier::new(root, config);
    match verifier.verify(&bytes, &request, at_unix_s.saturating_mul(1000)) {
        Ok(granted) => {
            println!(
                "granted {} on {topic} to {}; token valid until {}",
                args.operation.as_str(),
                args.holder,
                date(granted.valid_until_ms / 1000)
            );
            Ok(Outcome::Done)
        }
        Err(refusal) => {
            println!("refused: {} ({refusal})", refusal.reason());
            Ok(Outcome::Refused)
        }
    }
}

/// `x0 token revoke`.
pub fn revoke(args: &RevokeArgs, now_unix_s: u64) -> Result<(), NodeError> {
    if args.tokens.is_empty() && args.ids.is_empty() {
        return Err(operator(
            "nothing to revoke: pass --token FILE (repeatable) or --id HEX with --until-unix-s N"
                .into(),
        ));
    }
    if !args.ids.is_empty()
        && args.until_unix_s.len() != 1
        && args.until_unix_s.len() != args.ids.len()
    {
        return Err(operator(format!(
            "--until-unix-s: given {} times for {} --id; give one for all, or one per --id in order",
            args.until_unix_s.len(),
            args.ids.len()
        )));
    }
    let authority = read_authority_key("--authority-key", &args.authority_key)?;
    let root = authority.public();
    let mut entries: Vec<Revoked> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    for path in &args.tokens {
        let bytes = read_token_file("--token", path)?;
        let summary = token::inspect(&bytes, &root).map_err(|e| token_error("--token", path, e))?;
        let name = path.display();
        let Some(first) = summary.revocation_ids.first() else {
            return Err(operator(format!(
                "--token {name}: carries no revocation id"
            )));
        };
        let Some(sources) = summary.blocks.first() else {
            return Err(operator(format!("--token {name}: has no authority block")));
        };
        // The credential's own expiry (the authority block's), not a later block's sooner
        // one: the id of block 0 revokes the credential, which lives that long.
        let facts = block_facts(std::slice::from_ref(sources)).map_err(|e| {
            operator(format!(
                "--token {name}: authority block does not read: {e}"
            ))
        })?;
        let Some(until) = facts.expires.iter().min().copied() else {
            return Err(operator(format!(
                "--token {name}: its authority block declares no expiry; revoke its id with --id and --until-unix-s"
            )));
        };
        let member = summary.member.clone().unwrap_or_else(|| "no member".into());
        if until <= now_unix_s {
            eprintln!(
                "note: --token {name}: its credential expired at {} already; nodes refuse it anyway",
                date(until)
            );
        }
        entries.push(Revoked {
            id: hex::decode(first).expect("inspect prints hex"),
            until_unix_s: until,
        });
        notes.push(format!("credential of {member}, until {}", date(until)));
    }
    for (index, id_hex) in args.ids.iter().enumerate() {
        let id = hex::decode(id_hex.trim()).map_err(|e| {
            operator(format!(
                "--id {id_hex}: not hex ({e}); copy a revocation id from `x0 token inspect`"
            ))
        })?;
        if id.is_empty() || id.len() > 128 {
            return Err(operator(format!(
                "--id {id_hex}: {} bytes; biscuit revocation ids are 64 bytes (128 hex digits)",
                id.len()
            )));
        }
        let until = args
            .until_unix_s
            .get(index)
            .or(args.until_unix_s.first())
            .copied()
            .expect("checked above");
        entries.push(Revoked {
            id,
            until_unix_s: until,
        });
        notes.push(format!(
            "id {}…, until {}",
            &id_hex[..16.min(id_hex.len())],
            date(until)
        ));
    }
    entries.sort();
    entries.dedup_by(|a, b| a.id == b.id);
    if entries.len() > REVOCATION_IDS_PER_LIST_MAX {
        return Err(operator(format!(
            "{} ids: a list carries at most {REVOCATION_IDS_PER_LIST_MAX}; split them over several lists",
            entries.len()
        )));
    }
    let list = RevocationList {
        sequence: args.sequence,
        entries,
    };
    let bytes = token::mint_revocations(&authority, &list)
        .map_err(|e| NodeError::Runtime(format!("revoke: {e}")))?;
    emit(
        &args.out,
        &bytes,
        &format!(
            "revocation list #{} with {}: {}",
            list.sequence,
            count(list.entries.len(), "id"),
            notes.join("; ")
        ),
    )?;
    if args.out.is_some() {
        eprintln!(
            "publish it on {} through any node (docs/TOKENS.md)",
            x0_core::topics::REVOCATIONS
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_reads_what_biscuit_writes_padded_or_not() {
        let authority = KeyPair::new();
        let biscuit = biscuit_auth::Biscuit::builder()
            .fact("member(\"x\")")
            .unwrap()
            .build(&authority)
            .unwrap();
        let text = biscuit.to_base64().unwrap();
        let bytes = biscuit.to_vec().unwrap();
        assert_eq!(BASE64.encode(&bytes), text);
        assert_eq!(BASE64.decode(&text).unwrap(), bytes);
        assert_eq!(BASE64.decode(text.trim_end_matches('=')).unwrap(), bytes);
    }

    #[test]
    fn unverified_reading_matches_the_verified_one() {
        let authority = KeyPair::new();
        let member = PeerId::random();
        let grant = Grant {
            member: peer_key(&member),
            rights: vec![Right::on_own_topic(Operation::Vote)],
            expires_unix_s: 2_000_000_000,
        };
        let credential = token::mint(&authority, &grant).unwrap();
        let access =
            token::derive_access(&credential, &authority.public(), 1_900_000_000, 3600).unwrap();
        let verified = token::inspect(&access, &authority.public()).unwrap();
        let unverified = unverified_summary(&UnverifiedBiscuit::from(&access).unwrap()).unwrap();
        assert_eq!(unverified.member, verified.member);
        assert_eq!(unverified.rights, verified.rights);
        assert_eq!(unverified.expires_unix_s, verified.expires_unix_s);
        assert_eq!(unverified.access_until_unix_s, Some(1_900_003_600));
        assert_eq!(unverified.access_until_unix_s, verified.access_until_unix_s);
        assert_eq!(unverified.blocks, verified.blocks);
        assert_eq!(unverified.revocation_ids, verified.revocation_ids);
    }

    #[test]
    fn dates_print_as_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_800_000_000), "2027-01-15T08:00:00Z");
    }
}
