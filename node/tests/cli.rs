//! The `x0` binary as an operator meets it: bad config and flags exit 2 naming the field,
//! `node init` then `node` works, a restart keeps the PeerId, SIGTERM exits 0 with the
//! listeners closed, a locked or corrupt store is a clear error, `status` prints a node.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::x0;

const X0: &str = env!("CARGO_BIN_EXE_x0");

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn write_config(dir: &Path, body: &str) -> String {
    let path = dir.join("bad.toml");
    std::fs::write(&path, body).unwrap();
    path.display().to_string()
}

/// Runs `x0 node` on `data_dir` (loopback, any ports) to completion: for start-up errors.
fn x0_node_once(data_dir: &Path, http_bind: &str) -> Output {
    let data = data_dir.display().to_string();
    x0(&[
        "node",
        "--data-dir",
        &data,
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
        "--http-bind",
        http_bind,
    ])
}

/// A node started as a child process, with what it printed at start.
struct RunningNode {
    child: Child,
    peer_id: String,
    http: String,
}

fn start_node(data_dir: &Path, extra: &[&str]) -> RunningNode {
    let data_dir = data_dir.display().to_string();
    let mut args = vec![
        "node",
        "--data-dir",
        &data_dir,
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
        "--http-bind",
        "127.0.0.1:0",
    ];
    args.extend_from_slice(extra);
    let mut child = Command::new(X0)
        .args(&args)
        .env("X0_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    // Read on a thread, so a node that hangs fails the test at the deadline instead of
    // blocking it forever.
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });
    let (mut peer_id, mut http, mut tcp_port): (_, _, Option<u16>) = (None, None, None);
    let deadline = Instant::now() + Duration::from_secs(20);
    while peer_id.is_none() || http.is_none() || tcp_port.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = match lines.recv_timeout(left) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                panic!("node did not print its start banner within 20 s");
            }
        };
        if let Some(rest) = line.strip_prefix("x0 node ") {
            peer_id = rest.split_whitespace().next().map(str::to_string);
        } else if let Some(url) = line.trim().strip_prefix("status   ") {
            http = Some(url.trim_end_matches("/status").to_string());
        } else if let Some(address) = line.trim().strip_prefix("listen   ") {
            tcp_port = address.split('/').nth(4).and_then(|p| p.parse().ok());
        }
    }
    RunningNode {
        child,
        peer_id: peer_id.unwrap(),
        http: http.unwrap(),
    }
}

