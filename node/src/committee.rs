//! Committee keys: the `[committee]` config section, the trusted-dealer ceremony
//! (`x0 committee deal`) and members' secret share files.
//!
//! The dealer draws two BLS key sets with blsttc: the standard one (degree t, so t+1
//! shares combine) and the supermajority one (degree floor((n+t)/2), see
//! `x0_core::certify::committee`). The public halves go into every node's config; each
//! member gets one file, mode 0600, with its two secret shares. The dealer's secrets live
//! only in memory during the ceremony.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use blsttc::{PublicKeySet, SecretKeySet, SecretKeyShare, PK_SIZE};
use libp2p::PeerId;
use serde::{Deserialize, Serialize};
use x0_actors::messages::PeerKey;
use x0_core::certify::committee::{check_slot_pattern, key_set_threshold, Committee, MEMBERS_MAX};
use x0_core::certify::scheme::{BlsMember, MemberIndex};
use x0_core::certify::threshold::ChangeClass;

/// The `[committee]` section: public, identical on every node of the network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitteeSection {
    pub epoch: u64,
    /// Member PeerIds; the position is the member index.
    pub members: Vec<String>,
    /// Hex of the standard key set (degree t).
    pub public_key_set: String,
    /// Hex of the supermajority key set.
    pub supermajority_public_key_set: String,
    /// Slots that need a supermajority: exact slots or prefixes ending in `*`.
    #[serde(default)]
    pub supermajority_slots: Vec<String>,
    /// This node's secret share file, if it is a member; relative to the data dir.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_file: Option<PathBuf>,
}

