//! Guardian custody with real cryptography, in the manner of Vault's Shamir tests.

use std::collections::BTreeMap;

use frost_ristretto255::keys::{KeyPackage, SigningShare};
use frost_ristretto255::VerifyingKey;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use super::approval::{self, Approval, Operation, Request, SeenNonces};
use super::ceremony::{self, Dealt};
use super::group::Group;
use super::recovery::{master_key, recover};
use super::refresh::{refresh_apply, refresh_deal, repair_step1, repair_step2, repair_step3};
use super::share_file::{self, Header, KdfParams, Kind};
use super::store;
use super::GuardianError;

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

fn dealt(seed: u64) -> Dealt {
    ceremony::deal("sublime", 10, 3, &mut rng(seed)).expect("deal")
}

fn pick(shares: &[(u16, KeyPackage)], indices: &[u16]) -> Vec<(u16, KeyPackage)> {
    indices
        .iter()
        .map(|i| shares.iter().find(|(j, _)| j == i).cloned().unwrap())
        .collect()
}

/// Every 3-subset of 10 indices, in lexicographic order.
fn triples(n: u16) -> Vec<[u16; 3]> {
    let mut out = Vec::new();
    for a in 1..=n {
        for b in a + 1..=n {
            for c in b + 1..=n {
                out.push([a, b, c]);
            }
        }
    }
    out
}

/// A share with one byte of its secret scalar changed (still a valid scalar).
fn corrupt(share: &KeyPackage) -> KeyPackage {
    let mut bytes = share.signing_share().serialize();
    bytes[0] ^= 0x01;
    let signing_share = SigningShare::deserialize(&bytes).expect("still a scalar");
    KeyPackage::new(
        *share.identifier(),
        signing_share,
        *share.verifying_share(),
        *share.verifying_key(),
        *share.min_signers(),
    )
}

#[test]
fn all_120_triples_recover_the_same_key() {
    let Dealt { group, shares } = dealt(1);
    let subsets = triples(10);
    assert_eq!(subsets.len(), 120);
    let group_key = *group.public_key_package.verifying_key();
    let mut masters = std::collections::BTreeSet::new();
    for subset in subsets {
        let key = recover(&group, &pick(&shares, &subset)).expect("3 shares recover");
        assert_eq!(VerifyingKey::from(&key), group_key, "subset {subset:?}");
        masters.insert(*master_key(&group, &key).as_bytes());
    }
    assert_eq!(masters.len(), 1, "one master key from every subset");
}

#[test]
fn all_45_pairs_fail() {
    let Dealt { group, shares } = dealt(2);
    let mut pairs = 0;
    for a in 1..=10u16 {
        for b in a + 1..=10 {
            pairs += 1;
            let pair = pick(&shares, &[a, b]);
            assert_eq!(
                recover(&group, &pair).unwrap_err(),
                GuardianError::TooFewShares {
                    given: 2,
                    threshold: 3
                }
            );
            // Even frost's raw interpolation of two shares (lying min_signers = 2) does
            // not give the group key.
            let lying: Vec<KeyPackage> = pair
                .iter()
                .map(|(_, kp)| {
                    KeyPackage::new(
                        *kp.identifier(),
                        *kp.signing_share(),
                        *kp.verifying_share(),
                        *kp.verifying_key(),
                        2,
                    )
                })
                .collect();
            let wrong = frost_ristretto255::keys::reconstruct(&lying).expect("interpolates");
            assert_ne!(
                VerifyingKey::from(&wrong),
                *group.public_key_package.verifying_key()
            );
        }
    }
    assert_eq!(pairs, 45);
}

