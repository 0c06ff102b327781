//! `x0 propose` (through a running member node) and `x0 cert verify` (offline).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use x0_core::certify::committee::Committee;
use x0_core::certify::scheme::{decode_certificate, signing_message, ThresholdScheme};
use x0_core::certify::threshold::{share_count_min, ChangeClass};
use x0_core::certify::wire::CertificateMessage;

use crate::cli::committee::read_committee;
use crate::cli::common::{node_client, operator, runtime, send_to_node};
use crate::http::certificates::CertificateDocument;
use crate::http::proposals::{ProposalDocument, ProposeRequest, ProposeResponse};
use crate::NodeError;

#[derive(Args)]
pub struct ProposeArgs {
    /// The member node's HTTP endpoint (it must be on this machine).
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:9480")]
    api: reqwest::Url,
    /// What the change touches, e.g. gossip/mesh_n.
    #[arg(long)]
    slot: String,
    /// The new value.
    #[arg(long)]
    payload: String,
    /// Share of the network the change affects, 0.0 to 1.0.
    #[arg(long, default_value_t = 1.0)]
    affected_fraction: f64,
    /// Wait this long for the certificate (0: return after proposing).
    #[arg(long, default_value_t = 10)]
    wait_s: u64,
    /// Write the certificate (JSON) here; default: print it.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum CertCommand {
    /// Verify a certificate file (JSON from `x0 propose --out` or /certificates/{id}, or
    /// hex of the wire encoding). Exit 0 valid, 1 invalid, 2 unreadable arguments.
    Verify {
        file: PathBuf,
        /// A node config or committee.toml with the committee's [committee] table.
        #[arg(long, value_name = "FILE")]
        committee: PathBuf,
    },
}

/// Runs one `x0 cert` subcommand.
pub fn run(command: &CertCommand) -> Result<(), NodeError> {
    match command {
        CertCommand::Verify { file, committee } => verify_file(file, committee),
    }
}

/// `x0 propose`: proposes, then waits up to `--wait-s` for the certificate and prints it
/// or writes it to `--out`.
pub fn propose(args: ProposeArgs) -> Result<(), NodeError> {
    if !(0.0..=1.0).contains(&args.affected_fraction) {
        return Err(NodeError::Config(format!(
            "--affected-fraction {}: must be between 0.0 and 1.0",
            args.affected_fraction
        )));
    }
    let request = ProposeRequest {
        slot: args.slot,
        payload: args.payload,
        affected_fraction: args.affected_fraction,
    };
    let wait = Duration::from_secs(args.wait_s);
    let (id, certificate) = runtime()?.block_on(propose_and_wait(&args.api, &request, wait))?;
    println!("proposal {id}");
    let Some(certificate) = certificate else {
        return Ok(());
    };
    let json = serde_json::to_string_pretty(&certificate).expect("document serialises");
    match args.out {
        Some(path) => {
            std::fs::write(&path, json + "\n").map_err(|e| {
                NodeError::Config(format!("--out {}: cannot write: {e}", path.display()))
            })?;
            println!(
                "certified by {} signers; wrote {}",
                certificate.signers.len(),
                path.display()
            );
        }
        None => println!("{json}"),
    }
    Ok(())
}

