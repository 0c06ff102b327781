//! The operator's ballot API on the HTTP endpoint (what `x0 ballot` calls):
//!
//! * `GET /ballots`: the mode (Snapshot or fallback), attestations, open and decided
//!   ballots ([`BallotsDocument`], also the `ballot` part of `/status`);
//! * `GET /ballots/{id}`: one ballot, with its certificate once decided;
//! * `POST /ballots` (JSON [`OpenRequest`]) opens a ballot, `POST /ballots/{id}/votes`
//!   (JSON [`VoteRequest`]) casts or changes this node's vote; both for loopback clients
//!   only, whatever address the endpoint binds.

use std::net::SocketAddr;

use actix::Addr;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use x0_actors::ballot::{
    BallotActor, BallotReport, CastVote, GetBallot, GetBallotStatus, OpenBallot,
};
use x0_actors::messages::PeerKey;
use x0_core::ballot::effect::Effect;
use x0_core::ballot::rules::{Choice, Tally};
use x0_core::ballot::wire::BallotId;

use super::{error, local_only};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenRequest {
    pub title: String,
    /// `lift-halt`, `settle <slot> <proposal id>` or `approve <proposal id>`.
    pub effect: String,
    pub duration_s: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoteRequest {
    /// `yes`, `no` or `abstain`.
    pub choice: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TallyDocument {
    pub yes: u64,
    pub no: u64,
    pub abstain: u64,
}

impl From<Tally> for TallyDocument {
    fn from(t: Tally) -> Self {
        TallyDocument {
            yes: t.yes,
            no: t.no,
            abstain: t.abstain,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenBallotDocument {
    pub id: String,
    pub title: String,
    pub effect: String,
    pub opener: String,
    pub opened_at_unix_ms: u64,
    pub deadline_unix_ms: u64,
    pub electorate: usize,
    pub tally: TallyDocument,
    pub excluded: usize,
    pub own_choice: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecidedDocument {
    pub id: String,
    pub title: String,
    pub effect: String,
    pub outcome: String,
    pub tally: TallyDocument,
    pub electorate: usize,
    /// What the effect did here (only for passed ballots).
    pub effect_result: Option<String>,
}

/// The node's ballot state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BallotsDocument {
    /// `snapshot` or `fallback`.
    pub mode: String,
    pub attestations_fresh: usize,
    pub attestations_needed: usize,
    pub hub_down_since_unix_ms: Option<u64>,
    pub open: Vec<OpenBallotDocument>,
    pub decided: Vec<DecidedDocument>,
    pub equivocations_total: u64,
}

fn peer_text(peer: &PeerKey) -> String {
    libp2p::PeerId::from_bytes(&peer.0)
        .map(|p| p.to_string())
        .unwrap_or_else(|_| hex::encode(&peer.0))
}

fn effect_text(result: &Option<Result<String, String>>) -> Option<String> {
    result.as_ref().map(|r| match r {
        Ok(done) => done.clone(),
        Err(why) => format!("changed nothing: {why}"),
    })
}

impl From<BallotReport> for BallotsDocument {
    fn from(report: BallotReport) -> Self {
        let status = report.status;
        BallotsDocument {
            mode: status.mode.as_str().into(),
            attestations_fresh: status.attestations_fresh,
            attestations_needed: status.attestations_needed,
            hub_down_since_unix_ms: status.hub_down_since_unix_ms,
            open: status
                .open
                .into_iter()
                .map(|b| OpenBallotDocument {
                    id: b.id.to_hex(),
                    title: b.title,
                    effect: b.effect.to_string(),
                    opener: peer_text(&b.opener),
                    opened_at_unix_ms: b.opened_at_unix_ms,
                    deadline_unix_ms: b.deadline_unix_ms,
                    electorate: b.electorate,
                    tally: b.tally.into(),
                    excluded: b.excluded,
                    own_choice: b.own_choice.map(|c| c.as_str().into()),
                })
                .collect(),
            decided: report
                .decided
                .into_iter()
                .map(|d| DecidedDocument {
                    id: d.id.to_hex(),
                    title: d.title,
                    effect: d.effect.to_string(),
                    outcome: d.outcome.as_str().into(),
                    tally: d.tally.into(),
                    electorate: d.electorate,
                    effect_result: effect_text(&d.effect_result),
                })
                .collect(),
            equivocations_total: report.counters.equivocations_total,
        }
    }
}

/// One ballot as `GET /ballots/{id}` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BallotDocument {
    pub id: String,
    pub decided: bool,
    /// `passed`, `rejected` or `no_decision` (so far, while open).
    pub outcome: String,
    /// Hex of the certificate's encoding (docs/PROTOCOL.md), once decided:
    /// `x0 ballot tally --certificate FILE` verifies it offline.
    pub certificate: Option<String>,
    pub effect_result: Option<String>,
}

fn no_ballots() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "this node runs no ballots: it needs a [committee] and [auth] in its config",
    )
}

/// Opening and voting are for this machine's operator only.
const LOCAL_ONLY: &str = "ballots are opened and voted from this machine only";

fn bad_id(text: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        format!("`{text}` is not a ballot id (64 hex digits, as `x0 ballot status` lists them)"),
    )
}

pub async fn status(State(ballot): State<Option<Addr<BallotActor>>>) -> Response {
    let Some(ballot) = ballot else {
        return no_ballots();
    };
    match ballot.send(GetBallotStatus).await {
        Ok(report) => Json(BallotsDocument::from(report)).into_response(),
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("ballot actor: {e}"),
        ),
    }
}

