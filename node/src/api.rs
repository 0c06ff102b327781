//! The operator's certificate API, next to `/status` on the HTTP endpoint:
//!
//! * `POST /proposals` (JSON [`ProposeRequest`]) proposes a change; only a client on
//!   this machine (a loopback address) may call it, whatever address the endpoint binds.
//! * `GET /certificates/{id}` returns the certificate for a proposal, if the node has it.

use std::net::SocketAddr;

use actix::Addr;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use x0_actors::auth::{AuthActor, PublishRevocations};
use x0_actors::certify::{CertifyActor, GetCertificate, Propose, ProposeError};
use x0_core::certify::proposal::{ProposalId, AFFECTED_PPM_MAX};
use x0_core::certify::wire::CertificateMessage;

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

/// A certificate as the API returns it: readable fields and the exact wire bytes, which
/// `x0 cert verify` checks offline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CertificateDocument {
    pub id: String,
    pub epoch: u64,
    pub slot: String,
    pub payload: String,
    pub affected_ppm: u32,
    pub signers: Vec<u16>,
    /// Hex of the certificate's wire encoding (docs/PROTOCOL.md).
    pub certificate: String,
}

impl CertificateDocument {
    pub fn from_message(message: &CertificateMessage) -> Self {
        CertificateDocument {
            id: hex::encode(message.proposal.id().0),
            epoch: message.proposal.epoch,
            slot: message.proposal.slot.clone(),
            payload: String::from_utf8_lossy(&message.proposal.payload).into_owned(),
            affected_ppm: message.proposal.affected_ppm,
            signers: message.signers.clone(),
            certificate: hex::encode(message.encode()),
        }
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let body = serde_json::json!({ "error": message.into() });
    (status, Json(body)).into_response()
}

pub async fn propose(
    State(certify): State<Option<Addr<CertifyActor>>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Json(request): Json<ProposeRequest>,
) -> Response {
    if !client.ip().is_loopback() {
        return error(
            StatusCode::FORBIDDEN,
            "proposals are accepted from this machine only",
        );
    }
    let Some(certify) = certify else {
        return error(
            StatusCode::CONFLICT,
            "this node has no [committee] in its config",
        );
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

pub async fn certificate(
    State(certify): State<Option<Addr<CertifyActor>>>,
    Path(id): Path<String>,
) -> Response {
    let Some(certify) = certify else {
        return error(
            StatusCode::CONFLICT,
            "this node has no [committee] in its config",
        );
    };
    let Some(id) = parse_id(&id) else {
        return error(
            StatusCode::BAD_REQUEST,
            "a proposal id is 64 hex characters",
        );
    };
    match certify.send(GetCertificate(id)).await {
        Ok(Some(message)) => Json(CertificateDocument::from_message(&message)).into_response(),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            "no certificate for this proposal here (yet)",
        ),
        Err(_) => error(StatusCode::SERVICE_UNAVAILABLE, "certify actor stopped"),
    }
}

pub fn parse_id(text: &str) -> Option<ProposalId> {
    let bytes: [u8; 32] = ::hex::decode(text).ok()?.try_into().ok()?;
    Some(ProposalId(bytes))
}

/// The revocation list the operator hands a node to publish: base64 as `x0 token revoke`
/// writes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevocationsRequest {
    pub list: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RevocationsResponse {
    pub sequence: u64,
    pub added: usize,
    pub known: usize,
    pub published: bool,
}

/// `POST /revocations`: verify, apply, persist and publish a signed revocation list.
/// Loopback clients only, like proposals: the list is self-authenticating, but a remote
/// client has no business using this node as its megaphone.
pub async fn publish_revocations(
    State(auth): State<Option<Addr<AuthActor>>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Json(request): Json<RevocationsRequest>,
) -> Response {
    if !client.ip().is_loopback() {
        return error(
            StatusCode::FORBIDDEN,
            "revocation lists are accepted from this machine only",
        );
    }
    let Some(auth) = auth else {
        return error(
            StatusCode::CONFLICT,
            "this node has no [auth] in its config",
        );
    };
    use base64::Engine as _;
    let Ok(bytes) = base64::engine::general_purpose::URL_SAFE.decode(request.list.trim()) else {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "list is not URL-safe base64 (the file `x0 token revoke` writes)",
        );
    };
    match auth.send(PublishRevocations(bytes)).await {
        Ok(Ok(receipt)) => (
            StatusCode::OK,
            Json(RevocationsResponse {
                sequence: receipt.sequence,
                added: receipt.added,
                known: receipt.known,
                published: receipt.published,
            }),
        )
            .into_response(),
        Ok(Err(message)) => error(StatusCode::UNPROCESSABLE_ENTITY, message),
        Err(_) => error(StatusCode::SERVICE_UNAVAILABLE, "auth actor stopped"),
    }
}
