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

/// Node-key signatures (ed25519 in the node, through libp2p's identity keys). The core
/// never sees a key type: the node, the simulator and tests each bring their own.
pub trait SignatureCheck {
    /// Does `signature` over `message` verify under `signer`'s node key?
    fn verify(&self, signer: &PeerKey, message: &[u8], signature: &[u8]) -> bool;
}

/// This node's own key, for its envelopes, attestations, opens and votes.
pub trait NodeSigner: SignatureCheck {
    fn signer(&self) -> &PeerKey;
    fn sign(&self, message: &[u8]) -> Vec<u8>;
}

/// What a core decided about a message from the network; the shell hands it to gossipsub.
///
/// The rule (docs/PROTOCOL.md, "Gossip verdicts: REJECT and IGNORE"): Reject only a message
/// that is invalid in itself, one every honest node refuses whatever its clock, the order
/// messages reached it in, or what else it holds. Everything else is Ignore. A Reject
/// costs the peer that handed the message over (often an honest relay) the P4 penalty,
/// and three graylist it; so a refusal that depends on the receiver must never be one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Valid: deliver and forward to the mesh.
    Accept,
    /// Invalid in itself: do not forward; gossipsub's P4 score penalty hits the
    /// propagation source.
    Reject { reason: &'static str },
    /// Not acceptable here and now (stale, a replay, already known, no room), or the node
    /// is overloaded: do not forward; no penalty.
    Ignore { reason: &'static str },
}

impl Verdict {
    /// A refusal: Reject when the message is invalid in itself, else Ignore. Each core's
    /// refusal type decides `invalid_in_itself` in one `match`, so the verdict table and
    /// the code cannot drift apart.
    pub fn refused(reason: &'static str, invalid_in_itself: bool) -> Verdict {
        if invalid_in_itself {
            Verdict::Reject { reason }
        } else {
            Verdict::Ignore { reason }
        }
    }

    /// The refusal reason, `None` for Accept.
    pub fn reason(self) -> Option<&'static str> {
        match self {
            Verdict::Accept => None,
            Verdict::Reject { reason } | Verdict::Ignore { reason } => Some(reason),
        }
    }
}
