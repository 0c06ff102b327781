//! The signature-collection core: a deterministic state machine. Inputs are proposals,
//! shares, certificates and ticks with `now`; outputs say what to persist, publish, reject
//! and report. No clock, no I/O, BTreeMaps only.
//!
//! Rules it enforces:
//! * a member signs at most one proposal per (epoch, slot); the shell persists that
//!   choice before it publishes the share ([`Output::PublishShare`]);
//! * combine first: t+1 shares are combined and the result verified once, and the
//!   certificate is published only if, in addition, every share in it is valid on its
//!   own (one randomised batch check of those not yet known valid); on any failure the
//!   shares not yet known valid are checked one by one, and the invalid ones are dropped
//!   and their senders reported;
//! * a share is not forwarded before it is valid on its own: a valid combination proves
//!   nothing about each share (two colluding members can send σa + λb·Δ and σb − λa·Δ,
//!   which combine validly for one signer subset and for no other). Its verdict is held
//!   until it passes a batch check with the other shares of a combination, or until
//!   `share_hold_ms` passes and it is checked with the other overdue shares (so shares
//!   still spread when a node alone never reaches t+1);
//! * a share known valid is never verified again (`Held::verified`).
//!
//! Worst case per proposal, with f <= t faulty members: at most n shares are ever held (one
//! per member, a caught member's further shares are ignored). Every combination attempt
//! either publishes or removes at least one invalid share, so there are at most f + 1
//! attempts, each one combination and one verification. Each share is in at most one
//! batch check (after it, the share is known valid or has been checked on its own), and
//! batches run only at those attempts and at ticks, so at most n batches. Each share is
//! checked on its own at most once. In all at most 2n + f + 1 <= 2n + t + 1 BLS
//! verifications (two Miller loops and one final exponentiation each), linear in n
//! whatever the faulty members send; besides them, batch sums over at most n shares in
//! all and at most f + 1 combinations (one multi-scalar multiplication of t+1 shares
//! each). docs/PROTOCOL.md states the same bound.
//! * two valid certificates for one (epoch, slot) and different proposals halt the slot
//!   and name the members whose valid shares endorse both.
//!
//! Shares per proposal are bounded by the committee size: one per member, the first wins.
//!
//! Fair shares, so that one member (or t of them) cannot take the room honest proposals
//! need. With n members:
//! * uncertified pending entries: each is charged to the member that opened it (the
//!   proposer, or the member whose share arrived before the proposal), at most
//!   `pending_max / n` each; the sum of all shares is within `pending_max`, so an honest
//!   member's proposal always finds room;
//! * slots of the epoch: each signed or certified slot is charged to its proposal's
//!   proposer, at most `certified_max / n` each; a member does not sign, and a node does
//!   not accept a certificate, for a proposer past its share. The signed-slots table and
//!   the certified table are both bounded by `certified_max` this way.

use std::collections::{BTreeMap, BTreeSet};

use super::proposal::{Proposal, ProposalId};
use super::scheme::{signing_message, MemberIndex, ShareSigner, ThresholdScheme};

/// Bounds and timers of the collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CollectorConfig {
    /// Proposals being collected at once (not yet certified); each member may open at most
    /// `pending_max / committee size` of them (at least one).
    pub pending_max: usize,
    /// A proposal's lifetime: not certified this long after its own timestamp, it expires
    /// (everywhere alike) and is forgotten.
    pub pending_ttl_ms: u64,
    /// Slots of the epoch whose certificate is remembered (for conflict detection), and
    /// slots this member may sign; each proposer may hold at most
    /// `certified_max / committee size` of them (at least one).
    pub certified_max: usize,
    /// How long a share's verdict waits for a combination before the share is verified on
    /// its own. Short enough that shares keep spreading, long enough that most are checked
    /// in one batch with the shares of a combination instead of one pairing each.
    pub share_hold_ms: u64,
}

impl Default for CollectorConfig {
    fn default() -> Self {
        CollectorConfig {
            pending_max: 1024,
            pending_ttl_ms: 3_600_000,
            certified_max: 65_536,
            share_hold_ms: 200,
        }
    }
}

/// (epoch, slot): what a member signs at most once.
pub type SlotKey = (u64, String);

/// A certificate: the proposal (so every node can check what it changes), who signed, and
/// the combined signature over its id.
#[derive(Debug, Clone)]
pub struct Certificate<C> {
    pub proposal: Proposal,
    pub signers: Vec<MemberIndex>,
    pub signature: C,
}

