//! Ballot certificates, from the store and from `x0 ballot verify` files
//! (core/src/ballot/certificate.rs), verified offline with the node's own node-key
//! signature check (node/src/node_keys.rs) against the fixed electorate.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use x0_core::ballot::certificate::Certificate;
use x0_core::ballot::verify::OpenRules;
use x0_core::ids::PeerKey;
use x0_node::node_keys::PeerSignatures;

static ELECTORATE: LazyLock<Vec<PeerKey>> = LazyLock::new(x0_fuzz::electorate);

fuzz_target!(|data: &[u8]| {
    let Ok(certificate) = Certificate::decode(data) else {
        return;
    };
    assert_eq!(
        certificate.encode(),
        data,
        "a ballot certificate has one encoding"
    );
    let rules = OpenRules::default();
    let with_members = certificate.verify(&PeerSignatures, Some(&ELECTORATE), &rules);
    let alone = certificate.verify(&PeerSignatures, None, &rules);
    if let Ok(outcome) = with_members {
        // Knowing the committee only adds a check.
        assert_eq!(alone, Ok(outcome));
    }
});
