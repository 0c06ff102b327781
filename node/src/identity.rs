//! The node's persistent Ed25519 identity: created on first start, kept in the data dir
//! with mode 0600, so a restart keeps the same PeerId.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use libp2p::identity::Keypair;

/// File name of the key inside the data dir.
pub const FILE_NAME: &str = "identity.key";

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("identity {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("identity {path}: not a libp2p key file ({reason}); restore it from a backup or delete it to make a new identity (the node's PeerId will change)")]
    Corrupt { path: PathBuf, reason: String },
    #[error("identity {path}: mode {mode:o} lets other users read the node's secret key; run `chmod 600 {path}`")]
    TooOpen { path: PathBuf, mode: u32 },
}

/// Loads the key from `data_dir`, creating it (and the dir) on first start.
pub fn load_or_create(data_dir: &Path) -> Result<Keypair, IdentityError> {
    let path = data_dir.join(FILE_NAME);
    let io = |source| IdentityError::Io {
        path: path.clone(),
        source,
    };
    match fs::read(&path) {
        Ok(bytes) => {
            let mode = fs::metadata(&path).map_err(io)?.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(IdentityError::TooOpen { path, mode });
            }
            Keypair::from_protobuf_encoding(&bytes).map_err(|error| IdentityError::Corrupt {
                path: path.clone(),
                reason: error.to_string(),
            })
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            fs::create_dir_all(data_dir).map_err(io)?;
            let keypair = Keypair::generate_ed25519();
            let encoded = keypair
                .to_protobuf_encoding()
                .expect("ed25519 keys always encode");
            // create_new: never overwrite a key another process wrote meanwhile.
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(io)?;
            file.write_all(&encoded).map_err(io)?;
            file.sync_all().map_err(io)?;
            tracing::info!(path = %path.display(), peer_id = %keypair.public().to_peer_id(), "created node identity");
            Ok(keypair)
        }
        Err(error) => Err(io(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_with_mode_0600_and_reloaded_identically() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path()).unwrap();
        let mode = fs::metadata(dir.path().join(FILE_NAME))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let second = load_or_create(dir.path()).unwrap();
        assert_eq!(first.public().to_peer_id(), second.public().to_peer_id());
    }

    #[test]
    fn corrupt_key_is_an_error_not_a_new_identity() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        fs::write(&path, b"garbage").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert!(matches!(
            load_or_create(dir.path()),
            Err(IdentityError::Corrupt { .. })
        ));
        assert_eq!(
            fs::read(&path).unwrap(),
            b"garbage",
            "the file is left for the operator"
        );
    }

    #[test]
    fn world_readable_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        load_or_create(dir.path()).unwrap();
        let path = dir.path().join(FILE_NAME);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let error = load_or_create(dir.path()).unwrap_err();
        assert!(error.to_string().contains("chmod 600"), "{error}");
    }
}
