//! `POST /proposals` (JSON [`ProposeRequest`]) proposes a change through the certify
//! actor; only a client on this machine (a loopback address) may call it, whatever
//! address the endpoint binds. `GET /proposals/{id}` says where a proposal stands here
//! ([`ProposalDocument`]): pending with its shares and expiry, certified, or expired.

use std::net::SocketAddr;

use actix::Addr;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use x0_actors::certify::{CertifyActor, GetProposalState, ProposalState, Propose, ProposeError};
use x0_core::certify::proposal::AFFECTED_PPM_MAX;

use super::{error, local_only, no_committee};

/// A proposal as the operator writes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProposeRequest {
    /// What the change touches, e.g. `gossip/mesh_n`.
    pub slot: String,
    /// The new value, as text.
    pub payload: String,
    /// Share of the network the change affects, 0.0..=1.0.
    pub affected_fraction: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProposeResponse {
    pub id: String,
}

/// `POST /proposals`.
pub async fn propose(
    State(certify): State<Option<Addr<CertifyActor>>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Json(request): Json<ProposeRequest>,
) -> Response {
    if let Some(refused) = local_only(&client, "proposals are accepted from this machine only") {
        return refused;
    }
    let Some(certify) = certify else {
        return no_committee();
    };
    if !(0.0..=1.0).contains(&request.affected_fraction) {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "affected_fraction must be in 0.0..=1.0",
        );
    }
    let affected_ppm = (request.affected_fraction * f64::from(AFFECTED_PPM_MAX)).round() as u32;
    let propose = Propose {
        slot: request.slot,
        payload: request.payload.into_bytes(),
        affected_ppm,
    };
    match certify.send(propose).await {
        Ok(Ok(id)) => (
            StatusCode::CREATED,
            Json(ProposeResponse {
                id: hex::encode(id.0),
            }),
        )
            .into_response(),
        Ok(Err(e @ ProposeError::NotMember)) => error(StatusCode::FORBIDDEN, e.to_string()),
        Ok(Err(e @ ProposeError::Journal(_))) => {
            error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
        }
        Ok(Err(e)) => error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
        Err(_) => error(StatusCode::SERVICE_UNAVAILABLE, "certify actor stopped"),
    }
}

/// Where a proposal stands on this node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalDocument {
    pub id: String,
    /// `pending`, `certified`, `expired` or `unknown` (never seen here, or forgotten).
    pub state: String,
    /// Shares held and shares a certificate needs (pending and expired only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shares: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub needed: Option<usize>,
    /// When it expires if not certified, Unix ms (pending only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_unix_ms: Option<u64>,
}

impl ProposalDocument {
    pub fn new(id: String, state: ProposalState) -> ProposalDocument {
        let (name, shares, needed, expires) = match state {
            ProposalState::Pending {
                shares,
                needed,
                expires_ms,
            } => ("pending", Some(shares), Some(needed), Some(expires_ms)),
            ProposalState::Certified => ("certified", None, None, None),
            ProposalState::Expired { shares, needed } => {
                ("expired", Some(shares), Some(needed), None)
            }
            ProposalState::Unknown => ("unknown", None, None, None),
        };
        ProposalDocument {
            id,
            state: name.to_string(),
            shares,
            needed,
            expires_at_unix_ms: expires,
        }
    }
}

/// `GET /proposals/{id}`.
pub async fn proposal(
    State(certify): State<Option<Addr<CertifyActor>>>,
    Path(id): Path<String>,
) -> Response {
    let Some(certify) = certify else {
        return no_committee();
    };
    let Some(parsed) = super::certificates::parse_id(&id) else {
        return error(
            StatusCode::BAD_REQUEST,
            "a proposal id is 64 hex characters",
        );
    };
    match certify.send(GetProposalState(parsed)).await {
        Ok(state) => Json(ProposalDocument::new(hex::encode(parsed.0), state)).into_response(),
        Err(_) => error(StatusCode::SERVICE_UNAVAILABLE, "certify actor stopped"),
    }
}
