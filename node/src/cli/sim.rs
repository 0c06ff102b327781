//! `x0 sim`: runs a scenario in the deterministic simulator, one seed or a sweep of
//! seeds, prints the report for a person, writes the JSON report and SVG plots, and exits
//! 0 when every criterion held, 1 when one failed (naming the command that replays the
//! run), 2 when the operator must fix the file or a flag.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use serde::Serialize;
use x0_simulator::scenario::NODES_MAX;
use x0_simulator::{plot, Report, Scenario, World};

use crate::NodeError;

#[derive(clap::Args, Debug, Clone)]
pub struct SimArgs {
    /// A scenario file, e.g. scenarios/quickstart.toml.
    pub scenario: PathBuf,
    /// Seed of the run (default: the scenario's); the same seed replays the same run.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Simulate N nodes instead of the scenario's topology.nodes.
    #[arg(long, value_name = "N")]
    pub nodes: Option<u32>,
    /// Run K seeds (the seed, seed+1, ...) one after another and summarise them.
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: Option<u32>,
    /// Write report.json, report.txt and the SVG plots (latency-cdf.svg, certificates.svg,
    /// timeline.svg) into DIR, created if missing; with --runs, one seed-N/ per run and
    /// summary.json.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Also write the JSON report to FILE (a single run only; --out writes it too).
    #[arg(long, value_name = "FILE", conflicts_with = "runs")]
    pub report: Option<PathBuf>,
}

/// Runs `x0 sim` as its flags say.
pub fn run(args: &SimArgs) -> Result<(), NodeError> {
    let scenario = load(args)?;
    let seed = args.seed.unwrap_or(scenario.seed);
    match args.runs {
        None => run_one(args, scenario, seed),
        Some(runs) => sweep(args, scenario, seed, runs),
    }
}

/// The scenario file with `--nodes` applied, validated again: a node count the file's
/// faults, committee or connections do not fit is the operator's to fix.
fn load(args: &SimArgs) -> Result<Scenario, NodeError> {
    let mut scenario =
        Scenario::from_file(&args.scenario).map_err(|e| NodeError::Config(e.to_string()))?;
    if let Some(nodes) = args.nodes {
        scenario.topology.nodes = nodes;
        let source = format!("{} with --nodes {nodes}", args.scenario.display());
        scenario.validate(&source).map_err(|e| {
            NodeError::Config(format!(
                "--nodes {nodes}: {e}; pass --nodes between {} and {NODES_MAX} for this scenario",
                nodes_min(&scenario)
            ))
        })?;
    }
    Ok(scenario)
}

/// The fewest nodes a scenario fits: its committee, one more than each node's
/// connections, every node its faults and Byzantine groups name, and three times its
/// Byzantine nodes.
fn nodes_min(scenario: &Scenario) -> u32 {
    let byzantine: std::collections::BTreeSet<u32> = scenario
        .byzantine
        .iter()
        .flat_map(|group| group.members.iter())
        .collect();
    let named = scenario
        .faults
        .iter()
        .flat_map(|fault| fault.node_ranges())
        .chain(scenario.byzantine.iter().map(|group| &group.members))
        .map(|range| range.last.saturating_add(1))
        .chain(
            scenario
                .byzantine
                .iter()
                .filter_map(|group| group.target.map(|t| t.saturating_add(1))),
        )
        .max()
        .unwrap_or(0);
    [
        2,
        scenario.committee.size,
        scenario.topology.connections_per_node.saturating_add(1),
        named,
        scenario.traffic.probe_sources.unwrap_or(0),
        (byzantine.len() as u32).saturating_mul(3),
    ]
    .into_iter()
    .max()
    .expect("not empty")
}

/// An argument as a POSIX shell reads it: quoted only when it needs to be.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./=:,+@%".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The one command that runs this seed again, event for event.
fn replay_command(args: &SimArgs, seed: u64) -> String {
    let mut command = format!(
        "x0 sim {} --seed {seed}",
        shell_word(&args.scenario.display().to_string())
    );
    if let Some(nodes) = args.nodes {
        command.push_str(&format!(" --nodes {nodes}"));
    }
    command
}

/// A one-line progress bar on stderr (indicatif), drawn only when stderr is a terminal,
/// so piped and logged output never holds carriage returns. It sees virtual time only
/// and cannot change the run.
struct Progress {
    bar: ProgressBar,
}

