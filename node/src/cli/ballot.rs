//! `x0 ballot`: the local fallback ballot from the operator's side. `open`, `vote`,
//! `status` and `tally ID` talk to a running node's loopback API (`crate::http::ballots`);
//! `tally --certificate FILE` re-verifies a decided ballot offline, from the file alone
//! (and the committee, to check the electorate).
//!
//! Operator mistakes exit 2 naming the flag and the fix; a certificate that does not
//! verify exits 1 with the reason.

use std::path::PathBuf;

use x0_core::ballot::certificate::Certificate;
use x0_core::ballot::effect::Effect;
use x0_core::ballot::rules::{local_outcome, Choice};
use x0_core::ballot::verify::OpenRules;
use x0_core::ballot::wire::BallotId;

use crate::cli::committee::read_committee;
use crate::cli::common::{api_call, cannot_read, check_size, operator, Outcome};
use crate::http::ballots::{BallotDocument, BallotsDocument};
use crate::node_keys::PeerSignatures;
use crate::NodeError;

const API_DEFAULT: &str = "http://127.0.0.1:9480";
/// Largest certificate file read (hex of the largest certificate, and a newline).
const CERTIFICATE_FILE_BYTES_MAX: u64 =
    2 * x0_core::ballot::certificate::CERTIFICATE_BYTES_MAX as u64 + 2;

#[derive(clap::Subcommand, Debug, Clone)]
pub enum BallotCommand {
    /// Who decides now (Snapshot or the local ballot), the outage attestations, and the
    /// open and decided ballots of a running node.
    Status(StatusArgs),
    /// Open a local ballot through a running member node. Only while f+1 members attest
    /// that the Snapshot hub is down; otherwise Snapshot decides and this is refused.
    Open(OpenArgs),
    /// Cast or change this node's vote (a later vote replaces an earlier one).
    Vote(VoteArgs),
    /// A ballot's tally and outcome from a running node (--api), or re-verify a decided
    /// ballot's certificate offline (--certificate). Exit 1 when a certificate is invalid.
    Tally(TallyArgs),
}

#[derive(clap::Args, Debug, Clone)]
pub struct StatusArgs {
    /// The node's HTTP endpoint.
    #[arg(long, value_name = "URL", default_value = API_DEFAULT)]
    pub api: reqwest::Url,
    /// Print the JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug, Clone)]
pub struct OpenArgs {
    #[arg(long, value_name = "URL", default_value = API_DEFAULT)]
    pub api: reqwest::Url,
    /// What the ballot is about, for people (1..=200 bytes).
    #[arg(long)]
    pub title: String,
    /// What a pass does: `lift-halt`, `settle <slot> <proposal id>` or
    /// `approve <proposal id>` (quote it).
    #[arg(long, value_parser = parse_effect)]
    pub effect: Effect,
    /// How long voting stays open, s (within the node's [ballot] duration_s_min..max).
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    pub duration_s: u64,
}

#[derive(clap::Args, Debug, Clone)]
pub struct VoteArgs {
    #[arg(long, value_name = "URL", default_value = API_DEFAULT)]
    pub api: reqwest::Url,
    /// The ballot id (64 hex digits, from `x0 ballot status`).
    #[arg(value_parser = parse_id)]
    pub id: BallotId,
    /// yes, no or abstain.
    #[arg(value_parser = parse_choice)]
    pub choice: Choice,
}

#[derive(clap::Args, Debug, Clone)]
pub struct TallyArgs {
    #[arg(long, value_name = "URL", default_value = API_DEFAULT)]
    pub api: reqwest::Url,
    /// The ballot id, to ask the node.
    #[arg(value_parser = parse_id, required_unless_present = "certificate")]
    pub id: Option<BallotId>,
    /// With an id: write the decided ballot's certificate (hex) to this file.
    #[arg(long, value_name = "FILE", requires = "id")]
    pub out: Option<PathBuf>,
    /// Re-verify this certificate file offline instead of asking a node.
    #[arg(long, value_name = "FILE", conflicts_with = "id")]
    pub certificate: Option<PathBuf>,
    /// With --certificate: the committee (a node config or committee.toml) whose members
    /// must be the electorate. Without it the electorate is taken as the certificate
    /// states it.
    #[arg(long, value_name = "FILE", requires = "certificate")]
    pub committee: Option<PathBuf>,
    /// With --certificate: the network's `[ballot] attestation_ttl_s` (how long before an
    /// open its outage attestations may have been made).
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 120,
        requires = "certificate"
    )]
    pub attestation_ttl_s: u64,
}

