//! The Charter on real nodes: the filtered `/metrics`, the StatsD push and its destination
//! check, certified policy changes over a real committee, the kernel enforcer on the
//! exporter's cgroup (these tests run as root in CI, and fail, not skip, without it), and
//! the fallback of an unprivileged `x0 node` process to userspace.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use tokio::net::UdpSocket;

use common::{eventually, http_get, sample_value, test_config, KillOnDrop};
use x0_actors::certify::Propose;
use x0_actors::charter::{CharterStatus, GetCharterStatus};
use x0_node::config::{CharterSection, Config, KernelSwitch, TelemetrySection};
use x0_node::devnet;
use x0_node::Node;

const POLICY: &str = r#"
version = 1
[metrics]
allow = ["x0_gossip_*", "x0_charter_*", "x0_enforcement_*", "x0_peers_*", "x0_telemetry_*"]
forbidden_labels = ["topic"]
series_per_family_max = 100
"#;

/// The destination table both backends run (ebpf/tests/destination_cases.txt): the
/// policy's allowed destinations and (destination, allowed) cases.
fn destination_table() -> (Vec<String>, Vec<(SocketAddr, bool)>) {
    let text = include_str!("../../ebpf/tests/destination_cases.txt");
    let mut allow = Vec::new();
    let mut cases = Vec::new();
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["allow", destination] => allow.push(destination.to_string()),
            ["case", destination, verdict] => {
                cases.push((destination.parse().unwrap(), *verdict == "allowed"))
            }
            _ => assert!(line.is_empty() || line.starts_with('#'), "{line}"),
        }
    }
    (allow, cases)
}

fn policy_with(destinations: &[String]) -> String {
    let quoted: Vec<String> = destinations.iter().map(|d| format!("\"{d}\"")).collect();
    format!(
        "{POLICY}[telemetry]\ndestinations = [{}]\n",
        quoted.join(", ")
    )
}

fn charter_config(dir: &Path, policy: &str, kernel: KernelSwitch) -> Config {
    let mut config = test_config(dir);
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("charter.toml"), policy).unwrap();
    config.charter = Some(CharterSection {
        kernel,
        ..CharterSection::with_policy_file("charter.toml")
    });
    config
}

fn telemetry_to(config: &mut Config, statsd: SocketAddr) {
    config.telemetry = Some(TelemetrySection {
        statsd,
        push_interval_s: 1,
        exporter_program: env!("CARGO_BIN_EXE_x0").into(),
    });
}

async fn charter_status(node: &Node) -> CharterStatus {
    node.charter
        .as_ref()
        .unwrap()
        .send(GetCharterStatus)
        .await
        .unwrap()
}

async fn metrics(node: &Node) -> String {
    http_get(&format!("http://{}/metrics", node.http_addr), None)
        .await
        .2
}

/// A StatsD receiver on `address`.
async fn receiver(address: &str) -> UdpSocket {
    UdpSocket::bind(address)
        .await
        .unwrap_or_else(|e| panic!("binding {address}: {e}"))
}

/// Datagrams that arrive at `socket` within `wait` (the node's actors run meanwhile).
async fn received(socket: &UdpSocket, wait: Duration) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut datagrams = Vec::new();
    let mut buffer = [0u8; 2048];
    while let Ok(Ok((n, _))) =
        tokio::time::timeout_at(deadline, socket.recv_from(&mut buffer)).await
    {
        datagrams.push(String::from_utf8_lossy(&buffer[..n]).into_owned());
    }
    datagrams
}

