//! The guardian files: groups, sealed shares and other sealed secrets.

use std::path::{Path, PathBuf};

use frost_ristretto255::keys::KeyPackage;
use rand::rngs::OsRng;
use x0_core::guardians::group::{Group, GROUP_FILE_BYTES_MAX};
use x0_core::guardians::share_file::{self, Header, KdfParams, Kind};
use x0_core::guardians::GuardianError;
use zeroize::Zeroizing;

use super::PassArgs;
use crate::cli::common::{operator, read_bounded, write_file, WriteMode};
use crate::NodeError;

pub(super) fn refused(flag: &str, path: &Path, error: GuardianError) -> NodeError {
    operator(format!("{flag} {}: {error}", path.display()))
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

pub(super) fn seal_secret(
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

pub(super) fn write_share(
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
    write_file(
        flag,
        path,
        &sealed,
        if replace {
            WriteMode::SECRET.replacing()
        } else {
            WriteMode::SECRET
        },
    )
}

pub fn share_path(dir: &Path, guardian: u16) -> PathBuf {
    dir.join(format!("guardian-{guardian}.share"))
}
