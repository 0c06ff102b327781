//! A local Snapshot hub for tests: a real axum HTTP server on 127.0.0.1 that speaks the
//! GraphQL subset the client uses (`Proposals` and `Votes`, dispatched on the operation
//! name or the query's root field, honouring `first`, `skip` and `created_lt`). Its
//! failure mode can be switched while it runs.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The committed fixtures, signed by eth-account (scripts/interop/snapshot_votes.py).
pub const FIXTURES: &str = include_str!("../fixtures/snapshot_votes.json");

pub fn fixtures() -> Value {
    serde_json::from_str(FIXTURES).expect("fixtures parse")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Garbage {
    /// A body that is not JSON.
    NotJson,
    /// JSON of the wrong shape (`votes` is a string).
    WrongShape,
    /// Well-formed votes whose signatures do not match (choice changed after signing).
    BadSignatures,
    /// HTTP 400 with GraphQL errors and no data: what the public hub answers when asked
    /// for `sig`.
    GraphQlErrors,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Healthy,
    /// Nothing listens on the port: connections are refused.
    Refused,
    /// Every request gets 503.
    Unavailable,
    /// Answers correctly, after this long (tokio time: virtual under paused time).
    Slow(Duration),
    Garbage(Garbage),
    /// Pages shuffled, each led by votes already sent on the previous page.
    Conflicting,
}

/// One request as the hub saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub operation: String,
    pub variables: Value,
}

struct Inner {
    mode: Mode,
    proposals: Vec<Value>,
    votes: Vec<Value>,
    seen: Vec<Seen>,
}

pub struct SnapshotHub {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    server: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
}

/// The fixture votes as the hub's `Vote` objects.
pub fn hub_votes(fixtures: &Value) -> Vec<Value> {
    fixtures["votes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let m = &v["message"];
            json!({
                "id": v["id"],
                "voter": m["from"],
                "created": m["timestamp"],
                "choice": m["choice"],
                "reason": m["reason"],
                "app": m["app"],
                "metadata": m["metadata"],
                "sig": v["signature"],
                "space": {"id": m["space"]},
                "proposal": {"id": m["proposal"]},
            })
        })
        .collect()
}

pub fn hub_proposals(fixtures: &Value) -> Vec<Value> {
    let space = fixtures["space"].as_str().unwrap();
    vec![
        json!({"id": fixtures["proposals"]["bytes32"], "type": "basic", "state": "closed",
               "title": "Lift the anomaly halt", "body": "Why: the upgrade is done.\nx0-effect: lift-halt\n",
               "created": 1_760_000_000, "start": 1_760_000_000, "end": 1_760_100_000,
               "choices": ["For", "Against", "Abstain"], "votes": 10, "space": {"id": space}}),
        json!({"id": fixtures["proposals"]["string"], "type": "basic", "state": "closed",
               "created": 1_760_000_050, "start": 1_760_000_050, "end": 1_760_100_000,
               "choices": ["For", "Against", "Abstain"], "votes": 3, "space": {"id": space}}),
        json!({"id": "0xranked", "type": "ranked-choice", "state": "active",
               "created": 1_760_000_060, "start": 1_760_000_060, "end": 1_760_100_000,
               "choices": ["a", "b", "c"], "votes": 0, "space": {"id": space}}),
    ]
}

impl SnapshotHub {
    /// A healthy hub serving the committed fixtures.
    pub async fn start() -> SnapshotHub {
        let fixtures = fixtures();
        SnapshotHub::with_data(hub_proposals(&fixtures), hub_votes(&fixtures)).await
    }

    pub async fn with_data(proposals: Vec<Value>, votes: Vec<Value>) -> SnapshotHub {
        let inner = Arc::new(Mutex::new(Inner {
            mode: Mode::Healthy,
            proposals,
            votes,
            seen: Vec::new(),
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut hub = SnapshotHub {
            addr,
            inner,
            server: None,
        };
        hub.serve(listener);
        hub
    }

    pub fn url(&self) -> String {
        format!("http://{}/graphql", self.addr)
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let app = Router::new()
            .route("/graphql", post(handle))
            .with_state(self.inner.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stop_rx.await;
                })
                .await;
        });
        self.server = Some((stop_tx, task));
    }

    /// Switches the mode; `Refused` closes the port, any other mode opens it again.
    pub async fn set_mode(&mut self, mode: Mode) {
        self.inner.lock().unwrap().mode = mode;
        match (mode, self.server.is_some()) {
            (Mode::Refused, true) => {
                let (stop, task) = self.server.take().unwrap();
                let _ = stop.send(());
                let _ = task.await;
            }
            (Mode::Refused, false) => {}
            (_, false) => {
                let listener = tokio::net::TcpListener::bind(self.addr).await.unwrap();
                self.serve(listener);
            }
            (_, true) => {}
        }
    }

    /// Replaces the proposals the hub lists (a proposal closes, a new one appears).
    pub fn set_proposals(&self, proposals: Vec<Value>) {
        self.inner.lock().unwrap().proposals = proposals;
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.inner.lock().unwrap().seen.clone()
    }
}

