//! The node's state database (redb) in the data dir: the node's lifecycle (so an operator
//! sees unclean stops), and what certificate collection must never forget: the slots this
//! member signed, the certificates it holds, and the evidence it collected.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use std::collections::BTreeMap;

use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};
use x0_actors::ballot::PersistedBallots;
use x0_actors::wall_clock::unix_ms_now;
use x0_core::auth::replay::Nonce;
use x0_core::auth::token::Revoked;
use x0_core::certify::collector::SlotKey;
use x0_core::certify::effects::check_signed_slot;
use x0_core::certify::proposal::ProposalId;
use x0_core::certify::wire::CertificateMessage;

/// File name of the database inside the data dir.
pub const FILE_NAME: &str = "state.redb";

/// Bumped when a table changes shape; a node refuses a store newer than it understands.
pub const SCHEMA_VERSION: u64 = 1;

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// (epoch, slot) -> id of the one proposal this member signed for it, then the share it
/// published (id [32] | share [96]). Written and committed before the share leaves the
/// node, so a restart never signs the slot again.
const SIGNED_SLOTS: TableDefinition<(u64, &str), &[u8]> = TableDefinition::new("signed_slots");
/// proposal id -> certificate in its wire encoding. Written before a certificate is
/// published or acted on.
const CERTIFICATES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("certificates");
/// sequence -> one evidence record (JSON).
const EVIDENCE: TableDefinition<u64, &str> = TableDefinition::new("evidence");
/// (expiry Unix ms, nonce) -> the message's timestamp: every nonce the auth gate accepted,
/// committed before the message is passed on, kept until it leaves the skew window. Keyed
/// by expiry first so pruning is one range.
const SEEN_NONCES: TableDefinition<(u64, [u8; 16]), u64> = TableDefinition::new("seen_nonces");
/// revoked token id -> forget after (Unix s): from the authority's signed lists.
const REVOKED: TableDefinition<&[u8], u64> = TableDefinition::new("revoked_ids");
/// Local ballots while they are open: ballot id -> the open as published. Written before
/// the open is accepted or sent; removed when the ballot is decided.
const BALLOTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("ballots");
/// (ballot id, voter) -> the voter's latest vote (own or received). Own votes are written
/// before they are sent, so a restart continues from the highest sequence and never
/// reuses one. Removed when the ballot is decided (the certificate holds the votes).
const BALLOT_VOTES: TableDefinition<(&[u8], &[u8]), &[u8]> = TableDefinition::new("ballot_votes");
/// (ballot id, voter) -> the proof that the voter equivocated. Removed with the votes.
const BALLOT_EVIDENCE: TableDefinition<(&[u8], &[u8]), &[u8]> =
    TableDefinition::new("ballot_evidence");
/// sequence -> certificate of a decided ballot, oldest first; the oldest go past
/// `BALLOTS_DECIDED_MAX` (a replayed open of one is refused by its timestamp anyway).
const BALLOTS_DECIDED: TableDefinition<u64, &[u8]> = TableDefinition::new("ballots_decided");
/// (expiry Unix ms, sync key: kind code | hash [32]) -> the item's bytes: what this node
/// serves to sync peers (x0_core::sync::archive), so a restarted node still serves it and
/// does not fetch again what its replay guard would refuse. Keyed by expiry first so
/// pruning is one range; bounded by the archive's byte budget, which writes only what it
/// keeps.
const SYNC_ITEMS: TableDefinition<(u64, &[u8]), &[u8]> = TableDefinition::new("sync_items");
/// A row of [`SYNC_ITEMS`]: the key is the sync key's kind code and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSyncItem {
    pub expires_ms: u64,
    pub key: Vec<u8>,
    pub bytes: Vec<u8>,
}

/// Open ballots and their vote rows, at most (the core holds at most 16 open ballots of at
/// most 256 voters; these bounds only stop a bug from filling the disk).
pub const BALLOTS_OPEN_MAX: u64 = 1_024;
pub const BALLOT_VOTES_MAX: u64 = 262_144;
pub const BALLOTS_DECIDED_MAX: u64 = 4_096;
/// Stored certificates and evidence records, at most. Past these, new ones are refused
/// (and counted by the caller) rather than growing the file without end.
pub const CERTIFICATES_MAX: u64 = 65_536;
pub const EVIDENCE_MAX: u64 = 10_000;
const KEY_SCHEMA_VERSION: &str = "schema_version";
const KEY_STARTS: &str = "starts";
const KEY_RUNNING_SINCE_MS: &str = "running_since_unix_ms";
const KEY_CLEAN_STOP_MS: &str = "last_clean_stop_unix_ms";
/// The committee epoch the store last moved to ([`Store::enter_epoch`]); never lowered.
const KEY_EPOCH_FLOOR: &str = "committee_epoch_floor";

