//! `x0 devnet`: the flags, and the stop signals around [`crate::devnet::run`].

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::cli::common::StopSignals;
use crate::devnet::{self, DevnetOptions};
use crate::NodeError;

#[derive(Args)]
pub struct DevnetArgs {
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

/// Runs `x0 devnet` until a stop signal or `--duration-s`.
pub fn run(args: DevnetArgs) -> Result<(), NodeError> {
    let options = DevnetOptions {
        nodes: usize::from(args.nodes),
        probe_interval_ms: args.probe_interval_ms,
        duration: (args.duration_s > 0).then(|| Duration::from_secs(args.duration_s)),
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
