//! Compact descriptions of a set of items, at three levels of detail.
//!
//! Two peers compare [`Summary`]s first (one count and one XOR of key hashes per kind, 128
//! bytes in all). For a kind whose entries differ they compare its 256 [`Buckets`] (a count
//! and a shorter XOR per bucket, by the first byte of the key hash), then list the keys of
//! the buckets that differ. A peer holding the same set as another sends 128 bytes; one
//! missing a handful of items sends a few KiB. The XORs are updated in O(1) on every insert
//! and removal, so a digest costs nothing to keep current.
//!
//! Equal digests can hide different sets only if hashes collide, which SHA-256 makes a
//! non-event; a peer forging a digest gains nothing but being asked for keys, which it must
//! then serve, and every served item is checked against its key.

use std::collections::BTreeSet;

use super::item::{ItemKey, Kind, KIND_COUNT};

/// How many buckets a kind's keys spread over (the first byte of the hash).
pub const BUCKET_COUNT: usize = 256;
/// The most keys one kind may hold. What sync serves is bounded by the cores' own tables
/// (pending proposals and their shares, certificates of the epoch, open ballots, lists in
/// force), all well below this; the bound keeps the counts and the memory finite whatever
/// a shell feeds in.
pub const KEYS_PER_KIND_MAX: usize = 65_536;

/// A kind holds [`KEYS_PER_KIND_MAX`] keys already.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the key set holds {KEYS_PER_KIND_MAX} keys of this kind")]
pub struct KindFull;

/// One kind's entry in a [`Summary`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KindSummary {
    pub count: u32,
    /// XOR of the first 16 bytes of every key hash.
    pub xor: [u8; 16],
}

/// One bucket's entry in [`Buckets`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BucketSummary {
    pub count: u32,
    /// XOR of bytes 16..24 of every key hash in the bucket.
    pub xor: [u8; 8],
}

/// The top level: per kind, how many items and their XOR, with the sender's epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub epoch: u64,
    pub kinds: [KindSummary; KIND_COUNT],
}

/// The middle level: one kind's buckets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buckets {
    pub kind: Kind,
    pub buckets: Box<[BucketSummary; BUCKET_COUNT]>,
}

/// The keys one node holds, by kind, with their digests kept current.
#[derive(Debug, Clone)]
pub struct KeySet {
    epoch: u64,
    keys: [BTreeSet<ItemKey>; KIND_COUNT],
    kinds: [KindSummary; KIND_COUNT],
    buckets: Vec<[BucketSummary; BUCKET_COUNT]>,
}

