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

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use frost_ristretto255::keys::dkg;
use frost_ristretto255::keys::repairable::{Delta, Sigma};
use frost_ristretto255::keys::{KeyPackage, SecretShare};
use frost_ristretto255::round1::{SigningCommitments, SigningNonces};
use frost_ristretto255::round2::SignatureShare;
use frost_ristretto255::SigningPackage;
use rand::rngs::OsRng;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use x0_core::guardians::approval::{self, Approval, Operation, Request, SeenNonces};
use x0_core::guardians::group::{Group, GROUP_FILE_BYTES_MAX};
use x0_core::guardians::share_file::{self, Header, KdfParams, Kind};
use x0_core::guardians::{ceremony, recovery, refresh, GuardianError};
use zeroize::Zeroizing;

use crate::NodeError;

const JSON_FILE_BYTES_MAX: u64 = 1024 * 1024;

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
    fn get(&self, guardian: u16) -> Result<Zeroizing<Vec<u8>>, NodeError> {
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
                return Err(operator(
                    "no passphrase source: pass --passphrase-env-prefix PREFIX (reads $PREFIX<i>) or --passphrase-dir DIR (reads DIR/guardian-<i>.pass)".into(),
                ))
            }
        };
        share_file::check_passphrase(&passphrase)
            .map_err(|e| operator(format!("guardian {guardian}'s {e}")))?;
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

pub fn operator(message: String) -> NodeError {
    NodeError::Config(message)
}

fn refused(flag: &str, path: &Path, error: GuardianError) -> NodeError {
    operator(format!("{flag} {}: {error}", path.display()))
}

pub fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub fn read_bounded(flag: &str, path: &Path, max: u64) -> Result<Vec<u8>, NodeError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| operator(format!("{flag} {}: cannot read: {e}", path.display())))?;
    if meta.len() > max {
        return Err(operator(format!(
            "{flag} {}: {} bytes, at most {max}",
            path.display(),
            meta.len()
        )));
    }
    std::fs::read(path)
        .map_err(|e| operator(format!("{flag} {}: cannot read: {e}", path.display())))
}

pub fn read_json<T: DeserializeOwned>(flag: &str, path: &Path) -> Result<T, NodeError> {
    let bytes = read_bounded(flag, path, JSON_FILE_BYTES_MAX)?;
    serde_json::from_slice(&bytes)
        .map_err(|e| operator(format!("{flag} {}: not understood: {e}", path.display())))
}

/// Writes `bytes` to `path` (mode 0600 when `secret`) through a temporary file, fsyncs
/// the file and its directory, then renames. `replace: false` refuses an existing file.
pub fn write_file(
    flag: &str,
    path: &Path,
    bytes: &[u8],
    secret: bool,
    replace: bool,
) -> Result<(), NodeError> {
    let fail =
        |e: std::io::Error| operator(format!("{flag} {}: cannot write: {e}", path.display()));
    if !replace && path.exists() {
        return Err(operator(format!(
            "{flag} {}: already exists; move it away first (nothing was overwritten)",
            path.display()
        )));
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(fail)?;
    let mut file = tempfile::NamedTempFile::new_in(&dir).map_err(fail)?;
    if !secret {
        std::fs::set_permissions(
            file.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o644),
        )
        .map_err(fail)?;
    }
    file.write_all(bytes).map_err(fail)?;
    file.as_file().sync_all().map_err(fail)?;
    file.persist(path).map_err(|e| fail(e.error))?;
    std::fs::File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(fail)?;
    Ok(())
}

fn write_json<T: Serialize>(
    flag: &str,
    path: &Path,
    value: &T,
    secret: bool,
    replace: bool,
) -> Result<(), NodeError> {
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|e| NodeError::Runtime(format!("JSON: {e}")))?;
    text.push('\n');
    write_file(flag, path, text.as_bytes(), secret, replace)
}

pub fn read_group(flag: &str, path: &Path) -> Result<Group, NodeError> {
    let bytes = read_bounded(flag, path, GROUP_FILE_BYTES_MAX as u64)?;
    let group: Group = serde_json::from_slice(&bytes)
        .map_err(|e| operator(format!("{flag} {}: not a group file: {e}", path.display())))?;
    group.validate().map_err(|e| refused(flag, path, e))?;
    Ok(group)
}

/// A share file's guardian index, from its clear header.
fn share_header(flag: &str, path: &Path) -> Result<(Vec<u8>, Header), NodeError> {
    let bytes = read_bounded(flag, path, share_file::FILE_BYTES_MAX as u64)?;
    let header =
        share_file::read_header(&bytes, Kind::Share).map_err(|e| refused(flag, path, e))?;
    Ok((bytes, header))
}

/// Opens and checks guardian share `path` against `group`: the group id, the epoch, the
/// passphrase, and the share against the guardian's commitment.
pub fn read_share(
    flag: &str,
    path: &Path,
    group: &Group,
    pass: &PassArgs,
) -> Result<(u16, KeyPackage), NodeError> {
    let (bytes, header) = share_header(flag, path)?;
    let guardian = header.guardian;
    if header.group_id != group.id() {
        return Err(refused(
            flag,
            path,
            GuardianError::ForeignShare { guardian },
        ));
    }
    let passphrase = pass.get(guardian)?;
    let (_, plain) = share_file::open(&bytes, Kind::Share, &passphrase).map_err(|e| {
        operator(format!(
            "{flag} {}: guardian {guardian}: {e}",
            path.display()
        ))
    })?;
    let key_package = KeyPackage::deserialize(&plain).map_err(|e| {
        operator(format!(
            "{flag} {}: guardian {guardian}: {e}",
            path.display()
        ))
    })?;
    if header.epoch != group.epoch {
        return Err(refused(
            flag,
            path,
            GuardianError::StaleShare {
                guardian,
                share_epoch: header.epoch,
                group_epoch: group.epoch,
            },
        ));
    }
    group
        .check_share(guardian, &key_package)
        .map_err(|e| refused(flag, path, e))?;
    Ok((guardian, key_package))
}

