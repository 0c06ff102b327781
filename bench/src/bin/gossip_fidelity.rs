//! Is the simulator's gossip model faithful? Runs one plan (random topology, fixed link
//! latency, a steady stream of messages from random nodes) with real libp2p gossipsub
//! swarms in this process and with the model, and compares median and p99 delivery
//! latency and full messages sent per delivery. Exits 1 when a figure of the model is
//! further than the tolerance from the real swarms', 2 on a bad argument.
//!
//! Run: `cargo run --release -p x0-bench --bin gossip_fidelity -- --nodes 50 --latency-ms 20`
//! Results and how they were taken: docs/BENCHMARKS.md ("Gossip model fidelity").

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use serde::Serialize;
use x0_bench::fidelity::{self, Figures, Plan, PlanSpec, RealOutcome};
use x0_node::config::Config;

#[derive(Debug, Parser)]
#[command(about = "Measures the gossip model against real libp2p gossipsub swarms")]
struct Args {
    /// Nodes in the network.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(3..=1000))]
    nodes: u32,
    /// Random others each node dials (the simulator's `connections_per_node`).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
    connections_per_node: u32,
    /// One-way latency of every link, ms.
    #[arg(long, default_value_t = 20)]
    latency_ms: u64,
    /// Messages published.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    messages: u32,
    /// Messages published per second, network-wide.
    #[arg(long, default_value_t = 5.0)]
    rate_per_s: f64,
    /// Application bytes per message (the probe's default size is 83).
    #[arg(long, default_value_t = 83)]
    payload_bytes: usize,
    /// Heartbeats after every node's first one before the first message.
    #[arg(long, default_value_t = 5)]
    warmup_heartbeats: u64,
    /// Time after the last message for gossip repair to finish, ms.
    #[arg(long, default_value_t = 5_000)]
    drain_ms: u64,
    /// Seed of the topology, the heartbeat phases and the publish schedule.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// tokio worker threads for the real swarms (0: one per core).
    #[arg(long, default_value_t = 0)]
    worker_threads: usize,
    /// Largest accepted |model / real - 1| for each compared figure.
    #[arg(long, default_value_t = 0.25)]
    tolerance: f64,
    /// How the model's nodes learn of connections: `upstream` (subscriptions exchanged,
    /// dialling side known) or `world` (the shortcut x0_simulator::world takes today).
    #[arg(long, value_enum, default_value_t = Links::Upstream)]
    model_links: Links,
    /// Run the real swarms K times slower (every time, latency and gossipsub timer
    /// multiplied by K; latencies divided by K after): the protocol is the same, and
    /// this process's CPU time per copy, shared by all swarms on this machine's cores,
    /// shrinks K-fold against the plan. The model always runs the plan as given.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=20))]
    time_scale: u64,
    /// Run the model only (no comparison; for working on the model).
    #[arg(long)]
    model_only: bool,
    /// Print each run's latency histogram.
    #[arg(long)]
    histogram: bool,
    /// Also write the result as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Links {
    Upstream,
    World,
}

#[derive(Debug, Serialize)]
struct Comparison {
    figure: &'static str,
    real: f64,
    model: f64,
    ratio: f64,
    within: bool,
}

#[derive(Debug, Serialize)]
struct Output<'a> {
    plan: &'a Plan,
    time_scale: u64,
    tolerance: f64,
    model: &'a Figures,
    real: Option<&'a RealOutcome>,
    comparisons: Vec<Comparison>,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    if !(args.rate_per_s > 0.0 && args.rate_per_s <= 1000.0) {
        eprintln!(
            "error: --rate-per-s must be in (0, 1000], got {}",
            args.rate_per_s
        );
        return ExitCode::from(2);
    }
    if args.connections_per_node >= args.nodes {
        eprintln!(
            "error: --connections-per-node ({}) must be below --nodes ({})",
            args.connections_per_node, args.nodes
        );
        return ExitCode::from(2);
    }
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(1)
        }
    }
}

