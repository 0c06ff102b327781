//! `x0 guardian dkg`: the dealerless ceremony, three parts at each guardian.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use frost_ristretto255::keys::dkg;
use rand::rngs::OsRng;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use x0_core::guardians::ceremony;
use x0_core::guardians::share_file::{self, Kind};
use zeroize::Zeroizing;

use super::files::{read_group, refused, seal_secret, share_path, write_share};
use super::{print_group, PassArgs};
use crate::cli::common::{operator, read_bounded, read_json, write_file, write_json, WriteMode};
use crate::NodeError;

#[derive(clap::Subcommand, Debug, Clone)]
pub enum DkgCommand {
    /// Round 1: writes DIR/round1/guardian-<i>.json (broadcast it to every guardian) and
    /// keeps sealed state in DIR/state/.
    Part1 {
        #[arg(long)]
        guardian: u16,
        #[arg(long, default_value_t = 10)]
        guardians: u16,
        #[arg(long, default_value_t = 3)]
        threshold: u16,
        #[arg(long, default_value = "sublime")]
        name: String,
        /// The ceremony directory (shared folder of public packages, plus this guardian's state).
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        #[command(flatten)]
        pass: PassArgs,
    },
    /// Round 2: reads every DIR/round1/*.json, writes DIR/round2/from-<i>-to-<j>.json
    /// (SECRET: deliver each to guardian j only, over a confidential channel).
    Part2 {
        #[arg(long)]
        guardian: u16,
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        #[command(flatten)]
        pass: PassArgs,
    },
    /// Finish: reads round-1 packages and the round-2 packages addressed to this guardian,
    /// writes OUT/guardian-<i>.share and OUT/group.json; compare fingerprints aloud.
    Part3 {
        #[arg(long)]
        guardian: u16,
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        #[command(flatten)]
        pass: PassArgs,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DkgState1 {
    name: String,
    guardians: u16,
    threshold: u16,
    secret: dkg::round1::SecretPackage,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DkgState2 {
    name: String,
    guardians: u16,
    threshold: u16,
    secret: dkg::round2::SecretPackage,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DkgRound1 {
    name: String,
    guardians: u16,
    threshold: u16,
    guardian: u16,
    package: dkg::round1::Package,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DkgRound2 {
    from: u16,
    to: u16,
    package: dkg::round2::Package,
}

/// DKG state has no group yet: sealed with an all-zero group id, epoch 0.
const NO_GROUP: [u8; 32] = [0; 32];

fn read_round1_all(
    dir: &Path,
    own: u16,
    name: &str,
    guardians: u16,
    threshold: u16,
) -> Result<BTreeMap<u16, dkg::round1::Package>, NodeError> {
    let mut out = BTreeMap::new();
    for guardian in 1..=guardians {
        if guardian == own {
            continue;
        }
        let path = dir.join("round1").join(format!("guardian-{guardian}.json"));
        let package: DkgRound1 = read_json("--dir", &path)?;
        if package.guardian != guardian
            || package.name != name
            || package.guardians != guardians
            || package.threshold != threshold
        {
            return Err(operator(format!(
                "--dir {}: guardian {guardian}'s round-1 package is for another ceremony (name, size, threshold or index differ)",
                path.display()
            )));
        }
        out.insert(guardian, package.package);
    }
    Ok(out)
}

fn open_state<T: DeserializeOwned>(
    path: &Path,
    kind: Kind,
    guardian: u16,
    pass: &PassArgs,
) -> Result<T, NodeError> {
    let bytes = read_bounded("--dir", path, share_file::FILE_BYTES_MAX as u64)?;
    let passphrase = pass.get(guardian)?;
    let (header, plain) =
        share_file::open(&bytes, kind, &passphrase).map_err(|e| refused("--dir", path, e))?;
    if header.guardian != guardian {
        return Err(operator(format!(
            "--dir {}: state of guardian {}, not {guardian}",
            path.display(),
            header.guardian
        )));
    }
    serde_json::from_slice(&plain).map_err(|e| operator(format!("--dir {}: {e}", path.display())))
}

/// Runs one `x0 guardian dkg` part.
pub(super) fn run(command: &DkgCommand) -> Result<(), NodeError> {
    match command {
        DkgCommand::Part1 {
            guardian,
            guardians,
            threshold,
            name,
            dir,
            pass,
        } => {
            x0_core::guardians::check_name(name).map_err(|e| operator(format!("--name: {e}")))?;
            let passphrase = pass.get_new(*guardian)?;
            let (secret, package) =
                ceremony::dkg_part1(*guardian, *guardians, *threshold, &mut OsRng)
                    .map_err(|e| operator(format!("--guardian/--guardians/--threshold: {e}")))?;
            let state = DkgState1 {
                name: name.clone(),
                guardians: *guardians,
                threshold: *threshold,
                secret,
            };
            let plain = Zeroizing::new(
                serde_json::to_vec(&state).map_err(|e| NodeError::Runtime(e.to_string()))?,
            );
            let sealed = seal_secret(
                Kind::DkgRound1,
                *guardian,
                (&NO_GROUP, 0),
                &plain,
                &passphrase,
            )?;
            write_file(
                "--dir",
                &dir.join("state")
                    .join(format!("guardian-{guardian}.round1")),
                &sealed,
                WriteMode::SECRET,
            )?;
            let public = DkgRound1 {
                name: name.clone(),
                guardians: *guardians,
                threshold: *threshold,
                guardian: *guardian,
                package,
            };
            let path = dir.join("round1").join(format!("guardian-{guardian}.json"));
            write_json("--dir", &path, &public, WriteMode::PUBLIC)?;
            println!("wrote {} (broadcast it to every guardian)", path.display());
            Ok(())
        }
        DkgCommand::Part2 {
            guardian,
            dir,
            pass,
        } => {
            let state_path = dir
                .join("state")
                .join(format!("guardian-{guardian}.round1"));
            let state: DkgState1 = open_state(&state_path, Kind::DkgRound1, *guardian, pass)?;
            let round1 = read_round1_all(
                dir,
                *guardian,
                &state.name,
                state.guardians,
                state.threshold,
            )?;
            let (secret, packages) =
                ceremony::dkg_part2(*guardian, state.guardians, state.secret, round1)
                    .map_err(|e| operator(format!("--dir {}: {e}", dir.display())))?;
            let next = DkgState2 {
                name: state.name,
                guardians: state.guardians,
                threshold: state.threshold,
                secret,
            };
            let plain = Zeroizing::new(
                serde_json::to_vec(&next).map_err(|e| NodeError::Runtime(e.to_string()))?,
            );
            let passphrase = pass.get_new(*guardian)?;
            let sealed = seal_secret(
                Kind::DkgRound2,
                *guardian,
                (&NO_GROUP, 0),
                &plain,
                &passphrase,
            )?;
            write_file(
                "--dir",
                &dir.join("state")
                    .join(format!("guardian-{guardian}.round2")),
                &sealed,
                WriteMode::SECRET,
            )?;
            for (to, package) in packages {
                let path = dir
                    .join("round2")
                    .join(format!("from-{guardian}-to-{to}.json"));
                write_json(
                    "--dir",
                    &path,
                    &DkgRound2 {
                        from: *guardian,
                        to,
                        package,
                    },
                    WriteMode::SECRET,
                )?;
            }
            let _ = std::fs::remove_file(&state_path);
            println!(
                "wrote {}/round2/from-{guardian}-to-*.json: SECRET, deliver each to its guardian only",
                dir.display()
            );
            Ok(())
        }
        DkgCommand::Part3 {
            guardian,
            dir,
            out,
            pass,
        } => {
            let state_path = dir
                .join("state")
                .join(format!("guardian-{guardian}.round2"));
            let state: DkgState2 = open_state(&state_path, Kind::DkgRound2, *guardian, pass)?;
            let round1 = read_round1_all(
                dir,
                *guardian,
                &state.name,
                state.guardians,
                state.threshold,
            )?;
            let mut round2 = BTreeMap::new();
            for from in (1..=state.guardians).filter(|g| g != guardian) {
                let path = dir
                    .join("round2")
                    .join(format!("from-{from}-to-{guardian}.json"));
                let package: DkgRound2 = read_json("--dir", &path)?;
                if package.from != from || package.to != *guardian {
                    return Err(operator(format!(
                        "--dir {}: addressed from {} to {}",
                        path.display(),
                        package.from,
                        package.to
                    )));
                }
                round2.insert(from, package.package);
            }
            let (group, key_package) = ceremony::dkg_part3(
                &state.name,
                *guardian,
                state.guardians,
                state.threshold,
                &state.secret,
                round1,
                round2,
            )
            .map_err(|e| operator(format!("--dir {}: {e}", dir.display())))?;
            let passphrase = pass.get_new(*guardian)?;
            write_share(
                "--out",
                &share_path(out, *guardian),
                &group,
                *guardian,
                &key_package,
                &passphrase,
                false,
            )?;
            let group_path = out.join("group.json");
            if group_path.exists() {
                let existing = read_group("--out", &group_path)?;
                if existing != group {
                    return Err(operator(format!(
                        "--out {}: holds a different group than this guardian computed: the ceremony was tampered with; stop and compare fingerprints",
                        group_path.display()
                    )));
                }
            } else {
                write_json("--out", &group_path, &group, WriteMode::PUBLIC)?;
            }
            let _ = std::fs::remove_file(&state_path);
            print_group(&group);
            println!("wrote {}", share_path(out, *guardian).display());
            Ok(())
        }
    }
}
