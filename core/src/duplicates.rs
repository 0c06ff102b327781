//! Counts how many copies of each gossip message arrive: the duplicates-per-message figure
//! that gossipsub itself does not report.
//!
//! The network shell calls [`DuplicateTracker::observe`] for every copy it receives (before
//! gossipsub's own de-duplication) and [`DuplicateTracker::settle`] now and then. A message
//! is settled once it is older than the settle window: by then its copies have stopped
//! arriving, and its count of extra copies is final. Sans-IO: time is passed in.

use std::collections::{BTreeMap, VecDeque};

/// Bounds of the tracker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DuplicateTrackerConfig {
    /// How long after the first copy a message's count is considered final. Must cover
    /// gossip repair (IHAVE/IWANT over a few heartbeats).
    pub settle_ms: u64,
    /// Messages tracked at once. Beyond it the oldest is settled early (and counted).
    pub entries_max: usize,
}

impl Default for DuplicateTrackerConfig {
    fn default() -> Self {
        DuplicateTrackerConfig {
            settle_ms: 5_000,
            entries_max: 65_536,
        }
    }
}

/// One message whose count is final.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    pub topic: &'static str,
    /// Copies beyond the first.
    pub duplicates: u32,
    /// Settled before its window ended because the tracker was full; its count may be low.
    pub early: bool,
}

#[derive(Debug)]
struct Entry {
    /// Only topics this build knows are tracked (`&'static`), so neither labels nor
    /// memory grow with topic names a peer makes up.
    topic: &'static str,
    first_seen_ms: u64,
    copies: u32,
}

/// Tracks copies per message id, bounded by `entries_max`.
#[derive(Debug)]
pub struct DuplicateTracker {
    config: DuplicateTrackerConfig,
    entries: BTreeMap<Vec<u8>, Entry>,
    /// Message ids in order of first sight; settling pops from the front.
    arrival_order: VecDeque<Vec<u8>>,
}

impl DuplicateTracker {
    pub fn new(config: DuplicateTrackerConfig) -> Self {
        assert!(config.entries_max > 0);
        DuplicateTracker {
            config,
            entries: BTreeMap::new(),
            arrival_order: VecDeque::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Records one received copy of `message_id` on `topic`. Entries pushed out early to make
    /// room are appended to `settled`.
    pub fn observe(
        &mut self,
        message_id: &[u8],
        topic: &'static str,
        now_ms: u64,
        settled: &mut Vec<Settled>,
    ) {
        if let Some(entry) = self.entries.get_mut(message_id) {
            entry.copies = entry.copies.saturating_add(1);
            return;
        }
        while self.entries.len() >= self.config.entries_max {
            self.settle_front(true, settled);
        }
        self.entries.insert(
            message_id.to_vec(),
            Entry {
                topic,
                first_seen_ms: now_ms,
                copies: 1,
            },
        );
        self.arrival_order.push_back(message_id.to_vec());
        debug_assert_eq!(self.entries.len(), self.arrival_order.len());
    }

    /// Settles every message first seen more than `settle_ms` before `now_ms`.
    pub fn settle(&mut self, now_ms: u64, settled: &mut Vec<Settled>) {
        while let Some(front) = self.arrival_order.front() {
            let first_seen_ms = self.entries[front].first_seen_ms;
            if now_ms.saturating_sub(first_seen_ms) < self.config.settle_ms {
                break;
            }
            self.settle_front(false, settled);
        }
    }

    fn settle_front(&mut self, early: bool, settled: &mut Vec<Settled>) {
        let id = self
            .arrival_order
            .pop_front()
            .expect("settle_front on empty tracker");
        let entry = self
            .entries
            .remove(&id)
            .expect("arrival order and entries agree");
        settled.push(Settled {
            topic: entry.topic,
            duplicates: entry.copies - 1,
            early,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_copies_beyond_the_first_after_the_window() {
        let mut tracker = DuplicateTracker::new(DuplicateTrackerConfig {
            settle_ms: 100,
            entries_max: 8,
        });
        let mut out = Vec::new();
        for _ in 0..3 {
            tracker.observe(b"a", "/x0/1/probe", 0, &mut out);
        }
        tracker.observe(b"b", "/x0/1/probe", 50, &mut out);
        tracker.settle(99, &mut out);
        assert!(out.is_empty(), "nothing settles inside the window");
        tracker.settle(100, &mut out);
        assert_eq!(
            out,
            vec![Settled {
                topic: "/x0/1/probe",
                duplicates: 2,
                early: false
            }]
        );
        tracker.settle(150, &mut out);
        assert_eq!(out[1].duplicates, 0);
        assert!(tracker.is_empty());
    }

    #[test]
    fn stays_within_its_bound_and_says_so() {
        let mut tracker = DuplicateTracker::new(DuplicateTrackerConfig {
            settle_ms: 1_000,
            entries_max: 2,
        });
        let mut out = Vec::new();
        for id in 0u8..5 {
            tracker.observe(&[id], "t", u64::from(id), &mut out);
            assert!(tracker.len() <= 2);
        }
        assert_eq!(out.len(), 3);
        assert!(out.iter().all(|s| s.early));
    }
}
