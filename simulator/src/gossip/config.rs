//! The gossip parameters the node configures (`[gossip]` in the node's config) and the
//! upstream defaults it leaves alone, with the node's own values as defaults, so a
//! scenario that says nothing runs the gossipsub the node runs.

/// The node's gossip parameters (`[gossip]` in the node's config, times in ms), and the
/// upstream defaults the node leaves alone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GossipConfig {
    pub mesh_n: usize,
    pub mesh_n_low: usize,
    pub mesh_n_high: usize,
    pub gossip_lazy: usize,
    pub heartbeat_interval_ms: u64,
    pub history_length: usize,
    pub history_gossip: usize,
    pub duplicate_cache_time_ms: u64,
    pub flood_publish: bool,
    pub prune_backoff_ms: u64,
    pub invalid_message_weight: f64,
    pub invalid_message_decay: f64,
    pub gossip_threshold: f64,
    pub publish_threshold: f64,
    pub graylist_threshold: f64,
    /// IWANT requests answered per peer per heartbeat, and ids per IHAVE (gossipsub's
    /// `max_ihave_length`).
    pub ihave_ids_max: usize,
    /// Share of the eligible non-mesh peers that get IHAVE, if more than `gossip_lazy`
    /// (upstream default 0.25).
    pub gossip_factor: f64,
    /// How often one peer's IWANT for one message is answered (upstream default 3).
    pub gossip_retransmission: u32,
    /// How long an IWANT waits for its message before the id may be asked again
    /// (upstream `iwant_followup_time`, default 3 s).
    pub iwant_followup_time_ms: u64,
}

impl GossipConfig {
    /// Mesh peers this node dialled that heartbeats keep: the node sets
    /// `mesh_outbound_min = min(mesh_n / 2, mesh_n_low - 1)`
    /// (x0_node::network::behaviour::gossipsub_config).
    pub fn mesh_outbound_min(&self) -> usize {
        (self.mesh_n / 2).min(self.mesh_n_low.saturating_sub(1))
    }
}

impl Default for GossipConfig {
    /// The node's defaults (node/src/default_config.toml), and upstream's for the rest.
    fn default() -> Self {
        GossipConfig {
            mesh_n: 6,
            mesh_n_low: 5,
            mesh_n_high: 12,
            gossip_lazy: 6,
            heartbeat_interval_ms: 1_000,
            history_length: 5,
            history_gossip: 3,
            duplicate_cache_time_ms: 120_000,
            flood_publish: true,
            prune_backoff_ms: 60_000,
            invalid_message_weight: -10.0,
            invalid_message_decay: 0.99,
            gossip_threshold: -10.0,
            publish_threshold: -50.0,
            graylist_threshold: -80.0,
            ihave_ids_max: 5_000,
            gossip_factor: 0.25,
            gossip_retransmission: 3,
            iwant_followup_time_ms: 3_000,
        }
    }
}
