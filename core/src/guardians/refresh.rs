//! Refresh and repair, both frost's.
//!
//! **Refresh** (trusted coordinator, who needs no secret): [`refresh_deal`] draws
//! zero-sum refreshing shares for every guardian from the public group alone
//! (`compute_refreshing_shares`) and the next epoch's group; each guardian applies its
//! refreshing share to its own share ([`refresh_apply`], `refresh_share`). The group key is
//! unchanged; every share changes, so shares of different epochs do not combine.
//!
//! **Repair** (three steps, `repair_share_part1/2/3`): each of `threshold` helpers splits
//! its Lagrange-weighted share into random deltas, one per helper; each helper sums the
//! deltas it received into a sigma; the lost guardian sums the sigmas into its share. No
//! party sees another's share or the secret. The result is checked against the group.

use std::collections::BTreeMap;

use frost_ristretto255::keys::repairable::{self, Delta, Sigma};
use frost_ristretto255::keys::{refresh, KeyPackage, SecretShare, VerifyingShare};
use rand::{CryptoRng, RngCore};

use super::group::Group;
use super::{identifier, index_of, GuardianError};

/// The next epoch's group, and each guardian's refreshing share (secret: it turns the
/// guardian's old share into the new one).
pub struct RefreshDeal {
    pub group: Group,
    pub refreshing: Vec<(u16, SecretShare)>,
}

/// Draws a refresh of every guardian of `group`.
pub fn refresh_deal<R: RngCore + CryptoRng>(
    group: &Group,
    rng: &mut R,
) -> Result<RefreshDeal, GuardianError> {
    group.validate()?;
    let ids: Vec<_> = (1..=group.guardians)
        .map(identifier)
        .collect::<Result<_, _>>()?;
    let (shares, public_key_package) =
        refresh::compute_refreshing_shares(group.public_key_package.clone(), &ids, rng)?;
    let epoch = group
        .epoch
        .checked_add(1)
        .ok_or_else(|| GuardianError::BadGroup("epoch overflow".into()))?;
    let next = Group::new(
        &group.name,
        epoch,
        group.threshold,
        &group.ceremony,
        public_key_package,
        None,
    )?;
    let mut refreshing = Vec::with_capacity(shares.len());
    for share in shares {
        let index = index_of(share.identifier(), group.guardians)
            .ok_or_else(|| GuardianError::BadGroup("refresh made an unknown identifier".into()))?;
        refreshing.push((index, share));
    }
    Ok(RefreshDeal {
        group: next,
        refreshing,
    })
}

/// Applies guardian `index`'s refreshing share to its current share (checked against
/// `old`), giving the share of epoch `new.epoch`, checked against `new`.
pub fn refresh_apply(
    old: &Group,
    new: &Group,
    index: u16,
    current: &KeyPackage,
    refreshing: SecretShare,
) -> Result<KeyPackage, GuardianError> {
    if old.id() != new.id() || new.epoch != old.epoch + 1 || new.threshold != old.threshold {
        return Err(GuardianError::BadGroup(
            "the new group is not the next epoch of the current one".into(),
        ));
    }
    old.check_share(index, current)?;
    if refreshing.identifier() != &identifier(index)? {
        return Err(GuardianError::WrongShare { guardian: index });
    }
    let refreshed = refresh::refresh_share(refreshing, current)
        .map_err(|_| GuardianError::WrongShare { guardian: index })?;
    // refresh_share keeps the old verifying share; store the consistent one.
    let signing_share = *refreshed.signing_share();
    let key_package = KeyPackage::new(
        *refreshed.identifier(),
        signing_share,
        VerifyingShare::from(signing_share),
        *refreshed.verifying_key(),
        *refreshed.min_signers(),
    );
    new.check_share(index, &key_package)?;
    Ok(key_package)
}