fn text_response(status: StatusCode, body: String) -> Response {
    (status, [("content-type", "application/json")], body).into_response()
}

async fn handle(State(inner): State<Arc<Mutex<Inner>>>, body: String) -> Response {
    let request: Value = match serde_json::from_str(&body) {
        Ok(v) => v,
        Err(_) => {
            return text_response(
                StatusCode::BAD_REQUEST,
                "{\"errors\":[{\"message\":\"bad json\"}]}".into(),
            )
        }
    };
    let query = request["query"].as_str().unwrap_or("");
    let operation = match request["operationName"].as_str() {
        Some(name) => name.to_string(),
        None if query.contains("votes(") => "Votes".to_string(),
        None if query.contains("proposals(") => "Proposals".to_string(),
        None => String::new(),
    };
    let variables = request["variables"].clone();
    let mode = {
        let mut inner = inner.lock().unwrap();
        inner.seen.push(Seen {
            operation: operation.clone(),
            variables: variables.clone(),
        });
        inner.mode
    };
    match mode {
        Mode::Unavailable | Mode::Refused => {
            return text_response(StatusCode::SERVICE_UNAVAILABLE, "down".into())
        }
        Mode::Slow(delay) => tokio::time::sleep(delay).await,
        Mode::Garbage(Garbage::NotJson) => {
            return text_response(StatusCode::OK, "{\"data\": {\"votes\": [".into())
        }
        Mode::Garbage(Garbage::GraphQlErrors) => {
            return text_response(
                StatusCode::BAD_REQUEST,
                json!({"errors": [{"message": "Cannot query field \"sig\" on type \"Vote\"."}]})
                    .to_string(),
            )
        }
        Mode::Garbage(Garbage::WrongShape) => {
            return text_response(
                StatusCode::OK,
                json!({"data": {"votes": "many", "proposals": 7}}).to_string(),
            )
        }
        _ => {}
    }
    let inner = inner.lock().unwrap();
    let first = variables["first"].as_u64().unwrap_or(100).min(1000) as usize;
    let skip = variables["skip"].as_u64().unwrap_or(0) as usize;
    let created_lt = variables["created_lt"].as_i64().unwrap_or(i64::MAX);
    let space = variables["space"].as_str().unwrap_or("");
    let newest_first = |items: Vec<&Value>| {
        let mut items: Vec<Value> = items.into_iter().cloned().collect();
        items.sort_by(|a, b| {
            b["created"]
                .as_i64()
                .cmp(&a["created"].as_i64())
                .then_with(|| b["id"].as_str().cmp(&a["id"].as_str()))
        });
        items
    };
    let data = match operation.as_str() {
        "Proposals" => {
            let all = newest_first(
                inner
                    .proposals
                    .iter()
                    .filter(|p| {
                        p["space"]["id"] == space && p["created"].as_i64().unwrap() < created_lt
                    })
                    .collect(),
            );
            json!({"proposals": all.into_iter().skip(skip).take(first).collect::<Vec<_>>()})
        }
        "Votes" => {
            let proposal = variables["proposal"].as_str().unwrap_or("");
            let of_proposal: Vec<&Value> = inner
                .votes
                .iter()
                .filter(|v| v["space"]["id"] == space && v["proposal"]["id"] == proposal)
                .collect();
            let below = |lt: i64| {
                newest_first(
                    of_proposal
                        .iter()
                        .copied()
                        .filter(|v| v["created"].as_i64().unwrap() < lt)
                        .collect(),
                )
            };
            let mut page: Vec<Value> = match mode {
                Mode::Conflicting => {
                    // Up to two votes already sent (newer than the cursor) lead the page,
                    // then the page proper, shuffled; still at most `first` items.
                    let repeats: Vec<Value> = if created_lt == i32::MAX as i64 {
                        Vec::new()
                    } else {
                        let newer = newest_first(
                            of_proposal
                                .iter()
                                .copied()
                                .filter(|v| v["created"].as_i64().unwrap() >= created_lt)
                                .collect(),
                        );
                        newer
                            .into_iter()
                            .rev()
                            .take(2.min(first.saturating_sub(1)))
                            .collect()
                    };
                    let room = first - repeats.len();
                    let mut page: Vec<Value> = repeats;
                    page.extend(below(created_lt).into_iter().skip(skip).take(room));
                    // A fixed shuffle: reverse, then rotate by one.
                    page.reverse();
                    if page.len() > 1 {
                        page.rotate_left(1);
                    }
                    page
                }
                _ => below(created_lt)
                    .into_iter()
                    .skip(skip)
                    .take(first)
                    .collect(),
            };
            if mode == Mode::Garbage(Garbage::BadSignatures) {
                for vote in &mut page {
                    let choice = vote["choice"].as_u64().unwrap_or(1);
                    vote["choice"] = json!(choice % 3 + 1);
                }
            }
            json!({"votes": page})
        }
        other => {
            return text_response(
                StatusCode::OK,
                json!({"errors": [{"message": format!("unknown operation {other:?}")}]})
                    .to_string(),
            )
        }
    };
    text_response(StatusCode::OK, json!({"data": data}).to_string())
}