impl KeySet {
    pub fn new(epoch: u64) -> KeySet {
        KeySet {
            epoch,
            keys: Default::default(),
            kinds: [KindSummary::default(); KIND_COUNT],
            buckets: (0..KIND_COUNT)
                .map(|_| [BucketSummary::default(); BUCKET_COUNT])
                .collect(),
        }
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Moves to another epoch: the per-epoch kinds start empty.
    pub fn enter_epoch(&mut self, epoch: u64) {
        if epoch == self.epoch {
            return;
        }
        self.epoch = epoch;
        for kind in Kind::ALL.into_iter().filter(|kind| kind.per_epoch()) {
            let i = kind.index();
            self.keys[i].clear();
            self.kinds[i] = KindSummary::default();
            self.buckets[i] = [BucketSummary::default(); BUCKET_COUNT];
        }
    }

    pub fn contains(&self, key: &ItemKey) -> bool {
        self.keys[key.kind.index()].contains(key)
    }

    pub fn len(&self, kind: Kind) -> usize {
        self.keys[kind.index()].len()
    }

    /// Adds a key; false if it was there already.
    pub fn insert(&mut self, key: ItemKey) -> Result<bool, KindFull> {
        let keys = &mut self.keys[key.kind.index()];
        if keys.contains(&key) {
            return Ok(false);
        }
        if keys.len() >= KEYS_PER_KIND_MAX {
            return Err(KindFull);
        }
        keys.insert(key);
        self.toggle(&key, true);
        Ok(true)
    }

    /// Removes a key; false if it was not there.
    pub fn remove(&mut self, key: &ItemKey) -> bool {
        if !self.keys[key.kind.index()].remove(key) {
            return false;
        }
        self.toggle(key, false);
        true
    }

    fn toggle(&mut self, key: &ItemKey, added: bool) {
        let i = key.kind.index();
        let kind = &mut self.kinds[i];
        let bucket = &mut self.buckets[i][usize::from(key.bucket())];
        if added {
            kind.count += 1;
            bucket.count += 1;
        } else {
            kind.count -= 1;
            bucket.count -= 1;
        }
        xor_into(&mut kind.xor, &key.hash[..16]);
        xor_into(&mut bucket.xor, &key.hash[16..24]);
    }

    pub fn summary(&self) -> Summary {
        Summary {
            epoch: self.epoch,
            kinds: self.kinds,
        }
    }

    pub fn buckets(&self, kind: Kind) -> Buckets {
        Buckets {
            kind,
            buckets: Box::new(self.buckets[kind.index()]),
        }
    }

    /// The keys of buckets `first..=last`, in order, at most `max` of them; true if there
    /// were more.
    pub fn bucket_keys(&self, kind: Kind, first: u8, last: u8, max: usize) -> (Vec<ItemKey>, bool) {
        let start = ItemKey {
            kind,
            hash: bucket_start(first),
        };
        let mut in_bucket = self.keys[kind.index()]
            .range(start..)
            .copied()
            .take_while(|key| key.bucket() <= last);
        let keys: Vec<ItemKey> = in_bucket.by_ref().take(max).collect();
        let more = in_bucket.next().is_some();
        (keys, more)
    }

    /// The kinds whose entries differ from a peer's summary. Per-epoch kinds are compared
    /// only when both are in the same epoch.
    pub fn kinds_differing(&self, theirs: &Summary) -> Vec<Kind> {
        Kind::ALL
            .into_iter()
            .filter(|kind| !kind.per_epoch() || theirs.epoch == self.epoch)
            .filter(|kind| theirs.kinds[kind.index()] != self.kinds[kind.index()])
            .collect()
    }

    /// The buckets of a kind that differ from a peer's, and that hold something there.
    pub fn buckets_differing(&self, theirs: &Buckets) -> Vec<u8> {
        let ours = &self.buckets[theirs.kind.index()];
        (0..BUCKET_COUNT)
            .filter(|&b| theirs.buckets[b].count > 0 && theirs.buckets[b] != ours[b])
            .map(|b| b as u8)
            .collect()
    }

    /// Which of a peer's keys this set lacks.
    pub fn missing<'a>(&'a self, theirs: &'a [ItemKey]) -> impl Iterator<Item = ItemKey> + 'a {
        theirs.iter().copied().filter(|key| !self.contains(key))
    }
}

fn bucket_start(bucket: u8) -> [u8; 32] {
    let mut hash = [0u8; 32];
    hash[0] = bucket;
    hash
}

fn xor_into(acc: &mut [u8], bytes: &[u8]) {
    for (a, b) in acc.iter_mut().zip(bytes) {
        *a ^= b;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn key(kind: Kind, n: u32) -> ItemKey {
        ItemKey::of(kind, &n.to_be_bytes())
    }

    /// The digests built from scratch over `keys`.
    fn rebuilt(epoch: u64, keys: &[ItemKey]) -> KeySet {
        let mut set = KeySet::new(epoch);
        for k in keys {
            set.insert(*k).unwrap();
        }
        set
    }

    #[test]
    fn incremental_digests_equal_digests_built_from_scratch() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut set = KeySet::new(3);
        let mut held: BTreeSet<ItemKey> = BTreeSet::new();
        for _ in 0..5_000 {
            let kind = Kind::ALL[rng.gen_range(0..KIND_COUNT)];
            let k = key(kind, rng.gen_range(0..600));
            if rng.gen_bool(0.6) {
                assert_eq!(set.insert(k), Ok(held.insert(k)));
            } else {
                assert_eq!(set.remove(&k), held.remove(&k));
            }
        }
        let fresh = rebuilt(3, &held.iter().copied().collect::<Vec<_>>());
        assert_eq!(set.summary(), fresh.summary());
        for kind in Kind::ALL {
            assert_eq!(set.buckets(kind), fresh.buckets(kind));
            assert_eq!(set.len(kind), fresh.len(kind));
        }
        // Removing everything gives the empty digests back.
        for k in &held {
            set.remove(k);
        }
        assert_eq!(set.summary(), KeySet::new(3).summary());
    }

    #[test]
    fn the_three_levels_find_exactly_the_keys_one_side_lacks() {
        let mut rng = StdRng::seed_from_u64(11);
        let all: Vec<ItemKey> = (0..3_000)
            .map(|n| key(Kind::ALL[n as usize % KIND_COUNT], n))
            .collect();
        let theirs = rebuilt(1, &all);
        let ours_keys: Vec<ItemKey> = all.iter().copied().filter(|_| rng.gen_bool(0.97)).collect();
        let ours = rebuilt(1, &ours_keys);
        let lacking: BTreeSet<ItemKey> =
            all.iter().copied().filter(|k| !ours.contains(k)).collect();
        assert!(!lacking.is_empty());

        let mut found = BTreeSet::new();
        for kind in ours.kinds_differing(&theirs.summary()) {
            for bucket in ours.buckets_differing(&theirs.buckets(kind)) {
                let (keys, more) = theirs.bucket_keys(kind, bucket, bucket, 512);
                assert!(!more);
                found.extend(ours.missing(&keys));
            }
        }
        assert_eq!(found, lacking);
        // The side holding more finds nothing to fetch.
        for kind in theirs.kinds_differing(&ours.summary()) {
            for bucket in theirs.buckets_differing(&ours.buckets(kind)) {
                let (keys, _) = ours.bucket_keys(kind, bucket, bucket, 512);
                assert_eq!(theirs.missing(&keys).count(), 0);
            }
        }
    }

    #[test]
    fn per_epoch_kinds_are_compared_only_within_an_epoch() {
        let mut ours = KeySet::new(1);
        let mut theirs = KeySet::new(2);
        theirs.insert(key(Kind::Certificate, 1)).unwrap();
        theirs.insert(key(Kind::RevocationList, 1)).unwrap();
        assert_eq!(
            ours.kinds_differing(&theirs.summary()),
            vec![Kind::RevocationList]
        );
        ours.insert(key(Kind::Proposal, 9)).unwrap();
        ours.enter_epoch(2);
        assert_eq!(ours.len(Kind::Proposal), 0);
        assert_eq!(
            ours.kinds_differing(&theirs.summary()),
            vec![Kind::Certificate, Kind::RevocationList]
        );
    }

    #[test]
    fn a_kind_stops_at_its_bound() {
        let mut set = KeySet::new(0);
        for n in 0..KEYS_PER_KIND_MAX as u32 {
            assert_eq!(set.insert(key(Kind::Share, n)), Ok(true));
        }
        assert_eq!(set.insert(key(Kind::Share, u32::MAX)), Err(KindFull));
        assert_eq!(set.insert(key(Kind::Share, 0)), Ok(false));
        assert_eq!(set.insert(key(Kind::Proposal, 0)), Ok(true));
        assert_eq!(
            set.summary().kinds[Kind::Share.index()].count,
            KEYS_PER_KIND_MAX as u32
        );
    }

    #[test]
    fn bucket_keys_stop_at_their_bound_and_say_so() {
        let keys: Vec<ItemKey> = (0..20_000).map(|n| key(Kind::Share, n)).collect();
        let set = rebuilt(0, &keys);
        let bucket = keys[0].bucket();
        let in_bucket = keys.iter().filter(|k| k.bucket() == bucket).count();
        let (all, more) = set.bucket_keys(Kind::Share, bucket, bucket, usize::MAX);
        assert_eq!((all.len(), more), (in_bucket, false));
        assert!(all
            .iter()
            .all(|k| k.bucket() == bucket && k.kind == Kind::Share));
        let (some, more) = set.bucket_keys(Kind::Share, bucket, bucket, 10);
        assert_eq!((some.len(), more), (10, true));
        assert_eq!(some[..], all[..10]);
        // A range takes the buckets in it, in order.
        let (range, more) = set.bucket_keys(Kind::Share, 10, 12, usize::MAX);
        assert!(!more);
        assert_eq!(
            range.len(),
            keys.iter()
                .filter(|k| (10..=12).contains(&k.bucket()))
                .count()
        );
        assert!(range.windows(2).all(|w| w[0] < w[1]));
    }
}
