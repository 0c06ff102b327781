//! The two ceremonies that create a group.
//!
//! * **Trusted dealer** ([`deal`]): frost's `generate_with_dealer` makes the key, splits
//!   it with Shamir and publishes the Feldman commitment; every share is verified against
//!   that commitment (`KeyPackage::try_from`) before it is handed out. The dealer saw the
//!   secret: run it on an offline machine and wipe it.
//! * **Dealerless DKG** ([`dkg_part1`], [`dkg_part2`], [`dkg_part3`]): frost's Pedersen
//!   DKG; each guardian runs its parts on its own machine, nobody ever holds the secret.
//!   Round-1 packages are broadcast; round-2 packages go to one recipient each over a
//!   confidential, authenticated channel.

use std::collections::BTreeMap;

use frost_ristretto255::keys::{self, dkg, IdentifierList, KeyPackage};
use frost_ristretto255::Identifier;
use rand::{CryptoRng, RngCore};

use super::group::Group;
use super::{check_name, check_parameters, identifier, index_of, GuardianError};

/// A new group and each guardian's verified key package, in guardian order (1..=n).
pub struct Dealt {
    pub group: Group,
    pub shares: Vec<(u16, KeyPackage)>,
}

/// Trusted-dealer ceremony: `guardians` shares of a fresh key, `threshold` needed.
pub fn deal<R: RngCore + CryptoRng>(
    name: &str,
    guardians: u16,
    threshold: u16,
    rng: &mut R,
) -> Result<Dealt, GuardianError> {
    check_name(name)?;
    check_parameters(guardians, threshold)?;
    let (secret_shares, public_key_package) =
        keys::generate_with_dealer(guardians, threshold, IdentifierList::Default, rng)?;
    let commitment = secret_shares
        .values()
        .next()
        .map(|share| share.commitment().clone())
        .ok_or_else(|| GuardianError::BadGroup("no shares dealt".into()))?;
    let group = Group::new(
        name,
        0,
        threshold,
        "dealer",
        public_key_package,
        Some(commitment),
    )?;
    let mut shares = Vec::with_capacity(guardians as usize);
    for (id, secret_share) in secret_shares {
        let index = index_of(&id, guardians).ok_or_else(|| {
            GuardianError::BadGroup("the dealer used an unexpected identifier".into())
        })?;
        // Feldman check of the share against the published commitment.
        let key_package = KeyPackage::try_from(secret_share)
            .map_err(|_| GuardianError::WrongShare { guardian: index })?;
        group.check_share(index, &key_package)?;
        shares.push((index, key_package));
    }
    Ok(Dealt { group, shares })
}

/// DKG part 1 for guardian `index`: the secret state to keep, and the package to broadcast.
pub fn dkg_part1<R: RngCore + CryptoRng>(
    index: u16,
    guardians: u16,
    threshold: u16,
    rng: &mut R,
) -> Result<(dkg::round1::SecretPackage, dkg::round1::Package), GuardianError> {
    check_parameters(guardians, threshold)?;
    if index == 0 || index > guardians {
        return Err(GuardianError::UnknownGuardian {
            guardian: index,
            guardians,
        });
    }
    Ok(dkg::part1(identifier(index)?, guardians, threshold, rng)?)
}

/// Keys a map of packages by FROST identifier, checking every index and that `own` is absent.
pub fn by_identifier<T>(
    packages: BTreeMap<u16, T>,
    own: u16,
    guardians: u16,
) -> Result<BTreeMap<Identifier, T>, GuardianError> {
    let mut out = BTreeMap::new();
    for (index, package) in packages {
        if index == 0 || index > guardians {
            return Err(GuardianError::UnknownGuardian {
                guardian: index,
                guardians,
            });
        }
        if index == own {
            return Err(GuardianError::Dkg(format!(
                "guardian {own}'s own package is among the others'"
            )));
        }
        out.insert(identifier(index)?, package);
    }
    Ok(out)
}

fn dkg_error(error: frost_ristretto255::Error, guardians: u16) -> GuardianError {
    if let Some(culprit) = error.culprits().first() {
        if let Some(index) = index_of(culprit, guardians) {
            return GuardianError::Dkg(format!(
                "guardian {index} sent an invalid package ({error})"
            ));
        }
    }
    GuardianError::Dkg(error.to_string())
}

/// DKG part 2: from the other guardians' round-1 packages (keyed by index), the secret
/// state to keep and one round-2 package per other guardian (keyed by index).
pub fn dkg_part2(
    own: u16,
    guardians: u16,
    secret: dkg::round1::SecretPackage,
    round1: BTreeMap<u16, dkg::round1::Package>,
) -> Result<
    (
        dkg::round2::SecretPackage,
        BTreeMap<u16, dkg::round2::Package>,
    ),
    GuardianError,
> {
    let round1 = by_identifier(round1, own, guardians)?;
    let (secret, packages) = dkg::part2(secret, &round1).map_err(|e| dkg_error(e, guardians))?;
    let mut out = BTreeMap::new();
    for (id, package) in packages {
        let index = index_of(&id, guardians)
            .ok_or_else(|| GuardianError::Dkg("unexpected recipient".into()))?;
        out.insert(index, package);
    }
    Ok((secret, out))
}

/// DKG part 3: the guardian's key package and the group, checked against each other.
pub fn dkg_part3(
    name: &str,
    own: u16,
    guardians: u16,
    threshold: u16,
    secret: &dkg::round2::SecretPackage,
    round1: BTreeMap<u16, dkg::round1::Package>,
    round2: BTreeMap<u16, dkg::round2::Package>,
) -> Result<(Group, KeyPackage), GuardianError> {
    check_name(name)?;
    let round1 = by_identifier(round1, own, guardians)?;
    let round2 = by_identifier(round2, own, guardians)?;
    let (key_package, public_key_package) =
        dkg::part3(secret, &round1, &round2).map_err(|e| dkg_error(e, guardians))?;
    let group = Group::new(name, 0, threshold, "dkg", public_key_package, None)?;
    group.check_share(own, &key_package)?;
    Ok((group, key_package))
}
