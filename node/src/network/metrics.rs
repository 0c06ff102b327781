//! `x0_` metrics of the network shell: what upstream gossipsub does not count.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TopicLabel {
    pub topic: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TopicReasonLabel {
    pub topic: String,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerdictLabel {
    pub topic: String,
    pub verdict: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CommandLabel {
    pub command: String,
}

/// Families registered under the `x0_` prefix by the network actor.
#[derive(Clone)]
pub struct NetworkMetrics {
    /// `x0_gossip_messages_validated_total{topic,verdict}`: every verdict an owner returned.
    pub validated: Family<VerdictLabel, Counter>,
    /// `x0_gossip_messages_rejected_total{topic,reason}`: Rejects, by the owner's reason.
    pub rejected: Family<TopicReasonLabel, Counter>,
    /// `x0_gossip_messages_ignored_total{topic,reason}`: Ignores, by the owner's reason.
    pub ignored: Family<TopicReasonLabel, Counter>,
    /// `x0_gossip_validation_dropped_total{reason}`: messages no owner judged (overload,
    /// no owner, owner gone); gossipsub is told Ignore, so they are not forwarded.
    pub validation_dropped: Family<ReasonLabel, Counter>,
    /// `x0_gossip_validation_inflight`: messages waiting for a verdict now.
    pub validation_inflight: Gauge,
    /// `x0_peers_connected`: peers with at least one connection.
    pub peers_connected: Gauge,
    /// `x0_network_commands_dropped_total{command}`: commands to the swarm task refused
    /// because its bounded queue was full.
    pub commands_dropped: Family<CommandLabel, Counter>,
    /// `x0_peer_events_dropped_total`: connect/disconnect notices not delivered to the
    /// network actor because its mailbox was full (watchers miss them; the gauge does not).
    pub peer_events_dropped: Counter,
    /// `x0_sync_transport_dropped_total{what}`: sync requests or answers the network
    /// shell dropped (its tables full, the actor's mailbox full).
    pub sync_dropped: Family<ReasonLabel, Counter>,
}

impl NetworkMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = NetworkMetrics {
            validated: Family::default(),
            rejected: Family::default(),
            ignored: Family::default(),
            validation_dropped: Family::default(),
            validation_inflight: Gauge::default(),
            peers_connected: Gauge::default(),
            commands_dropped: Family::default(),
            peer_events_dropped: Counter::default(),
            sync_dropped: Family::default(),
        };
        registry.register(
            "gossip_messages_validated",
            "Gossip messages judged by their topic's owner, by verdict",
            metrics.validated.clone(),
        );
        registry.register(
            "gossip_messages_rejected",
            "Gossip messages rejected as invalid, by reason; each penalises its sender",
            metrics.rejected.clone(),
        );
        registry.register(
            "gossip_messages_ignored",
            "Gossip messages refused without a penalty (stale, replayed, already known, no room), by reason",
            metrics.ignored.clone(),
        );
        registry.register(
            "gossip_validation_dropped",
            "Gossip messages not judged (ignored, not forwarded), by reason",
            metrics.validation_dropped.clone(),
        );
        registry.register(
            "gossip_validation_inflight",
            "Gossip messages waiting for their owner's verdict",
            metrics.validation_inflight.clone(),
        );
        registry.register(
            "peers_connected",
            "Peers with at least one open connection",
            metrics.peers_connected.clone(),
        );
        registry.register(
            "network_commands_dropped",
            "Commands to the network task dropped because its queue was full, by command",
            metrics.commands_dropped.clone(),
        );
        registry.register(
            "peer_events_dropped",
            "Peer connect/disconnect notices dropped because the network actor was overloaded",
            metrics.peer_events_dropped.clone(),
        );
        registry.register(
            "sync_transport_dropped",
            "Sync requests or answers the network shell dropped, by reason: inbound_full, mailbox_full, inbound_failed, inbound_abandoned (a request whose answer never came, freed once libp2p closed its channel: timed out, which also counts inbound_failed, or its peer gone)",
            metrics.sync_dropped.clone(),
        );
        metrics
    }

    pub fn drop_validation(&self, reason: &str) {
        self.validation_dropped
            .get_or_create(&ReasonLabel {
                reason: reason.to_string(),
            })
            .inc();
    }

    pub fn drop_sync(&self, reason: &str) {
        self.sync_dropped
            .get_or_create(&ReasonLabel {
                reason: reason.to_string(),
            })
            .inc();
    }

    pub fn drop_command(&self, command: &str) {
        self.commands_dropped
            .get_or_create(&CommandLabel {
                command: command.to_string(),
            })
            .inc();
    }
}