/// Why a certificate file does not verify.
#[derive(Debug, thiserror::Error)]
pub enum CertificateInvalid {
    #[error("not a certificate document or hex: {0}")]
    Unreadable(String),
    #[error("certificate is for epoch {found}, the committee is epoch {expected}")]
    Epoch { found: u64, expected: u64 },
    #[error("the readable fields do not match the signed bytes ({0})")]
    Mismatch(&'static str),
    #[error("names {found} signers, {class:?} changes need {needed}")]
    TooFewSigners {
        found: usize,
        needed: usize,
        class: ChangeClass,
    },
    #[error("names signer {0}, the committee has no such member")]
    UnknownSigner(u16),
    #[error("the threshold signature does not verify under the committee's {0:?} key set")]
    BadSignature(ChangeClass),
}

/// Verifies a certificate offline: a JSON document from `GET /certificates/{id}` (or
/// `x0 propose --out`), or the hex of the wire encoding.
pub fn verify_certificate(
    text: &str,
    committee: &Committee,
) -> Result<CertificateMessage, CertificateInvalid> {
    let text = text.trim();
    let (wire_hex, document) = if text.starts_with('{') {
        let document: CertificateDocument = serde_json::from_str(text)
            .map_err(|e| CertificateInvalid::Unreadable(e.to_string()))?;
        (document.certificate.clone(), Some(document))
    } else {
        (text.to_string(), None)
    };
    let bytes =
        ::hex::decode(&wire_hex).map_err(|e| CertificateInvalid::Unreadable(e.to_string()))?;
    let message = CertificateMessage::decode(&bytes)
        .map_err(|e| CertificateInvalid::Unreadable(e.to_string()))?;
    if let Some(document) = document {
        if document != CertificateDocument::from_message(&message) {
            return Err(CertificateInvalid::Mismatch(
                "id, slot, payload or signers differ from the encoded certificate",
            ));
        }
    }
    if message.proposal.epoch != committee.epoch {
        return Err(CertificateInvalid::Epoch {
            found: message.proposal.epoch,
            expected: committee.epoch,
        });
    }
    let class = committee.class_of(&message.proposal.slot);
    let needed = share_count_min(committee.size(), class);
    if let Some(unknown) = message
        .signers
        .iter()
        .find(|s| usize::from(**s) >= committee.size())
    {
        return Err(CertificateInvalid::UnknownSigner(*unknown));
    }
    if message.signers.len() < needed {
        return Err(CertificateInvalid::TooFewSigners {
            found: message.signers.len(),
            needed,
            class,
        });
    }
    let signature = decode_certificate(&message.signature)
        .map_err(|_| CertificateInvalid::BadSignature(class))?;
    let signed = signing_message(&message.proposal.id());
    if !committee
        .scheme(class)
        .verify_certificate(&signed, &signature)
    {
        return Err(CertificateInvalid::BadSignature(class));
    }
    Ok(message)
}

/// `x0 cert verify`: exit 0 when valid, 1 when not, 2 for the operator's mistakes.
pub fn verify_file(file: &Path, committee_file: &Path) -> Result<(), NodeError> {
    let (_, committee) = read_committee(committee_file)?;
    let text = std::fs::read_to_string(file)
        .map_err(|e| operator(format!("{}: cannot read: {e}", file.display())))?;
    match verify_certificate(&text, &committee) {
        Ok(message) => {
            println!(
                "valid certificate {} for epoch {} slot {} ({:?}, {} signers: {:?})",
                hex::encode(message.proposal.id().0),
                message.proposal.epoch,
                message.proposal.slot,
                committee.class_of(&message.proposal.slot),
                message.signers.len(),
                message.signers
            );
            Ok(())
        }
        Err(reason) => Err(NodeError::Runtime(format!(
            "{}: INVALID: {reason}",
            file.display()
        ))),
    }
}

/// Sends a proposal to a node's API; with `wait`, polls for its certificate and
/// returns it.
pub async fn propose_and_wait(
    api: &reqwest::Url,
    request: &ProposeRequest,
    wait: Duration,
) -> Result<(String, Option<CertificateDocument>), NodeError> {
    let client = node_client()?;
    let url = api
        .join("/proposals")
        .map_err(|e| operator(format!("--api {api}: {e}")))?;
    let response = send_to_node(client.post(url.clone()).json(request), &url).await?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| NodeError::Runtime(format!("{url}: {e}")))?;
    if !status.is_success() {
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_string))
            .unwrap_or(text);
        return Err(if status.is_client_error() {
            operator(format!("the node refused the proposal: {message}"))
        } else {
            NodeError::Runtime(format!("{url}: HTTP {status}: {message}"))
        });
    }
    let id = serde_json::from_str::<ProposeResponse>(&text)
        .map_err(|e| NodeError::Runtime(format!("{url}: unexpected answer: {e}")))?
        .id;
    if wait.is_zero() {
        return Ok((id, None));
    }
    let join = |path: String| {
        api.join(&path)
            .map_err(|e| operator(format!("--api {api}: {e}")))
    };
    let url = join(format!("/certificates/{id}"))?;
    let state_url = join(format!("/proposals/{id}"))?;
    let deadline = Instant::now() + wait;
    loop {
        if let Ok(response) = client.get(url.clone()).send().await {
            if response.status().is_success() {
                let document = response
                    .json::<CertificateDocument>()
                    .await
                    .map_err(|e| NodeError::Runtime(format!("{url}: {e}")))?;
                return Ok((id, Some(document)));
            }
        }
        let state = match client.get(state_url.clone()).send().await {
            Ok(response) if response.status().is_success() => {
                response.json::<ProposalDocument>().await.ok()
            }
            _ => None,
        };
        let shares = |state: &ProposalDocument| {
            format!(
                "{} of {} shares",
                state.shares.unwrap_or(0),
                state.needed.unwrap_or(0)
            )
        };
        if let Some(state) = state.as_ref().filter(|s| s.state == "expired") {
            return Err(NodeError::Runtime(format!(
                "proposal {id}: expired: {}; it may be proposed again (members that signed it will not sign the slot again this epoch)",
                shares(state)
            )));
        }
        if Instant::now() >= deadline {
            let standing = match state.as_ref().filter(|s| s.state == "pending") {
                Some(state) => format!(
                    "pending with {}, expires at {} (Unix ms); members that cannot hear it now take it from their peers when they can",
                    shares(state),
                    state.expires_at_unix_ms.unwrap_or(0)
                ),
                None => "`x0 status` shows the committee and pending proposals".into(),
            };
            return Err(NodeError::Runtime(format!(
                "proposal {id}: no certificate within {wait:?}; {standing}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
