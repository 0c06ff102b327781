//! Ballot messages from `/x0/1/ballots`: opens, votes, attestations and equivocation
//! evidence (core/src/ballot/wire.rs), and the gate's classification of them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use x0_core::ballot::wire::{classify, Message};

fuzz_target!(|data: &[u8]| {
    let _ = classify(data);
    let Ok(message) = Message::decode(data) else {
        return;
    };
    // The signed bytes and the ballot id are computed from the decoded fields: a second
    // encoding of the same message would be a second message with the same signature.
    assert_eq!(message.encode(), data, "a ballot message has one encoding");
    assert_eq!(Message::decode(&message.encode()).as_ref(), Ok(&message));
    match &message {
        Message::Open(open) => {
            let _ = (open.id(), open.signed_bytes());
        }
        Message::Vote(vote) => {
            let _ = vote.signed_bytes();
        }
        Message::Attestation(attestation) => {
            let _ = attestation.signed_bytes();
        }
        Message::Evidence(evidence) => {
            let _ = (
                evidence.first.signed_bytes(),
                evidence.second.signed_bytes(),
            );
        }
    }
});
