//! Runs a scenario file and prints the report for a person: `cargo run -p x0-simulator
//! --example render_scenario -- scenarios/ballot-partition.toml [seed]`.

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: render_scenario FILE [SEED]");
    let scenario = x0_simulator::Scenario::from_file(std::path::Path::new(&path))
        .unwrap_or_else(|e| panic!("{e}"));
    let seed = args
        .next()
        .map_or(scenario.seed, |s| s.parse().expect("seed is a number"));
    let started = std::time::Instant::now();
    let report = x0_simulator::World::new(scenario, seed).run();
    print!("{}", report.render());
    eprintln!("ran in {:?}", started.elapsed());
}
