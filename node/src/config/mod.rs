//! Node configuration: embedded defaults, a TOML file, then command-line overrides.
//!
//! The commented default file (`default_config.toml`) is the single source of the default
//! values: `x0 node init` writes it, and [`Config::embedded`] parses it. Every error names
//! the file, the field and what is expected, because the operator has to fix it by hand.
//! Each section checks its own fields in its module; [`Config::validate`] runs them and
//! the rules that tie sections together.

mod anomaly;
mod auth;
mod ballot;
mod certify;
mod charter;
mod gossip;
mod http;
mod network;
mod probe;
mod snapshot;
mod sync;
mod telemetry;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use self::anomaly::AnomalySection;
pub use self::auth::AuthSection;
pub use self::ballot::BallotSection;
pub use self::certify::CertifySection;
pub use self::charter::{CharterSection, KernelSwitch};
pub use self::gossip::{GossipSection, ScoreSection};
pub use self::http::HttpSection;
pub use self::network::{LimitsSection, NetworkSection};
pub use self::probe::ProbeSection;
pub use self::snapshot::SnapshotSection;
pub use self::sync::SyncSection;
pub use self::telemetry::TelemetrySection;
use crate::committee::CommitteeSection;

/// The commented default configuration, as written by `x0 node init`.
pub const DEFAULT_TOML: &str = include_str!("../default_config.toml");

/// File name of the config inside a data dir.
pub const FILE_NAME: &str = "x0.toml";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub node: NodeSection,
    pub network: NetworkSection,
    pub gossip: GossipSection,
    pub probe: ProbeSection,
    pub certify: CertifySection,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub committee: Option<CommitteeSection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthSection>,
    #[serde(default)]
    pub anomaly: AnomalySection,
    #[serde(default)]
    pub ballot: BallotSection,
    /// Anti-entropy sync: how a node catches up on what gossip did not bring it.
    #[serde(default)]
    pub sync: SyncSection,
    /// The Charter's metric and telemetry policy; absent: the export is not filtered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charter: Option<CharterSection>,
    /// The telemetry push; needs `[charter]` (its destinations decide where it may go).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telemetry: Option<TelemetrySection>,
    /// The Snapshot hub client; absent means the node reads no DAO votes from Snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<SnapshotSection>,
    pub http: HttpSection,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSection {
    /// Empty means the platform default (see [`default_data_dir`]).
    pub data_dir: PathBuf,
}

/// A configuration the operator must fix. Displayed as one line that names the source,
/// the field and what is expected.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config {path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config {source_name}: field `{field}`: {message}")]
    Field {
        source_name: String,
        field: String,
        message: String,
    },
}

impl ConfigError {
    fn field(source_name: &str, field: &str, message: impl Into<String>) -> Self {
        ConfigError::Field {
            source_name: source_name.to_string(),
            field: field.to_string(),
            message: message.into(),
        }
    }
}

/// One field a section refuses: its full name (`network.listen[1]`) and what is
/// expected. [`Config::validate`] adds the source it came from.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("field `{field}`: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// `value` within `min..=max`, else `must be in MIN..=MAX, got VALUE`.
fn in_range(field: &str, value: u64, min: u64, max: u64) -> Result<(), FieldError> {
    if (min..=max).contains(&value) {
        return Ok(());
    }
    Err(FieldError::new(
        field,
        format!("must be in {min}..={max}, got {value}"),
    ))
}

/// `value` within `min..=max`, else `VALUE is outside MIN..=MAX` (the older sections'
/// wording, kept: operators and scripts read these messages).
fn within(field: &str, value: u64, min: u64, max: u64) -> Result<(), FieldError> {
    if (min..=max).contains(&value) {
        return Ok(());
    }
    Err(FieldError::new(
        field,
        format!("{value} is outside {min}..={max}"),
    ))
}

impl Config {
    /// The embedded defaults (the parsed [`DEFAULT_TOML`]).
    pub fn embedded() -> Config {
        Config::from_toml(DEFAULT_TOML, "<embedded defaults>")
            .expect("the embedded default config parses and validates")
    }

