//! The envelope every privileged message travels in (docs/PROTOCOL.md, "Envelope"):
//!
//! ```text
//! version u8 = 2
//! holder_len u8, holder (1..=HOLDER_BYTES_MAX bytes: the sender's PeerId)
//! token_len u16 BE, token (1..=TOKEN_BYTES_MAX bytes: the sender's access token)
//! nonce [u8; 16]
//! timestamp_unix_ms u64 BE
//! signature_len u8, signature (1..=SIGNATURE_BYTES_MAX bytes)
//! payload (the rest: a proposal, a share, a ballot message)
//! ```
//!
//! The holder's node key signs `"x0/1/envelope" | topic_len u8 | topic |` every field but
//! the signature. So an envelope proves its sender by itself, whoever carries it: a gossip
//! relay, or a peer serving it to a node catching up (sync) long after. Version 1 bound the
//! sender to the gossip message's signed source instead, which only gossip carries.

use super::token::TOKEN_BYTES_MAX;
use crate::ids::{NodeSigner, PeerKey, SignatureCheck};

pub const VERSION: u8 = 2;
pub const NONCE_BYTES: usize = 16;
/// A libp2p PeerId's bytes, at most (an identity multihash of a 32-byte ed25519 key is 38).
pub const HOLDER_BYTES_MAX: usize = 64;
/// A node-key signature's bytes, at most (ed25519 is 64).
pub const SIGNATURE_BYTES_MAX: usize = 128;
/// Envelope bytes around the payload, at most.
pub const OVERHEAD_BYTES_MAX: usize =
    1 + 1 + HOLDER_BYTES_MAX + 2 + TOKEN_BYTES_MAX + NONCE_BYTES + 8 + 1 + SIGNATURE_BYTES_MAX;

const DOMAIN: &[u8] = b"x0/1/envelope";

/// What a sender seals: its token, a fresh nonce, its clock, the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Envelope<'a> {
    pub token: &'a [u8],
    pub nonce: [u8; NONCE_BYTES],
    pub timestamp_unix_ms: u64,
    pub payload: &'a [u8],
}

/// An envelope as read from the wire: who claims to have sealed it, and the signature that
/// must prove it ([`Sealed::verify`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sealed<'a> {
    pub holder: &'a [u8],
    pub envelope: Envelope<'a>,
    pub signature: &'a [u8],
}

/// Every variant is a fault of the bytes (the topic name fixes the envelope version).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("truncated at {0}")]
    Truncated(&'static str),
    #[error("version {0} is not supported")]
    UnsupportedVersion(u8),
    #[error("holder length {0} is outside 1..={HOLDER_BYTES_MAX}")]
    HolderLength(usize),
    #[error("token length {0} is outside 1..={TOKEN_BYTES_MAX}")]
    TokenLength(usize),
    #[error("signature length {0} is outside 1..={SIGNATURE_BYTES_MAX}")]
    SignatureLength(usize),
}

impl<'a> Envelope<'a> {
    /// The envelope on `topic`, signed by `signer` (the token's holder).
    pub fn seal(&self, topic: &str, signer: &impl NodeSigner) -> Vec<u8> {
        let holder = signer.signer();
        let signature = signer.sign(&signed_message(topic, &holder.0, self));
        Sealed {
            holder: &holder.0,
            envelope: *self,
            signature: &signature,
        }
        .encode()
    }
}

/// What the holder signs: the domain, the topic, then every field but the signature.
fn signed_message(topic: &str, holder: &[u8], envelope: &Envelope<'_>) -> Vec<u8> {
    assert!(topic.len() <= usize::from(u8::MAX), "topic names are short");
    let mut out = Vec::with_capacity(
        DOMAIN.len() + 1 + topic.len() + OVERHEAD_BYTES_MAX + envelope.payload.len(),
    );
    out.extend_from_slice(DOMAIN);
    out.push(topic.len() as u8);
    out.extend_from_slice(topic.as_bytes());
    out.push(VERSION);
    put_fields(&mut out, holder, envelope);
    out.extend_from_slice(envelope.payload);
    out
}

