//! The certify actor's [`Journal`], the auth actor's [`AuthJournal`] and the ballot actor's
//! [`BallotJournal`], backed by the node's redb store: every write is a
//! committed transaction before the actor publishes anything that depends on it.

use std::sync::Arc;

use x0_actors::auth::AuthJournal;
use x0_actors::ballot::BallotJournal;
use x0_actors::certify::{Evidence, Journal, JournalError};
use x0_actors::messages::PeerKey;
use x0_actors::sync::SyncJournal;
use x0_actors::wall_clock::unix_ms_now;
use x0_core::auth::replay::Nonce;
use x0_core::auth::token::Revoked;
use x0_core::ballot::wire::BallotId;
use x0_core::certify::collector::SlotKey;
use x0_core::certify::proposal::ProposalId;
use x0_core::sync::item::{Item, ItemKey, Kind};

use crate::store::{Store, StoreError};

pub struct StoreJournal(pub Arc<Store>);

fn journal_error(error: StoreError) -> JournalError {
    match error {
        StoreError::SlotAlreadySigned { .. } => JournalError::SlotAlreadySigned,
        StoreError::Full {
            what: "evidence", ..
        } => JournalError::EvidenceFull,
        other => JournalError::Storage(other.to_string()),
    }
}

impl Journal for StoreJournal {
    fn record_signed(
        &self,
        slot: &SlotKey,
        id: &ProposalId,
        share: &[u8],
    ) -> Result<(), JournalError> {
        self.0
            .record_signed_slot(slot, id, share)
            .map_err(journal_error)
    }

    fn record_certificate(&self, id: &ProposalId, encoded: &[u8]) -> Result<(), JournalError> {
        self.0
            .record_certificate(id, encoded)
            .map_err(journal_error)
    }

    fn record_evidence(&self, evidence: &Evidence) -> Result<(), JournalError> {
        let record = evidence_json(evidence, unix_ms_now());
        self.0.record_evidence(&record).map_err(journal_error)
    }
}

impl BallotJournal for StoreJournal {
    fn record_ballot(&self, id: &BallotId, encoded: &[u8]) -> Result<(), String> {
        self.0
            .record_ballot(&id.0, encoded)
            .map_err(|e| e.to_string())
    }

    fn record_vote(&self, id: &BallotId, voter: &PeerKey, encoded: &[u8]) -> Result<(), String> {
        self.0
            .record_ballot_vote(&id.0, &voter.0, encoded, false)
            .map_err(|e| e.to_string())
    }

    fn record_evidence(
        &self,
        id: &BallotId,
        voter: &PeerKey,
        encoded: &[u8],
    ) -> Result<(), String> {
        self.0
            .record_ballot_vote(&id.0, &voter.0, encoded, true)
            .map_err(|e| e.to_string())
    }

    fn record_decided(&self, id: &BallotId, certificate: &[u8]) -> Result<(), String> {
        self.0
            .record_ballot_decided(&id.0, certificate)
            .map_err(|e| e.to_string())
    }
}

impl SyncJournal for StoreJournal {
    fn record_item(&self, key: &ItemKey, bytes: &[u8], expires_ms: u64) -> Result<(), String> {
        let key_bytes = [&[key.kind.code()][..], &key.hash].concat();
        self.0
            .record_sync_item(expires_ms, &key_bytes, bytes)
            .map_err(|e| e.to_string())
    }

    fn forget_items(&self, now_ms: u64) -> Result<usize, String> {
        self.0.forget_sync_items(now_ms).map_err(|e| e.to_string())
    }

    /// Rows whose key does not name their bytes (a damaged file) are skipped: serving
    /// them would get this node penalised.
    fn items(&self) -> Result<Vec<(Item, u64)>, String> {
        let rows = self.0.sync_items().map_err(|e| e.to_string())?;
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                let kind = Kind::from_code(*row.key.first()?)?;
                let item = Item {
                    kind,
                    bytes: row.bytes,
                };
                (item.key().hash.as_slice() == &row.key[1..]).then_some((item, row.expires_ms))
            })
            .collect())
    }
}

impl AuthJournal for StoreJournal {
    fn record_nonce(
        &self,
        nonce: &Nonce,
        timestamp_unix_ms: u64,
        expiry_ms: u64,
    ) -> Result<(), String> {
        self.0
            .record_nonce(nonce, timestamp_unix_ms, expiry_ms)
            .map_err(|e| e.to_string())
    }

    fn forget_nonces(&self, now_ms: u64) -> Result<usize, String> {
        self.0.forget_nonces(now_ms).map_err(|e| e.to_string())
    }

    fn forget_nonce(&self, nonce: &Nonce, expiry_ms: u64) -> Result<(), String> {
        self.0
            .forget_nonce(nonce, expiry_ms)
            .map_err(|e| e.to_string())
    }

    fn record_revoked(&self, entries: &[Revoked]) -> Result<(), String> {
        self.0.record_revoked(entries).map_err(|e| e.to_string())
    }
}

/// One evidence record as a line of JSON: what an operator or a ballot reads.
pub fn evidence_json(evidence: &Evidence, recorded_at_unix_ms: u64) -> String {
    let value = match evidence {
        Evidence::InvalidShare { member, id, share } => serde_json::json!({
            "kind": "invalid_share",
            "member": member,
            "proposal_id": hex::encode(id.0),
            "share": hex::encode(share),
            "recorded_at_unix_ms": recorded_at_unix_ms,
        }),
        Evidence::DoubleSigned { slot, ids, members } => serde_json::json!({
            "kind": "double_signed",
            "epoch": slot.0,
            "slot": slot.1,
            "proposal_ids": [hex::encode(ids[0].0), hex::encode(ids[1].0)],
            "members": members,
            "recorded_at_unix_ms": recorded_at_unix_ms,
        }),
    };
    value.to_string()
}
