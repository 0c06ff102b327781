//! The probe core: makes probes and judges received ones. Sans-IO: `now` is passed in.

use super::wire::{Probe, WireError, BODY_BYTES_MAX};
use crate::ids::Verdict;

/// Limits for judging a probe's timestamp, and the size of probes this node makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeConfig {
    /// How far in the future (receiver's clock) a probe's timestamp may be. Covers clock
    /// skew between honest nodes; beyond it the author's clock or intent is broken.
    pub future_skew_ms_max: u64,
    /// How old a probe may be on arrival. Older ones are replays or hopelessly late, and
    /// their latency would poison the histogram.
    pub age_ms_max: u64,
    /// Padding carried by probes this node publishes, to measure a realistic payload.
    pub body_bytes: usize,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig {
            future_skew_ms_max: 30_000,
            age_ms_max: 60_000,
            body_bytes: 64,
        }
    }
}

/// Why a received probe was refused. `reason` is the metric label; `verdict` what gossipsub
/// is told (docs/PROTOCOL.md, "Gossip verdicts: REJECT and IGNORE").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Malformed,
    UnsupportedVersion,
    Oversize,
    TimestampFuture,
    TimestampStale,
}

impl Refusal {
    /// Every refusal, for the tests that walk the verdict table.
    pub const ALL: [Refusal; 5] = [
        Refusal::Malformed,
        Refusal::UnsupportedVersion,
        Refusal::Oversize,
        Refusal::TimestampFuture,
        Refusal::TimestampStale,
    ];

    pub fn reason(self) -> &'static str {
        match self {
            Refusal::Malformed => "malformed",
            Refusal::UnsupportedVersion => "unsupported_version",
            Refusal::Oversize => "oversize",
            Refusal::TimestampFuture => "timestamp_future",
            Refusal::TimestampStale => "timestamp_stale",
        }
    }

    /// Whether every honest node, whatever its clock, would refuse the probe. The bytes
    /// decide the first three (the topic name fixes the wire version, so another version
    /// on this topic breaks the contract). The timestamp checks read the receiver's clock
    /// and its own `[probe]` limits: a probe fresh at one hop can be stale at the next,
    /// so the relay that forwarded it in good faith must not pay for it.
    pub fn invalid_in_itself(self) -> bool {
        match self {
            Refusal::Malformed | Refusal::UnsupportedVersion | Refusal::Oversize => true,
            Refusal::TimestampFuture | Refusal::TimestampStale => false,
        }
    }

    pub fn verdict(self) -> Verdict {
        Verdict::refused(self.reason(), self.invalid_in_itself())
    }
}

impl From<WireError> for Refusal {
    fn from(error: WireError) -> Self {
        match error {
            WireError::Truncated(_) | WireError::LengthMismatch { .. } => Refusal::Malformed,
            WireError::UnsupportedVersion(_) => Refusal::UnsupportedVersion,
            WireError::BodyTooLarge(_) => Refusal::Oversize,
        }
    }
}

/// A valid probe, with its measured delivery latency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    pub sequence: u64,
    /// Receiver's clock minus author's clock; 0 when skew puts the author slightly ahead.
    pub latency_ms: u64,
}

/// Makes and judges probes.
#[derive(Debug)]
pub struct ProbeCore {
    config: ProbeConfig,
    sequence_next: u64,
}

impl ProbeCore {
    pub fn new(config: ProbeConfig) -> Self {
        assert!(
            config.body_bytes <= BODY_BYTES_MAX,
            "probe body_bytes over limit"
        );
        ProbeCore {
            config,
            sequence_next: 0,
        }
    }

    pub fn config(&self) -> &ProbeConfig {
        &self.config
    }

    /// The next probe to publish, stamped with `now_unix_ms`.
    pub fn next_probe(&mut self, now_unix_ms: u64) -> Vec<u8> {
        let probe = Probe {
            sequence: self.sequence_next,
            published_at_unix_ms: now_unix_ms,
            body: vec![0; self.config.body_bytes],
        };
        self.sequence_next += 1;
        probe.encode()
    }

