//! One table of policy cases; the kernel backend runs the same destination table.

use std::net::SocketAddr;

use super::exposition::filter;
use super::policy::CharterPolicy;

const POLICY: &str = r#"
version = 1
[metrics]
allow = ["x0_*", "gossipsub_*"]
forbidden_labels = ["peer_addr", "user_id"]
series_per_family_max = 2
[telemetry]
destinations = ["127.0.0.1/32:9091", "10.0.0.0/8:0", "[fd00::/8]:9090"]
"#;

/// The destination table both backends run (the kernel's in ebpf/tests/kernel.rs):
/// `allow` lines are the policy's destinations, `case` lines the verdicts.
const DESTINATION_TABLE: &str = include_str!("../../../ebpf/tests/destination_cases.txt");

fn destination_table() -> (Vec<String>, Vec<(SocketAddr, bool)>) {
    let mut allow = Vec::new();
    let mut cases = Vec::new();
    for line in DESTINATION_TABLE.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["allow", destination] => allow.push(format!("\"{destination}\"")),
            ["case", destination, verdict] => {
                assert!(matches!(*verdict, "allowed" | "denied"), "{line}");
                cases.push((destination.parse().unwrap(), *verdict == "allowed"));
            }
            _ => assert!(line.is_empty() || line.starts_with('#'), "{line}"),
        }
    }
    (allow, cases)
}

#[test]
fn destinations_follow_the_table() {
    let (allow, cases) = destination_table();
    assert_eq!(allow.len(), 3);
    assert_eq!(cases.len(), 9);
    let policy = POLICY.replace(
        "destinations = [\"127.0.0.1/32:9091\", \"10.0.0.0/8:0\", \"[fd00::/8]:9090\"]",
        &format!("destinations = [{}]", allow.join(", ")),
    );
    let policy = CharterPolicy::parse(&policy).unwrap();
    for (address, allowed) in cases {
        assert_eq!(policy.allows_destination(&address), allowed, "{address}");
    }
}

#[test]
fn the_export_shows_only_what_the_charter_allows_and_counts_the_rest() {
    let policy = CharterPolicy::parse(POLICY).unwrap();
    let exposition = "\
# HELP x0_probes Probes.
# TYPE x0_probes counter
x0_probes_total{topic=\"a\"} 1
x0_probes_total{topic=\"b\",peer_addr=\"1.2.3.4\"} 2
x0_probes_total{topic=\"c\"} 3
x0_probes_total{topic=\"d\"} 4
# HELP libp2p_swarm_connections Connections.
# TYPE libp2p_swarm_connections counter
libp2p_swarm_connections_total 5
# HELP x0_latency_seconds Latency.
# TYPE x0_latency_seconds histogram
x0_latency_seconds_bucket{topic=\"a\",le=\"0.1\"} 1
x0_latency_seconds_bucket{topic=\"a\",le=\"+Inf\"} 2
x0_latency_seconds_count{topic=\"a\"} 2
x0_latency_seconds_sum{topic=\"a\"} 0.3
x0_broken{topic=\"a 1
# EOF
";
    let filtered = filter(exposition, &policy);
    assert_eq!(
        filtered.text,
        "\
# HELP x0_probes Probes.
# TYPE x0_probes counter
x0_probes_total{topic=\"a\"} 1
x0_probes_total{topic=\"c\"} 3
# HELP x0_latency_seconds Latency.
# TYPE x0_latency_seconds histogram
x0_latency_seconds_bucket{topic=\"a\",le=\"0.1\"} 1
x0_latency_seconds_bucket{topic=\"a\",le=\"+Inf\"} 2
x0_latency_seconds_count{topic=\"a\"} 2
x0_latency_seconds_sum{topic=\"a\"} 0.3
# EOF
"
    );
    let dropped: Vec<(&str, u64)> = filtered.dropped.into_iter().collect();
    assert_eq!(
        dropped,
        vec![
            ("family_not_allowed", 1),
            ("forbidden_label", 1),
            ("malformed", 1),
            ("series_limit", 1),
        ]
    );
}

#[test]
fn bad_policies_name_the_field() {
    for (text, field) in [
        ("version = 2\n[metrics]\nallow=[\"x\"]\nseries_per_family_max=1", "version"),
        ("version = 1\n[metrics]\nallow=[]\nseries_per_family_max=1", "metrics.allow"),
        ("version = 1\n[metrics]\nallow=[\"x0 *\"]\nseries_per_family_max=1", "metrics.allow[0]"),
        (
            "version = 1\n[metrics]\nallow=[\"x\"]\nforbidden_labels=[\"1ip\"]\nseries_per_family_max=1",
            "metrics.forbidden_labels[0]",
        ),
        ("version = 1\n[metrics]\nallow=[\"x\"]\nseries_per_family_max=0", "metrics.series_per_family_max"),
        (
            "version = 1\n[metrics]\nallow=[\"x\"]\nseries_per_family_max=1\n[telemetry]\ndestinations=[\"10.0.0.0/8\"]",
            "telemetry.destinations[0]",
        ),
        ("version = 1\n[metrics]\nallow=[\"x\"]\nseries_per_family_max=1\nextra=1", "(file)"),
    ] {
        let error = CharterPolicy::parse(text).unwrap_err();
        assert_eq!(error.field, field, "{text}: {error}");
    }
}
