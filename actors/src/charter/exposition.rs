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

/// The label names and the series key (labels other than `le` and `quantile`) of a sample
/// line's `{...}`, or `None` if it cannot be read.
fn labels(line: &str) -> Option<(String, Vec<String>, String)> {
    let (name, rest) = match line.find(['{', ' ']) {
        Some(at) => line.split_at(at),
        None => return None,
    };
    if !rest.starts_with('{') {
        return Some((name.to_string(), Vec::new(), String::new()));
    }
    let bytes = rest.as_bytes();
    let mut at = 1;
    let mut names = Vec::new();
    let mut key = String::new();
    loop {
        while at < bytes.len() && (bytes[at] == b',' || bytes[at] == b' ') {
            at += 1;
        }
        if at >= bytes.len() {
            return None;
        }
        if bytes[at] == b'}' {
            return Some((name.to_string(), names, key));
        }
        let start = at;
        while at < bytes.len() && bytes[at] != b'=' {
            at += 1;
        }
        let label = rest.get(start..at)?.trim().to_string();
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
        let value = &rest[value_start..at];
        at += 1;
        if label != "le" && label != "quantile" {
            key.push_str(&label);
            key.push('=');
            key.push_str(value);
            key.push(',');
        }
        names.push(label);
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
        let Some((name, names, key)) = labels(line) else {
            count(&mut out, "malformed");
            continue;
        };
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
        if names.iter().any(|label| policy.forbids_label(label)) {
            count(&mut out, "forbidden_label");
            continue;
        }
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
