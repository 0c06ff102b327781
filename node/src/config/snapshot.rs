//! `[snapshot]`: the Snapshot hub the DAO's votes are read from, and who may vote.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::FieldError;
use crate::snapshot;

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
    pub registry: BTreeMap<String, String>,
}

impl SnapshotSection {
    fn default_poll_interval_s() -> u64 {
        60
    }
    fn default_outage_s() -> u64 {
        300
    }
    fn default_request_timeout_ms() -> u64 {
        snapshot::ClientConfig::REQUEST_TIMEOUT_MS_DEFAULT
    }
    fn default_retries_max() -> u32 {
        snapshot::ClientConfig::RETRIES_MAX_DEFAULT
    }
    fn default_backoff_ms_initial() -> u64 {
        snapshot::ClientConfig::BACKOFF_MS_INITIAL_DEFAULT
    }
    fn default_backoff_ms_max() -> u64 {
        snapshot::ClientConfig::BACKOFF_MS_MAX_DEFAULT
    }
    fn default_votes_max() -> usize {
        snapshot::ClientConfig::VOTES_MAX_DEFAULT
    }

    pub fn client_config(&self) -> snapshot::ClientConfig {
        let mut config = snapshot::ClientConfig::new(&self.hub_url, &self.space);
        config.request_timeout_ms = self.request_timeout_ms;
        config.retries_max = self.retries_max;
        config.backoff_ms_initial = self.backoff_ms_initial;
        config.backoff_ms_max = self.backoff_ms_max;
        config.votes_max = self.votes_max;
        config
    }

    pub fn registry(&self) -> Result<snapshot::Registry, snapshot::RegistryError> {
        snapshot::Registry::parse(&self.registry)
    }

    pub(super) fn check(&self) -> Result<(), FieldError> {
        let fail = |field: &str, message: String| {
            Err(FieldError::new(format!("snapshot.{field}"), message))
        };
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
