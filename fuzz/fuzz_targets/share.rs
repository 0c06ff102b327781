//! Signature shares from `/x0/1/shares` (core/src/certify/wire.rs), the curve point inside
//! (core/src/certify/scheme.rs) and its check against the fixed committee.
#![no_main]

use libfuzzer_sys::fuzz_target;
use x0_core::certify::proposal::ProposalId;
use x0_core::certify::scheme::{decode_share, signing_message, ThresholdScheme};
use x0_core::certify::wire::ShareMessage;
use x0_fuzz::COMMITTEE;

fuzz_target!(|data: &[u8]| {
    let Ok(message) = ShareMessage::decode(data) else {
        return;
    };
    assert_eq!(message.encode(), data);
    let Ok(share) = decode_share(&message.share) else {
        return;
    };
    // A point has one encoding: a second byte string for the same share would be a
    // second gossip message (a new message id) for one share.
    assert_eq!(
        share.to_bytes(),
        message.share,
        "non-canonical share encoding"
    );
    let scheme = COMMITTEE.scheme(message.class);
    let _ = scheme.verify_share(message.member, &signing_message(&message.id), &share);
    let _ = scheme.verify_share(
        message.member,
        &signing_message(&ProposalId([0; 32])),
        &share,
    );
});
