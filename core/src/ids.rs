//! The shared types every protocol core speaks: who a peer is, and what a core decided
//! about a message from the network.
//!
//! Nothing here names libp2p: the node converts a `PeerId` to a [`PeerKey`] at the socket,
//! and the simulator makes its own, so the same cores run in both.

use std::fmt;

/// Identity of a peer as the network reports it: the bytes of its libp2p `PeerId`.
/// Opaque to protocol code; the node converts it back for display.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerKey(pub Vec<u8>);

impl fmt::Debug for PeerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerKey(")?;
        for byte in self.0.iter().rev().take(6).rev() {
            write!(f, "{byte:02x}")?;
        }
        write!(f, ")")
    }
}

/// What a core decided about a message from the network; the shell hands it to gossipsub.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Valid: deliver and forward to the mesh.
    Accept,
    /// Invalid: do not forward; gossipsub's P4 score penalty hits the propagation source.
    Reject { reason: &'static str },
    /// Not invalid but not worth forwarding (for example, the owner is overloaded);
    /// no penalty.
    Ignore { reason: &'static str },
}
