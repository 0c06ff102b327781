//! Counts copies of every received gossip message, before gossipsub drops duplicates.
//!
//! gossipsub hands the application only the first copy of a message, so the duplicates
//! figure must be taken inside it: its data-transform hook sees every copy. The counting
//! itself is the sans-IO [`DuplicateTracker`]; this shell reads the clock and records the
//! settled counts in `x0_gossip_duplicates_per_message`.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use libp2p::gossipsub::{self, DataTransform, RawMessage, TopicHash};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use x0_core::duplicates::{DuplicateTracker, DuplicateTrackerConfig, Settled};
use x0_core::known_topics;

use super::metrics::TopicLabel;

/// Buckets for extra copies per message: 0 (perfect) up to far beyond mesh_n_high.
const DUPLICATE_BUCKETS: [f64; 11] = [0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0];

/// The gossipsub data transform that counts copies. Clones share one tracker.
#[derive(Clone)]
pub struct DuplicateCounter {
    inner: Arc<Mutex<Inner>>,
    duplicates: Family<TopicLabel, Histogram>,
    settled_early: Counter,
}

struct Inner {
    tracker: DuplicateTracker,
    epoch: Instant,
    settled: Vec<Settled>,
}

impl DuplicateCounter {
    pub fn new(config: DuplicateTrackerConfig, registry: &mut Registry) -> Self {
        let duplicates = Family::<TopicLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(DUPLICATE_BUCKETS.iter().copied())
        });
        let settled_early = Counter::default();
        registry.register(
            "gossip_duplicates_per_message",
            "Extra copies received per gossip message, counted once its copies stop arriving",
            duplicates.clone(),
        );
        registry.register(
            "gossip_duplicate_tracker_settled_early",
            "Messages whose duplicate count was closed early because the tracker was full",
            settled_early.clone(),
        );
        DuplicateCounter {
            inner: Arc::new(Mutex::new(Inner {
                tracker: DuplicateTracker::new(config),
                epoch: Instant::now(),
                settled: Vec::new(),
            })),
            duplicates,
            settled_early,
        }
    }

    fn observe(&self, raw: &RawMessage) {
        // gossipsub calls the transform before it checks the subscription: a message on a
        // made-up topic must not create a label or hold memory.
        let Some(topic) = known_topics::spec(raw.topic.as_str()) else {
            return;
        };
        let mut message_id = raw.source.map(|p| p.to_bytes()).unwrap_or_default();
        message_id.extend_from_slice(&raw.sequence_number.unwrap_or(0).to_be_bytes());
        let mut inner = self.inner.lock().expect("duplicate counter lock");
        let now_ms = inner.epoch.elapsed().as_millis() as u64;
        let Inner {
            tracker, settled, ..
        } = &mut *inner;
        tracker.observe(&message_id, topic.name, now_ms, settled);
        tracker.settle(now_ms, settled);
        self.record(settled);
    }

    /// Closes the counts of messages whose window has passed. The network task calls it on a
    /// timer so counts settle even when traffic stops.
    pub fn settle(&self) {
        let mut inner = self.inner.lock().expect("duplicate counter lock");
        let now_ms = inner.epoch.elapsed().as_millis() as u64;
        let Inner {
            tracker, settled, ..
        } = &mut *inner;
        tracker.settle(now_ms, settled);
        self.record(settled);
    }

    fn record(&self, settled: &mut Vec<Settled>) {
        for done in settled.drain(..) {
            if done.early {
                self.settled_early.inc();
            }
            self.duplicates
                .get_or_create(&TopicLabel {
                    topic: done.topic.to_string(),
                })
                .observe(f64::from(done.duplicates));
        }
    }
}

impl DataTransform for DuplicateCounter {
    fn inbound_transform(
        &self,
        raw_message: RawMessage,
    ) -> Result<gossipsub::Message, std::io::Error> {
        self.observe(&raw_message);
        Ok(gossipsub::Message {
            source: raw_message.source,
            data: raw_message.data,
            sequence_number: raw_message.sequence_number,
            topic: raw_message.topic,
        })
    }

    fn outbound_transform(
        &self,
        _topic: &TopicHash,
        data: Vec<u8>,
    ) -> Result<Vec<u8>, std::io::Error> {
        Ok(data)
    }
}
