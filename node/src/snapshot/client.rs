//! GraphQL-over-HTTP(S) client for one Snapshot space.
//!
//! Every request is bounded: a timeout covering connect, send and the whole body; a body
//! size limit checked before parsing; at most `retries_max` retries with exponential
//! backoff; pages of at most `page_size` items and at most `votes_max` votes per proposal
//! (`proposals_max` proposals per listing). Time is `tokio::time`, so tests can run the
//! retry schedule under paused time.
//!
//! **Signatures.** A vote's signature (`sig`) and the signed timestamp are what let a node
//! re-verify the vote. The public hub (hub.snapshot.org) does not expose `sig` on its
//! `Vote` type (the signed envelope is only reachable through the vote's `ipfs` CID); it
//! exposes `created`, which the sequencer sets from the signed `timestamp`. The client
//! asks for `sig` anyway, so a hub that serves it (ours does) is fully verifiable; against
//! the public hub the query fails with a GraphQL error until that is resolved.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::time::Instant;

/// Largest GraphQL `Int` (32-bit signed): the "no bound yet" value of the `created_lt`
/// cursor. Snapshot's `created` is unix seconds, so this holds until 2038.
const CREATED_LT_OPEN: i64 = i32::MAX as i64;

/// Longest id, space or address accepted from the hub, bytes.
const ID_BYTES_MAX: usize = 256;

const PROPOSALS_QUERY: &str = "query Proposals($space: String!, $first: Int!, $created_lt: Int!) {
  proposals(first: $first, where: {space: $space, created_lt: $created_lt}, orderBy: \"created\", orderDirection: desc) {
    id title body type state created start end choices votes space { id }
  }
}";

const VOTES_QUERY: &str = "query Votes($space: String!, $proposal: String!, $first: Int!, $created_lt: Int!) {
  votes(first: $first, where: {space: $space, proposal: $proposal, created_lt: $created_lt}, orderBy: \"created\", orderDirection: desc) {
    id voter created choice reason app metadata sig space { id } proposal { id }
  }
}";

/// The client's bounds and schedule. [`ClientConfig::new`] fills in the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// The hub's GraphQL endpoint, e.g. `https://hub.snapshot.org/graphql`.
    pub hub_url: String,
    pub space: String,
    pub request_timeout_ms: u64,
    pub retries_max: u32,
    pub backoff_ms_initial: u64,
    /// Backoff doubles per retry up to this.
    pub backoff_ms_max: u64,
    /// `first` of each query (the hub's own cap is 1000).
    pub page_size: u32,
    pub votes_max: usize,
    pub proposals_max: usize,
    /// Bodies larger than this are refused unread.
    pub body_bytes_max: usize,
}

impl ClientConfig {
    pub const REQUEST_TIMEOUT_MS_DEFAULT: u64 = 3_000;
    pub const RETRIES_MAX_DEFAULT: u32 = 5;
    pub const BACKOFF_MS_INITIAL_DEFAULT: u64 = 500;
    pub const BACKOFF_MS_MAX_DEFAULT: u64 = 30_000;
    pub const PAGE_SIZE_DEFAULT: u32 = 100;
    pub const VOTES_MAX_DEFAULT: usize = 10_000;
    pub const PROPOSALS_MAX_DEFAULT: usize = 1_000;
    /// A full page of 100 votes with long reasons is well under 1 MiB.
    pub const BODY_BYTES_MAX_DEFAULT: usize = 4 << 20;

    pub fn new(hub_url: impl Into<String>, space: impl Into<String>) -> ClientConfig {
        ClientConfig {
            hub_url: hub_url.into(),
            space: space.into(),
            request_timeout_ms: Self::REQUEST_TIMEOUT_MS_DEFAULT,
            retries_max: Self::RETRIES_MAX_DEFAULT,
            backoff_ms_initial: Self::BACKOFF_MS_INITIAL_DEFAULT,
            backoff_ms_max: Self::BACKOFF_MS_MAX_DEFAULT,
            page_size: Self::PAGE_SIZE_DEFAULT,
            votes_max: Self::VOTES_MAX_DEFAULT,
            proposals_max: Self::PROPOSALS_MAX_DEFAULT,
            body_bytes_max: Self::BODY_BYTES_MAX_DEFAULT,
        }
    }

