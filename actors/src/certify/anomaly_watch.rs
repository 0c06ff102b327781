//! The anomaly limits over the certificates this node accepts: the sans-IO
//! [`AnomalyLimits`] core of `x0_core::anomaly`, with its metrics and log lines.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use x0_core::anomaly::{AnomalyEvent, AnomalyLimits, Change, Decision, Level};
use x0_core::certify::proposal::ProposalId;

/// The anomaly limits over accepted certificates: the sans-IO [`AnomalyLimits`] core,
/// with its metrics and log lines. A certificate whose change would pass the halt line is
/// still held (it is valid), but the change is reported as not applied.
pub struct AnomalyWatch {
    pub(super) limits: AnomalyLimits,
    /// The network's size as the operator states it (`[anomaly] network_nodes`), or the
    /// committee's when unset: the percentages are of this many nodes.
    network_nodes: u64,
    level: Gauge,
    changed_nodes: Gauge,
    changes: Family<OutcomeLabel, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: &'static str,
}

impl AnomalyWatch {
    pub fn new(limits: AnomalyLimits, network_nodes: u64, registry: &mut Registry) -> AnomalyWatch {
        assert!(network_nodes > 0, "a network has at least this node");
        let watch = AnomalyWatch {
            limits,
            network_nodes,
            level: Gauge::default(),
            changed_nodes: Gauge::default(),
            changes: Family::default(),
        };
        registry.register(
            "anomaly_level",
            "Change-rate level over the rolling window: 0 normal, 1 warning, 2 halted",
            watch.level.clone(),
        );
        registry.register(
            "anomaly_changed_nodes",
            "Nodes affected by changes applied within the rolling window",
            watch.changed_nodes.clone(),
        );
        registry.register(
            "anomaly_changes",
            "Certified changes by outcome (applied, duplicate, or the refusal reason)",
            watch.changes.clone(),
        );
        watch
    }

    pub(super) fn on_certified(&mut self, id: &ProposalId, affected_ppm: u32, now_ms: u64) {
        // Round up: a change that touches any share of the network touches a node.
        let affected_nodes = (u64::from(affected_ppm) * self.network_nodes).div_ceil(1_000_000);
        let change = Change {
            id: id.0,
            affected_nodes,
            network_nodes: self.network_nodes,
            certified: true,
        };
        let mut events = Vec::new();
        let outcome = match self.limits.on_change(change, now_ms, &mut events) {
            Decision::Applied { .. } => "applied",
            Decision::Duplicate { .. } => "duplicate",
            Decision::Refused(refusal) => {
                tracing::error!(id = %hex::encode(id.0), affected_nodes, reason = refusal.as_str(), "change not applied: anomaly limits");
                refusal.as_str()
            }
        };
        self.changes.get_or_create(&OutcomeLabel { outcome }).inc();
        self.report(events, now_ms);
    }

    pub(super) fn tick(&mut self, now_ms: u64) {
        let mut events = Vec::new();
        self.limits.tick(now_ms, &mut events);
        self.report(events, now_ms);
    }

    pub(super) fn report(&mut self, events: Vec<AnomalyEvent>, now_ms: u64) {
        for event in events {
            match event {
                AnomalyEvent::LevelChanged {
                    from,
                    to,
                    changed_nodes,
                } => match to {
                    Level::Halted => tracing::error!(
                        from = from.as_str(),
                        changed_nodes,
                        "anomaly: changes halted until the window passes or a ballot lifts it"
                    ),
                    Level::Warning => tracing::warn!(
                        from = from.as_str(),
                        changed_nodes,
                        "anomaly: change-rate warning"
                    ),
                    Level::Normal => tracing::info!(
                        from = from.as_str(),
                        changed_nodes,
                        "anomaly: back to normal"
                    ),
                },
                AnomalyEvent::Overridden {
                    discounted_nodes, ..
                } => {
                    tracing::warn!(discounted_nodes, "anomaly: halt lifted by a ballot")
                }
            }
        }
        let status = self.limits.status(now_ms);
        self.level.set(status.level.gauge());
        self.changed_nodes
            .set(status.changed_nodes_in_window as i64);
    }
}
