//! `x0 committee`: deal committee keys (trusted dealer) or show a committee; and the
//! `--committee FILE` that `x0 cert verify` and `x0 ballot tally` read.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use x0_core::certify::committee::Committee;
use x0_core::certify::threshold::{faulty_max, share_count_min, ChangeClass};

use crate::cli::common::operator;
use crate::committee::{self, CommitteeSection};
use crate::NodeError;

#[derive(Subcommand)]
pub enum CommitteeCommand {
    /// Deal committee keys: DIR/committee.toml (public, for every node's config) and one
    /// secret share file per member (mode 0600).
    Deal {
        /// One member PeerId per line (`#` comments allowed); the order fixes the indices.
        #[arg(long, value_name = "FILE")]
        members: PathBuf,
        /// Output directory; must not hold files of an earlier dealing.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// The committee's epoch; proposals and certificates carry it.
        #[arg(long, default_value_t = 1)]
        epoch: u64,
        /// A slot (or prefix ending in `*`) that needs a supermajority; repeat for several.
        #[arg(long = "supermajority-slot", value_name = "PATTERN")]
        supermajority_slots: Vec<String>,
    },
    /// Print a committee: size, thresholds, keys, members.
    Show {
        /// A node config or a committee.toml with a [committee] table.
        #[arg(long, value_name = "FILE")]
        committee: PathBuf,
    },
}

/// Runs one `x0 committee` subcommand.
pub fn run(command: &CommitteeCommand) -> Result<(), NodeError> {
    match command {
        CommitteeCommand::Deal {
            members,
            out,
            epoch,
            supermajority_slots,
        } => deal(members, out, *epoch, supermajority_slots.clone()),
        CommitteeCommand::Show { committee } => show(committee),
    }
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
            &hex::encode(key)[..24],
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
