//! The composed libp2p behaviour, and the gossipsub configuration derived from the node's
//! config. Every parameter set here is documented in default_config.toml and
//! docs/ARCHITECTURE.md ("Peer scoring").

use std::collections::HashMap;
use std::time::Duration;

use libp2p::identity::Keypair;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::NetworkBehaviour;
use libp2p::{
    connection_limits, gossipsub, identify, kad, mdns, ping, request_response, PeerId,
    StreamProtocol,
};
use prometheus_client::registry::Registry;
use x0_core::known_topics;

use super::duplicates::DuplicateCounter;
use super::sync_codec::{SyncCodec, SYNC_PROTOCOL};
use crate::config::{Config, GossipSection};

/// Kademlia protocol of the x0 mesh: its own DHT, never mixed with the public IPFS one.
pub const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/x0/kad/1.0.0");
/// Identify's application protocol version string.
pub const IDENTIFY_PROTOCOL_VERSION: &str = "/x0/1";

pub type Gossipsub = gossipsub::Behaviour<DuplicateCounter, gossipsub::AllowAllSubscriptionFilter>;

#[derive(NetworkBehaviour)]
pub struct Behaviour {
    /// First, so refused connections never reach the protocols.
    pub limits: connection_limits::Behaviour,
    pub gossipsub: Gossipsub,
    /// `/x0/sync/1`; off with `sync.enabled = false`.
    pub sync: Toggle<request_response::Behaviour<SyncCodec>>,
    pub identify: identify::Behaviour,
    pub ping: ping::Behaviour,
    pub kad: kad::Behaviour<kad::store::MemoryStore>,
    pub mdns: Toggle<mdns::tokio::Behaviour>,
}

/// Why the behaviour could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BehaviourError {
    /// The `[gossip]` section is inconsistent in a way the config checks did not catch.
    #[error("config section `gossip`: gossipsub refused it: {0}")]
    Gossipsub(String),
    #[error(
        "mDNS (network.mdns = true) cannot start: {0}; set network.mdns = false or allow multicast"
    )]
    Mdns(std::io::Error),
}

/// Sync streams open at once per connection, each way: a peer keeps at most
/// `requests_inflight_per_peer_max` (4) requests in flight, so this leaves room for
/// a misbehaving peer's extra streams to be refused rather than queued.
const SYNC_STREAMS_MAX: usize = 16;

/// Kademlia record store bounds. Record filtering is on (see below), so peers cannot fill
/// it; the bounds cover what this node itself stores.
const KAD_RECORDS_MAX: usize = 1024;
const KAD_RECORD_BYTES_MAX: usize = 16 * 1024;

impl Behaviour {
    pub fn new(
        key: &Keypair,
        config: &Config,
        duplicates: DuplicateCounter,
        registry: &mut Registry,
    ) -> Result<Self, BehaviourError> {
        let peer_id = key.public().to_peer_id();
        let limits = &config.network.limits;
        let connection_limits = connection_limits::ConnectionLimits::default()
            .with_max_established(Some(limits.established_total_max))
            .with_max_established_per_peer(Some(limits.established_per_peer_max))
            .with_max_pending_incoming(Some(limits.pending_incoming_max))
            .with_max_pending_outgoing(Some(limits.pending_outgoing_max));

        let mut gossipsub = Gossipsub::new_with_transform(
            gossipsub::MessageAuthenticity::Signed(key.clone()),
            gossipsub_config(&config.gossip)
                .map_err(|e| BehaviourError::Gossipsub(e.to_string()))?,
            duplicates,
        )
        .map_err(|e| BehaviourError::Gossipsub(e.to_string()))?
        .with_metrics(
            registry.sub_registry_with_prefix("gossipsub"),
            gossipsub::MetricsConfig::default(),
        );
        let (params, thresholds) = score_parameters(&config.gossip);
        gossipsub
            .with_peer_score(params, thresholds)
            .map_err(BehaviourError::Gossipsub)?;

        let identify = identify::Behaviour::new(
            identify::Config::new(IDENTIFY_PROTOCOL_VERSION.to_string(), key.public())
                .with_agent_version(format!("x0/{}", env!("CARGO_PKG_VERSION"))),
        );
        let mut kad_config = kad::Config::new(KAD_PROTOCOL);
        kad_config.set_query_timeout(Duration::from_secs(30));
        // x0 uses the DHT for peer routing only: records and provider announcements from
        // other peers are not stored (they arrive as events, which the node ignores).
        kad_config.set_record_filtering(kad::StoreInserts::FilterBoth);
        let store = kad::store::MemoryStore::with_config(
            peer_id,
            kad::store::MemoryStoreConfig {
                max_records: KAD_RECORDS_MAX,
                max_value_bytes: KAD_RECORD_BYTES_MAX,
                max_providers_per_key: 8,
                max_provided_keys: KAD_RECORDS_MAX,
            },
        );
        let mut kad = kad::Behaviour::with_config(peer_id, store, kad_config);
        kad.set_mode(Some(kad::Mode::Server));
        let mdns = if config.network.mdns {
            Some(
                mdns::tokio::Behaviour::new(mdns::Config::default(), peer_id)
                    .map_err(BehaviourError::Mdns)?,
            )
        } else {
            None
        };
        let sync = config.sync.enabled.then(|| {
            request_response::Behaviour::with_codec(
                SyncCodec,
                [(SYNC_PROTOCOL, request_response::ProtocolSupport::Full)],
                request_response::Config::default()
                    .with_request_timeout(Duration::from_millis(config.sync.request_timeout_ms))
                    .with_max_concurrent_streams(SYNC_STREAMS_MAX),
            )
        });
        Ok(Behaviour {
            limits: connection_limits::Behaviour::new(connection_limits),
            gossipsub,
            sync: Toggle::from(sync),
            identify,
            ping: ping::Behaviour::new(ping::Config::new()),
            kad,
            mdns: Toggle::from(mdns),
        })
    }
}

