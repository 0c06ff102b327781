//! The probe shell of a simulated node, as the node hosts [`ProbeCore`]: a node named as
//! a probe source publishes a probe every `traffic.probe_interval_ms` (from a random
//! phase), and every node that validates probes records each one's delivery latency,
//! publish to validated receipt: overall, for probes published in quiet phases, and at
//! the targets of eclipse attempts. Those histograms are the report's delivery figures.
//!
//! [`ProbeCore`]: x0_core::probe::ProbeCore

use rand::Rng;
use x0_core::topics;

use super::{Event, Sim};
use crate::crypto::SimSuite;
use crate::gossip::{Acceptance, GossipMessage, NodeId};

impl<S: SimSuite> Sim<S> {
    /// Starts `node`'s probe timer at a random phase, if it is a probe source.
    pub(super) fn start_probes(&mut self, node: NodeId) {
        let probe = self.scenario.traffic.probe_interval_ms;
        if probe > 0 && self.scenario.probes_from(node) {
            let probe_phase = self.engine.rng().gen_range(0..probe);
            self.schedule(probe_phase, Event::Probe { node });
        }
    }

    /// One probe of `node`'s, then the next one's timer.
    pub(super) fn publish_probe(&mut self, node: NodeId) {
        let clock = self.node_clock_ms(node);
        let data = self.nodes[node as usize].probe.next_probe(clock);
        self.publish(node, topics::PROBE, data);
        self.schedule(
            self.scenario.traffic.probe_interval_ms,
            Event::Probe { node },
        );
    }

    /// `node`'s probe core checks a probe; a valid one's latency is recorded.
    pub(super) fn validate_probe(
        &mut self,
        node: NodeId,
        message: &GossipMessage,
        clock: u64,
        now_ms: u64,
    ) -> Acceptance {
        let sim = &mut self.nodes[node as usize];
        match sim.probe.on_inbound(&message.data, clock) {
            Ok(_) => {
                let latency_ms = now_ms.saturating_sub(message.published_at_ms);
                self.stats.delivery.record(latency_ms);
                if self.quiet_probes.contains(&message.id) {
                    self.stats.quiet_delivery.record(latency_ms);
                }
                if self.eclipse_targets.contains(&node) {
                    self.stats.eclipse_target_delivery.record(latency_ms);
                }
                Acceptance::Accept
            }
            // Reject or Ignore by the refusal's own rule, as the node's probe actor does.
            Err(refusal) => super::acceptance_of(refusal.verdict()),
        }
    }
}
