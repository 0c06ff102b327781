//! A secret sealed at rest under a passphrase: Argon2id stretches the passphrase into a
//! 32-byte key, XChaCha20-Poly1305 encrypts the secret with the whole header as associated
//! data (so the guardian index, epoch, group id and KDF parameters cannot be altered
//! without the file failing to open).
//!
//! Layout, version 1 (integers big-endian):
//!
//! ```text
//! "X0GD" | version u8 = 1 | kind u8 | guardian u16 | epoch u32 | group id [32]
//!        | argon2 m_kib u32 | t u32 | p u32 | salt [16] | nonce [24] | length u32 | ciphertext
//! ```
//!
//! Limits are checked before any allocation or key stretching: ciphertext at most
//! [`PLAINTEXT_MAX`] + 16 bytes, Argon2 memory at most [`MEMORY_KIB_MAX`] (64 MiB),
//! passes at most [`PASSES_MAX`] (4), lanes at most [`LANES_MAX`] (4). The cost is read
//! from the file itself, so these maxima are what stop a crafted file from stalling the
//! CLI (argon2 allows 4 TiB and 2^32 passes; the old bounds, 1 GiB and 16 passes, meant
//! about half a minute and 1 GiB per open): at the maxima one open takes about 0.5 s. The default cost (19 MiB, 2 passes, 1 lane) is well within them.

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use super::group::GroupId;
use super::GuardianError;

pub const MAGIC: &[u8; 4] = b"X0GD";
pub const VERSION: u8 = 1;
/// Largest secret sealed (a key package is about 150 bytes; DKG state for 255 guardians
/// a few KiB).
pub const PLAINTEXT_MAX: usize = 64 * 1024;
const HEADER_LEN: usize = 4 + 1 + 1 + 2 + 4 + 32 + 12 + 16 + 24 + 4;
const TAG_LEN: usize = 16;
pub const FILE_BYTES_MAX: usize = HEADER_LEN + PLAINTEXT_MAX + TAG_LEN;
/// Characters a new passphrase needs at least. A stolen sealed file is attacked offline,
/// so 8 (the old minimum, and NIST SP 800-63B's floor) is too few; NIST asks for 15 where
/// a password is the only factor, and here the attacker also needs the file. Longer is
/// better: a diceware phrase of five words or more.
pub const PASSPHRASE_MIN: usize = 12;
/// Bytes a passphrase has at most (also when opening).
pub const PASSPHRASE_MAX: usize = 1024;
/// Argon2 cost a file may ask for, at most (memory in KiB, passes, lanes).
pub const MEMORY_KIB_MAX: u32 = 64 * 1024;
pub const PASSES_MAX: u32 = 4;
pub const LANES_MAX: u32 = 4;

/// What a sealed file holds; the kind is authenticated, so one cannot be passed off as another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// A guardian's FROST key package (its share).
    Share = 1,
    /// A guardian's DKG state between part 1 and part 2.
    DkgRound1 = 2,
    /// A guardian's DKG state between part 2 and part 3.
    DkgRound2 = 3,
    /// A guardian's signing nonces between commit and sign (used once, then deleted).
    SigningNonces = 4,
    /// The store's master key after a recovery.
    MasterKey = 5,
}

impl Kind {
    fn from_byte(byte: u8) -> Option<Kind> {
        Some(match byte {
            1 => Kind::Share,
            2 => Kind::DkgRound1,
            3 => Kind::DkgRound2,
            4 => Kind::SigningNonces,
            5 => Kind::MasterKey,
            _ => return None,
        })
    }

    pub fn describe(self) -> &'static str {
        match self {
            Kind::Share => "guardian share",
            Kind::DkgRound1 => "DKG round-1 state",
            Kind::DkgRound2 => "DKG round-2 state",
            Kind::SigningNonces => "signing nonces",
            Kind::MasterKey => "master key",
        }
    }
}

/// Argon2id cost. The default is argon2's own (OWASP's 19 MiB, 2 passes, 1 lane).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfParams {
    pub memory_kib: u32,
    pub passes: u32,
    pub lanes: u32,
}

impl Default for KdfParams {
    fn default() -> Self {
        KdfParams {
            memory_kib: Params::DEFAULT_M_COST,
            passes: Params::DEFAULT_T_COST,
            lanes: Params::DEFAULT_P_COST,
        }
    }
}

