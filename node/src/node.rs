//! The node's assembly: every actor is created and wired here, and nowhere else.
//!
//! Order matters only in one place: the network actor exists before the swarm task (the
//! task reports to it), and every protocol actor subscribes its topics through it.
//! A later protocol (signatures, ballots, the charter) adds its actor below `probe`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Addr};
use libp2p::PeerId;
use prometheus_client::registry::Registry;
use tokio::sync::mpsc;
use x0_actors::network::{Stop, Subscribe};
use x0_actors::probe::{ProbeActor, ProbeConfig, ProbeCore, ProbeMetrics};
use x0_actors::topics;

use crate::config::Config;
use crate::http::{self, HttpServer};
use crate::network::metrics::NetworkMetrics;
use crate::network::{self, GetNetworkStatus, NetworkActor, NetworkStatus};
use crate::status::NodeFacts;
use crate::store::Store;
use crate::{identity, NodeError};

/// A running node. Drop it only through [`Node::shutdown`].
pub struct Node {
    pub peer_id: PeerId,
    pub network: Addr<NetworkActor>,
    pub probe: Addr<ProbeActor>,
    pub http_addr: SocketAddr,
    http: HttpServer,
    store: Store,
}

/// How long start-up waits for the listeners to report their addresses.
const LISTEN_WAIT: Duration = Duration::from_secs(5);

impl Node {
    /// Starts a node on the current actix system.
    pub async fn start(config: Config) -> Result<Node, NodeError> {
        let data_dir = config.data_dir();
        let key = identity::load_or_create(&data_dir)?;
        let peer_id = key.public().to_peer_id();
        let store = Store::open(&data_dir)?;
        let lifecycle = store.lifecycle();
        if !lifecycle.previous_stop_clean {
            tracing::warn!(data_dir = %data_dir.display(), "the previous run on this data dir did not stop cleanly");
        }
        let mut registry = Registry::default();

        // Network: actor first, then the task that owns the swarm.
        let (commands, command_queue) = mpsc::channel(network::COMMAND_QUEUE_LEN);
        let network_metrics = NetworkMetrics::register(registry.sub_registry_with_prefix("x0"));
        let network = NetworkActor::new(
            commands,
            config.network.limits.validations_inflight_max,
            network_metrics.clone(),
        )
        .start();
        if let Err(error) = network::spawn(
            &key,
            &config,
            &mut registry,
            network.clone(),
            command_queue,
            network_metrics,
        ) {
            stop_actors(&network, None).await;
            return Err(error);
        }

        // Probe: measures gossip health; owns topics::PROBE.
        let probe_metrics = ProbeMetrics::register(registry.sub_registry_with_prefix("x0"));
        let probe_core = ProbeCore::new(ProbeConfig {
            future_skew_ms_max: config.probe.future_skew_ms_max,
            age_ms_max: config.probe.age_ms_max,
            body_bytes: config.probe.body_bytes,
        });
        let probe_interval =
            (config.probe.interval_ms > 0).then(|| Duration::from_millis(config.probe.interval_ms));
        let probe = ProbeActor::new(
            probe_core,
            network.clone().recipient(),
            probe_interval,
            probe_metrics,
        )
        .start();

        // HTTP last: everything it reports on exists now.
        let facts = NodeFacts {
            data_dir: data_dir.display().to_string(),
            starts: lifecycle.starts,
            previous_stop_clean: lifecycle.previous_stop_clean,
        };
        let serving = async {
            subscribe(&network, topics::PROBE, probe.clone().recipient()).await?;
            http::serve(config.http.bind, Arc::new(registry), network.clone(), facts).await
        };
        let http = match serving.await {
            Ok(http) => http,
            Err(error) => {
                stop_actors(&network, Some(&probe)).await;
                return Err(error);
            }
        };
        let node = Node {
            peer_id,
            network,
            probe,
            http_addr: http.local_addr,
            http,
            store,
        };
        let up = async {
            node.wait_for_listeners(config.network.listen.len()).await?;
            // Only now is this a start: a failed one leaves the store as it was.
            node.store.record_start().map_err(NodeError::from)
        };
        if let Err(error) = up.await {
            stop_actors(&node.network, Some(&node.probe)).await;
            node.http.stop().await;
            return Err(error);
        }
        Ok(node)
    }

    async fn wait_for_listeners(&self, expected: usize) -> Result<(), NodeError> {
        let deadline = tokio::time::Instant::now() + LISTEN_WAIT;
        loop {
            let status = self.network_status().await?;
            if status.listen_addrs.len() >= expected {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(NodeError::Runtime(format!(
                    "listeners reported {} of {expected} addresses within {LISTEN_WAIT:?}",
                    status.listen_addrs.len()
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The network's current state (peers, mesh, listen addresses).
    pub async fn network_status(&self) -> Result<NetworkStatus, NodeError> {
        self.network
            .send(GetNetworkStatus)
            .await
            .ok()
            .flatten()
            .ok_or_else(|| NodeError::Runtime("network task stopped".into()))
    }

    /// Stops cleanly: listeners and connections closed, HTTP closed, state flushed.
    pub async fn shutdown(self) -> Result<(), NodeError> {
        stop_actors(&self.network, Some(&self.probe)).await;
        self.http.stop().await;
        self.store.record_clean_stop()?;
        tracing::info!(peer_id = %self.peer_id, "stopped cleanly");
        Ok(())
    }
}

/// Stops what a node started: protocol actors first, so nothing publishes into a closing
/// network, then the network (listeners, connections, swarm task, network actor).
async fn stop_actors(network: &Addr<NetworkActor>, probe: Option<&Addr<ProbeActor>>) {
    if let Some(probe) = probe {
        let _ = probe.send(Stop).await;
    }
    let _ = network.send(network::Shutdown).await;
}

async fn subscribe(
    network: &Addr<NetworkActor>,
    topic: &str,
    owner: actix::Recipient<x0_actors::network::Inbound>,
) -> Result<(), NodeError> {
    network
        .send(Subscribe {
            topic: topic.to_string(),
            owner,
        })
        .await
        .map_err(|e| NodeError::Runtime(format!("network actor: {e}")))?
        .map_err(|e| NodeError::Runtime(format!("subscribe {topic}: {e}")))
}
