//! The bytes of the items a node serves to sync peers, each kept for as long as a receiver
//! could still use it, within a byte budget per kind.
//!
//! Only items a topic's owner accepted (or the node made) enter: the archive never serves
//! what this node would itself refuse. How long an item is kept:
//! - proposals, shares and ballot messages are envelopes, refused as stale once their
//!   timestamp is `auth.message_lifetime_ms` behind the clock; kept until then;
//! - certificates, ballot certificates and revocation lists do not go stale: kept
//!   `long_hold_ms` (a day by default), so a node that was away that long still catches
//!   up.
//!
//! A proposal's envelope and its shares leave the archive once its certificate is kept
//! ([`Archive::supersede`]): a node that lacks them needs the certificate, not them, and
//! nodes that keep different leftovers would never have equal digests.
//!
//! Each kind has an equal share of `bytes_max`, so one kind's flood (large ballot
//! messages, say) cannot push out the proposals and shares that certificates need. A full
//! share refuses new items (counted by the caller); the item is still processed by the
//! cores, only not served.

use std::collections::{BTreeMap, BTreeSet};

use super::item::{Item, ItemKey, Kind, KIND_COUNT};
use crate::auth::envelope::Sealed;
use crate::auth::gate::is_privileged;
use crate::ballot::wire::is_attestation;
use crate::certify::proposal::{Proposal, ProposalId};
use crate::certify::wire::ShareMessage;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveConfig {
    /// How long an envelope (proposal, share, ballot message) is served.
    pub envelope_hold_ms: u64,
    /// How long a certificate, ballot certificate or revocation list is served.
    pub long_hold_ms: u64,
    /// Bytes of item data held, in all; each kind may use an equal share.
    pub bytes_max: usize,
}

impl Default for ArchiveConfig {
    fn default() -> ArchiveConfig {
        ArchiveConfig {
            envelope_hold_ms: 3_600_000,
            long_hold_ms: 86_400_000,
            bytes_max: 128 * 1024 * 1024,
        }
    }
}

impl ArchiveConfig {
    pub fn hold_ms(&self, kind: Kind) -> u64 {
        match kind {
            Kind::Proposal | Kind::Share | Kind::BallotMessage => self.envelope_hold_ms,
            Kind::Certificate | Kind::BallotCertificate | Kind::RevocationList => self.long_hold_ms,
        }
    }

    /// Each kind's share of the byte budget.
    pub fn kind_bytes_max(&self) -> usize {
        self.bytes_max / KIND_COUNT
    }
}

/// Why an item was not archived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotArchived {
    /// Its kind's byte share is used up (`x0_sync_dropped_total{what="archive_full"}`).
    Full,
    /// Larger than any item of its kind may be: never served, never kept.
    TooLarge,
    /// An outage attestation: it lives two minutes and is renewed every thirty seconds,
    /// so a node that missed one gets the next by gossip; serving it would only hand
    /// peers what they refuse as stale. Not a drop: nothing is counted.
    ShortLived,
    /// A proposal envelope or share whose proposal's certificate is held here: peers
    /// need the certificate, not this. Kept, it would make this node's digest differ
    /// from every node that ignored the late share, and sync would fetch it over and
    /// over only to have it refused. Not a drop: nothing is counted.
    Superseded,
}

impl NotArchived {
    pub fn what(self) -> &'static str {
        match self {
            NotArchived::Full => "archive_full",
            NotArchived::TooLarge => "archive_too_large",
            NotArchived::ShortLived => "archive_short_lived",
            NotArchived::Superseded => "archive_superseded",
        }
    }
}

#[derive(Debug, Clone)]
struct Kept {
    bytes: Vec<u8>,
    expires_ms: u64,
    /// The proposal a proposal envelope or share belongs to (its `by_proposal` entry).
    proposal: Option<ProposalId>,
}

/// Item bytes by key, with their expiry.
#[derive(Debug, Clone)]
pub struct Archive {
    config: ArchiveConfig,
    items: BTreeMap<ItemKey, Kept>,
    /// (expiry, key), oldest first: what [`Archive::expire`] walks.
    expiries: BTreeSet<(u64, ItemKey)>,
    /// Proposal envelopes and shares by the proposal they belong to; an entry per item
    /// kept, so bounded like the items.
    by_proposal: BTreeMap<ProposalId, BTreeSet<ItemKey>>,
    bytes: [usize; KIND_COUNT],
}

impl Archive {
    pub fn new(config: ArchiveConfig) -> Archive {
        Archive {
            config,
            items: BTreeMap::new(),
            expiries: BTreeSet::new(),
            by_proposal: BTreeMap::new(),
            bytes: [0; KIND_COUNT],
        }
    }

