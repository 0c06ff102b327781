//! The signature-collection core: a deterministic state machine. Inputs are proposals,
//! shares, certificates and ticks with `now`; outputs say what to persist, publish, reject
//! and report. No clock, no I/O, BTreeMaps only.
//!
//! Rules it enforces:
//! * a member signs at most one proposal per (epoch, slot); the shell persists that
//!   choice before it publishes the share ([`Output::PublishShare`]);
//! * combine first: t+1 shares are combined and the result verified once; only if that
//!   fails is each share verified, and the invalid ones are dropped and their senders
//!   reported;
//! * two valid certificates for one (epoch, slot) and different proposals halt the slot
//!   and name the members whose valid shares endorse both.

use std::collections::{BTreeMap, BTreeSet};

use super::proposal::{Proposal, ProposalId};
use super::scheme::{signing_message, MemberIndex, ShareSigner, ThresholdScheme};

/// Bounds of the collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CollectorConfig {
    /// Proposals being collected at once; beyond it new ones are refused (and counted).
    pub pending_max: usize,
    /// A proposal not certified within this long is forgotten.
    pub pending_ttl_ms: u64,
    /// Slots whose certificate is remembered (for conflict detection).
    pub certified_max: usize,
}

impl Default for CollectorConfig {
    fn default() -> Self {
        CollectorConfig {
            pending_max: 1024,
            pending_ttl_ms: 120_000,
            certified_max: 65_536,
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

/// What the shell must do.
#[derive(Debug, Clone)]
pub enum Output<S, C> {
    /// Persist `(epoch, slot) -> id` as signed, then publish the share. Never the other
    /// order: after a crash the node must know it already signed this slot.
    PublishShare {
        slot: SlotKey,
        id: ProposalId,
        member: MemberIndex,
        share: S,
    },
    /// A certificate formed here: persist it, then publish it.
    PublishCertificate(Certificate<C>),
    /// A valid certificate was accepted for this slot (formed here or received).
    Certified { slot: SlotKey, id: ProposalId },
    /// A member sent an invalid share: penalise the sender and keep the evidence.
    RejectShare {
        member: MemberIndex,
        id: ProposalId,
        reason: &'static str,
    },
    /// A received certificate failed verification.
    RejectCertificate {
        id: ProposalId,
        reason: &'static str,
    },
    /// Two valid certificates for one slot: the slot is halted until a ballot settles it.
    Conflict {
        slot: SlotKey,
        ids: [ProposalId; 2],
        double_signers: Vec<MemberIndex>,
    },
    /// Something was refused for a bound or a rule; `what` is the metric label.
    Dropped { what: &'static str },
}

struct Pending<S> {
    proposal: Option<Proposal>,
    /// First share per member; unverified until a combination fails.
    shares: BTreeMap<MemberIndex, S>,
    first_seen_ms: u64,
    certified: bool,
}

/// The collection state machine for one committee.
pub struct Collector<S: ThresholdScheme, K> {
    scheme: S,
    signer: Option<K>,
    config: CollectorConfig,
    signed: BTreeMap<SlotKey, ProposalId>,
    pending: BTreeMap<ProposalId, Pending<S::Share>>,
    certified: BTreeMap<SlotKey, Certificate<S::Certificate>>,
    halted: BTreeSet<SlotKey>,
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
            certified: BTreeMap::new(),
            halted: BTreeSet::new(),
        }
    }

    pub fn is_halted(&self, slot: &SlotKey) -> bool {
        self.halted.contains(slot)
    }

    pub fn certificate(&self, slot: &SlotKey) -> Option<&Certificate<S::Certificate>> {
        self.certified.get(slot)
    }

    /// A proposal arrived (already checked for rights and replay by the shell).
    pub fn on_proposal(&mut self, proposal: Proposal, now_ms: u64, out: &mut Vec<Out<S>>) {
        let id = proposal.id();
        let slot: SlotKey = (proposal.epoch, proposal.slot.clone());
        if !self.entry(id, now_ms, out) {
            return;
        }
        let entry = self.pending.get_mut(&id).expect("entry just ensured");
        entry.proposal.get_or_insert(proposal);
        if self.halted.contains(&slot) {
            out.push(Output::Dropped {
                what: "slot_halted",
            });
            return;
        }
        if let Some(signer) = &self.signer {
            match self.signed.get(&slot) {
                Some(signed_id) if *signed_id != id => out.push(Output::Dropped {
                    what: "slot_already_signed",
                }),
                Some(_) => {} // signed this very proposal before (a restart): nothing new
                None => {
                    let share = signer.sign_share(&signing_message(&id));
                    let member = signer.member();
                    self.signed.insert(slot.clone(), id);
                    entry.shares.insert(member, share.clone());
                    out.push(Output::PublishShare {
                        slot,
                        id,
                        member,
                        share,
                    });
                }
            }
        }
        self.try_certify(id, out);
    }

    /// A share from `member` for proposal `id` arrived.
    pub fn on_share(
        &mut self,
        member: MemberIndex,
        id: ProposalId,
        share: S::Share,
        now_ms: u64,
        out: &mut Vec<Out<S>>,
    ) {
        if usize::from(member) >= self.scheme.committee_size() {
            out.push(Output::RejectShare {
                member,
                id,
                reason: "unknown_member",
            });
            return;
        }
        if !self.entry(id, now_ms, out) {
            return;
        }
        let entry = self.pending.get_mut(&id).expect("entry just ensured");
        if entry.certified {
            return; // late share: the certificate exists already
        }
        if entry.shares.contains_key(&member) {
            out.push(Output::Dropped {
                what: "duplicate_share",
            });
            return;
        }
        entry.shares.insert(member, share);
        self.try_certify(id, out);
    }

    /// A certificate arrived from the network.
    pub fn on_certificate(
        &mut self,
        certificate: Certificate<S::Certificate>,
        out: &mut Vec<Out<S>>,
    ) {
        let id = certificate.proposal.id();
        if certificate.proposal.check().is_err() {
            out.push(Output::RejectCertificate {
                id,
                reason: "malformed_proposal",
            });
            return;
        }
        if !self
            .scheme
            .verify_certificate(&signing_message(&id), &certificate.signature)
        {
            out.push(Output::RejectCertificate {
                id,
                reason: "invalid_signature",
            });
            return;
        }
        self.accept(certificate, out);
    }

    /// Forgets proposals that did not certify in time.
    pub fn tick(&mut self, now_ms: u64, out: &mut Vec<Out<S>>) {
        let ttl = self.config.pending_ttl_ms;
        let before = self.pending.len();
        self.pending
            .retain(|_, p| now_ms.saturating_sub(p.first_seen_ms) < ttl);
        for _ in self.pending.len()..before {
            out.push(Output::Dropped {
                what: "pending_expired",
            });
        }
    }

    /// Ensures a pending entry for `id`; false (and a drop) when the bound is reached.
    fn entry(&mut self, id: ProposalId, now_ms: u64, out: &mut Vec<Out<S>>) -> bool {
        if self.pending.contains_key(&id) {
            return true;
        }
        if self.pending.len() >= self.config.pending_max {
            out.push(Output::Dropped {
                what: "pending_full",
            });
            return false;
        }
        self.pending.insert(
            id,
            Pending {
                proposal: None,
                shares: BTreeMap::new(),
                first_seen_ms: now_ms,
                certified: false,
            },
        );
        true
    }

    fn try_certify(&mut self, id: ProposalId, out: &mut Vec<Out<S>>) {
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
            .map(|(m, s)| (*m, s.clone()))
            .collect();
        let combined = self
            .scheme
            .combine(&chosen)
            .filter(|signature| self.scheme.verify_certificate(&message, signature));
        let (signers, signature) = match combined {
            Some(signature) => (
                chosen.iter().map(|(m, _)| *m).collect::<Vec<_>>(),
                signature,
            ),
            None => {
                // Combine failed: find the bad shares one by one, drop and report them.
                let bad = self.scheme.invalid_shares(&message, &chosen);
                assert!(!bad.is_empty(), "a failed combination has an invalid share");
                for member in &bad {
                    entry.shares.remove(member);
                    out.push(Output::RejectShare {
                        member: *member,
                        id,
                        reason: "invalid_share",
                    });
                }
                // The remaining shares may reach the threshold again.
                return self.try_certify(id, out);
            }
        };
        entry.certified = true;
        let certificate = Certificate {
            proposal: entry.proposal.clone().expect("checked above"),
            signers,
            signature,
        };
        out.push(Output::PublishCertificate(certificate.clone()));
        self.accept(certificate, out);
    }

    /// Records a verified certificate for its slot; detects conflicts.
    fn accept(&mut self, certificate: Certificate<S::Certificate>, out: &mut Vec<Out<S>>) {
        let id = certificate.proposal.id();
        let slot: SlotKey = (
            certificate.proposal.epoch,
            certificate.proposal.slot.clone(),
        );
        if let Some(pending) = self.pending.get_mut(&id) {
            pending.certified = true;
        }
        match self.certified.get(&slot) {
            Some(existing) if existing.proposal.id() == id => {} // seen already
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
                if self.certified.len() >= self.config.certified_max {
                    out.push(Output::Dropped {
                        what: "certified_full",
                    });
                    return;
                }
                self.certified.insert(slot.clone(), certificate);
                out.push(Output::Certified { slot, id });
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
            .filter(|(m, s)| self.scheme.verify_share(**m, &ma, s))
            .filter(|(m, _)| {
                pb.shares
                    .get(*m)
                    .is_some_and(|s| self.scheme.verify_share(**m, &mb, s))
            })
            .map(|(m, _)| *m)
            .collect()
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

    #[test]
    fn honest_committee_certifies_once_t_plus_1_shares_arrive() {
        let mut w = world(1);
        let p = proposal(b"8");
        let mut shares = Vec::new();
        for node in &mut w.nodes[..4] {
            let mut out = Vec::new();
            node.on_proposal(p.clone(), 0, &mut out);
            shares.extend(shares_of(&out));
        }
        assert_eq!(shares.len(), 4);
        // An aggregator outside those four receives the proposal and the shares.
        let aggregator = &mut w.nodes[9];
        let mut out = Vec::new();
        aggregator.on_proposal(p.clone(), 0, &mut out);
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
        w.nodes[5].on_certificate(certificate, &mut out);
        assert!(out.iter().any(|o| matches!(o, Output::Certified { .. })));
    }

    #[test]
    fn invalid_shares_are_found_dropped_and_reported_and_certification_still_happens() {
        let mut w = world(2);
        let p = proposal(b"8");
        let id = p.id();
        let aggregator = &mut w.nodes[0];
        let mut out = Vec::new();
        aggregator.on_proposal(p.clone(), 0, &mut out);
        // Members 1..=3 are Byzantine: valid-looking shares over the wrong message.
        for m in 1..=3u16 {
            let bad = w.secret.secret_key_share(usize::from(m)).sign(b"forged");
            aggregator.on_share(m, id, bad, 1, &mut out);
        }
        let rejected: Vec<MemberIndex> = out
            .iter()
            .filter_map(|o| match o {
                Output::RejectShare {
                    member,
                    reason: "invalid_share",
                    ..
                } => Some(*member),
                _ => None,
            })
            .collect();
        assert_eq!(rejected, vec![1, 2, 3]);
        assert!(!out
            .iter()
            .any(|o| matches!(o, Output::PublishCertificate(_))));
        for m in 4..=6u16 {
            let good = w
                .secret
                .secret_key_share(usize::from(m))
                .sign(signing_message(&id));
            aggregator.on_share(m, id, good, 2, &mut out);
        }
        assert!(out
            .iter()
            .any(|o| matches!(o, Output::PublishCertificate(_))));
    }

    #[test]
    fn a_member_never_signs_two_proposals_for_one_slot_even_after_restart() {
        let mut w = world(3);
        let mut out = Vec::new();
        w.nodes[0].on_proposal(proposal(b"8"), 0, &mut out);
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
        restarted.on_proposal(proposal(b"9"), 10, &mut out);
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
        observer.on_proposal(pa.clone(), 0, &mut out); // observer signs A itself
        for (m, s) in shares_b.iter().cloned() {
            observer.on_share(m, pb.id(), s, 0, &mut out);
        }
        for (m, s) in shares_a.iter().take(3).cloned() {
            observer.on_share(m, pa.id(), s, 0, &mut out);
        }
        observer.on_certificate(
            Certificate {
                proposal: pb.clone(),
                signers: vec![0, 1, 2, 4],
                signature: sig_b,
            },
            &mut out,
        );
        observer.on_certificate(
            Certificate {
                proposal: pa.clone(),
                signers: vec![0, 1, 2, 3],
                signature: sig_a,
            },
            &mut out,
        );
        let conflict = out
            .iter()
            .find_map(|o| match o {
                Output::Conflict { double_signers, .. } => Some(double_signers.clone()),
                _ => None,
            })
            .expect("the conflict is detected");
        assert_eq!(conflict, vec![0, 1, 2]);
        assert!(observer.is_halted(&(1, "gossip/mesh_n".into())));
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
        w.nodes[0].on_certificate(
            Certificate {
                proposal: p.clone(),
                signers: vec![0, 1, 2, 3],
                signature: forged,
            },
            &mut out,
        );
        assert!(matches!(
            out[0],
            Output::RejectCertificate {
                reason: "invalid_signature",
                ..
            }
        ));
        let mut out = Vec::new();
        let share = w.secret.secret_key_share(0usize).sign(&message);
        w.nodes[0].on_share(N as MemberIndex, p.id(), share, 0, &mut out);
        assert!(matches!(
            out[0],
            Output::RejectShare {
                reason: "unknown_member",
                ..
            }
        ));
    }

    #[test]
    fn pending_is_bounded_and_expires() {
        let w = world(7);
        let mut collector: Bls = Collector::new(
            BlsCommittee::new(w.secret.public_keys(), N),
            None,
            CollectorConfig {
                pending_max: 2,
                pending_ttl_ms: 100,
                certified_max: 8,
            },
            BTreeMap::new(),
        );
        let mut out = Vec::new();
        for payload in [b"1", b"2", b"3"] {
            collector.on_proposal(proposal(payload), 0, &mut out);
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
}
