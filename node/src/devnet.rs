//! `x0 devnet`: N real nodes on loopback in one process, meshed, trickling probes, and
//! forming one committee (keys dealt in memory, shares in each node's data dir), so a
//! proposal made with `x0 propose` against any of them reaches a certificate.
//!
//! Each node is a full [`Node`] (own identity, data dir, swarm, actors and HTTP endpoint);
//! they only share the process and the actix system. Tests use the same helpers to build
//! their meshes, so what the devnet shows is what the tests check.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use libp2p::{Multiaddr, PeerId};
use x0_actors::certify::GetCertifyStatus;
use x0_actors::probe::GetProbeStats;
use x0_core::topics;

use crate::committee::{self, CommitteeFile};
use crate::config::Config;
use crate::network::Dial;
use crate::{Node, NodeError};

/// What `x0 devnet` was asked for.
#[derive(Debug, Clone)]
pub struct DevnetOptions {
    pub nodes: usize,
    pub probe_interval_ms: u64,
    /// `None`: run until the stop future resolves.
    pub duration: Option<Duration>,
    /// `None`: a temporary dir, removed at exit.
    pub data_dir: Option<PathBuf>,
    /// `None`: every node's HTTP endpoint takes any free port.
    pub http_port_base: Option<u16>,
    /// Every node polls this Snapshot hub (GraphQL URL); `None`: no Snapshot client.
    pub snapshot_hub: Option<String>,
    /// How long the hub may fail before a node attests an outage, s.
    pub outage_s: u64,
}

/// A hub URL nothing listens on (port 1 on loopback refuses connections): `--hub-down`.
pub const HUB_DOWN_URL: &str = "http://127.0.0.1:1/graphql";

/// Points every node at a Snapshot hub, polled every second, with the devnet's short
/// ballot timings (a ballot may last 10 s, a member may open one every 10 s).
pub fn with_snapshot(configs: &mut [Config], hub_url: &str, outage_s: u64) {
    for config in configs.iter_mut() {
        config.snapshot = Some(crate::config::SnapshotSection {
            hub_url: hub_url.to_string(),
            space: "x0-devnet.eth".into(),
            poll_interval_s: 1,
            outage_s,
            request_timeout_ms: 1_000,
            retries_max: 0,
            backoff_ms_initial: 100,
            backoff_ms_max: 100,
            votes_max: 10_000,
            registry: Default::default(),
        });
        config.ballot.duration_s_min = 10;
        config.ballot.open_interval_s = 10;
        config.ballot.attest_interval_s = 2;
        config.ballot.attestation_ttl_s = 10;
    }
}

/// How often the devnet prints a summary line per node.
const REPORT_INTERVAL: Duration = Duration::from_secs(5);
/// With at most this many nodes every node dials every earlier one (a full mesh);
/// beyond it each dials a few, and gossipsub's peer exchange and Kademlia do the rest.
const FULL_DIAL_NODES_MAX: usize = 12;

/// The config of devnet node `index`: loopback only, any free port, its own data dir.
pub fn node_config(
    index: usize,
    nodes: usize,
    data_root: &Path,
    http_port: u16,
    probe_interval_ms: u64,
) -> Config {
    let mut config = Config::embedded();
    config.node.data_dir = data_root.join(format!("node-{index}"));
    config.network.listen = vec![
        "/ip4/127.0.0.1/tcp/0".parse().expect("valid multiaddr"),
        "/ip4/127.0.0.1/udp/0/quic-v1"
            .parse()
            .expect("valid multiaddr"),
    ];
    config.http.bind = SocketAddr::from((Ipv4Addr::LOCALHOST, http_port));
    config.probe.interval_ms = probe_interval_ms;
    // Every devnet node shares 127.0.0.1; the Sybil penalty for shared IPs must not apply.
    config.gossip.score.ip_colocation_factor_threshold = (nodes + 1) as f64;
    config
}

/// File name of a member's share inside its data dir, as devnet and tests write it.
pub const SHARE_FILE_NAME: &str = "committee-share.toml";