#[actix_rt::test]
async fn the_export_shows_only_what_the_charter_allows_and_counts_what_it_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let config = charter_config(dir.path(), POLICY, KernelSwitch::Off);
    let node = Node::start(config).await.unwrap();
    let url = format!("http://{}/metrics", node.http_addr);
    let (_, _, first) = http_get(&url, Some("application/openmetrics-text")).await;
    let (status, _, body) = http_get(&url, Some("application/openmetrics-text")).await;
    assert_eq!(status, 200);
    for line in body.lines().filter(|l| !l.starts_with('#')) {
        let allowed = [
            "x0_gossip_",
            "x0_charter_",
            "x0_enforcement_",
            "x0_peers_",
            "x0_telemetry_",
        ]
        .iter()
        .any(|prefix| line.starts_with(prefix));
        assert!(allowed, "not allowed by the Charter: {line}");
        assert!(
            !line.contains("topic=\""),
            "a forbidden label left the node: {line}"
        );
    }
    assert!(first.contains("x0_enforcement_mode"), "{first}");
    assert_eq!(
        sample_value(&body, "x0_enforcement_mode{mode=\"userspace\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample_value(&body, "x0_enforcement_mode{mode=\"kernel\"}"),
        Some(0.0)
    );
    // The first scrape's drops are counted by the second.
    assert!(
        sample_value(
            &body,
            "x0_charter_violations_total{reason=\"family_not_allowed\"}"
        )
        .unwrap_or(0.0)
            > 0.0,
        "{body}"
    );
    let status = charter_status(&node).await;
    assert_eq!(status.mode, "userspace");
    assert!(status
        .kernel_unavailable
        .unwrap()
        .contains("kernel = \"off\""));
    node.shutdown().await.unwrap();

    // A policy with a mistake stops the start, naming the field.
    let bad = POLICY.replace("series_per_family_max = 100", "series_per_family_max = 0");
    let config = charter_config(dir.path(), &bad, KernelSwitch::Off);
    let error = Node::start(config).await.err().expect("refused");
    assert_eq!(error.exit_code(), 2);
    let message = error.to_string();
    assert!(
        message.contains("charter.policy_file")
            && message.contains("metrics.series_per_family_max"),
        "{message}"
    );

    // A push without a Charter is refused at the config, naming the section.
    let mut config = test_config(dir.path());
    telemetry_to(&mut config, "127.0.0.1:9".parse().unwrap());
    let error = config.validate("x0.toml").unwrap_err().to_string();
    assert!(
        error.contains("`telemetry`") && error.contains("[charter]"),
        "{error}"
    );
}

#[actix_rt::test]
async fn telemetry_reaches_an_allowed_destination_only_with_what_the_charter_allows() {
    let dir = tempfile::tempdir().unwrap();
    let allowed = receiver("127.0.0.1:0").await;
    let denied = receiver("127.0.0.1:0").await;
    let policy = policy_with(&[format!(
        "{}/32:{}",
        "127.0.0.1",
        allowed.local_addr().unwrap().port()
    )]);

    let mut config = charter_config(&dir.path().join("a"), &policy, KernelSwitch::Off);
    telemetry_to(&mut config, allowed.local_addr().unwrap());
    let node = Node::start(config).await.unwrap();
    let datagrams = received(&allowed, Duration::from_secs(3)).await;
    assert!(!datagrams.is_empty(), "no push arrived");
    for line in datagrams.iter().flat_map(|d| d.lines()) {
        assert!(line.starts_with("x0_"), "{line}");
        assert!(line.contains("|g"), "not a StatsD gauge: {line}");
        assert!(
            !line.contains("topic:"),
            "a forbidden label was pushed: {line}"
        );
        assert!(
            !line.starts_with("x0_probe"),
            "a family the Charter forbids: {line}"
        );
    }
    let body = metrics(&node).await;
    assert!(
        sample_value(&body, "x0_telemetry_pushes_total{result=\"sent\"}").unwrap_or(0.0) >= 1.0,
        "{body}"
    );
    node.shutdown().await.unwrap();

    // The same policy, a push to another port: refused before it leaves, and counted.
    let mut config = charter_config(&dir.path().join("b"), &policy, KernelSwitch::Off);
    telemetry_to(&mut config, denied.local_addr().unwrap());
    let node = Node::start(config).await.unwrap();
    assert!(received(&denied, Duration::from_secs(3)).await.is_empty());
    let body = metrics(&node).await;
    assert!(
        sample_value(
            &body,
            "x0_telemetry_pushes_total{result=\"refused_userspace\"}"
        )
        .unwrap_or(0.0)
            >= 2.0,
        "{body}"
    );
    assert!(
        sample_value(
            &body,
            "x0_charter_violations_total{reason=\"destination_denied\"}"
        )
        .unwrap_or(0.0)
            >= 2.0,
        "{body}"
    );
    node.shutdown().await.unwrap();
}

