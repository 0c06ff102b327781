//! `x0 guardian`: guardian key custody from the operator's side (docs/GUARDIANS.md). The
//! ceremonies, checks and cryptography live in `x0_core::guardians`; this module reads
//! and writes the files and passphrases.
//!
//! Files: `group.json` (public: group key, verifying shares, threshold, epoch),
//! `guardian-<i>.share` (a sealed share, mode 0600), and JSON for everything that travels
//! between guardians (round-1 packages, approval requests, commitments, signature shares,
//! repair deltas and sigmas; the secret ones are written mode 0600 and must travel over a
//! confidential channel). Passphrases come from the environment (`--passphrase-env-prefix
//! P` reads `P<i>` for guardian i) or files (`--passphrase-dir D` reads `D/guardian-<i>.pass`),
//! never from the command line. Everything a guardian acknowledges (a share, a used nonce)
//! is written and fsynced before it is reported. Operator mistakes and refused inputs exit
//! 2 naming the argument.

mod approve;
mod dkg;
mod files;
mod recover;
mod refresh;
mod repair;

use std::path::PathBuf;

use rand::rngs::OsRng;
use x0_core::guardians::group::Group;
use x0_core::guardians::share_file;
use x0_core::guardians::{ceremony, GuardianError};
use zeroize::Zeroizing;

pub use approve::{ApproveCommand, OperationKind};
pub use dkg::DkgCommand;
pub use files::{read_group, read_share, share_path};
pub use recover::RecoverArgs;
pub use refresh::RefreshCommand;
pub use repair::{RepairCommand, RepairParty};

use crate::cli::common::{operator, read_bounded, write_json, WriteMode};
use crate::NodeError;
use files::write_share;

#[derive(clap::Subcommand, Debug, Clone)]
pub enum GuardianCommand {
    /// Trusted-dealer ceremony: a fresh group key split into --guardians shares,
    /// --threshold needed. Writes OUT/group.json and OUT/guardian-<i>.share (sealed under
    /// each guardian's passphrase). Run it offline; for no dealer at all use `dkg`.
    Init(InitArgs),
    /// Dealerless ceremony (DKG): each guardian runs part1, part2, part3 on its own machine.
    #[command(subcommand)]
    Dkg(DkgCommand),
    /// Guardian approval of a key operation: a threshold signature in four steps
    /// (request, commit, sign, aggregate), and verify.
    #[command(subcommand)]
    Approve(ApproveCommand),
    /// Recover the master key from at least --threshold shares, with an approval. Each share
    /// is checked against the group before use; a bad one is named.
    Recover(RecoverArgs),
    /// Refresh every share for the same group key: `deal` (coordinator, with an approval)
    /// then `apply` (each guardian). Old and new shares never combine.
    #[command(subcommand)]
    Refresh(RefreshCommand),
    /// Rebuild a lost share from --threshold helpers without revealing the secret
    /// (step1 at each helper, step2 at each helper, step3 at the lost guardian).
    #[command(subcommand)]
    Repair(RepairCommand),
    /// Print a group: name, fingerprint, threshold, epoch, ceremony.
    Show {
        #[arg(long, value_name = "FILE")]
        group: PathBuf,
    },
}

/// Where each guardian's passphrase comes from (never the command line).
#[derive(clap::Args, Debug, Clone)]
pub struct PassArgs {
    /// Read guardian i's passphrase from the environment variable PREFIX<i>.
    #[arg(long, value_name = "PREFIX", conflicts_with = "passphrase_dir")]
    pub passphrase_env_prefix: Option<String>,
    /// Read guardian i's passphrase from DIR/guardian-<i>.pass (first line).
    #[arg(long, value_name = "DIR")]
    pub passphrase_dir: Option<PathBuf>,
}

impl PassArgs {
    /// Guardian `guardian`'s passphrase to open a file it sealed before: any length (files
    /// sealed when 8 bytes were enough still open); the file decides whether it is right.
    fn get(&self, guardian: u16) -> Result<Zeroizing<Vec<u8>>, NodeError> {
        let passphrase = self.read(guardian)?;
        share_file::check_passphrase_to_open(&passphrase)
            .map_err(|e| operator(format!("{}: guardian {guardian}'s {e}", self.source())))?;
        Ok(passphrase)
    }

    /// Guardian `guardian`'s passphrase to seal a file under: checked for strength
    /// ([`share_file::PASSPHRASE_MIN`] characters) before anything is written.
    fn get_new(&self, guardian: u16) -> Result<Zeroizing<Vec<u8>>, NodeError> {
        let passphrase = self.read(guardian)?;
        share_file::check_passphrase(&passphrase)
            .map_err(|e| operator(format!("{}: guardian {guardian}'s {e}", self.source())))?;
        Ok(passphrase)
    }

