//! The seen-nonce set: a nonce is refused while any message carrying it could still pass
//! the timestamp check.
//!
//! A message stamped `ts` passes the skew check while `|now - ts| <= skew_ms`, so its
//! nonce must be remembered until `ts + skew_ms` inclusive and not a moment longer. Lookups are one
//! hash probe (O(1)); expiry uses a ring of one-second buckets over the `2 * skew` horizon,
//! so an insertion and its later removal are O(1) amortised too. The map is only probed,
//! never iterated, so its hash order cannot leak into behaviour.
//!
//! The shell persists every nonce this guard records before it lets the message go on,
//! and hands the persisted ones back to [`ReplayGuard::restore`] at start: a restart never
//! reopens a replay window.

use std::collections::HashMap;

use super::envelope::NONCE_BYTES;

pub type Nonce = [u8; NONCE_BYTES];

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReplayRefusal {
    #[error("timestamp {by_ms} ms behind our clock is outside the window")]
    Stale { by_ms: u64 },
    #[error("timestamp {by_ms} ms ahead of our clock is outside the window")]
    Future { by_ms: u64 },
    #[error("nonce already seen within the window")]
    Replay,
    #[error("the seen-nonce set is full")]
    Full,
}

impl ReplayRefusal {
    /// One of each refusal (both directions of skew), for the verdict-table tests.
    pub const ALL: [ReplayRefusal; 4] = [
        ReplayRefusal::Stale { by_ms: 1 },
        ReplayRefusal::Future { by_ms: 1 },
        ReplayRefusal::Replay,
        ReplayRefusal::Full,
    ];

    /// None of these says anything about the message itself: the skew is measured on the
    /// receiver's clock, a replay is only a replay to a node that saw the nonce (a sender
    /// can re-wrap one envelope in two gossip messages and hand them to two neighbours;
    /// the third node sees the second copy through an honest relay), and a full guard is
    /// this node's state. All are Ignore.
    pub fn invalid_in_itself(self) -> bool {
        match self {
            ReplayRefusal::Stale { .. }
            | ReplayRefusal::Future { .. }
            | ReplayRefusal::Replay
            | ReplayRefusal::Full => false,
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            ReplayRefusal::Future { .. } => "timestamp_future",
            ReplayRefusal::Stale { .. } => "timestamp_stale",
            ReplayRefusal::Replay => "replay",
            ReplayRefusal::Full => "replay_guard_full",
        }
    }
}

pub struct ReplayGuard {
    skew_ms: u64,
    nonces_max: usize,
    /// nonce -> the time its message leaves the window, Unix ms.
    seen: HashMap<Nonce, u64>,
    /// `buckets[s % len]` holds the nonces leaving the window during second `s`.
    buckets: Vec<Vec<Nonce>>,
    /// Every bucket for seconds before this one has been emptied.
    swept_until_s: u64,
}

impl ReplayGuard {
    pub fn new(skew_ms: u64, nonces_max: usize, now_ms: u64) -> ReplayGuard {
        assert!(
            nonces_max > 0,
            "a guard that can hold nothing refuses everything"
        );
        // Expiries of admitted messages lie in [now, now + 2 * skew]: that many seconds,
        // plus one for rounding and one so the sweep never laps a live bucket.
        let len = (2 * skew_ms).div_ceil(1000) as usize + 2;
        ReplayGuard {
            skew_ms,
            nonces_max,
            seen: HashMap::new(),
            buckets: vec![Vec::new(); len],
            swept_until_s: now_ms / 1000,
        }
    }

    pub fn skew_ms(&self) -> u64 {
        self.skew_ms
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.nonces_max
    }

    /// When a message stamped `timestamp_unix_ms` leaves the window.
    pub fn expiry_ms(&self, timestamp_unix_ms: u64) -> u64 {
        timestamp_unix_ms.saturating_add(self.skew_ms)
    }

    /// Checks a message without recording it.
    pub fn check(
        &self,
        nonce: &Nonce,
        timestamp_unix_ms: u64,
        now_ms: u64,
    ) -> Result<(), ReplayRefusal> {
        // Both are untrusted u64s (the timestamp is the sender's): a signed difference
        // overflows for stamps at or past 2^63 (a panic in debug builds) and reads
        // u64::MAX as "one millisecond ago". abs_diff is exact over the whole range.
        let by_ms = timestamp_unix_ms.abs_diff(now_ms);
        if by_ms > self.skew_ms {
            return Err(if timestamp_unix_ms > now_ms {
                ReplayRefusal::Future { by_ms }
            } else {
                ReplayRefusal::Stale { by_ms }
            });
        }
        if self.seen.get(nonce).is_some_and(|&expiry| expiry >= now_ms) {
            return Err(ReplayRefusal::Replay);
        }
        if self.seen.len() >= self.nonces_max && !self.seen.contains_key(nonce) {
            return Err(ReplayRefusal::Full);
        }
        Ok(())
    }

