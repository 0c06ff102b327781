//! `POST /proposals` (JSON [`ProposeRequest`]) proposes a change through the certify
//! actor; only a client on this machine (a loopback address) may call it, whatever
//! address the endpoint binds.

use std::net::SocketAddr;

use actix::Addr;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use x0_actors::certify::{CertifyActor, Propose, ProposeError};
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