    /// The argument the passphrases come from, for messages.
    fn source(&self) -> &'static str {
        if self.passphrase_env_prefix.is_some() {
            "--passphrase-env-prefix"
        } else {
            "--passphrase-dir"
        }
    }

    fn read(&self, guardian: u16) -> Result<Zeroizing<Vec<u8>>, NodeError> {
        let passphrase = match (&self.passphrase_env_prefix, &self.passphrase_dir) {
            (Some(prefix), _) => {
                let var = format!("{prefix}{guardian}");
                let value = std::env::var(&var).map_err(|_| {
                    operator(format!(
                        "--passphrase-env-prefix {prefix}: ${var} is not set; export guardian {guardian}'s passphrase in it"
                    ))
                })?;
                Zeroizing::new(value.into_bytes())
            }
            (None, Some(dir)) => {
                let path = dir.join(format!("guardian-{guardian}.pass"));
                let text = read_bounded("--passphrase-dir", &path, 4096)?;
                let line = text.split(|b| *b == b'\n').next().unwrap_or_default();
                Zeroizing::new(line.strip_suffix(b"\r").unwrap_or(line).to_vec())
            }
            (None, None) => {
                return Err(operator("no passphrase source: pass --passphrase-env-prefix PREFIX (reads $PREFIX<i>) or --passphrase-dir DIR (reads DIR/guardian-<i>.pass)"))
            }
        };
        Ok(passphrase)
    }
}

#[derive(clap::Args, Debug, Clone)]
pub struct InitArgs {
    #[arg(long, default_value_t = 10)]
    pub guardians: u16,
    #[arg(long, default_value_t = 3)]
    pub threshold: u16,
    /// The group's name: `sublime` for the store, `emergency` for the seed's 3 of 5.
    #[arg(long, default_value = "sublime")]
    pub name: String,
    /// Output directory (created; must not hold a group already).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    #[command(flatten)]
    pub pass: PassArgs,
}

pub fn run(command: &GuardianCommand) -> Result<(), NodeError> {
    match command {
        GuardianCommand::Init(args) => init(args),
        GuardianCommand::Dkg(command) => dkg::run(command),
        GuardianCommand::Approve(command) => approve::run(command),
        GuardianCommand::Recover(args) => recover::run(args),
        GuardianCommand::Refresh(command) => refresh::run(command),
        GuardianCommand::Repair(command) => repair::run(command),
        GuardianCommand::Show { group } => {
            let group = read_group("--group", group)?;
            print_group(&group);
            Ok(())
        }
    }
}

fn print_group(group: &Group) {
    println!(
        "group {} ({} of {}, epoch {}, {} ceremony)",
        group.name, group.threshold, group.guardians, group.epoch, group.ceremony
    );
    println!("fingerprint {}", group.fingerprint());
    println!("group key {}", hex::encode(group.verifying_key_bytes()));
}

fn init(args: &InitArgs) -> Result<(), NodeError> {
    let group_path = args.out.join("group.json");
    if group_path.exists() {
        return Err(operator(format!(
            "--out {}: holds a group already; choose an empty directory",
            args.out.display()
        )));
    }
    // Every passphrase first: a missing one must not leave half a ceremony behind.
    let mut passphrases = Vec::new();
    for guardian in 1..=args.guardians.min(x0_core::guardians::GUARDIANS_MAX) {
        passphrases.push(args.pass.get_new(guardian)?);
    }
    let dealt = ceremony::deal(&args.name, args.guardians, args.threshold, &mut OsRng).map_err(
        |e| match e {
            GuardianError::BadParameters { .. } => {
                operator(format!("--guardians/--threshold: {e}"))
            }
            GuardianError::BadGroupName(_) => operator(format!("--name: {e}")),
            other => NodeError::Runtime(other.to_string()),
        },
    )?;
    for (guardian, key_package) in &dealt.shares {
        write_share(
            "--out",
            &share_path(&args.out, *guardian),
            &dealt.group,
            *guardian,
            key_package,
            &passphrases[*guardian as usize - 1],
            false,
        )?;
    }
    write_json("--out", &group_path, &dealt.group, WriteMode::PUBLIC)?;
    print_group(&dealt.group);
    println!(
        "wrote {} and {} sealed shares in {}",
        group_path.display(),
        dealt.shares.len(),
        args.out.display()
    );
    Ok(())
}
