//! The node's state database (redb) in the data dir. Later protocols add their tables;
//! for now it records the node's lifecycle, so an operator can see unclean stops.

use std::path::{Path, PathBuf};

use std::collections::BTreeMap;

use redb::{Database, ReadableTable, TableDefinition};
use x0_actors::certify::collector::SlotKey;
use x0_actors::certify::proposal::ProposalId;
use x0_actors::wall_clock::unix_ms_now;

/// File name of the database inside the data dir.
pub const FILE_NAME: &str = "state.redb";

/// Bumped when a table changes shape; a node refuses a store newer than it understands.
pub const SCHEMA_VERSION: u64 = 1;

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// (epoch, slot) -> id of the one proposal this member signed for it. Written and committed
/// before the share leaves the node, so a restart never signs the slot again.
const SIGNED_SLOTS: TableDefinition<(u64, &str), &[u8]> = TableDefinition::new("signed_slots");
const KEY_SCHEMA_VERSION: &str = "schema_version";
const KEY_STARTS: &str = "starts";
const KEY_RUNNING_SINCE_MS: &str = "running_since_unix_ms";
const KEY_CLEAN_STOP_MS: &str = "last_clean_stop_unix_ms";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state {path} is in use by another x0 process; stop it first, or give this node its own --data-dir")]
    Locked { path: PathBuf },
    #[error("state {path} is corrupt ({reason}); restore it from a backup, or move it aside to start with empty state")]
    Corrupt { path: PathBuf, reason: String },
    #[error("state {path} was written by a newer x0 (schema {found}, this build reads {SCHEMA_VERSION}); upgrade x0")]
    TooNew { path: PathBuf, found: u64 },
    #[error("slot {epoch}/{slot} is already signed for another proposal; refusing to sign twice")]
    SlotAlreadySigned { epoch: u64, slot: String },
    #[error("state {path}: {reason}")]
    Other { path: PathBuf, reason: String },
}

/// What the store knew about the previous run when it opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifecycle {
    /// How many times a node has started on this data dir, this start included.
    pub starts: u64,
    /// Whether the previous run (if any) recorded a clean stop.
    pub previous_stop_clean: bool,
}

/// An open store. Dropping it closes the file; [`Store::record_clean_stop`] marks a clean stop.
pub struct Store {
    path: PathBuf,
    db: Database,
    lifecycle: Lifecycle,
}

impl Store {
    /// Opens (or creates) the store in `data_dir` and records this start.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        let path = data_dir.join(FILE_NAME);
        std::fs::create_dir_all(data_dir).map_err(|e| StoreError::Other {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let db = Database::create(&path).map_err(|error| classify_open(&path, error))?;
        let mut store = Store {
            path,
            db,
            lifecycle: Lifecycle {
                starts: 0,
                previous_stop_clean: true,
            },
        };
        // Read (and check the schema) now; the start itself is recorded by
        // [`Store::record_start`] once the node is really up, so a start that fails on a
        // busy port does not count as an unclean stop.
        store.lifecycle = store.start_transaction(false)?;
        Ok(store)
    }

    pub fn lifecycle(&self) -> Lifecycle {
        self.lifecycle
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records this start (the node is up). Until it is called, the store has not changed.
    pub fn record_start(&self) -> Result<(), StoreError> {
        self.start_transaction(true).map(|_| ())
    }

    /// Computes the lifecycle as of this start; writes it only when `commit`.
    fn start_transaction(&self, commit: bool) -> Result<Lifecycle, StoreError> {
        let txn = self.db.begin_write().map_err(|e| self.other(e))?;
        let lifecycle = {
            let mut meta = txn.open_table(META).map_err(|e| self.other(e))?;
            let read = |meta: &redb::Table<&str, u64>, key| -> Result<Option<u64>, StoreError> {
                Ok(meta.get(key).map_err(|e| self.other(e))?.map(|v| v.value()))
            };
            if let Some(found) = read(&meta, KEY_SCHEMA_VERSION)? {
                if found > SCHEMA_VERSION {
                    return Err(StoreError::TooNew {
                        path: self.path.clone(),
                        found,
                    });
                }
            }
            let starts = read(&meta, KEY_STARTS)?.unwrap_or(0) + 1;
            let running_since = read(&meta, KEY_RUNNING_SINCE_MS)?;
            let clean_stop = read(&meta, KEY_CLEAN_STOP_MS)?;
            let previous_stop_clean = match (running_since, clean_stop) {
                (None, _) => true,
                (Some(started), Some(stopped)) => stopped >= started,
                (Some(_), None) => false,
            };
            let insert = |meta: &mut redb::Table<&str, u64>, key, value| {
                meta.insert(key, value)
                    .map(|_| ())
                    .map_err(|e| self.other(e))
            };
            insert(&mut meta, KEY_SCHEMA_VERSION, SCHEMA_VERSION)?;
            insert(&mut meta, KEY_STARTS, starts)?;
            insert(&mut meta, KEY_RUNNING_SINCE_MS, unix_ms_now())?;
            Lifecycle {
                starts,
                previous_stop_clean,
            }
        };
        if commit {
            txn.commit().map_err(|e| self.other(e))?;
        } else {
            txn.abort().map_err(|e| self.other(e))?;
        }
        Ok(lifecycle)
    }

    /// Marks this run as stopped cleanly. Called last on shutdown.
    pub fn record_clean_stop(&self) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(|e| self.other(e))?;
        {
            let mut meta = txn.open_table(META).map_err(|e| self.other(e))?;
            // Never earlier than the start stamp, even if the wall clock stepped back.
            let started = meta
                .get(KEY_RUNNING_SINCE_MS)
                .map_err(|e| self.other(e))?
                .map(|v| v.value())
                .unwrap_or(0);
            meta.insert(KEY_CLEAN_STOP_MS, unix_ms_now().max(started))
                .map_err(|e| self.other(e))?;
        }
        txn.commit().map_err(|e| self.other(e))
    }

    /// Durably records that this member signed `id` for `slot`. Recording the same id again
    /// is a no-op; a different id for a recorded slot is refused: the caller must not sign.
    pub fn record_signed_slot(&self, slot: &SlotKey, id: &ProposalId) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(|e| self.other(e))?;
        {
            let mut table = txn.open_table(SIGNED_SLOTS).map_err(|e| self.other(e))?;
            let key = (slot.0, slot.1.as_str());
            let existing = table
                .get(key)
                .map_err(|e| self.other(e))?
                .map(|v| v.value().to_vec());
            match existing {
                Some(bytes) if bytes == id.0 => return Ok(()),
                Some(_) => {
                    return Err(StoreError::SlotAlreadySigned {
                        epoch: slot.0,
                        slot: slot.1.clone(),
                    })
                }
                None => {
                    table
                        .insert(key, id.0.as_slice())
                        .map_err(|e| self.other(e))?;
                }
            }
        }
        txn.commit().map_err(|e| self.other(e))
    }

