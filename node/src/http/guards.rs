//! What keeps the endpoint its operator's and bounded, whatever reaches it.
//!
//! * **Writes name this machine.** A web page the operator opens can point its own host
//!   name at 127.0.0.1 (DNS rebinding) and then POST to the node as a loopback client;
//!   its requests still carry the page's host name in `Host`. So every request that is
//!   not GET or HEAD needs a `Host` (and, in absolute form, a request target) of
//!   `localhost`, 127.0.0.0/8 or `[::1]`, any port; else 403.
//! * **Bounded clients.** A complete request header within `http.header_read_timeout_ms`
//!   (hyper closes the connection otherwise, also when it idles between requests), an
//!   answer within `http.request_timeout_ms` (408), at most `http.connections_max`
//!   connections (one more gets 503 and is closed).
//!
//! Each refusal counts in `x0_http_refused_total{reason}`.

use std::net::IpAddr;

use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use super::error;

/// Why a request or connection was refused (the `reason` label).
pub mod reason {
    /// A write whose `Host` (or absolute request target) is not this machine.
    pub const HOST_NOT_LOOPBACK: &str = "host_not_loopback";
    /// No complete request header within `http.header_read_timeout_ms` (idle kept-alive
    /// connections included).
    pub const HEADER_TIMEOUT: &str = "header_timeout";
    /// No answer within `http.request_timeout_ms` (408).
    pub const REQUEST_TIMEOUT: &str = "request_timeout";
    /// `http.connections_max` connections were open (503, closed).
    pub const CONNECTIONS_MAX: &str = "connections_max";
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

/// `x0_http_refused_total{reason}`.
#[derive(Clone)]
pub struct HttpMetrics {
    refused: Family<ReasonLabel, Counter>,
}

impl HttpMetrics {
    /// Registers the family in `registry` (the node passes its `x0` sub-registry).
    pub fn register(registry: &mut Registry) -> HttpMetrics {
        let metrics = HttpMetrics {
            refused: Family::default(),
        };
        registry.register(
            "http_refused",
            "HTTP requests and connections the endpoint refused, by reason (host_not_loopback, header_timeout, request_timeout, connections_max)",
            metrics.refused.clone(),
        );
        metrics
    }

    pub fn refused(&self, reason: &'static str) {
        self.refused.get_or_create(&ReasonLabel { reason }).inc();
    }
}

/// Is `authority` (a `Host` value, or a request target's authority) this machine:
/// `localhost`, an address in 127.0.0.0/8, or `[::1]`, with or without a port? Nothing
/// else, not even a name that resolves to loopback: the name is what a rebinding page
/// cannot change.
pub fn is_loopback_authority(authority: &str) -> bool {
    // `user@host` is not a Host value; refuse it rather than guess which part counts.
    if authority.contains('@') {
        return false;
    }
    let Ok(authority) = authority.parse::<axum::http::uri::Authority>() else {
        return false;
    };
    let host = authority.host();
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// GET and HEAD read; every other method may change state.
fn is_write(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD)
}

/// The outermost layer: refuses a write that does not name this machine (before its body
/// is read), and counts the 408s of the timeout layer inside it.
pub(super) async fn guard(
    State(metrics): State<HttpMetrics>,
    request: Request,
    next: Next,
) -> Response {
    if is_write(request.method()) {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|value| value.to_str().ok());
        let target = request.uri().authority().map(|a| a.as_str());
        let local =
            host.is_some_and(is_loopback_authority) && target.is_none_or(is_loopback_authority);
        if !local {
            metrics.refused(reason::HOST_NOT_LOOPBACK);
            return error(
                StatusCode::FORBIDDEN,
                "writes are accepted only with a Host header naming this machine (localhost, 127.0.0.0/8 or [::1], any port): call the API as http://127.0.0.1:<port>",
            );
        }
    }
    let response = next.run(request).await;
    if response.status() == StatusCode::REQUEST_TIMEOUT {
        metrics.refused(reason::REQUEST_TIMEOUT);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_authorities() {
        for local in [
            "localhost",
            "LOCALHOST:9480",
            "127.0.0.1",
            "127.0.0.1:9480",
            "127.8.9.10:1",
            "[::1]",
            "[::1]:9480",
        ] {
            assert!(is_loopback_authority(local), "{local}");
        }
        for remote in [
            "",
            "evil.example",
            "evil.example:9480",
            "localhost.evil.example",
            "127.0.0.1.evil.example",
            "x.localhost",
            "10.0.0.1:9480",
            "0.0.0.0:9480",
            "[::]:9480",
            "[::ffff:127.0.0.1]",
            "evil@127.0.0.1",
            "127.1",
            "::1",
        ] {
            assert!(!is_loopback_authority(remote), "{remote}");
        }
    }
}
