//! `x0 guardian recover`: the master key from a threshold of shares, with an approval.

use std::path::PathBuf;

use x0_core::guardians::approval::Operation;
use x0_core::guardians::share_file::{self, Kind};
use x0_core::guardians::{recovery, GuardianError};
use zeroize::Zeroizing;

use super::approve::consume_approval;
use super::files::{read_group, read_share, refused, seal_secret};
use super::PassArgs;
use crate::cli::common::{operator, write_file, WriteMode};
use crate::NodeError;

#[derive(clap::Args, Debug, Clone)]
pub struct RecoverArgs {
    #[arg(long, value_name = "FILE")]
    pub group: PathBuf,
    /// A guardian's share file; repeat (at least the threshold).
    #[arg(long = "share", value_name = "FILE", required = true)]
    pub shares: Vec<PathBuf>,
    /// The guardians' approval of `recover` (or of `emergency-access` with --store).
    #[arg(long, value_name = "FILE")]
    pub approval: PathBuf,
    /// With an emergency-access approval: the store's name.
    #[arg(long)]
    pub store: Option<String>,
    /// Used approval nonces (created if absent; updated before the key is written).
    #[arg(long, value_name = "FILE")]
    pub seen: PathBuf,
    /// Write the master key here, sealed under the passphrase in $--key-passphrase-env.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Environment variable holding the passphrase for the master key file.
    #[arg(long, value_name = "VAR")]
    pub key_passphrase_env: String,
    #[command(flatten)]
    pub pass: PassArgs,
}

/// Runs `x0 guardian recover`.
pub(super) fn run(args: &RecoverArgs) -> Result<(), NodeError> {
    let group = read_group("--group", &args.group)?;
    let operation = match &args.store {
        Some(store) => Operation::EmergencyAccess {
            store: store.clone(),
        },
        None => Operation::Recover,
    };
    let key_passphrase = Zeroizing::new(
        std::env::var(&args.key_passphrase_env)
            .map_err(|_| operator(format!("--key-passphrase-env {0}: ${0} is not set; export the master key file's passphrase in it", args.key_passphrase_env)))?
            .into_bytes(),
    );
    share_file::check_passphrase(&key_passphrase)
        .map_err(|e| operator(format!("--key-passphrase-env: {e}")))?;
    // Every share is opened and checked before the approval is used up.
    let mut shares = Vec::new();
    for path in &args.shares {
        let (guardian, key_package) = read_share("--share", path, &group, &args.pass)?;
        if shares.iter().any(|(g, _)| *g == guardian) {
            return Err(refused(
                "--share",
                path,
                GuardianError::DuplicateGuardian(guardian),
            ));
        }
        shares.push((guardian, key_package));
    }
    if shares.len() < group.threshold as usize {
        return Err(operator(format!(
            "--share: {} share(s) given, {} needed; nothing was recovered",
            shares.len(),
            group.threshold
        )));
    }
    consume_approval(&group, &args.approval, &operation, &args.seen)?;
    let secret =
        recovery::recover(&group, &shares).map_err(|e| operator(format!("--share: {e}")))?;
    let master = recovery::master_key(&group, &secret);
    let sealed = seal_secret(
        Kind::MasterKey,
        0,
        (&group.id(), group.epoch),
        master.as_bytes(),
        &key_passphrase,
    )?;
    write_file("--out", &args.out, &sealed, WriteMode::SECRET)?;
    let used: Vec<String> = shares.iter().map(|(g, _)| g.to_string()).collect();
    println!(
        "recovered the master key of group {} from guardians {}; sealed in {}",
        group.fingerprint(),
        used.join(", "),
        args.out.display()
    );
    Ok(())
}
