//! Proposals, as they arrive in an envelope on `/x0/1/proposals` and inside certificates
//! (core/src/certify/proposal.rs), and the gate's classification of them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use x0_core::certify::classify_proposal;
use x0_core::certify::proposal::Proposal;

fuzz_target!(|data: &[u8]| {
    let decoded = Proposal::decode(data);
    if let Ok(proposal) = &decoded {
        // The id is a hash of the canonical encoding, so the encoding must be unique: what
        // decoded re-encodes to the very bytes, and its id is computed without panicking.
        assert_eq!(proposal.encode(), data);
        let _ = proposal.id();
    }
    // The admission gate reads a proposal exactly as the certify core does.
    assert_eq!(
        classify_proposal(data).map(|(_, p)| p),
        decoded.ok(),
        "the gate and the core disagree on a proposal"
    );
});
