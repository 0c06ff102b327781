//! Serving metrics in the format the scraper asks for.
//!
//! prometheus-client writes OpenMetrics text, which Prometheus requests by default. Tools
//! that speak only the classic text format (version 0.0.4: `promtool check metrics`, curl
//! piped to older parsers) read OpenMetrics counters wrongly, because OpenMetrics names a
//! counter family `foo` and its sample `foo_total`. For them the same registry is rendered
//! in the classic format: counter families renamed to their `_total` sample name, `# UNIT`
//! and `# EOF` dropped, `unknown` written as `untyped`, `info` as a `_info` gauge.

/// Content type of OpenMetrics text.
pub const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// Content type of the classic Prometheus text format.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Picks the format from an HTTP Accept header: OpenMetrics when it is asked for.
pub fn wants_openmetrics(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| a.contains("application/openmetrics-text"))
}

/// Renders OpenMetrics text (as prometheus-client writes it) in the classic 0.0.4 format.
pub fn openmetrics_to_classic(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    // HELP precedes TYPE in OpenMetrics; the family name in HELP depends on the type, so a
    // HELP line waits here until its TYPE arrives.
    let mut pending_help: Option<(String, String)> = None;
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, text) = rest.split_once(' ').unwrap_or((rest, ""));
            pending_help = Some((name.to_string(), text.to_string()));
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            let (classic_name, classic_kind) = match kind {
                "counter" => (format!("{name}_total"), "counter"),
                "info" => (format!("{name}_info"), "gauge"),
                "gauge" | "histogram" | "summary" => (name.to_string(), kind),
                _ => (name.to_string(), "untyped"),
            };
            if let Some((help_name, help)) = pending_help.take() {
                if help_name == name {
                    out.push_str(&format!("# HELP {classic_name} {help}\n"));
                }
            }
            out.push_str(&format!("# TYPE {classic_name} {classic_kind}\n"));
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        // `_created` samples have no place in the classic format.
        let sample_name = line.split(['{', ' ']).next().unwrap_or("");
        if sample_name.ends_with("_created") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPENMETRICS: &str = "# HELP x0_probes_published Probes published.\n\
# TYPE x0_probes_published counter\n\
x0_probes_published_total 3\n\
# HELP x0_delivery_latency_seconds Latency.\n\
# TYPE x0_delivery_latency_seconds histogram\n\
# UNIT x0_delivery_latency_seconds seconds\n\
x0_delivery_latency_seconds_sum 0.5\n\
x0_delivery_latency_seconds_count 1\n\
x0_delivery_latency_seconds_bucket{le=\"+Inf\"} 1\n\
# HELP libp2p_x Something.\n\
# TYPE libp2p_x unknown\n\
libp2p_x 1\n\
# EOF\n";

    #[test]
    fn counters_take_their_total_name_and_openmetrics_only_lines_go() {
        let classic = openmetrics_to_classic(OPENMETRICS);
        assert!(classic.contains("# HELP x0_probes_published_total Probes published.\n"));
        assert!(classic.contains("# TYPE x0_probes_published_total counter\nx0_probes_published_total 3\n"));
        assert!(classic.contains("# TYPE x0_delivery_latency_seconds histogram\n"));
        assert!(classic.contains("# TYPE libp2p_x untyped\n"));
        assert!(!classic.contains("# EOF"));
        assert!(!classic.contains("# UNIT"));
    }

    #[test]
    fn negotiation_follows_the_accept_header() {
        assert!(wants_openmetrics(Some(
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
        )));
        assert!(!wants_openmetrics(Some("*/*")));
        assert!(!wants_openmetrics(None));
    }
}