/// What an operator must do about a corrupt store (docs/PROTOCOL.md, "Losing the store").
pub const CORRUPT_ADVICE: &str = "It records every (epoch, slot) this node signed: do NOT give it empty state while it holds a committee key share, or it can sign a second proposal for a slot it signed already (double-signing). Restore state.redb from a backup only if the node signed nothing after the backup was taken; otherwise remove `committee.share_file` from the config, run as a verifier for the rest of this epoch, and sign again only with a new share dealt for a later epoch (docs/PROTOCOL.md, \"Losing the store\"). A node without a share_file may move the file aside and start empty.";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state {path} is in use by another x0 process; stop it first, or give this node its own --data-dir")]
    Locked { path: PathBuf },
    /// The advice matters more than the diagnosis: the store is what stops a committee
    /// member signing a second proposal for a slot it signed already, so "start empty" is
    /// safe only for a node that holds no key share (docs/PROTOCOL.md, "Losing the store").
    #[error("state {path} is corrupt ({reason}). {CORRUPT_ADVICE}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("state {path} was written by a newer x0 (schema {found}, this build reads {SCHEMA_VERSION}); upgrade x0")]
    TooNew { path: PathBuf, found: u64 },
    #[error("slot {epoch}/{slot} is already signed for another proposal; refusing to sign twice")]
    SlotAlreadySigned { epoch: u64, slot: String },
    #[error("state {path} has moved to committee epoch {floor}, but the committee file is for epoch {epoch}; use the committee file of epoch {floor} or later (an older one could make this member sign that epoch's slots twice, since their records are pruned)")]
    EpochBehind {
        path: PathBuf,
        floor: u64,
        epoch: u64,
    },
    #[error("state {path}: {what} is full ({max} records)")]
    Full {
        path: PathBuf,
        what: &'static str,
        max: u64,
    },
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
    /// While set, every write fails before it begins ([`Store::fail_writes`]).
    writes_fail: AtomicBool,
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
            writes_fail: AtomicBool::new(false),
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
        let txn = self.begin_write()?;
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
        let txn = self.begin_write()?;
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

    /// Durably records that this member signed `id` for `slot` with `share`. Recording the
    /// same id again is a no-op; a different id for a recorded slot is refused: the caller
    /// must not publish.
    pub fn record_signed_slot(
        &self,
        slot: &SlotKey,
        id: &ProposalId,
        share: &[u8],
    ) -> Result<(), StoreError> {
        let txn = self.begin_write()?;
        {
            let mut table = txn.open_table(SIGNED_SLOTS).map_err(|e| self.other(e))?;
            let key = (slot.0, slot.1.as_str());
            let existing = table
                .get(key)
                .map_err(|e| self.other(e))?
                .map(|v| v.value().to_vec());
            let refused = || StoreError::SlotAlreadySigned {
                epoch: slot.0,
                slot: slot.1.clone(),
            };
            // A row too short to hold an id is no id of ours: refused like any other.
            let recorded = match existing {
                None => None,
                Some(bytes) => Some(ProposalId(
                    bytes
                        .get(..32)
                        .and_then(|b| b.try_into().ok())
                        .ok_or_else(refused)?,
                )),
            };
            // The rule the simulator's store applies too (x0_core::certify::effects).
            match check_signed_slot(recorded.as_ref(), id) {
                Ok(false) => return Ok(()),
                Err(_) => return Err(refused()),
                Ok(true) => {
                    let value = [id.0.as_slice(), share].concat();
                    table
                        .insert(key, value.as_slice())
                        .map_err(|e| self.other(e))?;
                }
            }
        }
        txn.commit().map_err(|e| self.other(e))
    }

    /// Every slot this member has signed, as the collector needs it on start.
    pub fn signed_slots(&self) -> Result<BTreeMap<SlotKey, ProposalId>, StoreError> {
        let rows = self.read_all(SIGNED_SLOTS, |(epoch, slot), value| {
            let id: [u8; 32] =
                value
                    .get(..32)
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| StoreError::Corrupt {
                        path: self.path.clone(),
                        reason: format!("signed slot {epoch}/{slot} holds no 32-byte id"),
                    })?;
            Ok(((epoch, slot.to_string()), ProposalId(id)))
        })?;
        Ok(rows.into_iter().collect())
    }

    /// Moves the store to committee `epoch` (at start, before anything is loaded): refuses
    /// an epoch below one it moved to before, then deletes the signed slots and the
    /// certificates of older epochs, which nothing in this epoch depends on. So what the
    /// store keeps is bounded per epoch, like the collector's tables. Returns how many
    /// signed slots and certificates went.
    pub fn enter_epoch(&self, epoch: u64) -> Result<(usize, usize), StoreError> {
        let txn = self.db.begin_write().map_err(|e| self.other(e))?;
        let pruned = {
            let mut meta = txn.open_table(META).map_err(|e| self.other(e))?;
            let floor = meta
                .get(KEY_EPOCH_FLOOR)
                .map_err(|e| self.other(e))?
                .map(|v| v.value())
                .unwrap_or(0);
            if epoch < floor {
                return Err(StoreError::EpochBehind {
                    path: self.path.clone(),
                    floor,
                    epoch,
                });
            }
            meta.insert(KEY_EPOCH_FLOOR, epoch)
                .map_err(|e| self.other(e))?;
            let mut signed = txn.open_table(SIGNED_SLOTS).map_err(|e| self.other(e))?;
            let old_signed = signed
                .extract_from_if((0u64, "")..(epoch, ""), |_, _| true)
                .map_err(|e| self.other(e))?
                .count();
            let mut certificates = txn.open_table(CERTIFICATES).map_err(|e| self.other(e))?;
            let mut old_ids = Vec::new();
            for row in certificates.iter().map_err(|e| self.other(e))? {
                let (id, bytes) = row.map_err(|e| self.other(e))?;
                let message =
                    CertificateMessage::decode(bytes.value()).map_err(|e| StoreError::Corrupt {
                        path: self.path.clone(),
                        reason: format!("a stored certificate does not decode: {e}"),
                    })?;
                if message.proposal.epoch < epoch {
                    old_ids.push(id.value().to_vec());
                }
            }
            for id in &old_ids {
                certificates
                    .remove(id.as_slice())
                    .map_err(|e| self.other(e))?;
            }
            (old_signed, old_ids.len())
        };
        txn.commit().map_err(|e| self.other(e))?;
        Ok(pruned)
    }

    /// Durably records a verified certificate. The same id again is a no-op.
    pub fn record_certificate(&self, id: &ProposalId, encoded: &[u8]) -> Result<(), StoreError> {
        let txn = self.begin_write()?;
        {
            let mut table = txn.open_table(CERTIFICATES).map_err(|e| self.other(e))?;
            if table
                .get(id.0.as_slice())
                .map_err(|e| self.other(e))?
                .is_some()
            {
                return Ok(());
            }
            if table.len().map_err(|e| self.other(e))? >= CERTIFICATES_MAX {
                return Err(StoreError::Full {
                    path: self.path.clone(),
                    what: "certificates",
                    max: CERTIFICATES_MAX,
                });
            }
            table
                .insert(id.0.as_slice(), encoded)
                .map_err(|e| self.other(e))?;
        }
        txn.commit().map_err(|e| self.other(e))
    }

    /// Every stored certificate in its wire encoding, in id order.
    pub fn certificates(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        self.read_all(CERTIFICATES, |_, value| Ok(value.to_vec()))
    }

    /// Durably appends one evidence record.
    pub fn record_evidence(&self, record: &str) -> Result<(), StoreError> {
        let txn = self.begin_write()?;
        {
            let mut table = txn.open_table(EVIDENCE).map_err(|e| self.other(e))?;
            let count = table.len().map_err(|e| self.other(e))?;
            if count >= EVIDENCE_MAX {
                return Err(StoreError::Full {
                    path: self.path.clone(),
                    what: "evidence",
                    max: EVIDENCE_MAX,
                });
            }
            let next = table
                .last()
                .map_err(|e| self.other(e))?
                .map(|(k, _)| k.value() + 1)
                .unwrap_or(0);
            table.insert(next, record).map_err(|e| self.other(e))?;
        }
        txn.commit().map_err(|e| self.other(e))
    }

    /// Every evidence record, oldest first.
    pub fn evidence(&self) -> Result<Vec<String>, StoreError> {
        self.read_all(EVIDENCE, |_, value| Ok(value.to_string()))
    }

    /// Every row of `table` in key order, through `row`; a table never written is empty.
    /// Durably records a nonce the auth gate accepted.
    pub fn record_nonce(
        &self,
        nonce: &[u8; 16],
        timestamp_unix_ms: u64,
        expiry_ms: u64,
    ) -> Result<(), StoreError> {
        let txn = self.begin_write()?;
        {
            let mut table = txn.open_table(SEEN_NONCES).map_err(|e| self.other(e))?;
            table
                .insert((expiry_ms, *nonce), timestamp_unix_ms)
                .map_err(|e| self.other(e))?;
        }
        txn.commit().map_err(|e| self.other(e))
    }

    /// Deletes nonces that left the window before `now_ms`. Returns how many.
    pub fn forget_nonces(&self, now_ms: u64) -> Result<usize, StoreError> {
        self.remove_before(SEEN_NONCES, (now_ms, [0u8; 16]))
    }

    /// Forgets one nonce (its message had no effect: refused as "not yet").
    pub fn forget_nonce(&self, nonce: &Nonce, expiry_ms: u64) -> Result<(), StoreError> {
        let txn = self.begin_write()?;
        {
            let mut table = txn.open_table(SEEN_NONCES).map_err(|e| self.other(e))?;
            table
                .remove((expiry_ms, *nonce))
                .map_err(|e| self.other(e))?;
        }
        txn.commit().map_err(|e| self.other(e))
    }

    /// Every persisted nonce with its message's timestamp, for the gate at start.
    pub fn nonces(&self) -> Result<Vec<([u8; 16], u64)>, StoreError> {
        self.read_all(SEEN_NONCES, |(_, nonce), timestamp| Ok((nonce, timestamp)))
    }

    /// Durably records an item sync serves, until `expires_ms`.
    pub fn record_sync_item(
        &self,
        expires_ms: u64,
        key: &[u8],
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        let txn = self.begin_write()?;
        {
            let mut table = txn.open_table(SYNC_ITEMS).map_err(|e| self.other(e))?;
            table
                .insert((expires_ms, key), bytes)
                .map_err(|e| self.other(e))?;
        }
        txn.commit().map_err(|e| self.other(e))
    }

    /// Drops sync items whose hold ended before `now_ms`. Returns how many.
    pub fn forget_sync_items(&self, now_ms: u64) -> Result<usize, StoreError> {
        self.remove_before(SYNC_ITEMS, (now_ms, [].as_slice()))
    }

    /// Every persisted sync item.
    pub fn sync_items(&self) -> Result<Vec<StoredSyncItem>, StoreError> {
        self.read_all(SYNC_ITEMS, |(expires_ms, key), bytes| {
            Ok(StoredSyncItem {
                expires_ms,
                key: key.to_vec(),
                bytes: bytes.to_vec(),
            })
        })
    }

    /// Durably records revoked ids.
    pub fn record_revoked(&self, entries: &[Revoked]) -> Result<(), StoreError> {
        let txn = self.begin_write()?;
        {
            let mut table = txn.open_table(REVOKED).map_err(|e| self.other(e))?;
            for entry in entries {
                table
                    .insert(entry.id.as_slice(), entry.until_unix_s)
                    .map_err(|e| self.other(e))?;
            }
        }
        txn.commit().map_err(|e| self.other(e))
    }

    /// Every persisted revoked id.
    pub fn revoked(&self) -> Result<Vec<Revoked>, StoreError> {
        self.read_all(REVOKED, |id, until_unix_s| {
            Ok(Revoked {
                id: id.to_vec(),
                until_unix_s,
            })
        })
    }

    /// Durably records an open ballot (the same id again is a no-op).
    pub fn record_ballot(&self, id: &[u8; 32], encoded: &[u8]) -> Result<(), StoreError> {
        let txn = self.begin_write()?;
        {
            let mut table = txn.open_table(BALLOTS).map_err(|e| self.other(e))?;
            if table
                .get(id.as_slice())
                .map_err(|e| self.other(e))?
                .is_none()
            {
                self.check_room(&table, "ballots", BALLOTS_OPEN_MAX)?;
                table
                    .insert(id.as_slice(), encoded)
                    .map_err(|e| self.other(e))?;
            }
        }
        txn.commit().map_err(|e| self.other(e))
    }

    /// Durably records a voter's latest vote, or a voter's equivocation proof.
    pub fn record_ballot_vote(
        &self,
        id: &[u8; 32],
        voter: &[u8],
        encoded: &[u8],
        evidence: bool,
    ) -> Result<(), StoreError> {
        let txn = self.begin_write()?;
        {
            let definition = if evidence {
                BALLOT_EVIDENCE
            } else {
                BALLOT_VOTES
            };
            let mut table = txn.open_table(definition).map_err(|e| self.other(e))?;
            self.check_room(&table, "ballot votes", BALLOT_VOTES_MAX)?;
            table
                .insert((id.as_slice(), voter), encoded)
                .map_err(|e| self.other(e))?;
        }
        txn.commit().map_err(|e| self.other(e))
    }

    /// Durably records a decided ballot's certificate and drops its open, votes and
    /// evidence (the certificate carries them), in one transaction.
    pub fn record_ballot_decided(
        &self,
        id: &[u8; 32],
        certificate: &[u8],
    ) -> Result<(), StoreError> {
        let txn = self.begin_write()?;
        {
            let mut decided = txn.open_table(BALLOTS_DECIDED).map_err(|e| self.other(e))?;
            let next = decided
                .last()
                .map_err(|e| self.other(e))?
                .map(|(k, _)| k.value() + 1)
                .unwrap_or(0);
            decided
                .insert(next, certificate)
                .map_err(|e| self.other(e))?;
            while decided.len().map_err(|e| self.other(e))? > BALLOTS_DECIDED_MAX {
                decided.pop_first().map_err(|e| self.other(e))?;
            }
            let mut ballots = txn.open_table(BALLOTS).map_err(|e| self.other(e))?;
            ballots.remove(id.as_slice()).map_err(|e| self.other(e))?;
            let low: (&[u8], &[u8]) = (id.as_slice(), &[]);
            for definition in [BALLOT_VOTES, BALLOT_EVIDENCE] {
                let mut table = txn.open_table(definition).map_err(|e| self.other(e))?;
                table
                    .extract_from_if(low.., |(ballot, _), _| ballot == id.as_slice())
                    .map_err(|e| self.other(e))?
                    .for_each(drop);
            }
        }
        txn.commit().map_err(|e| self.other(e))
    }

    /// What the ballot actor needs at start.
    pub fn ballots(&self) -> Result<PersistedBallots, StoreError> {
        Ok(PersistedBallots {
            ballots: self.read_all(BALLOTS, |_, value| Ok(value.to_vec()))?,
            votes: self.read_all(BALLOT_VOTES, |_, value| Ok(value.to_vec()))?,
            evidence: self.read_all(BALLOT_EVIDENCE, |_, value| Ok(value.to_vec()))?,
            decided: self.read_all(BALLOTS_DECIDED, |_, value| Ok(value.to_vec()))?,
        })
    }

    fn check_room<K: redb::Key + 'static, V: redb::Value + 'static>(
        &self,
        table: &redb::Table<K, V>,
        what: &'static str,
        max: u64,
    ) -> Result<(), StoreError> {
        if table.len().map_err(|e| self.other(e))? >= max {
            return Err(StoreError::Full {
                path: self.path.clone(),
                what,
                max,
            });
        }
        Ok(())
    }

    /// Deletes every row of `table` keyed before `end` (tables keyed by expiry first, so
    /// pruning is one range); commits only if a row went. Returns how many.
    fn remove_before<'k, K, V, KR>(
        &self,
        table: TableDefinition<K, V>,
        end: KR,
    ) -> Result<usize, StoreError>
    where
        K: redb::Key + 'static,
        V: redb::Value + 'static,
        KR: std::borrow::Borrow<K::SelfType<'k>> + 'k,
    {
        let txn = self.begin_write()?;
        let removed = {
            let mut table = txn.open_table(table).map_err(|e| self.other(e))?;
            let removed = table
                .extract_from_if(..end, |_, _| true)
                .map_err(|e| self.other(e))?
                .count();
            removed
        };
        if removed == 0 {
            txn.abort().map_err(|e| self.other(e))?;
            return Ok(0);
        }
        txn.commit().map_err(|e| self.other(e))?;
        Ok(removed)
    }

    fn read_all<K: redb::Key + 'static, V: redb::Value + 'static, T>(
        &self,
        table: TableDefinition<K, V>,
        mut row: impl for<'a> FnMut(K::SelfType<'a>, V::SelfType<'a>) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.other(e))?;
        let table = match txn.open_table(table) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(self.other(e)),
        };
        let mut out = Vec::new();
        for entry in table.iter().map_err(|e| self.other(e))? {
            let (key, value) = entry.map_err(|e| self.other(e))?;
            out.push(row(key.value(), value.value())?);
        }
        Ok(out)
    }

    /// Makes every write fail (`true`) or work again (`false`), as a full disk or a
    /// failing device would: the write returns an error and nothing is committed. For
    /// tests of the persist-before-acting rule on a running node (reads are unaffected).
    pub fn fail_writes(&self, fail: bool) {
        self.writes_fail.store(fail, Ordering::SeqCst);
    }

    fn begin_write(&self) -> Result<redb::WriteTransaction, StoreError> {
        if self.writes_fail.load(Ordering::SeqCst) {
            return Err(self.other("writes fail on command (Store::fail_writes)"));
        }
        self.db.begin_write().map_err(|e| self.other(e))
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
                .record_signed_slot(&slot, &ProposalId([1; 32]), &[9; 96])
                .unwrap();
            store
                .record_signed_slot(&slot, &ProposalId([1; 32]), &[9; 96])
                .unwrap();
            store
                .record_certificate(&ProposalId([1; 32]), b"certificate")
                .unwrap();
            store.record_evidence("{\"kind\":\"x\"}").unwrap();
            // dropped without a clean stop: a crash
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(
            store.signed_slots().unwrap(),
            BTreeMap::from([(slot.clone(), ProposalId([1; 32]))])
        );
        assert_eq!(store.certificates().unwrap(), vec![b"certificate".to_vec()]);
        assert_eq!(
            store.evidence().unwrap(),
            vec!["{\"kind\":\"x\"}".to_string()]
        );
        let refused = store.record_signed_slot(&slot, &ProposalId([2; 32]), &[8; 96]);
        assert!(matches!(
            refused,
            Err(StoreError::SlotAlreadySigned { epoch: 3, .. })
        ));
        assert_eq!(store.signed_slots().unwrap()[&slot], ProposalId([1; 32]));
    }

    #[test]
    fn entering_an_epoch_prunes_older_ones_and_refuses_to_go_back() {
        use x0_core::certify::proposal::Proposal;
        let dir = tempfile::tempdir().unwrap();
        let certificate = |epoch: u64| CertificateMessage {
            proposal: Proposal {
                epoch,
                slot: "gossip/mesh_n".into(),
                payload: b"8".to_vec(),
                affected_ppm: 0,
                proposer: vec![1],
                nonce: [0; 16],
                timestamp_unix_ms: 0,
            },
            signers: vec![0, 1],
            signature: [7; 96],
        };
        let store = Store::open(dir.path()).unwrap();
        for epoch in [1, 2, 3] {
            let message = certificate(epoch);
            store
                .record_signed_slot(
                    &(epoch, "gossip/mesh_n".into()),
                    &message.proposal.id(),
                    &[9; 96],
                )
                .unwrap();
            store
                .record_certificate(&message.proposal.id(), &message.encode())
                .unwrap();
        }
        assert_eq!(store.enter_epoch(3).unwrap(), (2, 2));
        let kept = store.signed_slots().unwrap();
        assert_eq!(kept.keys().map(|(e, _)| *e).collect::<Vec<_>>(), vec![3]);
        assert_eq!(store.certificates().unwrap(), vec![certificate(3).encode()]);
        // The same epoch again is a no-op; an older committee file is refused by name.
        assert_eq!(store.enter_epoch(3).unwrap(), (0, 0));
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        let error = store.enter_epoch(2).unwrap_err();
        assert!(
            matches!(
                error,
                StoreError::EpochBehind {
                    floor: 3,
                    epoch: 2,
                    ..
                }
            ),
            "{error}"
        );
        assert!(error.to_string().contains("epoch 3 or later"), "{error}");
        assert_eq!(store.signed_slots().unwrap().len(), 1, "nothing pruned");
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

    /// Emptying the store of a committee member lets it sign a slot twice: the message
    /// must steer a member to a backup or out of the epoch, never to empty state.
    #[test]
    fn corrupt_store_advice_never_tells_a_member_to_start_empty() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), vec![0x5a; 8192]).unwrap();
        let message = Store::open(dir.path())
            .err()
            .expect("garbage must not open")
            .to_string();
        assert!(message.contains("is corrupt"), "{message}");
        assert!(
            !message.contains("move it aside to start with empty state"),
            "{message}"
        );
        for needed in [
            "do NOT give it empty state while it holds a committee key share",
            "double-signing",
            "backup only if the node signed nothing after",
            "committee.share_file",
            "new share dealt for a later epoch",
            "Losing the store",
        ] {
            assert!(message.contains(needed), "missing {needed:?}: {message}");
        }
        assert!(!message.contains('\n'), "one line: {message}");
    }
}
