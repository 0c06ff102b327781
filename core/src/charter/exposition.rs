//! The userspace enforcer's filter over an OpenMetrics text exposition: what `/metrics`
//! may show under the Charter. Sans-IO: text in, text and drop counts out.
//!
//! A family is named by its `# TYPE`/`# HELP`/`# UNIT` lines; the samples after them
//! belong to it (their names carry suffixes such as `_total` or `_bucket`). Drops:
//!
//! * `family_not_allowed`: the family matches no `metrics.allow` glob (its metadata and
//!   every sample go);
//! * `forbidden_label`: a sample names a forbidden label;
//! * `series_limit`: a family already has `series_per_family_max` label sets (the bucket
//!   and quantile labels do not make a new series);
//! * `malformed`: a sample line whose labels cannot be read (never exported half-read).

use std::collections::{BTreeMap, BTreeSet};

use super::policy::CharterPolicy;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filtered {
    pub text: String,
    /// Dropped samples by reason.
    pub dropped: BTreeMap<&'static str, u64>,
}

/// One sample line of an exposition, read: `name{label="value",...} value [timestamp]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sample<'a> {
    pub name: &'a str,
    /// Label names and their escaped values, in line order.
    pub labels: Vec<(&'a str, &'a str)>,
    /// What follows the labels: the value and an optional timestamp.
    pub value: &'a str,
}

impl Sample<'_> {
    /// The series key: the labels other than `le` and `quantile` (a histogram's buckets
    /// and a summary's quantiles do not make new series).
    fn series_key(&self) -> String {
        let mut key = String::new();
        for (label, value) in &self.labels {
            if *label != "le" && *label != "quantile" {
                key.push_str(label);
                key.push('=');
                key.push_str(value);
                key.push(',');
            }
        }
        key
    }
}

/// Reads a sample line, or `None` if its labels cannot be read.
pub(crate) fn parse_sample(line: &str) -> Option<Sample<'_>> {
    let at = line.find(['{', ' '])?;
    let (name, rest) = line.split_at(at);
    if !rest.starts_with('{') {
        return Some(Sample {
            name,
            labels: Vec::new(),
            value: rest.trim(),
        });
    }
    let bytes = rest.as_bytes();
    let mut at = 1;
    let mut labels = Vec::new();
    loop {
        while at < bytes.len() && (bytes[at] == b',' || bytes[at] == b' ') {
            at += 1;
        }
        if at >= bytes.len() {
            return None;
        }
        if bytes[at] == b'}' {
            return Some(Sample {
                name,
                labels,
                value: rest.get(at + 1..)?.trim(),
            });
        }
        let start = at;
        while at < bytes.len() && bytes[at] != b'=' {
            at += 1;
        }
        let label = rest.get(start..at)?.trim();
        at += 1;
        if bytes.get(at) != Some(&b'"') {
            return None;
        }
        at += 1;
        let value_start = at;
        while at < bytes.len() && bytes[at] != b'"' {
            at += if bytes[at] == b'\\' { 2 } else { 1 };
        }
        if at >= bytes.len() {
            return None;
        }
        labels.push((label, rest.get(value_start..at)?));
        at += 1;
    }
}

/// Filters `exposition` under `policy`.
pub fn filter(exposition: &str, policy: &CharterPolicy) -> Filtered {
    let mut out = Filtered::default();
    let mut family: Option<(String, bool)> = None;
    let mut series: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let count = |out: &mut Filtered, reason: &'static str| {
        *out.dropped.entry(reason).or_insert(0) += 1;
    };
    for line in exposition.lines() {
        if line == "# EOF" {
            out.text.push_str(line);
            out.text.push('\n');
            continue;
        }
        if let Some(meta) = line.strip_prefix("# ") {
            let mut words = meta.splitn(3, ' ');
            let kind = words.next().unwrap_or("");
            let name = words.next().unwrap_or("");
            if matches!(kind, "TYPE" | "HELP" | "UNIT") && !name.is_empty() {
                if family.as_ref().is_none_or(|(current, _)| current != name) {
                    family = Some((name.to_string(), policy.allows_family(name)));
                }
                if family.as_ref().is_some_and(|(_, allowed)| *allowed) {
                    out.text.push_str(line);
                    out.text.push('\n');
                }
            }
            continue;
        }
        if line.is_empty() {
            continue;
        }
        let Some(sample) = parse_sample(line) else {
            count(&mut out, "malformed");
            continue;
        };
        let name = sample.name.to_string();
        // A sample outside any declared family is judged by its own name.
        let (family_name, allowed) = match &family {
            Some((family_name, allowed)) if name.starts_with(family_name.as_str()) => {
                (family_name.clone(), *allowed)
            }
            _ => (name.clone(), policy.allows_family(&name)),
        };
        if !allowed {
            count(&mut out, "family_not_allowed");
            continue;
        }
        if sample
            .labels
            .iter()
            .any(|(label, _)| policy.forbids_label(label))
        {
            count(&mut out, "forbidden_label");
            continue;
        }
        let key = sample.series_key();
        let keys = series.entry(family_name).or_default();
        if !keys.contains(&key) && keys.len() >= policy.series_per_family_max {
            count(&mut out, "series_limit");
            continue;
        }
        keys.insert(key);
        out.text.push_str(line);
        out.text.push('\n');
    }
    out
}
