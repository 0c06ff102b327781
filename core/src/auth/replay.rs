//! The seen-nonce set: a nonce is refused while any message carrying it could still pass
//! the timestamp check.
//!
//! A message stamped `ts` passes the timestamp check while `now - ts <= lifetime_ms` (it
//! is not stale: a message lives this long, so a node that missed it can still take it
//! from a peer that kept it) and `ts - now <= skew_ms` (it is not from the future), so its
//! nonce must be remembered until `ts + lifetime_ms` inclusive and not a moment longer.
//! Lookups are one hash probe (O(1)); expiry uses a ring of one-second buckets over the
//! `skew + lifetime` horizon, so an insertion and its later removal are O(1) amortised
//! too. The maps are only probed, never iterated, so their hash order cannot leak into
//! behaviour.
//!
//! Each holder (the envelope's sealer, named by a 64-bit tag) may hold at most
//! `nonces_per_holder_max` nonces at once: one member sending valid messages as fast as
//! it can fills its own share, not the table every member's messages need.
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
    #[error("the sender holds its whole share of the seen-nonce set")]
    HolderFull,
}

impl ReplayRefusal {
    /// One of each refusal (both directions of skew), for the verdict-table tests.
    pub const ALL: [ReplayRefusal; 5] = [
        ReplayRefusal::Stale { by_ms: 1 },
        ReplayRefusal::Future { by_ms: 1 },
        ReplayRefusal::Replay,
        ReplayRefusal::Full,
        ReplayRefusal::HolderFull,
    ];

    /// None of these says anything about the message itself: the skew is measured on the
    /// receiver's clock, a replay is only a replay to a node that saw the nonce (a sender
    /// can re-wrap one envelope in two gossip messages and hand them to two neighbours;
    /// the third node sees the second copy through an honest relay), and a full guard is
    /// this node's state, and so is a holder's full share. All are Ignore.
    pub fn invalid_in_itself(self) -> bool {
        match self {
            ReplayRefusal::Stale { .. }
            | ReplayRefusal::Future { .. }
            | ReplayRefusal::Replay
            | ReplayRefusal::Full
            | ReplayRefusal::HolderFull => false,
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            ReplayRefusal::Future { .. } => "timestamp_future",
            ReplayRefusal::Stale { .. } => "timestamp_stale",
            ReplayRefusal::Replay => "replay",
            ReplayRefusal::Full => "replay_guard_full",
            ReplayRefusal::HolderFull => "holder_nonces_full",
        }
    }
}

/// Names the holder a nonce is charged to (see [`holder_tag`]); restored nonces, whose
/// holder was not persisted, are charged to [`RESTORED`].
pub type HolderTag = u64;
pub const RESTORED: HolderTag = 0;

/// A holder's tag: the first 8 bytes of SHA-256 of its PeerId bytes.
pub fn holder_tag(holder: &[u8]) -> HolderTag {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(holder);
    u64::from_be_bytes(digest[..8].try_into().expect("32 bytes"))
}

/// Bounds and windows of a guard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayBounds {
    /// How far ahead of our clock a timestamp may be.
    pub skew_ms: u64,
    /// How far behind our clock a timestamp may be (at least `skew_ms`).
    pub lifetime_ms: u64,
    pub nonces_max: usize,
    pub nonces_per_holder_max: usize,
}

pub struct ReplayGuard {
    bounds: ReplayBounds,
    /// nonce -> the time its message leaves the window (Unix ms), and its holder.
    seen: HashMap<Nonce, (u64, HolderTag)>,
    /// Nonces held per holder (entries at zero are removed).
    per_holder: HashMap<HolderTag, usize>,
    /// `buckets[s % len]` holds the nonces leaving the window during second `s`.
    buckets: Vec<Vec<Nonce>>,
    /// Every bucket for seconds before this one has been emptied.
    swept_until_s: u64,
}

impl ReplayGuard {
    /// A guard whose messages live as long as the skew, with no per-holder share (the
    /// shape of the original guard; the gate uses [`ReplayGuard::with_bounds`]).
    pub fn new(skew_ms: u64, nonces_max: usize, now_ms: u64) -> ReplayGuard {
        ReplayGuard::with_bounds(
            ReplayBounds {
                skew_ms,
                lifetime_ms: skew_ms,
                nonces_max,
                nonces_per_holder_max: nonces_max,
            },
            now_ms,
        )
    }

    pub fn with_bounds(bounds: ReplayBounds, now_ms: u64) -> ReplayGuard {
        assert!(
            bounds.nonces_max > 0 && bounds.nonces_per_holder_max > 0,
            "a guard that can hold nothing refuses everything"
        );
        assert!(bounds.lifetime_ms >= bounds.skew_ms);
        // Expiries of admitted messages lie in [now, now + skew + lifetime]: that many
        // seconds, plus one for rounding and one so the sweep never laps a live bucket.
        let len = (bounds.skew_ms + bounds.lifetime_ms).div_ceil(1000) as usize + 2;
        ReplayGuard {
            bounds,
            seen: HashMap::new(),
            per_holder: HashMap::new(),
            buckets: vec![Vec::new(); len],
            swept_until_s: now_ms / 1000,
        }
    }