/// One member's secret share file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareFile {
    pub epoch: u64,
    pub member: MemberIndex,
    pub peer_id: String,
    pub standard_share: String,
    pub supermajority_share: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CommitteeKeyError {
    /// A field of the `[committee]` section; the config reports it with its source.
    #[error("{message}")]
    Field { field: String, message: String },
    #[error("share file {path}: {message}")]
    ShareFile { path: PathBuf, message: String },
    #[error("members file {path}: {message}")]
    MembersFile { path: PathBuf, message: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn field(name: &str, message: impl Into<String>) -> CommitteeKeyError {
    CommitteeKeyError::Field {
        field: format!("committee.{name}"),
        message: message.into(),
    }
}

fn decode_key_set(name: &str, text: &str) -> Result<PublicKeySet, CommitteeKeyError> {
    let bytes = hex::decode(text.trim()).map_err(|e| {
        field(
            name,
            format!("is not hex ({e}); copy it from `x0 committee deal`'s committee.toml"),
        )
    })?;
    // blsttc reads whole 48-byte points and drops what is left: a cut-off key set would
    // silently lose its last coefficient, and one shorter than a point would be a set of
    // no coefficients, whose threshold underflows.
    if bytes.is_empty() || bytes.len() % PK_SIZE != 0 {
        return Err(field(
            name,
            format!(
                "is {} bytes, not a whole number of {PK_SIZE}-byte points; copy it whole from `x0 committee deal`'s committee.toml",
                bytes.len()
            ),
        ));
    }
    PublicKeySet::from_bytes(bytes)
        .map_err(|e| field(name, format!("is not a BLS public key set ({e}); copy it from `x0 committee deal`'s committee.toml")))
}

impl CommitteeSection {
    /// Checks the section and builds the committee (computing every member's public key
    /// shares once, for the epoch).
    pub fn committee(&self) -> Result<Committee, CommitteeKeyError> {
        let (members, standard, supermajority) = self.parts()?;
        Committee::new(
            self.epoch,
            members,
            standard,
            supermajority,
            self.supermajority_slots.clone(),
        )
        .map_err(committee_field_error)
    }

    /// Checks the section without building the committee: cheap enough for every config
    /// load, whatever the committee's size.
    pub fn check(&self) -> Result<(), CommitteeKeyError> {
        let (members, standard, supermajority) = self.parts()?;
        Committee::check(
            &members,
            &standard,
            &supermajority,
            &self.supermajority_slots,
        )
        .map_err(committee_field_error)
    }

    fn parts(&self) -> Result<(Vec<PeerKey>, PublicKeySet, PublicKeySet), CommitteeKeyError> {
        let n = self.members.len();
        if n == 0 || n > MEMBERS_MAX {
            return Err(field(
                "members",
                format!("needs 1..={MEMBERS_MAX} PeerIds, got {n}"),
            ));
        }
        let mut members = Vec::with_capacity(n);
        for (index, text) in self.members.iter().enumerate() {
            let peer: PeerId = text.parse().map_err(|e| {
                field(
                    &format!("members[{index}]"),
                    format!("`{text}` is not a PeerId ({e})"),
                )
            })?;
            members.push(PeerKey(peer.to_bytes()));
        }
        for (index, pattern) in self.supermajority_slots.iter().enumerate() {
            check_slot_pattern(pattern)
                .map_err(|e| field(&format!("supermajority_slots[{index}]"), e.to_string()))?;
        }
        let standard = decode_key_set("public_key_set", &self.public_key_set)?;
        let supermajority = decode_key_set(
            "supermajority_public_key_set",
            &self.supermajority_public_key_set,
        )?;
        Ok((members, standard, supermajority))
    }

    /// Loads this node's secret shares and checks they belong to it and to this committee.
    pub fn load_shares(
        &self,
        committee: &Committee,
        data_dir: &Path,
        own: &PeerId,
    ) -> Result<Option<(BlsMember, BlsMember)>, CommitteeKeyError> {
        let Some(file) = &self.share_file else {
            return Ok(None);
        };
        let path = data_dir.join(file);
        let share_error = |message: String| CommitteeKeyError::ShareFile {
            path: path.clone(),
            message,
        };
        let mode = fs::metadata(&path)
            .map_err(|source| CommitteeKeyError::Io {
                path: path.clone(),
                source,
            })?
            .permissions()
            .mode()
            & 0o777;
        if mode & 0o077 != 0 {
            return Err(share_error(format!(
                "mode {mode:o} lets other users read a secret share; run `chmod 600 {}`",
                path.display()
            )));
        }
        let text = fs::read_to_string(&path).map_err(|source| CommitteeKeyError::Io {
            path: path.clone(),
            source,
        })?;
        let share: ShareFile =
            toml::from_str(&text).map_err(|e| share_error(format!("not a share file: {e}")))?;
        if share.epoch != self.epoch {
            return Err(share_error(format!(
                "is for epoch {}, the committee is epoch {}",
                share.epoch, self.epoch
            )));
        }
        if share.peer_id != own.to_string()
            || committee.member(share.member) != Some(&PeerKey(own.to_bytes()))
        {
            return Err(share_error(format!(
                "belongs to member {} ({}), not to this node ({own}) at that index",
                share.member, share.peer_id
            )));
        }
        let mut members = Vec::new();
        for (name, text, class) in [
            (
                "standard_share",
                &share.standard_share,
                ChangeClass::Standard,
            ),
            (
                "supermajority_share",
                &share.supermajority_share,
                ChangeClass::Supermajority,
            ),
        ] {
            let secret = decode_secret_share(text)
                .ok_or_else(|| share_error(format!("`{name}` is not a BLS secret key share")))?;
            // The share must match the public key share the committee expects of this
            // member: otherwise everything it signs would be rejected as invalid.
            let expected = committee
                .scheme(class)
                .key_set()
                .public_key_share(usize::from(share.member));
            if secret.public_key_share() != expected {
                return Err(share_error(format!(
                    "`{name}` does not match the committee's public key set; was it dealt for another committee?"
                )));
            }
            members.push(BlsMember::new(share.member, secret));
        }
        let supermajority = members.pop().expect("two shares");
        let standard = members.pop().expect("two shares");
        Ok(Some((standard, supermajority)))
    }
}

/// Names the `[committee]` field a committee error is about.
fn committee_field_error(e: x0_core::certify::committee::CommitteeError) -> CommitteeKeyError {
    use x0_core::certify::committee::CommitteeError;
    let name = match &e {
        CommitteeError::KeySetThreshold {
            class: ChangeClass::Standard,
            ..
        } => "public_key_set".to_string(),
        CommitteeError::KeySetThreshold { .. } => "supermajority_public_key_set".into(),
        CommitteeError::DuplicateMember(index) => format!("members[{index}]"),
        CommitteeError::SlotPattern(_) => "supermajority_slots".into(),
        CommitteeError::Size(_) => "members".into(),
    };
    field(&name, e.to_string())
}

fn decode_secret_share(text: &str) -> Option<SecretKeyShare> {
    let bytes: [u8; 32] = hex::decode(text.trim()).ok()?.try_into().ok()?;
    SecretKeyShare::from_bytes(bytes).ok()
}

/// Reads a members file: one PeerId per line; blank lines and `#` comments skipped.
pub fn read_members(path: &Path) -> Result<Vec<PeerId>, CommitteeKeyError> {
    let text = fs::read_to_string(path).map_err(|source| CommitteeKeyError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let members_error = |message: String| CommitteeKeyError::MembersFile {
        path: path.to_path_buf(),
        message,
    };
    let mut members: Vec<PeerId> = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let peer: PeerId = line.parse().map_err(|e| {
            members_error(format!(
                "line {}: `{line}` is not a PeerId ({e})",
                number + 1
            ))
        })?;
        if members.contains(&peer) {
            return Err(members_error(format!(
                "line {}: {peer} is listed twice",
                number + 1
            )));
        }
        members.push(peer);
    }
    if members.is_empty() || members.len() > MEMBERS_MAX {
        return Err(members_error(format!(
            "needs 1..={MEMBERS_MAX} members, found {}",
            members.len()
        )));
    }
    Ok(members)
}

/// What a dealing produced: the public section and each member's share file.
pub struct Dealt {
    pub section: CommitteeSection,
    pub shares: Vec<ShareFile>,
}

/// The trusted-dealer ceremony, in memory.
pub fn deal(
    members: &[PeerId],
    epoch: u64,
    supermajority_slots: Vec<String>,
    rng: &mut (impl rand::RngCore + rand::CryptoRng),
) -> Dealt {
    let n = members.len();
    assert!(n > 0 && n <= MEMBERS_MAX);
    let standard = SecretKeySet::random(key_set_threshold(n, ChangeClass::Standard), rng);
    let supermajority = SecretKeySet::random(key_set_threshold(n, ChangeClass::Supermajority), rng);
    let shares = members
        .iter()
        .enumerate()
        .map(|(index, peer)| ShareFile {
            epoch,
            member: index as MemberIndex,
            peer_id: peer.to_string(),
            standard_share: hex::encode(standard.secret_key_share(index).to_bytes()),
            supermajority_share: hex::encode(supermajority.secret_key_share(index).to_bytes()),
        })
        .collect();
    Dealt {
        section: CommitteeSection {
            epoch,
            members: members.iter().map(|p| p.to_string()).collect(),
            public_key_set: hex::encode(standard.public_keys().to_bytes()),
            supermajority_public_key_set: hex::encode(supermajority.public_keys().to_bytes()),
            supermajority_slots,
            share_file: None,
        },
        shares,
    }
}

/// File name of member `index`'s share in the dealer's output dir.
pub fn share_file_name(index: MemberIndex) -> String {
    format!("member-{index:04}.share.toml")
}

/// Writes a dealing: `committee.toml` (the public `[committee]` section) and one share
/// file per member, created with mode 0600 and never overwriting an existing file.
pub fn write_dealt(dealt: &Dealt, out_dir: &Path) -> Result<Vec<PathBuf>, CommitteeKeyError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| CommitteeKeyError::Io { path, source }
    };
    fs::create_dir_all(out_dir).map_err(io(out_dir))?;
    let mut written = Vec::new();
    let public = out_dir.join("committee.toml");
    let text = format!(
        "# Committee of epoch {} ({} members), from `x0 committee deal`.\n\
         # Put this section in every node's config; add `share_file = \"<file>\"` on members.\n\
         {}",
        dealt.section.epoch,
        dealt.section.members.len(),
        toml::to_string(&CommitteeFile {
            committee: dealt.section.clone()
        })
        .expect("committee section serialises")
    );
    write_new(&public, text.as_bytes(), 0o644).map_err(io(&public))?;
    written.push(public);
    for share in &dealt.shares {
        let path = out_dir.join(share_file_name(share.member));
        let text = format!(
            "# Secret signature shares of committee member {} ({}). Keep this file secret.\n{}",
            share.member,
            share.peer_id,
            toml::to_string(share).expect("share file serialises")
        );
        write_new(&path, text.as_bytes(), 0o600).map_err(io(&path))?;
        written.push(path);
    }
    Ok(written)
}