impl Progress {
    fn new(label: String) -> Progress {
        let style = ProgressStyle::with_template(
            "{msg} [{bar:30}] {percent:>3}% {simulated} s simulated, {elapsed}, about {eta} left",
        )
        .expect("the template parses")
        .progress_chars("#.")
        .with_key(
            "simulated",
            |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                let end_ms = state.len().unwrap_or(0);
                let _ = write!(
                    w,
                    "{:.1}/{:.1}",
                    state.pos() as f64 / 1000.0,
                    end_ms as f64 / 1000.0
                );
            },
        );
        // The builder methods do not draw: the bar appears at the run's first report.
        let bar = if std::io::stderr().is_terminal() {
            ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
        } else {
            ProgressBar::hidden()
        };
        Progress {
            bar: bar.with_style(style).with_message(label),
        }
    }

    fn update(&self, now_ms: u64, end_ms: u64) {
        self.bar.set_length(end_ms);
        self.bar.set_position(now_ms.min(end_ms));
    }

    /// Erases the bar, so what is printed next starts on a clean line.
    fn clear(&self) {
        self.bar.finish_and_clear();
    }
}

/// Runs one seed with a progress bar; returns the report and the wall time it took.
fn simulate(scenario: Scenario, seed: u64, label: String) -> (Report, std::time::Duration) {
    let started = Instant::now();
    let progress = Progress::new(label);
    let report = World::new(scenario, seed)
        .run_with_progress(&mut |now_ms, end_ms| progress.update(now_ms, end_ms));
    progress.clear();
    (report, started.elapsed())
}

/// The one figure of a run that is not deterministic: its speed on this machine.
fn wall_clock_line(events: u64, elapsed: std::time::Duration) -> String {
    let seconds = elapsed.as_secs_f64();
    format!(
        "ran in {seconds:.1} s (wall clock): {events} events, {:.0} events/s",
        events as f64 / seconds.max(1e-9)
    )
}

fn write_file(flag: &str, path: &Path, contents: &str) -> Result<(), NodeError> {
    std::fs::write(path, contents).map_err(|e| {
        NodeError::Config(format!(
            "{flag}: cannot write {}: {e}; pass a directory you can write to",
            path.display()
        ))
    })
}

fn create_dir(dir: &Path) -> Result<(), NodeError> {
    std::fs::create_dir_all(dir).map_err(|e| {
        NodeError::Config(format!(
            "--out {}: cannot create: {e}; pass a directory you can write to",
            dir.display()
        ))
    })
}

fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).expect("reports serialise") + "\n"
}

/// Files `--out` gets for one run, named as they are written.
const RUN_FILES: [&str; 5] = [
    "report.json",
    "report.txt",
    "latency-cdf.svg",
    "certificates.svg",
    "timeline.svg",
];

/// report.json, report.txt and the three plots of one run, into `dir`.
fn write_run(dir: &Path, report: &Report, text: &str) -> Result<(), NodeError> {
    create_dir(dir)?;
    let contents = [
        json(report),
        text.to_string(),
        plot::latency_cdf_svg(report),
        plot::certificates_svg(report),
        plot::timeline_svg(report),
    ];
    for (name, contents) in RUN_FILES.iter().zip(contents) {
        write_file("--out", &dir.join(name), &contents)?;
    }
    Ok(())
}

/// The human report, with the replay command when a criterion failed.
fn report_text(args: &SimArgs, report: &Report) -> String {
    let mut text = report.render();
    if !report.passed {
        text.push_str(&format!(
            "replay with: {}\n",
            replay_command(args, report.seed)
        ));
    }
    text
}

fn run_one(args: &SimArgs, scenario: Scenario, seed: u64) -> Result<(), NodeError> {
    let (report, elapsed) = simulate(scenario, seed, format!("seed {seed}"));
    let text = report_text(args, &report);
    print!("{text}");
    println!("{}", wall_clock_line(report.figures.events, elapsed));
    if let Some(path) = &args.report {
        write_file("--report", path, &json(&report))?;
    }
    if let Some(dir) = &args.out {
        write_run(dir, &report, &text)?;
        println!("wrote {} to {}", RUN_FILES.join(", "), dir.display());
    }
    if report.passed {
        return Ok(());
    }
    Err(NodeError::Runtime(format!(
        "scenario {} seed {seed} failed {}; replay with: {}",
        report.scenario,
        report.failed_criteria().join(", "),
        replay_command(args, seed)
    )))
}

