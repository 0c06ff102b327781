//! `[http]`: the HTTP endpoint's address and the bounds that keep a slow or greedy client
//! from holding it.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::{in_range, FieldError};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSection {
    pub bind: SocketAddr,
    /// A connection must deliver a complete request header within this long, ms (also
    /// between requests on a kept-alive connection), or it is closed: a client that sends
    /// its header a byte at a time cannot hold a connection.
    pub header_read_timeout_ms: u64,
    /// A request, its body included, is answered within this long or gets 408, ms.
    pub request_timeout_ms: u64,
    /// Connections open at once, at most; one more gets 503 and is closed.
    pub connections_max: usize,
}

impl HttpSection {
    pub(super) fn check(&self) -> Result<(), FieldError> {
        in_range(
            "http.header_read_timeout_ms",
            self.header_read_timeout_ms,
            100,
            60_000,
        )?;
        in_range(
            "http.request_timeout_ms",
            self.request_timeout_ms,
            100,
            600_000,
        )?;
        in_range(
            "http.connections_max",
            self.connections_max as u64,
            1,
            4_096,
        )
    }
}
