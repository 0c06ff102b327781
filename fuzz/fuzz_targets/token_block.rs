//! A block any holder can append to its token offline, with hostile datalog: the input is
//! the block's source, appended to the fixed access token (member 0, `sign` on the shares
//! topic only). Checks the verifier's promise (core/src/auth/token.rs) that an appended
//! block only narrows a token: it never adds a right, changes the holder or lengthens the
//! token's life.
#![no_main]

use std::sync::LazyLock;

use biscuit_auth::{Biscuit, BlockBuilder};
use libfuzzer_sys::fuzz_target;
use x0_core::auth::token::{
    derive_access, inspect, BiscuitVerifier, Operation, Request, TokenVerifier, VerifierConfig,
    ACCESS_TTL_S_DEFAULT, TOKEN_BYTES_MAX,
};
use x0_fuzz::{granted, holder, peer, APPEND_KEY, AUTHORITY, CREDENTIAL, NOW_MS};

/// Valid until this time, at the latest.
const ACCESS_UNTIL_MS: u64 = (NOW_MS / 1000 + ACCESS_TTL_S_DEFAULT) * 1000;

static ACCESS: LazyLock<Biscuit> = LazyLock::new(|| {
    let root = AUTHORITY.public();
    let token = derive_access(&CREDENTIAL, &root, NOW_MS / 1000, ACCESS_TTL_S_DEFAULT)
        .expect("the fixed access token derives");
    Biscuit::from(&token, root).expect("the fixed access token parses")
});

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(block) = BlockBuilder::new().code(source) else {
        return;
    };
    let Ok(token) = ACCESS
        .append_with_keypair(&APPEND_KEY, block)
        .and_then(|b| b.to_vec())
    else {
        return;
    };
    if token.len() > TOKEN_BYTES_MAX {
        return;
    }
    let root = AUTHORITY.public();
    let mut verifier = BiscuitVerifier::new(root, VerifierConfig::default());
    let member = holder();
    let other = peer(1);
    // The granted request, by its holder and by another member; then every operation on
    // its own topic and `sign` elsewhere, by the holder.
    let mut requests = vec![
        (&member, Operation::Sign, x0_core::topics::SHARES),
        (&other, Operation::Sign, x0_core::topics::SHARES),
        (&member, Operation::Sign, x0_core::topics::PROPOSALS),
    ];
    for operation in Operation::ALL {
        requests.push((&member, operation, operation.topic()));
    }
    for (asker, operation, topic) in requests {
        let request = Request {
            holder: asker,
            operation,
            topic,
        };
        let fresh = verifier
            .verify_uncached(&token, &request, NOW_MS)
            .map(|(_, granted)| granted);
        assert_eq!(verifier.verify(&token, &request, NOW_MS), fresh);
        let Ok(granted_now) = fresh else {
            continue;
        };
        assert_eq!(asker, &member, "an appended block changed the holder");
        assert!(
            granted()
                .iter()
                .any(|r| r.operation == operation && r.topic == topic),
            "an appended block granted {operation:?} on {topic}"
        );
        assert!(
            granted_now.valid_until_ms <= ACCESS_UNTIL_MS,
            "an appended block lengthened the token's life"
        );
    }
    let _ = inspect(&token, &root);
});
