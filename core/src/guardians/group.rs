//! The public group file: what every guardian and node may know. The group key, each
//! guardian's verifying share (the Feldman commitment evaluated at the guardian, which is
//! what a share is checked against), the threshold and the epoch (bumped by each refresh).
//! The dealer's polynomial commitment is kept too while the group is at epoch 0.

use std::collections::BTreeSet;

use frost_ristretto255::keys::{
    KeyPackage, PublicKeyPackage, VerifiableSecretSharingCommitment, VerifyingShare,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{check_name, check_parameters, identifier, GuardianError};

/// Version of the group file format.
pub const GROUP_VERSION: u8 = 1;
/// Largest group file accepted (bytes): 255 guardians' shares in JSON fit in well under it.
pub const GROUP_FILE_BYTES_MAX: usize = 128 * 1024;

/// A group's id: SHA-256 over a label, the name and the group key. Constant across
/// refreshes (the key does not change) and different for another group or name.
pub type GroupId = [u8; 32];

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    pub version: u8,
    /// e.g. `sublime` (the store's 3 of 10) or `emergency` (the seed's 3 of 5).
    pub name: String,
    /// 0 after the ceremony; +1 for every refresh.
    pub epoch: u32,
    pub threshold: u16,
    pub guardians: u16,
    /// How the group was made: `dealer` or `dkg`.
    pub ceremony: String,
    pub public_key_package: PublicKeyPackage,
    /// The trusted dealer's Feldman commitment (epoch 0 of a dealer ceremony only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commitment: Option<VerifiableSecretSharingCommitment>,
}

impl Group {
    /// Builds and checks a group.
    pub fn new(
        name: &str,
        epoch: u32,
        threshold: u16,
        ceremony: &str,
        public_key_package: PublicKeyPackage,
        commitment: Option<VerifiableSecretSharingCommitment>,
    ) -> Result<Group, GuardianError> {
        let guardians = u16::try_from(public_key_package.verifying_shares().len())
            .map_err(|_| GuardianError::BadGroup("too many verifying shares".into()))?;
        let group = Group {
            version: GROUP_VERSION,
            name: name.to_string(),
            epoch,
            threshold,
            guardians,
            ceremony: ceremony.to_string(),
            public_key_package,
            commitment,
        };
        group.validate()?;
        Ok(group)
    }

    /// Everything a reader must check before trusting the file.
    pub fn validate(&self) -> Result<(), GuardianError> {
        if self.version != GROUP_VERSION {
            return Err(GuardianError::BadGroup(format!(
                "version {} (this x0 reads {GROUP_VERSION})",
                self.version
            )));
        }
        check_name(&self.name)?;
        check_parameters(self.guardians, self.threshold)?;
        if self.ceremony != "dealer" && self.ceremony != "dkg" {
            return Err(GuardianError::BadGroup(format!(
                "ceremony `{}` (dealer or dkg)",
                self.ceremony
            )));
        }
        let pkp = &self.public_key_package;
        if pkp.min_signers() != Some(self.threshold) {
            return Err(GuardianError::BadGroup(format!(
                "the key package's threshold {:?} differs from threshold {}",
                pkp.min_signers(),
                self.threshold
            )));
        }
        let expected: BTreeSet<_> = (1..=self.guardians)
            .map(identifier)
            .collect::<Result<_, _>>()?;
        let present: BTreeSet<_> = pkp.verifying_shares().keys().copied().collect();
        if expected != present {
            return Err(GuardianError::BadGroup(format!(
                "verifying shares are not exactly guardians 1..={}",
                self.guardians
            )));
        }
        if let Some(commitment) = &self.commitment {
            if self.epoch != 0 {
                return Err(GuardianError::BadGroup(
                    "a dealer commitment only describes epoch 0".into(),
                ));
            }
            let derived = PublicKeyPackage::from_commitment(&present, commitment)?;
            if &derived != pkp {
                return Err(GuardianError::BadGroup(
                    "the verifying shares do not follow from the published commitment".into(),
                ));
            }
        }
        Ok(())
    }

    /// The group key's 32 bytes.
    pub fn verifying_key_bytes(&self) -> Vec<u8> {
        self.public_key_package
            .verifying_key()
            .serialize()
            .unwrap_or_default()
    }

    pub fn id(&self) -> GroupId {
        let mut hash = Sha256::new();
        hash.update(b"x0/guardian-group/v1\0");
        hash.update((self.name.len() as u8).to_be_bytes());
        hash.update(self.name.as_bytes());
        hash.update(self.verifying_key_bytes());
        hash.finalize().into()
    }

    /// The first 8 bytes of the id in hex: what guardians read aloud to compare.
    pub fn fingerprint(&self) -> String {
        hex::encode(&self.id()[..8])
    }

    /// Checks guardian `index`'s key package against this group: the right identifier,
    /// the group key, the threshold, and the share against the guardian's verifying share
    /// (g^share must equal the commitment evaluated at the guardian).
    pub fn check_share(&self, index: u16, key_package: &KeyPackage) -> Result<(), GuardianError> {
        if index == 0 || index > self.guardians {
            return Err(GuardianError::UnknownGuardian {
                guardian: index,
                guardians: self.guardians,
            });
        }
        let id = identifier(index)?;
        if key_package.verifying_key() != self.public_key_package.verifying_key() {
            return Err(GuardianError::ForeignShare { guardian: index });
        }
        if key_package.identifier() != &id || *key_package.min_signers() != self.threshold {
            return Err(GuardianError::WrongShare { guardian: index });
        }
        let derived = VerifyingShare::from(*key_package.signing_share());
        match self.public_key_package.verifying_shares().get(&id) {
            Some(expected) if *expected == derived => Ok(()),
            _ => Err(GuardianError::WrongShare { guardian: index }),
        }
    }
}
