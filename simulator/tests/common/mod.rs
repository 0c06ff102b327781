//! Helpers the simulator's test binaries share: reading a shipped scenario, and checking
//! that a broken file is refused naming what to fix.

#![allow(dead_code)] // each test binary uses its own part

use std::path::PathBuf;

use x0_simulator::Scenario;

fn scenarios_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

/// The shipped `scenarios/{name}.toml`.
pub fn scenario(name: &str) -> Scenario {
    let path = scenarios_dir().join(format!("{name}.toml"));
    Scenario::from_file(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// Each `(from, to, named)` edit of `scenarios/{name}.toml` (the first `from` becomes `to`)
/// makes the file refused, with `named` in the error's field or message.
pub fn assert_edits_refused(name: &str, edits: &[(&str, &str, &str)]) {
    let base = std::fs::read_to_string(scenarios_dir().join(format!("{name}.toml"))).unwrap();
    for (from, to, named) in edits {
        let text = base.replacen(from, to, 1);
        assert_ne!(text, base, "{from} is in {name}.toml");
        let error = Scenario::from_toml(&text, "test.toml").unwrap_err();
        assert!(
            error.field.contains(named) || error.message.contains(named),
            "{named}: {error}"
        );
    }
}