    /// Checks and records. On `Ok` the caller must persist `(nonce, timestamp)` before it
    /// acts on the message.
    pub fn admit(
        &mut self,
        nonce: &Nonce,
        timestamp_unix_ms: u64,
        now_ms: u64,
    ) -> Result<(), ReplayRefusal> {
        self.sweep(now_ms);
        self.check(nonce, timestamp_unix_ms, now_ms)?;
        self.insert(*nonce, self.expiry_ms(timestamp_unix_ms));
        debug_assert!(self.seen.len() <= self.nonces_max);
        Ok(())
    }

    /// Puts back nonces persisted before a restart; those already out of the window are
    /// skipped (returned count), and beyond the bound the latest-expiring are kept.
    pub fn restore(
        &mut self,
        persisted: impl IntoIterator<Item = (Nonce, u64)>,
        now_ms: u64,
    ) -> usize {
        self.sweep(now_ms);
        let mut live: Vec<(u64, Nonce)> = persisted
            .into_iter()
            .map(|(nonce, ts)| (self.expiry_ms(ts), nonce))
            .filter(|&(expiry, _)| expiry >= now_ms)
            .collect();
        live.sort_unstable_by(|a, b| b.cmp(a));
        let mut skipped = 0;
        for (expiry, nonce) in live {
            // A persisted expiry beyond the horizon means our clock went back: keep the
            // nonce until the horizon's end, the furthest the ring can hold.
            let expiry = expiry.min(now_ms + 2 * self.skew_ms);
            if self.seen.len() >= self.nonces_max {
                skipped += 1;
                continue;
            }
            self.insert(nonce, expiry);
        }
        skipped
    }

    fn insert(&mut self, nonce: Nonce, expiry_ms: u64) {
        let len = self.buckets.len() as u64;
        self.seen.insert(nonce, expiry_ms);
        self.buckets[((expiry_ms / 1000) % len) as usize].push(nonce);
    }

