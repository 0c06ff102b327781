//! Helpers shared by the integration tests: real nodes, and a stock libp2p gossipsub peer
//! (nothing of x0 in it) that stands in for an outside or hostile member.
#![allow(dead_code)] // each test binary uses a different subset

pub mod snapshot_hub;

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAuthenticity};
use libp2p::swarm::SwarmEvent;
use libp2p::{noise, tcp, yamux, Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot};
use x0_node::config::Config;
use x0_node::Node;

/// The `x0` binary run as a process, with the caller's environment cleared of config.
pub fn x0(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_x0"))
        .args(args)
        .env_remove("X0_CONFIG")
        .env("X0_LOG", "warn")
        .output()
        .expect("x0 runs")
}

/// A child process killed (and reaped) when the test lets go of it, on every exit path.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Asserts a finished process's exit code, showing its output when it differs.
pub fn assert_exit(output: &std::process::Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        text(&output.stdout),
        text(&output.stderr)
    );
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A node config for tests: loopback TCP only, any free ports, no probes of its own.
pub fn test_config(data_dir: &Path) -> Config {
    let mut config = Config::embedded();
    config.node.data_dir = data_dir.to_path_buf();
    config.network.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
    config.http.bind = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    config.probe.interval_ms = 0;
    config.gossip.score.ip_colocation_factor_threshold = 100.0;
    config
}

/// `count` nodes meshed on loopback, each publishing a probe every `probe_interval_ms`.
pub async fn probing_mesh(dir: &Path, count: usize, probe_interval_ms: u64) -> Vec<Node> {
    let configs = (0..count)
        .map(|i| {
            let mut config = test_config(&dir.join(format!("n{i}")));
            config.probe.interval_ms = probe_interval_ms;
            config
        })
        .collect();
    x0_node::devnet::start_mesh(configs).await.unwrap()
}

/// Waits until `node` has received at least `count` probes from others.
pub async fn probes_delivered(node: &Node, count: u64, timeout: Duration) -> bool {
    eventually(timeout, || async {
        node.probe
            .send(x0_actors::probe::GetProbeStats)
            .await
            .unwrap()
            .delivered
            >= count
    })
    .await
}

pub async fn mesh_peers(node: &Node, topic: &str) -> Vec<String> {
    node.network_status()
        .await
        .unwrap()
        .topics
        .into_iter()
        .find(|t| t.topic == topic)
        .map(|t| t.mesh_peers)
        .unwrap_or_default()
}

pub async fn score_of(node: &Node, peer: &PeerId) -> Option<f64> {
    node.network_status()
        .await
        .unwrap()
        .connected_peers
        .into_iter()
        .find(|p| p.peer_id == peer.to_string())
        .and_then(|p| p.score)
}