/// holder_len | holder | token_len | token | nonce | timestamp
fn put_fields(out: &mut Vec<u8>, holder: &[u8], envelope: &Envelope<'_>) {
    out.push(holder.len() as u8);
    out.extend_from_slice(holder);
    out.extend_from_slice(&(envelope.token.len() as u16).to_be_bytes());
    out.extend_from_slice(envelope.token);
    out.extend_from_slice(&envelope.nonce);
    out.extend_from_slice(&envelope.timestamp_unix_ms.to_be_bytes());
}

impl<'a> Sealed<'a> {
    pub fn encode(&self) -> Vec<u8> {
        let envelope = &self.envelope;
        assert!(
            !envelope.token.is_empty() && envelope.token.len() <= TOKEN_BYTES_MAX,
            "the sender's own token fits the wire limit"
        );
        assert!(
            !self.holder.is_empty() && self.holder.len() <= HOLDER_BYTES_MAX,
            "a PeerId fits the wire limit"
        );
        assert!(
            !self.signature.is_empty() && self.signature.len() <= SIGNATURE_BYTES_MAX,
            "a node-key signature fits the wire limit"
        );
        let mut out = Vec::with_capacity(OVERHEAD_BYTES_MAX + envelope.payload.len());
        out.push(VERSION);
        put_fields(&mut out, self.holder, envelope);
        out.push(self.signature.len() as u8);
        out.extend_from_slice(self.signature);
        out.extend_from_slice(envelope.payload);
        out
    }

