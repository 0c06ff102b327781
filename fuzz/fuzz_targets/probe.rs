//! Probe messages from the `/x0/1/probe` topic (core/src/probe/wire.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;
use x0_core::probe::Probe;

fuzz_target!(|data: &[u8]| {
    if let Ok(probe) = Probe::decode(data) {
        // One message, one encoding: what decoded re-encodes to the very bytes.
        assert_eq!(probe.encode(), data);
    }
});
