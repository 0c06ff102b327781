//! Node configuration: embedded defaults, a TOML file, then command-line overrides.
//!
//! The commented default file (`default_config.toml`) is the single source of the default
//! values: `x0 node init` writes it, and [`Config::embedded`] parses it. Every error names
//! the file, the field and what is expected, because the operator has to fix it by hand.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use libp2p::multiaddr::Protocol;
use libp2p::Multiaddr;
use serde::{Deserialize, Serialize};

use x0_core::anomaly::AnomalyConfig;
use x0_core::auth::gate::GateConfig;
use x0_core::auth::token::VerifierConfig;
use x0_core::ballot::book::BallotConfig;
use x0_core::ballot::fallback::FallbackConfig;

use crate::committee::{CommitteeKeyError, CommitteeSection};

/// The commented default configuration, as written by `x0 node init`.
pub const DEFAULT_TOML: &str = include_str!("default_config.toml");

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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSection {
    pub listen: Vec<Multiaddr>,
    pub bootstrap: Vec<Multiaddr>,
    pub mdns: bool,
    pub idle_connection_timeout_s: u64,
    pub limits: LimitsSection,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    pub established_total_max: u32,
    pub established_per_peer_max: u32,
    pub pending_incoming_max: u32,
    pub pending_outgoing_max: u32,
    pub validations_inflight_max: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GossipSection {
    pub mesh_n: usize,
    pub mesh_n_low: usize,
    pub mesh_n_high: usize,
    pub gossip_lazy: usize,
    pub heartbeat_interval_ms: u64,
    pub history_length: usize,
    pub history_gossip: usize,
    pub duplicate_cache_time_s: u64,
    pub flood_publish: bool,
    pub prune_backoff_s: u64,
    pub max_transmit_size_bytes: usize,
    pub score: ScoreSection,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreSection {
    pub gossip_threshold: f64,
    pub publish_threshold: f64,
    pub graylist_threshold: f64,
    pub accept_px_threshold: f64,
    pub opportunistic_graft_threshold: f64,
    pub invalid_message_weight: f64,
    pub invalid_message_decay: f64,
    pub ip_colocation_factor_threshold: f64,
    pub ip_colocation_factor_weight: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeSection {
    pub interval_ms: u64,
    pub body_bytes: usize,
    pub future_skew_ms_max: u64,
    pub age_ms_max: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertifySection {
    pub pending_max: usize,
    pub pending_ttl_ms: u64,
    pub certified_max: usize,
    pub share_hold_ms: u64,
    pub tick_ms: u64,
    pub held_verdicts_max: usize,
    pub proposal_future_skew_ms_max: u64,
    pub proposal_age_ms_max: u64,
    pub retry_queue_max: usize,
    pub republish_interval_ms: u64,
    pub republish_window_ms: u64,
}

impl CertifySection {
    pub fn actor_config(&self) -> x0_actors::certify::CertifyConfig {
        x0_actors::certify::CertifyConfig {
            collector: x0_core::certify::collector::CollectorConfig {
                pending_max: self.pending_max,
                pending_ttl_ms: self.pending_ttl_ms,
                certified_max: self.certified_max,
                share_hold_ms: self.share_hold_ms,
            },
            tick_ms: self.tick_ms,
            held_verdicts_max: self.held_verdicts_max,
            proposal_future_skew_ms_max: self.proposal_future_skew_ms_max,
            proposal_age_ms_max: self.proposal_age_ms_max,
            retry_queue_max: self.retry_queue_max,
            republish_interval_ms: self.republish_interval_ms,
            republish_window_ms: self.republish_window_ms,
        }
    }
}

/// The `[auth]` section: capability tokens and replay protection (Anti-Meave). Required
/// with a `[committee]`: every proposal and share travels with a token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSection {
    /// Hex of the network authority's Ed25519 public key (`x0 token keygen` prints it).
    pub authority_public_key: String,
    /// This node's member credential (`x0 token mint`), relative to the data dir.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_file: Option<PathBuf>,
    /// Lifetime of the access tokens derived from the credential, s.
    #[serde(default = "AuthSection::default_access_ttl_s")]
    pub access_ttl_s: u64,
    /// Privileged messages stamped further from this node's clock are refused, ms.
    #[serde(default = "AuthSection::default_skew_ms")]
    pub skew_ms: u64,
    /// Seen nonces held at once (persisted); beyond it new messages are refused.
    #[serde(default = "AuthSection::default_nonces_max")]
    pub nonces_max: usize,
    /// Revoked token ids held at once.
    #[serde(default = "AuthSection::default_revoked_max")]
    pub revoked_max: usize,
    /// Verified tokens remembered so a repeat costs a lookup.
    #[serde(default = "AuthSection::default_token_cache_entries_max")]
    pub token_cache_entries_max: usize,
}

impl AuthSection {
    fn default_access_ttl_s() -> u64 {
        x0_core::auth::token::ACCESS_TTL_S_DEFAULT
    }
    fn default_skew_ms() -> u64 {
        GateConfig::default().skew_ms
    }
    fn default_nonces_max() -> usize {
        GateConfig::default().nonces_max
    }
    fn default_revoked_max() -> usize {
        GateConfig::default().revoked_max
    }
    fn default_token_cache_entries_max() -> usize {
        VerifierConfig::default().cache_entries_max
    }

    /// A section with every bound at its default.
    pub fn new(authority_public_key: String, credential_file: Option<PathBuf>) -> AuthSection {
        AuthSection {
            authority_public_key,
            credential_file,
            access_ttl_s: Self::default_access_ttl_s(),
            skew_ms: Self::default_skew_ms(),
            nonces_max: Self::default_nonces_max(),
            revoked_max: Self::default_revoked_max(),
            token_cache_entries_max: Self::default_token_cache_entries_max(),
        }
    }

    pub fn authority(&self) -> Result<biscuit_auth::PublicKey, String> {
        biscuit_auth::PublicKey::from_bytes_hex(
            self.authority_public_key.trim(),
            biscuit_auth::Algorithm::Ed25519,
        )
        .map_err(|e| {
            format!("not an Ed25519 public key in hex ({e}); `x0 token keygen` prints one")
        })
    }

    pub fn gate_config(&self) -> GateConfig {
        GateConfig {
            skew_ms: self.skew_ms,
            nonces_max: self.nonces_max,
            revoked_max: self.revoked_max,
        }
    }

    pub fn verifier_config(&self) -> VerifierConfig {
        VerifierConfig {
            cache_entries_max: self.token_cache_entries_max,
            // The day plus the skew, so a token derived a moment ago passes on a node
            // whose clock is a little behind.
            access_ttl_ms_max: self.access_ttl_s * 1000 + self.skew_ms,
        }
    }
}

/// The `[anomaly]` section: change-rate limits over accepted certificates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnomalySection {
    /// The network's size, nodes; 0 means the committee's size. The percentages below are
    /// of this many nodes (and never less than one node).
    pub network_nodes: u64,
    pub certificate_required_ppm: u32,
    pub warn_ppm: u32,
    pub halt_ppm: u32,
    pub window_ms: u64,
    pub changes_max: usize,
}

impl Default for AnomalySection {
    fn default() -> Self {
        let core = AnomalyConfig::default();
        AnomalySection {
            network_nodes: 0,
            certificate_required_ppm: core.certificate_required_ppm,
            warn_ppm: core.warn_ppm,
            halt_ppm: core.halt_ppm,
            window_ms: core.window_ms,
            changes_max: core.changes_max,
        }
    }
}

impl AnomalySection {
    pub fn core_config(&self) -> AnomalyConfig {
        AnomalyConfig {
            certificate_required_ppm: self.certificate_required_ppm,
            warn_ppm: self.warn_ppm,
            halt_ppm: self.halt_ppm,
            window_ms: self.window_ms,
            changes_max: self.changes_max,
        }
    }
}

/// The `[charter]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CharterSection {
    /// The policy file (TOML, docs/PROTOCOL.md "Charter"), relative to the data dir.
    pub policy_file: PathBuf,
    /// The kernel enforcer: `auto` (where the host allows it, else userspace with one log
    /// line naming the cause) or `off` (userspace only).
    #[serde(default)]
    pub kernel: KernelSwitch,
    /// The cgroup v2 directory the telemetry exporter runs in, under the kernel programs.
    /// Empty: `x0-charter-<pid>` under the cgroup2 mount.
    #[serde(default)]
    pub cgroup_dir: PathBuf,
    /// Interfaces that get the TC egress classifier too (interface-level enforcement).
    #[serde(default)]
    pub tc_interfaces: Vec<String>,
}

impl CharterSection {
    /// A section with `policy_file` and every other field at its default.
    pub fn with_policy_file(policy_file: impl Into<PathBuf>) -> CharterSection {
        CharterSection {
            policy_file: policy_file.into(),
            kernel: KernelSwitch::Auto,
            cgroup_dir: PathBuf::new(),
            tc_interfaces: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KernelSwitch {
    #[default]
    Auto,
    Off,
}

/// The `[telemetry]` section: pushing the node's metrics out. Every push passes the
/// Charter: only allowed families, and only to an allowed destination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySection {
    /// A StatsD receiver (e.g. Prometheus' statsd_exporter), `ip:port`.
    pub statsd: SocketAddr,
    /// Push this often, s.
    #[serde(default = "default_push_interval_s")]
    pub push_interval_s: u64,
    /// The program that runs the exporter as `<program> telemetry-exporter`; empty: this
    /// x0 executable.
    #[serde(default)]
    pub exporter_program: PathBuf,
}

fn default_push_interval_s() -> u64 {
    10
}

/// The `[ballot]` section: the local fallback ballot (docs/PROTOCOL.md, "Ballots").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BallotSection {
    /// While the outage lasts, a fresh attestation this often, s.
    pub attest_interval_s: u64,
    /// An attestation supports opens for this long, s.
    pub attestation_ttl_s: u64,
    /// Allowed ballot durations, s (`x0 ballot open --duration-s`).
    pub duration_s_min: u64,
    pub duration_s_max: u64,
    /// A member may open a ballot at most this often, s.
    pub open_interval_s: u64,
    /// Ballots open at once, at most.
    pub ballots_open_max: usize,
    /// Decided ballots kept in memory for `x0 ballot tally` (all are persisted).
    pub decided_kept_max: usize,
}

impl Default for BallotSection {
    fn default() -> Self {
        let core = BallotConfig::default();
        BallotSection {
            attest_interval_s: core.fallback.attest_interval_ms / 1000,
            attestation_ttl_s: core.fallback.attestation_ttl_ms / 1000,
            duration_s_min: core.duration_ms_min / 1000,
            duration_s_max: core.duration_ms_max / 1000,
            open_interval_s: core.open_interval_ms_min / 1000,
            ballots_open_max: core.ballots_open_max,
            decided_kept_max: core.decided_kept_max,
        }
    }
}

impl BallotSection {
    /// The core's config; `skew_ms` is the auth gate's, `outage_s` is `[snapshot]`'s.
    pub fn core_config(&self, skew_ms: u64, outage_s: u64) -> BallotConfig {
        BallotConfig {
            fallback: FallbackConfig {
                outage_ms: outage_s * 1000,
                attest_interval_ms: self.attest_interval_s * 1000,
                attestation_ttl_ms: self.attestation_ttl_s * 1000,
            },
            skew_ms,
            duration_ms_min: self.duration_s_min * 1000,
            duration_ms_max: self.duration_s_max * 1000,
            ballots_open_max: self.ballots_open_max,
            open_interval_ms_min: self.open_interval_s * 1000,
            decided_kept_max: self.decided_kept_max,
        }
    }

    fn check(&self) -> Result<(), (&'static str, String)> {
        for (field, value, min, max) in [
            ("ballot.attest_interval_s", self.attest_interval_s, 1, 3_600),
            (
                "ballot.attestation_ttl_s",
                self.attestation_ttl_s,
                1,
                86_400,
            ),
            ("ballot.duration_s_min", self.duration_s_min, 1, 30 * 86_400),
            ("ballot.duration_s_max", self.duration_s_max, 1, 30 * 86_400),
            ("ballot.open_interval_s", self.open_interval_s, 0, 86_400),
            (
                "ballot.ballots_open_max",
                self.ballots_open_max as u64,
                1,
                1_024,
            ),
            (
                "ballot.decided_kept_max",
                self.decided_kept_max as u64,
                1,
                65_536,
            ),
        ] {
            if !(min..=max).contains(&value) {
                return Err((field, format!("must be in {min}..={max}, got {value}")));
            }
        }
        if self.duration_s_min > self.duration_s_max {
            return Err((
                "ballot.duration_s_min",
                format!(
                    "must not exceed ballot.duration_s_max ({}), got {}",
                    self.duration_s_max, self.duration_s_min
                ),
            ));
        }
        // Attestations must outlive the interval at which they are renewed, or the
        // fallback would flicker off between two renewals.
        if self.attestation_ttl_s <= self.attest_interval_s {
            return Err((
                "ballot.attestation_ttl_s",
                format!(
                    "must exceed ballot.attest_interval_s ({}) so a renewed attestation arrives before the last one lapses, got {}",
                    self.attest_interval_s, self.attestation_ttl_s
                ),
            ));
        }
        Ok(())
    }
}

/// The `[snapshot]` section: where the DAO's votes are read, and who may vote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotSection {
    /// The hub's GraphQL endpoint, http:// or https://.
    pub hub_url: String,
    /// The Snapshot space (its ENS name), e.g. "x0tta6bl4.eth".
    pub space: String,
    #[serde(default = "SnapshotSection::default_poll_interval_s")]
    pub poll_interval_s: u64,
    /// How long the hub may be down or invalid before the node attests an outage, s.
    #[serde(default = "SnapshotSection::default_outage_s")]
    pub outage_s: u64,
    #[serde(default = "SnapshotSection::default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    #[serde(default = "SnapshotSection::default_retries_max")]
    pub retries_max: u32,
    #[serde(default = "SnapshotSection::default_backoff_ms_initial")]
    pub backoff_ms_initial: u64,
    #[serde(default = "SnapshotSection::default_backoff_ms_max")]
    pub backoff_ms_max: u64,
    /// Votes read per proposal, at most; the rest are cut (and counted).
    #[serde(default = "SnapshotSection::default_votes_max")]
    pub votes_max: usize,
    /// Voter address (0x...) -> member node (PeerId). One node one vote.
    #[serde(default)]
    pub registry: std::collections::BTreeMap<String, String>,
}

impl SnapshotSection {
    fn default_poll_interval_s() -> u64 {
        60
    }
    fn default_outage_s() -> u64 {
        300
    }
    fn default_request_timeout_ms() -> u64 {
        crate::snapshot::ClientConfig::REQUEST_TIMEOUT_MS_DEFAULT
    }
    fn default_retries_max() -> u32 {
        crate::snapshot::ClientConfig::RETRIES_MAX_DEFAULT
    }
    fn default_backoff_ms_initial() -> u64 {
        crate::snapshot::ClientConfig::BACKOFF_MS_INITIAL_DEFAULT
    }
    fn default_backoff_ms_max() -> u64 {
        crate::snapshot::ClientConfig::BACKOFF_MS_MAX_DEFAULT
    }
    fn default_votes_max() -> usize {
        crate::snapshot::ClientConfig::VOTES_MAX_DEFAULT
    }

    pub fn client_config(&self) -> crate::snapshot::ClientConfig {
        let mut config = crate::snapshot::ClientConfig::new(&self.hub_url, &self.space);
        config.request_timeout_ms = self.request_timeout_ms;
        config.retries_max = self.retries_max;
        config.backoff_ms_initial = self.backoff_ms_initial;
        config.backoff_ms_max = self.backoff_ms_max;
        config.votes_max = self.votes_max;
        config
    }

    pub fn registry(&self) -> Result<crate::snapshot::Registry, crate::snapshot::RegistryError> {
        crate::snapshot::Registry::parse(&self.registry)
    }

    fn check(&self) -> Result<(), (String, String)> {
        let fail = |field: &str, message: String| Err((format!("snapshot.{field}"), message));
        let url_ok = reqwest::Url::parse(&self.hub_url)
            .map(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .unwrap_or(false);
        if !url_ok {
            return fail(
                "hub_url",
                format!("{:?} is not an http(s) URL; expected e.g. \"https://hub.snapshot.org/graphql\"", self.hub_url),
            );
        }
        if self.space.is_empty() || self.space.len() > 256 {
            return fail(
                "space",
                "needs the space's name, e.g. \"x0tta6bl4.eth\" (1..=256 bytes)".into(),
            );
        }
        for (field, value, min, max) in [
            ("poll_interval_s", self.poll_interval_s, 1, 86_400),
            ("outage_s", self.outage_s, 1, 7 * 86_400),
            ("request_timeout_ms", self.request_timeout_ms, 100, 60_000),
            ("retries_max", u64::from(self.retries_max), 0, 20),
            ("backoff_ms_initial", self.backoff_ms_initial, 1, 60_000),
            ("backoff_ms_max", self.backoff_ms_max, 1, 600_000),
            ("votes_max", self.votes_max as u64, 1, 1_000_000),
        ] {
            if !(min..=max).contains(&value) {
                return fail(field, format!("must be in {min}..={max}, got {value}"));
            }
        }
        if self.backoff_ms_max < self.backoff_ms_initial {
            return fail(
                "backoff_ms_max",
                format!(
                    "must be at least backoff_ms_initial ({})",
                    self.backoff_ms_initial
                ),
            );
        }
        if let Err(error) = self.registry() {
            return fail(
                &format!("registry.\"{}\"", error.key),
                format!(
                    "{}; entries are \"0x<40 hex digits>\" = \"<PeerId>\"",
                    error.message
                ),
            );
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSection {
    pub bind: SocketAddr,
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
        let err =
            |field: &str, message: String| Err(ConfigError::field(source_name, field, message));
        if let Some(telemetry) = &self.telemetry {
            if self.charter.is_none() {
                return err(
                    "telemetry",
                    "a telemetry push needs a [charter] section with a policy_file: the policy's telemetry.destinations decide where the node may push".into(),
                );
            }
            if !(1..=3_600).contains(&telemetry.push_interval_s) {
                return err(
                    "telemetry.push_interval_s",
                    format!("{} is outside 1..=3600", telemetry.push_interval_s),
                );
            }
        }
        if let Some(charter) = &self.charter {
            if charter.tc_interfaces.len() > 16 {
                return err("charter.tc_interfaces", "at most 16 interfaces".into());
            }
        }
        if self.network.listen.is_empty() {
            return err(
                "network.listen",
                "needs at least one address, e.g. \"/ip4/0.0.0.0/tcp/4801\"".into(),
            );
        }
        for (index, address) in self.network.listen.iter().enumerate() {
            let transport_ok = address
                .iter()
                .any(|p| matches!(p, Protocol::Tcp(_) | Protocol::QuicV1));
            if !transport_ok {
                return err(
                    &format!("network.listen[{index}]"),
                    format!("`{address}` names no tcp or quic-v1 port; expected e.g. \"/ip4/0.0.0.0/tcp/4801\" or \"/ip4/0.0.0.0/udp/4801/quic-v1\""),
                );
            }
        }
        for (index, address) in self.network.bootstrap.iter().enumerate() {
            if !matches!(address.iter().last(), Some(Protocol::P2p(_))) {
                return err(
                    &format!("network.bootstrap[{index}]"),
                    format!("`{address}` must end in /p2p/<peer id> so the node can authenticate the peer it dials"),
                );
            }
        }
        let limits = &self.network.limits;
        for (field, value) in [
            (
                "network.limits.established_total_max",
                limits.established_total_max as usize,
            ),
            (
                "network.limits.established_per_peer_max",
                limits.established_per_peer_max as usize,
            ),
            (
                "network.limits.pending_incoming_max",
                limits.pending_incoming_max as usize,
            ),
            (
                "network.limits.pending_outgoing_max",
                limits.pending_outgoing_max as usize,
            ),
            (
                "network.limits.validations_inflight_max",
                limits.validations_inflight_max,
            ),
        ] {
            if value == 0 {
                return err(field, "must be at least 1".into());
            }
        }
        let gossip = &self.gossip;
        if !(gossip.mesh_n_low <= gossip.mesh_n && gossip.mesh_n <= gossip.mesh_n_high) {
            return err(
                "gossip.mesh_n",
                format!(
                    "needs mesh_n_low <= mesh_n <= mesh_n_high, got {} <= {} <= {}",
                    gossip.mesh_n_low, gossip.mesh_n, gossip.mesh_n_high
                ),
            );
        }
        // Upper bounds keep what the operator sets from turning into allocations: gossipsub
        // sizes its backoff ring as prune_backoff / heartbeat slots, for example.
        for (field, value, min, max) in [
            ("gossip.mesh_n_low", gossip.mesh_n_low as u64, 1, 64),
            ("gossip.mesh_n_high", gossip.mesh_n_high as u64, 1, 128),
            ("gossip.gossip_lazy", gossip.gossip_lazy as u64, 0, 128),
            (
                "gossip.heartbeat_interval_ms",
                gossip.heartbeat_interval_ms,
                100,
                60_000,
            ),
            (
                "gossip.history_length",
                gossip.history_length as u64,
                1,
                100,
            ),
            (
                "gossip.duplicate_cache_time_s",
                gossip.duplicate_cache_time_s,
                1,
                3_600,
            ),
            ("gossip.prune_backoff_s", gossip.prune_backoff_s, 1, 3_600),
            (
                "gossip.max_transmit_size_bytes",
                gossip.max_transmit_size_bytes as u64,
                100,
                16 << 20,
            ),
            (
                "network.idle_connection_timeout_s",
                self.network.idle_connection_timeout_s,
                1,
                86_400,
            ),
            (
                "network.limits.established_total_max",
                limits.established_total_max as u64,
                1,
                100_000,
            ),
            (
                "network.limits.validations_inflight_max",
                limits.validations_inflight_max as u64,
                1,
                1 << 20,
            ),
            (
                "probe.future_skew_ms_max",
                self.probe.future_skew_ms_max,
                0,
                3_600_000,
            ),
            ("probe.age_ms_max", self.probe.age_ms_max, 1, 3_600_000),
        ] {
            if !(min..=max).contains(&value) {
                return err(field, format!("{value} is outside {min}..={max}"));
            }
        }
        if gossip.history_gossip > gossip.history_length {
            return err(
                "gossip.history_gossip",
                format!("must not exceed history_length ({})", gossip.history_length),
            );
        }
        let score = &gossip.score;
        for (field, value) in [
            ("gossip.score.gossip_threshold", score.gossip_threshold),
            ("gossip.score.publish_threshold", score.publish_threshold),
            ("gossip.score.graylist_threshold", score.graylist_threshold),
            (
                "gossip.score.accept_px_threshold",
                score.accept_px_threshold,
            ),
            (
                "gossip.score.opportunistic_graft_threshold",
                score.opportunistic_graft_threshold,
            ),
            (
                "gossip.score.invalid_message_weight",
                score.invalid_message_weight,
            ),
            (
                "gossip.score.invalid_message_decay",
                score.invalid_message_decay,
            ),
            (
                "gossip.score.ip_colocation_factor_threshold",
                score.ip_colocation_factor_threshold,
            ),
            (
                "gossip.score.ip_colocation_factor_weight",
                score.ip_colocation_factor_weight,
            ),
        ] {
            if !value.is_finite() {
                return err(field, format!("{value} is not a finite number"));
            }
        }
        if !(0.0 >= score.gossip_threshold
            && score.gossip_threshold >= score.publish_threshold
            && score.publish_threshold >= score.graylist_threshold)
        {
            return err(
                "gossip.score.gossip_threshold",
                "needs 0 >= gossip_threshold >= publish_threshold >= graylist_threshold".into(),
            );
        }
        if score.accept_px_threshold < 0.0 || score.opportunistic_graft_threshold < 0.0 {
            return err(
                "gossip.score.accept_px_threshold",
                "accept_px_threshold and opportunistic_graft_threshold must be >= 0".into(),
            );
        }
        if score.invalid_message_weight > 0.0 {
            return err(
                "gossip.score.invalid_message_weight",
                "must be <= 0 (it is a penalty)".into(),
            );
        }
        if !(0.0 < score.invalid_message_decay && score.invalid_message_decay < 1.0) {
            return err(
                "gossip.score.invalid_message_decay",
                "must be in (0, 1)".into(),
            );
        }
        if score.ip_colocation_factor_weight > 0.0 || score.ip_colocation_factor_threshold < 1.0 {
            return err(
                "gossip.score.ip_colocation_factor_weight",
                "weight must be <= 0 and ip_colocation_factor_threshold >= 1".into(),
            );
        }
        // A probe must stay in gossipsub's seen-cache for as long as it can be valid, or a
        // captured probe could be replayed (and forwarded) after its id is forgotten.
        let valid_for_ms = self.probe.future_skew_ms_max + self.probe.age_ms_max;
        if valid_for_ms > gossip.duplicate_cache_time_s * 1_000 {
            return err(
                "probe.age_ms_max",
                format!(
                    "future_skew_ms_max + age_ms_max = {valid_for_ms} ms exceeds gossip.duplicate_cache_time_s ({} s): a probe could be replayed after its id is forgotten; lower them or raise duplicate_cache_time_s",
                    gossip.duplicate_cache_time_s
                ),
            );
        }
        if self.probe.body_bytes > x0_core::probe::BODY_BYTES_MAX {
            return err(
                "probe.body_bytes",
                format!("must be at most {}", x0_core::probe::BODY_BYTES_MAX),
            );
        }
        let certify = &self.certify;
        for (field, value, min, max) in [
            (
                "certify.pending_max",
                certify.pending_max as u64,
                1,
                1 << 16,
            ),
            (
                "certify.pending_ttl_ms",
                certify.pending_ttl_ms,
                1_000,
                3_600_000,
            ),
            (
                "certify.certified_max",
                certify.certified_max as u64,
                1,
                1 << 20,
            ),
            ("certify.share_hold_ms", certify.share_hold_ms, 0, 60_000),
            ("certify.tick_ms", certify.tick_ms, 1, 10_000),
            (
                "certify.held_verdicts_max",
                certify.held_verdicts_max as u64,
                1,
                1 << 20,
            ),
            (
                "certify.proposal_future_skew_ms_max",
                certify.proposal_future_skew_ms_max,
                0,
                3_600_000,
            ),
            (
                "certify.proposal_age_ms_max",
                certify.proposal_age_ms_max,
                1_000,
                86_400_000,
            ),
            (
                "certify.retry_queue_max",
                certify.retry_queue_max as u64,
                1,
                1 << 16,
            ),
        ] {
            if !(min..=max).contains(&value) {
                return err(field, format!("must be in {min}..={max}, got {value}"));
            }
        }
        if let Some(committee) = &self.committee {
            if let Err(error) = committee.check() {
                return match error {
                    CommitteeKeyError::Field { field, message } => err(&field, message),
                    other => err("committee", other.to_string()),
                };
            }
            if self.auth.is_none() {
                return err(
                    "auth",
                    "a [committee] needs an [auth] section: proposals and shares carry capability tokens; add authority_public_key (from `x0 token keygen`) and, on members, credential_file (from `x0 token mint`)".into(),
                );
            }
        }
        if let Err((field, message)) = self.ballot.check() {
            return err(field, message);
        }
        if let Some(snapshot) = &self.snapshot {
            if let Err((field, message)) = snapshot.check() {
                return err(&field, message);
            }
        }
        if let Err(error) = self.anomaly.core_config().check() {
            return err(&format!("anomaly.{}", error.field), error.message);
        }
        if let Some(auth) = &self.auth {
            if let Err(message) = auth.authority() {
                return err("auth.authority_public_key", message);
            }
            for (field, value, min, max) in [
                ("auth.access_ttl_s", auth.access_ttl_s, 60, 7 * 24 * 3600),
                ("auth.skew_ms", auth.skew_ms, 1000, 600_000),
                ("auth.nonces_max", auth.nonces_max as u64, 1024, 1 << 24),
                ("auth.revoked_max", auth.revoked_max as u64, 1, 1 << 20),
                (
                    "auth.token_cache_entries_max",
                    auth.token_cache_entries_max as u64,
                    1,
                    1 << 20,
                ),
            ] {
                if !(min..=max).contains(&value) {
                    return err(field, format!("must be in {min}..={max}, got {value}"));
                }
            }
            // An honest forwarder must never relay a replay the gate then rejects: gossipsub
            // drops repeats of a message id it saw within duplicate_cache_time_s.
            if self.gossip.duplicate_cache_time_s * 1000 < 2 * auth.skew_ms {
                return err(
                    "auth.skew_ms",
                    format!(
                        "twice the skew window ({} ms) must not exceed gossip.duplicate_cache_time_s ({} s)",
                        2 * auth.skew_ms,
                        self.gossip.duplicate_cache_time_s
                    ),
                );
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