/// The clear header of a sealed file (authenticated, not secret).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub kind: Kind,
    pub guardian: u16,
    pub epoch: u32,
    pub group_id: GroupId,
    pub kdf: KdfParams,
}

/// A passphrase that seals a new file: [`PASSPHRASE_MIN`] characters (Unicode scalar
/// values; bytes where it is not UTF-8) up to [`PASSPHRASE_MAX`] bytes.
pub fn check_passphrase(passphrase: &[u8]) -> Result<(), GuardianError> {
    check_passphrase_to_open(passphrase)?;
    let characters = match std::str::from_utf8(passphrase) {
        Ok(text) => text.chars().count(),
        Err(_) => passphrase.len(),
    };
    if characters < PASSPHRASE_MIN {
        return Err(GuardianError::Passphrase(format!(
            "{characters} characters; a new passphrase needs at least {PASSPHRASE_MIN} (a phrase of several words is easiest to remember)"
        )));
    }
    Ok(())
}

/// A passphrase that opens an existing file: any length up to [`PASSPHRASE_MAX`] bytes,
/// so files sealed before the minimum rose still open (the AEAD decides whether it is
/// right); only sealing asks for [`PASSPHRASE_MIN`].
pub fn check_passphrase_to_open(passphrase: &[u8]) -> Result<(), GuardianError> {
    if passphrase.is_empty() || passphrase.len() > PASSPHRASE_MAX {
        return Err(GuardianError::Passphrase(format!(
            "{} bytes; use 1 to {PASSPHRASE_MAX}",
            passphrase.len()
        )));
    }
    Ok(())
}

fn derive_key(
    passphrase: &[u8],
    salt: &[u8; 16],
    kdf: KdfParams,
) -> Result<Zeroizing<[u8; 32]>, GuardianError> {
    let params = Params::new(kdf.memory_kib, kdf.passes, kdf.lanes, Some(32))
        .map_err(|e| GuardianError::Passphrase(format!("Argon2 parameters: {e}")))?;
    let mut key = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase, salt, key.as_mut())
        .map_err(|e| GuardianError::Passphrase(format!("Argon2id: {e}")))?;
    Ok(key)
}

fn encode_header(header: &Header, salt: &[u8; 16], nonce: &[u8; 24], length: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.push(header.kind as u8);
    out.extend_from_slice(&header.guardian.to_be_bytes());
    out.extend_from_slice(&header.epoch.to_be_bytes());
    out.extend_from_slice(&header.group_id);
    out.extend_from_slice(&header.kdf.memory_kib.to_be_bytes());
    out.extend_from_slice(&header.kdf.passes.to_be_bytes());
    out.extend_from_slice(&header.kdf.lanes.to_be_bytes());
    out.extend_from_slice(salt);
    out.extend_from_slice(nonce);
    out.extend_from_slice(&length.to_be_bytes());
    out
}