/// Makes every node in `configs` a member of one committee: creates their identities,
/// deals keys (or reuses `data_root/committee.toml` from an earlier run on the same dir),
/// writes each member's share into its data dir and the section into its config.
pub fn with_committee(
    configs: &mut [Config],
    data_root: &Path,
    supermajority_slots: Vec<String>,
) -> Result<(), NodeError> {
    let mut peers = Vec::with_capacity(configs.len());
    for config in configs.iter() {
        let key = crate::identity::load_or_create(&config.data_dir())?;
        peers.push(key.public().to_peer_id());
    }
    let public = data_root.join("committee.toml");
    let runtime = |e: committee::CommitteeKeyError| NodeError::Runtime(e.to_string());
    let section = if public.exists() {
        let text = std::fs::read_to_string(&public)
            .map_err(|e| NodeError::Runtime(format!("{}: {e}", public.display())))?;
        let file: CommitteeFile = toml::from_str(&text)
            .map_err(|e| NodeError::Config(format!("{}: {e}", public.display())))?;
        let expected: Vec<String> = peers.iter().map(|p| p.to_string()).collect();
        if file.committee.members != expected {
            return Err(NodeError::Config(format!(
                "{} names other members than the nodes in this data dir; use a new --data-dir",
                public.display()
            )));
        }
        file.committee
    } else {
        let dealt = committee::deal(&peers, 1, supermajority_slots, &mut rand::thread_rng());
        std::fs::create_dir_all(data_root)
            .map_err(|e| NodeError::Runtime(format!("{}: {e}", data_root.display())))?;
        let text = toml::to_string(&CommitteeFile {
            committee: dealt.section.clone(),
        })
        .expect("committee serialises");
        std::fs::write(&public, text)
            .map_err(|e| NodeError::Runtime(format!("{}: {e}", public.display())))?;
        for (config, share) in configs.iter().zip(&dealt.shares) {
            committee::write_share_file(share, &config.data_dir().join(SHARE_FILE_NAME))
                .map_err(runtime)?;
        }
        dealt.section
    };
    for config in configs.iter_mut() {
        config.committee = Some(committee::CommitteeSection {
            share_file: Some(SHARE_FILE_NAME.into()),
            ..section.clone()
        });
    }
    let authority = devnet_authority(data_root)?;
    with_credentials(configs, &peers, &authority)
}

/// File name of a member's credential inside its data dir, as devnet and tests write it.
pub const CREDENTIAL_FILE_NAME: &str = "credential.biscuit";

/// The devnet's network authority: `data_root/authority.key` (hex, mode 0600), created on
/// the first run. A real network keeps this key offline (docs/TOKENS.md).
pub fn devnet_authority(data_root: &Path) -> Result<biscuit_auth::KeyPair, NodeError> {
    let path = data_root.join("authority.key");
    let runtime = |e: String| NodeError::Runtime(format!("{}: {e}", path.display()));
    if path.exists() {
        let text = std::fs::read_to_string(&path).map_err(|e| runtime(e.to_string()))?;
        let key =
            biscuit_auth::PrivateKey::from_bytes_hex(text.trim(), biscuit_auth::Algorithm::Ed25519)
                .map_err(|e| runtime(e.to_string()))?;
        return Ok(biscuit_auth::KeyPair::from(&key));
    }
    std::fs::create_dir_all(data_root).map_err(|e| runtime(e.to_string()))?;
    let authority = biscuit_auth::KeyPair::new();
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| runtime(e.to_string()))?;
    writeln!(file, "{}", authority.private().to_bytes_hex()).map_err(|e| runtime(e.to_string()))?;
    Ok(authority)
}

