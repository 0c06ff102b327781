//! Scenario files (`scenarios/*.toml`): engine-neutral descriptions of a network, its
//! traffic, the faults that hit it and what must hold. The simulator runs them; the same
//! files are meant to drive real node processes in network namespaces later, so they
//! speak of nodes, links and times, never of simulator internals.
//!
//! Every field is documented where it is declared: this file holds the scenario and the
//! network it describes (topology, gossip overrides, links, committee, traffic,
//! proposals, criteria); [`faults`], [`byzantine`], [`ballots`] and [`crypto`] hold
//! their sections, and [`check`] reads a file and refuses a wrong or unknown field with
//! its name. Types are re-exported here, so `scenario::Fault` and the like name them.

use serde::{Deserialize, Serialize};

pub mod ballots;
pub mod byzantine;
pub mod check;
pub mod crypto;
pub mod faults;

pub use ballots::{parse_choice, BallotExpect, BallotSettings, BallotSpec, ChoiceOverride};
pub use byzantine::{Behaviour, Byzantine};
pub use check::{
    ScenarioError, BALLOTS_MAX, BALLOT_COMMITTEE_MAX, COMMITTEE_MAX, CONNECTIONS_PER_NODE_MAX,
    DURATION_MS_MAX, NODES_MAX,
};
pub use crypto::{CryptoKind, CryptoSpec, AUTO_REAL_CRYPTO_NODES_MAX};
pub use faults::{Direction, Fault};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    /// Default seed; `x0 sim --seed` overrides it.
    pub seed: u64,
    pub duration_ms: u64,
    pub topology: Topology,
    #[serde(default)]
    pub gossip: GossipOverrides,
    pub network: Network,
    pub committee: CommitteeSpec,
    #[serde(default)]
    pub traffic: Traffic,
    #[serde(default)]
    pub proposals: Vec<ProposalSpec>,
    #[serde(default)]
    pub faults: Vec<Fault>,
    /// Groups of Byzantine committee members, each with its behaviours; at most t
    /// members in all.
    #[serde(default)]
    pub byzantine: Vec<Byzantine>,
    #[serde(default)]
    pub crypto: CryptoSpec,
    /// How members take part in local ballots (only read when the scenario has ballots
    /// or hub outages).
    #[serde(default)]
    pub ballot: BallotSettings,
    /// Local (fallback) ballots a member opens, in time order of `at_ms`.
    #[serde(default)]
    pub ballots: Vec<BallotSpec>,
    /// Revocation lists the network authority publishes, in time order of `at_ms`.
    #[serde(default)]
    pub revocations: Vec<RevocationSpec>,
    /// Anti-entropy sync between the nodes.
    #[serde(default)]
    pub sync: SyncSettings,
    pub criteria: Criteria,
}

/// Anti-entropy sync (`/x0/sync/1`, the node's `[sync]` section): each node runs the
/// node's `SyncCore` and archive over the same links as gossip.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncSettings {
    /// Whether the nodes run sync. The node runs it by default; a scenario states it, so
    /// files written before sync existed replay their traces unchanged.
    #[serde(default)]
    pub enabled: bool,
    /// The node's `sync.round_interval_ms` (default 5,000).
    #[serde(default)]
    pub round_interval_ms: Option<u64>,
}

impl SyncSettings {
    /// The sync core's configuration the nodes run with.
    pub fn core_config(&self) -> x0_core::sync::machine::SyncConfig {
        let defaults = x0_core::sync::machine::SyncConfig::default();
        x0_core::sync::machine::SyncConfig {
            round_interval_ms: self.round_interval_ms.unwrap_or(defaults.round_interval_ms),
            ..defaults
        }
    }
}

impl Scenario {
    /// The bounds every node's collectors run with: the node's defaults, or the
    /// committee section's overrides.
    pub fn collector_config(&self) -> x0_core::certify::collector::CollectorConfig {
        let defaults = x0_core::certify::collector::CollectorConfig::default();
        x0_core::certify::collector::CollectorConfig {
            pending_max: self.committee.pending_max.unwrap_or(defaults.pending_max),
            certified_max: self
                .committee
                .certified_max
                .unwrap_or(defaults.certified_max),
            ..defaults
        }
    }

    /// Whether this run uses real BLS.
    pub fn real_crypto(&self) -> bool {
        match self.crypto.kind {
            CryptoKind::Real => true,
            CryptoKind::Modelled => false,
            CryptoKind::Auto => self.topology.nodes <= AUTO_REAL_CRYPTO_NODES_MAX,
        }
    }

    /// Whether `node` publishes probes.
    pub fn probes_from(&self, node: u32) -> bool {
        let n = self.topology.nodes;
        match self.traffic.probe_sources {
            None => true,
            // Sources spread evenly over the node indices: i * n / sources.
            Some(sources) => {
                let sources = u64::from(sources.min(n));
                let node = u64::from(node);
                let n = u64::from(n);
                // node is a source iff some i < sources has i * n / sources == node.
                let i = (node * sources).div_ceil(n);
                i < sources && i * n / sources == node
            }
        }
    }

