//! Sealed guardian files (core/src/guardians/share_file.rs): shares, DKG state, signing
//! nonces and the recovered master key, as `x0 guardian` and `x0 sublime` open them: the
//! clear header, then (under the fixed passphrase) the secret, then for a share its FROST
//! key package checked against the fixed group (node/src/cli/guardian/files.rs, read_share).
#![no_main]

use frost_ristretto255::keys::KeyPackage;
use libfuzzer_sys::fuzz_target;
use x0_core::guardians::share_file::{open, read_header, Kind};
use x0_fuzz::{GUARDIAN_GROUP, PASSPHRASE};

/// Argon2id work (KiB of memory times passes) up to which an input is also opened. A
/// header may declare up to 1 GiB and 16 passes (`check_kdf`); the seeds declare 8 KiB and
/// one pass, so mutants near them are opened at microseconds each while a header that
/// asks for seconds of key stretching is only read.
const KDF_WORK_MAX: u64 = 256;

const KINDS: [Kind; 5] = [
    Kind::Share,
    Kind::DkgRound1,
    Kind::DkgRound2,
    Kind::SigningNonces,
    Kind::MasterKey,
];

fuzz_target!(|data: &[u8]| {
    // Each file is opened as the kind its own kind byte names (a wrong kind is refused
    // before anything else).
    let kind = data
        .get(5)
        .and_then(|b| KINDS.get(usize::from(*b).wrapping_sub(1)))
        .copied()
        .unwrap_or(Kind::Share);
    let Ok(header) = read_header(data, kind) else {
        return;
    };
    assert_eq!(header.kind, kind);
    if u64::from(header.kdf.memory_kib) * u64::from(header.kdf.passes) > KDF_WORK_MAX {
        return;
    }
    let Ok((opened, plain)) = open(data, kind, PASSPHRASE) else {
        return;
    };
    assert_eq!(opened, header);
    match kind {
        Kind::Share => {
            let Ok(key_package) = KeyPackage::deserialize(&plain) else {
                return;
            };
            let group = &GUARDIAN_GROUP.group;
            if header.group_id == group.id() && header.epoch == group.epoch {
                let _ = group.check_share(header.guardian, &key_package);
            }
        }
        Kind::MasterKey => {
            let _ = <[u8; 32]>::try_from(&plain[..]);
        }
        Kind::DkgRound1 | Kind::DkgRound2 | Kind::SigningNonces => {}
    }
});