#[test]
fn a_corrupted_share_is_named_and_never_combined() {
    let Dealt { group, shares } = dealt(3);
    let mut three = pick(&shares, &[2, 5, 9]);
    three[1].1 = corrupt(&three[1].1);
    assert_eq!(
        recover(&group, &three).unwrap_err(),
        GuardianError::WrongShare { guardian: 5 }
    );
    // The share presented under another guardian's index is refused too.
    let swapped = vec![
        (2, shares[1].1.clone()),
        (5, shares[8].1.clone()),
        (9, shares[8].1.clone()),
    ];
    assert_eq!(
        recover(&group, &swapped).unwrap_err(),
        GuardianError::WrongShare { guardian: 5 }
    );
    let duplicate = pick(&shares, &[2, 2, 9]);
    assert_eq!(
        recover(&group, &duplicate).unwrap_err(),
        GuardianError::DuplicateGuardian(2)
    );
}

#[test]
fn a_foreign_share_is_named() {
    let ours = dealt(4);
    let theirs = dealt(5);
    let mut three = pick(&ours.shares, &[1, 2, 3]);
    three[2] = pick(&theirs.shares, &[3]).remove(0);
    assert_eq!(
        recover(&ours.group, &three).unwrap_err(),
        GuardianError::ForeignShare { guardian: 3 }
    );
}

/// Applies a refresh to every guardian.
fn refreshed(
    group: &Group,
    shares: &[(u16, KeyPackage)],
    seed: u64,
) -> (Group, Vec<(u16, KeyPackage)>) {
    let deal = refresh_deal(group, &mut rng(seed)).expect("refresh deal");
    assert_eq!(deal.refreshing.len(), 10);
    let mut new_shares = Vec::new();
    for (index, refreshing) in deal.refreshing {
        let current = &pick(shares, &[index])[0].1;
        let new = refresh_apply(group, &deal.group, index, current, refreshing).expect("apply");
        new_shares.push((index, new));
    }
    (deal.group, new_shares)
}

#[test]
fn refresh_keeps_the_key_and_old_and_new_shares_do_not_combine() {
    let Dealt { group, shares } = dealt(6);
    let (next, new_shares) = refreshed(&group, &shares, 7);
    assert_eq!(next.epoch, 1);
    assert_eq!(next.id(), group.id());
    assert_eq!(
        next.public_key_package.verifying_key(),
        group.public_key_package.verifying_key()
    );
    for (index, new) in &new_shares {
        let old = &pick(&shares, &[*index])[0].1;
        assert_ne!(old.signing_share(), new.signing_share(), "guardian {index}");
    }
    // All 120 triples of new shares recover the same key, and the same master key.
    let old_master = *master_key(
        &group,
        &recover(&group, &pick(&shares, &[1, 2, 3])).unwrap(),
    )
    .as_bytes();
    for subset in triples(10) {
        let key = recover(&next, &pick(&new_shares, &subset)).expect("new shares");
        assert_eq!(*master_key(&next, &key).as_bytes(), old_master);
    }
    // Mixed: two new and one old (and one new, two old) are refused, the old share named.
    let mut mixed = pick(&new_shares, &[1, 4]);
    mixed.extend(pick(&shares, &[7]));
    assert_eq!(
        recover(&next, &mixed).unwrap_err(),
        GuardianError::WrongShare { guardian: 7 }
    );
    // And without our per-share check, frost's interpolation of every mixed triple gives
    // a key that is not the group key.
    for subset in triples(10) {
        for old_position in 0..3 {
            let packages: Vec<KeyPackage> = subset
                .iter()
                .enumerate()
                .map(|(position, index)| {
                    let from = if position == old_position {
                        &shares
                    } else {
                        &new_shares
                    };
                    pick(from, &[*index])[0].1.clone()
                })
                .collect();
            let key = frost_ristretto255::keys::reconstruct(&packages).unwrap();
            assert_ne!(
                VerifyingKey::from(&key),
                *group.public_key_package.verifying_key(),
                "mixed {subset:?}, old at {old_position}"
            );
        }
    }
    // Old shares against the old group still verify (they are not erased by magic): the
    // runbook says to destroy them; the new group file refuses them.
    assert!(recover(&group, &pick(&shares, &[1, 2, 3])).is_ok());
}

