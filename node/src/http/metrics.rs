//! `GET /metrics`: the registry, conformed, filtered by the Charter, in the format the
//! scraper asks for. The text conversions are in `x0_actors::exposition`, which the
//! Charter's actor uses on the same text.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use x0_actors::charter::FilterExport;
use x0_actors::exposition::{
    conform_openmetrics, openmetrics_to_classic, wants_openmetrics, OPENMETRICS_CONTENT_TYPE,
    TEXT_CONTENT_TYPE,
};

use super::AppState;

/// `GET /metrics`.
pub(super) async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let mut openmetrics = String::new();
    if let Err(error) = prometheus_client::encoding::text::encode(&mut openmetrics, &state.registry)
    {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding metrics: {error}"),
        )
            .into_response();
    }
    let openmetrics = conform_openmetrics(&openmetrics);
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
    if wants_openmetrics(accept) {
        (
            [(header::CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE)],
            openmetrics,
        )
            .into_response()
    } else {
        (
            [(header::CONTENT_TYPE, TEXT_CONTENT_TYPE)],
            openmetrics_to_classic(&openmetrics),
        )
            .into_response()
    }
}