/// The smallest, the median (the lower middle value when the count is even, so it is
/// always a value some run had) and the largest of the runs that had the figure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MinMedianMax {
    pub min: Option<u64>,
    pub median: Option<u64>,
    pub max: Option<u64>,
    /// Runs without the figure (no probe delivered; a certificate not everywhere).
    pub runs_without: usize,
}

impl MinMedianMax {
    fn of(values: impl Iterator<Item = Option<u64>>) -> MinMedianMax {
        let mut runs_without = 0;
        let mut seen: Vec<u64> = values
            .filter_map(|v| {
                runs_without += usize::from(v.is_none());
                v
            })
            .collect();
        seen.sort_unstable();
        MinMedianMax {
            min: seen.first().copied(),
            median: (!seen.is_empty()).then(|| seen[(seen.len() - 1) / 2]),
            max: seen.last().copied(),
            runs_without,
        }
    }

    fn render(&self) -> String {
        match (self.min, self.median, self.max) {
            (Some(min), Some(median), Some(max)) => {
                let mut text = format!("min {min} ms, median {median} ms, max {max} ms");
                if self.runs_without > 0 {
                    text.push_str(&format!("; {} runs without", self.runs_without));
                }
                text
            }
            _ => format!("none in {} runs", self.runs_without),
        }
    }
}

/// One run of a sweep, as `summary.json` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub seed: u64,
    pub passed: bool,
    pub failed_criteria: Vec<String>,
    pub delivery_p99_ms: Option<u64>,
    pub slowest_certification_ms: Option<u64>,
    /// How long the slowest honest up node waited for the slowest revocation list (runs
    /// with revocations only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slowest_revocation_ms: Option<u64>,
    pub trace_sha256: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CriterionCount {
    pub name: String,
    pub passed: usize,
    pub runs: usize,
}

/// `summary.json`: a sweep of seeds over one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub scenario: String,
    pub scenario_file: String,
    pub nodes: u32,
    pub first_seed: u64,
    pub runs: usize,
    pub passed: usize,
    pub failed: usize,
    pub criteria: Vec<CriterionCount>,
    pub delivery_p99_ms: MinMedianMax,
    pub slowest_certification_ms: MinMedianMax,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slowest_revocation_ms: Option<MinMedianMax>,
    pub results: Vec<RunSummary>,
}

impl Summary {
    fn render(&self) -> String {
        let last_seed = self.first_seed + self.runs as u64 - 1;
        let mut text = format!(
            "{} runs of {} (seeds {}..={last_seed}, {} nodes): {} passed, {} failed\n",
            self.runs, self.scenario, self.first_seed, self.nodes, self.passed, self.failed
        );
        let criteria: Vec<String> = self
            .criteria
            .iter()
            .map(|c| format!("{} {}/{}", c.name, c.passed, c.runs))
            .collect();
        text.push_str(&format!("  criteria held: {}\n", criteria.join(", ")));
        text.push_str(&format!(
            "  delivery p99: {}\n",
            self.delivery_p99_ms.render()
        ));
        text.push_str(&format!(
            "  slowest certification: {}\n",
            self.slowest_certification_ms.render()
        ));
        if let Some(revocation) = &self.slowest_revocation_ms {
            text.push_str(&format!(
                "  slowest revocation in force: {}\n",
                revocation.render()
            ));
        }
        for replay in self.results.iter().filter_map(|r| r.replay.as_deref()) {
            text.push_str(&format!("  replay with: {replay}\n"));
        }
        text
    }
}

fn or_dash(value: Option<u64>) -> String {
    value.map_or_else(|| "-".to_string(), |v| format!("{v} ms"))
}

