//! The core crate stays pure: the crates that bring a runtime, a clock, sockets, files or
//! metrics never enter its normal dependencies, and its source calls none of the standard
//! library's clocks, sockets, files, processes or threads. Cores take `now` as an argument
//! and return actions; the shells (x0-actors, the simulator) do the I/O.

use std::path::Path;
use std::process::Command;

/// Crates that do I/O or hold a runtime: none may be a normal dependency of x0-core.
const FORBIDDEN_CRATES: &[&str] = &[
    "actix",
    "actix-rt",
    "tokio",
    "prometheus-client",
    "libp2p",
    "reqwest",
    "axum",
    "redb",
    "hyper",
    "mio",
];

/// Standard-library calls that read a clock or touch the outside world.
const FORBIDDEN_CALLS: &[&str] = &[
    "SystemTime::now",
    "Instant::now",
    "std::fs",
    "std::net::TcpStream",
    "std::net::TcpListener",
    "std::net::UdpSocket",
    "std::process",
    // Scoped threads are allowed: the share check fans out over cores and joins before it
    // returns, with an answer that does not depend on the thread count (certify/scheme.rs).
    // Nothing may outlive a call or wait on time.
    "thread::spawn",
    "thread::sleep",
    "std::env",
    "std::io::stdin",
    "thread_rng",
];

fn normal_dependencies() -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let output = Command::new(cargo)
        .args([
            "tree", "-p", "x0-core", "-e", "normal", "--prefix", "none", "--locked",
        ])
        .args(["--format", "{p}"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo tree");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("cargo tree prints UTF-8")
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[test]
fn no_io_crate_is_a_normal_dependency() {
    let dependencies = normal_dependencies();
    // Non-vacuous: the tree was read, and it holds what the cores do use.
    for expected in ["x0-core", "blsttc", "biscuit-auth", "frost-ristretto255"] {
        assert!(
            dependencies.iter().any(|d| d == expected),
            "cargo tree did not list {expected}: {dependencies:?}"
        );
    }
    let found: Vec<&String> = dependencies
        .iter()
        .filter(|d| FORBIDDEN_CRATES.contains(&d.as_str()))
        .collect();
    assert!(
        found.is_empty(),
        "x0-core must not depend on {found:?}: move that code to a shell (x0-actors, node, simulator)"
    );
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read core/src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The part of a file that is compiled outside tests: up to its `#[cfg(test)]` module.
fn production_part(text: &str) -> &str {
    match text.find("#[cfg(test)]\nmod tests") {
        Some(end) => &text[..end],
        None => text,
    }
}

#[test]
fn no_core_source_reads_a_clock_or_touches_the_outside() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    assert!(
        files.len() > 30,
        "found only {} files under {src:?}",
        files.len()
    );
    let mut found = Vec::new();
    for file in &files {
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name == "tests.rs" || name == "test_bytes.rs" {
            continue;
        }
        let text = std::fs::read_to_string(file).expect("read source");
        for (number, line) in production_part(&text).lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for call in FORBIDDEN_CALLS {
                if code.contains(call) {
                    found.push(format!("{}:{}: {call}", file.display(), number + 1));
                }
            }
        }
    }
    assert!(found.is_empty(), "I/O in x0-core:\n{}", found.join("\n"));
}