fn seal_secret(
    kind: Kind,
    guardian: u16,
    group: (&[u8; 32], u32),
    plain: &[u8],
    passphrase: &[u8],
) -> Result<Vec<u8>, NodeError> {
    let header = Header {
        kind,
        guardian,
        epoch: group.1,
        group_id: *group.0,
        kdf: KdfParams::default(),
    };
    share_file::seal(&header, plain, passphrase, &mut OsRng)
        .map_err(|e| NodeError::Runtime(format!("sealing {}: {e}", kind.describe())))
}

fn write_share(
    flag: &str,
    path: &Path,
    group: &Group,
    guardian: u16,
    key_package: &KeyPackage,
    passphrase: &[u8],
    replace: bool,
) -> Result<(), NodeError> {
    let plain = Zeroizing::new(
        key_package
            .serialize()
            .map_err(|e| NodeError::Runtime(format!("serializing a share: {e}")))?,
    );
    let sealed = seal_secret(
        Kind::Share,
        guardian,
        (&group.id(), group.epoch),
        &plain,
        passphrase,
    )?;
    write_file(flag, path, &sealed, true, replace)
}

pub fn share_path(dir: &Path, guardian: u16) -> PathBuf {
    dir.join(format!("guardian-{guardian}.share"))
}

pub fn run(command: &GuardianCommand) -> Result<(), NodeError> {
    match command {
        GuardianCommand::Init(args) => init(args),
        GuardianCommand::Dkg(command) => dkg_command(command),
        GuardianCommand::Approve(command) => approve_command(command),
        GuardianCommand::Recover(args) => recover(args),
        GuardianCommand::Refresh(command) => refresh_command(command),
        GuardianCommand::Repair(command) => repair_command(command),
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
        passphrases.push(args.pass.get(guardian)?);
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
    write_json("--out", &group_path, &dealt.group, false, false)?;
    print_group(&dealt.group);
    println!(
        "wrote {} and {} sealed shares in {}",
        group_path.display(),
        dealt.shares.len(),
        args.out.display()
    );
    Ok(())
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

fn dkg_command(command: &DkgCommand) -> Result<(), NodeError> {
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
            let passphrase = pass.get(*guardian)?;
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
                true,
                false,
            )?;
            let public = DkgRound1 {
                name: name.clone(),
                guardians: *guardians,
                threshold: *threshold,
                guardian: *guardian,
                package,
            };
            let path = dir.join("round1").join(format!("guardian-{guardian}.json"));
            write_json("--dir", &path, &public, false, false)?;
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
            let passphrase = pass.get(*guardian)?;
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
                true,
                false,
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
                    true,
                    false,
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
            let passphrase = pass.get(*guardian)?;
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
                write_json("--out", &group_path, &group, false, false)?;
            }
            let _ = std::fs::remove_file(&state_path);
            print_group(&group);
            println!("wrote {}", share_path(out, *guardian).display());
            Ok(())
        }
    }
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
                .ok_or_else(|| {
                    operator("--store: required with --operation emergency-access".into())
                })?
                .to_string(),
        },
    })
}

fn approve_command(command: &ApproveCommand) -> Result<(), NodeError> {
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
            let request = Request::new(&group, operation, now_s(), *valid_for_s, &mut OsRng)
                .map_err(|e| operator(format!("--valid-for-s: {e}")))?;
            write_json("--out", out, &request, false, false)?;
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
            let passphrase = pass.get(guardian)?;
            let sealed = seal_secret(
                Kind::SigningNonces,
                guardian,
                (&group.id(), group.epoch),
                &plain,
                &passphrase,
            )?;
            write_file("--nonces", nonces, &sealed, true, false)?;
            write_json(
                "--out",
                out,
                &CommitmentFile {
                    guardian,
                    request_nonce: request.nonce.clone(),
                    commitments,
                },
                false,
                false,
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
                false,
                false,
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
            write_json("--out", out, &approval, false, false)?;
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
                now_s(),
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
fn consume_approval(
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
    approval::verify(group, &approval, operation, now_s(), &mut seen)
        .map_err(|e| refused("--approval", approval_path, e))?;
    write_json("--seen", seen_path, &seen, false, true)
}

fn recover(args: &RecoverArgs) -> Result<(), NodeError> {
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
    write_file("--out", &args.out, &sealed, true, false)?;
    let used: Vec<String> = shares.iter().map(|(g, _)| g.to_string()).collect();
    println!(
        "recovered the master key of group {} from guardians {}; sealed in {}",
        group.fingerprint(),
        used.join(", "),
        args.out.display()
    );
    Ok(())
}

fn refresh_command(command: &RefreshCommand) -> Result<(), NodeError> {
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
                    true,
                    false,
                )?;
            }
            write_json("--out", &next_path, &deal.group, false, false)?;
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
            let passphrase = pass.get(guardian)?;
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

fn repair_command(command: &RepairCommand) -> Result<(), NodeError> {
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
                    true,
                    false,
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
                true,
                false,
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
            let passphrase = pass.get(party.lost)?;
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