    /// The wait before retry number `retry` (0 for the first retry).
    pub fn backoff_ms(&self, retry: u32) -> u64 {
        let factor = 1u64.checked_shl(retry).unwrap_or(u64::MAX);
        self.backoff_ms_initial
            .saturating_mul(factor)
            .min(self.backoff_ms_max)
    }
}

/// Why one request failed. [`AttemptError::as_str`] is a metric label.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttemptError {
    #[error("cannot connect to the hub: {0}")]
    Connect(String),
    #[error("no complete answer within {0} ms")]
    Timeout(u64),
    #[error("HTTP status {0}")]
    Status(u16),
    #[error("response body over {0} bytes")]
    TooLarge(usize),
    /// Not JSON, not the expected shape, or values that fail validation.
    #[error("invalid response: {0}")]
    Invalid(String),
    #[error("GraphQL errors: {0}")]
    GraphQl(String),
    #[error("HTTP transport: {0}")]
    Transport(String),
}

impl AttemptError {
    pub fn as_str(&self) -> &'static str {
        match self {
            AttemptError::Connect(_) => "connect",
            AttemptError::Timeout(_) => "timeout",
            AttemptError::Status(_) => "http_status",
            AttemptError::TooLarge(_) => "too_large",
            AttemptError::Invalid(_) => "invalid",
            AttemptError::GraphQl(_) => "graphql",
            AttemptError::Transport(_) => "transport",
        }
    }

    /// A client error (4xx other than 408 and 429) will not change on a retry.
    fn retryable(&self) -> bool {
        match self {
            AttemptError::Status(code) => {
                !(400..500).contains(code) || *code == 408 || *code == 429
            }
            _ => true,
        }
    }
}

/// A query that failed for good: after `attempts` tries (waiting `waits_ms` between them),
/// or at once when retrying cannot help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Snapshot hub: {operation} failed after {attempts} attempt(s): {last}")]
pub struct SnapshotError {
    pub operation: &'static str,
    pub attempts: u32,
    pub waits_ms: Vec<u64>,
    #[source]
    pub last: AttemptError,
}

impl SnapshotError {
    /// The last failure's metric label.
    pub fn as_str(&self) -> &'static str {
        self.last.as_str()
    }
}

/// A proposal of the space, as listed by the hub.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    pub id: String,
    #[serde(default)]
    pub title: String,
    /// The proposal's text; a line `x0-effect: ...` names what a pass does here.
    #[serde(default)]
    pub body: String,
    /// Snapshot's voting type; only `basic` is tallied.
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub state: String,
    pub created: i64,
    #[serde(default)]
    pub start: i64,
    #[serde(default)]
    pub end: i64,
    #[serde(default)]
    pub choices: Vec<String>,
    /// The hub's count of votes, when it gives one.
    #[serde(default)]
    pub votes: Option<u64>,
    pub space: IdRef,
}