    /// Keeps `item` until its kind's hold ends, counted from `now_ms`. `Ok(false)`: it was
    /// kept already (its expiry stays).
    pub fn insert(&mut self, item: Item, now_ms: u64) -> Result<(ItemKey, bool), NotArchived> {
        let mut expires_ms = now_ms.saturating_add(self.config.hold_ms(item.kind));
        // An envelope dies at its own timestamp plus the lifetime, whenever it reached
        // this node: serving it longer would only hand peers something they must refuse.
        if item.kind.topic().is_some_and(is_privileged) {
            if let Ok(sealed) = Sealed::decode(&item.bytes) {
                if item.kind == Kind::BallotMessage && is_attestation(sealed.envelope.payload) {
                    return Err(NotArchived::ShortLived);
                }
                let dies_ms = sealed
                    .envelope
                    .timestamp_unix_ms
                    .saturating_add(self.config.envelope_hold_ms);
                expires_ms = expires_ms.min(dies_ms);
            }
        }
        self.insert_until(item, expires_ms)
    }

    /// Keeps `item` until `expires_ms`: what a restarted node reloads keeps the expiry it
    /// had (an item already expired is the caller's to skip).
    pub fn insert_until(
        &mut self,
        item: Item,
        expires_ms: u64,
    ) -> Result<(ItemKey, bool), NotArchived> {
        if item.bytes.len() > item.kind.bytes_max() {
            return Err(NotArchived::TooLarge);
        }
        let key = item.key();
        if self.items.contains_key(&key) {
            return Ok((key, false));
        }
        let proposal = proposal_of(&item);
        if proposal.is_some_and(|id| self.items.contains_key(&ItemKey::certificate_of(&id))) {
            return Err(NotArchived::Superseded);
        }
        let used = &mut self.bytes[item.kind.index()];
        if *used + item.bytes.len() > self.config.kind_bytes_max() {
            return Err(NotArchived::Full);
        }
        *used += item.bytes.len();
        if let Some(id) = proposal {
            self.by_proposal.entry(id).or_default().insert(key);
        }
        self.expiries.insert((expires_ms, key));
        self.items.insert(
            key,
            Kept {
                bytes: item.bytes,
                expires_ms,
                proposal,
            },
        );
        Ok((key, true))
    }

    /// When `key`'s item stops being served.
    pub fn expiry_of(&self, key: &ItemKey) -> Option<u64> {
        self.items.get(key).map(|kept| kept.expires_ms)
    }

    pub fn get(&self, key: &ItemKey) -> Option<&[u8]> {
        self.items.get(key).map(|kept| kept.bytes.as_slice())
    }

    pub fn contains(&self, key: &ItemKey) -> bool {
        self.items.contains_key(key)
    }

    /// Drops every item whose hold ended by `now_ms`; returns their keys, oldest first.
    pub fn expire(&mut self, now_ms: u64) -> Vec<ItemKey> {
        let mut expired = Vec::new();
        while let Some(&(expires_ms, key)) = self.expiries.first() {
            if expires_ms > now_ms {
                break;
            }
            self.expiries.pop_first();
            self.remove(&key);
            expired.push(key);
        }
        expired
    }

    fn remove(&mut self, key: &ItemKey) {
        let Some(kept) = self.items.remove(key) else {
            return;
        };
        self.bytes[key.kind.index()] -= kept.bytes.len();
        self.expiries.remove(&(kept.expires_ms, *key));
        if let Some(id) = kept.proposal {
            if let Some(keys) = self.by_proposal.get_mut(&id) {
                keys.remove(key);
                if keys.is_empty() {
                    self.by_proposal.remove(&id);
                }
            }
        }
    }