/// Writes a share file into `data_dir` (mode 0600), as `share_file` expects it.
pub fn write_share_file(share: &ShareFile, path: &Path) -> Result<(), CommitteeKeyError> {
    let text = toml::to_string(share).expect("share file serialises");
    write_new(path, text.as_bytes(), 0o600).map_err(|source| CommitteeKeyError::Io {
        path: path.to_path_buf(),
        source,
    })
}

#[derive(Serialize, Deserialize)]
pub struct CommitteeFile {
    pub committee: CommitteeSection,
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// The committee a node runs with, built once at start.
pub type SharedCommittee = Arc<Committee>;

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;
    use x0_core::certify::scheme::{signing_message, ShareSigner, ThresholdScheme};

    use super::*;

    fn peers(n: usize) -> Vec<PeerId> {
        (0..n).map(|_| PeerId::random()).collect()
    }

    #[test]
    fn a_dealing_round_trips_through_files_and_signs_for_both_classes() {
        let members = peers(10);
        let dealt = deal(
            &members,
            4,
            vec!["charter/*".into()],
            &mut ChaCha20Rng::seed_from_u64(1),
        );
        let dir = tempfile::tempdir().unwrap();
        let written = write_dealt(&dealt, dir.path()).unwrap();
        assert_eq!(written.len(), 11);
        let share_path = dir.path().join(share_file_name(7));
        let mode = fs::metadata(&share_path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let text = fs::read_to_string(dir.path().join("committee.toml")).unwrap();
        let mut section = toml::from_str::<CommitteeFile>(&text).unwrap().committee;
        section.share_file = Some(share_path.clone());
        let committee = section.committee().unwrap();
        let (standard, supermajority) = section
            .load_shares(&committee, dir.path(), &members[7])
            .unwrap()
            .expect("member 7 has shares");
        let message = signing_message(&x0_core::certify::proposal::ProposalId([3; 32]));
        for (class, signer) in [
            (ChangeClass::Standard, &standard),
            (ChangeClass::Supermajority, &supermajority),
        ] {
            let share = signer.sign_share(&message);
            assert!(committee.scheme(class).verify_share(7, &message, &share));
        }
        // Another node cannot use member 7's file.
        let stolen = section.load_shares(&committee, dir.path(), &members[3]);
        assert!(matches!(stolen, Err(CommitteeKeyError::ShareFile { .. })));
        // An existing file is never overwritten.
        assert!(write_dealt(&dealt, dir.path()).is_err());
    }

    #[test]
    fn broken_sections_name_the_field() {
        let members = peers(4);
        let dealt = deal(&members, 1, vec![], &mut ChaCha20Rng::seed_from_u64(2));
        let other = deal(&peers(7), 1, vec![], &mut ChaCha20Rng::seed_from_u64(3));
        let cases: Vec<(CommitteeSection, &str)> = vec![
            (
                CommitteeSection {
                    public_key_set: "zz".into(),
                    ..dealt.section.clone()
                },
                "committee.public_key_set",
            ),
            (
                CommitteeSection {
                    members: vec!["not-a-peer".into(); 4],
                    ..dealt.section.clone()
                },
                "committee.members[0]",
            ),
            (
                // Key sets of a 7-member committee have the wrong degree for 4 members.
                CommitteeSection {
                    public_key_set: other.section.public_key_set.clone(),
                    ..dealt.section.clone()
                },
                "committee.public_key_set",
            ),
            (
                CommitteeSection {
                    supermajority_slots: vec!["Charter".into()],
                    ..dealt.section.clone()
                },
                "committee.supermajority_slots[0]",
            ),
        ];
        for (section, expected) in cases {
            match section.committee() {
                Err(CommitteeKeyError::Field { field, .. }) => assert_eq!(field, expected),
                Err(other) => panic!("{expected}: unexpected {other}"),
                Ok(_) => panic!("{expected}: accepted"),
            }
        }
    }

    #[test]
    fn key_sets_that_are_not_whole_points_are_refused() {
        let dealt = deal(&peers(4), 1, vec![], &mut ChaCha20Rng::seed_from_u64(4));
        let whole = dealt.section.public_key_set.clone();
        // Found by the config fuzz target (docs/FUZZING.md): 27 bytes, less than one point,
        // read as a key set of no coefficients whose threshold underflowed (a panic).
        let crash = "99e15ac1e246546e91fd48f6af2cb58703756900bfcf4e7ef15d4d";
        for (name, text) in [
            ("crash", crash.to_string()),
            ("empty", String::new()),
            ("one byte more", format!("{whole}00")),
            ("cut short", whole[..whole.len() - 20].to_string()),
        ] {
            let section = CommitteeSection {
                supermajority_public_key_set: text,
                ..dealt.section.clone()
            };
            match section.check() {
                Err(CommitteeKeyError::Field { field, message }) => {
                    assert_eq!(field, "committee.supermajority_public_key_set", "{name}");
                    assert!(message.contains("48-byte points"), "{name}: {message}");
                }
                other => panic!("{name}: {other:?}"),
            }
        }
        assert!(dealt.section.check().is_ok());
    }

    #[test]
    fn members_files_are_checked_line_by_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("members.txt");
        let a = PeerId::random();
        fs::write(&path, format!("# committee\n{a}\n\n{a} # again\n")).unwrap();
        let error = read_members(&path).unwrap_err().to_string();
        assert!(
            error.contains("line 4") && error.contains("twice"),
            "{error}"
        );
        fs::write(&path, "not-a-peer-id\n").unwrap();
        assert!(read_members(&path)
            .unwrap_err()
            .to_string()
            .contains("line 1"));
        fs::write(&path, format!("{a}\n")).unwrap();
        assert_eq!(read_members(&path).unwrap(), vec![a]);
    }
}
