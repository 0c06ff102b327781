//! What `x0 committee`, `x0 propose` and `x0 cert` do; `main.rs` only parses flags.

use std::path::Path;
use std::time::{Duration, Instant};

use x0_core::certify::committee::Committee;
use x0_core::certify::scheme::{decode_certificate, signing_message, ThresholdScheme};
use x0_core::certify::threshold::{faulty_max, share_count_min, ChangeClass};
use x0_core::certify::wire::CertificateMessage;

use crate::api::{CertificateDocument, ProposeRequest, ProposeResponse};
use crate::committee::{self, CommitteeSection};
use crate::NodeError;

fn operator(message: String) -> NodeError {
    NodeError::Config(message)
}

/// Reads the `[committee]` table from a node config or a dealer's committee.toml.
pub fn read_committee(path: &Path) -> Result<(CommitteeSection, Committee), NodeError> {
    let name = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| operator(format!("--committee {name}: cannot read: {e}")))?;
    let mut table: toml::Table = toml::from_str(&text)
        .map_err(|e| operator(format!("--committee {name}: not TOML: {e}")))?;
    let value = table.remove("committee").ok_or_else(|| {
        operator(format!(
            "--committee {name}: has no [committee] table; pass a node config or the committee.toml from `x0 committee deal`"
        ))
    })?;
    let section: CommitteeSection = value
        .try_into()
        .map_err(|e| operator(format!("--committee {name}: [committee]: {e}")))?;
    let committee = section
        .committee()
        .map_err(|e| operator(format!("--committee {name}: {e}")))?;
    Ok((section, committee))
}

/// `x0 committee deal`.
pub fn deal(
    members_file: &Path,
    out_dir: &Path,
    epoch: u64,
    supermajority_slots: Vec<String>,
) -> Result<(), NodeError> {
    for (index, pattern) in supermajority_slots.iter().enumerate() {
        x0_core::certify::committee::check_slot_pattern(pattern)
            .map_err(|e| operator(format!("--supermajority-slot #{}: {e}", index + 1)))?;
    }
    let members =
        committee::read_members(members_file).map_err(|e| operator(format!("--members: {e}")))?;
    let dealt = committee::deal(
        &members,
        epoch,
        supermajority_slots,
        &mut rand::thread_rng(),
    );
    let written = committee::write_dealt(&dealt, out_dir)
        .map_err(|e| operator(format!("--out: {e}; use a new, empty directory")))?;
    let n = members.len();
    println!(
        "dealt committee of epoch {epoch}: {n} members, t = {}, certificates need {} (standard) / {} (supermajority) signers",
        faulty_max(n),
        share_count_min(n, ChangeClass::Standard),
        share_count_min(n, ChangeClass::Supermajority)
    );
    for path in written {
        println!("  wrote {}", path.display());
    }
    println!("Give each member its share file only (mode 0600), and put committee.toml's [committee] section in every node's config.");
    Ok(())
}

/// `x0 committee show`.
pub fn show(path: &Path) -> Result<(), NodeError> {
    let (section, committee) = read_committee(path)?;
    let n = committee.size();
    println!("committee of epoch {} with {n} members", committee.epoch);
    println!(
        "  t = {} faulty tolerated; standard certificates need {} signers, supermajority {}",
        faulty_max(n),
        share_count_min(n, ChangeClass::Standard),
        share_count_min(n, ChangeClass::Supermajority)
    );
    for class in [ChangeClass::Standard, ChangeClass::Supermajority] {
        let key = committee.scheme(class).key_set().public_key().to_bytes();
        println!(
            "  {class:?} public key {}… (key set degree {})",
            &hex::encode(&key)[..24],
            committee.scheme(class).key_set().threshold()
        );
    }
    if section.supermajority_slots.is_empty() {
        println!("  supermajority slots: none");
    } else {
        println!(
            "  supermajority slots: {}",
            section.supermajority_slots.join(", ")
        );
    }
    for (index, member) in section.members.iter().enumerate() {
        println!("  member {index:>4}  {member}");
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
                hex::encode(&message.proposal.id().0),
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

/// `x0 propose`: sends a proposal to a node's API; with `wait`, polls for its
/// certificate and returns it.
pub async fn propose(
    api: &reqwest::Url,
    request: &ProposeRequest,
    wait: Duration,
) -> Result<(String, Option<CertificateDocument>), NodeError> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| NodeError::Runtime(e.to_string()))?;
    let url = api
        .join("/proposals")
        .map_err(|e| operator(format!("--api {api}: {e}")))?;
    let response = client
        .post(url.clone())
        .json(request)
        .send()
        .await
        .map_err(|e| {
            NodeError::Runtime(format!(
                "{url}: {e}; is the node running, and is --api its http.bind?"
            ))
        })?;
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
    let url = api
        .join(&format!("/certificates/{id}"))
        .map_err(|e| operator(format!("--api {api}: {e}")))?;
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
        if Instant::now() >= deadline {
            return Err(NodeError::Runtime(format!(
                "proposal {id}: no certificate within {wait:?}; `x0 status` shows the committee and pending proposals"
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
