//! The probe actor: owns the probe topic, publishes on a timer, records latency.

use std::time::Duration;

use actix::prelude::*;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::messages::{Inbound, Publish, PublishError, Verdict};
use crate::wall_clock::unix_ms_now;
use x0_core::probe::ProbeCore;
use x0_core::topics;

pub use crate::messages::{GetProbeStats, PublishProbeNow};

/// Metrics the probe actor records. Registered once, in the node's registry.
#[derive(Clone)]
pub struct ProbeMetrics {
    /// `x0_delivery_latency_seconds{topic}`: author's publish time to our receipt.
    pub delivery_latency: Family<TopicLabel, Histogram>,
    /// `x0_probes_published_total`
    pub published: Counter,
    /// `x0_probes_delivered_total`: valid probes from other nodes received here.
    pub delivered: Counter,
    /// `x0_probes_publish_failed_total{reason}`
    pub publish_failed: Family<ReasonLabel, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct TopicLabel {
    pub topic: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: String,
}

/// Latency buckets, seconds: 1 ms to 10 s. The design target is p99 under 500 ms, so the
/// buckets are dense around it.
pub const LATENCY_BUCKETS_SECONDS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0,
];

impl ProbeMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = ProbeMetrics {
            delivery_latency: Family::new_with_constructor(|| {
                Histogram::new(LATENCY_BUCKETS_SECONDS.iter().copied())
            }),
            published: Counter::default(),
            delivered: Counter::default(),
            publish_failed: Family::default(),
        };
        registry.register_with_unit(
            "delivery_latency",
            "End-to-end gossip delivery latency: the publish time carried in the message to its receipt here",
            prometheus_client::registry::Unit::Seconds,
            metrics.delivery_latency.clone(),
        );
        registry.register(
            "probes_published",
            "Probe messages this node published",
            metrics.published.clone(),
        );
        registry.register(
            "probes_delivered",
            "Valid probe messages from other nodes received here",
            metrics.delivered.clone(),
        );
        registry.register(
            "probes_publish_failed",
            "Probe messages this node could not publish, by reason",
            metrics.publish_failed.clone(),
        );
        metrics
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, MessageResponse)]
pub struct ProbeStats {
    pub published: u64,
    pub delivered: u64,
}

/// Hosts a [`ProbeCore`]. Owns the probe topic's validation.
pub struct ProbeActor {
    core: ProbeCore,
    network: Recipient<Publish>,
    interval: Option<Duration>,
    metrics: ProbeMetrics,
}

impl ProbeActor {
    /// `interval: None` only answers probes, never publishes its own.
    pub fn new(
        core: ProbeCore,
        network: Recipient<Publish>,
        interval: Option<Duration>,
        metrics: ProbeMetrics,
    ) -> Self {
        ProbeActor {
            core,
            network,
            interval,
            metrics,
        }
    }

    fn publish(&mut self, ctx: &mut Context<Self>) {
        let data = self.core.next_probe(unix_ms_now());
        let publish = Publish {
            topic: topics::PROBE.to_string(),
            data,
        };
        let metrics = self.metrics.clone();
        self.network
            .send(publish)
            .into_actor(self)
            .map(move |result, _, _| record_publish(&metrics, flatten(result)))
            .spawn(ctx);
    }
}

fn flatten(result: Result<Result<(), PublishError>, MailboxError>) -> Result<(), PublishError> {
    result.unwrap_or(Err(PublishError::ShuttingDown))
}

fn record_publish(metrics: &ProbeMetrics, result: Result<(), PublishError>) {
    match result {
        Ok(()) => {
            metrics.published.inc();
        }
        Err(error) => {
            let reason = match error {
                PublishError::NoPeers => "no_peers",
                PublishError::TooLarge { .. } => "too_large",
                PublishError::UnknownTopic(_) => "unknown_topic",
                PublishError::QueueFull => "queue_full",
                PublishError::ShuttingDown => "shutting_down",
                PublishError::Refused(_) => "refused",
            };
            metrics
                .publish_failed
                .get_or_create(&ReasonLabel {
                    reason: reason.to_string(),
                })
                .inc();
        }
    }
}

impl Actor for ProbeActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if let Some(interval) = self.interval {
            ctx.run_interval(interval, |actor, ctx| actor.publish(ctx));
        }
    }
}

impl Handler<Inbound> for ProbeActor {
    type Result = MessageResult<Inbound>;

    fn handle(&mut self, message: Inbound, _: &mut Self::Context) -> Self::Result {
        debug_assert_eq!(message.topic, topics::PROBE);
        match self
            .core
            .on_inbound(&message.data, message.received_at_unix_ms)
        {
            Ok(delivered) => {
                self.metrics.delivered.inc();
                self.metrics
                    .delivery_latency
                    .get_or_create(&TopicLabel {
                        topic: message.topic,
                    })
                    .observe(delivered.latency_ms as f64 / 1000.0);
                MessageResult(Verdict::Accept)
            }
            // Reject or Ignore by the refusal's own rule: a stale or early probe says
            // nothing against the relay that forwarded it.
            Err(refusal) => MessageResult(refusal.verdict()),
        }
    }
}

impl Handler<PublishProbeNow> for ProbeActor {
    type Result = ResponseActFuture<Self, Result<(), PublishError>>;

    fn handle(&mut self, _: PublishProbeNow, _: &mut Self::Context) -> Self::Result {
        let data = self.core.next_probe(unix_ms_now());
        let metrics = self.metrics.clone();
        let publish = Publish {
            topic: topics::PROBE.to_string(),
            data,
        };
        Box::pin(
            self.network
                .send(publish)
                .into_actor(self)
                .map(move |result, _, _| {
                    let result = flatten(result);
                    record_publish(&metrics, result.clone());
                    result
                }),
        )
    }
}

impl Handler<GetProbeStats> for ProbeActor {
    type Result = ProbeStats;

    fn handle(&mut self, _: GetProbeStats, _: &mut Self::Context) -> ProbeStats {
        ProbeStats {
            published: self.metrics.published.get(),
            delivered: self.metrics.delivered.get(),
        }
    }
}

impl Handler<crate::messages::Stop> for ProbeActor {
    type Result = ();

    fn handle(&mut self, _: crate::messages::Stop, ctx: &mut Self::Context) {
        ctx.stop();
    }
}