#[test]
fn refresh_apply_refuses_a_refreshing_share_for_another_guardian() {
    let Dealt { group, shares } = dealt(8);
    let deal = refresh_deal(&group, &mut rng(9)).unwrap();
    let (_, for_two) = deal.refreshing[1].clone();
    assert_eq!(
        refresh_apply(&group, &deal.group, 1, &shares[0].1, for_two).unwrap_err(),
        GuardianError::WrongShare { guardian: 1 }
    );
}

fn repair(
    group: &Group,
    shares: &[(u16, KeyPackage)],
    helpers: &[u16],
    lost: u16,
    seed: u64,
) -> Result<KeyPackage, GuardianError> {
    let mut r = rng(seed);
    // Step 1 at every helper; deltas[to][from].
    let mut deltas: BTreeMap<u16, BTreeMap<u16, _>> = BTreeMap::new();
    for &helper in helpers {
        let share = &pick(shares, &[helper])[0].1;
        for (to, delta) in repair_step1(group, helper, share, helpers, lost, &mut r)? {
            deltas.entry(to).or_default().insert(helper, delta);
        }
    }
    let mut sigmas = BTreeMap::new();
    for &helper in helpers {
        sigmas.insert(
            helper,
            repair_step2(group, helpers, lost, &deltas[&helper])?,
        );
    }
    repair_step3(group, helpers, lost, &sigmas)
}

#[test]
fn repair_gives_a_share_that_works_with_the_others() {
    let Dealt { group, shares } = dealt(10);
    let lost = 4;
    let repaired = repair(&group, &shares, &[2, 6, 9], lost, 11).expect("repair");
    assert_eq!(repaired.signing_share(), shares[3].1.signing_share());
    for others in [[1u16, 7], [3, 10], [2, 6]] {
        let mut three = pick(&shares, &others);
        three.push((lost, repaired.clone()));
        let key = recover(&group, &three).expect("works with the others");
        assert_eq!(
            VerifyingKey::from(&key),
            *group.public_key_package.verifying_key()
        );
    }
    // Two helpers are not enough; a helper with a corrupted share spoils the result, which
    // is detected.
    assert!(matches!(
        repair(&group, &shares, &[2, 6], lost, 12),
        Err(GuardianError::Repair(_))
    ));
    let mut bad = shares.clone();
    bad[5].1 = corrupt(&bad[5].1);
    assert_eq!(
        repair(&group, &bad, &[2, 6, 9], lost, 13).unwrap_err(),
        GuardianError::WrongShare { guardian: 6 }
    );
}

fn approve(
    group: &Group,
    shares: &[(u16, KeyPackage)],
    signers: &[u16],
    operation: Operation,
    now_s: u64,
    seed: u64,
) -> Approval {
    let mut r = rng(seed);
    let request = Request::new(group, operation, now_s, 3600, &mut r).unwrap();
    let mut nonces = BTreeMap::new();
    let mut commitments = BTreeMap::new();
    for &index in signers {
        let share = &pick(shares, &[index])[0].1;
        let (n, c) = approval::commit(group, index, share, &mut r).unwrap();
        nonces.insert(index, n);
        commitments.insert(index, c);
    }
    let package = approval::signing_package(group, &request, commitments).unwrap();
    let mut signature_shares = BTreeMap::new();
    for &index in signers {
        let share = &pick(shares, &[index])[0].1;
        let s = approval::sign(group, index, share, &request, &package, &nonces[&index]).unwrap();
        signature_shares.insert(index, s);
    }
    approval::aggregate(group, &request, &package, signature_shares).unwrap()
}