impl Proposal {
    pub fn is_basic(&self) -> bool {
        self.kind == "basic"
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdRef {
    pub id: String,
}

/// A vote as the hub returns it: enough to rebuild the signed message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HubVote {
    pub id: String,
    pub voter: String,
    /// Unix seconds; the sequencer stores the signed `timestamp` here.
    pub created: i64,
    /// An integer for single-choice votes; arrays or objects for other voting types.
    pub choice: Value,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub app: Option<String>,
    /// The signed metadata string (the public hub types it as JSON).
    #[serde(default)]
    pub metadata: Value,
    /// `r || s || v` in hex; see the module doc on the public hub.
    #[serde(default)]
    pub sig: Option<String>,
    pub space: IdRef,
    pub proposal: IdRef,
}

impl HubVote {
    /// The signed `metadata` string: a string as is, `null` as empty, other JSON as its
    /// compact text (which then only verifies if that is what was signed).
    pub fn metadata_text(&self) -> String {
        match &self.metadata {
            Value::String(text) => text.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        }
    }
}

/// The votes of one proposal.
#[derive(Debug, Clone, PartialEq)]
pub struct VoteFetch {
    /// Distinct by vote id, in the order first received.
    pub votes: Vec<HubVote>,
    pub pages: u32,
    /// True when `votes_max` stopped the paging with more votes possibly left.
    pub truncated: bool,
    /// Vote ids received more than once (overlapping or repeated pages).
    pub repeats: u64,
}

/// Counters for the node's metrics, cumulative over the client's life.
#[derive(Debug, Default)]
pub struct ClientCounters {
    pub attempts_total: AtomicU64,
    pub retries_total: AtomicU64,
    /// Proposals whose votes were cut at `votes_max`.
    pub votes_truncated_total: AtomicU64,
    /// Votes received again on a later page.
    pub vote_repeats_total: AtomicU64,
    /// Pagings stopped because a full page of one second's votes could not advance the
    /// cursor (more than `page_size` votes in one second).
    pub cursor_stuck_total: AtomicU64,
}

/// The Snapshot hub client for one space.
#[derive(Debug)]
pub struct SnapshotClient {
    config: ClientConfig,
    http: reqwest::Client,
    pub counters: ClientCounters,
}

#[derive(Deserialize)]
struct GraphQlResponse<T> {
    data: Option<T>,
    #[serde(default)]
    errors: Option<Vec<Value>>,
}

#[derive(Deserialize)]
struct ProposalsData {
    proposals: Vec<Proposal>,
}

#[derive(Deserialize)]
struct VotesData {
    votes: Vec<HubVote>,
}

impl SnapshotClient {
    pub fn new(config: ClientConfig) -> Result<SnapshotClient, String> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("x0-node/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(SnapshotClient {
            config,
            http,
            counters: ClientCounters::default(),
        })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The space's proposals, newest first, at most `proposals_max`.
    pub async fn proposals(&self) -> Result<Vec<Proposal>, SnapshotError> {
        let mut out: Vec<Proposal> = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        let mut cursor = CREATED_LT_OPEN;
        let page_size = self.config.page_size.max(1);
        while out.len() < self.config.proposals_max {
            let variables = json!({
                "space": self.config.space,
                "first": page_size,
                "created_lt": cursor,
            });
            let space = &self.config.space;
            let page: ProposalsData = self
                .query(
                    "proposals",
                    PROPOSALS_QUERY,
                    "Proposals",
                    variables,
                    |d: &ProposalsData| {
                        check_page_len(d.proposals.len(), page_size)?;
                        for p in &d.proposals {
                            check_id("proposal id", &p.id)?;
                            check_created(p.created)?;
                            if &p.space.id != space {
                                return Err(format!("proposal {} of space {:?}", p.id, p.space.id));
                            }
                        }
                        Ok(())
                    },
                )
                .await?;
            let full = page.proposals.len() as u32 == page_size;
            let mut new = 0usize;
            let mut oldest = cursor;
            for proposal in page.proposals {
                oldest = oldest.min(proposal.created);
                if out.len() < self.config.proposals_max && seen.insert(proposal.id.clone()) {
                    out.push(proposal);
                    new += 1;
                }
            }
            if !full {
                break;
            }
            if new == 0 {
                self.counters
                    .cursor_stuck_total
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(space = %self.config.space, "snapshot: proposal paging cannot advance");
                break;
            }
            // Strictly older than the oldest seen: proposals are few per second.
            cursor = oldest;
        }
        Ok(out)
    }

