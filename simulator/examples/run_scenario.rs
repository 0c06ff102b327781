//! Runs a scenario file and prints its JSON report, or with `--text` the report for a
//! person: `cargo run -p x0-simulator --example run_scenario -- [--text]
//! scenarios/quickstart.toml [seed]`. (`x0 sim` is the operator's way.)

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let text = args.first().is_some_and(|a| a == "--text");
    if text {
        args.remove(0);
    }
    let mut args = args.into_iter();
    let path = args
        .next()
        .expect("usage: run_scenario [--text] FILE [SEED]");
    let scenario = x0_simulator::Scenario::from_file(std::path::Path::new(&path))
        .unwrap_or_else(|e| panic!("{e}"));
    let seed = args
        .next()
        .map_or(scenario.seed, |s| s.parse().expect("seed is a number"));
    let started = std::time::Instant::now();
    let report = x0_simulator::World::new(scenario, seed).run();
    if text {
        print!("{}", report.render());
    } else {
        println!("{}", serde_json::to_string_pretty(&report).unwrap());
    }
    eprintln!("ran in {:?}", started.elapsed());
}
