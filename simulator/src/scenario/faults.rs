//! `[[faults]]`: what happens to the network and its nodes during a run, each fault with
//! the moment it fires (`at_ms`) and the nodes it hits. The simulator applies them in
//! time order (file order among equal times); the same file is meant to drive kernel
//! faults (tc netem, nftables) around real node processes.

use serde::{Deserialize, Serialize};

use super::NodeRange;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// Split the nodes into groups; no message crosses between groups (`two_way`), or
    /// none from an earlier group to a later one (`one_way`). Nodes in no group are cut
    /// off from all groups.
    Partition {
        at_ms: u64,
        groups: Vec<NodeRange>,
        direction: Direction,
        /// Nodes that keep their links to every group (multi-homed), such as Byzantine
        /// members that sit on both sides of the split.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        bridges: Vec<NodeRange>,
    },
    /// End every partition.
    Heal { at_ms: u64 },
    /// The nodes stop: no messages in or out, no timers; state not persisted is lost.
    Crash { at_ms: u64, nodes: NodeRange },
    /// Crashed nodes start again from what they persisted, and reconnect.
    Restart { at_ms: u64, nodes: NodeRange },
    /// From `at_ms` until `until_ms`, messages from `from` nodes are lost with
    /// probability `rate` (`direction` says whether replies to them are lost too).
    Loss {
        at_ms: u64,
        until_ms: u64,
        nodes: NodeRange,
        rate: f64,
        direction: Direction,
    },
    /// Churn: from `at_ms` until `until_ms`, every `interval_ms` one random up node of
    /// `nodes` leaves (crashes) and rejoins from its store `down_ms` later.
    Churn {
        at_ms: u64,
        until_ms: u64,
        nodes: NodeRange,
        interval_ms: u64,
        down_ms: u64,
    },
    /// The nodes' clocks run `skew_ms` ahead (negative: behind) from `at_ms` on.
    ClockSkew {
        at_ms: u64,
        nodes: NodeRange,
        skew_ms: i64,
    },
    /// From `at_ms` until `until_ms` (to the end when absent), the nodes' Snapshot hub
    /// gives no valid answer: their polls fail, and after the outage bound (5 minutes)
    /// the members among them attest the outage.
    HubDown {
        at_ms: u64,
        #[serde(default)]
        until_ms: Option<u64>,
        nodes: NodeRange,
    },
}

impl Fault {
    /// The node ranges the fault names.
    pub fn node_ranges(&self) -> Vec<&NodeRange> {
        match self {
            Fault::Partition {
                groups, bridges, ..
            } => groups.iter().chain(bridges.iter()).collect(),
            Fault::HubDown { nodes, .. }
            | Fault::Crash { nodes, .. }
            | Fault::Restart { nodes, .. }
            | Fault::Loss { nodes, .. }
            | Fault::Churn { nodes, .. }
            | Fault::ClockSkew { nodes, .. } => vec![nodes],
            Fault::Heal { .. } => vec![],
        }
    }

    pub fn at_ms(&self) -> u64 {
        match self {
            Fault::Partition { at_ms, .. }
            | Fault::Heal { at_ms }
            | Fault::Crash { at_ms, .. }
            | Fault::Restart { at_ms, .. }
            | Fault::Loss { at_ms, .. }
            | Fault::Churn { at_ms, .. }
            | Fault::ClockSkew { at_ms, .. }
            | Fault::HubDown { at_ms, .. } => *at_ms,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    TwoWay,
    OneWay,
}