    /// The votes of `proposal_id`, paged newest first with the `created_lt` cursor.
    ///
    /// The cursor asks again for the oldest page's second (`created_lt = oldest + 1`), so
    /// votes sharing that second are not skipped at a page boundary; repeats are dropped
    /// by vote id. A page that brings nothing new ends the paging (counted).
    pub async fn votes(&self, proposal_id: &str) -> Result<VoteFetch, SnapshotError> {
        let mut fetch = VoteFetch {
            votes: Vec::new(),
            pages: 0,
            truncated: false,
            repeats: 0,
        };
        let mut seen = std::collections::BTreeSet::new();
        let mut cursor = CREATED_LT_OPEN;
        let page_size = self.config.page_size.max(1);
        loop {
            let variables = json!({
                "space": self.config.space,
                "proposal": proposal_id,
                "first": page_size,
                "created_lt": cursor,
            });
            let space = &self.config.space;
            let page: VotesData = self
                .query("votes", VOTES_QUERY, "Votes", variables, |d: &VotesData| {
                    check_page_len(d.votes.len(), page_size)?;
                    for v in &d.votes {
                        check_id("vote id", &v.id)?;
                        check_id("voter", &v.voter)?;
                        check_created(v.created)?;
                        if &v.space.id != space || v.proposal.id != proposal_id {
                            return Err(format!(
                                "vote {} is for {:?}/{:?}",
                                v.id, v.space.id, v.proposal.id
                            ));
                        }
                    }
                    Ok(())
                })
                .await?;
            fetch.pages += 1;
            let full = page.votes.len() as u32 == page_size;
            let mut new = 0usize;
            let mut oldest = i64::MAX;
            for vote in page.votes {
                oldest = oldest.min(vote.created);
                if !seen.insert(vote.id.clone()) {
                    fetch.repeats += 1;
                    continue;
                }
                if fetch.votes.len() >= self.config.votes_max {
                    fetch.truncated = true;
                    continue;
                }
                fetch.votes.push(vote);
                new += 1;
            }
            if fetch.truncated || (full && fetch.votes.len() >= self.config.votes_max) {
                fetch.truncated = true;
                self.counters
                    .votes_truncated_total
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    proposal = proposal_id,
                    votes_max = self.config.votes_max,
                    "snapshot: votes cut at the bound"
                );
                break;
            }
            if !full {
                break;
            }
            if new == 0 {
                self.counters
                    .cursor_stuck_total
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    proposal = proposal_id,
                    page_size,
                    "snapshot: a full page of votes in one second; paging stops"
                );
                break;
            }
            cursor = oldest.saturating_add(1).min(cursor);
        }
        self.counters
            .vote_repeats_total
            .fetch_add(fetch.repeats, Ordering::Relaxed);
        Ok(fetch)
    }

    /// One GraphQL query with the retry schedule; `validate` checks the data's values.
    async fn query<T, F>(
        &self,
        operation: &'static str,
        query: &str,
        operation_name: &str,
        variables: Value,
        validate: F,
    ) -> Result<T, SnapshotError>
    where
        T: DeserializeOwned,
        F: Fn(&T) -> Result<(), String>,
    {
        let body = json!({
            "query": query,
            "operationName": operation_name,
            "variables": variables,
        });
        let mut waits_ms = Vec::new();
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            self.counters.attempts_total.fetch_add(1, Ordering::Relaxed);
            let started = Instant::now();
            let timeout = Duration::from_millis(self.config.request_timeout_ms);
            let result = match tokio::time::timeout(timeout, self.attempt::<T>(&body)).await {
                Ok(Ok(data)) => validate(&data)
                    .map(|()| data)
                    .map_err(AttemptError::Invalid),
                Ok(Err(error)) => Err(error),
                Err(_) => Err(AttemptError::Timeout(self.config.request_timeout_ms)),
            };
            let error = match result {
                Ok(data) => return Ok(data),
                Err(error) => error,
            };
            tracing::debug!(
                operation,
                attempts,
                kind = error.as_str(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                %error,
                "snapshot: request failed"
            );
            if attempts > self.config.retries_max || !error.retryable() {
                return Err(SnapshotError {
                    operation,
                    attempts,
                    waits_ms,
                    last: error,
                });
            }
            let wait_ms = self.config.backoff_ms(attempts - 1);
            waits_ms.push(wait_ms);
            self.counters.retries_total.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(wait_ms)).await;
        }
    }

    async fn attempt<T: DeserializeOwned>(&self, body: &Value) -> Result<T, AttemptError> {
        let mut response = self
            .http
            .post(&self.config.hub_url)
            .json(body)
            .send()
            .await
            .map_err(|e| {
                if e.is_connect() {
                    AttemptError::Connect(crate::error_chain(&e))
                } else {
                    AttemptError::Transport(crate::error_chain(&e))
                }
            })?;
        let status = response.status();
        // GraphQL servers answer a query they reject (e.g. an unknown field) with 400 and
        // an `errors` body: read it, so the failure says why.
        let graphql_rejection = status == reqwest::StatusCode::BAD_REQUEST;
        if !status.is_success() && !graphql_rejection {
            return Err(AttemptError::Status(status.as_u16()));
        }
        let limit = self.config.body_bytes_max;
        if response.content_length().is_some_and(|n| n > limit as u64) {
            return Err(AttemptError::TooLarge(limit));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| AttemptError::Transport(crate::error_chain(&e)))?
        {
            if bytes.len() + chunk.len() > limit {
                return Err(AttemptError::TooLarge(limit));
            }
            bytes.extend_from_slice(&chunk);
        }
        let parsed: GraphQlResponse<T> = match serde_json::from_slice(&bytes) {
            Ok(parsed) => parsed,
            Err(_) if graphql_rejection => return Err(AttemptError::Status(status.as_u16())),
            Err(e) => return Err(AttemptError::Invalid(format!("{e}"))),
        };
        if let Some(errors) = parsed.errors.filter(|e| !e.is_empty()) {
            let first = errors
                .first()
                .and_then(|e| e.get("message"))
                .and_then(Value::as_str)
                .unwrap_or("(no message)");
            let first: String = first.chars().take(200).collect();
            return Err(AttemptError::GraphQl(format!(
                "{} error(s), first: {first}",
                errors.len()
            )));
        }
        if graphql_rejection {
            return Err(AttemptError::Status(status.as_u16()));
        }
        parsed
            .data
            .ok_or_else(|| AttemptError::Invalid("no `data` and no `errors`".into()))
    }
}