    pub fn skew_ms(&self) -> u64 {
        self.bounds.skew_ms
    }

    pub fn lifetime_ms(&self) -> u64 {
        self.bounds.lifetime_ms
    }

    /// Nonces charged to `holder` now.
    pub fn held_by(&self, holder: HolderTag) -> usize {
        self.per_holder.get(&holder).copied().unwrap_or(0)
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.bounds.nonces_max
    }

    /// When a message stamped `timestamp_unix_ms` leaves the window.
    pub fn expiry_ms(&self, timestamp_unix_ms: u64) -> u64 {
        timestamp_unix_ms.saturating_add(self.bounds.lifetime_ms)
    }

    /// Checks a message without recording it.
    pub fn check(
        &self,
        nonce: &Nonce,
        holder: HolderTag,
        timestamp_unix_ms: u64,
        now_ms: u64,
    ) -> Result<(), ReplayRefusal> {
        // Both are untrusted u64s (the timestamp is the sender's): a signed difference
        // overflows for stamps at or past 2^63 (a panic in debug builds) and reads
        // u64::MAX as "one millisecond ago". abs_diff is exact over the whole range.
        let by_ms = timestamp_unix_ms.abs_diff(now_ms);
        if timestamp_unix_ms > now_ms && by_ms > self.bounds.skew_ms {
            return Err(ReplayRefusal::Future { by_ms });
        }
        if timestamp_unix_ms <= now_ms && by_ms > self.bounds.lifetime_ms {
            return Err(ReplayRefusal::Stale { by_ms });
        }
        if self
            .seen
            .get(nonce)
            .is_some_and(|&(expiry, _)| expiry >= now_ms)
        {
            return Err(ReplayRefusal::Replay);
        }
        if !self.seen.contains_key(nonce) {
            if self.seen.len() >= self.bounds.nonces_max {
                return Err(ReplayRefusal::Full);
            }
            if self.held_by(holder) >= self.bounds.nonces_per_holder_max {
                return Err(ReplayRefusal::HolderFull);
            }
        }
        Ok(())
    }

    /// Checks and records, unattributed (charged to [`RESTORED`]). On `Ok` the caller must
    /// persist `(nonce, timestamp)` before it acts on the message.
    pub fn admit(
        &mut self,
        nonce: &Nonce,
        timestamp_unix_ms: u64,
        now_ms: u64,
    ) -> Result<(), ReplayRefusal> {
        self.admit_from(nonce, RESTORED, timestamp_unix_ms, now_ms)
    }

    /// Checks and records a message sealed by `holder`. On `Ok` the caller must persist
    /// `(nonce, timestamp)` before it acts on the message.
    pub fn admit_from(
        &mut self,
        nonce: &Nonce,
        holder: HolderTag,
        timestamp_unix_ms: u64,
        now_ms: u64,
    ) -> Result<(), ReplayRefusal> {
        self.sweep(now_ms);
        self.check(nonce, holder, timestamp_unix_ms, now_ms)?;
        self.insert(*nonce, holder, self.expiry_ms(timestamp_unix_ms));
        debug_assert!(self.seen.len() <= self.bounds.nonces_max);
        debug_assert!(self.held_by(holder) <= self.bounds.nonces_per_holder_max);
        Ok(())
    }