/// What becomes of one received share: the gossip verdict the shell gives its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShareVerdict {
    /// Checked valid on its own (in a batch or alone): forward it.
    Valid,
    /// Invalid: reject the message, penalise the sender, keep the evidence.
    Invalid(&'static str),
    /// Not invalid, not worth forwarding (duplicate, late, no room).
    Ignored(&'static str),
}

/// What becomes of one received certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateVerdict {
    /// Valid and new here (possibly a conflict): forward it.
    Accepted,
    /// This proposal is certified here already.
    Duplicate,
    /// Not looked at: its proposer has used its share of the epoch's slots here (a
    /// count that depends on what this node saw, so no penalty).
    Ignored(&'static str),
    /// Failed verification: reject, penalise the sender.
    Rejected(&'static str),
}

/// What the shell must do.
#[derive(Debug, Clone)]
pub enum Output<S, C> {
    /// Persist `(epoch, slot) -> id` and the share as signed, then publish the share.
    /// Never the other order: after a crash the node must know it already signed this slot.
    PublishShare {
        slot: SlotKey,
        id: ProposalId,
        member: MemberIndex,
        share: S,
    },
    /// A certificate formed here: persist it, then publish it.
    PublishCertificate(Certificate<C>),
    /// A valid certificate was accepted for this slot (formed here or received).
    /// `collecting_ms`: first sight of the proposal or a share here to the certificate.
    Certified {
        slot: SlotKey,
        id: ProposalId,
        collecting_ms: Option<u64>,
    },
    /// The verdict on a share whose verdict [`Collector::on_share`] held back.
    ShareDecided {
        member: MemberIndex,
        id: ProposalId,
        verdict: ShareVerdict,
    },
    /// A member sent an invalid share: keep it as evidence. The share's verdict is given
    /// separately (it is `Invalid`).
    InvalidShare {
        member: MemberIndex,
        id: ProposalId,
        share: S,
    },
    /// Two valid certificates for one slot: the slot is halted until a ballot settles it.
    Conflict {
        slot: SlotKey,
        ids: [ProposalId; 2],
        double_signers: Vec<MemberIndex>,
    },
    /// A proposal expired uncertified, holding `shares` of the `needed`.
    Expired {
        id: ProposalId,
        shares: usize,
        needed: usize,
    },
    /// Something was refused for a bound or a rule; `what` is the metric label.
    Dropped { what: &'static str },
}

/// A proposal being collected, as `/status` and `GET /proposals/{id}` show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingState {
    /// Shares held (valid or not yet checked) and shares a certificate needs.
    pub shares: usize,
    pub needed: usize,
    /// When it expires if not certified, Unix ms.
    pub expires_ms: u64,
    pub certified: bool,
}

struct Held<S> {
    share: S,
    arrived_ms: u64,
    /// True once a verdict was given (immediately or by [`Output::ShareDecided`]).
    decided: bool,
    /// True once the share is known valid on its own (checked, or this node's own): it is
    /// never verified again. Implies `decided`.
    verified: bool,
}

struct Pending<S> {
    proposal: Option<Proposal>,
    /// The member charged for this entry while it is uncertified.
    opener: MemberIndex,
    /// The member that proposed it (meaningful once `proposal` is known).
    proposer: MemberIndex,
    /// First share per member; unverified until a combination fails or the hold expires.
    shares: BTreeMap<MemberIndex, Held<S>>,
    /// Members caught with an invalid share for this proposal: their further shares are
    /// ignored, so one Byzantine member cannot make us pay a pairing per message.
    caught: BTreeSet<MemberIndex>,
    first_seen_ms: u64,
    /// When the entry is forgotten if not certified: the proposal's own timestamp plus the
    /// lifetime, the same on every node; until the proposal arrives, first sight plus the
    /// lifetime.
    expires_ms: u64,
    certified: bool,
}

/// The collection state machine for one committee.
pub struct Collector<S: ThresholdScheme, K> {
    scheme: S,
    signer: Option<K>,
    config: CollectorConfig,
    signed: BTreeMap<SlotKey, ProposalId>,
    pending: BTreeMap<ProposalId, Pending<S::Share>>,
    /// Uncertified pending entries per opener (see [`Pending::opener`]); no zero counts.
    opened: BTreeMap<MemberIndex, usize>,
    /// The proposer charged for each slot signed or certified here; bounded by
    /// `certified_max` (each proposer's count is checked before a slot is charged).
    slot_proposers: BTreeMap<SlotKey, MemberIndex>,
    /// Slots charged per proposer; no zero counts.
    slots_charged: BTreeMap<MemberIndex, usize>,
    certified: BTreeMap<SlotKey, Certificate<S::Certificate>>,
    /// Every proposal id certified here, also the second one of a conflict.
    certified_ids: BTreeSet<ProposalId>,
    halted: BTreeSet<SlotKey>,
    /// No timer is due before this (a held share's hold, a pending entry's TTL): ticks
    /// before it return at once, so a node can tick often at no cost.
    next_due_ms: u64,
}

type Out<S> = Output<<S as ThresholdScheme>::Share, <S as ThresholdScheme>::Certificate>;

impl<S, K> Collector<S, K>
where
    S: ThresholdScheme,
    K: ShareSigner<Share = S::Share>,
{
    /// `signed` is what the store remembers this member signed (empty for a non-member or a
    /// fresh node); `signer` is `None` on nodes outside the committee.
    pub fn new(
        scheme: S,
        signer: Option<K>,
        config: CollectorConfig,
        signed: BTreeMap<SlotKey, ProposalId>,
    ) -> Self {
        assert!(config.pending_max > 0 && config.certified_max > 0);
        if let Some(signer) = &signer {
            assert!(usize::from(signer.member()) < scheme.committee_size());
        }
        Collector {
            scheme,
            signer,
            config,
            signed,
            pending: BTreeMap::new(),
            opened: BTreeMap::new(),
            slot_proposers: BTreeMap::new(),
            slots_charged: BTreeMap::new(),
            certified: BTreeMap::new(),
            certified_ids: BTreeSet::new(),
            halted: BTreeSet::new(),
            next_due_ms: u64::MAX,
        }
    }

    pub fn scheme(&self) -> &S {
        &self.scheme
    }

    pub fn is_halted(&self, slot: &SlotKey) -> bool {
        self.halted.contains(slot)
    }

    pub fn certificate(&self, slot: &SlotKey) -> Option<&Certificate<S::Certificate>> {
        self.certified.get(slot)
    }

    /// Halted slots, in order.
    pub fn halted(&self) -> impl Iterator<Item = &SlotKey> {
        self.halted.iter()
    }

    /// A passed ballot settled a halted slot by choosing `chosen`, one of its certified
    /// proposals: the slot holds that certificate and takes shares again. False (and
    /// nothing changes) when the slot is not halted or `chosen` was not certified here.
    pub fn settle(&mut self, slot: &SlotKey, chosen: Certificate<S::Certificate>) -> bool {
        if !self.halted.contains(slot) || !self.certified_ids.contains(&chosen.proposal.id()) {
            return false;
        }
        self.halted.remove(slot);
        self.certified.insert(slot.clone(), chosen);
        true
    }

    /// This member's own share for `id` leaves its pending entry: the shell could not
    /// record the slot as signed, so the share was never sent, and no certificate formed
    /// here may carry it.
    pub fn withdraw_own_share(&mut self, id: &ProposalId) {
        let Some(signer) = &self.signer else {
            return;
        };
        let member = signer.member();
        if let Some(entry) = self.pending.get_mut(id) {
            entry.shares.remove(&member);
        }
    }

    /// Forgets certificate `id` for `slot`, which the shell could not store: the next copy
    /// is taken up again, and the entry may certify again from shares. The slot stays
    /// charged to its proposer (conservative); a conflict it raised stays halted.
    pub fn forget_certificate(&mut self, slot: &SlotKey, id: &ProposalId) {
        if !self.certified_ids.remove(id) {
            return;
        }
        if self
            .certified
            .get(slot)
            .is_some_and(|c| c.proposal.id() == *id)
        {
            self.certified.remove(slot);
        }
        if let Some(entry) = self.pending.get_mut(id) {
            if entry.certified {
                entry.certified = false;
                *self.opened.entry(entry.opener).or_default() += 1;
            }
        }
    }

    /// The collection state of `id`, if it is pending here.
    pub fn pending_state(&self, id: &ProposalId) -> Option<PendingState> {
        self.pending.get(id).map(|entry| PendingState {
            shares: entry.shares.len(),
            needed: self.scheme.share_count_min(),
            expires_ms: entry.expires_ms,
            certified: entry.certified,
        })
    }

    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }

    /// Re-admits a certificate the store kept from an earlier run. It was verified before
    /// it was stored, so it is not verified again; conflicts between stored certificates
    /// are found again and reported in `out`.
    /// `proposer` is the member that proposed it: the slot is charged to it.
    pub fn restore(
        &mut self,
        certificate: Certificate<S::Certificate>,
        proposer: MemberIndex,
        out: &mut Vec<Out<S>>,
    ) {
        self.accept(certificate, proposer, None, out);
    }

    /// How many uncertified entries one member may open: its fair share of `pending_max`.
    pub fn pending_share(&self) -> usize {
        (self.config.pending_max / self.scheme.committee_size()).max(1)
    }

    /// How many slots of the epoch one proposer may hold: its fair share of
    /// `certified_max`.
    pub fn slots_share(&self) -> usize {
        (self.config.certified_max / self.scheme.committee_size()).max(1)
    }

    /// Slots signed or certified here, and the proposers charged for them.
    pub fn slots_charged(&self) -> usize {
        self.slot_proposers.len()
    }

    /// False when `slot` is new here and `proposer` has used its share of slots.
    fn slot_has_room(&self, slot: &SlotKey, proposer: MemberIndex) -> bool {
        self.slot_proposers.contains_key(slot)
            || self.slots_charged.get(&proposer).copied().unwrap_or(0) < self.slots_share()
    }

    /// Charges a new slot to `proposer` (a slot is charged once, to the first proposer).
    fn charge_slot(&mut self, slot: &SlotKey, proposer: MemberIndex) {
        if !self.slot_proposers.contains_key(slot) {
            self.slot_proposers.insert(slot.clone(), proposer);
            *self.slots_charged.entry(proposer).or_default() += 1;
        }
    }

    /// The entry's opener is no longer charged for it (it certified, or expired).
    fn release_opener(&mut self, opener: MemberIndex) {
        if let Some(count) = self.opened.get_mut(&opener) {
            *count -= 1;
            if *count == 0 {
                self.opened.remove(&opener);
            }
        }
    }

    /// A proposal of member `proposer` arrived (already checked for rights and replay by
    /// the shell). An error names why it was not taken up (a fair-share bound: the shell
    /// ignores the message, no penalty, since the count depends on what this node saw).
    pub fn on_proposal(
        &mut self,
        proposal: Proposal,
        proposer: MemberIndex,
        now_ms: u64,
        out: &mut Vec<Out<S>>,
    ) -> Result<(), &'static str> {
        let id = proposal.id();
        let slot: SlotKey = (proposal.epoch, proposal.slot.clone());
        if self.certified_ids.contains(&id) {
            return Ok(()); // a replay of a certified proposal changes nothing
        }
        if !self.slot_has_room(&slot, proposer) {
            out.push(Output::Dropped {
                what: "proposer_slots_full",
            });
            return Err("proposer_slots_full");
        }
        if !self.entry(id, proposer, now_ms, out) {
            return Err("pending_full");
        }
        let entry = self.pending.get_mut(&id).expect("entry just ensured");
        if entry.proposal.is_some() {
            return Ok(()); // a repeated proposal changes nothing
        }
        // An entry a share opened moves to its proposer's account: otherwise a proposer
        // could spend the shares of the honest members that sign its proposals.
        let opener = entry.opener;
        if opener != proposer {
            if self.opened.get(&proposer).copied().unwrap_or(0) >= self.pending_share() {
                let mut entry = self.pending.remove(&id).expect("entry just ensured");
                release(&mut entry, id, "pending_full", out);
                self.release_opener(opener);
                out.push(Output::Dropped {
                    what: "pending_full",
                });
                return Err("pending_full");
            }
            self.release_opener(opener);
            *self.opened.entry(proposer).or_default() += 1;
        }
        let entry = self.pending.get_mut(&id).expect("entry just ensured");
        entry.opener = proposer;
        entry.expires_ms = proposal
            .timestamp_unix_ms
            .saturating_add(self.config.pending_ttl_ms);
        self.next_due_ms = self.next_due_ms.min(entry.expires_ms);
        entry.proposal = Some(proposal);
        entry.proposer = proposer;
        if self.halted.contains(&slot) {
            out.push(Output::Dropped {
                what: "slot_halted",
            });
            return Ok(());
        }
        if let Some(signer) = &self.signer {
            match self.signed.get(&slot) {
                Some(signed_id) if *signed_id != id => out.push(Output::Dropped {
                    what: "slot_already_signed",
                }),
                // Restored signed slots are not charged to anyone: the table may hold
                // them beyond the proposers' shares, never beyond this bound.
                None if self.signed.len() >= self.config.certified_max => {
                    out.push(Output::Dropped {
                        what: "signed_full",
                    })
                }
                // BLS signing is deterministic: signing again gives the very share this
                // member persisted and published before a restart, never a new one.
                _ => {
                    let share = signer.sign_share(&signing_message(&id));
                    let member = signer.member();
                    self.signed.insert(slot.clone(), id);
                    self.slot_proposers.entry(slot.clone()).or_insert_with(|| {
                        *self.slots_charged.entry(proposer).or_default() += 1;
                        proposer
                    });
                    entry.shares.insert(
                        member,
                        Held {
                            share: share.clone(),
                            arrived_ms: now_ms,
                            decided: true,
                            verified: true,
                        },
                    );
                    out.push(Output::PublishShare {
                        slot,
                        id,
                        member,
                        share,
                    });
                }
            }
        }
        self.try_certify(id, now_ms, out);
        Ok(())
    }

    /// A share from `member` for proposal `id` arrived. Returns its verdict now, or `None`
    /// when the verdict is held: it comes later as [`Output::ShareDecided`].
    pub fn on_share(
        &mut self,
        member: MemberIndex,
        id: ProposalId,
        share: S::Share,
        now_ms: u64,
        out: &mut Vec<Out<S>>,
    ) -> Option<ShareVerdict> {
        if usize::from(member) >= self.scheme.committee_size() {
            return Some(ShareVerdict::Invalid("unknown_member"));
        }
        if self.certified_ids.contains(&id) {
            return Some(ShareVerdict::Ignored("already_certified"));
        }
        // A share for a proposal not seen here opens its entry on the member's account.
        if !self.entry(id, member, now_ms, out) {
            return Some(ShareVerdict::Ignored("pending_full"));
        }
        let entry = self.pending.get_mut(&id).expect("entry just ensured");
        if entry.shares.contains_key(&member) {
            return Some(ShareVerdict::Ignored("duplicate_share"));
        }
        if entry.caught.contains(&member) {
            return Some(ShareVerdict::Ignored("member_caught"));
        }
        entry.shares.insert(
            member,
            Held {
                share,
                arrived_ms: now_ms,
                decided: false,
                verified: false,
            },
        );
        self.next_due_ms = self
            .next_due_ms
            .min(now_ms.saturating_add(self.config.share_hold_ms));
        let first_new = out.len();
        self.try_certify(id, now_ms, out);
        // The combination may have decided this very share already.
        let decided_now = out[first_new..].iter().find_map(|o| match o {
            Output::ShareDecided {
                member: m,
                id: i,
                verdict,
            } if *m == member && *i == id => Some(*verdict),
            _ => None,
        });
        if decided_now.is_some() {
            let mut index = 0;
            out.retain(|o| {
                index += 1;
                index <= first_new
                    || !matches!(o, Output::ShareDecided { member: m, id: i, .. } if *m == member && *i == id)
            });
        }
        decided_now
    }

    /// A certificate arrived from the network.
    /// A certificate of a proposal by member `proposer` arrived from the network.
    pub fn on_certificate(
        &mut self,
        certificate: Certificate<S::Certificate>,
        proposer: MemberIndex,
        now_ms: u64,
        out: &mut Vec<Out<S>>,
    ) -> CertificateVerdict {
        if certificate.proposal.check().is_err() {
            return CertificateVerdict::Rejected("malformed_proposal");
        }
        let id = certificate.proposal.id();
        // Checked before the pairing: copies of a certificate cost nothing.
        if self.certified_ids.contains(&id) {
            return CertificateVerdict::Duplicate;
        }
        let slot: SlotKey = (
            certificate.proposal.epoch,
            certificate.proposal.slot.clone(),
        );
        if !self.slot_has_room(&slot, proposer) {
            out.push(Output::Dropped {
                what: "proposer_slots_full",
            });
            return CertificateVerdict::Ignored("proposer_slots_full");
        }
        if !self
            .scheme
            .verify_certificate(&signing_message(&id), &certificate.signature)
        {
            return CertificateVerdict::Rejected("invalid_signature");
        }
        self.accept(certificate, proposer, Some(now_ms), out);
        CertificateVerdict::Accepted
    }

    /// Verifies shares held past `share_hold_ms` on their own, and forgets proposals that
    /// did not certify in time.
    /// No timer of this collector is due before this time (`u64::MAX`: none pending); a
    /// tick earlier does nothing.
    pub fn next_due_ms(&self) -> u64 {
        self.next_due_ms
    }

    pub fn tick(&mut self, now_ms: u64, out: &mut Vec<Out<S>>) {
        if now_ms < self.next_due_ms {
            return;
        }
        let hold = self.config.share_hold_ms;
        let ids: Vec<ProposalId> = self.pending.keys().copied().collect();
        for id in ids {
            let message = signing_message(&id);
            let entry = self.pending.get_mut(&id).expect("listed above");
            let overdue: Vec<MemberIndex> = entry
                .shares
                .iter()
                .filter(|(_, h)| !h.decided && now_ms.saturating_sub(h.arrived_ms) >= hold)
                .map(|(m, _)| *m)
                .collect();
            if overdue.is_empty() {
                continue;
            }
            let checked: Vec<(MemberIndex, S::Share)> = overdue
                .iter()
                .map(|m| (*m, entry.shares[m].share.clone()))
                .collect();
            let bad = self.scheme.invalid_shares_batched(&message, &checked);
            decide(entry, id, &overdue, &bad, out);
            self.try_certify(id, now_ms, out);
        }
        let expired: Vec<ProposalId> = self
            .pending
            .iter()
            .filter(|(_, p)| now_ms >= p.expires_ms)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            let mut entry = self.pending.remove(&id).expect("listed above");
            release(&mut entry, id, "expired", out);
            if !entry.certified {
                self.release_opener(entry.opener);
                out.push(Output::Expired {
                    id,
                    shares: entry.shares.len(),
                    needed: self.scheme.share_count_min(),
                });
                out.push(Output::Dropped {
                    what: "pending_expired",
                });
            }
        }
        self.next_due_ms = self
            .pending
            .values()
            .flat_map(|p| {
                let held = p
                    .shares
                    .values()
                    .filter(|h| !h.decided)
                    .map(|h| h.arrived_ms.saturating_add(hold));
                held.chain([p.expires_ms])
            })
            .min()
            .unwrap_or(u64::MAX);
    }

    /// Ensures a pending entry for `id`, charged to `opener` if new; false (and a drop)
    /// when the opener has used its share.
    fn entry(
        &mut self,
        id: ProposalId,
        opener: MemberIndex,
        now_ms: u64,
        out: &mut Vec<Out<S>>,
    ) -> bool {
        if self.pending.contains_key(&id) {
            return true;
        }
        let opened = self.opened.get(&opener).copied().unwrap_or(0);
        if opened >= self.pending_share() {
            out.push(Output::Dropped {
                what: "pending_full",
            });
            return false;
        }
        // The shares add up to at most `pending_max` (n * floor(pending_max / n)), except
        // for committees larger than `pending_max`, where each member still gets one.
        *self.opened.entry(opener).or_default() += 1;
        self.pending.insert(
            id,
            Pending {
                proposal: None,
                opener,
                proposer: opener,
                shares: BTreeMap::new(),
                caught: BTreeSet::new(),
                first_seen_ms: now_ms,
                expires_ms: now_ms.saturating_add(self.config.pending_ttl_ms),
                certified: false,
            },
        );
        self.next_due_ms = self
            .next_due_ms
            .min(now_ms.saturating_add(self.config.pending_ttl_ms));
        true
    }

    fn try_certify(&mut self, id: ProposalId, now_ms: u64, out: &mut Vec<Out<S>>) {
        let needed = self.scheme.share_count_min();
        let message = signing_message(&id);
        let entry = self.pending.get_mut(&id).expect("pending entry");
        if entry.certified || entry.proposal.is_none() || entry.shares.len() < needed {
            return;
        }
        let chosen: Vec<(MemberIndex, S::Share)> = entry
            .shares
            .iter()
            .take(needed)
            .map(|(m, h)| (*m, h.share.clone()))
            .collect();
        let members: Vec<MemberIndex> = chosen.iter().map(|(m, _)| *m).collect();
        let combined = self
            .scheme
            .combine(&chosen)
            .filter(|signature| self.scheme.verify_certificate(&message, signature));
        // A valid combination does not prove its shares (colluding shares cancel out), so
        // those not known valid yet are checked on their own, in one batch; if the batch
        // fails, one by one. After a failed combination one of them is invalid for sure (the
        // others are known valid), so a batch would fail too: one by one at once. A share
        // known valid is never checked again.
        let unchecked: Vec<(MemberIndex, S::Share)> = chosen
            .into_iter()
            .filter(|(m, _)| !entry.shares[m].verified)
            .collect();
        let unchecked_members: Vec<MemberIndex> = unchecked.iter().map(|(m, _)| *m).collect();
        let bad = if combined.is_some() {
            self.scheme.invalid_shares_batched(&message, &unchecked)
        } else {
            self.scheme.invalid_shares(&message, &unchecked)
        };
        decide(entry, id, &unchecked_members, &bad, out);
        let Some(signature) = combined.filter(|_| bad.is_empty()) else {
            assert!(!bad.is_empty(), "a failed combination has an invalid share");
            // No certificate from invalid shares, even when they combine validly: the
            // remaining shares may reach the threshold again.
            return self.try_certify(id, now_ms, out);
        };
        let certificate = Certificate {
            proposal: entry.proposal.clone().expect("checked above"),
            signers: members,
            signature,
        };
        let proposer = entry.proposer;
        out.push(Output::PublishCertificate(certificate.clone()));
        self.accept(certificate, proposer, Some(now_ms), out);
    }

    /// Records a verified certificate for its slot; detects conflicts.
    /// `proposer` is charged for the slot if it is new here. The certified table holds at
    /// most `certified_max` slots; `certified_ids` at most that plus one second proposal
    /// per halted slot.
    fn accept(
        &mut self,
        certificate: Certificate<S::Certificate>,
        proposer: MemberIndex,
        now_ms: Option<u64>,
        out: &mut Vec<Out<S>>,
    ) {
        let id = certificate.proposal.id();
        let slot: SlotKey = (
            certificate.proposal.epoch,
            certificate.proposal.slot.clone(),
        );
        if self.certified_ids.contains(&id) {
            return; // seen already
        }
        if !self.certified.contains_key(&slot) && self.certified.len() >= self.config.certified_max
        {
            out.push(Output::Dropped {
                what: "certified_full",
            });
            return;
        }
        self.certified_ids.insert(id);
        self.charge_slot(&slot, proposer);
        let mut opener = None;
        let collecting_ms = match self.pending.get_mut(&id) {
            Some(pending) => {
                if !pending.certified {
                    opener = Some(pending.opener);
                }
                pending.certified = true;
                // Shares not needed any more are not forwarded.
                release(pending, id, "already_certified", out);
                now_ms.map(|now| now.saturating_sub(pending.first_seen_ms))
            }
            None => None,
        };
        if let Some(opener) = opener {
            self.release_opener(opener);
        }
        match self.certified.get(&slot) {
            Some(existing) => {
                let other = existing.proposal.id();
                let double_signers = self.double_signers(other, id);
                if self.halted.insert(slot.clone()) {
                    out.push(Output::Conflict {
                        slot,
                        ids: [other, id],
                        double_signers,
                    });
                }
            }
            None => {
                self.certified.insert(slot.clone(), certificate);
                out.push(Output::Certified {
                    slot,
                    id,
                    collecting_ms,
                });
            }
        }
    }

    /// Members whose shares, verified now, endorse both proposals.
    fn double_signers(&self, a: ProposalId, b: ProposalId) -> Vec<MemberIndex> {
        let (Some(pa), Some(pb)) = (self.pending.get(&a), self.pending.get(&b)) else {
            return Vec::new();
        };
        let (ma, mb) = (signing_message(&a), signing_message(&b));
        pa.shares
            .iter()
            .filter(|(m, h)| self.scheme.verify_share(**m, &ma, &h.share))
            .filter(|(m, _)| {
                pb.shares
                    .get(*m)
                    .is_some_and(|h| self.scheme.verify_share(**m, &mb, &h.share))
            })
            .map(|(m, _)| *m)
            .collect()
    }
}