/// Polls `condition` every 50 ms until it holds or `timeout` passes.
pub async fn eventually<F, Fut>(timeout: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if condition().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// (topic, data) of every message a stock peer received.
type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

enum StockCommand {
    Dial(Multiaddr),
    Subscribe(String),
    Publish(String, Vec<u8>, oneshot::Sender<Result<(), String>>),
}

/// A stock rust-libp2p gossipsub peer on its own task: default gossipsub config, no
/// application validation, TCP + noise + yamux.
pub struct StockPeer {
    pub peer_id: PeerId,
    /// Its identity key: it seals the envelopes this peer publishes ([`seal_envelope`]).
    pub key: libp2p::identity::Keypair,
    commands: mpsc::UnboundedSender<StockCommand>,
    received: Received,
}

impl StockPeer {
    pub fn spawn(authenticity: Authenticity) -> StockPeer {
        StockPeer::spawn_as(libp2p::identity::Keypair::generate_ed25519(), authenticity)
    }

    /// A signing stock peer on a given key: two of them on one key are two swarms of one
    /// peer (what an attacker holding a member's key can run).
    pub fn spawn_with_key(key: libp2p::identity::Keypair) -> StockPeer {
        StockPeer::spawn_as(key, Authenticity::Signed)
    }

    fn spawn_as(identity: libp2p::identity::Keypair, authenticity: Authenticity) -> StockPeer {
        let key = identity.clone();
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(identity)
            .with_tokio()
            .with_tcp(
                tcp::Config::default(),
                noise::Config::new,
                yamux::Config::default,
            )
            .unwrap()
            .with_behaviour(|key| {
                let (privacy, mode) = match authenticity {
                    Authenticity::Signed => (
                        MessageAuthenticity::Signed(key.clone()),
                        gossipsub::ValidationMode::Strict,
                    ),
                    Authenticity::Anonymous => (
                        MessageAuthenticity::Anonymous,
                        gossipsub::ValidationMode::Anonymous,
                    ),
                };
                let config = gossipsub::ConfigBuilder::default()
                    .validation_mode(mode)
                    .heartbeat_interval(Duration::from_millis(500))
                    .build()
                    .unwrap();
                gossipsub::Behaviour::<
                    gossipsub::IdentityTransform,
                    gossipsub::AllowAllSubscriptionFilter,
                >::new(privacy, config)
                .unwrap()
            })
            .unwrap()
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
            .build();
        let peer_id = *swarm.local_peer_id();
        let (commands, mut queue) = mpsc::unbounded_channel();
        let received: Received = Arc::new(Mutex::new(Vec::new()));
        let sink = received.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    command = queue.recv() => match command {
                        None => return,
                        Some(StockCommand::Dial(address)) => { swarm.dial(address).unwrap(); }
                        Some(StockCommand::Subscribe(topic)) => { swarm.behaviour_mut().subscribe(&IdentTopic::new(topic)).unwrap(); }
                        Some(StockCommand::Publish(topic, data, reply)) => {
                            let result = swarm.behaviour_mut().publish(IdentTopic::new(topic), data).map(|_| ()).map_err(|e| e.to_string());
                            let _ = reply.send(result);
                        }
                    },
                    event = swarm.select_next_some() => {
                        if let SwarmEvent::Behaviour(gossipsub::Event::Message { message, .. }) = event {
                            sink.lock().unwrap().push((message.topic.into_string(), message.data));
                        }
                    }
                }
            }
        });
        StockPeer {
            peer_id,
            key,
            commands,
            received,
        }
    }

    pub fn dial(&self, address: Multiaddr) {
        self.commands.send(StockCommand::Dial(address)).unwrap();
    }

    pub fn subscribe(&self, topic: &str) {
        self.commands
            .send(StockCommand::Subscribe(topic.to_string()))
            .unwrap();
    }

    pub async fn publish(&self, topic: &str, data: Vec<u8>) -> Result<(), String> {
        let (reply, response) = oneshot::channel();
        self.commands
            .send(StockCommand::Publish(topic.to_string(), data, reply))
            .unwrap();
        response.await.unwrap()
    }

    /// Publishes, retrying while the peer has not yet learnt that anyone subscribes (its
    /// view of remote subscriptions lags the other side's mesh by a round trip).
    pub async fn publish_when_ready(&self, topic: &str, data: Vec<u8>) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            match self.publish(topic, data.clone()).await {
                Ok(()) => return,
                Err(error) if tokio::time::Instant::now() < deadline => {
                    let _ = error;
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                Err(error) => panic!("stock peer could not publish on {topic}: {error}"),
            }
        }
    }

    pub fn received(&self) -> Vec<(String, Vec<u8>)> {
        self.received.lock().unwrap().clone()
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Authenticity {
    Signed,
    Anonymous,
}

/// Fetches a URL over real HTTP; returns status, content type and body.
pub async fn http_get(url: &str, accept: Option<&str>) -> (u16, String, String) {
    let client = reqwest::Client::new();
    let mut request = client.get(url);
    if let Some(accept) = accept {
        request = request.header("Accept", accept);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

/// The value of the first sample line that starts with `prefix` (name and labels).
pub fn sample_value(exposition: &str, prefix: &str) -> Option<f64> {
    exposition
        .lines()
        .find(|line| line.starts_with(prefix))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

/// Runs a reference tool (promtool, python3) on `input`; returns its exit code and output.
/// A missing tool fails the test: scripts/setup installs them.
pub fn run_tool(program: &str, args: &[&str], input: &str) -> (i32, String) {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} is required (run scripts/setup): {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

/// Parses OpenMetrics with the reference parser; prints `name type` per family.
pub const PARSE_OPENMETRICS: &str = r#"
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
for family in text_string_to_metric_families(sys.stdin.read()):
    print(family.name, family.type, len(family.samples))
"#;

/// `envelope` on `topic`, sealed with `key` (a stock peer's identity), as a node seals
/// what it publishes.
pub fn seal_envelope(
    key: &libp2p::identity::Keypair,
    topic: &str,
    envelope: x0_core::auth::envelope::Envelope<'_>,
) -> Vec<u8> {
    envelope.seal(topic, &x0_node::node_keys::NodeKeys::new(key.clone()))
}

/// A short gossip message cache (two heartbeats), so the scenarios can wait past it: what
/// reaches a node after that came by sync, not by gossip's IHAVE/IWANT repair. Heartbeats
/// lag on a loaded machine, so the wait adds a wide margin.
pub fn short_gossip_cache(config: &mut Config) {
    config.gossip.history_length = 2;
    config.gossip.history_gossip = 1;
}

/// Past the short cache of [`short_gossip_cache`], with a margin for lagging heartbeats.
pub async fn past_gossip_cache() {
    let heartbeat_ms = Config::embedded().gossip.heartbeat_interval_ms;
    tokio::time::sleep(Duration::from_millis(2 * heartbeat_ms + 8_000)).await;
}

/// A credential from `authority` for `member` with the right to sign on its own topic,
/// valid for an hour: what the tests' stock members hold.
pub fn sign_credential(authority: &biscuit_auth::KeyPair, member: &StockPeer) -> Vec<u8> {
    use x0_core::auth::token::{self, Operation, Right};
    token::mint(
        authority,
        &token::Grant {
            member: x0_core::ids::PeerKey(member.peer_id.to_bytes()),
            rights: vec![Right::on_own_topic(Operation::Sign)],
            expires_unix_s: x0_actors::wall_clock::unix_ms_now() / 1000 + 3600,
        },
    )
    .unwrap()
}

/// A share envelope for proposal `[id; 32]`, sealed by `by` with an access token derived
/// from `credential` (issued by `authority`), as a node seals one.
pub fn sealed_share(
    by: &StockPeer,
    authority: &biscuit_auth::KeyPair,
    credential: &[u8],
    id: u8,
) -> Vec<u8> {
    use x0_core::certify::{proposal::ProposalId, threshold::ChangeClass, wire::ShareMessage};
    let now_ms = x0_actors::wall_clock::unix_ms_now();
    let access =
        x0_core::auth::token::derive_access(credential, &authority.public(), now_ms / 1000, 600)
            .unwrap();
    let share = ShareMessage {
        class: ChangeClass::Standard,
        id: ProposalId([id; 32]),
        member: 0,
        share: [7; 96],
    }
    .encode();
    seal_envelope(
        &by.key,
        x0_core::topics::SHARES,
        x0_core::auth::envelope::Envelope {
            token: &access,
            nonce: rand::random(),
            timestamp_unix_ms: now_ms,
            payload: &share,
        },
    )
}
