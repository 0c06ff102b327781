//! What an RPC costs on the wire, estimated from libp2p's encodings: the model sends no
//! bytes, but the cost figures (bytes per node per minute, by class) need them.
//!
//! An estimate, not a measurement: the protobuf of gossipsub 0.50 with its default
//! message id (base58 of the author's PeerId, 52 characters, then the sequence number in
//! decimal, up to 20), the author's Ed25519 key inlined in its PeerId (no `key` field), and
//! each RPC in one yamux frame (12-byte header) inside one noise frame (2-byte length,
//! 16-byte tag). IDONTWANT is not modelled (upstream sends it only for messages over
//! 1,000 bytes). The figures compare classes within one run, where the same estimate
//! applies to all of them.

use super::{MessageId, Rpc};

/// Per RPC: yamux header, noise length and tag, the RPC's own length prefix.
const FRAME_BYTES: u64 = 12 + 2 + 16 + 2;
/// A published message beyond its data and topic: `from` (38-byte PeerId), `seqno`
/// (8 bytes), the 64-byte signature, field tags and lengths, and its place in the RPC.
const MESSAGE_FIXED_BYTES: u64 = (2 + 38) + (2 + 8) + (2 + 64) + 2 + 2 + 3;
/// A message id as gossipsub's default names it: base58 PeerId and decimal seqno.
const MESSAGE_ID_BYTES: u64 = 52 + 20 + 2;
/// A control entry beyond its topic (tags, lengths, the control wrapper).
const CONTROL_FIXED_BYTES: u64 = 6;

/// Bytes `rpc` takes on the wire.
pub fn rpc_wire_bytes(rpc: &Rpc) -> u64 {
    let topic = |topic: &str| topic.len() as u64 + 2;
    let ids = |ids: &[MessageId]| ids.len() as u64 * MESSAGE_ID_BYTES;
    FRAME_BYTES
        + match rpc {
            Rpc::Message(message) => {
                MESSAGE_FIXED_BYTES + message.data.len() as u64 + 4 + topic(message.topic)
            }
            Rpc::Subscribe { topics } => topics.iter().map(|t| topic(t) + 4).sum(),
            Rpc::IHave {
                topic: t,
                ids: list,
            } => CONTROL_FIXED_BYTES + topic(t) + ids(list),
            Rpc::IWant { ids: list } => CONTROL_FIXED_BYTES + ids(list),
            Rpc::Graft { topic: t } => CONTROL_FIXED_BYTES + topic(t),
            // Upstream's PRUNE carries the backoff (a varint) and no peer exchange here.
            Rpc::Prune { topic: t } => CONTROL_FIXED_BYTES + topic(t) + 3,
        }
}