/// Gives verdicts to `members` of `entry`, all just checked on their own: `bad` ones are
/// invalid (and removed, with evidence), the rest valid and never checked again. Members
/// decided before get no second verdict.
fn decide<S: Clone, C>(
    entry: &mut Pending<S>,
    id: ProposalId,
    members: &[MemberIndex],
    bad: &[MemberIndex],
    out: &mut Vec<Output<S, C>>,
) {
    for member in members {
        if bad.contains(member) {
            let held = entry.shares.remove(member).expect("member of entry");
            entry.caught.insert(*member);
            if !held.decided {
                out.push(Output::ShareDecided {
                    member: *member,
                    id,
                    verdict: ShareVerdict::Invalid("invalid_share"),
                });
            }
            out.push(Output::InvalidShare {
                member: *member,
                id,
                share: held.share,
            });
        } else {
            let held = entry.shares.get_mut(member).expect("member of entry");
            held.verified = true;
            if !held.decided {
                held.decided = true;
                out.push(Output::ShareDecided {
                    member: *member,
                    id,
                    verdict: ShareVerdict::Valid,
                });
            }
        }
    }
}

/// Gives every share of `entry` still waiting a verdict `Ignored(reason)`.
fn release<S, C>(
    entry: &mut Pending<S>,
    id: ProposalId,
    reason: &'static str,
    out: &mut Vec<Output<S, C>>,
) {
    for (member, held) in &mut entry.shares {
        if !held.decided {
            held.decided = true;
            out.push(Output::ShareDecided {
                member: *member,
                id,
                verdict: ShareVerdict::Ignored(reason),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use blsttc::SecretKeySet;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::certify::scheme::{BlsCommittee, BlsMember};
    use crate::certify::threshold::faulty_max;

    const N: usize = 10;
    /// The member every test proposal is charged to.
    const PROPOSER: MemberIndex = 5;
    type Bls = Collector<BlsCommittee, BlsMember>;

    struct World {
        secret: SecretKeySet,
        nodes: Vec<Bls>,
    }

    fn world(seed: u64) -> World {
        let secret = SecretKeySet::random(faulty_max(N), &mut ChaCha8Rng::seed_from_u64(seed));
        let nodes = (0..N)
            .map(|i| {
                let member = BlsMember::new(i as MemberIndex, secret.secret_key_share(i));
                Collector::new(
                    BlsCommittee::new(secret.public_keys(), N),
                    Some(member),
                    CollectorConfig::default(),
                    BTreeMap::new(),
                )
            })
            .collect();
        World { secret, nodes }
    }

    fn proposal(payload: &[u8]) -> Proposal {
        Proposal {
            epoch: 1,
            slot: "gossip/mesh_n".into(),
            payload: payload.to_vec(),
            affected_ppm: 500_000,
            proposer: vec![1, 2, 3],
            nonce: [4; 16],
            timestamp_unix_ms: 1_800_000_000_000,
        }
    }

    fn shares_of(
        outputs: &[Out<BlsCommittee>],
    ) -> Vec<(MemberIndex, ProposalId, blsttc::SignatureShare)> {
        outputs
            .iter()
            .filter_map(|o| match o {
                Output::PublishShare {
                    member, id, share, ..
                } => Some((*member, *id, share.clone())),
                _ => None,
            })
            .collect()
    }

    fn certified(outputs: &[Out<BlsCommittee>], wanted: &ProposalId) -> bool {
        outputs
            .iter()
            .any(|o| matches!(o, Output::Certified { id, .. } if id == wanted))
    }

    #[test]
    fn a_member_flooding_valid_shares_over_random_ids_cannot_stop_an_honest_proposal() {
        // Member 9 holds the `sign` right and floods 10,000 valid shares for proposals
        // nobody made. Before fair shares, the first 1,024 filled `pending_max` on every
        // node and no honest proposal was signed again (`pending_full`).
        let mut w = world(11);
        let flooder = BlsMember::new(9, w.secret.secret_key_share(9usize));
        let honest = 0..9usize;
        let mut rng = ChaCha8Rng::seed_from_u64(12);
        let mut out = Vec::new();
        for _ in 0..10_000 {
            let id = ProposalId(rand::Rng::gen(&mut rng));
            let share = flooder.sign_share(&signing_message(&id));
            for node in honest.clone() {
                w.nodes[node].on_share(9, id, share.clone(), 1_000, &mut out);
            }
        }
        for node in honest.clone() {
            let collector = &w.nodes[node];
            assert!(
                collector.pending_count() <= collector.pending_share(),
                "the flood holds only the flooder's share of pending entries"
            );
        }
        // Meanwhile member 5 proposes; every honest node hears it and the honest shares.
        let p = proposal(b"honest");
        let mut shares = Vec::new();
        for node in honest.clone() {
            let mut out = Vec::new();
            w.nodes[node]
                .on_proposal(p.clone(), PROPOSER, 2_000, &mut out)
                .expect("the honest proposal finds room");
            shares.extend(shares_of(&out));
        }
        assert_eq!(shares.len(), 9, "every honest member signs it");
        for node in honest {
            let mut out = Vec::new();
            for (member, id, share) in shares.iter().cloned() {
                w.nodes[node].on_share(member, id, share, 2_001, &mut out);
            }
            assert!(
                certified(&out, &p.id()) || w.nodes[node].certified_ids.contains(&p.id()),
                "node {node} certifies the honest proposal"
            );
        }
    }

    #[test]
    fn a_proposer_burning_slot_names_keeps_memory_bounded_and_honest_proposals_certify() {
        // Member 9 proposes a fresh slot name every 50 ms for four simulated hours. Its
        // proposals are charged to it: at most `pending_max / n` uncertified at once, at
        // most `certified_max / n` slots signed or certified in the epoch.
        let config = CollectorConfig {
            pending_max: 100,
            pending_ttl_ms: 120_000,
            certified_max: 1_000,
            share_hold_ms: 200,
        };
        let secret = SecretKeySet::random(faulty_max(N), &mut ChaCha8Rng::seed_from_u64(21));
        let signer = |i: usize| BlsMember::new(i as MemberIndex, secret.secret_key_share(i));
        let mut node = Collector::new(
            BlsCommittee::new(secret.public_keys(), N),
            Some(signer(0)),
            config,
            BTreeMap::new(),
        );
        let others: Vec<BlsMember> = (1..4).map(signer).collect();
        let burner: MemberIndex = 9;
        let mut certified_honest = 0;
        let mut refused = BTreeMap::<&'static str, u64>::new();
        let hours_ms = 4 * 3_600_000u64;
        let mut now_ms = 0;
        let mut serial = 0u64;
        while now_ms < hours_ms {
            serial += 1;
            let mut burn = proposal(b"burn");
            burn.slot = format!("gossip/burn-{serial}");
            burn.timestamp_unix_ms = now_ms;
            let mut out = Vec::new();
            if let Err(reason) = node.on_proposal(burn, burner, now_ms, &mut out) {
                *refused.entry(reason).or_default() += 1;
            }
            if now_ms % 600_000 == 0 {
                // An honest member proposes every ten minutes, and three others sign.
                let mut honest = proposal(b"honest");
                honest.slot = format!("gossip/honest-{now_ms}");
                honest.timestamp_unix_ms = now_ms;
                node.on_proposal(honest.clone(), PROPOSER, now_ms, &mut out)
                    .expect("the honest proposer has room");
                for member in &others {
                    let share = member.sign_share(&signing_message(&honest.id()));
                    node.on_share(member.member(), honest.id(), share, now_ms, &mut out);
                }
                assert!(certified(&out, &honest.id()), "certified at {now_ms} ms");
                certified_honest += 1;
            }
            if now_ms % 1_000 == 0 {
                node.tick(now_ms, &mut out);
            }
            assert!(node.pending_count() <= config.pending_max);
            assert!(node.slots_charged() <= config.certified_max);
            assert!(node.signed.len() <= config.certified_max);
            assert!(node.opened.get(&burner).copied().unwrap_or(0) <= node.pending_share());
            now_ms += 50;
        }
        assert_eq!(certified_honest, 24);
        assert_eq!(
            node.slots_charged.get(&burner).copied(),
            Some(node.slots_share()),
            "the burner used exactly its share of slots"
        );
        assert!(refused["proposer_slots_full"] > 250_000, "{refused:?}");
    }

    #[test]
    fn a_held_share_is_due_exactly_at_its_hold_and_earlier_ticks_do_nothing() {
        // The simulator ticks a node only at `next_due_ms`; that is only sound if a tick
        // before it does nothing.
        let mut w = world(3);
        let p = proposal(b"9");
        let mut out = Vec::new();
        w.nodes[0]
            .on_proposal(p.clone(), PROPOSER, 0, &mut out)
            .unwrap();
        let (member, id, share) = shares_of(&out).pop().expect("member 0 signs");
        let observer = &mut w.nodes[9];
        let mut out = Vec::new();
        assert_eq!(observer.on_share(member, id, share, 1_000, &mut out), None);
        let hold = CollectorConfig::default().share_hold_ms;
        assert_eq!(observer.next_due_ms(), 1_000 + hold);
        let before = out.len();
        observer.tick(1_000 + hold - 1, &mut out);
        assert_eq!(out.len(), before, "nothing is due yet");
        observer.tick(1_000 + hold, &mut out);
        assert!(out[before..].iter().any(|o| matches!(
            o,
            Output::ShareDecided {
                member: 0,
                verdict: ShareVerdict::Valid,
                ..
            }
        )));
        // Nothing held any more: the next timer is the entry's TTL.
        assert_eq!(
            observer.next_due_ms(),
            1_000 + CollectorConfig::default().pending_ttl_ms
        );
    }

    #[test]
    fn honest_committee_certifies_once_t_plus_1_shares_arrive() {
        let mut w = world(1);
        let p = proposal(b"8");
        let mut shares = Vec::new();
        for node in &mut w.nodes[..4] {
            let mut out = Vec::new();
            node.on_proposal(p.clone(), PROPOSER, 0, &mut out).unwrap();
            shares.extend(shares_of(&out));
        }
        assert_eq!(shares.len(), 4);
        // An aggregator outside those four receives the proposal and the shares.
        let aggregator = &mut w.nodes[9];
        let mut out = Vec::new();
        aggregator
            .on_proposal(p.clone(), PROPOSER, 0, &mut out)
            .unwrap();
        for (member, id, share) in shares.into_iter().take(3) {
            aggregator.on_share(member, id, share, 1, &mut out);
        }
        let certificate = out
            .iter()
            .find_map(|o| match o {
                Output::PublishCertificate(c) => Some(c.clone()),
                _ => None,
            })
            .expect("own share + 3 received = t+1");
        assert_eq!(certificate.signers.len(), 4);
        assert!(aggregator
            .certificate(&(1, "gossip/mesh_n".into()))
            .is_some());
        // Every other node accepts it.
        let mut out = Vec::new();
        let verdict = w.nodes[5].on_certificate(certificate.clone(), PROPOSER, 2, &mut out);
        assert_eq!(verdict, CertificateVerdict::Accepted);
        assert!(out.iter().any(|o| matches!(o, Output::Certified { .. })));
        // A second copy costs no pairing and is not forwarded.
        let again = w.nodes[5].on_certificate(certificate, PROPOSER, 3, &mut out);
        assert_eq!(again, CertificateVerdict::Duplicate);
    }

    #[test]
    fn invalid_shares_are_found_dropped_and_reported_and_certification_still_happens() {
        let mut w = world(2);
        let p = proposal(b"8");
        let id = p.id();
        let aggregator = &mut w.nodes[0];
        let mut out = Vec::new();
        aggregator
            .on_proposal(p.clone(), PROPOSER, 0, &mut out)
            .unwrap();
        // Members 1..=3 are Byzantine: valid-looking shares over the wrong message.
        let mut verdicts = Vec::new();
        for m in 1..=3u16 {
            let bad = w.secret.secret_key_share(usize::from(m)).sign(b"forged");
            verdicts.push(aggregator.on_share(m, id, bad, 1, &mut out));
        }
        // The first two wait for a combination; the third completes t+1, the combination
        // fails, and all three are found invalid one by one.
        assert_eq!(
            verdicts,
            vec![None, None, Some(ShareVerdict::Invalid("invalid_share"))]
        );
        let decided: Vec<(MemberIndex, ShareVerdict)> = out
            .iter()
            .filter_map(|o| match o {
                Output::ShareDecided {
                    member, verdict, ..
                } => Some((*member, *verdict)),
                _ => None,
            })
            .collect();
        let invalid = ShareVerdict::Invalid("invalid_share");
        assert_eq!(decided, vec![(1, invalid), (2, invalid)]);
        let evidence: Vec<MemberIndex> = out
            .iter()
            .filter_map(|o| match o {
                Output::InvalidShare { member, .. } => Some(*member),
                _ => None,
            })
            .collect();
        assert_eq!(evidence, vec![1, 2, 3]);
        // A caught member's next share is not looked at.
        let again = w.secret.secret_key_share(1usize).sign(signing_message(&id));
        assert_eq!(
            aggregator.on_share(1, id, again, 1, &mut out),
            Some(ShareVerdict::Ignored("member_caught"))
        );
        assert!(!out
            .iter()
            .any(|o| matches!(o, Output::PublishCertificate(_))));
        let mut verdicts = Vec::new();
        for m in 4..=6u16 {
            let good = w
                .secret
                .secret_key_share(usize::from(m))
                .sign(signing_message(&id));
            verdicts.push(aggregator.on_share(m, id, good, 2, &mut out));
        }
        assert_eq!(verdicts, vec![None, None, Some(ShareVerdict::Valid)]);
        assert!(out.iter().any(|o| matches!(
            o,
            Output::ShareDecided {
                member: 4,
                verdict: ShareVerdict::Valid,
                ..
            }
        )));
        assert!(out
            .iter()
            .any(|o| matches!(o, Output::PublishCertificate(_))));
        // Shares after the certificate are not forwarded.
        let late = w.secret.secret_key_share(7usize).sign(signing_message(&id));
        assert_eq!(
            aggregator.on_share(7, id, late, 3, &mut out),
            Some(ShareVerdict::Ignored("already_certified"))
        );
    }

    #[test]
    fn a_member_never_signs_two_proposals_for_one_slot_even_after_restart() {
        let mut w = world(3);
        let mut out = Vec::new();
        w.nodes[0]
            .on_proposal(proposal(b"8"), PROPOSER, 0, &mut out)
            .unwrap();
        let signed_slot = match &out[0] {
            Output::PublishShare { slot, id, .. } => (slot.clone(), *id),
            other => panic!("expected a share, got {other:?}"),
        };
        // Restart: a new collector built from what the store persisted.
        let member = BlsMember::new(0, w.secret.secret_key_share(0usize));
        let mut restarted: Bls = Collector::new(
            BlsCommittee::new(w.secret.public_keys(), N),
            Some(member),
            CollectorConfig::default(),
            BTreeMap::from([signed_slot]),
        );
        let mut out = Vec::new();
        restarted
            .on_proposal(proposal(b"9"), PROPOSER, 10, &mut out)
            .unwrap();
        assert!(
            shares_of(&out).is_empty(),
            "signed a conflicting proposal after restart"
        );
        assert!(out.iter().any(|o| matches!(
            o,
            Output::Dropped {
                what: "slot_already_signed"
            }
        )));
    }

    #[test]
    fn conflicting_certificates_halt_the_slot_and_name_double_signers() {
        let w = world(4);
        let observer_member = BlsMember::new(9, w.secret.secret_key_share(9usize));
        let mut observer: Bls = Collector::new(
            BlsCommittee::new(w.secret.public_keys(), N),
            Some(observer_member),
            CollectorConfig::default(),
            BTreeMap::new(),
        );
        let (pa, pb) = (proposal(b"8"), proposal(b"9"));
        // Members 0..=2 are faulty and sign both; 3 signs A, 4 signs B.
        let certify = |p: &Proposal, members: &[usize]| {
            let message = signing_message(&p.id());
            let scheme = BlsCommittee::new(w.secret.public_keys(), N);
            let shares: Vec<_> = members
                .iter()
                .map(|&m| {
                    (
                        m as MemberIndex,
                        w.secret.secret_key_share(m).sign(&message),
                    )
                })
                .collect();
            (shares.clone(), scheme.combine(&shares).unwrap())
        };
        let (shares_a, sig_a) = certify(&pa, &[0, 1, 2, 3]);
        let (shares_b, sig_b) = certify(&pb, &[0, 1, 2, 4]);
        let mut out = Vec::new();
        observer
            .on_proposal(pa.clone(), PROPOSER, 0, &mut out)
            .unwrap(); // observer signs A itself
        for (m, s) in shares_b.iter().cloned() {
            observer.on_share(m, pb.id(), s, 0, &mut out);
        }
        for (m, s) in shares_a.iter().take(3).cloned() {
            observer.on_share(m, pa.id(), s, 0, &mut out);
        }
        let verdict_b = observer.on_certificate(
            Certificate {
                proposal: pb.clone(),
                signers: vec![0, 1, 2, 4],
                signature: sig_b.clone(),
            },
            PROPOSER,
            1,
            &mut out,
        );
        let verdict_a = observer.on_certificate(
            Certificate {
                proposal: pa.clone(),
                signers: vec![0, 1, 2, 3],
                signature: sig_a,
            },
            PROPOSER,
            1,
            &mut out,
        );
        // The conflicting one is forwarded (every node must learn of the conflict); A was
        // certified here already from its shares.
        assert_eq!(verdict_b, CertificateVerdict::Accepted);
        assert_eq!(verdict_a, CertificateVerdict::Duplicate);
        let conflict = out
            .iter()
            .find_map(|o| match o {
                Output::Conflict { double_signers, .. } => Some(double_signers.clone()),
                _ => None,
            })
            .expect("the conflict is detected");
        assert_eq!(conflict, vec![0, 1, 2]);
        let slot: SlotKey = (1, "gossip/mesh_n".into());
        assert!(observer.is_halted(&slot));

        // A ballot settles the slot on B: it holds B and is open again. An uncertified
        // proposal, or a slot that is not halted, settles nothing.
        let mut unknown = pb.clone();
        unknown.payload = b"never certified".to_vec();
        let fake = Certificate {
            proposal: unknown,
            signers: vec![0, 1, 2, 4],
            signature: sig_b.clone(),
        };
        assert!(!observer.settle(&slot, fake));
        assert!(observer.is_halted(&slot));
        let chosen = Certificate {
            proposal: pb.clone(),
            signers: vec![0, 1, 2, 4],
            signature: sig_b.clone(),
        };
        assert!(observer.settle(&slot, chosen.clone()));
        assert!(!observer.is_halted(&slot));
        assert_eq!(observer.certificate(&slot).unwrap().proposal.id(), pb.id());
        assert!(!observer.settle(&slot, chosen));
    }

    #[test]
    fn forged_certificates_and_unknown_members_are_rejected() {
        let mut w = world(5);
        let other = world(6);
        let p = proposal(b"8");
        let message = signing_message(&p.id());
        let shares: Vec<_> = (0..4)
            .map(|m| {
                (
                    m as MemberIndex,
                    other.secret.secret_key_share(m).sign(&message),
                )
            })
            .collect();
        let forged = BlsCommittee::new(other.secret.public_keys(), N)
            .combine(&shares)
            .unwrap();
        let mut out = Vec::new();
        let verdict = w.nodes[0].on_certificate(
            Certificate {
                proposal: p.clone(),
                signers: vec![0, 1, 2, 3],
                signature: forged,
            },
            PROPOSER,
            0,
            &mut out,
        );
        assert_eq!(verdict, CertificateVerdict::Rejected("invalid_signature"));
        assert!(out.is_empty());
        let share = w.secret.secret_key_share(0usize).sign(&message);
        assert_eq!(
            w.nodes[0].on_share(N as MemberIndex, p.id(), share, 0, &mut out),
            Some(ShareVerdict::Invalid("unknown_member"))
        );
    }

    /// A proposal that cannot gather enough shares lives its lifetime from its own
    /// timestamp, wherever and whenever a node first saw it, then expires with what it
    /// had; one seen by a node only later expires at the same moment.
    #[test]
    fn a_proposal_expires_at_its_own_timestamp_plus_the_lifetime_with_its_shares_counted() {
        let w = world(11);
        let config = CollectorConfig {
            pending_ttl_ms: 60_000,
            ..CollectorConfig::default()
        };
        let mut collectors: Vec<Bls> = (0..2)
            .map(|_| {
                Collector::new(
                    BlsCommittee::new(w.secret.public_keys(), N),
                    None,
                    config,
                    BTreeMap::new(),
                )
            })
            .collect();
        let mut p = proposal(b"lonely");
        p.timestamp_unix_ms = 1_000;
        let id = p.id();
        let share = w.secret.secret_key_share(1usize).sign(signing_message(&id));
        let mut out = Vec::new();
        // Node 0 sees it at once, node 1 forty seconds later (it was cut off).
        for (collector, seen_ms) in collectors.iter_mut().zip([1_000, 41_000]) {
            collector
                .on_proposal(p.clone(), PROPOSER, seen_ms, &mut out)
                .unwrap();
            collector.on_share(1, id, share.clone(), seen_ms, &mut out);
            let state = collector.pending_state(&id).unwrap();
            assert_eq!((state.shares, state.expires_ms), (1, 61_000));
            assert_eq!(state.needed, w.secret.threshold() + 1);
        }
        for collector in &mut collectors {
            let mut out = Vec::new();
            collector.tick(60_999, &mut out);
            assert!(
                collector.pending_state(&id).is_some(),
                "alive until its time"
            );
            collector.tick(61_000, &mut out);
            assert!(collector.pending_state(&id).is_none());
            assert!(out.iter().any(|o| matches!(
                o,
                Output::Expired { id: expired, shares: 1, needed }
                    if *expired == id && *needed == w.secret.threshold() + 1
            )));
        }
    }

    #[test]
    fn pending_is_bounded_and_expires() {
        let w = world(7);
        let mut collector: Bls = Collector::new(
            BlsCommittee::new(w.secret.public_keys(), N),
            None,
            CollectorConfig {
                // Each member's share: 20 / 10 = 2 uncertified entries.
                pending_max: 20,
                pending_ttl_ms: 100,
                certified_max: 80,
                share_hold_ms: 10,
            },
            BTreeMap::new(),
        );
        let mut out = Vec::new();
        for payload in [b"1", b"2", b"3"] {
            // Stamped at 0: each lives until 0 + the lifetime.
            let mut stamped = proposal(payload);
            stamped.timestamp_unix_ms = 0;
            let _ = collector.on_proposal(stamped, PROPOSER, 0, &mut out);
        }
        assert_eq!(
            out.iter()
                .filter(|o| matches!(
                    o,
                    Output::Dropped {
                        what: "pending_full"
                    }
                ))
                .count(),
            1
        );
        let mut out = Vec::new();
        collector.tick(100, &mut out);
        assert_eq!(
            out.iter()
                .filter(|o| matches!(
                    o,
                    Output::Dropped {
                        what: "pending_expired"
                    }
                ))
                .count(),
            2
        );
    }

    #[test]
    fn a_held_share_is_verified_on_its_own_when_no_combination_comes() {
        let w = world(8);
        let mut collector: Bls = Collector::new(
            BlsCommittee::new(w.secret.public_keys(), N),
            None,
            CollectorConfig::default(),
            BTreeMap::new(),
        );
        let id = proposal(b"8").id();
        let good = w.secret.secret_key_share(2usize).sign(signing_message(&id));
        let bad = w.secret.secret_key_share(3usize).sign(b"other");
        let mut out = Vec::new();
        assert_eq!(collector.on_share(2, id, good, 1_000, &mut out), None);
        assert_eq!(collector.on_share(3, id, bad, 1_050, &mut out), None);
        let hold = CollectorConfig::default().share_hold_ms;
        // Just before the first hold ends nothing is decided.
        collector.tick(1_000 + hold - 1, &mut out);
        assert!(out.is_empty(), "{out:?}");
        collector.tick(1_000 + hold, &mut out);
        assert!(matches!(
            out.as_slice(),
            [Output::ShareDecided {
                member: 2,
                verdict: ShareVerdict::Valid,
                ..
            }]
        ));
        out.clear();
        collector.tick(1_050 + hold, &mut out);
        assert!(matches!(
            out.as_slice(),
            [
                Output::ShareDecided {
                    member: 3,
                    verdict: ShareVerdict::Invalid("invalid_share"),
                    ..
                },
                Output::InvalidShare { member: 3, .. }
            ]
        ));
        // Expiry releases nothing twice: both shares were decided already.
        out.clear();
        collector.tick(1_000 + CollectorConfig::default().pending_ttl_ms, &mut out);
        assert!(
            matches!(
                out.as_slice(),
                [
                    // The invalid share was dropped: one valid share held.
                    Output::Expired { shares: 1, .. },
                    Output::Dropped {
                        what: "pending_expired"
                    }
                ]
            ),
            "{out:?}"
        );
    }

    #[test]
    fn restored_certificates_block_conflicts_after_a_restart() {
        let w = world(9);
        let (pa, pb) = (proposal(b"8"), proposal(b"9"));
        let sign = |p: &Proposal| {
            let message = signing_message(&p.id());
            let shares: Vec<_> = (0..4)
                .map(|m| {
                    (
                        m as MemberIndex,
                        w.secret.secret_key_share(m).sign(&message),
                    )
                })
                .collect();
            BlsCommittee::new(w.secret.public_keys(), N)
                .combine(&shares)
                .unwrap()
        };
        let mut restarted: Bls = Collector::new(
            BlsCommittee::new(w.secret.public_keys(), N),
            None,
            CollectorConfig::default(),
            BTreeMap::new(),
        );
        let mut out = Vec::new();
        restarted.restore(
            Certificate {
                proposal: pa.clone(),
                signers: vec![0, 1, 2, 3],
                signature: sign(&pa),
            },
            PROPOSER,
            &mut out,
        );
        assert!(matches!(
            out.as_slice(),
            [Output::Certified {
                collecting_ms: None,
                ..
            }]
        ));
        out.clear();
        let verdict = restarted.on_certificate(
            Certificate {
                proposal: pb.clone(),
                signers: vec![0, 1, 2, 3],
                signature: sign(&pb),
            },
            PROPOSER,
            5,
            &mut out,
        );
        assert_eq!(verdict, CertificateVerdict::Accepted);
        assert!(matches!(out.as_slice(), [Output::Conflict { .. }]));
        assert!(restarted.is_halted(&(1, "gossip/mesh_n".into())));
    }
}
