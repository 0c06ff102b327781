//! Wire format of `/x0/sync/1`, version 1: one request and one response per stream.
//!
//! Every message starts `version u8 = 1 | type u8`; integers are big-endian; a key on the
//! wire is `kind u8 | hash [32]` (items.rs), and keys in a list are strictly increasing, so
//! each message has one encoding.
//!
//! ```text
//! request  1 summary
//!          2 buckets  kind u8
//!          3 keys     kind u8 | first bucket u8 | last bucket u8 (first <= last)
//!          4 fetch    count u16 (1..=64) | key...
//! response 1 summary  epoch u64 | per kind, in kind order: count u32 | xor [16]
//!          2 buckets  kind u8 | 256 x (count u32 | xor [8])
//!          3 keys     kind u8 | first u8 | last u8 | more u8 (0 or 1)
//!                     | count u16 (..=512) | hash [32]... (each in buckets first..=last)
//!          4 items    count u16 (..=64) | (kind u8 | len u32 | bytes)...
//!                     (each within its kind's limit, all within RESPONSE_BYTES_MAX)
//!          5 busy     retry_after_ms u32
//! ```
//!
//! Decoding untrusted bytes never panics and checks every length against its limit before
//! it allocates. Whether a response answers the request it follows (the keys asked for,
//! the bucket asked for) is the sync core's check, not the codec's.

use super::digest::{
    BucketSummary, Buckets, KindSummary, Summary, BUCKET_COUNT, KEYS_PER_KIND_MAX,
};
use super::item::{Item, ItemKey, Kind, KEY_BYTES, KIND_COUNT};

