//! Discrete-event engine: events fire in virtual-time order; ties fire in the order they
//! were scheduled, so no run depends on heap internals or hash order.

use std::collections::{BTreeMap, VecDeque};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The queue is bounded: a scenario that schedules without end is a bug to report, not
/// memory to exhaust.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("event queue full ({events_max} events pending)")]
pub struct QueueFull {
    pub events_max: usize,
}

/// Event buffers kept for reuse; more than the milliseconds a run usually has pending.
const SPARE_BUFFERS_MAX: usize = 4_096;

/// Milliseconds ahead that the calendar ring covers: link latencies, CPU queues, ticks
/// and heartbeats (1 s) fall within it; later events (probe timers, proposals, faults)
/// wait in a map.
const RING_MS: u64 = 1_024;

/// Capacity, in events, a ring bucket keeps once it has fired: each bucket keeps the
/// buffer it is given, and without a cap every one would grow to the busiest
/// millisecond's size (gigabytes at 10,000 nodes).
const BUCKET_CAPACITY_KEPT: usize = 4_096;

/// The engine: virtual time in milliseconds, a bounded queue of events of type `E`, and
/// the run's single RNG.
///
/// Time is whole milliseconds, so the queue is a calendar: a ring of `RING_MS` buckets,
/// one per millisecond ahead, each holding its events in the order they were scheduled,
/// and a map for events further ahead. Scheduling is a push; firing walks the ring
/// forward, each millisecond once per run. Ties fire in schedule order by construction:
/// an event in the map for a millisecond was scheduled before any in the ring for it
/// (it was further ahead then), so the map's bucket fires first.
pub struct Engine<E> {
    now_ms: u64,
    /// Events due at `now_ms`, still to fire, in schedule order.
    current: VecDeque<E>,
    /// Events due in `now_ms + 1 .. now_ms + RING_MS`, at `due_ms % RING_MS`: each bucket
    /// holds one millisecond's events, since they all lie within one turn of the ring.
    ring: Vec<VecDeque<E>>,
    ring_events: usize,
    /// Events scheduled `RING_MS` or more ahead, by the millisecond they are due.
    later: BTreeMap<u64, VecDeque<E>>,
    /// Emptied buffers kept for the map's later milliseconds, at most
    /// `SPARE_BUFFERS_MAX`: allocating each anew showed in profiles.
    spare: Vec<VecDeque<E>>,
    pending: usize,
    events_max: usize,
    rng: ChaCha8Rng,
}

