//! The HTTP endpoint: `/metrics`, `/health`, `/status`, and the certificate API
//! ([`crate::api`]: proposing is for loopback clients only). Bind it to loopback unless a
//! firewall guards it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::Addr;
use axum::extract::{FromRef, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use x0_actors::auth::{AuthActor, GetAuthStatus};
use x0_actors::ballot::{BallotActor, GetBallotStatus};
use x0_actors::certify::{CertifyActor, GetCertifyStatus};

use crate::network::{GetNetworkStatus, NetworkActor};
use crate::status::{NodeFacts, Status};
use crate::{api, ballot_api};
use x0_actors::charter::{CharterActor, FilterExport, GetCharterStatus};
use x0_actors::exposition;

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
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .route("/status", get(status))
        .route("/proposals", post(api::propose))
        .route("/certificates/{id}", get(api::certificate))
        .route("/revocations", post(api::publish_revocations))
        .route("/ballots", get(ballot_api::status).post(ballot_api::open))
        .route("/ballots/{id}", get(ballot_api::ballot))
        .route("/ballots/{id}/votes", post(ballot_api::vote))
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

async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let mut openmetrics = String::new();
    if let Err(error) = prometheus_client::encoding::text::encode(&mut openmetrics, &state.registry)
    {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding metrics: {error}"),
        )
            .into_response();
    }
    let openmetrics = exposition::conform_openmetrics(&openmetrics);
    let openmetrics = match &state.charter {
        Some(charter) => match charter.send(FilterExport(openmetrics)).await {
            Ok(filtered) => filtered,
            // Never the unfiltered export: without the Charter's actor, nothing.
            Err(error) => {
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("charter actor not answering: {error}\n"),
                )
                    .into_response()
            }
        },
        None => openmetrics,
    };
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    if exposition::wants_openmetrics(accept) {
        (
            [(header::CONTENT_TYPE, exposition::OPENMETRICS_CONTENT_TYPE)],
            openmetrics,
        )
            .into_response()
    } else {
        (
            [(header::CONTENT_TYPE, exposition::TEXT_CONTENT_TYPE)],
            exposition::openmetrics_to_classic(&openmetrics),
        )
            .into_response()
    }
}

/// 200 while the network task answers; 503 once it is gone.
async fn health(State(state): State<AppState>) -> Response {
    match state.network.send(GetNetworkStatus).await {
        Ok(Some(_)) => (StatusCode::OK, "ok\n").into_response(),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            "network task not answering\n",
        )
            .into_response(),
    }
}

async fn status(State(state): State<AppState>) -> Response {
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
    match state.network.send(GetNetworkStatus).await {
        Ok(Some(network)) => Json(Status::from_parts(
            network,
            &state.facts,
            state.started.elapsed().as_secs(),
            certify,
            auth,
            ballot,
            charter,
        ))
        .into_response(),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            "network task not answering\n",
        )
            .into_response(),
    }
}