pub const VERSION: u8 = 1;
/// Keys one fetch may ask for.
pub const FETCH_KEYS_MAX: usize = 64;
/// Keys one keys response may list.
pub const KEYS_PER_RESPONSE_MAX: usize = 512;
/// Items one items response may carry.
pub const ITEMS_PER_RESPONSE_MAX: usize = FETCH_KEYS_MAX;
pub const REQUEST_BYTES_MAX: usize = 2 + 2 + FETCH_KEYS_MAX * KEY_BYTES;
/// The largest response. It holds at least one item of the largest kind (a ballot
/// certificate of a full electorate); a server answering a fetch stops adding items there,
/// and the client asks again for the rest.
pub const RESPONSE_BYTES_MAX: usize = 1 << 20;
pub const SUMMARY_RESPONSE_BYTES: usize = 2 + 8 + KIND_COUNT * (4 + 16);
pub const BUCKETS_RESPONSE_BYTES: usize = 2 + 1 + BUCKET_COUNT * (4 + 8);
/// What one item adds to an items response besides its bytes.
pub const ITEM_OVERHEAD_BYTES: usize = 1 + 4;
const ITEMS_HEADER_BYTES: usize = 2 + 2;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Summary,
    Buckets(Kind),
    /// The keys in buckets `first..=last`.
    Keys {
        kind: Kind,
        first: u8,
        last: u8,
    },
    /// Strictly increasing, 1..=FETCH_KEYS_MAX keys.
    Fetch(Vec<ItemKey>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    Summary(Summary),
    Buckets(Buckets),
    Keys {
        kind: Kind,
        first: u8,
        last: u8,
        /// Strictly increasing hashes, each in buckets `first..=last`.
        hashes: Vec<[u8; 32]>,
        /// The buckets hold more than listed.
        more: bool,
    },
    Items(Vec<Item>),
    /// The server is over its budget for this peer; ask again after this long.
    Busy {
        retry_after_ms: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("truncated at {0}")]
    Truncated(&'static str),
    #[error("{extra} bytes after the message")]
    Trailing { extra: usize },
    #[error("message of {len} bytes exceeds {max}")]
    TooLarge { len: usize, max: usize },
    #[error("version {0} is not supported (this build speaks {VERSION})")]
    UnsupportedVersion(u8),
    #[error("message type {0} is not known")]
    UnknownType(u8),
    #[error("item kind {0} is not known")]
    UnknownKind(u8),
    #[error("{field}: {count} exceeds {max}")]
    Count {
        field: &'static str,
        count: usize,
        max: usize,
    },
    #[error("{0} are not strictly increasing")]
    Unordered(&'static str),
    #[error("a bucket range whose first bucket is after its last")]
    BucketRange,
    #[error("a key outside the buckets it is listed in")]
    OutsideBucket,
    #[error("{field} must be 0 or 1, got {value}")]
    Flag { field: &'static str, value: u8 },
}

impl WireError {
    /// Label for refusal metrics and the verdict table.
    pub fn reason(&self) -> &'static str {
        "sync_malformed"
    }
}

const REQUEST_SUMMARY: u8 = 1;
const REQUEST_BUCKETS: u8 = 2;
const REQUEST_KEYS: u8 = 3;
const REQUEST_FETCH: u8 = 4;
const RESPONSE_SUMMARY: u8 = 1;
const RESPONSE_BUCKETS: u8 = 2;
const RESPONSE_KEYS: u8 = 3;
const RESPONSE_ITEMS: u8 = 4;
const RESPONSE_BUSY: u8 = 5;

impl Request {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![VERSION];
        match self {
            Request::Summary => out.push(REQUEST_SUMMARY),
            Request::Buckets(kind) => out.extend([REQUEST_BUCKETS, kind.code()]),
            Request::Keys { kind, first, last } => {
                assert!(first <= last, "a bucket range in order");
                out.extend([REQUEST_KEYS, kind.code(), *first, *last])
            }
            Request::Fetch(keys) => {
                assert!(
                    (1..=FETCH_KEYS_MAX).contains(&keys.len()),
                    "a fetch asks for 1..={FETCH_KEYS_MAX} keys"
                );
                assert!(
                    keys.windows(2).all(|w| w[0] < w[1]),
                    "fetched keys are sorted and distinct"
                );
                out.push(REQUEST_FETCH);
                out.extend_from_slice(&(keys.len() as u16).to_be_bytes());
                for key in keys {
                    out.push(key.kind.code());
                    out.extend_from_slice(&key.hash);
                }
            }
        }
        debug_assert!(out.len() <= REQUEST_BYTES_MAX);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Request, WireError> {
        let mut r = Reader::open(bytes, REQUEST_BYTES_MAX)?;
        let request = match r.u8("type")? {
            REQUEST_SUMMARY => Request::Summary,
            REQUEST_BUCKETS => Request::Buckets(r.kind()?),
            REQUEST_KEYS => {
                let kind = r.kind()?;
                let (first, last) = r.bucket_range()?;
                Request::Keys { kind, first, last }
            }
            REQUEST_FETCH => {
                let count = r.count("fetch keys", FETCH_KEYS_MAX)?;
                if count == 0 {
                    return Err(WireError::Truncated("fetch keys"));
                }
                let mut keys = Vec::with_capacity(count);
                for _ in 0..count {
                    let kind = r.kind()?;
                    keys.push(ItemKey {
                        kind,
                        hash: r.hash()?,
                    });
                }
                if !keys.windows(2).all(|w| w[0] < w[1]) {
                    return Err(WireError::Unordered("fetch keys"));
                }
                Request::Fetch(keys)
            }
            other => return Err(WireError::UnknownType(other)),
        };
        r.finish()?;
        Ok(request)
    }
}

impl Response {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![VERSION];
        match self {
            Response::Summary(summary) => {
                out.push(RESPONSE_SUMMARY);
                out.extend_from_slice(&summary.epoch.to_be_bytes());
                for kind in &summary.kinds {
                    out.extend_from_slice(&kind.count.to_be_bytes());
                    out.extend_from_slice(&kind.xor);
                }
            }
            Response::Buckets(buckets) => {
                out.extend([RESPONSE_BUCKETS, buckets.kind.code()]);
                for bucket in buckets.buckets.iter() {
                    out.extend_from_slice(&bucket.count.to_be_bytes());
                    out.extend_from_slice(&bucket.xor);
                }
            }
            Response::Keys {
                kind,
                first,
                last,
                hashes,
                more,
            } => {
                assert!(hashes.len() <= KEYS_PER_RESPONSE_MAX, "too many keys");
                assert!(
                    hashes.windows(2).all(|w| w[0] < w[1]),
                    "listed keys are sorted and distinct"
                );
                assert!(first <= last, "a bucket range in order");
                assert!(
                    hashes.iter().all(|h| (*first..=*last).contains(&h[0])),
                    "keys in the buckets"
                );
                out.extend([RESPONSE_KEYS, kind.code(), *first, *last, u8::from(*more)]);
                out.extend_from_slice(&(hashes.len() as u16).to_be_bytes());
                for hash in hashes {
                    out.extend_from_slice(hash);
                }
            }
            Response::Items(items) => {
                assert!(items.len() <= ITEMS_PER_RESPONSE_MAX, "too many items");
                out.push(RESPONSE_ITEMS);
                out.extend_from_slice(&(items.len() as u16).to_be_bytes());
                for item in items {
                    assert!(
                        !item.bytes.is_empty() && item.bytes.len() <= item.kind.bytes_max(),
                        "an item within its kind's limit"
                    );
                    out.push(item.kind.code());
                    out.extend_from_slice(&(item.bytes.len() as u32).to_be_bytes());
                    out.extend_from_slice(&item.bytes);
                }
                assert!(
                    out.len() <= RESPONSE_BYTES_MAX,
                    "items within the response limit"
                );
            }
            Response::Busy { retry_after_ms } => {
                out.push(RESPONSE_BUSY);
                out.extend_from_slice(&retry_after_ms.to_be_bytes());
            }
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Response, WireError> {
        let mut r = Reader::open(bytes, RESPONSE_BYTES_MAX)?;
        let response = match r.u8("type")? {
            RESPONSE_SUMMARY => {
                let epoch = r.u64("epoch")?;
                let mut kinds = [KindSummary::default(); KIND_COUNT];
                for kind in &mut kinds {
                    let count = r.key_count("kind count")?;
                    kind.count = count;
                    kind.xor.copy_from_slice(r.take("kind xor", 16)?);
                }
                Response::Summary(Summary { epoch, kinds })
            }
            RESPONSE_BUCKETS => {
                let kind = r.kind()?;
                let mut buckets = Box::new([BucketSummary::default(); BUCKET_COUNT]);
                for bucket in buckets.iter_mut() {
                    let count = r.key_count("bucket count")?;
                    bucket.count = count;
                    bucket.xor.copy_from_slice(r.take("bucket xor", 8)?);
                }
                Response::Buckets(Buckets { kind, buckets })
            }
            RESPONSE_KEYS => {
                let kind = r.kind()?;
                let (first, last) = r.bucket_range()?;
                let more = match r.u8("more")? {
                    0 => false,
                    1 => true,
                    value => {
                        return Err(WireError::Flag {
                            field: "more",
                            value,
                        })
                    }
                };
                let count = r.count("keys", KEYS_PER_RESPONSE_MAX)?;
                let mut hashes = Vec::with_capacity(count);
                for _ in 0..count {
                    let hash = r.hash()?;
                    if !(first..=last).contains(&hash[0]) {
                        return Err(WireError::OutsideBucket);
                    }
                    hashes.push(hash);
                }
                if !hashes.windows(2).all(|w| w[0] < w[1]) {
                    return Err(WireError::Unordered("keys"));
                }
                Response::Keys {
                    kind,
                    first,
                    last,
                    hashes,
                    more,
                }
            }
            RESPONSE_ITEMS => {
                let count = r.count("items", ITEMS_PER_RESPONSE_MAX)?;
                let mut items = Vec::with_capacity(count);
                for _ in 0..count {
                    let kind = r.kind()?;
                    let len = r.u32("item length")? as usize;
                    if len == 0 || len > kind.bytes_max() {
                        return Err(WireError::Count {
                            field: "item length",
                            count: len,
                            max: kind.bytes_max(),
                        });
                    }
                    let bytes = r.take("item", len)?.to_vec();
                    items.push(Item { kind, bytes });
                }
                Response::Items(items)
            }
            RESPONSE_BUSY => Response::Busy {
                retry_after_ms: r.u32("retry_after_ms")?,
            },
            other => return Err(WireError::UnknownType(other)),
        };
        r.finish()?;
        Ok(response)
    }
}

/// How many bytes `item` adds to an items response: a server stops adding items before
/// the response would exceed [`RESPONSE_BYTES_MAX`].
pub fn item_wire_bytes(item: &Item) -> usize {
    ITEM_OVERHEAD_BYTES + item.bytes.len()
}

/// Bytes left for items in an empty items response.
pub const ITEMS_BYTES_MAX: usize = RESPONSE_BYTES_MAX - ITEMS_HEADER_BYTES;

/// Reads untrusted bytes; every take is bounds-checked.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn open(bytes: &'a [u8], max: usize) -> Result<Reader<'a>, WireError> {
        if bytes.len() > max {
            return Err(WireError::TooLarge {
                len: bytes.len(),
                max,
            });
        }
        let mut r = Reader { bytes, at: 0 };
        let version = r.u8("version")?;
        if version != VERSION {
            return Err(WireError::UnsupportedVersion(version));
        }
        Ok(r)
    }

    fn take(&mut self, field: &'static str, len: usize) -> Result<&'a [u8], WireError> {
        let end = self
            .at
            .checked_add(len)
            .filter(|end| *end <= self.bytes.len())
            .ok_or(WireError::Truncated(field))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, WireError> {
        Ok(self.take(field, 1)?[0])
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, WireError> {
        let b = self.take(field, 2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, WireError> {
        let b = self.take(field, 4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self, field: &'static str) -> Result<u64, WireError> {
        let mut out = [0u8; 8];
        out.copy_from_slice(self.take(field, 8)?);
        Ok(u64::from_be_bytes(out))
    }

    /// A count of keys in a digest: no more than a kind may hold.
    fn key_count(&mut self, field: &'static str) -> Result<u32, WireError> {
        let count = self.u32(field)?;
        if count as usize > KEYS_PER_KIND_MAX {
            return Err(WireError::Count {
                field,
                count: count as usize,
                max: KEYS_PER_KIND_MAX,
            });
        }
        Ok(count)
    }

    fn count(&mut self, field: &'static str, max: usize) -> Result<usize, WireError> {
        let count = usize::from(self.u16(field)?);
        if count > max {
            return Err(WireError::Count { field, count, max });
        }
        Ok(count)
    }

    fn kind(&mut self) -> Result<Kind, WireError> {
        let code = self.u8("kind")?;
        Kind::from_code(code).ok_or(WireError::UnknownKind(code))
    }

    fn bucket_range(&mut self) -> Result<(u8, u8), WireError> {
        let first = self.u8("first bucket")?;
        let last = self.u8("last bucket")?;
        if first > last {
            return Err(WireError::BucketRange);
        }
        Ok((first, last))
    }

    fn hash(&mut self) -> Result<[u8; 32], WireError> {
        let mut hash = [0u8; 32];
        hash.copy_from_slice(self.take("hash", 32)?);
        Ok(hash)
    }

    fn finish(self) -> Result<(), WireError> {
        match self.bytes.len() - self.at {
            0 => Ok(()),
            extra => Err(WireError::Trailing { extra }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::digest::KeySet;
    use super::*;

    fn key(kind: Kind, n: u32) -> ItemKey {
        ItemKey::of(kind, &n.to_be_bytes())
    }

    fn sample_set() -> KeySet {
        let mut set = KeySet::new(42);
        for n in 0..2_000 {
            set.insert(key(Kind::ALL[n as usize % KIND_COUNT], n))
                .unwrap();
        }
        set
    }

    fn requests() -> Vec<Request> {
        let mut fetch: Vec<ItemKey> = (0..FETCH_KEYS_MAX as u32)
            .map(|n| key(Kind::ALL[n as usize % KIND_COUNT], n))
            .collect();
        fetch.sort();
        vec![
            Request::Summary,
            Request::Buckets(Kind::Share),
            Request::Keys {
                kind: Kind::BallotMessage,
                first: 3,
                last: 255,
            },
            Request::Fetch(fetch),
            Request::Fetch(vec![key(Kind::Proposal, 1)]),
        ]
    }

    fn responses() -> Vec<Response> {
        let set = sample_set();
        let bucket = key(Kind::Share, 6).bucket();
        let (keys, more) = set.bucket_keys(Kind::Share, bucket, bucket, KEYS_PER_RESPONSE_MAX);
        vec![
            Response::Summary(set.summary()),
            Response::Buckets(set.buckets(Kind::Certificate)),
            Response::Keys {
                kind: Kind::Share,
                first: bucket,
                last: bucket,
                hashes: keys.iter().map(|k| k.hash).collect(),
                more,
            },
            Response::Keys {
                kind: Kind::Proposal,
                first: 9,
                last: 20,
                hashes: vec![],
                more: true,
            },
            Response::Items(vec![
                Item {
                    kind: Kind::Certificate,
                    bytes: vec![1; 300],
                },
                Item {
                    kind: Kind::Share,
                    bytes: vec![2],
                },
            ]),
            Response::Items(vec![]),
            Response::Busy {
                retry_after_ms: 1_500,
            },
        ]
    }

    #[test]
    fn every_message_round_trips_and_stays_within_its_limit() {
        for request in requests() {
            let bytes = request.encode();
            assert!(bytes.len() <= REQUEST_BYTES_MAX);
            assert_eq!(Request::decode(&bytes), Ok(request));
        }
        for response in responses() {
            let bytes = response.encode();
            assert!(bytes.len() <= RESPONSE_BYTES_MAX);
            assert_eq!(Response::decode(&bytes), Ok(response));
        }
        assert_eq!(
            Response::Summary(sample_set().summary()).encode().len(),
            SUMMARY_RESPONSE_BYTES
        );
        assert_eq!(
            Response::Buckets(sample_set().buckets(Kind::Share))
                .encode()
                .len(),
            BUCKETS_RESPONSE_BYTES
        );
    }

    #[test]
    fn every_truncation_and_every_extra_byte_is_refused() {
        for request in requests() {
            let bytes = request.encode();
            for len in 0..bytes.len() {
                assert!(
                    Request::decode(&bytes[..len]).is_err(),
                    "{request:?} cut at {len}"
                );
            }
            let mut longer = bytes.clone();
            longer.push(0);
            // At the limit already, one byte more is over it.
            assert!(matches!(
                Request::decode(&longer),
                Err(WireError::Trailing { extra: 1 } | WireError::TooLarge { .. })
            ));
        }
        for response in responses() {
            let bytes = response.encode();
            for len in 0..bytes.len() {
                assert!(
                    Response::decode(&bytes[..len]).is_err(),
                    "{response:?} cut at {len}: {:?}",
                    Response::decode(&bytes[..len])
                );
            }
            let mut longer = bytes.clone();
            longer.push(0);
            assert!(Response::decode(&longer).is_err());
        }
    }

    #[test]
    fn each_message_has_one_encoding() {
        // Fetch keys out of order, or twice.
        let a = key(Kind::Share, 1);
        let b = key(Kind::Share, 2);
        let (low, high) = if a < b { (a, b) } else { (b, a) };
        let mut bytes = Request::Fetch(vec![low, high]).encode();
        bytes[4..].rotate_left(KEY_BYTES);
        assert_eq!(
            Request::decode(&bytes),
            Err(WireError::Unordered("fetch keys"))
        );
        let mut twice = Request::Fetch(vec![low]).encode();
        twice[3] = 2;
        let key_bytes = twice[4..].to_vec();
        twice.extend_from_slice(&key_bytes);
        assert_eq!(
            Request::decode(&twice),
            Err(WireError::Unordered("fetch keys"))
        );
        // A flag other than 0 or 1.
        let mut keys = Response::Keys {
            kind: Kind::Share,
            first: 3,
            last: 3,
            hashes: vec![],
            more: false,
        }
        .encode();
        keys[5] = 2;
        assert_eq!(
            Response::decode(&keys),
            Err(WireError::Flag {
                field: "more",
                value: 2
            })
        );
    }

    #[test]
    fn limits_are_checked_before_anything_is_allocated() {
        // An empty fetch, and one over the key limit.
        assert_eq!(
            Request::decode(&[VERSION, REQUEST_FETCH, 0, 0]),
            Err(WireError::Truncated("fetch keys"))
        );
        assert!(matches!(
            Request::decode(&[VERSION, REQUEST_FETCH, 0, 65]),
            Err(WireError::Count { count: 65, .. })
        ));
        // Too many keys, too many items, an item over its kind's limit.
        assert!(matches!(
            Response::decode(&[VERSION, RESPONSE_KEYS, 2, 0, 0, 0, 0x02, 0x01]),
            Err(WireError::Count { count: 513, .. })
        ));
        assert!(matches!(
            Response::decode(&[VERSION, RESPONSE_ITEMS, 0, 65]),
            Err(WireError::Count { count: 65, .. })
        ));
        let share_max = Kind::Share.bytes_max() as u32 + 1;
        let mut item = vec![VERSION, RESPONSE_ITEMS, 0, 1, Kind::Share.code()];
        item.extend_from_slice(&share_max.to_be_bytes());
        assert!(matches!(
            Response::decode(&item),
            Err(WireError::Count {
                field: "item length",
                ..
            })
        ));
        // A digest counting more keys than a kind may hold.
        let mut summary = Response::Summary(sample_set().summary()).encode();
        summary[10..14].copy_from_slice(&(KEYS_PER_KIND_MAX as u32 + 1).to_be_bytes());
        assert!(matches!(
            Response::decode(&summary),
            Err(WireError::Count {
                field: "kind count",
                ..
            })
        ));
        // An empty item.
        let mut empty = vec![VERSION, RESPONSE_ITEMS, 0, 1, Kind::Share.code()];
        empty.extend_from_slice(&0u32.to_be_bytes());
        assert!(Response::decode(&empty).is_err());
        // Messages over the limit are refused by length alone.
        assert!(matches!(
            Request::decode(&vec![VERSION; REQUEST_BYTES_MAX + 1]),
            Err(WireError::TooLarge { .. })
        ));
        assert!(matches!(
            Response::decode(&vec![VERSION; RESPONSE_BYTES_MAX + 1]),
            Err(WireError::TooLarge { .. })
        ));
        // Other versions, types and kinds.
        assert_eq!(
            Request::decode(&[2, REQUEST_SUMMARY]),
            Err(WireError::UnsupportedVersion(2))
        );
        assert_eq!(
            Request::decode(&[VERSION, 9]),
            Err(WireError::UnknownType(9))
        );
        assert_eq!(
            Request::decode(&[VERSION, REQUEST_BUCKETS, 0]),
            Err(WireError::UnknownKind(0))
        );
    }

    #[test]
    fn a_listed_key_outside_its_bucket_is_refused() {
        let k = key(Kind::Share, 1);
        let b = k.bucket();
        let mut bytes = Response::Keys {
            kind: Kind::Share,
            first: b,
            last: b,
            hashes: vec![k.hash],
            more: false,
        }
        .encode();
        // Shift the range off the key: above it, or below it.
        let (first, last) = if b < 255 { (b + 1, b + 1) } else { (0, b - 1) };
        bytes[3] = first;
        bytes[4] = last;
        assert_eq!(Response::decode(&bytes), Err(WireError::OutsideBucket));
        // A range backwards.
        assert_eq!(
            Request::decode(&[VERSION, REQUEST_KEYS, 2, 5, 4]),
            Err(WireError::BucketRange)
        );
    }

    #[test]
    fn one_item_of_the_largest_kind_fits_a_response() {
        let largest = Kind::ALL.iter().map(|k| k.bytes_max()).max().unwrap();
        assert!(ITEM_OVERHEAD_BYTES + largest <= ITEMS_BYTES_MAX);
        let item = Item {
            kind: Kind::BallotCertificate,
            bytes: vec![7; Kind::BallotCertificate.bytes_max()],
        };
        let bytes = Response::Items(vec![item.clone()]).encode();
        assert_eq!(bytes.len(), ITEMS_HEADER_BYTES + item_wire_bytes(&item));
        assert_eq!(Response::decode(&bytes), Ok(Response::Items(vec![item])));
    }
}