impl<E> Engine<E> {
    pub fn new(seed: u64, events_max: usize) -> Self {
        assert!(events_max > 0);
        Engine {
            now_ms: 0,
            current: VecDeque::new(),
            ring: (0..RING_MS).map(|_| VecDeque::new()).collect(),
            ring_events: 0,
            later: BTreeMap::new(),
            spare: Vec::new(),
            pending: 0,
            events_max,
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    pub fn pending(&self) -> usize {
        self.pending
    }

    /// The run's only source of randomness.
    pub fn rng(&mut self) -> &mut ChaCha8Rng {
        &mut self.rng
    }

    /// Schedules `event` `delay_ms` after now (0: after the events already due now).
    pub fn schedule(&mut self, delay_ms: u64, event: E) -> Result<(), QueueFull> {
        if self.pending >= self.events_max {
            return Err(QueueFull {
                events_max: self.events_max,
            });
        }
        let at_ms = self
            .now_ms
            .checked_add(delay_ms)
            .expect("virtual time overflow");
        if delay_ms == 0 {
            self.current.push_back(event);
        } else if delay_ms < RING_MS {
            self.ring[(at_ms % RING_MS) as usize].push_back(event);
            self.ring_events += 1;
        } else {
            let spare = &mut self.spare;
            self.later
                .entry(at_ms)
                .or_insert_with(|| spare.pop().unwrap_or_default())
                .push_back(event);
        }
        self.pending += 1;
        Ok(())
    }

    /// Advances the clock to the next event and returns it with its time.
    pub fn next_event(&mut self) -> Option<(u64, E)> {
        if self.current.is_empty() {
            let in_ring_ms = self.next_in_ring_ms();
            let in_map_ms = self.later.first_key_value().map(|(at_ms, _)| *at_ms);
            let at_ms = match (in_ring_ms, in_map_ms) {
                (Some(ring), Some(map)) => ring.min(map),
                (ring, map) => ring.or(map)?,
            };
            assert!(at_ms > self.now_ms, "time never runs backwards");
            self.now_ms = at_ms;
            if in_map_ms == Some(at_ms) {
                let (_, events) = self.later.pop_first().expect("just seen");
                let mut spent = std::mem::replace(&mut self.current, events);
                debug_assert!(spent.is_empty());
                if self.spare.len() < SPARE_BUFFERS_MAX {
                    spent.shrink_to(BUCKET_CAPACITY_KEPT);
                    self.spare.push(spent);
                }
            }
            if in_ring_ms == Some(at_ms) {
                let bucket = &mut self.ring[(at_ms % RING_MS) as usize];
                self.ring_events -= bucket.len();
                if self.current.is_empty() {
                    // Swap buffers: the bucket keeps the emptied one's capacity.
                    std::mem::swap(&mut self.current, bucket);
                    bucket.shrink_to(BUCKET_CAPACITY_KEPT);
                } else {
                    self.current.extend(bucket.drain(..));
                }
            }
        }
        let event = self
            .current
            .pop_front()
            .expect("a due bucket is never empty");
        self.pending -= 1;
        Some((self.now_ms, event))
    }

    /// The first millisecond after now with events in the ring.
    fn next_in_ring_ms(&self) -> Option<u64> {
        if self.ring_events == 0 {
            return None;
        }
        let at_ms = (self.now_ms + 1..self.now_ms + RING_MS)
            .find(|at_ms| !self.ring[(at_ms % RING_MS) as usize].is_empty());
        assert!(
            at_ms.is_some(),
            "ring events lie within one turn of the ring"
        );
        at_ms
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use x0_core::probe::{ProbeConfig, ProbeCore};

    use super::*;

    #[test]
    fn events_fire_in_time_order_and_ties_in_schedule_order() {
        let mut engine = Engine::new(1, 16);
        engine.schedule(30, "c").unwrap();
        engine.schedule(10, "a").unwrap();
        engine.schedule(10, "b").unwrap();
        let order: Vec<_> = std::iter::from_fn(|| engine.next_event()).collect();
        assert_eq!(order, vec![(10, "a"), (10, "b"), (30, "c")]);
        assert_eq!(engine.now_ms(), 30);
    }

    #[test]
    fn random_schedules_fire_as_a_stable_sort_by_time_would() {
        // Delays on both sides of the ring's reach, ties, zero delays, and events
        // scheduled while others fire.
        let mut engine: Engine<u64> = Engine::new(3, 1 << 20);
        let mut choose = ChaCha8Rng::seed_from_u64(9);
        let mut expected: Vec<(u64, u64)> = Vec::new();
        let mut fired: Vec<(u64, u64)> = Vec::new();
        let mut next_label = 0u64;
        let delay = |rng: &mut ChaCha8Rng| match rng.gen_range(0..4) {
            0 => 0,
            1 => rng.gen_range(1..5),
            2 => rng.gen_range(1..RING_MS + 10),
            _ => rng.gen_range(RING_MS - 5..3 * RING_MS),
        };
        for _ in 0..2_000 {
            let d = delay(&mut choose);
            expected.push((d, next_label));
            engine.schedule(d, next_label).unwrap();
            next_label += 1;
        }
        while let Some((now_ms, label)) = engine.next_event() {
            fired.push((now_ms, label));
            if next_label < 20_000 && choose.gen_bool(0.9) {
                let d = delay(&mut choose);
                expected.push((now_ms + d, next_label));
                engine.schedule(d, next_label).unwrap();
                next_label += 1;
            }
        }
        // Labels grow with schedule order, so a stable sort by due time is the order.
        expected.sort_by_key(|(at_ms, _)| *at_ms);
        assert_eq!(fired, expected);
        assert_eq!(engine.pending(), 0);
    }

    #[test]
    fn the_queue_is_bounded() {
        let mut engine = Engine::new(1, 2);
        engine.schedule(1, ()).unwrap();
        engine.schedule(1, ()).unwrap();
        assert_eq!(engine.schedule(1, ()), Err(QueueFull { events_max: 2 }));
    }

    enum Event {
        Publish {
            author: usize,
        },
        Arrive {
            receiver: usize,
            bytes: Vec<u8>,
            delay_ms: u64,
        },
    }

    /// Three nodes run the node's own probe core over links with random latency; every
    /// measured latency must equal the modelled one, and the trace depends on the seed only.
    fn run_probes(seed: u64) -> Vec<String> {
        let mut engine = Engine::new(seed, 1024);
        let mut cores: Vec<ProbeCore> = (0..3)
            .map(|_| ProbeCore::new(ProbeConfig::default()))
            .collect();
        let mut trace = Vec::new();
        for round in 0..20u64 {
            let author = engine.rng().gen_range(0..3);
            engine
                .schedule(round * 100, Event::Publish { author })
                .unwrap();
        }
        // Virtual wall clock: the run starts at a fixed Unix time.
        let epoch_unix_ms = 1_800_000_000_000;
        while let Some((now_ms, event)) = engine.next_event() {
            match event {
                Event::Publish { author } => {
                    let bytes = cores[author].next_probe(epoch_unix_ms + now_ms);
                    for receiver in (0..3).filter(|&r| r != author) {
                        let delay_ms = engine.rng().gen_range(1..250);
                        engine
                            .schedule(
                                delay_ms,
                                Event::Arrive {
                                    receiver,
                                    bytes: bytes.clone(),
                                    delay_ms,
                                },
                            )
                            .unwrap();
                    }
                }
                Event::Arrive {
                    receiver,
                    bytes,
                    delay_ms,
                } => {
                    let delivered = cores[receiver]
                        .on_inbound(&bytes, epoch_unix_ms + now_ms)
                        .unwrap();
                    assert_eq!(delivered.latency_ms, delay_ms);
                    trace.push(format!(
                        "{now_ms} node{receiver} seq{} {}ms",
                        delivered.sequence, delay_ms
                    ));
                }
            }
        }
        trace
    }

    #[test]
    fn same_seed_same_trace_and_the_real_core_measures_the_model() {
        let first = run_probes(42);
        assert_eq!(first.len(), 40);
        assert_eq!(first, run_probes(42));
        assert_ne!(first, run_probes(43));
    }
}
