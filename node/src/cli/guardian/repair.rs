//! `x0 guardian repair`: a lost share rebuilt by a threshold of helpers, in three steps.

use std::collections::BTreeMap;
use std::path::PathBuf;

use frost_ristretto255::keys::repairable::{Delta, Sigma};
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use x0_core::guardians::refresh;

use super::files::{read_group, read_share, write_share};
use super::PassArgs;
use crate::cli::common::{operator, read_json, write_json, WriteMode};
use crate::NodeError;

#[derive(clap::Args, Debug, Clone)]
pub struct RepairParty {
    #[arg(long, value_name = "FILE")]
    pub group: PathBuf,
    /// The helpers' indices, comma-separated (at least the threshold), e.g. 2,6,9.
    #[arg(long, value_delimiter = ',', required = true)]
    pub helpers: Vec<u16>,
    /// The guardian whose share is lost.
    #[arg(long)]
    pub lost: u16,
    /// Where deltas and sigmas are exchanged (SECRET files; move them confidentially).
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
}

#[derive(clap::Subcommand, Debug, Clone)]
pub enum RepairCommand {
    /// Each helper: writes DIR/delta-from-<i>-to-<j>.json for every helper j.
    Step1 {
        #[command(flatten)]
        party: RepairParty,
        #[arg(long, value_name = "FILE")]
        share: PathBuf,
        #[command(flatten)]
        pass: PassArgs,
    },
    /// Each helper: sums the deltas addressed to it into DIR/sigma-from-<i>.json.
    Step2 {
        #[command(flatten)]
        party: RepairParty,
        #[arg(long)]
        guardian: u16,
    },
    /// The lost guardian: rebuilds its share from the sigmas into --out (sealed).
    Step3 {
        #[command(flatten)]
        party: RepairParty,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        #[command(flatten)]
        pass: PassArgs,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeltaFile {
    from: u16,
    to: u16,
    lost: u16,
    delta: Delta,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SigmaFile {
    from: u16,
    lost: u16,
    sigma: Sigma,
}

/// Runs one `x0 guardian repair` step.
pub(super) fn run(command: &RepairCommand) -> Result<(), NodeError> {
    match command {
        RepairCommand::Step1 { party, share, pass } => {
            let group = read_group("--group", &party.group)?;
            let (guardian, key_package) = read_share("--share", share, &group, pass)?;
            let deltas = refresh::repair_step1(
                &group,
                guardian,
                &key_package,
                &party.helpers,
                party.lost,
                &mut OsRng,
            )
            .map_err(|e| operator(format!("--helpers/--lost: {e}")))?;
            for (to, delta) in deltas {
                let path = party
                    .dir
                    .join(format!("delta-from-{guardian}-to-{to}.json"));
                write_json(
                    "--dir",
                    &path,
                    &DeltaFile {
                        from: guardian,
                        to,
                        lost: party.lost,
                        delta,
                    },
                    WriteMode::SECRET,
                )?;
            }
            println!("guardian {guardian}: wrote {}/delta-from-{guardian}-to-*.json (SECRET: each to its helper only)", party.dir.display());
            Ok(())
        }
        RepairCommand::Step2 { party, guardian } => {
            let group = read_group("--group", &party.group)?;
            let mut deltas = BTreeMap::new();
            for from in &party.helpers {
                let path = party
                    .dir
                    .join(format!("delta-from-{from}-to-{guardian}.json"));
                let file: DeltaFile = read_json("--dir", &path)?;
                if file.from != *from || file.to != *guardian || file.lost != party.lost {
                    return Err(operator(format!(
                        "--dir {}: addressed from {} to {} for {}",
                        path.display(),
                        file.from,
                        file.to,
                        file.lost
                    )));
                }
                deltas.insert(*from, file.delta);
            }
            let sigma = refresh::repair_step2(&group, &party.helpers, party.lost, &deltas)
                .map_err(|e| operator(format!("--helpers/--lost: {e}")))?;
            let path = party.dir.join(format!("sigma-from-{guardian}.json"));
            write_json(
                "--dir",
                &path,
                &SigmaFile {
                    from: *guardian,
                    lost: party.lost,
                    sigma,
                },
                WriteMode::SECRET,
            )?;
            for from in &party.helpers {
                let _ = std::fs::remove_file(
                    party
                        .dir
                        .join(format!("delta-from-{from}-to-{guardian}.json")),
                );
            }
            println!(
                "guardian {guardian}: wrote {} (SECRET: to guardian {} only)",
                path.display(),
                party.lost
            );
            Ok(())
        }
        RepairCommand::Step3 { party, out, pass } => {
            let group = read_group("--group", &party.group)?;
            let passphrase = pass.get_new(party.lost)?;
            let mut sigmas = BTreeMap::new();
            for from in &party.helpers {
                let path = party.dir.join(format!("sigma-from-{from}.json"));
                let file: SigmaFile = read_json("--dir", &path)?;
                if file.from != *from || file.lost != party.lost {
                    return Err(operator(format!(
                        "--dir {}: from {} for {}",
                        path.display(),
                        file.from,
                        file.lost
                    )));
                }
                sigmas.insert(*from, file.sigma);
            }
            let key_package = refresh::repair_step3(&group, &party.helpers, party.lost, &sigmas)
                .map_err(|e| operator(format!("--dir {}: {e}", party.dir.display())))?;
            write_share(
                "--out",
                out,
                &group,
                party.lost,
                &key_package,
                &passphrase,
                false,
            )?;
            for from in &party.helpers {
                let _ = std::fs::remove_file(party.dir.join(format!("sigma-from-{from}.json")));
            }
            println!(
                "guardian {}: share repaired and checked against group {}; sealed in {}",
                party.lost,
                group.fingerprint(),
                out.display()
            );
            Ok(())
        }
    }
}