pub async fn ballot(
    State(ballot): State<Option<Addr<BallotActor>>>,
    Path(id): Path<String>,
) -> Response {
    let Some(actor) = ballot else {
        return no_ballots();
    };
    let Some(id) = BallotId::from_hex(&id) else {
        return bad_id(&id);
    };
    match actor.send(GetBallot(id)).await {
        Ok(Some(result)) => Json(BallotDocument {
            id: id.to_hex(),
            decided: result.decided,
            outcome: result.outcome.as_str().into(),
            certificate: result.certificate.map(|c| hex::encode(&c)),
            effect_result: effect_text(&result.effect_result),
        })
        .into_response(),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            "no ballot with this id is known here",
        ),
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("ballot actor: {e}"),
        ),
    }
}

pub async fn open(
    State(ballot): State<Option<Addr<BallotActor>>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Json(request): Json<OpenRequest>,
) -> Response {
    if let Some(refused) = local_only(&client, LOCAL_ONLY) {
        return refused;
    }
    let Some(actor) = ballot else {
        return no_ballots();
    };
    let effect = match request.effect.parse::<Effect>() {
        Ok(effect) => effect,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("effect: {e}")),
    };
    let open = OpenBallot {
        title: request.title,
        effect,
        duration_ms: request.duration_s.saturating_mul(1000),
    };
    match actor.send(open).await {
        Ok(Ok(id)) => Json(serde_json::json!({ "id": id.to_hex() })).into_response(),
        Ok(Err(why)) => error(StatusCode::CONFLICT, why),
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("ballot actor: {e}"),
        ),
    }
}

pub async fn vote(
    State(ballot): State<Option<Addr<BallotActor>>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    Json(request): Json<VoteRequest>,
) -> Response {
    if let Some(refused) = local_only(&client, LOCAL_ONLY) {
        return refused;
    }
    let Some(actor) = ballot else {
        return no_ballots();
    };
    let Some(id) = BallotId::from_hex(&id) else {
        return bad_id(&id);
    };
    let Some(choice) = Choice::parse(&request.choice) else {
        return error(
            StatusCode::BAD_REQUEST,
            format!("choice `{}`: expected yes, no or abstain", request.choice),
        );
    };
    match actor.send(CastVote { id, choice }).await {
        Ok(Ok(sequence)) => Json(serde_json::json!({ "sequence": sequence })).into_response(),
        Ok(Err(why)) => error(StatusCode::CONFLICT, why),
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("ballot actor: {e}"),
        ),
    }
}