fn terminate(mut node: RunningNode) -> i32 {
    let status = Command::new("kill")
        .args(["-TERM", &node.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = node.child.try_wait().unwrap() {
            return status.code().expect("exited, not killed by a signal");
        }
        assert!(Instant::now() < deadline, "node ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `x0 node` on a config holding `body`; asserts exit 2 with a message naming the
/// file and `field`, and returns the message.
fn assert_config_refused(body: &str, field: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), body);
    let output = x0(&["node", "--config", &path]);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{message}");
    assert!(message.contains(&path), "names the file: {message}");
    assert!(message.contains(field), "names {field}: {message}");
    message
}

#[test]
fn unknown_field_exits_2_naming_file_and_field() {
    let message = assert_config_refused("[gossip]\nmesh_m = 6\n", "gossip.mesh_m");
    assert!(message.contains("unknown field"), "{message}");
}

#[test]
fn wrong_type_exits_2_naming_the_field() {
    assert_config_refused(
        "[network.limits]\nestablished_total_max = \"many\"\n",
        "network.limits.established_total_max",
    );
}

#[test]
fn unparsable_multiaddr_exits_2_naming_the_field() {
    assert_config_refused(
        "[network]\nlisten = [\"/ip4/127.0.0.1/tcp/0\", \"tcp://nope\"]\n",
        "network.listen[1]",
    );
}

#[test]
fn bad_flags_exit_2_naming_the_flag() {
    let output = x0(&["node", "--listen", "not-an-address"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--listen"), "{}", stderr(&output));
    let output = x0(&["devnet", "--nodes", "1"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--nodes"), "{}", stderr(&output));
    let output = x0(&["node", "--config", "/nonexistent/x0.toml"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("/nonexistent/x0.toml"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn help_explains_every_command() {
    for args in [
        &["--help"][..],
        &["node", "--help"],
        &["node", "init", "--help"],
        &["status", "--help"],
        &["devnet", "--help"],
    ] {
        let output = x0(args);
        assert_eq!(output.status.code(), Some(0), "{args:?}");
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(text.contains("Usage: x0"), "{args:?}: {text}");
    }
}

#[test]
fn init_then_node_restart_keeps_peer_id_and_sigterm_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let data = data_dir.display().to_string();
    let output = x0(&["node", "init", "--data-dir", &data]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let config = std::fs::read_to_string(data_dir.join("x0.toml")).unwrap();
    assert!(
        config.contains("[gossip.score]"),
        "init writes the commented defaults"
    );
    assert!(
        config.contains(&format!("data_dir = \"{data}\"")),
        "{config}"
    );
    let init_peer = String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("node identity ").map(str::to_string))
        .expect("init prints the identity");
    // A second init refuses to overwrite.
    let again = x0(&["node", "init", "--data-dir", &data]);
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("--force"));

    let first = start_node(&data_dir, &[]);
    assert_eq!(first.peer_id, init_peer);
    let status = x0(&["status", "--api", &first.http]);
    assert_eq!(status.status.code(), Some(0), "{}", stderr(&status));
    let printed = String::from_utf8_lossy(&status.stdout);
    assert!(printed.contains(&init_peer), "{printed}");
    assert!(printed.contains("/x0/1/probe"), "{printed}");
    assert_eq!(terminate(first), 0, "SIGTERM exits 0");

    let second = start_node(&data_dir, &[]);
    assert_eq!(second.peer_id, init_peer, "a restart keeps the PeerId");
    let json = x0(&["status", "--api", &second.http, "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(status["starts"], 2);
    assert_eq!(status["previous_stop_clean"], true);
    assert_eq!(terminate(second), 0);
}

#[test]
fn a_second_node_on_the_same_data_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let first = start_node(dir.path(), &[]);
    let output = x0_node_once(dir.path(), "127.0.0.1:0");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("in use by another x0 process"),
        "{}",
        stderr(&output)
    );
    assert_eq!(terminate(first), 0);
}

#[test]
fn corrupt_state_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let first = start_node(dir.path(), &[]);
    assert_eq!(terminate(first), 0);
    std::fs::write(dir.path().join("state.redb"), vec![0x42; 16384]).unwrap();
    let output = x0_node_once(dir.path(), "127.0.0.1:0");
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains("state.redb") && message.contains("corrupt"),
        "{message}"
    );
    assert!(!message.contains("panicked"), "{message}");
}

#[test]
fn busy_http_port_names_the_field() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let output = x0_node_once(dir.path(), &port);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("http.bind"), "{}", stderr(&output));
}

#[test]
fn devnet_shows_five_full_meshes_with_messages_flowing() {
    let output = Command::new(X0)
        .args([
            "devnet",
            "--nodes",
            "5",
            "--duration-s",
            "7",
            "--probe-interval-ms",
            "200",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let urls = stdout
        .lines()
        .filter(|l| l.contains("metrics http://127.0.0.1:"))
        .count();
    assert_eq!(urls, 5, "{stdout}");
    // The last summary: one line per node, every node meshed with the other four.
    let summary: Vec<&str> = stdout.lines().filter(|l| l.starts_with("node ")).collect();
    let last: Vec<&str> = summary[summary.len() - 5..].to_vec();
    for line in last {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let value = |name: &str| -> u64 {
            let at = fields.iter().position(|f| *f == name).unwrap();
            fields[at + 1].parse().unwrap()
        };
        assert_eq!(value("peers"), 4, "{line}");
        assert_eq!(value("mesh"), 4, "{line}");
        assert!(value("received") >= 20, "{line}");
    }
}
