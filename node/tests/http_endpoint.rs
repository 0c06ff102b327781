//! The HTTP endpoint over real HTTP: `/metrics` is valid for Prometheus' own tools in both
//! formats and carries gossipsub, swarm, identify, ping and `x0_` families with live
//! counts; `/health` and `/status` answer.
//!
//! Validity is judged by the reference tools, not by us: `promtool check metrics` (from
//! Debian's `prometheus` package) for the classic text format, and the Prometheus
//! project's Python OpenMetrics parser (`python3-prometheus-client`) for OpenMetrics. Both
//! are installed by scripts/setup; a missing tool fails the test.

mod common;

use std::process::Command;
use std::time::Duration;

use x0_core::topics;
use x0_node::http::status::Status;

use common::{
    eventually, http_get, probes_delivered, probing_mesh, run_tool, sample_value, PARSE_OPENMETRICS,
};

const OPENMETRICS_ACCEPT: &str =
    "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";

#[actix_rt::test]
async fn metrics_health_and_status_over_http() {
    let dir = tempfile::tempdir().unwrap();
    // Three nodes, so every message also arrives a second time (a duplicate) somewhere.
    let nodes = probing_mesh(dir.path(), 3, 100).await;
    let a = &nodes[0];
    assert!(
        probes_delivered(a, 10, Duration::from_secs(10)).await,
        "probes did not flow"
    );
    let metrics_url = format!("http://{}/metrics", a.http_addr);
    // Duplicate counts settle 5 s after a message's first copy; gossipsub's mesh gauge is
    // first set at its first heartbeat (initial delay 5 s).
    let mesh_gauge = format!(
        "gossipsub_mesh_peer_counts{{supports_partial=\"false\",topic_hash=\"{}\"}} ",
        topics::PROBE
    );
    assert!(
        eventually(Duration::from_secs(15), || async {
            let (_, _, body) = http_get(&metrics_url, None).await;
            sample_value(&body, "x0_gossip_duplicates_per_message_count{").unwrap_or(0.0) > 0.0
                && sample_value(&body, &mesh_gauge).unwrap_or(0.0) >= 2.0
        })
        .await,
        "duplicates per message never settled, or the mesh gauge never rose"
    );

    // OpenMetrics, as Prometheus asks for it.
    let (code, content_type, openmetrics) = http_get(&metrics_url, Some(OPENMETRICS_ACCEPT)).await;
    assert_eq!(code, 200);
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    assert!(openmetrics.ends_with("# EOF\n"));
    let (status, families) = run_tool("/usr/bin/python3", &["-c", PARSE_OPENMETRICS], &openmetrics);
    assert_eq!(
        status, 0,
        "reference OpenMetrics parser refused the exposition:\n{families}"
    );
    for (family, kind) in [
        ("gossipsub_topic_msg_recv_counts", "counter"),
        ("gossipsub_mesh_peer_counts", "gauge"),
        ("gossipsub_topic_peers_counts", "gauge"),
        ("gossipsub_accepted_messages_per_topic", "counter"),
        ("libp2p_swarm_connections_established", "counter"),
        ("libp2p_identify_received", "counter"),
        ("libp2p_ping_rtt_seconds", "histogram"),
        ("x0_delivery_latency_seconds", "histogram"),
        ("x0_gossip_duplicates_per_message", "histogram"),
        ("x0_gossip_messages_validated", "counter"),
        ("x0_peers_connected", "gauge"),
    ] {
        assert!(
            families
                .lines()
                .any(|l| l.starts_with(&format!("{family} {kind} "))),
            "family {family} ({kind}) missing; parser saw:\n{families}"
        );
    }

    // Non-zero counts where the mesh did work.
    let probe = topics::PROBE;
    for (sample, at_least) in [
        (
            format!("gossipsub_topic_msg_recv_counts_total{{hash=\"{probe}\"}}"),
            10.0,
        ),
        (
            format!("gossipsub_topic_msg_published_total{{hash=\"{probe}\"}}"),
            1.0,
        ),
        (
            format!(
                "gossipsub_mesh_peer_counts{{supports_partial=\"false\",topic_hash=\"{probe}\"}}"
            ),
            2.0,
        ),
        (
            format!("x0_delivery_latency_seconds_count{{topic=\"{probe}\"}}"),
            10.0,
        ),
        (
            format!("x0_gossip_messages_validated_total{{topic=\"{probe}\",verdict=\"accept\"}}"),
            10.0,
        ),
        ("x0_peers_connected".to_string(), 2.0),
    ] {
        let value = sample_value(&openmetrics, &format!("{sample} ")).unwrap_or(0.0);
        assert!(
            value >= at_least,
            "{sample} = {value}, expected at least {at_least}"
        );
    }
    // Loopback delivery is fast: the latency mass sits at or below 0.5 s.
    let count = sample_value(
        &openmetrics,
        &format!("x0_delivery_latency_seconds_count{{topic=\"{probe}\"}} "),
    )
    .unwrap();
    let under_half_second = sample_value(
        &openmetrics,
        &format!("x0_delivery_latency_seconds_bucket{{le=\"0.5\",topic=\"{probe}\"}} "),
    )
    .unwrap();
    // At least 95%: one stall of the shared test runtime must not fail the test.
    assert!(
        under_half_second >= 0.95 * count,
        "{under_half_second} of {count} deliveries within 0.5 s"
    );
    // Three fully meshed nodes: each message arrives once directly and once relayed.
    let duplicates = sample_value(
        &openmetrics,
        &format!("x0_gossip_duplicates_per_message_sum{{topic=\"{probe}\"}} "),
    )
    .unwrap();
    assert!(duplicates > 0.0, "no duplicate ever counted");

    // The classic text format, for everything that does not ask for OpenMetrics.
    let (code, content_type, classic) = http_get(&metrics_url, None).await;
    assert_eq!(code, 200);
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let (status, lint) = run_tool("promtool", &["check", "metrics"], &classic);
    assert_eq!(status, 0, "promtool check metrics failed:\n{lint}");
    assert!(lint.trim().is_empty(), "promtool lint problems:\n{lint}");
    assert!(classic.contains("# TYPE x0_gossip_messages_validated_total counter"));

    // Health and status.
    let base = format!("http://{}", a.http_addr);
    let (code, _, body) = http_get(&format!("{base}/health"), None).await;
    assert_eq!((code, body.as_str()), (200, "ok\n"));
    let (code, content_type, body) = http_get(&format!("{base}/status"), None).await;
    assert_eq!(code, 200);
    assert!(content_type.starts_with("application/json"));
    let status: Status = serde_json::from_str(&body).unwrap();
    assert_eq!(status.peer_id, a.peer_id.to_string());
    assert_eq!(status.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(status.connected_peers.len(), 2);
    assert!(status
        .listen_addrs
        .iter()
        .all(|addr| addr.ends_with(&a.peer_id.to_string())));
    let probe_topic = status
        .topics
        .iter()
        .find(|t| t.topic == probe)
        .expect("probe topic in status");
    let mut others: Vec<String> = nodes[1..].iter().map(|n| n.peer_id.to_string()).collect();
    others.sort();
    assert_eq!(probe_topic.mesh_peers, others);
    let (code, _, _) = http_get(&format!("{base}/nope"), None).await;
    assert_eq!(code, 404);

    for node in nodes {
        node.shutdown().await.unwrap();
    }
}

#[test]
fn shipped_scrape_config_is_valid_for_promtool() {
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/prometheus.yml");
    let output = Command::new("promtool")
        .args(["check", "config", config])
        .output()
        .expect("promtool is required (run scripts/setup)");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