    /// `proposal` is certified: its envelope and shares are dropped. Returns their keys.
    /// (The shell's journal keeps them until they expire; a restart supersedes them
    /// again, [`super::host::SyncHost::restore`].)
    pub fn supersede(&mut self, proposal: &ProposalId) -> Vec<ItemKey> {
        let keys: Vec<ItemKey> = self
            .by_proposal
            .get(proposal)
            .map(|keys| keys.iter().copied().collect())
            .unwrap_or_default();
        for key in &keys {
            self.remove(key);
        }
        keys
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Bytes held of `kind`.
    pub fn bytes(&self, kind: Kind) -> usize {
        self.bytes[kind.index()]
    }

    /// When the next item expires.
    pub fn next_expiry_ms(&self) -> Option<u64> {
        self.expiries.first().map(|(expires_ms, _)| *expires_ms)
    }
}

/// The proposal a proposal envelope or a share belongs to.
fn proposal_of(item: &Item) -> Option<ProposalId> {
    let payload = match item.kind {
        Kind::Proposal | Kind::Share => Sealed::decode(&item.bytes).ok()?.envelope.payload,
        _ => return None,
    };
    match item.kind {
        Kind::Proposal => Proposal::decode(payload).ok().map(|p| p.id()),
        _ => ShareMessage::decode(payload).ok().map(|s| s.id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(kind: Kind, fill: u8, len: usize) -> Item {
        Item {
            kind,
            bytes: vec![fill; len],
        }
    }

    fn config() -> ArchiveConfig {
        ArchiveConfig {
            envelope_hold_ms: 1_000,
            long_hold_ms: 10_000,
            bytes_max: KIND_COUNT * 100,
        }
    }

    #[test]
    fn envelopes_expire_after_their_lifetime_certificates_after_the_long_hold() {
        let mut archive = Archive::new(config());
        let (share, new) = archive.insert(item(Kind::Share, 1, 10), 0).unwrap();
        assert!(new);
        let (certificate, _) = archive.insert(item(Kind::Certificate, 2, 10), 0).unwrap();
        assert_eq!(archive.get(&share), Some(&[1u8; 10][..]));
        assert_eq!(archive.expire(999), vec![]);
        assert_eq!(archive.expire(1_000), vec![share]);
        assert!(!archive.contains(&share) && archive.contains(&certificate));
        assert_eq!(archive.bytes(Kind::Share), 0);
        assert_eq!(archive.next_expiry_ms(), Some(10_000));
        assert_eq!(archive.expire(10_000), vec![certificate]);
        assert!(archive.is_empty());
    }

    #[test]
    fn an_envelope_is_kept_until_its_own_timestamp_plus_the_lifetime() {
        let mut archive = Archive::new(ArchiveConfig {
            bytes_max: usize::MAX,
            ..config()
        });
        let signer = crate::test_bytes::TestSigner::new(1);
        let bytes = crate::auth::envelope::Envelope {
            token: b"token",
            nonce: [1; 16],
            timestamp_unix_ms: 400,
            payload: b"share",
        }
        .seal(crate::topics::SHARES, &signer);
        let (key, _) = archive
            .insert(
                Item {
                    kind: Kind::Share,
                    bytes,
                },
                900,
            )
            .unwrap();
        // Stamped at 400 with a lifetime of 1,000: gone at 1,400, not at 900 + 1,000.
        assert_eq!(archive.expiry_of(&key), Some(1_400));
        // Bytes that are no envelope keep the hold from their arrival.
        let (other, _) = archive.insert(item(Kind::Share, 9, 10), 900).unwrap();
        assert_eq!(archive.expiry_of(&other), Some(1_900));
    }

    #[test]
    fn outage_attestations_are_not_kept_opens_and_votes_are() {
        let mut archive = Archive::new(ArchiveConfig {
            bytes_max: usize::MAX,
            ..config()
        });
        let signer = crate::test_bytes::TestSigner::new(1);
        let sealed = |payload: &[u8]| Item {
            kind: Kind::BallotMessage,
            bytes: crate::auth::envelope::Envelope {
                token: b"token",
                nonce: [1; 16],
                timestamp_unix_ms: 400,
                payload,
            }
            .seal(crate::topics::BALLOTS, &signer),
        };
        let version = crate::ballot::wire::VERSION;
        assert_eq!(
            archive.insert(sealed(&[version, 3, 0, 0]), 500),
            Err(NotArchived::ShortLived)
        );
        assert!(archive.insert(sealed(&[version, 2, 0, 0]), 500).is_ok());
        assert!(archive.insert(sealed(&[version, 1, 0, 0]), 500).is_ok());
    }

    #[test]
    fn a_certified_proposal_and_its_shares_leave_and_nothing_else_does() {
        use crate::certify::threshold::ChangeClass;
        let mut archive = Archive::new(ArchiveConfig {
            bytes_max: usize::MAX,
            envelope_hold_ms: 1_000_000,
            ..config()
        });
        let signer = crate::test_bytes::TestSigner::new(1);
        let sealed = |kind: Kind, topic: &str, nonce: u8, payload: &[u8]| Item {
            kind,
            bytes: crate::auth::envelope::Envelope {
                token: b"token",
                nonce: [nonce; 16],
                timestamp_unix_ms: 400,
                payload,
            }
            .seal(topic, &signer),
        };
        let proposal = |slot: &str| crate::test_bytes::proposal(slot, 400);
        let share = |id: ProposalId, member: u16| ShareMessage {
            class: ChangeClass::Standard,
            id,
            member,
            share: [member as u8; crate::certify::scheme::SIGNATURE_BYTES],
        };
        let (a, b) = (proposal("gossip/mesh_n"), proposal("gossip/mesh_n_low"));
        let mut keys = |p: &Proposal, nonce: u8| -> Vec<ItemKey> {
            let items = [
                sealed(Kind::Proposal, crate::topics::PROPOSALS, nonce, &p.encode()),
                sealed(
                    Kind::Share,
                    crate::topics::SHARES,
                    nonce + 1,
                    &share(p.id(), 0).encode(),
                ),
                sealed(
                    Kind::Share,
                    crate::topics::SHARES,
                    nonce + 2,
                    &share(p.id(), 1).encode(),
                ),
            ];
            items
                .into_iter()
                .map(|item| archive.insert(item, 500).unwrap().0)
                .collect()
        };
        let of_a = keys(&a, 10);
        let of_b = keys(&b, 20);
        let mut superseded = archive.supersede(&a.id());
        superseded.sort();
        let mut expected = of_a.clone();
        expected.sort();
        assert_eq!(superseded, expected);
        assert!(of_a.iter().all(|key| !archive.contains(key)));
        assert!(of_b.iter().all(|key| archive.contains(key)));
        assert_eq!(archive.len(), 3);
        // Gone from the expiry walk too, and a second call finds nothing.
        assert!(archive.supersede(&a.id()).is_empty());
        // Once a's certificate is held, a late share of a is not kept; b's still are.
        let certificate = crate::certify::wire::CertificateMessage {
            proposal: a.clone(),
            signers: vec![0, 1],
            signature: [7; crate::certify::scheme::SIGNATURE_BYTES],
        };
        let certificate = Item {
            kind: Kind::Certificate,
            bytes: certificate.encode(),
        };
        let (certificate_key, _) = archive.insert(certificate, 500).unwrap();
        assert_eq!(certificate_key, ItemKey::certificate_of(&a.id()));
        let late = |p: &Proposal, nonce: u8| {
            sealed(
                Kind::Share,
                crate::topics::SHARES,
                nonce,
                &share(p.id(), 2).encode(),
            )
        };
        assert_eq!(
            archive.insert(late(&a, 30), 500),
            Err(NotArchived::Superseded)
        );
        let (late_b, new) = archive.insert(late(&b, 31), 500).unwrap();
        assert!(new);
        let mut expired = archive.expire(u64::MAX);
        expired.sort();
        let mut rest = of_b.clone();
        rest.extend([late_b, certificate_key]);
        rest.sort();
        assert_eq!(expired, rest);
        assert_eq!(archive.bytes(Kind::Share), 0);
    }

    #[test]
    fn a_second_copy_keeps_the_first_expiry() {
        let mut archive = Archive::new(config());
        archive.insert(item(Kind::Proposal, 1, 10), 0).unwrap();
        let (key, new) = archive.insert(item(Kind::Proposal, 1, 10), 500).unwrap();
        assert!(!new);
        assert_eq!(archive.expiry_of(&key), Some(1_000));
        assert_eq!(archive.expire(1_000), vec![key]);
    }

    #[test]
    fn a_reloaded_item_keeps_the_expiry_it_had() {
        let mut archive = Archive::new(config());
        let (key, _) = archive
            .insert_until(item(Kind::Certificate, 3, 10), 2_500)
            .unwrap();
        assert_eq!(archive.expiry_of(&key), Some(2_500));
        assert_eq!(archive.expire(2_499), vec![]);
        assert_eq!(archive.expire(2_500), vec![key]);
    }

    #[test]
    fn one_kind_filling_its_share_leaves_the_others_room() {
        let mut archive = Archive::new(config());
        for fill in 0..10 {
            archive
                .insert(item(Kind::BallotMessage, fill, 10), 0)
                .unwrap();
        }
        assert_eq!(
            archive.insert(item(Kind::BallotMessage, 99, 1), 0),
            Err(NotArchived::Full)
        );
        assert!(archive.insert(item(Kind::Share, 1, 100), 0).is_ok());
        assert_eq!(archive.bytes(Kind::BallotMessage), 100);
    }

    #[test]
    fn an_item_over_its_kinds_limit_is_never_kept() {
        let mut archive = Archive::new(ArchiveConfig {
            bytes_max: usize::MAX,
            ..config()
        });
        let len = Kind::Share.bytes_max() + 1;
        assert_eq!(
            archive.insert(item(Kind::Share, 1, len), 0),
            Err(NotArchived::TooLarge)
        );
    }
}