#[test]
fn approval_verifies_once_and_refuses_replay_other_groups_and_operations() {
    let Dealt { group, shares } = dealt(14);
    let now = 1_700_000_000;
    let approval = approve(&group, &shares, &[3, 6, 10], Operation::Recover, now, 15);
    let mut seen = SeenNonces::default();
    approval::verify(&group, &approval, &Operation::Recover, now + 10, &mut seen).expect("valid");
    let replay = approval::verify(&group, &approval, &Operation::Recover, now + 20, &mut seen);
    assert!(matches!(replay, Err(GuardianError::Approval(m)) if m.contains("already used")));
    // For another operation.
    let mut fresh = SeenNonces::default();
    let other = approval::verify(
        &group,
        &approval,
        &Operation::Refresh { from_epoch: 0 },
        now,
        &mut fresh,
    );
    assert!(matches!(other, Err(GuardianError::Approval(m)) if m.contains("not refresh")));
    // Expired, and dated in the future.
    assert!(approval::verify(
        &group,
        &approval,
        &Operation::Recover,
        now + 3600,
        &mut fresh
    )
    .is_err());
    assert!(approval::verify(
        &group,
        &approval,
        &Operation::Recover,
        now - 1000,
        &mut fresh
    )
    .is_err());
    assert!(
        fresh.nonces.is_empty(),
        "no nonce recorded for a refused approval"
    );
    // Signed by the seed's emergency group (3 of 5), checked against the store's group.
    let emergency = ceremony::deal("emergency", 5, 3, &mut rng(16)).unwrap();
    let theirs = approve(
        &emergency.group,
        &emergency.shares,
        &[1, 2, 5],
        Operation::Recover,
        now,
        17,
    );
    approval::verify(
        &emergency.group,
        &theirs,
        &Operation::Recover,
        now,
        &mut SeenNonces::default(),
    )
    .expect("valid for its own group");
    let foreign = approval::verify(&group, &theirs, &Operation::Recover, now, &mut fresh);
    assert!(matches!(foreign, Err(GuardianError::Approval(m)) if m.contains("another group")));
    // The emergency group's signature relabelled as ours does not verify.
    let mut relabelled = theirs.clone();
    relabelled.request.group_id = hex::encode(group.id());
    let forged = approval::verify(&group, &relabelled, &Operation::Recover, now, &mut fresh);
    assert!(matches!(forged, Err(GuardianError::Approval(m)) if m.contains("does not verify")));
}

#[test]
fn approval_with_two_signers_cannot_be_made_and_a_bad_share_is_named() {
    let Dealt { group, shares } = dealt(18);
    let mut r = rng(19);
    let request = Request::new(&group, Operation::Recover, 100, 3600, &mut r).unwrap();
    let mut commitments = BTreeMap::new();
    let mut nonces = BTreeMap::new();
    for index in [1u16, 2] {
        let (n, c) =
            approval::commit(&group, index, &shares[index as usize - 1].1, &mut r).unwrap();
        commitments.insert(index, c);
        nonces.insert(index, n);
    }
    assert_eq!(
        approval::signing_package(&group, &request, commitments.clone()).unwrap_err(),
        GuardianError::TooFewShares {
            given: 2,
            threshold: 3
        }
    );
    let (n3, c3) = approval::commit(&group, 3, &shares[2].1, &mut r).unwrap();
    commitments.insert(3, c3);
    nonces.insert(3, n3);
    let package = approval::signing_package(&group, &request, commitments).unwrap();
    let mut sig = BTreeMap::new();
    for index in [1u16, 2, 3] {
        sig.insert(
            index,
            approval::sign(
                &group,
                index,
                &shares[index as usize - 1].1,
                &request,
                &package,
                &nonces[&index],
            )
            .unwrap(),
        );
    }
    // Guardian 2's share replaced by guardian 1's: frost names guardian 2.
    let one = sig[&1];
    sig.insert(2, one);
    let error = approval::aggregate(&group, &request, &package, sig).unwrap_err();
    assert_eq!(
        error,
        GuardianError::Approval("guardian 2 sent an invalid signature share".into())
    );
}

#[test]
fn seen_nonces_are_bounded() {
    let Dealt { group, shares } = dealt(20);
    let mut seen = SeenNonces::default();
    for i in 0..approval::SEEN_NONCES_MAX {
        seen.nonces.insert(format!("{i:032x}"), 10_000);
    }
    let approval = approve(&group, &shares, &[1, 2, 3], Operation::Recover, 5_000, 21);
    let full = approval::verify(&group, &approval, &Operation::Recover, 5_000, &mut seen);
    assert!(matches!(full, Err(GuardianError::Approval(m)) if m.contains("wait")));
    // Once those approvals have expired, they are forgotten and the new one passes.
    let later = approve(&group, &shares, &[1, 2, 3], Operation::Recover, 10_000, 22);
    approval::verify(&group, &later, &Operation::Recover, 10_001, &mut seen).unwrap();
    assert_eq!(seen.nonces.len(), 1);
}