/// Ok(false) when a figure is out of tolerance.
fn run(args: &Args) -> anyhow::Result<bool> {
    // The node's defaults: the same `[gossip]` section drives both runs.
    let gossip = Config::embedded().gossip;
    let plan = Plan::new(PlanSpec {
        nodes: args.nodes,
        connections_per_node: args.connections_per_node,
        latency_ms: args.latency_ms,
        seed: args.seed,
        payload_bytes: args.payload_bytes,
        heartbeat_interval_ms: gossip.heartbeat_interval_ms,
        messages: args.messages,
        publish_interval_ms: (1000.0 / args.rate_per_s).round().max(1.0) as u64,
        warmup_heartbeats: args.warmup_heartbeats,
        drain_ms: args.drain_ms,
    });
    let degrees = plan.degrees();
    println!(
        "plan: {} nodes, {} links (degree {}..={}, mean {:.1}), latency {} ms, {} messages \
         every {} ms, {} payload bytes, seed {}",
        plan.nodes,
        plan.links.len(),
        degrees.iter().min().unwrap_or(&0),
        degrees.iter().max().unwrap_or(&0),
        degrees.iter().sum::<usize>() as f64 / degrees.len() as f64,
        plan.latency_ms,
        plan.publishes.len(),
        plan.publishes
            .get(1)
            .map_or(0, |p| p.0 - plan.publishes[0].0),
        plan.payload_bytes,
        plan.seed,
    );
    let links = match args.model_links {
        Links::Upstream => fidelity::ModelLinks::Upstream,
        Links::World => fidelity::ModelLinks::World,
    };
    let model = fidelity::run_model(&plan, fidelity::model_config(&gossip), links);
    print_figures("model", &model, args.histogram);
    let real = if args.model_only {
        None
    } else {
        let mut runtime = tokio::runtime::Builder::new_multi_thread();
        if args.worker_threads > 0 {
            runtime.worker_threads(args.worker_threads);
        }
        let runtime = runtime.enable_all().build().context("starting tokio")?;
        let real = runtime
            .block_on(fidelity::run_real(&plan, &gossip, args.time_scale))
            .context("real swarms")?;
        print_figures("real", &real.figures, args.histogram);
        println!(
            "real: links up at {} ms; gossipsub counted {} full messages sent, receivers {}; \
             {} publish failures; {} s CPU, other processes {} cores on average",
            real.connected_ms,
            real.messages_sent_by_gossipsub,
            real.figures.messages_sent,
            real.publish_failures,
            real.cpu_s.map_or("?".to_string(), |s| format!("{s:.1}")),
            real.others_cores
                .map_or("?".to_string(), |c| format!("{c:.2}")),
        );
        Some(real)
    };
    let mut comparisons = Vec::new();
    if let Some(real) = &real {
        let figures = [
            (
                "latency_ms_p50",
                real.figures.latency_ms_p50,
                model.latency_ms_p50,
            ),
            (
                "latency_ms_p99",
                real.figures.latency_ms_p99,
                model.latency_ms_p99,
            ),
            (
                "sends_per_delivery",
                real.figures.sends_per_delivery,
                model.sends_per_delivery,
            ),
        ];
        for (figure, real, model) in figures {
            let ratio = model / real;
            comparisons.push(Comparison {
                figure,
                real,
                model,
                ratio,
                within: (ratio - 1.0).abs() <= args.tolerance,
            });
        }
        println!(
            "{:<20} {:>10} {:>10} {:>8}  within {:.0}%",
            "figure",
            "real",
            "model",
            "model/real",
            args.tolerance * 100.0
        );
        for c in &comparisons {
            println!(
                "{:<20} {:>10.2} {:>10.2} {:>8.3}  {}",
                c.figure,
                c.real,
                c.model,
                c.ratio,
                if c.within { "yes" } else { "NO" }
            );
        }
    }
    if let Some(path) = &args.json {
        let output = Output {
            plan: &plan,
            time_scale: args.time_scale,
            tolerance: args.tolerance,
            model: &model,
            real: real.as_ref(),
            comparisons,
        };
        let text = serde_json::to_string_pretty(&output)?;
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
        return Ok(output.comparisons.iter().all(|c| c.within));
    }
    Ok(comparisons.iter().all(|c| c.within))
}

fn print_figures(run: &str, f: &Figures, histogram: bool) {
    println!(
        "{run}: delivered {}/{}, latency ms p50 {:.2} p99 {:.2} max {:.2}, {} messages sent \
         = {:.3} per delivery, mesh size at first publish {:.2} ({}..={})",
        f.deliveries,
        f.deliveries_expected,
        f.latency_ms_p50,
        f.latency_ms_p99,
        f.latency_ms_max,
        f.messages_sent,
        f.sends_per_delivery,
        f.mesh_size_mean,
        f.mesh_size_min,
        f.mesh_size_max,
    );
    if histogram {
        let line: Vec<String> = f
            .latency_histogram
            .iter()
            .map(|(upper, count)| format!("<={upper:.0}:{count}"))
            .collect();
        println!("{run} latency histogram (ms): {}", line.join(" "));
    }
}
