//! The envelope every privileged message travels in (docs/PROTOCOL.md, "Envelope"):
//!
//! ```text
//! version u8 = 1
//! token_len u16 BE, token (1..=TOKEN_BYTES_MAX bytes: the sender's access token)
//! nonce [u8; 16]
//! timestamp_unix_ms u64 BE
//! payload (the rest: a proposal, a share, a vote)
//! ```
//!
//! The sender's node key signs the whole envelope: it is the data of a gossipsub message
//! published in Strict mode, whose signature covers source, data, sequence number and
//! topic. So "signed by the sender's node key" and "token holder = libp2p source" are one
//! check against the message's verified source.

use super::token::TOKEN_BYTES_MAX;

pub const VERSION: u8 = 1;
pub const NONCE_BYTES: usize = 16;
/// Envelope bytes around the payload, at most.
pub const OVERHEAD_BYTES_MAX: usize = 1 + 2 + TOKEN_BYTES_MAX + NONCE_BYTES + 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Envelope<'a> {
    pub token: &'a [u8],
    pub nonce: [u8; NONCE_BYTES],
    pub timestamp_unix_ms: u64,
    pub payload: &'a [u8],
}

/// Every variant is a fault of the bytes (the topic name fixes the envelope version).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("truncated at {0}")]
    Truncated(&'static str),
    #[error("version {0} is not supported")]
    UnsupportedVersion(u8),
    #[error("token length {0} is outside 1..={TOKEN_BYTES_MAX}")]
    TokenLength(usize),
}

impl<'a> Envelope<'a> {
    pub fn encode(&self) -> Vec<u8> {
        assert!(
            !self.token.is_empty() && self.token.len() <= TOKEN_BYTES_MAX,
            "the sender's own token fits the wire limit"
        );
        let mut out =
            Vec::with_capacity(1 + 2 + self.token.len() + NONCE_BYTES + 8 + self.payload.len());
        out.push(VERSION);
        out.extend_from_slice(&(self.token.len() as u16).to_be_bytes());
        out.extend_from_slice(self.token);
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(&self.timestamp_unix_ms.to_be_bytes());
        out.extend_from_slice(self.payload);
        out
    }

    /// Never panics; checks each length before slicing.
    pub fn decode(bytes: &'a [u8]) -> Result<Envelope<'a>, EnvelopeError> {
        let (&version, rest) = bytes
            .split_first()
            .ok_or(EnvelopeError::Truncated("version"))?;
        if version != VERSION {
            return Err(EnvelopeError::UnsupportedVersion(version));
        }
        let (len, rest) = split(rest, 2, "token_len")?;
        let token_len = u16::from_be_bytes([len[0], len[1]]) as usize;
        if token_len == 0 || token_len > TOKEN_BYTES_MAX {
            return Err(EnvelopeError::TokenLength(token_len));
        }
        let (token, rest) = split(rest, token_len, "token")?;
        let (nonce, rest) = split(rest, NONCE_BYTES, "nonce")?;
        let (timestamp, payload) = split(rest, 8, "timestamp")?;
        Ok(Envelope {
            token,
            nonce: nonce.try_into().expect("split gave NONCE_BYTES"),
            timestamp_unix_ms: u64::from_be_bytes(timestamp.try_into().expect("split gave 8")),
            payload,
        })
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

    #[test]
    fn round_trips_and_refuses_every_truncation() {
        let envelope = Envelope {
            token: &[7; 300],
            nonce: [9; 16],
            timestamp_unix_ms: 1_700_000_000_123,
            payload: b"payload",
        };
        let bytes = envelope.encode();
        assert_eq!(Envelope::decode(&bytes), Ok(envelope));
        let header = 1 + 2 + 300 + 16 + 8;
        for cut in 0..header {
            assert!(Envelope::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        assert_eq!(Envelope::decode(&bytes[..header]).unwrap().payload, b"");
    }

    #[test]
    fn refuses_bad_version_and_token_lengths() {
        assert_eq!(
            Envelope::decode(&[2, 0, 1, 0]),
            Err(EnvelopeError::UnsupportedVersion(2))
        );
        assert_eq!(
            Envelope::decode(&[1, 0, 0]),
            Err(EnvelopeError::TokenLength(0))
        );
        let too_long = (TOKEN_BYTES_MAX as u16 + 1).to_be_bytes();
        assert_eq!(
            Envelope::decode(&[1, too_long[0], too_long[1]]),
            Err(EnvelopeError::TokenLength(TOKEN_BYTES_MAX + 1))
        );
    }

    #[test]
    fn random_bytes_never_panic() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        for _ in 0..20_000 {
            let len = rng.gen_range(0..64);
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            if !bytes.is_empty() && rng.gen_bool(0.5) {
                bytes[0] = VERSION;
            }
            let _ = Envelope::decode(&bytes);
        }
    }
}
