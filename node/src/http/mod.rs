//! The HTTP endpoint: `/metrics`, `/health`, `/status`, the certificate API
//! (`/proposals`, `/certificates`, `/revocations`) and the ballot API (`/ballots`), one
//! module per route group; what changes state is for loopback clients only. Bind it to
//! loopback unless a firewall guards it.

pub mod ballots;
pub mod certificates;
pub mod metrics;
pub mod proposals;
pub mod revocations;
pub mod status;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::Addr;
use axum::extract::FromRef;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use x0_actors::auth::AuthActor;
use x0_actors::ballot::BallotActor;
use x0_actors::certify::CertifyActor;

use crate::network::NetworkActor;
use status::NodeFacts;
use x0_actors::charter::CharterActor;

#[derive(Clone)]
struct AppState {
    registry: Arc<Registry>,
    network: Addr<NetworkActor>,
    facts: Arc<NodeFacts>,
    started: Instant,
    certify: Option<Addr<CertifyActor>>,
    auth: Option<Addr<AuthActor>>,
    ballot: Option<Addr<BallotActor>>,
    charter: Option<Addr<CharterActor>>,
}

impl FromRef<AppState> for Option<Addr<BallotActor>> {
    fn from_ref(state: &AppState) -> Self {
        state.ballot.clone()
    }
}

impl FromRef<AppState> for Option<Addr<CertifyActor>> {
    fn from_ref(state: &AppState) -> Self {
        state.certify.clone()
    }
}

impl FromRef<AppState> for Option<Addr<AuthActor>> {
    fn from_ref(state: &AppState) -> Self {
        state.auth.clone()
    }
}

/// A running HTTP server; [`HttpServer::stop`] closes it gracefully.
pub struct HttpServer {
    pub local_addr: SocketAddr,
    stop: oneshot::Sender<()>,
    done: tokio::task::JoinHandle<()>,
}

/// How long a stop waits for open requests to finish before it cuts them off, so a
/// client that never finishes its request cannot hold the node up.
const STOP_GRACE: Duration = Duration::from_secs(3);

impl HttpServer {
    pub async fn stop(mut self) {
        let _ = self.stop.send(());
        if tokio::time::timeout(STOP_GRACE, &mut self.done)
            .await
            .is_err()
        {
            tracing::warn!("open HTTP requests did not finish within {STOP_GRACE:?}; closing them");
            self.done.abort();
        }
    }
}

/// What the endpoint reports on and serves: the node's actors (those it runs).
pub struct Served {
    pub network: Addr<NetworkActor>,
    pub certify: Option<Addr<CertifyActor>>,
    pub auth: Option<Addr<AuthActor>>,
    pub ballot: Option<Addr<BallotActor>>,
    pub charter: Option<Addr<CharterActor>>,
}

/// Binds `bind` and serves until stopped.
pub async fn serve(
    bind: SocketAddr,
    registry: Arc<Registry>,
    served: Served,
    facts: NodeFacts,
) -> Result<HttpServer, crate::NodeError> {
    let Served {
        network,
        certify,
        auth,
        ballot,
        charter,
    } = served;
    let listener = TcpListener::bind(bind).await.map_err(|e| {
        crate::NodeError::Config(format!(
            "config field `http.bind` (or --http-bind): cannot listen on {bind}: {e}; pick a free port, or port 0 for any"
        ))
    })?;
    let local_addr = listener
        .local_addr()
        .map_err(|e| crate::NodeError::Runtime(format!("http listener: {e}")))?;
    let state = AppState {
        registry,
        network,
        facts: Arc::new(facts),
        started: Instant::now(),
        certify,
        auth,
        ballot,
        charter,
    };
    let app = Router::new()
        .route("/metrics", get(metrics::metrics))
        .route("/health", get(status::health))
        .route("/status", get(status::status))
        .route("/proposals", post(proposals::propose))
        .route("/certificates/{id}", get(certificates::certificate))
        .route("/revocations", post(revocations::publish_revocations))
        .route("/ballots", get(ballots::status).post(ballots::open))
        .route("/ballots/{id}", get(ballots::ballot))
        .route("/ballots/{id}/votes", post(ballots::vote))
        .with_state(state);
    let (stop, stopped) = oneshot::channel::<()>();
    let done = tokio::spawn(async move {
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        let server = axum::serve(listener, app).with_graceful_shutdown(async {
            let _ = stopped.await;
        });
        if let Err(error) = server.await {
            tracing::error!(%error, "http server failed");
        }
    });
    tracing::info!(address = %local_addr, "serving /metrics, /health, /status, /proposals, /certificates, /revocations, /ballots");
    Ok(HttpServer {
        local_addr,
        stop,
        done,
    })
}

/// A refusal as the API's clients read it: `{"error": "..."}`.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let body = serde_json::json!({ "error": message.into() });
    (status, Json(body)).into_response()
}

/// 403 with `message` for a client not on this machine: what changes the node's state is
/// the local operator's, whatever address the endpoint binds.
fn local_only(client: &SocketAddr, message: &str) -> Option<Response> {
    (!client.ip().is_loopback()).then(|| error(StatusCode::FORBIDDEN, message))
}

fn no_committee() -> Response {
    error(
        StatusCode::CONFLICT,
        "this node has no [committee] in its config",
    )
}