fn check_helpers(group: &Group, helpers: &[u16], lost: u16) -> Result<(), GuardianError> {
    if helpers.len() < group.threshold as usize {
        return Err(GuardianError::Repair(format!(
            "{} helpers, {} needed",
            helpers.len(),
            group.threshold
        )));
    }
    let mut seen = std::collections::BTreeSet::new();
    for &helper in helpers.iter().chain([lost].iter()) {
        if helper == 0 || helper > group.guardians {
            return Err(GuardianError::UnknownGuardian {
                guardian: helper,
                guardians: group.guardians,
            });
        }
        if !seen.insert(helper) {
            return Err(GuardianError::Repair(format!(
                "guardian {helper} is listed twice (or is both helper and the lost guardian)"
            )));
        }
    }
    Ok(())
}

/// Repair step 1, run by helper `own`: one delta per helper (including itself), keyed by
/// helper index. Each delta goes to that helper, confidentially.
pub fn repair_step1<R: RngCore + CryptoRng>(
    group: &Group,
    own: u16,
    share: &KeyPackage,
    helpers: &[u16],
    lost: u16,
    rng: &mut R,
) -> Result<BTreeMap<u16, Delta>, GuardianError> {
    check_helpers(group, helpers, lost)?;
    if !helpers.contains(&own) {
        return Err(GuardianError::Repair(format!(
            "guardian {own} is not among the helpers"
        )));
    }
    group.check_share(own, share)?;
    let ids: Vec<_> = helpers
        .iter()
        .map(|h| identifier(*h))
        .collect::<Result<_, _>>()?;
    let deltas = repairable::repair_share_part1::<frost_ristretto255::Ristretto255Sha512, _>(
        &ids,
        share,
        rng,
        identifier(lost)?,
    )?;
    let mut out = BTreeMap::new();
    for (id, delta) in deltas {
        let index = index_of(&id, group.guardians)
            .ok_or_else(|| GuardianError::Repair("unexpected helper".into()))?;
        out.insert(index, delta);
    }
    Ok(out)
}

/// Repair step 2, run by each helper: the sum of the deltas it received (one from every
/// helper, itself included). Goes to the lost guardian, confidentially.
pub fn repair_step2(
    group: &Group,
    helpers: &[u16],
    lost: u16,
    deltas: &BTreeMap<u16, Delta>,
) -> Result<Sigma, GuardianError> {
    check_helpers(group, helpers, lost)?;
    for helper in helpers {
        if !deltas.contains_key(helper) {
            return Err(GuardianError::Repair(format!(
                "no delta from helper {helper}"
            )));
        }
    }
    if deltas.len() != helpers.len() {
        return Err(GuardianError::Repair(
            "a delta from a guardian that is not a helper".into(),
        ));
    }
    let deltas: Vec<Delta> = deltas.values().copied().collect();
    Ok(repairable::repair_share_part2(&deltas))
}

/// Repair step 3, run by the lost guardian: its share from every helper's sigma, checked
/// against the group's verifying share for it.
pub fn repair_step3(
    group: &Group,
    helpers: &[u16],
    lost: u16,
    sigmas: &BTreeMap<u16, Sigma>,
) -> Result<KeyPackage, GuardianError> {
    check_helpers(group, helpers, lost)?;
    for helper in helpers {
        if !sigmas.contains_key(helper) {
            return Err(GuardianError::Repair(format!(
                "no sigma from helper {helper}"
            )));
        }
    }
    if sigmas.len() != helpers.len() {
        return Err(GuardianError::Repair(
            "a sigma from a guardian that is not a helper".into(),
        ));
    }
    let sigmas: Vec<Sigma> = sigmas.values().copied().collect();
    let key_package =
        repairable::repair_share_part3(&sigmas, identifier(lost)?, &group.public_key_package)?;
    group.check_share(lost, &key_package).map_err(|_| {
        GuardianError::Repair(format!(
            "the repaired share of guardian {lost} does not match the group: a helper used a \
             wrong or stale share, or a delta or sigma was altered"
        ))
    })?;
    Ok(key_package)
}
