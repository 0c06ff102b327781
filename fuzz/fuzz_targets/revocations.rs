//! Revocation lists from `/x0/1/revocations` and from `x0 token revoke` files
//! (core/src/auth/token.rs, read_revocations), applied to a revocation set
//! (core/src/auth/revocations.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;
use x0_core::auth::revocations::{ListRefusal, RevocationSet};
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
    let live: Vec<_> = list
        .entries
        .iter()
        .filter(|e| e.until_unix_s.saturating_mul(1000) > NOW_MS)
        .cloned()
        .collect();
    match set.plan(&list, NOW_MS) {
        Ok(plan) => {
            assert_eq!(plan.known, list.entries.len() - live.len());
            assert_eq!(plan.added, live);
            assert_eq!(plan.sequence, list.sequence);
            set.apply(&plan);
            let ids: Vec<Vec<u8>> = live.iter().map(|e| e.id.clone()).collect();
            assert!(ids
                .iter()
                .all(|id| set.is_revoked(std::slice::from_ref(id))));
        }
        Err(ListRefusal::Known) => assert!(live.is_empty(), "only an expired list is known"),
        Err(refusal) => panic!("a list within the per-list limit fits an empty set: {refusal:?}"),
    }
    // Planning it again adds nothing: every live id is held now.
    assert_eq!(set.plan(&list, NOW_MS), Err(ListRefusal::Known));
});
