//! The Charter ("Anti-Delos") as a policy: which metric families a node may export,
//! which label names never leave it, how many series a family may have, and where its
//! telemetry may go. Versioned TOML; in a live network it changes only through a
//! certified change (slot `charter/policy`).
//!
//! ```toml
//! version = 1
//! [metrics]
//! allow = ["x0_*", "gossipsub_*"]          # globs over family names
//! forbidden_labels = ["peer_addr", "ip"]   # a sample with one of these is dropped
//! series_per_family_max = 1000
//! [telemetry]
//! destinations = ["127.0.0.1/32:9091", "10.0.0.0/8:9090"]   # CIDR:port
//! ```

use std::net::SocketAddr;

use ipnet::IpNet;
use serde::Deserialize;

pub const VERSION: u32 = 1;
/// Bounds on what a policy may list, so a policy cannot make the enforcer slow.
pub const ALLOW_PATTERNS_MAX: usize = 256;
pub const FORBIDDEN_LABELS_MAX: usize = 256;
pub const DESTINATIONS_MAX: usize = 256;
pub const SERIES_PER_FAMILY_MAX_LIMIT: usize = 1_000_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("charter field `{field}`: {message}")]
pub struct PolicyError {
    pub field: String,
    pub message: String,
}

fn error(field: impl Into<String>, message: impl Into<String>) -> PolicyError {
    PolicyError {
        field: field.into(),
        message: message.into(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    version: u32,
    metrics: MetricsFile,
    #[serde(default)]
    telemetry: TelemetryFile,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricsFile {
    allow: Vec<String>,
    #[serde(default)]
    forbidden_labels: Vec<String>,
    series_per_family_max: usize,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TelemetryFile {
    #[serde(default)]
    destinations: Vec<String>,
}

/// One allowed telemetry destination: a network and a port (0: any port).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Destination {
    pub net: IpNet,
    pub port: u16,
}

impl Destination {
    pub fn allows(&self, address: &SocketAddr) -> bool {
        self.net.contains(&address.ip()) && (self.port == 0 || self.port == address.port())
    }
}

/// A checked Charter policy.
#[derive(Debug, Clone)]
pub struct CharterPolicy {
    allow: Vec<glob::Pattern>,
    /// Sorted, for binary search.
    forbidden_labels: Vec<String>,
    pub series_per_family_max: usize,
    pub destinations: Vec<Destination>,
}

impl CharterPolicy {
    /// Parses and checks a policy; every error names the field and what is expected.
    pub fn parse(text: &str) -> Result<CharterPolicy, PolicyError> {
        let file: PolicyFile = toml::from_str(text)
            .map_err(|e| error("(file)", format!("not a Charter policy: {}", e.message())))?;
        if file.version != VERSION {
            return Err(error(
                "version",
                format!(
                    "version {} is not supported (this build reads {VERSION})",
                    file.version
                ),
            ));
        }
        let metrics = file.metrics;
        if metrics.allow.is_empty() || metrics.allow.len() > ALLOW_PATTERNS_MAX {
            return Err(error(
                "metrics.allow",
                format!("needs 1..={ALLOW_PATTERNS_MAX} globs, e.g. [\"x0_*\"]"),
            ));
        }
        let mut allow = Vec::with_capacity(metrics.allow.len());
        for (index, text) in metrics.allow.iter().enumerate() {
            let valid_chars = text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_:*?".contains(&b));
            let pattern = glob::Pattern::new(text).ok().filter(|_| valid_chars);
            match pattern {
                Some(pattern) => allow.push(pattern),
                None => {
                    return Err(error(
                        format!("metrics.allow[{index}]"),
                        format!("`{text}` is not a metric-name glob (letters, digits, _ and :, with * and ?)"),
                    ))
                }
            }
        }
        if metrics.forbidden_labels.len() > FORBIDDEN_LABELS_MAX {
            return Err(error(
                "metrics.forbidden_labels",
                format!("at most {FORBIDDEN_LABELS_MAX} label names"),
            ));
        }
        for (index, label) in metrics.forbidden_labels.iter().enumerate() {
            let valid = !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_')
                && !label.as_bytes()[0].is_ascii_digit();
            if !valid {
                return Err(error(
                    format!("metrics.forbidden_labels[{index}]"),
                    format!("`{label}` is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)"),
                ));
            }
        }
        let mut forbidden_labels = metrics.forbidden_labels;
        forbidden_labels.sort();
        forbidden_labels.dedup();
        if !(1..=SERIES_PER_FAMILY_MAX_LIMIT).contains(&metrics.series_per_family_max) {
            return Err(error(
                "metrics.series_per_family_max",
                format!("must be in 1..={SERIES_PER_FAMILY_MAX_LIMIT}"),
            ));
        }
        let telemetry = file.telemetry;
        if telemetry.destinations.len() > DESTINATIONS_MAX {
            return Err(error(
                "telemetry.destinations",
                format!("at most {DESTINATIONS_MAX} destinations"),
            ));
        }
        let mut destinations = Vec::with_capacity(telemetry.destinations.len());
        for (index, text) in telemetry.destinations.iter().enumerate() {
            let parsed = text.rsplit_once(':').and_then(|(net, port)| {
                let net: IpNet = net
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse()
                    .ok()?;
                Some(Destination {
                    net,
                    port: port.parse().ok()?,
                })
            });
            match parsed {
                Some(destination) => destinations.push(destination),
                None => {
                    return Err(error(
                        format!("telemetry.destinations[{index}]"),
                        format!("`{text}` is not CIDR:port, e.g. \"10.0.0.0/8:9090\" or \"[fd00::/8]:0\" (port 0: any)"),
                    ))
                }
            }
        }
        Ok(CharterPolicy {
            allow,
            forbidden_labels,
            series_per_family_max: metrics.series_per_family_max,
            destinations,
        })
    }

    /// May the family `name` be exported?
    pub fn allows_family(&self, name: &str) -> bool {
        self.allow.iter().any(|pattern| pattern.matches(name))
    }

    pub fn forbids_label(&self, label: &str) -> bool {
        self.forbidden_labels
            .binary_search_by(|l| l.as_str().cmp(label))
            .is_ok()
    }

    /// May telemetry be sent to `address`?
    pub fn allows_destination(&self, address: &SocketAddr) -> bool {
        self.destinations.iter().any(|d| d.allows(address))
    }
}
