//! A real Prometheus server (Debian's `prometheus`, installed by scripts/setup) scrapes a
//! live node over loopback and stores its series: the strongest form of "valid for
//! Prometheus' own tools". Prometheus negotiates OpenMetrics, so this checks that path.

mod common;

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{eventually, probes_delivered, probing_mesh, KillOnDrop};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs an instant query against Prometheus' HTTP API; returns the whole answer.
async fn query_raw(prometheus: &str, promql: &str) -> Option<serde_json::Value> {
    reqwest::Client::new()
        .get(format!("{prometheus}/api/v1/query"))
        .query(&[("query", promql)])
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()
}

/// The first sample's value of an instant query.
async fn query(prometheus: &str, promql: &str) -> Option<f64> {
    let response = query_raw(prometheus, promql).await?;
    response["data"]["result"][0]["value"][1]
        .as_str()?
        .parse()
        .ok()
}

/// Every query of the shipped Grafana dashboard, with its panel title.
fn dashboard_queries() -> Vec<(String, String)> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/grafana/x0-gossip-health.json"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut queries = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            queries.push((
                panel["title"].as_str().unwrap().to_string(),
                target["expr"].as_str().unwrap().to_string(),
            ));
        }
    }
    queries
}

#[actix_rt::test]
async fn prometheus_scrapes_and_stores_the_node_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = probing_mesh(dir.path(), 2, 100).await;
    assert!(probes_delivered(&nodes[0], 5, Duration::from_secs(10)).await);

    let config_path = dir.path().join("prometheus.yml");
    std::fs::write(
        &config_path,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: x0\n    static_configs:\n      - targets: ['{}']\n",
            nodes[0].http_addr
        ),
    )
    .unwrap();
    let port = free_port();
    let prometheus = format!("http://127.0.0.1:{port}");
    let _server = KillOnDrop(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus is required (run scripts/setup)"),
    );

    // `up` is 1 only after a scrape that parsed; a parse failure sets it to 0.
    assert!(
        eventually(Duration::from_secs(30), || async {
            query(&prometheus, "up{job=\"x0\"}").await == Some(1.0)
        })
        .await,
        "Prometheus never scraped the node successfully"
    );
    let latency = "x0_delivery_latency_seconds_count{topic=\"/x0/1/probe\"}";
    assert!(
        eventually(Duration::from_secs(10), || async {
            query(&prometheus, latency).await.unwrap_or(0.0) > 0.0
        })
        .await,
        "the latency histogram never reached Prometheus"
    );
    let p99 = query(
        &prometheus,
        "histogram_quantile(0.99, sum by (le) (x0_delivery_latency_seconds_bucket))",
    )
    .await
    .expect("a p99 latency");
    assert!(p99 < 0.5, "loopback p99 delivery latency {p99} s");
    let received = query(
        &prometheus,
        "gossipsub_topic_msg_recv_counts_total{hash=\"/x0/1/probe\"}",
    )
    .await
    .unwrap_or(0.0);
    assert!(received > 0.0, "gossipsub counters are stored");
    let scrape_samples = query(&prometheus, "scrape_samples_scraped{job=\"x0\"}")
        .await
        .unwrap();
    assert!(
        scrape_samples > 50.0,
        "only {scrape_samples} samples per scrape"
    );

    // Every dashboard query is valid PromQL, and the panels a healthy mesh must fill are
    // filled (rates need two scrapes in their window, hence the wait).
    let must_have_data = [
        "Delivery latency p50 / p99 (probes)",
        "Duplicates per message (mean)",
        "Mesh peers per topic",
        "Connected peers",
        "Verdicts per second",
        "Messages received per topic (after de-duplication)",
    ];
    for (title, expr) in dashboard_queries() {
        let answer = query_raw(&prometheus, &expr)
            .await
            .expect("Prometheus answers");
        assert_eq!(
            answer["status"], "success",
            "panel {title}: {expr}: {answer}"
        );
        if must_have_data.contains(&title.as_str()) {
            assert!(
                eventually(Duration::from_secs(15), || async {
                    query_raw(&prometheus, &expr).await.is_some_and(|a| {
                        a["data"]["result"]
                            .as_array()
                            .is_some_and(|r| !r.is_empty())
                    })
                })
                .await,
                "panel {title} shows no data: {expr}"
            );
        }
    }

    for node in nodes {
        node.shutdown().await.unwrap();
    }
}