fn parse_effect(text: &str) -> Result<Effect, String> {
    text.parse::<Effect>().map_err(|e| e.to_string())
}

fn parse_id(text: &str) -> Result<BallotId, String> {
    BallotId::from_hex(text)
        .ok_or_else(|| "expected 64 hex digits, as `x0 ballot status` lists ballot ids".into())
}

fn parse_choice(text: &str) -> Result<Choice, String> {
    Choice::parse(text).ok_or_else(|| "expected yes, no or abstain".into())
}

pub fn run(command: &BallotCommand) -> Result<Outcome, NodeError> {
    match command {
        BallotCommand::Status(args) => status(args).map(|()| Outcome::Done),
        BallotCommand::Open(args) => open(args).map(|()| Outcome::Done),
        BallotCommand::Vote(args) => vote(args).map(|()| Outcome::Done),
        BallotCommand::Tally(args) => match &args.certificate {
            Some(_) => verify(args),
            None => tally(args).map(|()| Outcome::Done),
        },
    }
}

/// One request to the node's API; the node's `error` field on failure.
fn call(
    api: &reqwest::Url,
    path: &str,
    body: Option<serde_json::Value>,
) -> Result<serde_json::Value, NodeError> {
    let (url, status, value) = api_call(api, path, body)?;
    if !status.is_success() {
        let message = value["error"].as_str().unwrap_or("no reason given");
        return Err(NodeError::Runtime(format!(
            "{url}: HTTP {status}: {message}"
        )));
    }
    Ok(value)
}

fn status(args: &StatusArgs) -> Result<(), NodeError> {
    let value = call(&args.api, "ballots", None)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
        return Ok(());
    }
    let document: BallotsDocument = serde_json::from_value(value)
        .map_err(|e| NodeError::Runtime(format!("the node's /ballots is not understood: {e}")))?;
    println!(
        "mode: {} ({} members attest the hub down, {} needed{})",
        if document.mode == "fallback" {
            "fallback: the local ballot decides"
        } else {
            "snapshot: the DAO's Snapshot space decides"
        },
        document.attestations_fresh,
        document.attestations_needed,
        document
            .hub_down_since_unix_ms
            .map(|ms| format!("; this node's hub down since {ms} Unix ms"))
            .unwrap_or_default()
    );
    if document.open.is_empty() {
        println!("open ballots: none");
    }
    for b in &document.open {
        println!(
            "open {}  \"{}\"  effect `{}`  deadline {} Unix ms  yes {} no {} abstain {} of {}{}{}",
            b.id,
            b.title,
            b.effect,
            b.deadline_unix_ms,
            b.tally.yes,
            b.tally.no,
            b.tally.abstain,
            b.electorate,
            if b.excluded > 0 {
                format!("  ({} excluded for equivocation)", b.excluded)
            } else {
                String::new()
            },
            b.own_choice
                .as_ref()
                .map(|c| format!("  (this node: {c})"))
                .unwrap_or_default()
        );
    }
    for d in &document.decided {
        println!(
            "decided {}  \"{}\"  {}  yes {} no {} abstain {} of {}{}",
            d.id,
            d.title,
            d.outcome,
            d.tally.yes,
            d.tally.no,
            d.tally.abstain,
            d.electorate,
            d.effect_result
                .as_ref()
                .map(|r| format!("  effect: {r}"))
                .unwrap_or_default()
        );
    }
    Ok(())
}

fn open(args: &OpenArgs) -> Result<(), NodeError> {
    let body = serde_json::json!({
        "title": args.title,
        "effect": args.effect.to_string(),
        "duration_s": args.duration_s,
    });
    let value = call(&args.api, "ballots", Some(body))?;
    println!(
        "{}",
        value["id"]
            .as_str()
            .ok_or_else(|| NodeError::Runtime("the node answered without an id".into()))?
    );
    Ok(())
}

fn vote(args: &VoteArgs) -> Result<(), NodeError> {
    let body = serde_json::json!({ "choice": args.choice.as_str() });
    let value = call(
        &args.api,
        &format!("ballots/{}/votes", args.id.to_hex()),
        Some(body),
    )?;
    println!(
        "voted {} on {} (sequence {}; persisted, then sent)",
        args.choice.as_str(),
        args.id.to_hex(),
        value["sequence"]
    );
    Ok(())
}