/// Seals `plaintext` under `passphrase`.
pub fn seal<R: RngCore + CryptoRng>(
    header: &Header,
    plaintext: &[u8],
    passphrase: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>, GuardianError> {
    check_passphrase(passphrase)?;
    seal_checked(header, plaintext, passphrase, rng)
}

/// A file as x0 sealed it before new passphrases needed [`PASSPHRASE_MIN`] characters (8
/// bytes were enough): the same layout, so tests can show such files still open.
#[cfg(test)]
pub(crate) fn seal_as_before_the_minimum_rose<R: RngCore + CryptoRng>(
    header: &Header,
    plaintext: &[u8],
    passphrase: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>, GuardianError> {
    assert!(passphrase.len() >= 8, "the old minimum was 8 bytes");
    check_passphrase_to_open(passphrase)?;
    seal_checked(header, plaintext, passphrase, rng)
}

/// [`seal`] once the passphrase is checked.
fn seal_checked<R: RngCore + CryptoRng>(
    header: &Header,
    plaintext: &[u8],
    passphrase: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>, GuardianError> {
    if plaintext.len() > PLAINTEXT_MAX {
        return Err(GuardianError::Format {
            expected: header.kind.describe(),
            reason: format!("{} bytes to seal, at most {PLAINTEXT_MAX}", plaintext.len()),
        });
    }
    check_kdf(header.kind, header.kdf)?;
    let mut salt = [0u8; 16];
    rng.fill_bytes(&mut salt);
    let mut nonce = [0u8; 24];
    rng.fill_bytes(&mut nonce);
    let key = derive_key(passphrase, &salt, header.kdf)?;
    let length = (plaintext.len() + TAG_LEN) as u32;
    let mut out = encode_header(header, &salt, &nonce, length);
    let cipher = XChaCha20Poly1305::new(key.as_ref().into());
    let ciphertext = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &out,
            },
        )
        .map_err(|_| GuardianError::Decrypt)?;
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

/// The file's Argon2 cost within the maxima, naming the first parameter that is not.
fn check_kdf(kind: Kind, kdf: KdfParams) -> Result<(), GuardianError> {
    let refused = |reason: String| {
        Err(GuardianError::Format {
            expected: kind.describe(),
            reason,
        })
    };
    if !(1..=LANES_MAX).contains(&kdf.lanes) {
        return refused(format!(
            "Argon2 lanes {} outside 1..={LANES_MAX}",
            kdf.lanes
        ));
    }
    if !(1..=PASSES_MAX).contains(&kdf.passes) {
        return refused(format!(
            "Argon2 passes {} outside 1..={PASSES_MAX}",
            kdf.passes
        ));
    }
    // Argon2 needs 8 KiB per lane at least.
    if !(8 * kdf.lanes..=MEMORY_KIB_MAX).contains(&kdf.memory_kib) {
        return refused(format!(
            "Argon2 memory {} KiB outside {}..={MEMORY_KIB_MAX} KiB",
            kdf.memory_kib,
            8 * kdf.lanes
        ));
    }
    Ok(())
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Reads the clear header without the passphrase (checks the layout and bounds only).
pub fn read_header(bytes: &[u8], expected: Kind) -> Result<Header, GuardianError> {
    let format = |reason: String| GuardianError::Format {
        expected: expected.describe(),
        reason,
    };
    if bytes.len() > FILE_BYTES_MAX {
        return Err(format(format!(
            "{} bytes, at most {FILE_BYTES_MAX}",
            bytes.len()
        )));
    }
    if bytes.len() < HEADER_LEN + TAG_LEN || &bytes[..4] != MAGIC {
        return Err(format("no x0 sealed-file header".into()));
    }
    if bytes[4] != VERSION {
        return Err(format(format!(
            "version {} (this x0 reads {VERSION})",
            bytes[4]
        )));
    }
    let kind = Kind::from_byte(bytes[5]).ok_or_else(|| format(format!("kind {}", bytes[5])))?;
    if kind != expected {
        return Err(format(format!("it holds {}", kind.describe())));
    }
    let guardian = u16::from_be_bytes([bytes[6], bytes[7]]);
    let epoch = u32_at(bytes, 8);
    let mut group_id = [0u8; 32];
    group_id.copy_from_slice(&bytes[12..44]);
    let kdf = KdfParams {
        memory_kib: u32_at(bytes, 44),
        passes: u32_at(bytes, 48),
        lanes: u32_at(bytes, 52),
    };
    check_kdf(kind, kdf)?;
    let length = u32_at(bytes, HEADER_LEN - 4) as usize;
    if length != bytes.len() - HEADER_LEN {
        return Err(format(format!(
            "length field {length} but {} bytes follow the header",
            bytes.len() - HEADER_LEN
        )));
    }
    Ok(Header {
        kind,
        guardian,
        epoch,
        group_id,
        kdf,
    })
}

/// Opens a sealed file: the header (checked) and the secret.
pub fn open(
    bytes: &[u8],
    expected: Kind,
    passphrase: &[u8],
) -> Result<(Header, Zeroizing<Vec<u8>>), GuardianError> {
    let header = read_header(bytes, expected)?;
    check_passphrase_to_open(passphrase)?;
    let mut salt = [0u8; 16];
    salt.copy_from_slice(&bytes[56..72]);
    let nonce = XNonce::from_slice(&bytes[72..96]);
    let key = derive_key(passphrase, &salt, header.kdf)?;
    let cipher = XChaCha20Poly1305::new(key.as_ref().into());
    let plaintext = cipher
        .decrypt(
            nonce,
            Payload {
                msg: &bytes[HEADER_LEN..],
                aad: &bytes[..HEADER_LEN],
            },
        )
        .map_err(|_| GuardianError::Decrypt)?;
    Ok((header, Zeroizing::new(plaintext)))
}