/// gossipsub with Strict signing, manual validation and a size limit per known topic.
pub fn gossipsub_config(
    gossip: &GossipSection,
) -> Result<gossipsub::Config, gossipsub::ConfigBuilderError> {
    gossipsub_config_builder(gossip).build()
}

/// [`gossipsub_config`] before it is built, for harnesses that change upstream defaults
/// the node leaves alone (bench/src/fidelity.rs scales every timer).
pub fn gossipsub_config_builder(gossip: &GossipSection) -> gossipsub::ConfigBuilder {
    let mut builder = gossipsub::ConfigBuilder::default();
    builder
        .validation_mode(gossipsub::ValidationMode::Strict)
        // Messages wait for the owning actor's verdict before they are forwarded.
        .validate_messages()
        .mesh_n(gossip.mesh_n)
        .mesh_n_low(gossip.mesh_n_low)
        .mesh_n_high(gossip.mesh_n_high)
        .gossip_lazy(gossip.gossip_lazy)
        .heartbeat_interval(Duration::from_millis(gossip.heartbeat_interval_ms))
        .history_length(gossip.history_length)
        .history_gossip(gossip.history_gossip)
        .duplicate_cache_time(Duration::from_secs(gossip.duplicate_cache_time_s))
        .flood_publish(gossip.flood_publish)
        .prune_backoff(Duration::from_secs(gossip.prune_backoff_s))
        .max_transmit_size(gossip.max_transmit_size_bytes);
    // mesh_outbound_min must stay below mesh_n_low and at most mesh_n / 2.
    builder.mesh_outbound_min((gossip.mesh_n / 2).min(gossip.mesh_n_low.saturating_sub(1)));
    for topic in known_topics::KNOWN {
        builder.max_transmit_size_for_topic(
            topic_transmit_limit_bytes(topic.message_bytes_max),
            gossipsub::IdentTopic::new(topic.name).hash(),
        );
    }
    builder
}

/// The application limit plus room for gossipsub's framing of one message: source peer id,
/// sequence number, topic, signature and key (about 200 bytes for ed25519 authors).
pub fn topic_transmit_limit_bytes(message_bytes_max: usize) -> usize {
    message_bytes_max + 512
}

/// Peer-score parameters: scoring is on for every known topic.
///
/// P1 (time in mesh) and P2 (first deliveries) reward good neighbours a little; P3 (mesh
/// delivery rate) is off because x0 topics are quiet by design and an honest neighbour
/// must not be punished for silence; P4 (invalid messages) is the penalty that matters:
/// a Rejected message costs its propagation source `invalid_message_weight`, squared.
pub fn score_parameters(
    gossip: &GossipSection,
) -> (gossipsub::PeerScoreParams, gossipsub::PeerScoreThresholds) {
    let score = &gossip.score;
    let mut topics_params = HashMap::new();
    for topic in known_topics::KNOWN {
        topics_params.insert(
            gossipsub::IdentTopic::new(topic.name).hash(),
            gossipsub::TopicScoreParams {
                topic_weight: 1.0,
                time_in_mesh_weight: 0.01,
                time_in_mesh_quantum: Duration::from_secs(1),
                time_in_mesh_cap: 300.0,
                first_message_deliveries_weight: 0.5,
                first_message_deliveries_decay: 0.9,
                first_message_deliveries_cap: 20.0,
                mesh_message_deliveries_weight: 0.0,
                mesh_failure_penalty_weight: 0.0,
                invalid_message_deliveries_weight: score.invalid_message_weight,
                invalid_message_deliveries_decay: score.invalid_message_decay,
                ..Default::default()
            },
        );
    }
    let params = gossipsub::PeerScoreParams {
        topics: topics_params,
        ip_colocation_factor_threshold: score.ip_colocation_factor_threshold,
        ip_colocation_factor_weight: score.ip_colocation_factor_weight,
        // The application score (P5) carries what sync peers served that was invalid, as
        // -count² (x0_actors::sync): weighed like P4, an invalid sync item costs what an
        // invalid gossip message does.
        app_specific_weight: -score.invalid_message_weight,
        ..Default::default()
    };
    let thresholds = gossipsub::PeerScoreThresholds {
        gossip_threshold: score.gossip_threshold,
        publish_threshold: score.publish_threshold,
        graylist_threshold: score.graylist_threshold,
        accept_px_threshold: score.accept_px_threshold,
        opportunistic_graft_threshold: score.opportunistic_graft_threshold,
    };
    (params, thresholds)
}

/// The peer a multiaddr names in its `/p2p/` component, if any.
pub fn peer_of(address: &libp2p::Multiaddr) -> Option<PeerId> {
    address.iter().find_map(|p| match p {
        libp2p::multiaddr::Protocol::P2p(peer) => Some(peer),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_builds_valid_gossipsub_and_score_parameters() {
        let gossip = Config::embedded().gossip;
        let config = gossipsub_config(&gossip).expect("defaults build");
        assert_eq!(config.mesh_n(), 6);
        assert!(matches!(
            config.validation_mode(),
            gossipsub::ValidationMode::Strict
        ));
        assert!(config.validate_messages());
        let probe = gossipsub::IdentTopic::new(x0_core::topics::PROBE).hash();
        assert_eq!(
            config.max_transmit_size_for_topic(&probe),
            x0_core::probe::MESSAGE_BYTES_MAX + 512
        );
        let (params, thresholds) = score_parameters(&gossip);
        params.validate().expect("score params valid");
        thresholds.validate().expect("thresholds valid");
        assert!(params.topics.contains_key(&probe));
    }
}