    /// Every slot this member has signed, as the collector needs it on start.
    pub fn signed_slots(&self) -> Result<BTreeMap<SlotKey, ProposalId>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.other(e))?;
        let table = match txn.open_table(SIGNED_SLOTS) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(BTreeMap::new()),
            Err(e) => return Err(self.other(e)),
        };
        let mut slots = BTreeMap::new();
        for row in table.iter().map_err(|e| self.other(e))? {
            let (key, value) = row.map_err(|e| self.other(e))?;
            let (epoch, slot) = key.value();
            let id: [u8; 32] = value.value().try_into().map_err(|_| StoreError::Corrupt {
                path: self.path.clone(),
                reason: format!("signed slot {epoch}/{slot} holds an id that is not 32 bytes"),
            })?;
            slots.insert((epoch, slot.to_string()), ProposalId(id));
        }
        Ok(slots)
    }

    fn other(&self, error: impl std::fmt::Display) -> StoreError {
        StoreError::Other {
            path: self.path.clone(),
            reason: error.to_string(),
        }
    }
}

fn classify_open(path: &Path, error: redb::DatabaseError) -> StoreError {
    match error {
        redb::DatabaseError::DatabaseAlreadyOpen => StoreError::Locked {
            path: path.to_path_buf(),
        },
        redb::DatabaseError::Storage(redb::StorageError::Corrupted(reason)) => {
            StoreError::Corrupt {
                path: path.to_path_buf(),
                reason,
            }
        }
        redb::DatabaseError::Storage(redb::StorageError::Io(io))
            if io.kind() == std::io::ErrorKind::WouldBlock =>
        {
            StoreError::Locked {
                path: path.to_path_buf(),
            }
        }
        other => {
            let reason = other.to_string();
            // redb reports a file that is not a database through several variants; all of
            // them mean the same to an operator.
            if reason.contains("magic") || reason.contains("corrupt") || reason.contains("invalid")
            {
                StoreError::Corrupt {
                    path: path.to_path_buf(),
                    reason,
                }
            } else {
                StoreError::Other {
                    path: path.to_path_buf(),
                    reason,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lifecycle(starts: u64, previous_stop_clean: bool) -> Lifecycle {
        Lifecycle {
            starts,
            previous_stop_clean,
        }
    }

    #[test]
    fn counts_starts_and_detects_unclean_stops() {
        let dir = tempfile::tempdir().unwrap();
        // A start that fails before record_start (a busy port, say) leaves no trace.
        drop(Store::open(dir.path()).unwrap());
        let first = Store::open(dir.path()).unwrap();
        assert_eq!(first.lifecycle(), lifecycle(1, true));
        first.record_start().unwrap();
        first.record_clean_stop().unwrap();
        drop(first);
        let second = Store::open(dir.path()).unwrap();
        assert_eq!(second.lifecycle(), lifecycle(2, true));
        second.record_start().unwrap();
        drop(second); // a crash: no clean stop recorded
        let third = Store::open(dir.path()).unwrap();
        assert_eq!(third.lifecycle(), lifecycle(3, false));
    }

    #[test]
    fn signed_slots_survive_a_crash_and_are_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let slot: SlotKey = (3, "gossip/mesh_n".into());
        {
            let store = Store::open(dir.path()).unwrap();
            assert!(store.signed_slots().unwrap().is_empty());
            store
                .record_signed_slot(&slot, &ProposalId([1; 32]))
                .unwrap();
            store
                .record_signed_slot(&slot, &ProposalId([1; 32]))
                .unwrap();
            // dropped without a clean stop: a crash
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(
            store.signed_slots().unwrap(),
            BTreeMap::from([(slot.clone(), ProposalId([1; 32]))])
        );
        let refused = store.record_signed_slot(&slot, &ProposalId([2; 32]));
        assert!(matches!(
            refused,
            Err(StoreError::SlotAlreadySigned { epoch: 3, .. })
        ));
        assert_eq!(store.signed_slots().unwrap()[&slot], ProposalId([1; 32]));
    }

    #[test]
    fn a_second_opener_gets_locked_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let _held = Store::open(dir.path()).unwrap();
        let error = Store::open(dir.path())
            .err()
            .expect("second open must fail");
        assert!(matches!(error, StoreError::Locked { .. }), "{error}");
    }

    #[test]
    fn garbage_file_is_reported_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), vec![0x5a; 8192]).unwrap();
        let error = Store::open(dir.path())
            .err()
            .expect("garbage must not open");
        assert!(matches!(error, StoreError::Corrupt { .. }), "{error}");
    }
}
