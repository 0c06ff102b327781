//! Sublime store objects (core/src/guardians/store.rs, open), as `x0 sublime get` reads
//! them with the fixed master key, group id and object name.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use x0_core::guardians::store::{open, MasterKey};
use x0_fuzz::{master_key, GUARDIAN_GROUP, OBJECT_NAME};

static MASTER: LazyLock<MasterKey> = LazyLock::new(master_key);
static GROUP_ID: LazyLock<[u8; 32]> = LazyLock::new(|| GUARDIAN_GROUP.group.id());

fuzz_target!(|data: &[u8]| {
    if let Ok(content) = open(&MASTER, &GROUP_ID, OBJECT_NAME, data) {
        // Magic, version, group id, name, two nonces, the wrapped key, the length and the tag.
        let overhead = 4 + 1 + 32 + 1 + OBJECT_NAME.len() + 24 + 48 + 24 + 4 + 16;
        assert_eq!(content.len() + overhead, data.len());
    }
});
