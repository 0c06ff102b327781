//! The public guardian group file (core/src/guardians/group.rs), read as `x0 guardian`
//! reads it (node/src/cli/guardian/files.rs, read_group): JSON within the size limit, then
//! every consistency check; then the fixed group's shares checked against it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use x0_core::guardians::group::{Group, GROUP_FILE_BYTES_MAX};
use x0_fuzz::GUARDIAN_GROUP;

fuzz_target!(|data: &[u8]| {
    if data.len() > GROUP_FILE_BYTES_MAX {
        return;
    }
    let Ok(group) = serde_json::from_slice::<Group>(data) else {
        return;
    };
    let valid = group.validate();
    let _ = (group.id(), group.fingerprint());
    // Written back and read again, the group is the same group with the same verdict.
    let text = serde_json::to_vec(&group).expect("a read group writes");
    let again: Group = serde_json::from_slice(&text).expect("a written group reads");
    assert_eq!(again, group);
    assert_eq!(again.validate(), valid);
    if valid.is_ok() {
        for (index, key_package) in &GUARDIAN_GROUP.shares {
            let _ = group.check_share(*index, key_package);
        }
    }
});
