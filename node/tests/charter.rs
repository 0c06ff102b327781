//! The Charter's userspace enforcer on a real node's `/metrics` (issue 7, first slice).

mod common;

use common::{http_get, sample_value, test_config};
use x0_node::config::CharterSection;
use x0_node::Node;

const POLICY: &str = r#"
version = 1
[metrics]
allow = ["x0_gossip_*", "x0_charter_*", "x0_enforcement_*", "x0_peers_*"]
forbidden_labels = ["topic"]
series_per_family_max = 100
"#;

#[actix_rt::test]
async fn the_export_shows_only_what_the_charter_allows_and_counts_what_it_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    std::fs::create_dir_all(dir.path()).unwrap();
    std::fs::write(dir.path().join("charter.toml"), POLICY).unwrap();
    config.charter = Some(CharterSection {
        policy_file: "charter.toml".into(),
    });
    let node = Node::start(config).await.unwrap();
    let url = format!("http://{}/metrics", node.http_addr);
    let (_, _, first) = http_get(&url, Some("application/openmetrics-text")).await;
    let (status, _, body) = http_get(&url, Some("application/openmetrics-text")).await;
    assert_eq!(status, 200);
    for line in body.lines().filter(|l| !l.starts_with('#')) {
        let allowed = ["x0_gossip_", "x0_charter_", "x0_enforcement_", "x0_peers_"]
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
    node.shutdown().await.unwrap();

    // A policy with a mistake stops the start, naming the field.
    std::fs::write(
        dir.path().join("charter.toml"),
        POLICY.replace("series_per_family_max = 100", "series_per_family_max = 0"),
    )
    .unwrap();
    let mut config = test_config(dir.path());
    config.charter = Some(CharterSection {
        policy_file: "charter.toml".into(),
    });
    let error = Node::start(config).await.err().expect("refused");
    assert_eq!(error.exit_code(), 2);
    let message = error.to_string();
    assert!(
        message.contains("charter.policy_file")
            && message.contains("metrics.series_per_family_max"),
        "{message}"
    );
}