fn check_page_len(len: usize, page_size: u32) -> Result<(), String> {
    if len > page_size as usize {
        return Err(format!("{len} items on a page of {page_size}"));
    }
    Ok(())
}

fn check_id(what: &str, id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > ID_BYTES_MAX {
        return Err(format!("{what} of {} bytes (1..={ID_BYTES_MAX})", id.len()));
    }
    Ok(())
}

/// Only the range is checked, not the cursor: a hub that repeats votes of an earlier page
/// is tolerated (repeats are dropped by id, and they never move the cursor back).
fn check_created(created: i64) -> Result<(), String> {
    if !(1..CREATED_LT_OPEN).contains(&created) {
        return Err(format!("created {created} outside 1..{CREATED_LT_OPEN}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let mut config = ClientConfig::new("http://127.0.0.1:1/graphql", "s");
        config.backoff_ms_max = 4_000;
        let waits: Vec<u64> = (0..6).map(|r| config.backoff_ms(r)).collect();
        assert_eq!(waits, [500, 1_000, 2_000, 4_000, 4_000, 4_000]);
        assert_eq!(config.backoff_ms(200), 4_000);
    }

    #[test]
    fn client_errors_are_not_retried() {
        assert!(!AttemptError::Status(400).retryable());
        assert!(AttemptError::Status(429).retryable());
        assert!(AttemptError::Status(503).retryable());
        assert!(AttemptError::Timeout(1).retryable());
    }
}
