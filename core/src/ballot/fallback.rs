//! When the local ballot may open: this node's view of the Snapshot hub, and the outage
//! attestations of the members.
//!
//! A node attests "the hub is down" only after it has failed to get valid data for
//! `outage_ms` (5 minutes by default), and again every `attest_interval_ms` while the
//! outage lasts. An attestation counts for `attestation_ttl_ms`. The fallback is on while
//! f+1 members' attestations are fresh: at least one of them is honest, so one faulty node
//! (or f of them) cannot switch the network away from Snapshot. When the hub answers
//! again the node stops attesting, the attestations age out, and Snapshot decides again.

use std::collections::BTreeMap;

use super::rules::faulty_max;
use super::wire::Attestation;
use crate::ids::PeerKey;

/// Who decides right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Snapshot,
    Fallback,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Snapshot => "snapshot",
            Mode::Fallback => "fallback",
        }
    }

    /// `x0_ballot_mode`: 0 Snapshot, 1 fallback.
    pub fn gauge(self) -> i64 {
        match self {
            Mode::Snapshot => 0,
            Mode::Fallback => 1,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FallbackConfig {
    /// The hub may fail this long before this node attests an outage.
    pub outage_ms: u64,
    /// A new attestation this often while the outage lasts.
    pub attest_interval_ms: u64,
    /// An attestation counts this long after it was made.
    pub attestation_ttl_ms: u64,
}

impl Default for FallbackConfig {
    fn default() -> Self {
        FallbackConfig {
            outage_ms: 300_000,
            attest_interval_ms: 30_000,
            attestation_ttl_ms: 120_000,
        }
    }
}

/// This node's own view of the hub, from the outcome of each poll.
#[derive(Debug, Clone, Default)]
pub struct HubWatch {
    /// First failed poll of the current outage; `None` while the hub answers.
    down_since_ms: Option<u64>,
    last_attested_ms: Option<u64>,
    healthy_polls_total: u64,
    failed_polls_total: u64,
}

impl HubWatch {
    /// Records one poll. Returns `Some(down_since)` when this node should attest now.
    pub fn observe(&mut self, healthy: bool, now_ms: u64, config: &FallbackConfig) -> Option<u64> {
        if healthy {
            self.healthy_polls_total += 1;
            self.down_since_ms = None;
            self.last_attested_ms = None;
            return None;
        }
        self.failed_polls_total += 1;
        let since = *self.down_since_ms.get_or_insert(now_ms);
        self.due(now_ms, config).then_some(since)
    }

    /// Whether an attestation is due at `now_ms` (the outage is long enough, and the last
    /// attestation is at least an interval old).
    pub fn due(&self, now_ms: u64, config: &FallbackConfig) -> bool {
        let Some(since) = self.down_since_ms else {
            return false;
        };
        now_ms.saturating_sub(since) >= config.outage_ms
            && self
                .last_attested_ms
                .is_none_or(|last| now_ms.saturating_sub(last) >= config.attest_interval_ms)
    }

    pub fn attested(&mut self, now_ms: u64) {
        self.last_attested_ms = Some(now_ms);
    }

    pub fn down_since_ms(&self) -> Option<u64> {
        self.down_since_ms
    }

    pub fn polls_total(&self) -> (u64, u64) {
        (self.healthy_polls_total, self.failed_polls_total)
    }
}

/// The newest attestation of each member (so at most one entry per committee member).
#[derive(Debug, Clone, Default)]
pub struct Attestations {
    newest: BTreeMap<PeerKey, Attestation>,
}

impl Attestations {
    /// Keeps `attestation` if it is newer than the one held for its attester. The caller
    /// has checked the signature and that the attester is a member.
    pub fn insert(&mut self, attestation: Attestation) -> bool {
        match self.newest.get(&attestation.attester) {
            Some(held) if held.attested_at_unix_ms >= attestation.attested_at_unix_ms => false,
            _ => {
                self.newest
                    .insert(attestation.attester.clone(), attestation);
                true
            }
        }
    }

    /// Drops the attestations that no longer count at `now_ms`.
    pub fn expire(&mut self, now_ms: u64, config: &FallbackConfig) {
        self.newest.retain(|_, attestation| {
            attestation
                .attested_at_unix_ms
                .saturating_add(config.attestation_ttl_ms)
                >= now_ms
        });
    }

    /// Forget what `member` attested (its hub answers again).
    pub fn withdraw(&mut self, member: &PeerKey) {
        self.newest.remove(member);
    }

    /// Fresh attestations at `now_ms`, in member order.
    pub fn fresh(&self, now_ms: u64, config: &FallbackConfig) -> Vec<&Attestation> {
        self.newest
            .values()
            .filter(|a| {
                a.attested_at_unix_ms
                    .saturating_add(config.attestation_ttl_ms)
                    >= now_ms
                    && a.attested_at_unix_ms <= now_ms.saturating_add(config.attestation_ttl_ms)
            })
            .collect()
    }

    /// The mode for a committee of `members` at `now_ms`.
    pub fn mode(&self, members: usize, now_ms: u64, config: &FallbackConfig) -> Mode {
        let need = faulty_max(members as u64) as usize + 1;
        if members > 0 && self.fresh(now_ms, config).len() >= need {
            Mode::Fallback
        } else {
            Mode::Snapshot
        }
    }

    pub fn len(&self) -> usize {
        self.newest.len()
    }

    pub fn is_empty(&self) -> bool {
        self.newest.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attests_only_after_the_outage_and_then_every_interval() {
        let config = FallbackConfig::default();
        let mut watch = HubWatch::default();
        assert_eq!(watch.observe(false, 1_000, &config), None);
        assert_eq!(watch.observe(false, 300_999, &config), None);
        assert_eq!(watch.observe(false, 301_000, &config), Some(1_000));
        watch.attested(301_000);
        assert_eq!(watch.observe(false, 330_999, &config), None);
        assert_eq!(watch.observe(false, 331_000, &config), Some(1_000));
        watch.attested(331_000);
        // One good answer ends the outage; the clock starts again.
        assert_eq!(watch.observe(true, 332_000, &config), None);
        assert_eq!(watch.observe(false, 333_000, &config), None);
        assert_eq!(watch.observe(false, 632_999, &config), None);
        assert_eq!(watch.observe(false, 633_000, &config), Some(333_000));
    }

    fn attestation(member: u8, at_ms: u64) -> Attestation {
        Attestation {
            attester: PeerKey(vec![member]),
            down_since_unix_ms: 0,
            attested_at_unix_ms: at_ms,
            signature: vec![1],
        }
    }

    #[test]
    fn fallback_needs_f_plus_one_fresh_attestations() {
        let config = FallbackConfig::default();
        let mut set = Attestations::default();
        // 10 members: f = 3, so 4 attestations are needed.
        for member in 0..3 {
            assert!(set.insert(attestation(member, 1_000_000)));
        }
        assert_eq!(set.mode(10, 1_000_000, &config), Mode::Snapshot);
        // A repeat of one member's attestation does not count twice.
        assert!(set.insert(attestation(2, 1_000_500)));
        assert!(!set.insert(attestation(2, 1_000_400)));
        assert_eq!(set.mode(10, 1_000_500, &config), Mode::Snapshot);
        assert!(set.insert(attestation(3, 1_000_500)));
        assert_eq!(set.mode(10, 1_000_500, &config), Mode::Fallback);
        // Two minutes later the oldest have aged out.
        assert_eq!(set.mode(10, 1_120_001, &config), Mode::Snapshot);
        set.expire(1_120_001, &config);
        assert_eq!(set.len(), 2);
    }
}