fn sweep(args: &SimArgs, scenario: Scenario, first_seed: u64, runs: u32) -> Result<(), NodeError> {
    if first_seed.checked_add(u64::from(runs) - 1).is_none() {
        return Err(NodeError::Config(format!(
            "--seed {first_seed} --runs {runs}: the seeds would pass {}; pass a smaller --seed",
            u64::MAX
        )));
    }
    if let Some(dir) = &args.out {
        create_dir(dir)?;
    }
    let started = Instant::now();
    let mut results: Vec<RunSummary> = Vec::with_capacity(runs as usize);
    let mut criteria: Vec<CriterionCount> = Vec::new();
    let mut events_total = 0;
    for index in 0..runs {
        let seed = first_seed + u64::from(index);
        let label = format!("seed {seed} ({}/{runs})", index + 1);
        let (report, elapsed) = simulate(scenario.clone(), seed, label);
        events_total += report.figures.events;
        for criterion in &report.criteria {
            match criteria.iter_mut().find(|c| c.name == criterion.name) {
                Some(count) => count.runs += 1,
                None => criteria.push(CriterionCount {
                    name: criterion.name.clone(),
                    passed: 0,
                    runs: 1,
                }),
            }
            if criterion.passed {
                let count = criteria
                    .iter_mut()
                    .find(|c| c.name == criterion.name)
                    .expect("counted above");
                count.passed += 1;
            }
        }
        let result = RunSummary {
            seed,
            passed: report.passed,
            failed_criteria: report
                .failed_criteria()
                .into_iter()
                .map(String::from)
                .collect(),
            delivery_p99_ms: report.figures.delivery_p99_ms,
            slowest_certification_ms: report.slowest_certification_ms(),
            slowest_revocation_ms: report.slowest_revocation_ms(),
            trace_sha256: report.trace_sha256.clone(),
            replay: (!report.passed).then(|| replay_command(args, seed)),
        };
        let verdict = if result.passed {
            "ok  ".to_string()
        } else {
            format!("FAIL ({})", result.failed_criteria.join(", "))
        };
        println!(
            "seed {seed}: {verdict}  p99 {}, slowest certification {}, trace {}…, {:.1} s",
            or_dash(result.delivery_p99_ms),
            or_dash(result.slowest_certification_ms),
            &result.trace_sha256[..12],
            elapsed.as_secs_f64()
        );
        if let Some(dir) = &args.out {
            write_run(
                &dir.join(format!("seed-{seed}")),
                &report,
                &report_text(args, &report),
            )?;
        }
        results.push(result);
    }
    let passed = results.iter().filter(|r| r.passed).count();
    let summary = Summary {
        scenario: scenario.name.clone(),
        scenario_file: args.scenario.display().to_string(),
        nodes: scenario.topology.nodes,
        first_seed,
        runs: results.len(),
        passed,
        failed: results.len() - passed,
        criteria,
        delivery_p99_ms: MinMedianMax::of(results.iter().map(|r| r.delivery_p99_ms)),
        slowest_certification_ms: MinMedianMax::of(
            results.iter().map(|r| r.slowest_certification_ms),
        ),
        slowest_revocation_ms: (!scenario.revocations.is_empty())
            .then(|| MinMedianMax::of(results.iter().map(|r| r.slowest_revocation_ms))),
        results,
    };
    print!("{}", summary.render());
    println!("{}", wall_clock_line(events_total, started.elapsed()));
    if let Some(dir) = &args.out {
        write_file("--out", &dir.join("summary.json"), &json(&summary))?;
        println!(
            "wrote summary.json and seed-N/ for each run to {}",
            dir.display()
        );
    }
    if summary.failed == 0 {
        return Ok(());
    }
    let replays: Vec<&str> = summary
        .results
        .iter()
        .filter_map(|r| r.replay.as_deref())
        .collect();
    Err(NodeError::Runtime(format!(
        "{} of {} runs of {} failed; replay with:\n  {}",
        summary.failed,
        summary.runs,
        summary.scenario,
        replays.join("\n  ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_is_a_value_some_run_had() {
        let figures = MinMedianMax::of([Some(30), None, Some(10), Some(20), Some(40)].into_iter());
        assert_eq!(
            figures,
            MinMedianMax {
                min: Some(10),
                median: Some(20),
                max: Some(40),
                runs_without: 1
            }
        );
        assert_eq!(MinMedianMax::of([Some(7)].into_iter()).median, Some(7));
        assert_eq!(
            MinMedianMax::of([None, None].into_iter()).render(),
            "none in 2 runs"
        );
    }

    #[test]
    fn replay_commands_quote_paths_only_when_a_shell_needs_it() {
        let mut args = SimArgs {
            scenario: PathBuf::from("scenarios/quickstart.toml"),
            seed: None,
            nodes: None,
            runs: Some(3),
            out: None,
            report: None,
        };
        assert_eq!(
            replay_command(&args, 4),
            "x0 sim scenarios/quickstart.toml --seed 4"
        );
        args.scenario = PathBuf::from("/tmp/it's here.toml");
        args.nodes = Some(30);
        assert_eq!(
            replay_command(&args, 4),
            r"x0 sim '/tmp/it'\''s here.toml' --seed 4 --nodes 30"
        );
    }
}