/// A 4-member committee whose Charter allows no destination: a certified `charter/policy`
/// change allowing the receiver reaches every node, and then every node pushes.
#[actix_rt::test]
async fn a_certified_policy_change_is_applied_by_every_node() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = receiver("127.0.0.1:0").await;
    let statsd = receiver.local_addr().unwrap();
    let mut configs: Vec<Config> = (0..4)
        .map(|i| devnet::node_config(i, 4, dir.path(), 0, 0))
        .collect();
    devnet::with_committee(&mut configs, dir.path(), vec![]).unwrap();
    for config in &mut configs {
        let data_dir = config.data_dir();
        std::fs::create_dir_all(&data_dir).unwrap();
        std::fs::write(data_dir.join("charter.toml"), policy_with(&[])).unwrap();
        // Kernel mode where this runs as root: the reload must reach the kernel's
        // allow-list too, or the exporter's datagrams never leave.
        config.charter = Some(CharterSection::with_policy_file("charter.toml"));
        telemetry_to(config, statsd);
    }
    let nodes = devnet::start_mesh(configs).await.unwrap();
    for node in &nodes {
        let status = charter_status(node).await;
        assert_eq!(
            status.mode, "kernel",
            "root runs this in kernel mode (CI does): {:?}",
            status.kernel_unavailable
        );
    }
    assert!(received(&receiver, Duration::from_secs(2)).await.is_empty());

    let new_policy = policy_with(&[format!("127.0.0.1/32:{}", statsd.port())]);
    let propose = Propose {
        slot: "charter/policy".into(),
        payload: new_policy.into_bytes(),
        affected_ppm: 0,
    };
    let certify = nodes[0].certify.as_ref().unwrap();
    // The mesh may still be forming: propose until a certificate is accepted.
    assert!(
        eventually(Duration::from_secs(30), || async {
            let _ = certify.send(propose.clone()).await;
            let mut applied = 0;
            for node in &nodes {
                if charter_status(node).await.policy_epoch.is_some() {
                    applied += 1;
                }
            }
            applied == nodes.len()
        })
        .await,
        "the certified policy did not reach every node"
    );
    for node in &nodes {
        let status = charter_status(node).await;
        assert_eq!(
            status.destinations,
            vec![format!("127.0.0.1/32:{}", statsd.port())]
        );
        let body = metrics(node).await;
        assert_eq!(
            sample_value(&body, "x0_charter_policy_reloads_total{result=\"applied\"}"),
            Some(1.0),
            "{body}"
        );
    }
    let datagrams = received(&receiver, Duration::from_secs(4)).await;
    assert!(
        datagrams.len() >= nodes.len(),
        "pushes after the change: {}; {}",
        datagrams.len(),
        metrics(&nodes[0])
            .await
            .lines()
            .filter(|l| l.contains("telemetry") || l.contains("charter"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    for node in nodes {
        node.shutdown().await.unwrap();
    }
}

/// A probe process placed in `cgroup_dir` (before it opens a socket) that sends one UDP
/// datagram to `destination` and prints `ok` or the errno.
fn probe_in_cgroup(cgroup_dir: &Path, destination: SocketAddr) -> String {
    let script = format!(
        "import socket,sys\n\
         s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         try:\n    s.sendto(b'x0_leak:1|g', ('{}', {}))\n    print('ok')\n\
         except OSError as e:\n    print('errno', e.errno)\n",
        destination.ip(),
        destination.port()
    );
    // sh moves itself into the cgroup, then becomes python: every socket is made inside.
    let output = Command::new("sh")
        .arg("-c")
        .arg("echo $$ > \"$0/cgroup.procs\" && exec python3 -c \"$1\"")
        .arg(cgroup_dir)
        .arg(script)
        .output()
        .expect("sh runs");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// Run as root, as CI does: the kernel enforcer is active, the exporter lives in its
/// cgroup, and from that cgroup a destination the Charter forbids cannot be reached.
#[actix_rt::test]
async fn in_kernel_mode_the_exporters_cgroup_cannot_reach_a_forbidden_destination() {
    let dir = tempfile::tempdir().unwrap();
    let allowed = receiver("127.0.0.1:0").await;
    let forbidden = receiver("127.0.0.1:0").await;
    let policy = policy_with(&[format!(
        "127.0.0.1/32:{}",
        allowed.local_addr().unwrap().port()
    )]);
    let mut config = charter_config(dir.path(), &policy, KernelSwitch::Auto);
    telemetry_to(&mut config, allowed.local_addr().unwrap());
    let node = Node::start(config).await.unwrap();
    let status = charter_status(&node).await;
    assert_eq!(
        status.mode, "kernel",
        "this test needs root and a BPF-capable kernel (CI runs it as root): {:?}",
        status.kernel_unavailable
    );
    let cgroup_dir = std::path::PathBuf::from(status.cgroup_dir.clone().unwrap());
    assert!(
        !received(&allowed, Duration::from_secs(3)).await.is_empty(),
        "no push arrived"
    );
    let status = charter_status(&node).await;
    let pid = status.exporter_pid.expect("the exporter runs");
    let members = std::fs::read_to_string(cgroup_dir.join("cgroup.procs")).unwrap();
    assert!(
        members.lines().any(|line| line == pid.to_string()),
        "exporter {pid} is not in {}: {members}",
        cgroup_dir.display()
    );

    // From the cgroup: the allowed destination passes, the forbidden one is EPERM (1).
    assert_eq!(
        probe_in_cgroup(&cgroup_dir, allowed.local_addr().unwrap()),
        "ok"
    );
    assert_eq!(
        probe_in_cgroup(&cgroup_dir, forbidden.local_addr().unwrap()),
        "errno 1"
    );
    assert!(received(&forbidden, Duration::from_millis(500))
        .await
        .is_empty());
    let body_has = |body: &str, sample: &str| sample_value(body, sample).unwrap_or(0.0);
    assert!(
        eventually(Duration::from_secs(10), || async {
            let body = metrics(&node).await;
            body_has(&body, "x0_charter_kernel_denied{hook=\"sendmsg4\"}") >= 1.0
                && body_has(&body, "x0_charter_egress_bytes{destination=\"127.0.0.1\"}") > 0.0
        })
        .await,
        "kernel counters never showed the refusal and the pushed bytes: {}",
        metrics(&node).await
    );
    assert_eq!(
        sample_value(
            &metrics(&node).await,
            "x0_enforcement_mode{mode=\"kernel\"}"
        ),
        Some(1.0)
    );
    node.shutdown().await.unwrap();
    // The node removes its cgroup when it stops.
    assert!(
        eventually(Duration::from_secs(5), || async { !cgroup_dir.exists() }).await,
        "{} left behind",
        cgroup_dir.display()
    );
}

/// `x0 node` started as an unprivileged user (nobody, no capabilities) cannot load the
/// kernel programs: it says why in one log line, runs in userspace mode, and enforces the
/// same destination table.
#[actix_rt::test]
async fn an_unprivileged_node_falls_back_to_userspace_and_enforces_the_same_table() {
    let (allow, cases) = destination_table();
    let loopback: Vec<(SocketAddr, bool)> = cases
        .into_iter()
        .filter(|(address, _)| {
            address.ip().is_loopback() || address.ip().to_string().starts_with("127.")
        })
        .collect();
    assert!(loopback.iter().any(|c| c.1) && loopback.iter().any(|c| !c.1));
    for (index, (destination, allowed)) in loopback.into_iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let receiver = receiver(&destination.to_string()).await;
        let mut config = charter_config(dir.path(), &policy_with(&allow), KernelSwitch::Auto);
        telemetry_to(&mut config, destination);
        let config_path = dir.path().join("x0.toml");
        std::fs::write(&config_path, toml::to_string(&config).unwrap()).unwrap();
        let log_path = dir.path().join("node.log");
        // nobody must be able to use the data dir (the tempdir is root's, mode 0700).
        let chown = Command::new("chown")
            .args(["-R", "65534:65534"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(chown.success());
        let log = std::fs::File::create(&log_path).unwrap();
        let child = Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "--inh-caps=-all",
            ])
            .arg(env!("CARGO_BIN_EXE_x0"))
            .args(["node", "--config"])
            .arg(&config_path)
            .env("X0_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("setpriv (util-linux) runs; this test runs as root");
        let _child = KillOnDrop(child);
        let got = received(&receiver, Duration::from_secs(4)).await;
        let log = std::fs::read_to_string(&log_path).unwrap();
        let fallback_lines: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("kernel enforcement unavailable"))
            .collect();
        assert_eq!(fallback_lines.len(), 1, "case {index}: {log}");
        assert!(
            fallback_lines[0].contains("CAP_BPF") || fallback_lines[0].contains("privilege"),
            "the log line names the cause: {}",
            fallback_lines[0]
        );
        assert_eq!(
            !got.is_empty(),
            allowed,
            "{destination}: allowed {allowed}, got {} datagrams; log: {log}",
            got.len()
        );
        if !allowed {
            assert!(log.contains("telemetry push refused"), "{log}");
        }
    }
}