    /// Forgets nonces whose messages left the window. Returns how many.
    pub fn sweep(&mut self, now_ms: u64) -> usize {
        let now_s = now_ms / 1000;
        if now_s <= self.swept_until_s {
            return 0;
        }
        let len = self.buckets.len() as u64;
        let from_s = self.swept_until_s.max(now_s.saturating_sub(len));
        let mut removed = 0;
        for second in from_s..now_s {
            let bucket = std::mem::take(&mut self.buckets[(second % len) as usize]);
            let mut kept = Vec::new();
            for nonce in bucket {
                match self.seen.get(&nonce) {
                    Some(&expiry) if expiry / 1000 > second => kept.push(nonce),
                    Some(&expiry) if expiry < now_ms => {
                        self.seen.remove(&nonce);
                        removed += 1;
                    }
                    Some(_) => kept.push(nonce),
                    None => {}
                }
            }
            self.buckets[(second % len) as usize] = kept;
        }
        self.swept_until_s = now_s;
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SKEW_MS: u64 = 30_000;
    const T0: u64 = 1_800_000_000_000;

    fn nonce(i: u64) -> Nonce {
        let mut n = [0; 16];
        n[..8].copy_from_slice(&i.to_be_bytes());
        n
    }

    #[test]
    fn refuses_a_replay_within_the_window_and_forgets_it_after() {
        let mut guard = ReplayGuard::new(SKEW_MS, 16, T0);
        assert_eq!(guard.admit(&nonce(1), T0, T0), Ok(()));
        assert_eq!(
            guard.admit(&nonce(1), T0, T0 + 1),
            Err(ReplayRefusal::Replay)
        );
        assert_eq!(
            guard.admit(&nonce(1), T0, T0 + SKEW_MS),
            Err(ReplayRefusal::Replay)
        );
        // Past ts + skew the same message fails the timestamp check anyway, and the
        // guard has let the nonce go.
        assert!(matches!(
            guard.admit(&nonce(1), T0, T0 + SKEW_MS + 1),
            Err(ReplayRefusal::Stale { .. })
        ));
        guard.sweep(T0 + SKEW_MS + 2000);
        assert!(guard.is_empty());
    }

    #[test]
    fn skew_is_checked_at_its_exact_edges() {
        let mut guard = ReplayGuard::new(SKEW_MS, 16, T0);
        assert_eq!(guard.admit(&nonce(1), T0 - SKEW_MS, T0), Ok(()));
        assert_eq!(guard.admit(&nonce(2), T0 + SKEW_MS, T0), Ok(()));
        let stale = guard.admit(&nonce(3), T0 - SKEW_MS - 1, T0).unwrap_err();
        assert_eq!(stale.reason(), "timestamp_stale");
        let future = guard.admit(&nonce(4), T0 + SKEW_MS + 1, T0).unwrap_err();
        assert_eq!(future.reason(), "timestamp_future");
    }

    /// The sender picks the timestamp: any u64. Stamps at or past 2^63 overflowed the old
    /// signed subtraction (a panic in debug builds), and u64::MAX read as one millisecond
    /// in the past. Each is now refused in its true direction, with its exact distance.
    #[test]
    fn extreme_timestamps_are_refused_in_their_true_direction_without_overflow() {
        let mut guard = ReplayGuard::new(SKEW_MS, 16, T0);
        for (i, timestamp) in [u64::MAX, 1 << 63, (1 << 63) + 1, i64::MAX as u64, T0 * 4]
            .into_iter()
            .enumerate()
        {
            assert_eq!(
                guard.admit(&nonce(i as u64), timestamp, T0),
                Err(ReplayRefusal::Future {
                    by_ms: timestamp - T0
                }),
                "timestamp {timestamp}"
            );
        }
        assert_eq!(
            guard.admit(&nonce(10), 0, T0),
            Err(ReplayRefusal::Stale { by_ms: T0 })
        );
        // The receiver's clock at the extremes too (a broken clock must not panic either).
        let mut far = ReplayGuard::new(SKEW_MS, 16, u64::MAX - 1000);
        assert_eq!(
            far.admit(&nonce(11), 0, u64::MAX - 1000),
            Err(ReplayRefusal::Stale {
                by_ms: u64::MAX - 1000
            })
        );
        assert_eq!(
            far.admit(&nonce(12), u64::MAX - 1000, u64::MAX - 1000),
            Ok(())
        );
        assert!(guard.is_empty(), "nothing refused was recorded");
    }

    #[test]
    fn is_bounded_and_fails_closed() {
        let mut guard = ReplayGuard::new(SKEW_MS, 3, T0);
        for i in 0..3 {
            assert_eq!(guard.admit(&nonce(i), T0, T0), Ok(()));
        }
        assert_eq!(guard.admit(&nonce(9), T0, T0), Err(ReplayRefusal::Full));
        // Space comes back when the window moves on.
        assert_eq!(
            guard.admit(&nonce(9), T0 + SKEW_MS + 1000, T0 + SKEW_MS + 1000),
            Ok(())
        );
    }

    #[test]
    fn restore_keeps_live_nonces_only() {
        let mut guard = ReplayGuard::new(SKEW_MS, 16, T0);
        let persisted = vec![
            (nonce(1), T0 - SKEW_MS - 1),
            (nonce(2), T0 - 1000),
            (nonce(3), T0 + 5000),
        ];
        assert_eq!(guard.restore(persisted, T0), 0);
        assert_eq!(guard.len(), 2);
        assert_eq!(
            guard.admit(&nonce(2), T0 - 1000, T0 + 10),
            Err(ReplayRefusal::Replay)
        );
        assert_eq!(
            guard.admit(&nonce(3), T0 + 5000, T0 + 10),
            Err(ReplayRefusal::Replay)
        );
        assert_eq!(guard.admit(&nonce(1), T0 - 1000, T0 + 10), Ok(()));
    }

    /// Against a plain list: every admit decision matches the definition, over random
    /// timestamps, nonces drawn from a small pool (many repeats) and clock jumps.
    #[test]
    fn matches_the_definition_over_random_traffic() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let mut guard = ReplayGuard::new(SKEW_MS, 1 << 20, T0);
        let mut model: Vec<(Nonce, u64)> = Vec::new();
        let mut now = T0;
        for _ in 0..20_000 {
            now += rng.gen_range(0..2_500);
            let ts = now + rng.gen_range(0..70_000) - 35_000;
            let n = nonce(rng.gen_range(0..400));
            let in_window = ts.abs_diff(now) <= SKEW_MS;
            let seen = model.iter().any(|&(m, expiry)| m == n && expiry >= now);
            let expected = in_window && !seen;
            assert_eq!(
                guard.admit(&n, ts, now).is_ok(),
                expected,
                "nonce {n:?} ts {ts} now {now}"
            );
            if expected {
                model.retain(|&(m, _)| m != n);
                model.push((n, ts + SKEW_MS));
            }
        }
    }
}
