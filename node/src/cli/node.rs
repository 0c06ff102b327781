//! `x0 node`: run a mesh peer, or `x0 node init` its data dir.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use libp2p::Multiaddr;

use crate::cli::common::StopSignals;
use crate::config::{self, Config};
use crate::{Node, NodeError};

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct NodeArgs {
    #[command(subcommand)]
    action: Option<NodeAction>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum NodeAction {
    /// Create the data dir with a commented default config (x0.toml) and the node identity.
    Init(InitArgs),
}

#[derive(Args)]
struct RunArgs {
    /// Config file (TOML). Fields left out take the embedded defaults.
    #[arg(long, short, env = "X0_CONFIG")]
    config: Option<PathBuf>,
    /// Data dir: identity key and state. Overrides node.data_dir.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Listen multiaddr; repeat for several. Replaces network.listen.
    #[arg(long = "listen", value_name = "MULTIADDR")]
    listen: Vec<Multiaddr>,
    /// Bootstrap peer multiaddr ending in /p2p/<peer id>; repeat for several. Adds to network.bootstrap.
    #[arg(long = "bootstrap", value_name = "MULTIADDR")]
    bootstrap: Vec<Multiaddr>,
    /// HTTP bind address for /metrics, /health, /status. Overrides http.bind.
    #[arg(long, value_name = "IP:PORT")]
    http_bind: Option<SocketAddr>,
    /// Discover peers on the local link with mDNS. Overrides network.mdns.
    #[arg(long)]
    mdns: bool,
    /// Publish a probe this often (0: never). Overrides probe.interval_ms.
    #[arg(long, value_name = "MS")]
    probe_interval_ms: Option<u64>,
}

#[derive(Args)]
struct InitArgs {
    /// Data dir to create. Default: $XDG_DATA_HOME/x0 or ~/.local/share/x0.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Overwrite an existing x0.toml (the identity is never overwritten).
    #[arg(long)]
    force: bool,
}

/// Runs `x0 node` or `x0 node init`.
pub fn run(args: NodeArgs) -> Result<(), NodeError> {
    match args.action {
        Some(NodeAction::Init(init)) => node_init(init),
        None => run_node(args.run),
    }
}

fn resolve_config(run: &RunArgs) -> Result<Config, NodeError> {
    let mut config = match &run.config {
        Some(path) => Config::from_file(path).map_err(|e| NodeError::Config(e.to_string()))?,
        None => {
            let data_dir = run
                .data_dir
                .clone()
                .unwrap_or_else(config::default_data_dir);
            let in_data_dir = data_dir.join(config::FILE_NAME);
            if in_data_dir.exists() {
                Config::from_file(&in_data_dir).map_err(|e| NodeError::Config(e.to_string()))?
            } else {
                Config::embedded()
            }
        }
    };
    if let Some(data_dir) = &run.data_dir {
        config.node.data_dir = data_dir.clone();
    }
    if !run.listen.is_empty() {
        config.network.listen = run.listen.clone();
    }
    config
        .network
        .bootstrap
        .extend(run.bootstrap.iter().cloned());
    if let Some(bind) = run.http_bind {
        config.http.bind = bind;
    }
    if run.mdns {
        config.network.mdns = true;
    }
    if let Some(interval) = run.probe_interval_ms {
        config.probe.interval_ms = interval;
    }
    config
        .validate("command line")
        .map_err(|e| NodeError::Config(e.to_string()))?;
    Ok(config)
}

fn run_node(run: RunArgs) -> Result<(), NodeError> {
    let config = resolve_config(&run)?;
    actix_rt::System::new().block_on(async move {
        // Handlers first: a signal during start-up must stop the node cleanly too.
        let mut signals = StopSignals::install()?;
        let node = tokio::select! {
            node = Node::start(config) => node?,
            signal = signals.recv() => {
                tracing::info!(signal, "stopped during start-up");
                return Ok(());
            }
        };
        println!("x0 node {} running", node.peer_id);
        println!("  metrics  http://{}/metrics", node.http_addr);
        println!("  status   http://{}/status", node.http_addr);
        for address in node.network_status().await?.listen_addrs {
            println!("  listen   {address}");
        }
        let signal = signals.recv().await;
        tracing::info!(signal, "stopping");
        node.shutdown().await
    })
}

fn node_init(init: InitArgs) -> Result<(), NodeError> {
    let data_dir = init.data_dir.unwrap_or_else(config::default_data_dir);
    let data_dir = std::path::absolute(&data_dir).unwrap_or(data_dir);
    let path = data_dir.join(config::FILE_NAME);
    if path.exists() && !init.force {
        return Err(NodeError::Config(format!(
            "{} already exists; pass --force to overwrite it (the identity key is kept)",
            path.display()
        )));
    }
    std::fs::create_dir_all(&data_dir).map_err(|e| {
        NodeError::Config(format!(
            "--data-dir {}: cannot create: {e}",
            data_dir.display()
        ))
    })?;
    let data_dir_toml = toml::Value::String(data_dir.display().to_string()).to_string();
    let text =
        config::DEFAULT_TOML.replacen("data_dir = \"\"", &format!("data_dir = {data_dir_toml}"), 1);
    Config::from_toml(&text, &path.display().to_string())
        .map_err(|e| NodeError::Config(e.to_string()))?;
    std::fs::write(&path, text)
        .map_err(|e| NodeError::Config(format!("{}: cannot write: {e}", path.display())))?;
    let key = crate::identity::load_or_create(&data_dir)?;
    println!("wrote {}", path.display());
    println!("node identity {}", key.public().to_peer_id());
    println!("start it with: x0 node --data-dir {}", data_dir.display());
    Ok(())
}