/// Mints every node a 30-day credential with all rights, writes it into its data dir,
/// and points the node's `[auth]` at it and at the authority's public key.
pub fn with_credentials(
    configs: &mut [Config],
    peers: &[PeerId],
    authority: &biscuit_auth::KeyPair,
) -> Result<(), NodeError> {
    use x0_core::auth::token::{self, Grant, Operation, Right};
    let now_s = x0_actors::wall_clock::unix_ms_now() / 1000;
    for (config, peer) in configs.iter_mut().zip(peers) {
        let grant = Grant {
            member: x0_actors::messages::PeerKey(peer.to_bytes()),
            rights: Operation::ALL
                .into_iter()
                .flat_map(Right::for_operation)
                .collect(),
            expires_unix_s: now_s + token::CREDENTIAL_TTL_S_DEFAULT,
        };
        let credential = token::mint(authority, &grant)
            .and_then(|bytes| {
                biscuit_auth::Biscuit::from(&bytes[..], authority.public())
                    .and_then(|b| b.to_base64())
                    .map_err(Into::into)
            })
            .map_err(|e| NodeError::Runtime(format!("minting a devnet credential: {e}")))?;
        let path = config.data_dir().join(CREDENTIAL_FILE_NAME);
        std::fs::write(&path, format!("{credential}\n"))
            .map_err(|e| NodeError::Runtime(format!("{}: {e}", path.display())))?;
        config.auth = Some(crate::config::AuthSection::new(
            authority.public().to_bytes_hex(),
            Some(CREDENTIAL_FILE_NAME.into()),
        ));
    }
    Ok(())
}

/// Which earlier nodes node `index` dials.
pub fn dial_targets(index: usize, nodes: usize) -> Vec<usize> {
    if nodes <= FULL_DIAL_NODES_MAX {
        return (0..index).collect();
    }
    let mut targets: Vec<usize> = [
        0,
        index / 2,
        index.saturating_sub(1),
        index.saturating_sub(2),
    ]
    .into_iter()
    .filter(|&t| t < index)
    .collect();
    targets.sort_unstable();
    targets.dedup();
    targets
}

/// Starts one node per config and connects them per [`dial_targets`].
pub async fn start_mesh(configs: Vec<Config>) -> Result<Vec<Node>, NodeError> {
    let count = configs.len();
    let mut nodes: Vec<Node> = Vec::with_capacity(count);
    for config in configs {
        nodes.push(Node::start(config).await?);
    }
    let mut tcp_addrs = Vec::with_capacity(count);
    for node in &nodes {
        tcp_addrs.push(tcp_address(node).await?);
    }
    for (index, node) in nodes.iter().enumerate() {
        for target in dial_targets(index, count) {
            node.network
                .send(Dial(tcp_addrs[target].clone()))
                .await
                .map_err(|e| NodeError::Runtime(e.to_string()))?
                .map_err(|e| {
                    NodeError::Runtime(format!("node {index} dialing node {target}: {e}"))
                })?;
        }
    }
    Ok(nodes)
}

/// The node's TCP listen address with its /p2p/ suffix.
pub async fn tcp_address(node: &Node) -> Result<Multiaddr, NodeError> {
    node.network_status()
        .await?
        .listen_addrs
        .iter()
        .find(|a| a.contains("/tcp/"))
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| NodeError::Runtime(format!("node {} has no TCP listener", node.peer_id)))
}