    /// Reads and validates a config file.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::from_toml(&text, &path.display().to_string())
    }

    /// Parses and validates TOML text; `source_name` names it in errors. Fields the text
    /// leaves out take their values from the embedded defaults.
    pub fn from_toml(text: &str, source_name: &str) -> Result<Config, ConfigError> {
        let user: toml::Table = toml::from_str(text).map_err(|error| {
            ConfigError::field(
                source_name,
                "(syntax)",
                first_line_of_toml_error(&error.to_string()),
            )
        })?;
        let mut merged = embedded_table();
        merge(&mut merged, user);
        let config: Config =
            serde_path_to_error::deserialize(toml::Value::Table(merged)).map_err(|error| {
                let field = error.path().to_string();
                let message = first_line_of_toml_error(&error.inner().to_string());
                ConfigError::field(source_name, &field, message)
            })?;
        config.validate(source_name)?;
        Ok(config)
    }

    /// Checks what types alone cannot: orderings, ranges, and address shapes.
    pub fn validate(&self, source_name: &str) -> Result<(), ConfigError> {
        self.check().map_err(|error| ConfigError::Field {
            source_name: source_name.to_string(),
            field: error.field,
            message: error.message,
        })
    }

    /// Each section's own check, and between them the rules that tie sections together,
    /// in the order an operator fixes them: a section that may not be there at all first.
    fn check(&self) -> Result<(), FieldError> {
        if let Some(telemetry) = &self.telemetry {
            if self.charter.is_none() {
                return Err(FieldError::new(
                    "telemetry",
                    "a telemetry push needs a [charter] section with a policy_file: the policy's telemetry.destinations decide where the node may push",
                ));
            }
            telemetry.check()?;
        }
        if let Some(charter) = &self.charter {
            charter.check()?;
        }
        self.network.check()?;
        self.gossip.check()?;
        self.probe.check()?;
        // A probe must stay in gossipsub's seen-cache for as long as it can be valid, or a
        // captured probe could be replayed (and forwarded) after its id is forgotten.
        let valid_for_ms = self.probe.future_skew_ms_max + self.probe.age_ms_max;
        if valid_for_ms > self.gossip.duplicate_cache_time_s * 1_000 {
            return Err(FieldError::new(
                "probe.age_ms_max",
                format!(
                    "future_skew_ms_max + age_ms_max = {valid_for_ms} ms exceeds gossip.duplicate_cache_time_s ({} s): a probe could be replayed after its id is forgotten; lower them or raise duplicate_cache_time_s",
                    self.gossip.duplicate_cache_time_s
                ),
            ));
        }
        self.certify.check()?;
        if let Some(committee) = &self.committee {
            certify::check_committee(committee)?;
            if self.auth.is_none() {
                return Err(FieldError::new(
                    "auth",
                    "a [committee] needs an [auth] section: proposals and shares carry capability tokens; add authority_public_key (from `x0 token keygen`) and, on members, credential_file (from `x0 token mint`)",
                ));
            }
        }
        self.ballot.check()?;
        if let Some(committee) = &self.committee {
            self.ballot.check_with_committee(committee.members.len())?;
        }
        if let Some(snapshot) = &self.snapshot {
            snapshot.check()?;
        }
        self.anomaly.check()?;
        self.sync.check()?;
        self.http.check()?;
        if let Some(auth) = &self.auth {
            auth.check()?;
            // An honest forwarder must never relay a replay the gate then rejects: gossipsub
            // drops repeats of a message id it saw within duplicate_cache_time_s.
            if self.gossip.duplicate_cache_time_s * 1000 < 2 * auth.skew_ms {
                return Err(FieldError::new(
                    "auth.skew_ms",
                    format!(
                        "twice the skew window ({} ms) must not exceed gossip.duplicate_cache_time_s ({} s)",
                        2 * auth.skew_ms,
                        self.gossip.duplicate_cache_time_s
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The data dir, resolving the empty default.
    pub fn data_dir(&self) -> PathBuf {
        if self.node.data_dir.as_os_str().is_empty() {
            default_data_dir()
        } else {
            self.node.data_dir.clone()
        }
    }
}

/// `$XDG_DATA_HOME/x0`, else `~/.local/share/x0`, else `./x0-data`.
pub fn default_data_dir() -> PathBuf {
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(xdg).join("x0");
    }
    if let Some(home) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(home).join(".local/share/x0");
    }
    PathBuf::from("x0-data")
}

/// toml's messages carry a source excerpt over several lines; the first line says it all.
fn first_line_of_toml_error(message: &str) -> String {
    let lines: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    // toml 0.8 puts "TOML parse error at line L, column C" first and the reason last.
    match (lines.first(), lines.last()) {
        (Some(first), Some(last)) if first.starts_with("TOML parse error") && first != last => {
            format!(
                "{last} ({})",
                first.trim_start_matches("TOML parse error ").trim()
            )
        }
        (Some(first), _) => first.to_string(),
        _ => message.to_string(),
    }
}

/// The embedded defaults as a TOML table: every field is present in it.
fn embedded_table() -> toml::Table {
    toml::from_str(DEFAULT_TOML).expect("default_config.toml is valid TOML")
}

/// Lays `user` over `base`: tables merge key by key, anything else replaces. A key the
/// defaults lack stays, so the strict deserializer reports it as unknown.
fn merge(base: &mut toml::Table, user: toml::Table) {
    for (key, value) in user {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(base_table)), toml::Value::Table(user_table)) => {
                merge(base_table, user_table)
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_error(text: &str) -> (String, String) {
        match Config::from_toml(text, "test.toml") {
            Err(ConfigError::Field { field, message, .. }) => (field, message),
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn empty_file_is_the_embedded_defaults() {
        assert_eq!(Config::from_toml("", "empty").unwrap(), Config::embedded());
        assert_eq!(Config::embedded().http.bind.to_string(), "127.0.0.1:9480");
        assert_eq!(Config::embedded().network.listen.len(), 2);
    }

    #[test]
    fn partial_sections_keep_the_other_defaults() {
        let config = Config::from_toml("[gossip]\nmesh_n = 8\nmesh_n_high = 16\n", "t").unwrap();
        assert_eq!(config.gossip.mesh_n, 8);
        assert_eq!(config.gossip.mesh_n_low, 5);
        assert_eq!(config.gossip.score, Config::embedded().gossip.score);
    }

    #[test]
    fn unknown_field_is_named() {
        let (field, message) = field_error("[gossip]\nmesh_m = 3\n");
        assert_eq!(field, "gossip.mesh_m");
        assert!(message.contains("unknown field `mesh_m`"), "{message}");
    }

    #[test]
    fn wrong_type_is_named() {
        let (field, message) = field_error("[probe]\ninterval_ms = \"often\"\n");
        assert_eq!(field, "probe.interval_ms");
        assert!(
            message.contains("integer") || message.contains("u64"),
            "{message}"
        );
    }

    #[test]
    fn bad_multiaddr_is_named_with_its_index() {
        let (field, message) =
            field_error("[network]\nlisten = [\"/ip4/0.0.0.0/tcp/1\", \"/ip4/nonsense\"]\n");
        assert_eq!(field, "network.listen[1]");
        assert!(!message.is_empty());
    }

    #[test]
    fn bootstrap_needs_a_peer_id() {
        let (field, message) = field_error("[network]\nbootstrap = [\"/ip4/10.0.0.1/tcp/4801\"]\n");
        assert_eq!(field, "network.bootstrap[0]");
        assert!(message.contains("/p2p/"), "{message}");
    }

    #[test]
    fn mesh_ordering_is_checked() {
        let (field, _) = field_error("[gossip]\nmesh_n = 20\n");
        assert_eq!(field, "gossip.mesh_n");
    }

    #[test]
    fn values_that_would_exhaust_memory_are_refused() {
        let (field, message) = field_error("[gossip]\nprune_backoff_s = 100000000\n");
        assert_eq!(field, "gossip.prune_backoff_s");
        assert!(message.contains("outside"), "{message}");
        let (field, _) = field_error("[gossip]\nheartbeat_interval_ms = 1\n");
        assert_eq!(field, "gossip.heartbeat_interval_ms");
    }

    #[test]
    fn nan_is_refused() {
        let (field, _) = field_error("[gossip.score]\ninvalid_message_weight = nan\n");
        assert_eq!(field, "gossip.score.invalid_message_weight");
    }

    #[test]
    fn probe_validity_must_fit_in_the_seen_cache() {
        let (field, message) = field_error("[gossip]\nduplicate_cache_time_s = 60\n");
        assert_eq!(field, "probe.age_ms_max");
        assert!(message.contains("replayed"), "{message}");
    }

    #[test]
    fn snapshot_section_is_optional_and_checked() {
        assert_eq!(Config::embedded().snapshot, None);
        let base =
            "[snapshot]\nhub_url = \"https://hub.snapshot.org/graphql\"\nspace = \"x0.eth\"\n";
        let config = Config::from_toml(base, "t").unwrap();
        let section = config.snapshot.unwrap();
        assert_eq!(section.outage_s, 300);
        assert_eq!(section.request_timeout_ms, 3_000);
        assert_eq!(section.retries_max, 5);
        assert!(section.registry.is_empty());
        let (field, message) = field_error(&format!("{base}retries_max = 50\n"));
        assert_eq!(field, "snapshot.retries_max");
        assert!(message.contains("0..=20"), "{message}");
        let (field, _) = field_error("[snapshot]\nhub_url = \"ftp://x\"\nspace = \"x0.eth\"\n");
        assert_eq!(field, "snapshot.hub_url");
        let (field, _) = field_error(&format!("{base}colour = 1\n"));
        assert_eq!(field, "snapshot.colour");
        let peer = libp2p::PeerId::random().to_string();
        let ok = format!(
            "{base}[snapshot.registry]\n\"0x{}\" = \"{peer}\"\n",
            "ab".repeat(20)
        );
        let registry = Config::from_toml(&ok, "t")
            .unwrap()
            .snapshot
            .unwrap()
            .registry()
            .unwrap();
        assert_eq!(registry.len(), 1);
        let (field, message) = field_error(&format!(
            "{base}[snapshot.registry]\n\"0x12\" = \"{peer}\"\n"
        ));
        assert_eq!(field, "snapshot.registry.\"0x12\"");
        assert!(message.contains("40 hex digits"), "{message}");
        let twice = format!(
            "{base}[snapshot.registry]\n\"0x{}\" = \"{peer}\"\n\"0x{}\" = \"{peer}\"\n",
            "ab".repeat(20),
            "cd".repeat(20)
        );
        let (_, message) = field_error(&twice);
        assert!(message.contains("one node has one address"), "{message}");
    }

    #[test]
    fn ballot_open_bounds_are_checked() {
        let section = Config::embedded().ballot;
        assert_eq!(section.ballots_open_per_opener_max, 2);
        assert_eq!(section.duration_s_max_without_halt, 86_400);
        let (field, message) = field_error("[ballot]\nballots_open_per_opener_max = 0\n");
        assert_eq!(field, "ballot.ballots_open_per_opener_max");
        assert!(message.contains("1..=1024"), "{message}");
        let (field, _) = field_error("[ballot]\nballots_open_per_opener_max = 17\n");
        assert_eq!(field, "ballot.ballots_open_per_opener_max");
        let (field, message) = field_error("[ballot]\nduration_s_max_without_halt = 30\n");
        assert_eq!(field, "ballot.duration_s_max_without_halt");
        assert!(message.contains("duration_s_min"), "{message}");
        // f faulty openers at their share each must leave a slot: n = 22 (f = 7) fits the
        // defaults, n = 25 (f = 8) does not, and the message says what to raise.
        section.check_with_committee(22).unwrap();
        let error = section.check_with_committee(25).unwrap_err();
        assert_eq!(error.field, "ballot.ballots_open_max");
        assert!(error.message.contains("at least 17"), "{}", error.message);
    }

    #[test]
    fn http_bounds_are_checked() {
        let http = Config::embedded().http;
        assert_eq!(
            (
                http.header_read_timeout_ms,
                http.request_timeout_ms,
                http.connections_max
            ),
            (5_000, 10_000, 64)
        );
        for (text, field, range) in [
            (
                "[http]\nheader_read_timeout_ms = 0\n",
                "http.header_read_timeout_ms",
                "100..=60000",
            ),
            (
                "[http]\nrequest_timeout_ms = 3600000\n",
                "http.request_timeout_ms",
                "100..=600000",
            ),
            (
                "[http]\nconnections_max = 0\n",
                "http.connections_max",
                "1..=4096",
            ),
        ] {
            let (got, message) = field_error(text);
            assert_eq!(got, field);
            assert!(message.contains(range), "{message}");
        }
    }

    #[test]
    fn thresholds_must_be_ordered() {
        let (field, _) = field_error("[gossip.score]\npublish_threshold = -1.0\n");
        assert_eq!(field, "gossip.score.gossip_threshold");
    }
}

#[cfg(test)]
mod syntax_tests {
    use super::*;

    #[test]
    fn broken_toml_is_reported_with_its_position() {
        match Config::from_toml("[gossip\nmesh_n = 1", "broken.toml") {
            Err(ConfigError::Field { field, message, .. }) => {
                assert_eq!(field, "(syntax)");
                assert!(message.contains("line"), "{message}");
            }
            other => panic!("expected a syntax error, got {other:?}"),
        }
    }
}
