//! Probe wire format, version 1 (docs/PROTOCOL.md, "Probe").
//!
//! ```text
//! offset  size  field
//!      0     1  version               = 1
//!      1     8  sequence              u64 big-endian, per author, starts at 0
//!      9     8  published_at_unix_ms  u64 big-endian, author's wall clock
//!     17     2  body_len              u16 big-endian, at most BODY_BYTES_MAX
//!     19     n  body                  opaque padding, n = body_len
//! ```
//!
//! The length is checked against the limit before anything is allocated, and trailing
//! bytes are an error: one message has exactly one encoding.

/// Version byte this build writes and accepts.
pub const VERSION: u8 = 1;
/// Fixed header size in bytes.
pub const HEADER_BYTES: usize = 19;
/// Largest padding body a probe may carry.
pub const BODY_BYTES_MAX: usize = 1024;
/// Largest encoded probe.
pub const MESSAGE_BYTES_MAX: usize = HEADER_BYTES + BODY_BYTES_MAX;

/// A decoded probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub sequence: u64,
    pub published_at_unix_ms: u64,
    pub body: Vec<u8>,
}

/// Why bytes are not a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("{0} bytes is shorter than the {HEADER_BYTES}-byte header")]
    Truncated(usize),
    #[error("version {0} is not supported (this build speaks {VERSION})")]
    UnsupportedVersion(u8),
    #[error("body of {0} bytes exceeds {BODY_BYTES_MAX}")]
    BodyTooLarge(usize),
    #[error("declared body of {declared} bytes but {actual} bytes follow the header")]
    LengthMismatch { declared: usize, actual: usize },
}

impl Probe {
    pub fn encode(&self) -> Vec<u8> {
        assert!(self.body.len() <= BODY_BYTES_MAX, "probe body over limit");
        let mut out = Vec::with_capacity(HEADER_BYTES + self.body.len());
        out.push(VERSION);
        out.extend_from_slice(&self.sequence.to_be_bytes());
        out.extend_from_slice(&self.published_at_unix_ms.to_be_bytes());
        out.extend_from_slice(&(self.body.len() as u16).to_be_bytes());
        out.extend_from_slice(&self.body);
        debug_assert_eq!(Probe::decode(&out).as_ref(), Ok(self));
        out
    }

    /// Decodes untrusted bytes. Never panics; allocates only after the length is checked.
    pub fn decode(bytes: &[u8]) -> Result<Probe, WireError> {
        if bytes.len() < HEADER_BYTES {
            return Err(WireError::Truncated(bytes.len()));
        }
        if bytes[0] != VERSION {
            return Err(WireError::UnsupportedVersion(bytes[0]));
        }
        let u64_at = |at: usize| {
            let mut word = [0u8; 8];
            word.copy_from_slice(&bytes[at..at + 8]);
            u64::from_be_bytes(word)
        };
        let body_len = u16::from_be_bytes([bytes[17], bytes[18]]) as usize;
        if body_len > BODY_BYTES_MAX {
            return Err(WireError::BodyTooLarge(body_len));
        }
        let actual = bytes.len() - HEADER_BYTES;
        if actual != body_len {
            return Err(WireError::LengthMismatch {
                declared: body_len,
                actual,
            });
        }
        Ok(Probe {
            sequence: u64_at(1),
            published_at_unix_ms: u64_at(9),
            body: bytes[HEADER_BYTES..].to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(body_len: usize) -> Probe {
        Probe {
            sequence: 7,
            published_at_unix_ms: 1_700_000_000_123,
            body: vec![0xab; body_len],
        }
    }

    #[test]
    fn round_trips_at_both_size_ends() {
        for len in [0, 1, BODY_BYTES_MAX] {
            let p = probe(len);
            let bytes = p.encode();
            assert_eq!(bytes.len(), HEADER_BYTES + len);
            assert_eq!(Probe::decode(&bytes), Ok(p));
        }
        assert_eq!(probe(BODY_BYTES_MAX).encode().len(), MESSAGE_BYTES_MAX);
    }

    #[test]
    fn rejects_every_malformed_shape() {
        let good = probe(4).encode();
        assert_eq!(Probe::decode(&[]), Err(WireError::Truncated(0)));
        assert_eq!(
            Probe::decode(&good[..HEADER_BYTES - 1]),
            Err(WireError::Truncated(HEADER_BYTES - 1))
        );
        let mut wrong_version = good.clone();
        wrong_version[0] = 2;
        assert_eq!(
            Probe::decode(&wrong_version),
            Err(WireError::UnsupportedVersion(2))
        );
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(
            Probe::decode(&trailing),
            Err(WireError::LengthMismatch {
                declared: 4,
                actual: 5
            })
        );
        let mut huge = good[..HEADER_BYTES].to_vec();
        huge[17] = 0xff;
        huge[18] = 0xff;
        assert_eq!(Probe::decode(&huge), Err(WireError::BodyTooLarge(0xffff)));
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics() {
        // A deterministic sweep of lengths and byte patterns, including every version byte.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        for len in 0..(HEADER_BYTES * 3) {
            for _ in 0..64 {
                let bytes: Vec<u8> = crate::test_bytes::pseudo_random(&mut state, len);
                let _ = Probe::decode(&bytes);
            }
        }
    }
}
