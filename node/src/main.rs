//! `x0`: the mesh node's command line. Errors from the operator (flags, config, data dir)
//! exit with code 2 and name what to fix; failures at run time exit with 1.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use libp2p::Multiaddr;
use tracing_subscriber::EnvFilter;
use x0_node::api::ProposeRequest;
use x0_node::ballot_cli::{self, BallotCommand};
use x0_node::certify_cli;
use x0_node::config::{self, Config};
use x0_node::devnet::{self, DevnetOptions};
use x0_node::guardian_cli::{self, GuardianCommand};
use x0_node::sim_cli;
use x0_node::sublime::{self, SublimeCommand};
use x0_node::token_cli::{self, TokenCommand};
use x0_node::{status::Status, Node, NodeError};

#[derive(Parser)]
#[command(
    name = "x0",
    version,
    about = "x0tta6bl4 mesh: a peer-to-peer mesh node for networks with hostile members and broken links",
    long_about = "x0tta6bl4 mesh: a peer-to-peer mesh node for networks with hostile members and broken links.\n\n\
Run a peer with `x0 node`, look at a running one with `x0 status`, start a whole mesh on \
this machine with `x0 devnet --nodes 5`, or simulate one with `x0 sim scenarios/quickstart.toml`."
)]
struct Cli {
    /// Log filter (tracing's EnvFilter syntax), e.g. `info` or `x0_node=debug,libp2p=warn`.
    #[arg(long, global = true, env = "X0_LOG")]
    log: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a mesh peer: libp2p gossipsub over TCP and QUIC, metrics and status over HTTP.
    ///
    /// Without --config it reads <data dir>/x0.toml when present, else runs on the embedded
    /// defaults. Stop it with SIGINT or SIGTERM; it closes its listeners and exits 0.
    Node(NodeArgs),
    /// Print a running node's status (peers, scores, mesh per topic) for a person.
    Status(StatusArgs),
    /// Start N real nodes on loopback in this process, mesh them and trickle probes.
    ///
    /// The nodes form one committee (keys dealt in memory), so `x0 propose --api <a node's
    /// URL>` reaches a certificate. Prints each node's URL; runs until Ctrl-C or --duration-s.
    Devnet(DevnetArgs),
    /// Committee keys: deal them (trusted dealer) or show a committee.
    #[command(subcommand)]
    Committee(CommitteeCommand),
    /// Propose a network-wide change through a running member node (loopback API only).
    Propose(ProposeArgs),
    /// Certificates: verify one offline against the committee's public keys.
    #[command(subcommand)]
    Cert(CertCommand),
    /// Run a scenario in the deterministic simulator (the node's own protocol cores over a
    /// modelled gossipsub and network): a report, plots with --out, a sweep with --runs.
    ///
    /// Exit 0 when every criterion held, 1 when one failed (it prints the command that
    /// replays the run), 2 when the scenario file or a flag must be fixed.
    #[command(visible_alias = "simulate")]
    Sim(sim_cli::SimArgs),
    /// Capability tokens, offline: the authority's key, member credentials, access tokens,
    /// attenuation, inspection, verification and signed revocation lists (docs/TOKENS.md).
    #[command(subcommand)]
    Token(TokenCommand),
    /// DAO decisions when Snapshot is down: open a local ballot, vote, read its tally, or
    /// re-verify a decided ballot's certificate offline (docs/PROTOCOL.md, "Ballots").
    #[command(subcommand)]
    Ballot(BallotCommand),
    /// The node's telemetry exporter (started by `x0 node` with a `[telemetry]` section):
    /// reads pushes on stdin, sends them as UDP datagrams, answers on stdout.
    #[command(hide = true)]
    TelemetryExporter,
    /// Guardian key custody: the t-of-n ceremonies (dealer or DKG), approvals, recovery,
    /// refresh and repair of the Sublime store's master key (docs/GUARDIANS.md).
    #[command(subcommand)]
    Guardian(GuardianCommand),
    /// Sublime, the encrypted content store: init, put, get (with a recovered master key).
    #[command(subcommand)]
    Sublime(SublimeCommand),
}

#[derive(Subcommand)]
enum CommitteeCommand {
    /// Deal committee keys: DIR/committee.toml (public, for every node's config) and one
    /// secret share file per member (mode 0600).
    Deal {
        /// One member PeerId per line (`#` comments allowed); the order fixes the indices.
        #[arg(long, value_name = "FILE")]
        members: PathBuf,
        /// Output directory; must not hold files of an earlier dealing.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// The committee's epoch; proposals and certificates carry it.
        #[arg(long, default_value_t = 1)]
        epoch: u64,
        /// A slot (or prefix ending in `*`) that needs a supermajority; repeat for several.
        #[arg(long = "supermajority-slot", value_name = "PATTERN")]
        supermajority_slots: Vec<String>,
    },
    /// Print a committee: size, thresholds, keys, members.
    Show {
        /// A node config or a committee.toml with a [committee] table.
        #[arg(long, value_name = "FILE")]
        committee: PathBuf,
    },
}

