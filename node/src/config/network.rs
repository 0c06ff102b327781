//! `[network]`: where the node listens, whom it dials first, and its connection limits.

use libp2p::multiaddr::Protocol;
use libp2p::Multiaddr;
use serde::{Deserialize, Serialize};

use super::{within, FieldError};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSection {
    pub listen: Vec<Multiaddr>,
    pub bootstrap: Vec<Multiaddr>,
    pub mdns: bool,
    pub idle_connection_timeout_s: u64,
    pub limits: LimitsSection,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    pub established_total_max: u32,
    pub established_per_peer_max: u32,
    pub pending_incoming_max: u32,
    pub pending_outgoing_max: u32,
    pub validations_inflight_max: usize,
}

impl NetworkSection {
    /// Addresses the node can use, and limits that let it accept a connection at all
    /// without turning into allocations.
    pub(super) fn check(&self) -> Result<(), FieldError> {
        if self.listen.is_empty() {
            return Err(FieldError::new(
                "network.listen",
                "needs at least one address, e.g. \"/ip4/0.0.0.0/tcp/4801\"",
            ));
        }
        for (index, address) in self.listen.iter().enumerate() {
            let transport_ok = address
                .iter()
                .any(|p| matches!(p, Protocol::Tcp(_) | Protocol::QuicV1));
            if !transport_ok {
                return Err(FieldError::new(
                    format!("network.listen[{index}]"),
                    format!("`{address}` names no tcp or quic-v1 port; expected e.g. \"/ip4/0.0.0.0/tcp/4801\" or \"/ip4/0.0.0.0/udp/4801/quic-v1\""),
                ));
            }
        }
        for (index, address) in self.bootstrap.iter().enumerate() {
            if !matches!(address.iter().last(), Some(Protocol::P2p(_))) {
                return Err(FieldError::new(
                    format!("network.bootstrap[{index}]"),
                    format!("`{address}` must end in /p2p/<peer id> so the node can authenticate the peer it dials"),
                ));
            }
        }
        let limits = &self.limits;
        for (field, value) in [
            (
                "network.limits.established_total_max",
                limits.established_total_max as usize,
            ),
            (
                "network.limits.established_per_peer_max",
                limits.established_per_peer_max as usize,
            ),
            (
                "network.limits.pending_incoming_max",
                limits.pending_incoming_max as usize,
            ),
            (
                "network.limits.pending_outgoing_max",
                limits.pending_outgoing_max as usize,
            ),
            (
                "network.limits.validations_inflight_max",
                limits.validations_inflight_max,
            ),
        ] {
            if value == 0 {
                return Err(FieldError::new(field, "must be at least 1"));
            }
        }
        for (field, value, min, max) in [
            (
                "network.idle_connection_timeout_s",
                self.idle_connection_timeout_s,
                1,
                86_400,
            ),
            (
                "network.limits.established_total_max",
                limits.established_total_max as u64,
                1,
                100_000,
            ),
            (
                "network.limits.validations_inflight_max",
                limits.validations_inflight_max as u64,
                1,
                1 << 20,
            ),
        ] {
            within(field, value, min, max)?;
        }
        Ok(())
    }
}
