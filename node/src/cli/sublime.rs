//! `x0 sublime`: the encrypted content store. A store is a directory: `store.json` (the
//! guardian group it belongs to) and `objects/<name>.x0s`, one file per object (format in
//! `x0_core::guardians::store`). `put` and `get` need the master key: the sealed file
//! `x0 guardian recover` writes (and its passphrase), i.e. the guardians' approval.

use std::path::{Path, PathBuf};

use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use x0_core::guardians::share_file::{self, Kind};
use x0_core::guardians::store::{self, MasterKey, CONTENT_MAX};
use zeroize::Zeroizing;

use crate::cli::common::{operator, read_bounded, read_json, write_file, WriteMode};
use crate::cli::guardian::read_group;
use crate::NodeError;

#[derive(clap::Subcommand, Debug, Clone)]
pub enum SublimeCommand {
    /// Create a store for a guardian group.
    Init {
        #[arg(long, value_name = "DIR")]
        store: PathBuf,
        #[arg(long, value_name = "FILE")]
        group: PathBuf,
    },
    /// Encrypt a file into the store under --name (a new data key, wrapped by the master key).
    Put {
        #[command(flatten)]
        key: KeyArgs,
        #[arg(long)]
        name: String,
        /// The content to store (at most 16 MiB).
        #[arg(long = "in", value_name = "FILE")]
        input: PathBuf,
        /// Replace an existing object of that name.
        #[arg(long)]
        replace: bool,
    },
    /// Decrypt object --name to --out (mode 0600; `-` for stdout).
    Get {
        #[command(flatten)]
        key: KeyArgs,
        #[arg(long)]
        name: String,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

#[derive(clap::Args, Debug, Clone)]
pub struct KeyArgs {
    #[arg(long, value_name = "DIR")]
    pub store: PathBuf,
    /// The sealed master key from `x0 guardian recover --out`.
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// Environment variable holding the master key file's passphrase.
    #[arg(long, value_name = "VAR")]
    pub key_passphrase_env: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreFile {
    version: u8,
    group_name: String,
    /// Hex of the guardian group's id.
    group_id: String,
    fingerprint: String,
}

fn object_path(store: &Path, name: &str) -> PathBuf {
    store.join("objects").join(format!("{name}.x0s"))
}

/// The store's group id and the opened master key (checked to belong to that group).
fn open_key(args: &KeyArgs) -> Result<([u8; 32], MasterKey), NodeError> {
    let info: StoreFile = read_json("--store", &args.store.join("store.json"))?;
    let group_id: [u8; 32] = hex::decode(&info.group_id)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            operator(format!(
                "--store {}: store.json has a bad group_id",
                args.store.display()
            ))
        })?;
    let passphrase = Zeroizing::new(
        std::env::var(&args.key_passphrase_env)
            .map_err(|_| {
                operator(format!(
                    "--key-passphrase-env {0}: ${0} is not set",
                    args.key_passphrase_env
                ))
            })?
            .into_bytes(),
    );
    let bytes = read_bounded("--key", &args.key, share_file::FILE_BYTES_MAX as u64)?;
    let (header, plain) = share_file::open(&bytes, Kind::MasterKey, &passphrase)
        .map_err(|e| operator(format!("--key {}: {e}", args.key.display())))?;
    if header.group_id != group_id {
        return Err(operator(format!(
            "--key {}: the master key of another guardian group (this store belongs to {} `{}`)",
            args.key.display(),
            info.fingerprint,
            info.group_name
        )));
    }
    let key: [u8; 32] = plain[..]
        .try_into()
        .map_err(|_| operator(format!("--key {}: not 32 bytes", args.key.display())))?;
    Ok((group_id, MasterKey::new(key)))
}

pub fn run(command: &SublimeCommand) -> Result<(), NodeError> {
    match command {
        SublimeCommand::Init { store, group } => {
            let group = read_group("--group", group)?;
            let info = StoreFile {
                version: 1,
                group_name: group.name.clone(),
                group_id: hex::encode(group.id()),
                fingerprint: group.fingerprint(),
            };
            let text = serde_json::to_string_pretty(&info)
                .map_err(|e| NodeError::Runtime(e.to_string()))?
                + "\n";
            write_file(
                "--store",
                &store.join("store.json"),
                text.as_bytes(),
                WriteMode::PUBLIC,
            )?;
            std::fs::create_dir_all(store.join("objects"))
                .map_err(|e| operator(format!("--store {}: {e}", store.display())))?;
            println!(
                "store {} for guardian group `{}` ({})",
                store.display(),
                group.name,
                group.fingerprint()
            );
            Ok(())
        }
        SublimeCommand::Put {
            key,
            name,
            input,
            replace,
        } => {
            store::check_name(name).map_err(|e| operator(format!("--name: {e}")))?;
            let content = Zeroizing::new(read_bounded("--in", input, CONTENT_MAX as u64)?);
            let (group_id, master) = open_key(key)?;
            let object = store::seal(&master, &group_id, name, &content, &mut OsRng)
                .map_err(|e| operator(format!("--in: {e}")))?;
            let path = object_path(&key.store, name);
            let mode = if *replace {
                WriteMode::SECRET.replacing()
            } else {
                WriteMode::SECRET
            };
            write_file("--name", &path, &object, mode)?;
            println!(
                "stored `{name}` ({} bytes) in {}",
                content.len(),
                key.store.display()
            );
            Ok(())
        }
        SublimeCommand::Get { key, name, out } => {
            store::check_name(name).map_err(|e| operator(format!("--name: {e}")))?;
            let path = object_path(&key.store, name);
            if !path.exists() {
                return Err(operator(format!(
                    "--name {name}: no such object in {}",
                    key.store.display()
                )));
            }
            let bytes = read_bounded("--name", &path, (CONTENT_MAX + 1024) as u64)?;
            let (group_id, master) = open_key(key)?;
            let content = store::open(&master, &group_id, name, &bytes)
                .map_err(|e| operator(format!("--name: {e}")))?;
            if out.as_os_str() == "-" {
                use std::io::Write;
                std::io::stdout()
                    .write_all(&content)
                    .map_err(|e| NodeError::Runtime(e.to_string()))?;
            } else {
                write_file("--out", out, &content, WriteMode::SECRET)?;
                eprintln!("wrote `{name}` to {}", out.display());
            }
            Ok(())
        }
    }
}
