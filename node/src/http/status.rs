//! `GET /status`, the [`Status`] document (what an operator asks first about a node),
//! and `GET /health`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use x0_actors::auth::{AuthStatus, GetAuthStatus};
use x0_actors::ballot::{BallotReport, GetBallotStatus};
use x0_actors::certify::{CertifyStatus, GetCertifyStatus};

use super::AppState;
use crate::http::ballots::BallotsDocument;
use x0_actors::charter::GetCharterStatus;
use x0_actors::sync::{GetSyncStatus, SyncStatus};

use crate::network::{GetNetworkStatus, NetworkStatus};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub version: String,
    pub peer_id: String,
    pub listen_addrs: Vec<String>,
    pub connected_peers: Vec<crate::network::PeerStatus>,
    pub topics: Vec<crate::network::TopicStatus>,
    pub uptime_s: u64,
    pub data_dir: String,
    /// Starts on this data dir, this one included.
    pub starts: u64,
    pub previous_stop_clean: bool,
    /// Certificate collection; absent on a node without a `[committee]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certify: Option<CertifySummary>,
    /// Capability tokens and replay protection; absent on a node without `[auth]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthSummary>,
    /// DAO decisions: who decides now and the local ballots; absent without a committee.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ballot: Option<BallotsDocument>,
    /// The Charter's enforcement; absent on a node without a `[charter]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charter: Option<x0_actors::charter::CharterStatus>,
    /// Anti-entropy sync; absent without `[auth]` or with `sync.enabled = false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<SyncStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthSummary {
    pub authority_public_key: String,
    /// Whether this node holds a valid member credential.
    pub member_credential: bool,
    pub access_until_unix_s: Option<u64>,
    pub nonces: usize,
    pub nonces_max: usize,
    pub revoked_ids: usize,
    pub revocation_sequence_max: Option<u64>,
    pub skew_ms: u64,
}

