//! `POST /revocations`: a signed revocation list (`x0 token publish`) to verify, apply,
//! persist and publish.

use std::net::SocketAddr;

use actix::Addr;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use x0_actors::auth::{AuthActor, PublishRevocations};

use super::{error, local_only};

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
    if let Some(refused) = local_only(
        &client,
        "revocation lists are accepted from this machine only",
    ) {
        return refused;
    }
    let Some(auth) = auth else {
        return error(
            StatusCode::CONFLICT,
            "this node has no [auth] in its config",
        );
    };
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