    /// Judges a received probe at `now_unix_ms`.
    pub fn on_inbound(&self, data: &[u8], now_unix_ms: u64) -> Result<Delivered, Refusal> {
        let probe = Probe::decode(data)?;
        let published = probe.published_at_unix_ms;
        if published > now_unix_ms.saturating_add(self.config.future_skew_ms_max) {
            return Err(Refusal::TimestampFuture);
        }
        let latency_ms = now_unix_ms.saturating_sub(published);
        if latency_ms > self.config.age_ms_max {
            return Err(Refusal::TimestampStale);
        }
        Ok(Delivered {
            sequence: probe.sequence,
            latency_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000_000;

    #[test]
    fn measures_latency_and_counts_sequences() {
        let mut author = ProbeCore::new(ProbeConfig::default());
        let receiver = ProbeCore::new(ProbeConfig::default());
        let first = author.next_probe(NOW);
        let second = author.next_probe(NOW + 10);
        assert_eq!(
            receiver.on_inbound(&first, NOW + 42),
            Ok(Delivered {
                sequence: 0,
                latency_ms: 42
            })
        );
        assert_eq!(receiver.on_inbound(&second, NOW + 10).unwrap().sequence, 1);
    }

    #[test]
    fn skew_within_window_is_zero_latency_beyond_is_rejected() {
        let mut author = ProbeCore::new(ProbeConfig::default());
        let receiver = ProbeCore::new(ProbeConfig::default());
        let ahead = author.next_probe(NOW + 30_000);
        assert_eq!(receiver.on_inbound(&ahead, NOW).unwrap().latency_ms, 0);
        let too_far = author.next_probe(NOW + 30_001);
        assert_eq!(
            receiver.on_inbound(&too_far, NOW),
            Err(Refusal::TimestampFuture)
        );
    }

    #[test]
    fn stale_probes_are_rejected() {
        let mut author = ProbeCore::new(ProbeConfig::default());
        let receiver = ProbeCore::new(ProbeConfig::default());
        let old = author.next_probe(NOW);
        assert!(receiver.on_inbound(&old, NOW + 60_000).is_ok());
        assert_eq!(
            receiver.on_inbound(&old, NOW + 60_001),
            Err(Refusal::TimestampStale)
        );
    }

    /// A probe stamped just inside the age limit passes the first hop and is stale at the
    /// next: the next node ignores it, so the relay that forwarded it in good faith keeps
    /// its score. Broken bytes are the author's fault wherever they land: Reject.
    #[test]
    fn a_probe_stale_by_the_next_hop_is_ignored_and_broken_bytes_rejected() {
        let config = ProbeConfig::default();
        let age_ms_max = config.age_ms_max;
        let mut crafter = ProbeCore::new(config.clone());
        let relay = ProbeCore::new(config.clone());
        let next_hop = ProbeCore::new(config);
        let crafted = crafter.next_probe(NOW - age_ms_max + 5);
        assert!(
            relay.on_inbound(&crafted, NOW).is_ok(),
            "fresh at the relay"
        );
        let refusal = next_hop.on_inbound(&crafted, NOW + 10).unwrap_err();
        assert_eq!(refusal, Refusal::TimestampStale);
        assert_eq!(
            refusal.verdict(),
            Verdict::Ignore {
                reason: "timestamp_stale"
            }
        );
        let early = crafter.next_probe(NOW + 30_001);
        assert_eq!(
            next_hop.on_inbound(&early, NOW).unwrap_err().verdict(),
            Verdict::Ignore {
                reason: "timestamp_future"
            }
        );
        assert_eq!(
            next_hop.on_inbound(b"x", NOW).unwrap_err().verdict(),
            Verdict::Reject {
                reason: "malformed"
            }
        );
        for refusal in Refusal::ALL {
            let expected = !matches!(refusal, Refusal::TimestampStale | Refusal::TimestampFuture);
            assert_eq!(
                matches!(refusal.verdict(), Verdict::Reject { .. }),
                expected,
                "{refusal:?}"
            );
        }
    }

    #[test]
    fn malformed_bytes_map_to_reasons() {
        let receiver = ProbeCore::new(ProbeConfig::default());
        assert_eq!(
            receiver.on_inbound(b"not a probe", NOW),
            Err(Refusal::Malformed)
        );
        let mut future_version = ProbeCore::new(ProbeConfig::default()).next_probe(NOW);
        future_version[0] = 9;
        assert_eq!(
            receiver.on_inbound(&future_version, NOW),
            Err(Refusal::UnsupportedVersion)
        );
    }
}
