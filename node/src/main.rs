//! `x0`: the mesh node's command line (its subcommands are in `x0_node::cli`). Errors
//! from the operator (flags, config, data dir) exit with code 2 and name what to fix;
//! failures at run time exit with 1.

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;
use x0_node::cli::{Cli, Outcome};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = cli
        .log
        .clone()
        .unwrap_or_else(|| cli.command.default_log().to_string());
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
    match cli.command.run() {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::Refused) => ExitCode::from(1),
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(error.exit_code() as u8)
        }
    }
}
