//! `GET /metrics`: the registry, conformed, filtered by the Charter, in the format the
//! scraper asks for.
//!
//! prometheus-client writes OpenMetrics text, which Prometheus requests by default. Tools
//! that speak only the classic text format (version 0.0.4: `promtool check metrics`, curl
//! piped to older parsers) read OpenMetrics counters wrongly, because OpenMetrics names a
//! counter family `foo` and its sample `foo_total`. For them the same registry is rendered
//! in the classic format: counter families renamed to their `_total` sample name, `# UNIT`
//! and `# EOF` dropped, `unknown` written as `untyped`, `info` as a `_info` gauge.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::charter::actor::FilterExport;

/// Content type of OpenMetrics text.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// Content type of the classic Prometheus text format.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Picks the format from an HTTP Accept header: OpenMetrics when it is asked for.
pub fn wants_openmetrics(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| a.contains("application/openmetrics-text"))
}

/// Makes prometheus-client's OpenMetrics output conform where an upstream family does not:
/// OpenMetrics forbids `_sum` on a histogram with negative buckets (the sum is then not a
/// counter) and `_count` without `_sum`; libp2p-gossipsub's `score_per_mesh` has such
/// buckets, so strict parsers refuse the whole exposition. This drops `_sum` and `_count`
/// from exactly those histograms; the `+Inf` bucket still carries the count.
pub fn conform_openmetrics(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    let mut block: Vec<&str> = Vec::new();
    let flush = |block: &mut Vec<&str>, out: &mut String| {
        let histogram = block.iter().find_map(|line| {
            line.strip_prefix("# TYPE ")
                .and_then(|rest| rest.strip_suffix(" histogram"))
        });
        let negative_buckets = histogram.is_some_and(|name| {
            let bucket = format!("{name}_bucket{{");
            block.iter().any(|line| {
                line.starts_with(&bucket)
                    && line
                        .split("le=\"")
                        .nth(1)
                        .and_then(|rest| rest.split('"').next())
                        .and_then(|le| le.parse::<f64>().ok())
                        .is_some_and(|le| le < 0.0)
            })
        });
        let dropped: Vec<String> = histogram
            .filter(|_| negative_buckets)
            .map(|name| {
                ["_sum{", "_sum ", "_count{", "_count "]
                    .iter()
                    .map(|suffix| format!("{name}{suffix}"))
                    .collect()
            })
            .unwrap_or_default();
        for line in block.drain(..) {
            if dropped
                .iter()
                .any(|prefix| line.starts_with(prefix.as_str()))
            {
                continue;
            }
            out.push_str(line);
            out.push('\n');
        }
    };
    for line in openmetrics.lines() {
        if line.starts_with("# HELP ") || line == "# EOF" {
            flush(&mut block, &mut out);
        }
        block.push(line);
    }
    flush(&mut block, &mut out);
    out
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

/// `GET /metrics`.
pub(super) async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let mut openmetrics = String::new();
    if let Err(error) = prometheus_client::encoding::text::encode(&mut openmetrics, &state.registry)
    {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding metrics: {error}"),
        )
            .into_response();
    }
    let openmetrics = conform_openmetrics(&openmetrics);
    let openmetrics = match &state.charter {
        Some(charter) => match charter.send(FilterExport(openmetrics)).await {
            Ok(filtered) => filtered,
            // Never the unfiltered export: without the Charter's actor, nothing.
            Err(error) => {
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("charter actor not answering: {error}\n"),
                )
                    .into_response()
            }
        },
        None => openmetrics,
    };
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    if wants_openmetrics(accept) {
        (
            [(header::CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE)],
            openmetrics,
        )
            .into_response()
    } else {
        (
            [(header::CONTENT_TYPE, TEXT_CONTENT_TYPE)],
            openmetrics_to_classic(&openmetrics),
        )
            .into_response()
    }
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
        assert!(classic
            .contains("# TYPE x0_probes_published_total counter\nx0_probes_published_total 3\n"));
        assert!(classic.contains("# TYPE x0_delivery_latency_seconds histogram\n"));
        assert!(classic.contains("# TYPE libp2p_x untyped\n"));
        assert!(!classic.contains("# EOF"));
        assert!(!classic.contains("# UNIT"));
    }

    #[test]
    fn negative_bucket_histograms_lose_only_sum_and_count() {
        let input =
            "# HELP s Score.\n# TYPE s histogram\ns_sum{t=\"a\"} -3.0\ns_count{t=\"a\"} 1\n\
s_bucket{le=\"-10.0\",t=\"a\"} 0\ns_bucket{le=\"+Inf\",t=\"a\"} 1\n\
# HELP p Positive.\n# TYPE p histogram\np_sum 2.0\np_count 1\np_bucket{le=\"+Inf\"} 1\n# EOF\n";
        let output = conform_openmetrics(input);
        assert!(!output.contains("s_sum"));
        assert!(!output.contains("s_count"));
        assert!(output.contains("s_bucket{le=\"+Inf\",t=\"a\"} 1\n"));
        assert!(
            output.contains("p_sum 2.0\n"),
            "positive histograms keep their sum"
        );
        assert!(output.ends_with("# EOF\n"));
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
