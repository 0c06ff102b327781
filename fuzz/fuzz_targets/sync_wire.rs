//! Requests and responses of `/x0/sync/1` (core/src/sync/wire.rs): the first byte picks
//! which side decodes the rest, so one corpus covers both.
#![no_main]

use libfuzzer_sys::fuzz_target;
use x0_core::sync::digest::BUCKET_COUNT;
use x0_core::sync::wire::{
    Request, Response, FETCH_KEYS_MAX, ITEMS_PER_RESPONSE_MAX, KEYS_PER_RESPONSE_MAX,
    REQUEST_BYTES_MAX, RESPONSE_BYTES_MAX,
};

fuzz_target!(|data: &[u8]| {
    let Some((&side, bytes)) = data.split_first() else {
        return;
    };
    if side % 2 == 0 {
        let Ok(request) = Request::decode(bytes) else {
            return;
        };
        // One encoding per message: a second spelling would be a second request.
        assert_eq!(request.encode(), bytes);
        assert!(bytes.len() <= REQUEST_BYTES_MAX);
        if let Request::Fetch(keys) = &request {
            assert!((1..=FETCH_KEYS_MAX).contains(&keys.len()));
        }
    } else {
        let Ok(response) = Response::decode(bytes) else {
            return;
        };
        assert_eq!(response.encode(), bytes);
        assert!(bytes.len() <= RESPONSE_BYTES_MAX);
        match &response {
            Response::Keys {
                first,
                last,
                hashes,
                ..
            } => {
                assert!(first <= last && hashes.len() <= KEYS_PER_RESPONSE_MAX);
                assert!(hashes.iter().all(|h| (*first..=*last).contains(&h[0])));
            }
            Response::Items(items) => {
                assert!(items.len() <= ITEMS_PER_RESPONSE_MAX);
                assert!(items
                    .iter()
                    .all(|i| !i.bytes.is_empty() && i.bytes.len() <= i.kind.bytes_max()));
            }
            Response::Buckets(buckets) => assert_eq!(buckets.buckets.len(), BUCKET_COUNT),
            Response::Summary(_) | Response::Busy { .. } => {}
        }
    }
});