impl From<AuthStatus> for AuthSummary {
    fn from(s: AuthStatus) -> Self {
        AuthSummary {
            authority_public_key: s.authority_public_key,
            member_credential: s.member_credential,
            access_until_unix_s: s.access_until_unix_s,
            nonces: s.nonces,
            nonces_max: s.nonces_max,
            revoked_ids: s.revoked_ids,
            revocation_sequence_max: s.revocation_sequence_max,
            skew_ms: s.skew_ms,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CertifySummary {
    pub epoch: u64,
    pub members: usize,
    pub own_member: Option<u16>,
    pub standard_signers_min: usize,
    pub supermajority_signers_min: usize,
    pub certificates: usize,
    pub pending: usize,
    /// Slots halted by conflicting certificates, as `epoch/slot`.
    pub halted_slots: Vec<String>,
    /// The latest proposals that expired uncertified here, newest first (at most 16).
    #[serde(default)]
    pub recently_expired: Vec<ExpiredSummary>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpiredSummary {
    pub id: String,
    pub shares: usize,
    pub needed: usize,
}

impl From<CertifyStatus> for CertifySummary {
    fn from(CertifyStatus(s): CertifyStatus) -> Self {
        CertifySummary {
            epoch: s.epoch,
            members: s.members,
            own_member: s.own_member,
            standard_signers_min: s.standard_signers_min,
            supermajority_signers_min: s.supermajority_signers_min,
            certificates: s.certificates,
            pending: s.pending,
            halted_slots: s
                .halted
                .iter()
                .map(|(epoch, slot)| format!("{epoch}/{slot}"))
                .collect(),
            recently_expired: s
                .recently_expired
                .iter()
                .map(|e| ExpiredSummary {
                    id: hex::encode(e.id.0),
                    shares: e.shares,
                    needed: e.needed,
                })
                .collect(),
        }
    }
}

/// What each protocol actor reported for `/status` (absent where it does not run).
#[derive(Debug, Clone, Default)]
pub struct ActorReports {
    pub certify: Option<CertifyStatus>,
    pub auth: Option<AuthStatus>,
    pub ballot: Option<BallotReport>,
    pub charter: Option<x0_actors::charter::CharterStatus>,
    pub sync: Option<SyncStatus>,
}

impl Status {
    pub fn from_parts(
        network: NetworkStatus,
        node: &NodeFacts,
        uptime_s: u64,
        reports: ActorReports,
    ) -> Status {
        Status {
            version: env!("CARGO_PKG_VERSION").to_string(),
            peer_id: network.peer_id,
            listen_addrs: network.listen_addrs,
            connected_peers: network.connected_peers,
            topics: network.topics,
            uptime_s,
            data_dir: node.data_dir.clone(),
            starts: node.starts,
            previous_stop_clean: node.previous_stop_clean,
            certify: reports.certify.map(CertifySummary::from),
            auth: reports.auth.map(AuthSummary::from),
            ballot: reports.ballot.map(BallotsDocument::from),
            charter: reports.charter,
            sync: reports.sync,
        }
    }

    /// A person-readable rendering, as `x0 status` prints it.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let line = |out: &mut String, s: String| {
            out.push_str(&s);
            out.push('\n');
        };
        line(
            &mut out,
            format!("x0 node {}  (version {})", self.peer_id, self.version),
        );
        line(
            &mut out,
            format!(
                "  up {}  data dir {}  start #{}{}",
                human_duration(self.uptime_s),
                self.data_dir,
                self.starts,
                if self.previous_stop_clean {
                    ""
                } else {
                    "  (previous run did not stop cleanly)"
                }
            ),
        );
        line(&mut out, "  listening on:".into());
        for address in &self.listen_addrs {
            line(&mut out, format!("    {address}"));
        }
        line(
            &mut out,
            format!("  connected peers: {}", self.connected_peers.len()),
        );
        for peer in &self.connected_peers {
            let score = peer
                .score
                .map(|s| format!("{s:.2}"))
                .unwrap_or_else(|| "-".into());
            line(&mut out, format!("    {}  score {score}", peer.peer_id));
        }
        match &self.auth {
            None => line(
                &mut out,
                "  auth: none configured (privileged messages refused)".into(),
            ),
            Some(a) => line(
                &mut out,
                format!(
                    "  auth: {}; seen nonces {}/{}; revoked ids {}{}",
                    match a.access_until_unix_s {
                        Some(until) if a.member_credential =>
                            format!("member, access token until {until} (Unix s)"),
                        _ => "not a member (no valid credential)".into(),
                    },
                    a.nonces,
                    a.nonces_max,
                    a.revoked_ids,
                    a.revocation_sequence_max
                        .map(|s| format!(" (latest list #{s})"))
                        .unwrap_or_default()
                ),
            ),
        }
        if let Some(s) = &self.sync {
            line(
                &mut out,
                format!(
                    "  sync: {} peers; {} items offered ({} archived); {} wanted, {} refused, {} requests in flight",
                    s.peers, s.held, s.archived, s.wanted, s.refused, s.requests_inflight
                ),
            );
        }
        if let Some(b) = &self.ballot {
            line(
                &mut out,
                format!(
                    "  ballots: {} decides ({} outage attestations, {} needed); {} open, {} decided",
                    if b.mode == "fallback" {
                        "the local ballot"
                    } else {
                        "Snapshot"
                    },
                    b.attestations_fresh,
                    b.attestations_needed,
                    b.open.len(),
                    b.decided.len()
                ),
            );
        }
        if let Some(c) = &self.charter {
            let why = match &c.kernel_unavailable {
                Some(why) => format!(" (kernel: {why})"),
                None => String::new(),
            };
            let policy = match c.policy_epoch {
                Some(epoch) => format!("certified policy of epoch {epoch}"),
                None => "policy file".into(),
            };
            line(
                &mut out,
                format!(
                    "  charter: {} enforcement{why}; {policy}, {} destinations; telemetry to {}",
                    c.mode,
                    c.destinations.len(),
                    c.telemetry_statsd.as_deref().unwrap_or("nowhere")
                ),
            );
        }
        match &self.certify {
            None => line(&mut out, "  committee: none configured".into()),
            Some(c) => {
                let member = c
                    .own_member
                    .map(|m| format!("member {m}"))
                    .unwrap_or_else(|| "not a member".into());
                line(
                    &mut out,
                    format!(
                        "  committee: epoch {}, {} members ({member}); certificates need {} (standard) / {} (supermajority) signers",
                        c.epoch, c.members, c.standard_signers_min, c.supermajority_signers_min
                    ),
                );
                line(
                    &mut out,
                    format!(
                        "    certificates held {}  proposals pending {}",
                        c.certificates, c.pending
                    ),
                );
                for expired in &c.recently_expired {
                    line(
                        &mut out,
                        format!(
                            "    expired {}: {} of {} shares",
                            expired.id, expired.shares, expired.needed
                        ),
                    );
                }
                for slot in &c.halted_slots {
                    line(
                        &mut out,
                        format!("    HALTED {slot}: conflicting certificates, awaiting a ballot"),
                    );
                }
            }
        }
        line(&mut out, "  topics:".into());
        for topic in &self.topics {
            line(
                &mut out,
                format!(
                    "    {}  mesh {} / subscribed {}",
                    topic.topic,
                    topic.mesh_peers.len(),
                    topic.subscribed_peers
                ),
            );
        }
        out
    }
}

/// Facts about the node that the network task does not know.
#[derive(Debug, Clone)]
pub struct NodeFacts {
    pub data_dir: String,
    pub starts: u64,
    pub previous_stop_clean: bool,
}

fn human_duration(seconds: u64) -> String {
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// 200 while the network task answers; 503 once it is gone.
pub(super) async fn health(State(state): State<AppState>) -> Response {
    match state.network.send(GetNetworkStatus).await {
        Ok(Some(_)) => (StatusCode::OK, "ok\n").into_response(),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            "network task not answering\n",
        )
            .into_response(),
    }
}

/// `GET /status`: the [`Status`] document.
pub(super) async fn status(State(state): State<AppState>) -> Response {
    let certify = match &state.certify {
        Some(certify) => certify.send(GetCertifyStatus).await.ok(),
        None => None,
    };
    let auth = match &state.auth {
        Some(auth) => auth.send(GetAuthStatus).await.ok(),
        None => None,
    };
    let ballot = match &state.ballot {
        Some(ballot) => ballot.send(GetBallotStatus).await.ok(),
        None => None,
    };
    let charter = match &state.charter {
        Some(charter) => charter.send(GetCharterStatus).await.ok(),
        None => None,
    };
    let sync = match &state.sync {
        Some(sync) => sync.send(GetSyncStatus).await.ok(),
        None => None,
    };
    match state.network.send(GetNetworkStatus).await {
        Ok(Some(network)) => Json(Status::from_parts(
            network,
            &state.facts,
            state.started.elapsed().as_secs(),
            ActorReports {
                certify,
                auth,
                ballot,
                charter,
                sync,
            },
        ))
        .into_response(),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            "network task not answering\n",
        )
            .into_response(),
    }
}
