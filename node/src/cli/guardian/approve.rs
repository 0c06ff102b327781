//! `x0 guardian approve`: a threshold signature over an operation in four steps, and
//! the check (and use, once) of an approval before a key operation.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use frost_ristretto255::round1::{SigningCommitments, SigningNonces};
use frost_ristretto255::round2::SignatureShare;
use frost_ristretto255::SigningPackage;
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use x0_core::guardians::approval::{self, Approval, Operation, Request, SeenNonces};
use x0_core::guardians::group::Group;
use x0_core::guardians::share_file::{self, Kind};
use zeroize::Zeroizing;

use super::files::{read_group, read_share, refused, seal_secret};
use super::PassArgs;
use crate::cli::common::{
    now_unix_s, operator, read_bounded, read_json, write_file, write_json, WriteMode,
};
use crate::NodeError;

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperationKind {
    Recover,
    Refresh,
    EmergencyAccess,
}

#[derive(clap::Subcommand, Debug, Clone)]
pub enum ApproveCommand {
    /// The coordinator writes a request: the operation, a fresh nonce, the time.
    Request {
        #[arg(long, value_name = "FILE")]
        group: PathBuf,
        #[arg(long, value_enum)]
        operation: OperationKind,
        /// With --operation emergency-access: the store's name.
        #[arg(long, required_if_eq("operation", "emergency-access"))]
        store: Option<String>,
        #[arg(long, default_value_t = approval::WINDOW_S_DEFAULT)]
        valid_for_s: u64,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Each signing guardian: reads the request, writes its commitment (public) and keeps
    /// its signing nonces sealed in --nonces (used once by `sign`, then deleted).
    Commit {
        #[arg(long, value_name = "FILE")]
        group: PathBuf,
        #[arg(long, value_name = "FILE")]
        share: PathBuf,
        #[arg(long, value_name = "FILE")]
        request: PathBuf,
        #[arg(long, value_name = "FILE")]
        nonces: PathBuf,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        #[command(flatten)]
        pass: PassArgs,
    },
    /// Each signing guardian: signs the request given every signer's commitment.
    Sign {
        #[arg(long, value_name = "FILE")]
        group: PathBuf,
        #[arg(long, value_name = "FILE")]
        share: PathBuf,
        #[arg(long, value_name = "FILE")]
        request: PathBuf,
        /// Every signer's commitment file (repeat; at least the threshold).
        #[arg(long = "commitment", value_name = "FILE", required = true)]
        commitments: Vec<PathBuf>,
        #[arg(long, value_name = "FILE")]
        nonces: PathBuf,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        #[command(flatten)]
        pass: PassArgs,
    },
    /// The coordinator: combines the signature shares into the approval.
    Aggregate {
        #[arg(long, value_name = "FILE")]
        group: PathBuf,
        #[arg(long, value_name = "FILE")]
        request: PathBuf,
        #[arg(long = "commitment", value_name = "FILE", required = true)]
        commitments: Vec<PathBuf>,
        #[arg(long = "signature-share", value_name = "FILE", required = true)]
        signature_shares: Vec<PathBuf>,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Any node: check an approval with the group key (does not use up its nonce).
    Verify {
        #[arg(long, value_name = "FILE")]
        group: PathBuf,
        #[arg(long, value_name = "FILE")]
        approval: PathBuf,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommitmentFile {
    guardian: u16,
    request_nonce: String,
    commitments: SigningCommitments,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureShareFile {
    guardian: u16,
    request_nonce: String,
    share: SignatureShare,
}

fn read_commitments(
    paths: &[PathBuf],
    request: &Request,
) -> Result<BTreeMap<u16, SigningCommitments>, NodeError> {
    let mut out = BTreeMap::new();
    for path in paths {
        let file: CommitmentFile = read_json("--commitment", path)?;
        if file.request_nonce != request.nonce {
            return Err(operator(format!(
                "--commitment {}: guardian {} committed to another request",
                path.display(),
                file.guardian
            )));
        }
        if out.insert(file.guardian, file.commitments).is_some() {
            return Err(operator(format!(
                "--commitment {}: guardian {} given twice",
                path.display(),
                file.guardian
            )));
        }
    }
    Ok(out)
}

fn operation_of(
    kind: OperationKind,
    group: &Group,
    store: Option<&str>,
) -> Result<Operation, NodeError> {
    Ok(match kind {
        OperationKind::Recover => Operation::Recover,
        OperationKind::Refresh => Operation::Refresh {
            from_epoch: group.epoch,
        },
        OperationKind::EmergencyAccess => Operation::EmergencyAccess {
            store: store
                .ok_or_else(|| operator("--store: required with --operation emergency-access"))?
                .to_string(),
        },
    })
}

/// Runs one `x0 guardian approve` step.
pub(super) fn run(command: &ApproveCommand) -> Result<(), NodeError> {
    match command {
        ApproveCommand::Request {
            group,
            operation,
            store,
            valid_for_s,
            out,
        } => {
            let group = read_group("--group", group)?;
            let operation = operation_of(*operation, &group, store.as_deref())?;
            let request = Request::new(&group, operation, now_unix_s(), *valid_for_s, &mut OsRng)
                .map_err(|e| operator(format!("--valid-for-s: {e}")))?;
            write_json("--out", out, &request, WriteMode::PUBLIC)?;
            println!(
                "request {} for {} of group {}",
                request.nonce,
                request.operation,
                group.fingerprint()
            );
            Ok(())
        }
        ApproveCommand::Commit {
            group,
            share,
            request,
            nonces,
            out,
            pass,
        } => {
            let group = read_group("--group", group)?;
            let request: Request = read_json("--request", request)?;
            let (guardian, key_package) = read_share("--share", share, &group, pass)?;
            let (signing_nonces, commitments) =
                approval::commit(&group, guardian, &key_package, &mut OsRng)
                    .map_err(|e| refused("--share", share, e))?;
            let plain = Zeroizing::new(
                serde_json::to_vec(&(request.nonce.clone(), signing_nonces))
                    .map_err(|e| NodeError::Runtime(e.to_string()))?,
            );
            let passphrase = pass.get_new(guardian)?;
            let sealed = seal_secret(
                Kind::SigningNonces,
                guardian,
                (&group.id(), group.epoch),
                &plain,
                &passphrase,
            )?;
            write_file("--nonces", nonces, &sealed, WriteMode::SECRET)?;
            write_json(
                "--out",
                out,
                &CommitmentFile {
                    guardian,
                    request_nonce: request.nonce.clone(),
                    commitments,
                },
                WriteMode::PUBLIC,
            )?;
            println!(
                "guardian {guardian} committed to request {} ({})",
                request.nonce, request.operation
            );
            Ok(())
        }
        ApproveCommand::Sign {
            group,
            share,
            request,
            commitments,
            nonces,
            out,
            pass,
        } => {
            let group = read_group("--group", group)?;
            let request: Request = read_json("--request", request)?;
            let (guardian, key_package) = read_share("--share", share, &group, pass)?;
            let commitments = read_commitments(commitments, &request)?;
            if !commitments.contains_key(&guardian) {
                return Err(operator(format!(
                    "--commitment: guardian {guardian}'s own commitment is missing"
                )));
            }
            let package = approval::signing_package(&group, &request, commitments)
                .map_err(|e| operator(format!("--commitment: {e}")))?;
            let bytes = read_bounded("--nonces", nonces, share_file::FILE_BYTES_MAX as u64)?;
            let passphrase = pass.get(guardian)?;
            let (_, plain) = share_file::open(&bytes, Kind::SigningNonces, &passphrase)
                .map_err(|e| refused("--nonces", nonces, e))?;
            let (nonce_for, signing_nonces): (String, SigningNonces) =
                serde_json::from_slice(&plain)
                    .map_err(|e| operator(format!("--nonces {}: {e}", nonces.display())))?;
            if nonce_for != request.nonce {
                return Err(operator(format!(
                    "--nonces {}: made for another request",
                    nonces.display()
                )));
            }
            // Signing nonces are used once: delete them (durably) before signing.
            std::fs::remove_file(nonces).map_err(|e| {
                operator(format!("--nonces {}: cannot delete: {e}", nonces.display()))
            })?;
            if let Some(parent) = nonces.parent().filter(|p| !p.as_os_str().is_empty()) {
                let _ = std::fs::File::open(parent).and_then(|d| d.sync_all());
            }
            let share = approval::sign(
                &group,
                guardian,
                &key_package,
                &request,
                &package,
                &signing_nonces,
            )
            .map_err(|e| operator(format!("--request: {e}")))?;
            write_json(
                "--out",
                out,
                &SignatureShareFile {
                    guardian,
                    request_nonce: request.nonce.clone(),
                    share,
                },
                WriteMode::PUBLIC,
            )?;
            println!(
                "guardian {guardian} signed request {} ({})",
                request.nonce, request.operation
            );
            Ok(())
        }
        ApproveCommand::Aggregate {
            group,
            request,
            commitments,
            signature_shares,
            out,
        } => {
            let group = read_group("--group", group)?;
            let request: Request = read_json("--request", request)?;
            let commitments = read_commitments(commitments, &request)?;
            let package: SigningPackage = approval::signing_package(&group, &request, commitments)
                .map_err(|e| operator(format!("--commitment: {e}")))?;
            let mut shares = BTreeMap::new();
            for path in signature_shares {
                let file: SignatureShareFile = read_json("--signature-share", path)?;
                if file.request_nonce != request.nonce {
                    return Err(operator(format!(
                        "--signature-share {}: for another request",
                        path.display()
                    )));
                }
                shares.insert(file.guardian, file.share);
            }
            let approval = approval::aggregate(&group, &request, &package, shares)
                .map_err(|e| operator(format!("--signature-share: {e}")))?;
            write_json("--out", out, &approval, WriteMode::PUBLIC)?;
            println!(
                "approval of {} by group {} written to {}",
                request.operation,
                group.fingerprint(),
                out.display()
            );
            Ok(())
        }
        ApproveCommand::Verify {
            group,
            approval: path,
        } => {
            let group = read_group("--group", group)?;
            let approval: Approval = read_json("--approval", path)?;
            let mut scratch = SeenNonces::default();
            approval::verify(
                &group,
                &approval,
                &approval.request.operation.clone(),
                now_unix_s(),
                &mut scratch,
            )
            .map_err(|e| refused("--approval", path, e))?;
            println!(
                "valid: {} approved by group {} (nonce {})",
                approval.request.operation,
                group.fingerprint(),
                approval.request.nonce
            );
            Ok(())
        }
    }
}

/// Verifies `approval` for `operation`, records its nonce in `seen` and fsyncs it, before
/// the caller acts.
pub(super) fn consume_approval(
    group: &Group,
    approval_path: &Path,
    operation: &Operation,
    seen_path: &Path,
) -> Result<(), NodeError> {
    let approval: Approval = read_json("--approval", approval_path)?;
    let mut seen: SeenNonces = if seen_path.exists() {
        read_json("--seen", seen_path)?
    } else {
        SeenNonces::default()
    };
    approval::verify(group, &approval, operation, now_unix_s(), &mut seen)
        .map_err(|e| refused("--approval", approval_path, e))?;
    write_json("--seen", seen_path, &seen, WriteMode::PUBLIC.replacing())
}
