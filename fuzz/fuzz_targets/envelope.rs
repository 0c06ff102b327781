//! The envelope of every privileged message (core/src/auth/envelope.rs), and the admission
//! gate's classification of its payload on each privileged topic (core/src/known_topics.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;
use x0_core::auth::envelope::Sealed;
use x0_core::auth::gate::Classifier;
use x0_core::known_topics::KnownTopics;
use x0_core::topics;

fuzz_target!(|data: &[u8]| {
    let Ok(sealed) = Sealed::decode(data) else {
        return;
    };
    assert_eq!(sealed.encode(), data, "an envelope has one encoding");
    for topic in [topics::PROPOSALS, topics::SHARES, topics::BALLOTS] {
        let _ = KnownTopics.classify(topic, sealed.envelope.payload);
    }
});