#[test]
fn dkg_makes_a_group_no_dealer_saw() {
    let (n, t) = (5u16, 3u16);
    let mut r = rng(23);
    let mut secrets1 = BTreeMap::new();
    let mut round1 = BTreeMap::new();
    for i in 1..=n {
        let (s, p) = ceremony::dkg_part1(i, n, t, &mut r).unwrap();
        secrets1.insert(i, s);
        round1.insert(i, p);
    }
    let others = |i: u16, all: &BTreeMap<u16, _>| -> BTreeMap<u16, _> {
        all.iter()
            .filter(|(j, _)| **j != i)
            .map(|(j, p): (&u16, &frost_ristretto255::keys::dkg::round1::Package)| (*j, p.clone()))
            .collect()
    };
    let mut secrets2 = BTreeMap::new();
    let mut round2: BTreeMap<u16, BTreeMap<u16, _>> = BTreeMap::new(); // to -> from -> package
    for i in 1..=n {
        let (s, packages) =
            ceremony::dkg_part2(i, n, secrets1.remove(&i).unwrap(), others(i, &round1)).unwrap();
        secrets2.insert(i, s);
        for (to, package) in packages {
            round2.entry(to).or_default().insert(i, package);
        }
    }
    let mut groups = Vec::new();
    let mut shares = Vec::new();
    for i in 1..=n {
        let (g, kp) = ceremony::dkg_part3(
            "emergency",
            i,
            n,
            t,
            &secrets2[&i],
            others(i, &round1),
            round2[&i].clone(),
        )
        .unwrap();
        groups.push(g);
        shares.push((i, kp));
    }
    assert!(
        groups.windows(2).all(|w| w[0] == w[1]),
        "every guardian computes the same group"
    );
    let group = &groups[0];
    for subset in triples(n) {
        recover(group, &pick(&shares, &subset)).expect("DKG shares recover");
    }
    assert!(recover(group, &pick(&shares, &[1, 2])).is_err());
}

#[test]
fn share_file_round_trip_wrong_passphrase_and_tampering() {
    let Dealt { group, shares } = dealt(24);
    let header = Header {
        kind: Kind::Share,
        guardian: 3,
        epoch: 0,
        group_id: group.id(),
        kdf: KdfParams {
            memory_kib: 64,
            passes: 1,
            lanes: 1,
        },
    };
    let plain = shares[2].1.serialize().unwrap();
    let sealed = share_file::seal(&header, &plain, b"correct horse", &mut rng(25)).unwrap();
    let (read, opened) = share_file::open(&sealed, Kind::Share, b"correct horse").unwrap();
    assert_eq!(read, header);
    assert_eq!(&opened[..], &plain[..]);
    assert_eq!(
        share_file::open(&sealed, Kind::Share, b"wrong horse").unwrap_err(),
        GuardianError::Decrypt
    );
    // Every single-bit flip anywhere (header or ciphertext) is refused.
    for at in 0..sealed.len() {
        let mut tampered = sealed.clone();
        tampered[at] ^= 0x04;
        assert!(
            share_file::open(&tampered, Kind::Share, b"correct horse").is_err(),
            "byte {at}"
        );
    }
    assert!(matches!(
        share_file::open(&sealed, Kind::MasterKey, b"correct horse"),
        Err(GuardianError::Format { .. })
    ));
    assert!(matches!(
        share_file::seal(&header, &plain, b"short", &mut rng(26)),
        Err(GuardianError::Passphrase(_))
    ));
    assert!(share_file::open(&sealed[..50], Kind::Share, b"correct horse").is_err());
}