/// Waits until every node has at least `mesh_peers_min` mesh peers on `topic`.
pub async fn wait_for_mesh(
    nodes: &[Node],
    topic: &str,
    mesh_peers_min: usize,
    timeout: Duration,
) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let mut all = true;
        for node in nodes {
            let mesh = match node.network_status().await {
                Ok(status) => status
                    .topics
                    .iter()
                    .find(|t| t.topic == topic)
                    .map(|t| t.mesh_peers.len())
                    .unwrap_or(0),
                Err(_) => 0,
            };
            all &= mesh >= mesh_peers_min;
        }
        if all {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs a devnet until `stop` resolves or the duration passes, printing as it goes.
pub async fn run(
    options: DevnetOptions,
    stop: impl Future<Output = Result<(), NodeError>>,
) -> Result<(), NodeError> {
    let temporary = match &options.data_dir {
        Some(_) => None,
        None => Some(
            tempfile::tempdir()
                .map_err(|e| NodeError::Runtime(format!("temporary data dir: {e}")))?,
        ),
    };
    let data_root = options
        .data_dir
        .clone()
        .or_else(|| temporary.as_ref().map(|t| t.path().to_path_buf()))
        .expect("one of the two is set");
    let mut configs: Vec<Config> = (0..options.nodes)
        .map(|index| {
            let port = options
                .http_port_base
                .map_or(0, |base| base.saturating_add(index as u16));
            node_config(
                index,
                options.nodes,
                &data_root,
                port,
                options.probe_interval_ms,
            )
        })
        .collect();
    with_committee(&mut configs, &data_root, vec!["charter/*".into()])?;
    if let Some(hub) = &options.snapshot_hub {
        with_snapshot(&mut configs, hub, options.outage_s);
    }
    tokio::pin!(stop);
    // A stop during start-up ends the run at once; the temporary dir goes with it.
    let nodes = tokio::select! {
        nodes = start_mesh(configs) => nodes?,
        result = &mut stop => return result,
    };
    println!(
        "x0 devnet: {} nodes on loopback, data in {}",
        nodes.len(),
        data_root.display()
    );
    for (index, node) in nodes.iter().enumerate() {
        println!(
            "  node {index:>2}  {}  metrics http://{}/metrics  status http://{}/status",
            node.peer_id, node.http_addr, node.http_addr
        );
    }
    println!(
        "Propose a change: x0 propose --api http://{} --slot gossip/mesh_n --payload 8",
        nodes[0].http_addr
    );
    if let Some(hub) = &options.snapshot_hub {
        println!(
            "Snapshot hub {hub}; after {} s of outage the nodes attest it, and once `x0 ballot status --api http://{}` says fallback:",
            options.outage_s, nodes[0].http_addr
        );
        println!(
            "  x0 ballot open --api http://{} --title \"lift the halt\" --effect lift-halt --duration-s 30",
            nodes[0].http_addr
        );
        println!("  x0 ballot vote --api http://<node> <ballot id> yes   (on each node), then x0 ballot tally <ballot id>");
    }
    println!("Ctrl-C stops the devnet.");
    let expected_mesh = (nodes.len() - 1).min(crate::config::Config::embedded().gossip.mesh_n_low);
    let mesh_wait = wait_for_mesh(
        &nodes,
        topics::PROBE,
        expected_mesh,
        Duration::from_secs(15),
    );
    let meshed = tokio::select! {
        meshed = mesh_wait => meshed,
        result = &mut stop => return stop_all(nodes, temporary, result).await,
    };
    if !meshed {
        println!("warning: not every node reached {expected_mesh} mesh peers within 15 s");
    }

    let finish = async {
        match options.duration {
            Some(duration) => tokio::time::sleep(duration).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(finish);
    let mut report = tokio::time::interval(REPORT_INTERVAL);
    report.tick().await;
    let outcome = loop {
        tokio::select! {
            result = &mut stop => break result,
            _ = &mut finish => break Ok(()),
            _ = report.tick() => print_summary(&nodes).await,
        }
    };
    print_summary(&nodes).await;
    stop_all(nodes, temporary, outcome).await
}

/// Shuts every node down cleanly, then removes the temporary data dir (if any).
async fn stop_all(
    nodes: Vec<Node>,
    temporary: Option<tempfile::TempDir>,
    outcome: Result<(), NodeError>,
) -> Result<(), NodeError> {
    for node in nodes {
        node.shutdown().await?;
    }
    drop(temporary);
    outcome
}

async fn print_summary(nodes: &[Node]) {
    for (index, node) in nodes.iter().enumerate() {
        let (peers, mesh) = match node.network_status().await {
            Ok(status) => (
                status.connected_peers.len(),
                status
                    .topics
                    .iter()
                    .find(|t| t.topic == topics::PROBE)
                    .map_or(0, |t| t.mesh_peers.len()),
            ),
            Err(_) => (0, 0),
        };
        let stats = node.probe.send(GetProbeStats).await.ok();
        let (sent, received) = stats.map_or((0, 0), |s| (s.published, s.delivered));
        let certificates = match &node.certify {
            Some(certify) => certify
                .send(GetCertifyStatus)
                .await
                .map_or(0, |s| s.0.certificates),
            None => 0,
        };
        println!("node {index:>2}: peers {peers:>2}  mesh {mesh:>2}  probes sent {sent:>5}  received {received:>6}  certificates {certificates}");
    }
}
