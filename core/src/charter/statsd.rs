//! The telemetry push format: an exposition the Charter already filtered, as StatsD gauge
//! lines with DogStatsD tags (`name:value|g|#label:value,...`, what Prometheus'
//! statsd_exporter reads), packed into UDP datagrams. Sans-IO: text in, datagrams out.
//!
//! Every sample becomes a gauge of its current value: counters are cumulative in the
//! exposition, and a gauge keeps them so at the receiver.

use std::collections::BTreeMap;

use super::exposition::parse_sample;

/// A datagram's payload at most, bytes: fits a 1500-byte Ethernet MTU under IPv6 and UDP
/// headers, so no push is ever fragmented.
pub const DATAGRAM_BYTES_MAX: usize = 1432;
/// Lines one push carries at most; the rest are dropped and counted (`push_limit`).
pub const LINES_PER_PUSH_MAX: usize = 8192;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Push {
    /// Newline-separated StatsD lines, each datagram at most [`DATAGRAM_BYTES_MAX`].
    pub datagrams: Vec<Vec<u8>>,
    pub lines: usize,
    /// Samples not pushed, by reason: `malformed` (unreadable line or value),
    /// `line_too_long` (one line over a datagram), `push_limit`.
    pub dropped: BTreeMap<&'static str, u64>,
}

/// DogStatsD separates with `|`, `,`, `:` and `#`; a label value carrying one would be
/// misread, so it becomes `_` (as statsd_exporter's own escaping does for names).
fn tag_safe(value: &str) -> String {
    value
        .chars()
        .map(|c| match c {
            '|' | ',' | ':' | '#' | '\n' | '\\' | '"' => '_',
            c => c,
        })
        .collect()
}

/// One StatsD line for a sample line, or `None` if the sample cannot be read.
fn line_of(sample_line: &str) -> Option<String> {
    let sample = parse_sample(sample_line)?;
    let value = sample.value.split_whitespace().next()?;
    let number: f64 = value.parse().ok()?;
    if !number.is_finite() {
        return None;
    }
    let mut line = format!("{}:{}|g", sample.name, value);
    for (index, (label, label_value)) in sample.labels.iter().enumerate() {
        line.push_str(if index == 0 { "|#" } else { "," });
        line.push_str(label);
        line.push(':');
        line.push_str(&tag_safe(label_value));
    }
    Some(line)
}

/// The push of `exposition` (already filtered by the Charter).
pub fn encode(exposition: &str) -> Push {
    let mut push = Push::default();
    let mut datagram: Vec<u8> = Vec::new();
    let count = |push: &mut Push, reason: &'static str| {
        *push.dropped.entry(reason).or_insert(0) += 1;
    };
    for sample_line in exposition.lines() {
        if sample_line.is_empty() || sample_line.starts_with('#') {
            continue;
        }
        let Some(line) = line_of(sample_line) else {
            count(&mut push, "malformed");
            continue;
        };
        if line.len() > DATAGRAM_BYTES_MAX {
            count(&mut push, "line_too_long");
            continue;
        }
        if push.lines == LINES_PER_PUSH_MAX {
            count(&mut push, "push_limit");
            continue;
        }
        let separator = usize::from(!datagram.is_empty());
        if datagram.len() + separator + line.len() > DATAGRAM_BYTES_MAX {
            push.datagrams.push(std::mem::take(&mut datagram));
        }
        if !datagram.is_empty() {
            datagram.push(b'\n');
        }
        datagram.extend_from_slice(line.as_bytes());
        push.lines += 1;
    }
    if !datagram.is_empty() {
        push.datagrams.push(datagram);
    }
    debug_assert!(push.datagrams.iter().all(|d| d.len() <= DATAGRAM_BYTES_MAX));
    push
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_become_tagged_gauges() {
        let push = encode(
            "# TYPE x0_probes counter\n\
             x0_probes_total{topic=\"a|b\",le=\"+Inf\"} 3\n\
             x0_peers 5 1700000000\n\
             x0_bad{topic=\"a 1\n\
             x0_nan NaN\n\
             # EOF\n",
        );
        assert_eq!(
            push.datagrams,
            vec![b"x0_probes_total:3|g|#topic:a_b,le:+Inf\nx0_peers:5|g".to_vec()]
        );
        assert_eq!(push.lines, 2);
        assert_eq!(push.dropped.get("malformed"), Some(&2));
    }

    #[test]
    fn datagrams_never_exceed_the_limit_and_lose_no_line() {
        let exposition: String = (0..500)
            .map(|i| format!("x0_series_{i}{{topic=\"t{i}\"}} {i}\n"))
            .collect();
        let push = encode(&exposition);
        assert!(push.datagrams.len() > 1);
        assert!(push.datagrams.iter().all(|d| d.len() <= DATAGRAM_BYTES_MAX));
        let lines: usize = push
            .datagrams
            .iter()
            .map(|d| d.split(|b| *b == b'\n').count())
            .sum();
        assert_eq!(lines, 500);
        assert_eq!(push.lines, 500);
        assert!(push.dropped.is_empty());
    }

    #[test]
    fn an_oversized_line_is_dropped_not_split() {
        let long = "v".repeat(DATAGRAM_BYTES_MAX);
        let push = encode(&format!("x0_a{{topic=\"{long}\"}} 1\nx0_b 2\n"));
        assert_eq!(push.datagrams, vec![b"x0_b:2|g".to_vec()]);
        assert_eq!(push.dropped.get("line_too_long"), Some(&1));
    }
}