/// A file's Argon2 cost is read from the file, before the passphrase is tried: a crafted
/// file asking for more than the maxima is refused at once, naming the parameter, rather
/// than stalling the CLI in key stretching (the old bounds let a file ask for 1 GiB and
/// 16 passes, and argon2 itself allows 4 TiB).
#[test]
fn a_file_asking_for_a_huge_kdf_cost_is_refused_quickly_naming_the_parameter() {
    let Dealt { group, .. } = dealt(28);
    let header = Header {
        kind: Kind::MasterKey,
        guardian: 0,
        epoch: 0,
        group_id: group.id(),
        kdf: KdfParams::default(),
    };
    let passphrase = b"twelve chars and more";
    let sealed = share_file::seal(&header, &[7; 32], passphrase, &mut rng(29)).unwrap();
    // The default cost opens: it is within the maxima.
    assert!(KdfParams::default().memory_kib <= share_file::MEMORY_KIB_MAX);
    share_file::open(&sealed, Kind::MasterKey, passphrase).unwrap();
    // Offsets of m_kib, t, p in the header (after magic, version, kind, guardian, epoch,
    // group id).
    let crafted = |memory_kib: u32, passes: u32, lanes: u32| {
        let mut bytes = sealed.clone();
        bytes[44..48].copy_from_slice(&memory_kib.to_be_bytes());
        bytes[48..52].copy_from_slice(&passes.to_be_bytes());
        bytes[52..56].copy_from_slice(&lanes.to_be_bytes());
        bytes
    };
    let default = KdfParams::default();
    for (bytes, parameter) in [
        (
            crafted(1024 * 1024, default.passes, 1),
            "memory 1048576 KiB",
        ),
        (
            crafted(share_file::MEMORY_KIB_MAX + 1, default.passes, 1),
            "memory 65537 KiB",
        ),
        (crafted(default.memory_kib, 16, 1), "passes 16"),
        (
            crafted(default.memory_kib, u32::MAX, 1),
            "passes 4294967295",
        ),
        (crafted(default.memory_kib, default.passes, 16), "lanes 16"),
    ] {
        let started = std::time::Instant::now();
        let error = share_file::open(&bytes, Kind::MasterKey, passphrase).unwrap_err();
        let elapsed = started.elapsed();
        let message = error.to_string();
        assert!(
            matches!(error, GuardianError::Format { .. }) && message.contains(parameter),
            "{parameter}: {message}"
        );
        assert!(
            elapsed < std::time::Duration::from_millis(100),
            "{parameter}: refused after {elapsed:?}"
        );
    }
    // Sealing asks for no more than opening allows.
    let too_costly = Header {
        kdf: KdfParams {
            memory_kib: share_file::MEMORY_KIB_MAX,
            passes: share_file::PASSES_MAX + 1,
            lanes: 1,
        },
        ..header
    };
    let error = share_file::seal(&too_costly, &[7; 32], passphrase, &mut rng(30)).unwrap_err();
    assert!(
        error.to_string().contains("passes 5 outside 1..=4"),
        "{error}"
    );
}

#[test]
fn new_passphrases_need_twelve_characters_old_files_still_open() {
    let Dealt { group, .. } = dealt(31);
    let header = Header {
        kind: Kind::Share,
        guardian: 1,
        epoch: 0,
        group_id: group.id(),
        kdf: KdfParams {
            memory_kib: 64,
            passes: 1,
            lanes: 1,
        },
    };
    for short in [&b"elevenchars"[..], "ünïcödé-ñô".as_bytes()] {
        let error = share_file::seal(&header, &[1; 32], short, &mut rng(32)).unwrap_err();
        assert!(
            matches!(&error, GuardianError::Passphrase(m) if m.contains("at least 12")),
            "{error}"
        );
    }
    // Twelve characters of which some take two bytes: counted as characters.
    let twelve = "ünïcödé-ñôxy";
    assert_eq!(twelve.chars().count(), 12);
    share_file::seal(&header, &[1; 32], twelve.as_bytes(), &mut rng(33)).unwrap();
    // A file sealed under the old 8-byte minimum still opens with its passphrase: only
    // new files need the longer one.
    let old =
        share_file::seal_as_before_the_minimum_rose(&header, &[1; 32], b"eightchr", &mut rng(34))
            .unwrap();
    let (_, plain) = share_file::open(&old, Kind::Share, b"eightchr").unwrap();
    assert_eq!(&plain[..], &[1; 32]);
    assert!(share_file::check_passphrase_to_open(b"").is_err());
}

