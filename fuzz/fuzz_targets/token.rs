//! Token bytes, as they arrive in every envelope and from `x0 token` files
//! (core/src/auth/token.rs): the verifier a node runs, its cache, and `inspect`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use x0_core::auth::token::{inspect, BiscuitVerifier, TokenVerifier, VerifierConfig};
use x0_fuzz::{holder, peer, request, AUTHORITY, NOW_MS};

fuzz_target!(|data: &[u8]| {
    let root = AUTHORITY.public();
    let mut verifier = BiscuitVerifier::new(root, VerifierConfig::default());
    for asker in [holder(), peer(1)] {
        let request = request(&asker);
        let fresh = verifier
            .verify_uncached(data, &request, NOW_MS)
            .map(|(_, granted)| granted);
        // The first answer fills the cache, the second comes from it: both must agree
        // with the uncached verification.
        assert_eq!(verifier.verify(data, &request, NOW_MS), fresh);
        assert_eq!(
            verifier.verify(data, &request, NOW_MS),
            fresh,
            "cached verdict differs"
        );
    }
    let _ = inspect(data, &root);
});
