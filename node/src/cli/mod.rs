//! The `x0` command line: the clap definitions and one module per subcommand. `main.rs`
//! parses, sets up logging and maps [`Command::run`]'s result to the exit code: 0 done,
//! 1 refused or failed at run time, 2 for what the operator must fix (flags, config,
//! data dir), the message naming it.

pub mod ballot;
pub mod certify;
pub mod committee;
pub mod common;
pub mod devnet;
pub mod guardian;
pub mod node;
pub mod sim;
pub mod status;
pub mod sublime;
pub mod token;

use clap::{Parser, Subcommand};

pub use common::Outcome;

use crate::NodeError;

#[derive(Parser)]
#[command(
    name = "x0",
    version,
    about = "x0tta6bl4 mesh: a peer-to-peer mesh node for networks with hostile members and broken links",
    long_about = "x0tta6bl4 mesh: a peer-to-peer mesh node for networks with hostile members and broken links.\n\n\
Run a peer with `x0 node`, look at a running one with `x0 status`, start a whole mesh on \
this machine with `x0 devnet --nodes 5`, or simulate one with `x0 sim scenarios/quickstart.toml`."
)]
pub struct Cli {
    /// Log filter (tracing's EnvFilter syntax), e.g. `info` or `x0_node=debug,libp2p=warn`.
    #[arg(long, global = true, env = "X0_LOG")]
    pub log: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run a mesh peer: libp2p gossipsub over TCP and QUIC, metrics and status over HTTP.
    ///
    /// Without --config it reads <data dir>/x0.toml when present, else runs on the embedded
    /// defaults. Stop it with SIGINT or SIGTERM; it closes its listeners and exits 0.
    Node(node::NodeArgs),
    /// Print a running node's status (peers, scores, mesh per topic) for a person.
    Status(status::StatusArgs),
    /// Start N real nodes on loopback in this process, mesh them and trickle probes.
    ///
    /// The nodes form one committee (keys dealt in memory), so `x0 propose --api <a node's
    /// URL>` reaches a certificate. Prints each node's URL; runs until Ctrl-C or --duration-s.
    Devnet(devnet::DevnetArgs),
    /// Committee keys: deal them (trusted dealer) or show a committee.
    #[command(subcommand)]
    Committee(committee::CommitteeCommand),
    /// Propose a network-wide change through a running member node (loopback API only).
    Propose(certify::ProposeArgs),
    /// Certificates: verify one offline against the committee's public keys.
    #[command(subcommand)]
    Cert(certify::CertCommand),
    /// Run a scenario in the deterministic simulator (the node's own protocol cores over a
    /// modelled gossipsub and network): a report, plots with --out, a sweep with --runs.
    ///
    /// Exit 0 when every criterion held, 1 when one failed (it prints the command that
    /// replays the run), 2 when the scenario file or a flag must be fixed.
    #[command(visible_alias = "simulate")]
    Sim(sim::SimArgs),
    /// Capability tokens, offline: the authority's key, member credentials, access tokens,
    /// attenuation, inspection, verification and signed revocation lists (docs/TOKENS.md).
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// DAO decisions when Snapshot is down: open a local ballot, vote, read its tally, or
    /// re-verify a decided ballot's certificate offline (docs/PROTOCOL.md, "Ballots").
    #[command(subcommand)]
    Ballot(ballot::BallotCommand),
    /// The node's telemetry exporter (started by `x0 node` with a `[telemetry]` section):
    /// reads pushes on stdin, sends them as UDP datagrams, answers on stdout.
    #[command(hide = true)]
    TelemetryExporter,
    /// Guardian key custody: the t-of-n ceremonies (dealer or DKG), approvals, recovery,
    /// refresh and repair of the Sublime store's master key (docs/GUARDIANS.md).
    #[command(subcommand)]
    Guardian(guardian::GuardianCommand),
    /// Sublime, the encrypted content store: init, put, get (with a recovered master key).
    #[command(subcommand)]
    Sublime(sublime::SublimeCommand),
}

impl Command {
    /// The log filter when neither --log nor X0_LOG sets one. Kademlia warns at every
    /// start without peers ("no known peers"), which is not actionable; a devnet's nodes
    /// would drown its output in their info lines.
    pub fn default_log(&self) -> &'static str {
        match self {
            Command::Devnet(_) => "warn,libp2p_kad=error",
            _ => "info,libp2p_kad=error",
        }
    }

    /// Runs the subcommand.
    pub fn run(self) -> Result<Outcome, NodeError> {
        let done = |result: Result<(), NodeError>| result.map(|()| Outcome::Done);
        match self {
            Command::Node(args) => done(node::run(args)),
            Command::Status(args) => done(status::run(args)),
            Command::Devnet(args) => done(devnet::run(args)),
            Command::Committee(command) => done(committee::run(&command)),
            Command::Propose(args) => done(certify::propose(args)),
            Command::Cert(command) => done(certify::run(&command)),
            Command::Sim(args) => done(sim::run(&args)),
            Command::Token(command) => token::run(&command),
            Command::Ballot(command) => ballot::run(&command),
            Command::TelemetryExporter => {
                let stdin = std::io::stdin().lock();
                done(
                    x0_actors::charter::exporter::run(stdin, std::io::stdout().lock())
                        .map_err(|e| NodeError::Runtime(format!("telemetry exporter: {e}"))),
                )
            }
            Command::Guardian(command) => done(guardian::run(&command)),
            Command::Sublime(command) => done(sublime::run(&command)),
        }
    }
}
