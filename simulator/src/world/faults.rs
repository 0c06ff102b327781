//! The scenario's faults as they fire: a partition or heal changes which links carry
//! traffic, a loss episode adds a loss rule, a crash loses a node's memory but keeps its
//! store, a restart boots it again from that store and redials its links, churn crashes
//! a random node at a time and brings it back later, clock skew moves a node's clock
//! (and so when its timers fall due), and a hub outage is read by the hub polls of the
//! ballot shell. Heals and restarts are recorded, since recovery bounds are measured
//! from the last one.

use rand::seq::SliceRandom;

use super::links::LossRule;
use super::{Event, Sim};
use crate::crypto::SimSuite;
use crate::gossip::NodeId;
use crate::scenario::Fault;

impl<S: SimSuite> Sim<S> {
    pub(super) fn fault(&mut self, index: usize, now_ms: u64) {
        let fault = self.scenario.faults[index].clone();
        self.trace(format_args!("fault {index}: {fault:?}"));
        match fault {
            Fault::Partition {
                groups,
                direction,
                bridges,
                ..
            } => self.partitions = Some((groups, direction, bridges)),
            // Polls read the outage from the scenario when they happen.
            Fault::HubDown { .. } => {}
            Fault::Heal { .. } => {
                self.partitions = None;
                self.stats.heals_ms.push(now_ms);
            }
            Fault::Crash { nodes, .. } => {
                for node in nodes.iter() {
                    self.crash(node);
                }
            }
            Fault::Restart { nodes, .. } => {
                for node in nodes.iter() {
                    self.restart(node);
                }
                self.stats.heals_ms.push(now_ms);
            }
            Fault::Churn { .. } => self.churn(index),
            Fault::Loss {
                until_ms,
                nodes,
                rate,
                direction,
                ..
            } => self.losses.push(LossRule {
                until_ms,
                nodes,
                rate,
                direction,
            }),
            Fault::ClockSkew { nodes, skew_ms, .. } => {
                for node in nodes.iter() {
                    self.nodes[node as usize].skew_ms = skew_ms;
                    // Its timers fall due at other virtual times now.
                    if self.nodes[node as usize].up {
                        self.nodes[node as usize].tick_at_ms = None;
                        self.plan_tick(node);
                        self.nodes[node as usize].ballot_tick_at_ms = None;
                        self.plan_ballot_tick(node);
                        self.nodes[node as usize].sync_tick_at_ms = None;
                        self.plan_sync_tick(node);
                    }
                }
            }
        }
    }

    /// The node stops: connections close, memory is lost, the store stays.
    fn crash(&mut self, node: NodeId) {
        let sim = &mut self.nodes[node as usize];
        if !sim.up {
            return;
        }
        sim.up = false;
        sim.certify = None;
        sim.gate = None;
        sim.access = None;
        sim.held.clear();
        sim.last_proposal = None;
        sim.captured.clear();
        sim.reinject.clear();
        sim.ballot = None;
        sim.ballot_tick_at_ms = None;
        sim.heard_attestations.clear();
        sim.sync = None;
        sim.sync_tick_at_ms = None;
        // Peers see the connections close.
        for peer in self.links[node as usize].clone() {
            self.nodes[peer as usize].gossip.disconnect(node);
            self.sync_disconnected(peer, node);
        }
    }

    /// A crashed node starts again from its store and redials its links.
    pub(super) fn restart(&mut self, node: NodeId) {
        if self.nodes[node as usize].up {
            return;
        }
        // Gossip state is memory: a restarted node starts with none of it (the old one
        // empties its seen-cache column as it goes), but its message ids go on from
        // where they were, as upstream's time-based sequence numbers do.
        let mut gossip = self.gossip_node(node);
        gossip.resume_sequence(self.nodes[node as usize].gossip.sequence_next());
        let sim = &mut self.nodes[node as usize];
        sim.up = true;
        sim.life += 1;
        sim.gossip = gossip;
        self.boot(node);
        for peer in self.links[node as usize].clone() {
            if !self.nodes[peer as usize].up {
                continue;
            }
            if self.dialled[node as usize].contains(&peer) {
                self.open_connection(node, peer);
            } else {
                self.open_connection(peer, node);
            }
        }
    }

    /// One step of a churn fault: a random up node of the range leaves, to come back
    /// `down_ms` later; the next step follows `interval_ms` later, until `until_ms`.
    fn churn(&mut self, index: usize) {
        let Fault::Churn {
            until_ms,
            nodes,
            interval_ms,
            down_ms,
            ..
        } = self.scenario.faults[index].clone()
        else {
            unreachable!("churn events come from churn faults");
        };
        let now_ms = self.engine.now_ms();
        if now_ms >= until_ms {
            return;
        }
        let up: Vec<NodeId> = nodes
            .iter()
            .filter(|n| self.nodes[*n as usize].up)
            .collect();
        if let Some(node) = up.choose(self.engine.rng()).copied() {
            self.trace(format_args!("churn {node} leaves"));
            self.crash(node);
            self.schedule(down_ms, Event::Rejoin { node });
        }
        self.schedule(interval_ms, Event::Fault { index });
    }

    /// A node that left in a churn fault comes back from its store.
    pub(super) fn rejoin(&mut self, node: NodeId, now_ms: u64) {
        self.trace(format_args!("churn {node} rejoins"));
        self.restart(node);
        self.stats.heals_ms.push(now_ms);
    }

    /// No partition, no loss and no crashed node in force: a fault-free or delay-only
    /// phase, whose latencies `quiet_delivery_p99_ms_max` bounds.
    pub(super) fn quiet(&self) -> bool {
        let now_ms = self.engine.now_ms();
        self.partitions.is_none()
            && self.scenario.network.loss == 0.0
            && self.losses.iter().all(|rule| rule.until_ms <= now_ms)
            && self.nodes.iter().all(|sim| sim.up)
    }
}