#[derive(Args)]
struct ProposeArgs {
    /// The member node's HTTP endpoint (it must be on this machine).
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:9480")]
    api: reqwest::Url,
    /// What the change touches, e.g. gossip/mesh_n.
    #[arg(long)]
    slot: String,
    /// The new value.
    #[arg(long)]
    payload: String,
    /// Share of the network the change affects, 0.0 to 1.0.
    #[arg(long, default_value_t = 1.0)]
    affected_fraction: f64,
    /// Wait this long for the certificate (0: return after proposing).
    #[arg(long, default_value_t = 10)]
    wait_s: u64,
    /// Write the certificate (JSON) here; default: print it.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

#[derive(Subcommand)]
enum CertCommand {
    /// Verify a certificate file (JSON from `x0 propose --out` or /certificates/{id}, or
    /// hex of the wire encoding). Exit 0 valid, 1 invalid, 2 unreadable arguments.
    Verify {
        file: PathBuf,
        /// A node config or committee.toml with the committee's [committee] table.
        #[arg(long, value_name = "FILE")]
        committee: PathBuf,
    },
}

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
struct NodeArgs {
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

#[derive(Args)]
struct StatusArgs {
    /// The node's HTTP endpoint, e.g. http://127.0.0.1:9480
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:9480")]
    api: reqwest::Url,
    /// Print the raw JSON instead.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct DevnetArgs {
    /// How many nodes to start (2 to 64).
    #[arg(long, value_parser = clap::value_parser!(u16).range(2..=64))]
    nodes: u16,
    /// Each node publishes a probe this often.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..))]
    probe_interval_ms: u64,
    /// Stop after this many seconds (0: run until Ctrl-C).
    #[arg(long, default_value_t = 0)]
    duration_s: u64,
    /// Keep node data here (default: a temporary dir removed at exit).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// First HTTP port; node i serves on base+i (default: any free port).
    #[arg(long)]
    http_port_base: Option<u16>,
    /// Every node reads DAO votes from this Snapshot hub (its GraphQL URL).
    #[arg(long, value_name = "URL", conflicts_with = "hub_down")]
    snapshot_hub: Option<String>,
    /// Point every node at a Snapshot hub that is down (nothing listens), so the local
    /// fallback ballot takes over after --outage-s.
    #[arg(long)]
    hub_down: bool,
    /// With a hub: how long it may fail before the nodes attest an outage, s.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=604_800))]
    outage_s: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Kademlia warns at every start without peers ("no known peers"); not actionable.
    let default_log = match cli.command {
        Command::Devnet(_) => "warn,libp2p_kad=error",
        _ => "info,libp2p_kad=error",
    };
    let filter = cli.log.clone().unwrap_or_else(|| default_log.to_string());
    let filter = match EnvFilter::try_new(&filter) {
        Ok(filter) => filter,
        Err(error) => {
            eprintln!(
                "error: --log / X0_LOG: `{filter}` is not a valid filter ({error}); try `info`"
            );
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let result = match cli.command {
        Command::Node(NodeArgs {
            action: Some(NodeAction::Init(init)),
            ..
        }) => node_init(init),
        Command::Node(NodeArgs { run, .. }) => run_node(run),
        Command::Status(args) => status(args),
        Command::Devnet(args) => devnet(args),
        Command::Committee(CommitteeCommand::Deal {
            members,
            out,
            epoch,
            supermajority_slots,
        }) => certify_cli::deal(&members, &out, epoch, supermajority_slots),
        Command::Committee(CommitteeCommand::Show { committee }) => certify_cli::show(&committee),
        Command::Propose(args) => propose(args),
        Command::Cert(CertCommand::Verify { file, committee }) => {
            certify_cli::verify_file(&file, &committee)
        }
        Command::Sim(args) => sim_cli::run(&args),
        Command::Token(command) => match token_cli::run(&command) {
            Ok(token_cli::Outcome::Done) => Ok(()),
            // `x0 token verify` printed why; a refused token is exit 1, not an error.
            Ok(token_cli::Outcome::Refused) => return ExitCode::from(1),
            Err(error) => Err(error),
        },
        Command::TelemetryExporter => {
            let stdin = std::io::stdin().lock();
            x0_actors::charter::exporter::run(stdin, std::io::stdout().lock())
                .map_err(|e| NodeError::Runtime(format!("telemetry exporter: {e}")))
        }
        Command::Ballot(command) => match ballot_cli::run(&command) {
            Ok(ballot_cli::Outcome::Done) => Ok(()),
            Ok(ballot_cli::Outcome::Invalid) => return ExitCode::from(1),
            Err(error) => Err(error),
        },
        Command::Guardian(command) => guardian_cli::run(&command),
        Command::Sublime(command) => sublime::run(&command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(error.exit_code() as u8)
        }
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
    let key = x0_node::identity::load_or_create(&data_dir)?;
    println!("wrote {}", path.display());
    println!("node identity {}", key.public().to_peer_id());
    println!("start it with: x0 node --data-dir {}", data_dir.display());
    Ok(())
}

fn status(args: StatusArgs) -> Result<(), NodeError> {
    let url = args
        .api
        .join("/status")
        .map_err(|e| NodeError::Config(format!("--api {}: {e}", args.api)))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| NodeError::Runtime(e.to_string()))?;
    runtime.block_on(async move {
        let response = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(5))
            .build()
            .map_err(|e| NodeError::Runtime(e.to_string()))?
            .get(url.clone())
            .send()
            .await
            .map_err(|e| {
                NodeError::Runtime(format!(
                    "{url}: {e}; is the node running, and is --api its http.bind?"
                ))
            })?;
        if !response.status().is_success() {
            return Err(NodeError::Runtime(format!(
                "{url}: HTTP {}",
                response.status()
            )));
        }
        let text = response
            .text()
            .await
            .map_err(|e| NodeError::Runtime(format!("{url}: {e}")))?;
        if args.json {
            println!("{text}");
            return Ok(());
        }
        let status: Status = serde_json::from_str(&text)
            .map_err(|e| NodeError::Runtime(format!("{url}: not an x0 status document: {e}")))?;
        print!("{}", status.render());
        Ok(())
    })
}

fn devnet(args: DevnetArgs) -> Result<(), NodeError> {
    let options = DevnetOptions {
        nodes: usize::from(args.nodes),
        probe_interval_ms: args.probe_interval_ms,
        duration: (args.duration_s > 0).then(|| std::time::Duration::from_secs(args.duration_s)),
        data_dir: args.data_dir,
        http_port_base: args.http_port_base,
        snapshot_hub: match (args.hub_down, args.snapshot_hub) {
            (true, _) => Some(devnet::HUB_DOWN_URL.to_string()),
            (false, hub) => hub,
        },
        outage_s: args.outage_s,
    };
    actix_rt::System::new().block_on(async move {
        let mut signals = StopSignals::install()?;
        devnet::run(options, async move {
            let signal = signals.recv().await;
            tracing::info!(signal, "stopping the devnet");
            Ok(())
        })
        .await
    })
}

fn propose(args: ProposeArgs) -> Result<(), NodeError> {
    if !(0.0..=1.0).contains(&args.affected_fraction) {
        return Err(NodeError::Config(format!(
            "--affected-fraction {}: must be between 0.0 and 1.0",
            args.affected_fraction
        )));
    }
    let request = ProposeRequest {
        slot: args.slot,
        payload: args.payload,
        affected_fraction: args.affected_fraction,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| NodeError::Runtime(e.to_string()))?;
    let wait = std::time::Duration::from_secs(args.wait_s);
    let (id, certificate) = runtime.block_on(certify_cli::propose(&args.api, &request, wait))?;
    println!("proposal {id}");
    let Some(certificate) = certificate else {
        return Ok(());
    };
    let json = serde_json::to_string_pretty(&certificate).expect("document serialises");
    match args.out {
        Some(path) => {
            std::fs::write(&path, json + "\n").map_err(|e| {
                NodeError::Config(format!("--out {}: cannot write: {e}", path.display()))
            })?;
            println!(
                "certified by {} signers; wrote {}",
                certificate.signers.len(),
                path.display()
            );
        }
        None => println!("{json}"),
    }
    Ok(())
}

/// SIGINT and SIGTERM, registered eagerly: a signal that arrives before anyone waits is
/// kept, not lost to the default handler (which would kill the process mid-write).
struct StopSignals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn install() -> Result<Self, NodeError> {
        use tokio::signal::unix::{signal, SignalKind};
        let handler = |kind, name: &str| {
            signal(kind).map_err(|e| NodeError::Runtime(format!("{name} handler: {e}")))
        };
        Ok(StopSignals {
            interrupt: handler(SignalKind::interrupt(), "SIGINT")?,
            terminate: handler(SignalKind::terminate(), "SIGTERM")?,
        })
    }

    /// Waits for the next stop signal; returns its name.
    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }
}
