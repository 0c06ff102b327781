//! Revocation lists from `/x0/1/revocations` and from `x0 token revoke` files
//! (core/src/auth/token.rs, read_revocations), applied to a revocation set
//! (core/src/auth/revocations.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;
use x0_core::auth::revocations::{ListOutcome, RevocationSet};
use x0_core::auth::token::{mint_revocations, read_revocations, REVOCATION_IDS_PER_LIST_MAX};
use x0_fuzz::{AUTHORITY, NOW_MS};

fuzz_target!(|data: &[u8]| {
    let Ok(list) = read_revocations(data, &AUTHORITY.public()) else {
        return;
    };
    assert!(!list.entries.is_empty() && list.entries.len() <= REVOCATION_IDS_PER_LIST_MAX);
    assert!(
        list.entries.windows(2).all(|w| w[0] < w[1]),
        "entries sorted"
    );
    // Minted again by the authority, the list reads back the same.
    let again = mint_revocations(&AUTHORITY, &list).expect("a read list mints");
    assert_eq!(
        read_revocations(&again, &AUTHORITY.public()),
        Ok(list.clone())
    );
    let mut set = RevocationSet::new(REVOCATION_IDS_PER_LIST_MAX);
    match set.apply(&list, NOW_MS) {
        ListOutcome::Applied { added, known } => {
            assert_eq!(known, 0);
            assert_eq!(added, list.entries);
            let ids: Vec<Vec<u8>> = list.entries.iter().map(|e| e.id.clone()).collect();
            assert!(set.is_revoked(&ids));
        }
        ListOutcome::Full => panic!("a list within the per-list limit fits an empty set"),
    }
    // Applying it again adds nothing.
    assert!(matches!(
        set.apply(&list, NOW_MS),
        ListOutcome::Applied { ref added, .. } if added.is_empty()
    ));
});