    /// Puts back nonces persisted before a restart; those already out of the window are
    /// skipped (returned count), and beyond the bound the latest-expiring are kept. Their
    /// holders were not persisted: they are charged to [`RESTORED`], which no live holder
    /// shares, and leave with their window.
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
        let horizon_ms = self.bounds.skew_ms + self.bounds.lifetime_ms;
        for (expiry, nonce) in live {
            // A persisted expiry beyond the horizon means our clock went back: keep the
            // nonce until the horizon's end, the furthest the ring can hold.
            let expiry = expiry.min(now_ms + horizon_ms);
            if self.seen.len() >= self.bounds.nonces_max || self.seen.contains_key(&nonce) {
                skipped += 1;
                continue;
            }
            self.insert(nonce, RESTORED, expiry);
        }
        skipped
    }

    /// Forgets an admitted nonce whose message had no effect (its owner refused it as
    /// "not yet": a vote before its ballot's open), so the same message is taken when it
    /// comes again, from sync or gossip. Only for a message with no effect: one with an
    /// effect must stay a replay. Returns whether it was held.
    pub fn forget(&mut self, nonce: &Nonce) -> bool {
        match self.seen.remove(nonce) {
            Some((_, holder)) => {
                self.release(holder);
                true
            }
            None => false,
        }
    }

    fn insert(&mut self, nonce: Nonce, holder: HolderTag, expiry_ms: u64) {
        let len = self.buckets.len() as u64;
        if let Some((_, before)) = self.seen.insert(nonce, (expiry_ms, holder)) {
            // An expired entry not yet swept, taken over by a new message.
            self.release(before);
        }
        *self.per_holder.entry(holder).or_insert(0) += 1;
        self.buckets[((expiry_ms / 1000) % len) as usize].push(nonce);
    }

    fn release(&mut self, holder: HolderTag) {
        if let Some(count) = self.per_holder.get_mut(&holder) {
            *count -= 1;
            if *count == 0 {
                self.per_holder.remove(&holder);
            }
        }
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
                    Some(&(expiry, _)) if expiry / 1000 > second => kept.push(nonce),
                    Some(&(expiry, holder)) if expiry < now_ms => {
                        self.seen.remove(&nonce);
                        self.release(holder);
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

    #[test]
    fn a_forgotten_nonce_is_taken_again_and_releases_its_holders_share() {
        let holder = holder_tag(b"member");
        let mut guard = ReplayGuard::new(30_000, 8, 1_800_000_000_000);
        let now = 1_800_000_000_000;
        guard.admit_from(&[1; 16], holder, now, now).unwrap();
        assert_eq!(
            guard.admit_from(&[1; 16], holder, now, now),
            Err(ReplayRefusal::Replay)
        );
        assert!(guard.forget(&[1; 16]));
        assert_eq!(guard.held_by(holder), 0);
        assert!(!guard.forget(&[1; 16]));
        guard.admit_from(&[1; 16], holder, now, now + 1).unwrap();
        assert_eq!(guard.held_by(holder), 1);
        // The stale ring entry left by the first admission does not disturb the sweep.
        assert_eq!(guard.sweep(now + 31_000), 1);
        assert!(guard.is_empty());
    }

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

    /// A message lives `lifetime_ms` behind the clock but only `skew_ms` ahead of it, and
    /// its nonce is held exactly as long as it lives.
    #[test]
    fn a_message_lives_its_lifetime_behind_the_clock_and_only_the_skew_ahead() {
        const LIFETIME_MS: u64 = 3_600_000;
        let bounds = ReplayBounds {
            skew_ms: SKEW_MS,
            lifetime_ms: LIFETIME_MS,
            nonces_max: 16,
            nonces_per_holder_max: 16,
        };
        let mut guard = ReplayGuard::with_bounds(bounds, T0);
        assert_eq!(guard.admit_from(&nonce(1), 7, T0 - LIFETIME_MS, T0), Ok(()));
        assert_eq!(
            guard.admit_from(&nonce(2), 7, T0 - LIFETIME_MS - 1, T0),
            Err(ReplayRefusal::Stale {
                by_ms: LIFETIME_MS + 1
            })
        );
        assert_eq!(guard.admit_from(&nonce(3), 7, T0 + SKEW_MS, T0), Ok(()));
        assert_eq!(
            guard.admit_from(&nonce(4), 7, T0 + SKEW_MS + 1, T0),
            Err(ReplayRefusal::Future { by_ms: SKEW_MS + 1 })
        );
        // A message 59 minutes old, replayed 59 minutes later still: a replay, never a
        // second admission, until it is stale.
        assert_eq!(guard.admit_from(&nonce(5), 7, T0 - 60_000, T0), Ok(()));
        let later = T0 + LIFETIME_MS - 61_000;
        assert_eq!(
            guard.admit_from(&nonce(5), 8, T0 - 60_000, later),
            Err(ReplayRefusal::Replay)
        );
        assert!(matches!(
            guard.admit_from(&nonce(5), 8, T0 - 60_000, later + 2_000),
            Err(ReplayRefusal::Stale { .. })
        ));
        guard.sweep(T0 + LIFETIME_MS + SKEW_MS + 2_000);
        assert!(guard.is_empty());
        assert_eq!(
            guard.held_by(7),
            0,
            "a holder's share comes back with the window"
        );
    }

    /// One holder flooding valid messages fills its own share, not the table: another
    /// holder's message still goes in, and the flooder's refusal is an Ignore.
    #[test]
    fn one_holder_cannot_fill_the_table_others_need() {
        let bounds = ReplayBounds {
            skew_ms: SKEW_MS,
            lifetime_ms: SKEW_MS,
            nonces_max: 100,
            nonces_per_holder_max: 10,
        };
        let mut guard = ReplayGuard::with_bounds(bounds, T0);
        let flooder = holder_tag(b"flooder");
        for i in 0..10 {
            assert_eq!(guard.admit_from(&nonce(i), flooder, T0, T0), Ok(()));
        }
        let refused = guard.admit_from(&nonce(99), flooder, T0, T0).unwrap_err();
        assert_eq!(refused, ReplayRefusal::HolderFull);
        assert!(!refused.invalid_in_itself());
        assert_eq!(
            guard.admit_from(&nonce(100), holder_tag(b"honest"), T0, T0),
            Ok(())
        );
        assert_eq!(guard.held_by(flooder), 10);
        // The share comes back as the flooder's messages leave the window.
        let after = T0 + SKEW_MS + 2_000;
        assert_eq!(guard.admit_from(&nonce(99), flooder, after, after), Ok(()));
        assert_eq!(guard.held_by(flooder), 1);
    }
}