fn tally(args: &TallyArgs) -> Result<(), NodeError> {
    let id = args.id.expect("clap: id or --certificate");
    let value = call(&args.api, &format!("ballots/{}", id.to_hex()), None)?;
    let document: BallotDocument = serde_json::from_value(value)
        .map_err(|e| NodeError::Runtime(format!("the node's answer is not understood: {e}")))?;
    match &document.certificate {
        Some(hex_text) => {
            let bytes = hex::decode(hex_text)
                .map_err(|e| NodeError::Runtime(format!("certificate hex: {e}")))?;
            let certificate = Certificate::decode(&bytes)
                .map_err(|e| NodeError::Runtime(format!("certificate: {e}")))?;
            print_certificate(&certificate);
            if let Some(result) = &document.effect_result {
                println!("effect here: {result}");
            }
            if let Some(out) = &args.out {
                std::fs::write(out, format!("{hex_text}\n"))
                    .map_err(|e| operator(format!("--out {}: cannot write: {e}", out.display())))?;
                println!("certificate written to {}", out.display());
            }
        }
        None => {
            println!(
                "ballot {} is open; outcome so far: {}",
                document.id, document.outcome
            );
            if let Some(out) = &args.out {
                return Err(operator(format!(
                    "--out {}: the ballot is not decided yet, so there is no certificate; ask again after its deadline",
                    out.display()
                )));
            }
        }
    }
    Ok(())
}

fn print_certificate(certificate: &Certificate) {
    let open = &certificate.open;
    println!(
        "ballot {}  \"{}\"  effect `{}`",
        open.id().to_hex(),
        open.title,
        open.effect
    );
    println!(
        "outcome {}: yes {} no {} abstain {} of an electorate of {} ({} votes signed, {} voters excluded for equivocation, opened on {} outage attestations)",
        certificate.outcome.as_str(),
        certificate.tally.yes,
        certificate.tally.no,
        certificate.tally.abstain,
        open.electorate.len(),
        certificate.votes.len(),
        certificate.evidence.len(),
        open.attestations.len()
    );
}

fn verify(args: &TallyArgs) -> Result<Outcome, NodeError> {
    let path = args
        .certificate
        .as_ref()
        .expect("verify needs --certificate");
    let name = path.display();
    check_size("--certificate", path, CERTIFICATE_FILE_BYTES_MAX, |size| {
        format!("{size} bytes is larger than any ballot certificate")
    })?;
    let text = std::fs::read_to_string(path).map_err(|e| cannot_read("--certificate", path, e))?;
    let bytes = hex::decode(text.trim()).map_err(|e| {
        operator(format!(
            "--certificate {name}: not hex ({e}); write one with `x0 ballot tally ID --out FILE`"
        ))
    })?;
    let certificate = match Certificate::decode(&bytes) {
        Ok(certificate) => certificate,
        Err(e) => {
            println!("invalid certificate: {e}");
            return Ok(Outcome::Refused);
        }
    };
    let members = match &args.committee {
        Some(file) => {
            let (_, committee) = read_committee(file)?;
            let mut members = committee.members().to_vec();
            members.sort();
            Some(members)
        }
        None => None,
    };
    // Durations were checked by the nodes against their config; the attestations' ages
    // are what proves the fallback was entitled to open.
    let rules = OpenRules {
        attestation_ttl_ms: args.attestation_ttl_s.saturating_mul(1000),
        duration_ms_min: 0,
        duration_ms_max: u64::MAX,
        ..OpenRules::default()
    };
    match certificate.verify(&PeerSignatures, members.as_deref(), &rules) {
        Ok(outcome) => {
            debug_assert_eq!(
                outcome,
                local_outcome(&certificate.tally, certificate.open.electorate.len() as u64)
            );
            print_certificate(&certificate);
            println!(
                "valid: every signature verifies{} and the outcome follows from the votes",
                if members.is_some() {
                    ", the electorate is the committee,"
                } else {
                    ""
                }
            );
            Ok(Outcome::Done)
        }
        Err(e) => {
            println!("invalid certificate: {e}");
            Ok(Outcome::Refused)
        }
    }
}