    /// Whether the nodes host ballot books: the scenario has ballots or hub outages.
    pub fn has_ballots(&self) -> bool {
        !self.ballots.is_empty()
            || self
                .faults
                .iter()
                .any(|fault| matches!(fault, Fault::HubDown { .. }))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    pub nodes: u32,
    /// Each node dials this many distinct random peers (links are two-way).
    pub connections_per_node: u32,
    /// Connections a node keeps at most; further dials to it are refused. The node's
    /// `[network] established_total_max`.
    #[serde(default = "default_connections_max")]
    pub connections_max: u32,
}

fn default_connections_max() -> u32 {
    256
}

/// The node's `[gossip]` parameters; absent ones take the node's defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GossipOverrides {
    pub mesh_n: Option<usize>,
    pub mesh_n_low: Option<usize>,
    pub mesh_n_high: Option<usize>,
    pub gossip_lazy: Option<usize>,
    pub heartbeat_interval_ms: Option<u64>,
    pub history_length: Option<usize>,
    pub history_gossip: Option<usize>,
    pub flood_publish: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    pub latency: Latency,
    /// Probability that a message on any link is lost, both directions.
    #[serde(default)]
    pub loss: f64,
}

/// One-way link latency, drawn per message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Latency {
    Fixed {
        ms: u64,
    },
    Uniform {
        min_ms: u64,
        max_ms: u64,
    },
    /// Log-normal around `median_ms` with shape `sigma` (0.5 is a typical WAN spread).
    LogNormal {
        median_ms: u64,
        sigma: f64,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitteeSpec {
    /// Members are nodes 0..size.
    pub size: u32,
    #[serde(default)]
    pub supermajority_slots: Vec<String>,
    /// The collectors' bound on uncertified proposals (`certify.pending_max` of a node;
    /// default 1,024): smaller bounds let a scenario reach them in a short run.
    #[serde(default)]
    pub pending_max: Option<usize>,
    /// The collectors' bound on an epoch's slots (`certify.certified_max`; default 65,536).
    #[serde(default)]
    pub certified_max: Option<usize>,
    /// How long t+1 members republish each certificate (`certify.republish_window_ms`;
    /// 0: never). Default as the node's: 0 with sync on, else 3,600,000 (the node's
    /// recommendation without sync).
    #[serde(default)]
    pub republish_window_ms: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Traffic {
    /// Every probe source publishes a probe this often (0: none); latency figures come
    /// from them.
    #[serde(default)]
    pub probe_interval_ms: u64,
    /// How many nodes publish probes, spread evenly over the node indices (default:
    /// all). Large runs sample latency from some sources rather than flooding the mesh
    /// with n probes per interval.
    #[serde(default)]
    pub probe_sources: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProposalSpec {
    pub at_ms: u64,
    /// A committee member's node index.
    pub proposer: u32,
    pub slot: String,
    pub payload: String,
}

/// A revocation list the network authority signs (`x0 revoke`) and an operator hands to
/// one node, which applies and publishes it on `/x0/1/revocations`, as
/// `POST /revocations` does. It revokes the credentials of `revoked`: every access token
/// derived from them is refused from then on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevocationSpec {
    pub at_ms: u64,
    /// The node the operator hands the list to; if it is down then, nothing is published.
    pub publisher: u32,
    pub revoked: NodeRange,
}

/// Nodes `first..=last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRange {
    pub first: u32,
    pub last: u32,
}

impl NodeRange {
    pub fn contains(&self, node: u32) -> bool {
        (self.first..=self.last).contains(&node)
    }
    pub fn iter(&self) -> impl Iterator<Item = u32> {
        self.first..=self.last
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Criteria {
    /// p99 probe delivery latency over the whole run, at most.
    pub delivery_p99_ms_max: Option<u64>,
    /// p99 delivery latency of the probes published in quiet phases, at most: while no
    /// partition, no loss and no crashed node is in force (links still have their
    /// latency: the fault-free and delay-only phases).
    pub quiet_delivery_p99_ms_max: Option<u64>,
    /// Every honest node that is up at the end holds every certificate formed anywhere.
    #[serde(default)]
    pub no_loss: bool,
    /// Every certificate any honest node holds verifies under the committee's keys and
    /// names enough distinct signers; conflicting certificates are detected by every node
    /// holding both.
    #[serde(default)]
    pub safety: bool,
    /// When two certificates exist for one slot, every honest node up at the end has
    /// halted that slot (the conflict was detected everywhere).
    #[serde(default)]
    pub conflicts_halted: bool,
    /// Every proposal is certified on every up honest node within this long of being made
    /// (or of the last heal/restart before that, when later).
    pub certified_within_ms: Option<u64>,
    /// Every revocation list published is in force on every honest up node within this
    /// long of going out (or of the last heal or restart before the node took it).
    pub revocations_applied_within_ms: Option<u64>,
}
