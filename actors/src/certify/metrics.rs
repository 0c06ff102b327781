//! The certify actor's metrics (`x0_certificate_*`, `x0_shares_*`, `x0_certify_*`).

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

/// Metrics of certificate collection, registered once in the node's registry.
#[derive(Clone)]
pub struct CertifyMetrics {
    pub formation_seconds: Histogram,
    pub certificates: Family<OriginLabel, Counter>,
    pub shares_received: Family<ClassLabel, Counter>,
    pub shares_rejected: Family<ReasonLabel, Counter>,
    pub shares_ignored: Family<ReasonLabel, Counter>,
    pub certificates_rejected: Family<ReasonLabel, Counter>,
    pub proposals_ignored: Family<ReasonLabel, Counter>,
    pub conflicts: Counter,
    pub evidence: Family<KindLabel, Counter>,
    pub dropped: Family<WhatLabel, Counter>,
    pub journal_failures: Counter,
    pub republished: Counter,
    pub pending: Gauge,
    pub held_verdicts: Gauge,
    pub halted_slots: Gauge,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct OriginLabel {
    pub origin: &'static str,
}
#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct ClassLabel {
    pub class: &'static str,
}
#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}
#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct KindLabel {
    pub kind: &'static str,
}
#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct WhatLabel {
    pub what: &'static str,
}

/// Formation buckets, seconds: the target is a certificate within seconds of a proposal.
const FORMATION_BUCKETS_SECONDS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

impl CertifyMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let m = CertifyMetrics {
            formation_seconds: Histogram::new(FORMATION_BUCKETS_SECONDS.iter().copied()),
            certificates: Family::default(),
            shares_received: Family::default(),
            shares_rejected: Family::default(),
            shares_ignored: Family::default(),
            certificates_rejected: Family::default(),
            proposals_ignored: Family::default(),
            conflicts: Counter::default(),
            evidence: Family::default(),
            dropped: Family::default(),
            journal_failures: Counter::default(),
            republished: Counter::default(),
            pending: Gauge::default(),
            held_verdicts: Gauge::default(),
            halted_slots: Gauge::default(),
        };
        registry.register_with_unit(
            "certificate_formation",
            "First sight of a proposal or share here to its certificate (formed here or received)",
            Unit::Seconds,
            m.formation_seconds.clone(),
        );
        registry.register(
            "certificates",
            "Valid certificates accepted, by origin (formed here, received, restored)",
            m.certificates.clone(),
        );
        registry.register(
            "shares_received",
            "Signature shares received from the network, by key set",
            m.shares_received.clone(),
        );
        registry.register(
            "shares_rejected",
            "Signature shares rejected, by reason",
            m.shares_rejected.clone(),
        );
        registry.register(
            "shares_ignored",
            "Signature shares not forwarded though not invalid (duplicate, late, no room), by reason",
            m.shares_ignored.clone(),
        );
        registry.register(
            "certificates_rejected",
            "Certificates rejected, by reason",
            m.certificates_rejected.clone(),
        );
        registry.register(
            "proposals_ignored",
            "Proposals not acted on, by reason",
            m.proposals_ignored.clone(),
        );
        registry.register(
            "certificate_conflicts",
            "Slots halted by two valid certificates for different proposals",
            m.conflicts.clone(),
        );
        registry.register(
            "evidence",
            "Evidence records of misbehaviour, by kind",
            m.evidence.clone(),
        );
        registry.register(
            "certify_dropped",
            "Proposals, shares or publications dropped by a bound or rule, by what",
            m.dropped.clone(),
        );
        registry.register(
            "certify_journal_failures",
            "Writes to the store that failed; nothing was published for them",
            m.journal_failures.clone(),
        );
        registry.register(
            "certificates_republished",
            "Certificates this member published again for nodes that missed them",
            m.republished.clone(),
        );
        registry.register(
            "certify_pending_proposals",
            "Proposals being collected",
            m.pending.clone(),
        );
        registry.register(
            "certify_held_verdicts",
            "Share messages waiting for their verdict",
            m.held_verdicts.clone(),
        );
        registry.register(
            "certify_halted_slots",
            "Slots halted by a conflict, waiting for a ballot",
            m.halted_slots.clone(),
        );
        m
    }

    pub(super) fn drop(&self, what: &'static str) {
        self.dropped.get_or_create(&WhatLabel { what }).inc();
    }
}
