//! The HTTP endpoint: `/metrics`, `/health`, `/status`, the certificate API
//! (`/proposals`, `/certificates`, `/revocations`) and the ballot API (`/ballots`), one
//! module per route group; what changes state is for loopback clients only, and only
//! when they name this machine in `Host` ([`guards`]). Bind it to loopback unless a
//! firewall guards it. The accept loop is ours (hyper's HTTP/1 connection builder) so a
//! connection has a header-read timeout and the number of connections a bound.

pub mod ballots;
pub mod certificates;
pub mod guards;
pub mod metrics;
pub mod proposals;
pub mod revocations;
pub mod status;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::Addr;
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRef};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::registry::Registry;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch, Semaphore};
use tokio::task::JoinSet;
use tower::ServiceExt;
use tower_http::timeout::TimeoutLayer;
use x0_actors::auth::AuthActor;
use x0_actors::ballot::BallotActor;
use x0_actors::certify::CertifyActor;

use crate::config::HttpSection;
use crate::network::NetworkActor;
use guards::{reason, HttpMetrics};
use status::NodeFacts;
use x0_actors::charter::CharterActor;
use x0_actors::sync::SyncActor;

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
    sync: Option<Addr<SyncActor>>,
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
    pub sync: Option<Addr<SyncActor>>,
}

/// What GET serves to anyone who reaches the endpoint (named in the warning for a
/// non-loopback `http.bind`).
pub const READ_ENDPOINTS: &str =
    "/metrics, /health, /status (peers and addresses, data dir, certify and ballot state), /proposals/{id}, /certificates/{id}, /ballots, /ballots/{id}";

/// What a connection over `http.connections_max` gets before it is closed.
const BUSY_RESPONSE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: 62\r\nconnection: close\r\n\r\n{\"error\":\"too many connections (http.connections_max); retry\"}";

/// Binds `http.bind` and serves until stopped, within `http`'s bounds.
pub async fn serve(
    http: &HttpSection,
    registry: Arc<Registry>,
    metrics: HttpMetrics,
    served: Served,
    facts: NodeFacts,
) -> Result<HttpServer, crate::NodeError> {
    let bind = http.bind;
    let Served {
        network,
        certify,
        auth,
        ballot,
        charter,
        sync,
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
        sync,
    };
    let app = Router::new()
        .route("/metrics", get(metrics::metrics))
        .route("/health", get(status::health))
        .route("/status", get(status::status))
        .route("/proposals", post(proposals::propose))
        .route("/proposals/{id}", get(proposals::proposal))
        .route("/certificates/{id}", get(certificates::certificate))
        .route("/revocations", post(revocations::publish_revocations))
        .route("/ballots", get(ballots::status).post(ballots::open))
        .route("/ballots/{id}", get(ballots::ballot))
        .route("/ballots/{id}/votes", post(ballots::vote))
        .with_state(state)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_millis(http.request_timeout_ms),
        ))
        .layer(axum::middleware::from_fn_with_state(
            metrics.clone(),
            guards::guard,
        ));
    let (stop, stopped) = oneshot::channel::<()>();
    let bounds = Bounds {
        header_read_timeout: Duration::from_millis(http.header_read_timeout_ms),
        connections_max: http.connections_max,
    };
    let done = tokio::spawn(accept_loop(listener, app, bounds, metrics, stopped));
    tracing::info!(address = %local_addr, "serving /metrics, /health, /status, /proposals, /certificates, /revocations, /ballots");
    if !bind.ip().is_loopback() {
        tracing::warn!(
            address = %local_addr,
            exposed = READ_ENDPOINTS,
            "http.bind is not a loopback address: anyone who reaches it can read {READ_ENDPOINTS}; writes still need a client on this machine. Bind 127.0.0.1 unless a firewall guards the port"
        );
    }
    Ok(HttpServer {
        local_addr,
        stop,
        done,
    })
}

/// Per-connection bounds from `[http]`.
#[derive(Clone, Copy)]
struct Bounds {
    header_read_timeout: Duration,
    connections_max: usize,
}

/// Accepts connections until `stopped`, each served by hyper's HTTP/1 connection with the
/// header-read timeout, at most `connections_max` at once; then shuts the open ones down
/// gracefully and waits for them ([`HttpServer::stop`] cuts that wait short).
async fn accept_loop(
    listener: TcpListener,
    app: Router,
    bounds: Bounds,
    metrics: HttpMetrics,
    mut stopped: oneshot::Receiver<()>,
) {
    let permits = Arc::new(Semaphore::new(bounds.connections_max));
    // Holds every connection task, so aborting this task aborts them too.
    let mut connections = JoinSet::new();
    let (closing, close) = watch::channel(false);
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let (stream, client) = match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of file descriptors, say: wait rather than spin.
                        tracing::warn!(%error, "http accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    metrics.refused(reason::CONNECTIONS_MAX);
                    // One write that never waits (a client that does not read gets
                    // nothing), then close.
                    let _ = stream.try_write(BUSY_RESPONSE);
                    continue;
                };
                let connection = serve_connection(stream, client, app.clone(), bounds, metrics.clone(), close.clone());
                connections.spawn(async move {
                    connection.await;
                    drop(permit);
                });
            }
        }
    }
    let _ = closing.send(true);
    while connections.join_next().await.is_some() {}
}

/// One connection: requests carry the client's address (`ConnectInfo`) for the handlers'
/// own loopback check; a header-read timeout closes it and is counted.
async fn serve_connection(
    stream: TcpStream,
    client: SocketAddr,
    app: Router,
    bounds: Bounds,
    metrics: HttpMetrics,
    mut close: watch::Receiver<bool>,
) {
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(client));
        app.clone().oneshot(request.map(Body::new))
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(bounds.header_read_timeout);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let finished = tokio::select! {
        result = connection.as_mut() => Some(result),
        _ = close.wait_for(|closing| *closing) => None,
    };
    let result = match finished {
        Some(result) => result,
        None => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = result {
        if error.is_timeout() {
            metrics.refused(reason::HEADER_TIMEOUT);
        } else {
            tracing::debug!(%error, %client, "http connection ended with an error");
        }
    }
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

#[cfg(test)]
mod tests {
    use super::BUSY_RESPONSE;

    #[test]
    fn the_busy_answer_declares_its_body_length() {
        let text = std::str::from_utf8(BUSY_RESPONSE).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503 "), "{head}");
        assert!(
            head.contains(&format!("content-length: {}\r\n", body.len())),
            "{head}"
        );
        serde_json::from_str::<serde_json::Value>(body).unwrap();
    }
}
