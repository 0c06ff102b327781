//! `x0 guardian refresh`: new shares of the same group key, for the next epoch.

use std::path::PathBuf;

use frost_ristretto255::keys::SecretShare;
use rand::rngs::OsRng;
use x0_core::guardians::approval::Operation;
use x0_core::guardians::refresh;

use super::approve::consume_approval;
use super::files::{read_group, read_share, refused, write_share};
use super::PassArgs;
use crate::cli::common::{operator, read_json, write_json, WriteMode};
use crate::NodeError;

#[derive(clap::Subcommand, Debug, Clone)]
pub enum RefreshCommand {
    /// Coordinator (needs no share): with an approval of `refresh`, writes OUT/group.json
    /// (the next epoch) and OUT/refresh-guardian-<i>.json (SECRET, one per guardian).
    Deal {
        #[arg(long, value_name = "FILE")]
        group: PathBuf,
        #[arg(long, value_name = "FILE")]
        approval: PathBuf,
        #[arg(long, value_name = "FILE")]
        seen: PathBuf,
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Each guardian: replaces its share file with the next epoch's share (fsynced).
    Apply {
        /// The current group file.
        #[arg(long, value_name = "FILE")]
        group: PathBuf,
        /// The next epoch's group file from `refresh deal`.
        #[arg(long, value_name = "FILE")]
        new_group: PathBuf,
        #[arg(long, value_name = "FILE")]
        share: PathBuf,
        /// This guardian's refresh-guardian-<i>.json.
        #[arg(long, value_name = "FILE")]
        refreshing: PathBuf,
        #[command(flatten)]
        pass: PassArgs,
    },
}

/// Runs one `x0 guardian refresh` step.
pub(super) fn run(command: &RefreshCommand) -> Result<(), NodeError> {
    match command {
        RefreshCommand::Deal {
            group,
            approval,
            seen,
            out,
        } => {
            let group = read_group("--group", group)?;
            let next_path = out.join("group.json");
            if next_path.exists() {
                return Err(operator(format!(
                    "--out {}: holds a group already; choose an empty directory",
                    out.display()
                )));
            }
            consume_approval(
                &group,
                approval,
                &Operation::Refresh {
                    from_epoch: group.epoch,
                },
                seen,
            )?;
            let deal = refresh::refresh_deal(&group, &mut OsRng)
                .map_err(|e| NodeError::Runtime(e.to_string()))?;
            for (guardian, share) in &deal.refreshing {
                write_json(
                    "--out",
                    &out.join(format!("refresh-guardian-{guardian}.json")),
                    share,
                    WriteMode::SECRET,
                )?;
            }
            write_json("--out", &next_path, &deal.group, WriteMode::PUBLIC)?;
            println!(
                "epoch {} -> {} of group {}: wrote {} and refresh-guardian-<i>.json (SECRET, one per guardian)",
                group.epoch,
                deal.group.epoch,
                group.fingerprint(),
                next_path.display()
            );
            Ok(())
        }
        RefreshCommand::Apply {
            group,
            new_group,
            share,
            refreshing,
            pass,
        } => {
            let old = read_group("--group", group)?;
            let new = read_group("--new-group", new_group)?;
            let (guardian, current) = read_share("--share", share, &old, pass)?;
            let refreshing_share: SecretShare = read_json("--refreshing", refreshing)?;
            let next = refresh::refresh_apply(&old, &new, guardian, &current, refreshing_share)
                .map_err(|e| refused("--refreshing", refreshing, e))?;
            let passphrase = pass.get_new(guardian)?;
            write_share("--share", share, &new, guardian, &next, &passphrase, true)?;
            println!(
                "guardian {guardian}: share replaced by epoch {}'s in {} (the old one is gone; delete {})",
                new.epoch,
                share.display(),
                refreshing.display()
            );
            Ok(())
        }
    }
}
