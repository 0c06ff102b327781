//! What a shell hosts for sync, and the one interpreter of its actions: the node's sync
//! actor and the simulator both run a [`SyncHost`] and differ only in their
//! [`SyncEffects`] (libp2p and redb, or the simulated links and store).
//!
//! The host ties the protocol core ([`SyncCore`]) to the bytes it serves ([`Archive`]):
//! an item is offered to peers only once the archive keeps it (and the shell persisted it),
//! an expired item is withdrawn, a fetched item is archived on its topic's Accept, and a
//! peer's sync penalty is kept current as its gossip application score (P5).

use std::collections::{BTreeMap, BTreeSet};

use super::archive::{Archive, ArchiveConfig, NotArchived};
use super::item::{certified_proposal, Item, ItemKey, Kind};
use super::machine::{Action, DeliveryId, SyncConfig, SyncCore};
use crate::auth::revocations::ListRefusal;
use crate::certify::proposal::ProposalId;
use crate::ids::{PeerKey, Verdict};

/// A decayed penalty below this is forgotten (its score would be under 10⁻⁴).
pub const PENALTY_NEGLIGIBLE: f64 = 0.01;

/// What sync needs from its shell.
pub trait SyncEffects {
    /// Sends a request to a connected peer (never dials); its response or failure comes
    /// back under `id` ([`SyncHost::on_response`], [`SyncHost::on_failed`]).
    fn request(&mut self, peer: PeerKey, id: u64, bytes: Vec<u8>);
    /// Checks `bytes` exactly as a gossip message on `topic` from `from`; the verdict comes
    /// back through [`SyncHost::on_verdict`].
    fn deliver(&mut self, delivery: DeliveryId, from: PeerKey, topic: &'static str, bytes: Vec<u8>);
    /// Sets the peer's gossip application score (P5); 0 clears it.
    fn set_score(&mut self, peer: PeerKey, score: f64);
    /// `peer` served something invalid in itself (a metric and a log line).
    fn penalized(&mut self, peer: &PeerKey, reason: &'static str);
    /// A bound dropped something (`x0_sync_dropped_total{what}`).
    fn dropped(&mut self, what: &'static str);
    /// Persists an archived item before it is offered. An error leaves it served until a
    /// restart (counted as `journal_failed`), never fatal.
    fn persist(&mut self, key: &ItemKey, bytes: &[u8], expires_ms: u64) -> Result<(), String>;
    /// Drops persisted items whose hold ended by `now_ms`.
    fn forget(&mut self, now_ms: u64) -> Result<(), String>;
}

/// The sync core, the archive it serves from, and what is in flight between them.
pub struct SyncHost {
    core: SyncCore,
    archive: Archive,
    /// Items handed to the shell for a verdict, by delivery: archived on Accept. Bounded
    /// by the core's `wanted_max` (a delivery is a wanted key).
    delivering: BTreeMap<DeliveryId, Item>,
    /// Peers whose score carries a sync penalty, refreshed each tick as it decays; at most
    /// the core's `peers_max` plus the departed it remembers.
    scored: BTreeSet<PeerKey>,
}

impl SyncHost {
    pub fn new(core: SyncConfig, archive: ArchiveConfig, epoch: u64) -> SyncHost {
        SyncHost {
            core: SyncCore::new(core, epoch),
            archive: Archive::new(archive),
            delivering: BTreeMap::new(),
            scored: BTreeSet::new(),
        }
    }

    pub fn core(&self) -> &SyncCore {
        &self.core
    }

    pub fn archive(&self) -> &Archive {
        &self.archive
    }

    /// Takes back what the shell persisted before a restart; items whose hold ended by
    /// `now_ms` are skipped (and pruned by the shell's next `forget`).
    pub fn restore(
        &mut self,
        items: Vec<(Item, u64)>,
        now_ms: u64,
        effects: &mut impl SyncEffects,
    ) {
        let mut actions = Vec::new();
        let mut certified = Vec::new();
        for (item, expires_ms) in items.into_iter().filter(|(_, e)| *e > now_ms) {
            let key = item.key();
            certified.extend(certified_proposal(item.kind, &item.bytes));
            match self.archive.insert_until(item, expires_ms) {
                Ok(_) => self.core.on_held(key, &mut actions),
                Err(NotArchived::ShortLived | NotArchived::Superseded) => {}
                Err(refused) => effects.dropped(refused.what()),
            }
        }
        // The journal keeps superseded envelopes and shares until they expire.
        for proposal in certified {
            self.supersede(&proposal);
        }
        self.carry_out(actions, now_ms, effects);
    }

    /// The node accepted an item on a synced topic (gossip, or its own publication):
    /// archived and offered to peers. Other topics are not synced.
    pub fn on_accepted(
        &mut self,
        topic: &str,
        bytes: Vec<u8>,
        now_ms: u64,
        effects: &mut impl SyncEffects,
    ) {
        let Some(kind) = Kind::of_topic(topic) else {
            return;
        };
        let mut actions = Vec::new();
        self.hold(Item { kind, bytes }, now_ms, effects, &mut actions);
        self.carry_out(actions, now_ms, effects);
    }

    /// Archives an item and offers it to peers. One the archive cannot keep is not
    /// offered, even if the core counted it held on its verdict: it could not be served.
    fn hold(
        &mut self,
        item: Item,
        now_ms: u64,
        effects: &mut impl SyncEffects,
        actions: &mut Vec<Action>,
    ) {
        let key = item.key();
        let certified = certified_proposal(item.kind, &item.bytes);
        match self.archive.insert(item, now_ms) {
            Ok((_, new)) => {
                if new {
                    let bytes = self.archive.get(&key).expect("just archived");
                    let expires_ms = self.archive.expiry_of(&key).expect("just archived");
                    if effects.persist(&key, bytes, expires_ms).is_err() {
                        effects.dropped("journal_failed");
                    }
                }
                self.core.on_held(key, actions);
                if let Some(proposal) = certified {
                    self.supersede(&proposal);
                }
            }
            Err(refused) => {
                if !matches!(refused, NotArchived::ShortLived | NotArchived::Superseded) {
                    effects.dropped(refused.what());
                }
                self.core.on_forgotten(&key);
            }
        }
    }

    /// A certified proposal's envelope and shares are no longer offered: peers that lack
    /// them need the certificate.
    fn supersede(&mut self, proposal: &ProposalId) {
        for key in self.archive.supersede(proposal) {
            self.core.on_forgotten(&key);
        }
    }

    /// A connection to `peer` opened.
    pub fn on_connected(&mut self, peer: PeerKey, now_ms: u64, effects: &mut impl SyncEffects) {
        let mut actions = Vec::new();
        self.core.on_connected(peer.clone(), now_ms, &mut actions);
        // A penalty it left with comes back with it, and so does its score.
        if let Some((_, penalty)) = self
            .core
            .penalties(now_ms)
            .into_iter()
            .find(|(p, _)| *p == peer)
        {
            if penalty >= PENALTY_NEGLIGIBLE {
                self.scored.insert(peer.clone());
                effects.set_score(peer, -(penalty * penalty));
            }
        }
        self.carry_out(actions, now_ms, effects);
    }

    /// The last connection to `peer` closed.
    pub fn on_disconnected(&mut self, peer: &PeerKey) {
        self.core.on_disconnected(peer);
    }

    /// When the host next needs [`SyncHost::tick`]: the core's next round or timeout, or
    /// the archive's next expiry.
    pub fn next_tick_ms(&self) -> Option<u64> {
        match (self.core.next_tick_ms(), self.archive.next_expiry_ms()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Expires archived items, refreshes decaying scores, and ticks the core (`pick`
    /// chooses the round's peer; the shell draws it from its random source).
    pub fn tick(&mut self, now_ms: u64, pick: u64, effects: &mut impl SyncEffects) {
        let expired = self.archive.expire(now_ms);
        if !expired.is_empty() && effects.forget(now_ms).is_err() {
            effects.dropped("journal_failed");
        }
        for key in expired {
            self.core.on_forgotten(&key);
        }
        self.refresh_scores(now_ms, effects);
        let mut actions = Vec::new();
        self.core.tick(now_ms, pick, &mut actions);
        self.carry_out(actions, now_ms, effects);
    }

    /// Penalties decay like gossip's invalid-message counts; a peer's score follows, and
    /// is cleared once the penalty is negligible.
    fn refresh_scores(&mut self, now_ms: u64, effects: &mut impl SyncEffects) {
        if self.scored.is_empty() {
            return;
        }
        let penalties: BTreeMap<PeerKey, f64> = self.core.penalties(now_ms).into_iter().collect();
        for peer in std::mem::take(&mut self.scored) {
            let penalty = penalties.get(&peer).copied().unwrap_or(0.0);
            let score = if penalty < PENALTY_NEGLIGIBLE {
                0.0
            } else {
                self.scored.insert(peer.clone());
                -(penalty * penalty)
            };
            effects.set_score(peer, score);
        }
    }

    /// A peer's request; `None`: it did not decode, close the stream without an answer.
    pub fn on_request(
        &mut self,
        peer: &PeerKey,
        bytes: &[u8],
        now_ms: u64,
        effects: &mut impl SyncEffects,
    ) -> Option<Vec<u8>> {
        let mut actions = Vec::new();
        let archive = &self.archive;
        let response = self.core.on_request(
            peer,
            bytes,
            now_ms,
            |key| archive.get(key).map(<[u8]>::to_vec),
            &mut actions,
        );
        self.carry_out(actions, now_ms, effects);
        response
    }

    /// The response to request `id`.
    pub fn on_response(
        &mut self,
        id: u64,
        bytes: &[u8],
        now_ms: u64,
        effects: &mut impl SyncEffects,
    ) {
        let mut actions = Vec::new();
        self.core.on_response(id, bytes, now_ms, &mut actions);
        self.carry_out(actions, now_ms, effects);
    }

    /// Request `id` failed (timeout, closed stream).
    pub fn on_failed(&mut self, id: u64, now_ms: u64, effects: &mut impl SyncEffects) {
        let mut actions = Vec::new();
        self.core.on_failed(id, now_ms, &mut actions);
        self.carry_out(actions, now_ms, effects);
    }

    /// The verdict of the topic's checks on a delivered item. Returns the item's kind,
    /// for the shell's metrics (`None`: not a delivery in flight).
    pub fn on_verdict(
        &mut self,
        delivery: DeliveryId,
        verdict: Verdict,
        now_ms: u64,
        effects: &mut impl SyncEffects,
    ) -> Option<Kind> {
        let item = self.delivering.remove(&delivery);
        let kind = item.as_ref().map(|item| item.kind);
        let mut actions = Vec::new();
        self.core
            .on_verdict(delivery, verdict, now_ms, &mut actions);
        // A revocation list this node holds in force already is still the authority's
        // (it read and verified): kept, or this node's digest would differ from its
        // peers' and it would fetch the list again each time its refusal lapsed.
        let known_list =
            kind == Some(Kind::RevocationList) && verdict == ListRefusal::Known.verdict();
        if verdict == Verdict::Accept || known_list {
            if let Some(item) = item {
                self.hold(item, now_ms, effects, &mut actions);
            }
        }
        self.carry_out(actions, now_ms, effects);
        kind
    }

    /// The one interpreter of the core's actions.
    fn carry_out(&mut self, actions: Vec<Action>, now_ms: u64, effects: &mut impl SyncEffects) {
        let mut actions = std::collections::VecDeque::from(actions);
        while let Some(action) = actions.pop_front() {
            match action {
                // Bounded by the core: requests in flight per peer, peers tracked.
                Action::Request { peer, id, bytes } => effects.request(peer, id, bytes),
                Action::Deliver {
                    delivery,
                    from,
                    item,
                } => match item.kind.topic() {
                    Some(topic) => {
                        let bytes = item.bytes.clone();
                        self.delivering.insert(delivery, item);
                        effects.deliver(delivery, from, topic, bytes);
                    }
                    None => {
                        // The core asks only for kinds with a topic (ballot certificates
                        // have none and no owner takes one in yet); should one come,
                        // nothing here can judge it: refused at no cost to anyone.
                        let mut more = Vec::new();
                        self.core.on_verdict(
                            delivery,
                            Verdict::Ignore { reason: "no_owner" },
                            now_ms,
                            &mut more,
                        );
                        actions.extend(more);
                    }
                },
                Action::Penalize {
                    peer,
                    reason,
                    penalty,
                } => {
                    effects.penalized(&peer, reason);
                    // Gossip's P4 is -count² times the invalid-message weight; the shell
                    // weighs the application score (P5) the same, so a bad sync server
                    // loses what a bad gossip sender would.
                    self.scored.insert(peer.clone());
                    effects.set_score(peer, -(penalty * penalty));
                }
                Action::Dropped { what } => effects.dropped(what),
            }
        }
    }
}