    /// Never panics; checks each length before slicing.
    pub fn decode(bytes: &'a [u8]) -> Result<Sealed<'a>, EnvelopeError> {
        let (&version, rest) = bytes
            .split_first()
            .ok_or(EnvelopeError::Truncated("version"))?;
        if version != VERSION {
            return Err(EnvelopeError::UnsupportedVersion(version));
        }
        let (len, rest) = split(rest, 1, "holder_len")?;
        let holder_len = usize::from(len[0]);
        if holder_len == 0 || holder_len > HOLDER_BYTES_MAX {
            return Err(EnvelopeError::HolderLength(holder_len));
        }
        let (holder, rest) = split(rest, holder_len, "holder")?;
        let (len, rest) = split(rest, 2, "token_len")?;
        let token_len = u16::from_be_bytes([len[0], len[1]]) as usize;
        if token_len == 0 || token_len > TOKEN_BYTES_MAX {
            return Err(EnvelopeError::TokenLength(token_len));
        }
        let (token, rest) = split(rest, token_len, "token")?;
        let (nonce, rest) = split(rest, NONCE_BYTES, "nonce")?;
        let (timestamp, rest) = split(rest, 8, "timestamp")?;
        let (len, rest) = split(rest, 1, "signature_len")?;
        let signature_len = usize::from(len[0]);
        if signature_len == 0 || signature_len > SIGNATURE_BYTES_MAX {
            return Err(EnvelopeError::SignatureLength(signature_len));
        }
        let (signature, payload) = split(rest, signature_len, "signature")?;
        Ok(Sealed {
            holder,
            envelope: Envelope {
                token,
                nonce: nonce.try_into().expect("split gave NONCE_BYTES"),
                timestamp_unix_ms: u64::from_be_bytes(timestamp.try_into().expect("split gave 8")),
                payload,
            },
            signature,
        })
    }

    pub fn holder(&self) -> PeerKey {
        PeerKey(self.holder.to_vec())
    }

    /// Whether the holder's node key signed this envelope for `topic`.
    pub fn verify(&self, topic: &str, check: &impl SignatureCheck) -> bool {
        topic.len() <= usize::from(u8::MAX)
            && check.verify(
                &self.holder(),
                &signed_message(topic, self.holder, &self.envelope),
                self.signature,
            )
    }
}

fn split<'a>(
    bytes: &'a [u8],
    len: usize,
    field: &'static str,
) -> Result<(&'a [u8], &'a [u8]), EnvelopeError> {
    if bytes.len() < len {
        return Err(EnvelopeError::Truncated(field));
    }
    Ok(bytes.split_at(len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_bytes::TestSigner;

    fn envelope() -> Envelope<'static> {
        Envelope {
            token: &[7; 300],
            nonce: [9; 16],
            timestamp_unix_ms: 1_700_000_000_123,
            payload: b"payload",
        }
    }

    #[test]
    fn round_trips_verifies_and_refuses_every_truncation() {
        let signer = TestSigner::new(1);
        let bytes = envelope().seal("/x0/1/shares", &signer);
        let sealed = Sealed::decode(&bytes).unwrap();
        assert_eq!(sealed.envelope, envelope());
        assert_eq!(sealed.holder(), *signer.signer());
        assert!(sealed.verify("/x0/1/shares", &signer));
        let header = bytes.len() - b"payload".len();
        for cut in 0..header {
            assert!(Sealed::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        assert_eq!(
            Sealed::decode(&bytes[..header]).unwrap().envelope.payload,
            b""
        );
    }

    #[test]
    fn the_signature_binds_topic_holder_and_every_field() {
        let signer = TestSigner::new(1);
        let other = TestSigner::new(2);
        let bytes = envelope().seal("/x0/1/shares", &signer);
        // Another topic: a share's envelope cannot be replayed as a proposal's.
        assert!(!Sealed::decode(&bytes)
            .unwrap()
            .verify("/x0/1/proposals", &signer));
        // Every byte but the signature's own is covered (flipping a signature byte is
        // covered too: the signature no longer verifies).
        for at in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0x01;
            if let Ok(sealed) = Sealed::decode(&flipped) {
                assert!(!sealed.verify("/x0/1/shares", &signer), "byte {at}");
            }
        }
        // Another key claiming the holder's name: its signature does not verify.
        let sealed = Sealed::decode(&bytes).unwrap();
        let forged_signature = other.sign(b"anything");
        let forged = Sealed {
            signature: &forged_signature,
            ..sealed
        }
        .encode();
        assert!(!Sealed::decode(&forged)
            .unwrap()
            .verify("/x0/1/shares", &signer));
    }

    #[test]
    fn refuses_bad_version_and_lengths() {
        assert_eq!(
            Sealed::decode(&[1, 0, 1, 0]),
            Err(EnvelopeError::UnsupportedVersion(1))
        );
        assert_eq!(
            Sealed::decode(&[VERSION, 0]),
            Err(EnvelopeError::HolderLength(0))
        );
        assert_eq!(
            Sealed::decode(&[VERSION, HOLDER_BYTES_MAX as u8 + 1]),
            Err(EnvelopeError::HolderLength(HOLDER_BYTES_MAX + 1))
        );
        assert_eq!(
            Sealed::decode(&[VERSION, 1, 5, 0, 0]),
            Err(EnvelopeError::TokenLength(0))
        );
        let too_long = (TOKEN_BYTES_MAX as u16 + 1).to_be_bytes();
        assert_eq!(
            Sealed::decode(&[VERSION, 1, 5, too_long[0], too_long[1]]),
            Err(EnvelopeError::TokenLength(TOKEN_BYTES_MAX + 1))
        );
        let mut no_signature = vec![VERSION, 1, 5, 0, 1, 7];
        no_signature.extend_from_slice(&[0; NONCE_BYTES + 8]);
        no_signature.push(0);
        assert_eq!(
            Sealed::decode(&no_signature),
            Err(EnvelopeError::SignatureLength(0))
        );
    }

    #[test]
    fn random_bytes_never_panic() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        for _ in 0..20_000 {
            let len = rng.gen_range(0..96);
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            if !bytes.is_empty() && rng.gen_bool(0.5) {
                bytes[0] = VERSION;
            }
            if bytes.len() > 1 && rng.gen_bool(0.5) {
                bytes[1] = rng.gen_range(1..8);
            }
            let _ = Sealed::decode(&bytes);
        }
    }
}
