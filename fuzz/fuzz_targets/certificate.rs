//! Certificates from `/x0/1/certificates` and from the store (core/src/certify/wire.rs),
//! checked as the certify node checks them against the fixed committee.
#![no_main]

use libfuzzer_sys::fuzz_target;
use x0_core::certify::scheme::{decode_certificate, signing_message, ThresholdScheme};
use x0_core::certify::threshold::share_count_min;
use x0_core::certify::wire::CertificateMessage;
use x0_fuzz::COMMITTEE;

fuzz_target!(|data: &[u8]| {
    let Ok(message) = CertificateMessage::decode(data) else {
        return;
    };
    assert_eq!(message.encode(), data, "a certificate has one encoding");
    assert_eq!(
        CertificateMessage::decode(&message.encode()).as_ref(),
        Ok(&message)
    );
    let Ok(signature) = decode_certificate(&message.signature) else {
        return;
    };
    assert_eq!(
        signature.to_bytes(),
        message.signature,
        "non-canonical signature encoding"
    );
    if message.proposal.epoch != COMMITTEE.epoch {
        return;
    }
    // The certify node's checks (core/src/certify/node.rs, on_certificate), then the
    // signature against the key set of the slot's class.
    let class = COMMITTEE.class_of(&message.proposal.slot);
    let size = COMMITTEE.size();
    if message.signers.len() < share_count_min(size, class)
        || message.signers.iter().any(|s| usize::from(*s) >= size)
    {
        return;
    }
    let id = message.proposal.id();
    let _ = COMMITTEE
        .scheme(class)
        .verify_certificate(&signing_message(&id), &signature);
});
