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

mod files;
mod inspect;
mod issue;
mod revoke;

use std::path::{Path, PathBuf};

use libp2p::PeerId;
use std::str::FromStr;
use x0_actors::messages::PeerKey;
use x0_core::auth::token::{Operation, TokenError, TokenRefusal, ACCESS_TTL_S_DEFAULT};

pub use files::{authority_public, read_authority_key, read_token_file};
pub use inspect::{inspect, verify};
pub use issue::{access, attenuate, keygen, mint};
pub use revoke::{publish, revoke};

use crate::cli::common::{now_unix_s, operator, Outcome};
use crate::NodeError;

/// Longest access token a node accepts (`VerifierConfig::default`), in hours.
const ACCESS_TTL_HOURS_MAX: u64 = ACCESS_TTL_S_DEFAULT / 3600;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_print_as_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_800_000_000), "2027-01-15T08:00:00Z");
    }
}