#[test]
fn store_round_trip_and_refusals() {
    let Dealt { group, shares } = dealt(27);
    let key = recover(&group, &pick(&shares, &[1, 5, 8])).unwrap();
    let master = master_key(&group, &key);
    let object = store::seal(
        &master,
        &group.id(),
        "notes.txt",
        b"meet at noon",
        &mut rng(28),
    )
    .unwrap();
    assert_eq!(
        &store::open(&master, &group.id(), "notes.txt", &object).unwrap()[..],
        b"meet at noon"
    );
    assert!(store::open(&master, &group.id(), "other.txt", &object).is_err());
    let other = dealt(29);
    let other_master = master_key(
        &other.group,
        &recover(&other.group, &pick(&other.shares, &[1, 2, 3])).unwrap(),
    );
    let wrong = store::open(&other_master, &group.id(), "notes.txt", &object).unwrap_err();
    assert!(wrong.to_string().contains("wrong master key"), "{wrong}");
    for at in 0..object.len() {
        let mut tampered = object.clone();
        tampered[at] ^= 0x10;
        assert!(
            store::open(&master, &group.id(), "notes.txt", &tampered).is_err(),
            "byte {at}"
        );
    }
    assert!(store::check_name("../x").is_err());
}

/// The drill: 7 guardians unreachable, one share leaked then refreshed; the store
/// stays readable and the leaked share is useless.
#[test]
fn drill_seven_unreachable_one_leaked_then_refreshed() {
    let Dealt { group, shares } = dealt(30);
    let master = master_key(
        &group,
        &recover(&group, &pick(&shares, &[1, 2, 3])).unwrap(),
    );
    let object = store::seal(&master, &group.id(), "vault", b"the seed", &mut rng(31)).unwrap();
    drop(master);
    // Guardian 2's share leaks. Refresh: every guardian applies its refreshing share.
    let leaked = pick(&shares, &[2]).remove(0);
    let (next, new_shares) = refreshed(&group, &shares, 32);
    // Only guardians 1, 2 and 3 are reachable afterwards (4..=10 unreachable).
    let reachable = pick(&new_shares, &[1, 2, 3]);
    let approval = approve(
        &next,
        &reachable,
        &[1, 2, 3],
        Operation::EmergencyAccess {
            store: "sublime".into(),
        },
        1000,
        33,
    );
    approval::verify(
        &next,
        &approval,
        &Operation::EmergencyAccess {
            store: "sublime".into(),
        },
        1001,
        &mut SeenNonces::default(),
    )
    .unwrap();
    let master = master_key(&next, &recover(&next, &reachable).unwrap());
    assert_eq!(
        &store::open(&master, &next.id(), "vault", &object).unwrap()[..],
        b"the seed"
    );
    // The leaked share with two current ones: refused (named), and useless in a raw combine.
    let with_leak = vec![leaked.clone(), reachable[0].clone(), reachable[2].clone()];
    assert_eq!(
        recover(&next, &with_leak).unwrap_err(),
        GuardianError::WrongShare { guardian: 2 }
    );
    let raw: Vec<KeyPackage> = with_leak.into_iter().map(|(_, kp)| kp).collect();
    let key = frost_ristretto255::keys::reconstruct(&raw).unwrap();
    assert_ne!(
        VerifyingKey::from(&key),
        *next.public_key_package.verifying_key()
    );
    // Nor can the leaked share sign an approval for the new epoch.
    assert!(approval::commit(&next, 2, &leaked.1, &mut rng(34)).is_err());
}
