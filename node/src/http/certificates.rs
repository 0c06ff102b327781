//! `GET /certificates/{id}`: the certificate for a proposal, if the node has it, as a
//! [`CertificateDocument`] that `x0 cert verify` checks offline.

use actix::Addr;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use x0_actors::certify::{CertifyActor, GetCertificate};
use x0_core::certify::proposal::ProposalId;
use x0_core::certify::wire::CertificateMessage;

use super::{error, no_committee};

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

/// `GET /certificates/{id}`.
pub async fn certificate(
    State(certify): State<Option<Addr<CertifyActor>>>,
    Path(id): Path<String>,
) -> Response {
    let Some(certify) = certify else {
        return no_committee();
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

/// A proposal id from its 64 hex digits.
pub fn parse_id(text: &str) -> Option<ProposalId> {
    let bytes: [u8; 32] = ::hex::decode(text).ok()?.try_into().ok()?;
    Some(ProposalId(bytes))
}
