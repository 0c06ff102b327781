//! The Sublime envelope: each object's content is encrypted (XChaCha20-Poly1305) under its
//! own random data key; the data key is wrapped (XChaCha20-Poly1305) by the store's master
//! key, which is derived from the guardians' group secret ([`super::recovery::master_key`]).
//!
//! Object layout, version 1 (integers big-endian):
//!
//! ```text
//! "X0SB" | version u8 = 1 | group id [32] | name length u8 | name
//!        | wrap nonce [24] | wrapped data key [48]
//!        | content nonce [24] | content length u32 | ciphertext
//! ```
//!
//! The wrapped key is bound to everything before it (magic to name); the content to
//! everything before it. Names are 1-128 bytes of `[A-Za-z0-9._-]`, content at most
//! [`CONTENT_MAX`].

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::{CryptoRng, RngCore};
use zeroize::{Zeroize, Zeroizing};

use super::group::GroupId;
use super::GuardianError;

pub const MAGIC: &[u8; 4] = b"X0SB";
pub const VERSION: u8 = 1;
/// Largest content stored in one object.
pub const CONTENT_MAX: usize = 16 * 1024 * 1024;
pub const NAME_MAX: usize = 128;
const TAG: usize = 16;
const WRAPPED: usize = 32 + TAG;

/// The store's master key (zeroed on drop).
pub struct MasterKey([u8; 32]);

impl MasterKey {
    pub fn new(bytes: [u8; 32]) -> MasterKey {
        MasterKey(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl Drop for MasterKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

pub fn check_name(name: &str) -> Result<(), GuardianError> {
    let ok = !name.is_empty()
        && name.len() <= NAME_MAX
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(GuardianError::Store(format!(
            "name `{name}`: use 1 to {NAME_MAX} of A-Z a-z 0-9 . _ - (not . or ..)"
        )))
    }
}

fn aead_error(_: chacha20poly1305::Error) -> GuardianError {
    GuardianError::Store("encryption failed".into())
}

/// Encrypts `content` as object `name` of the store of group `group_id`.
pub fn seal<R: RngCore + CryptoRng>(
    master: &MasterKey,
    group_id: &GroupId,
    name: &str,
    content: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>, GuardianError> {
    check_name(name)?;
    if content.len() > CONTENT_MAX {
        return Err(GuardianError::Store(format!(
            "{} bytes of content, at most {CONTENT_MAX}",
            content.len()
        )));
    }
    let mut data_key = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(data_key.as_mut());
    let mut wrap_nonce = [0u8; 24];
    rng.fill_bytes(&mut wrap_nonce);
    let mut content_nonce = [0u8; 24];
    rng.fill_bytes(&mut content_nonce);

    let mut out =
        Vec::with_capacity(4 + 1 + 32 + 1 + name.len() + 24 + WRAPPED + 28 + content.len() + TAG);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.extend_from_slice(group_id);
    out.push(name.len() as u8);
    out.extend_from_slice(name.as_bytes());
    let wrapped = XChaCha20Poly1305::new(master.as_bytes().into())
        .encrypt(
            XNonce::from_slice(&wrap_nonce),
            Payload {
                msg: data_key.as_ref(),
                aad: &out,
            },
        )
        .map_err(aead_error)?;
    out.extend_from_slice(&wrap_nonce);
    out.extend_from_slice(&wrapped);
    out.extend_from_slice(&content_nonce);
    out.extend_from_slice(&((content.len() + TAG) as u32).to_be_bytes());
    let ciphertext = XChaCha20Poly1305::new(data_key.as_ref().into())
        .encrypt(
            XNonce::from_slice(&content_nonce),
            Payload {
                msg: content,
                aad: &out,
            },
        )
        .map_err(aead_error)?;
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

/// Decrypts object `name`; refuses another store's or another name's object.
pub fn open(
    master: &MasterKey,
    group_id: &GroupId,
    name: &str,
    bytes: &[u8],
) -> Result<Zeroizing<Vec<u8>>, GuardianError> {
    let bad = |reason: &str| GuardianError::Store(format!("object `{name}`: {reason}"));
    check_name(name)?;
    let prefix = 4 + 1 + 32 + 1 + name.len();
    let fixed = prefix + 24 + WRAPPED + 24 + 4;
    if bytes.len() < fixed + TAG || bytes.len() > fixed + CONTENT_MAX + TAG {
        return Err(bad("not an object of this size"));
    }
    if &bytes[..4] != MAGIC || bytes[4] != VERSION {
        return Err(bad("not a version-1 Sublime object"));
    }
    if &bytes[5..37] != group_id {
        return Err(bad("it belongs to another store (another guardian group)"));
    }
    if bytes[37] as usize != name.len() || &bytes[38..prefix] != name.as_bytes() {
        return Err(bad("it was stored under another name"));
    }
    let wrap_nonce = &bytes[prefix..prefix + 24];
    let wrapped = &bytes[prefix + 24..prefix + 24 + WRAPPED];
    let content_nonce = &bytes[prefix + 24 + WRAPPED..prefix + 48 + WRAPPED];
    let at = prefix + 48 + WRAPPED;
    let length = u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    if length as usize != bytes.len() - fixed {
        return Err(bad("its length field does not match"));
    }
    let data_key = Zeroizing::new(
        XChaCha20Poly1305::new(master.as_bytes().into())
            .decrypt(
                XNonce::from_slice(wrap_nonce),
                Payload {
                    msg: wrapped,
                    aad: &bytes[..prefix],
                },
            )
            .map_err(|_| {
                bad("the data key does not unwrap: wrong master key, or the object was altered")
            })?,
    );
    let content = XChaCha20Poly1305::new(data_key.as_slice().into())
        .decrypt(
            XNonce::from_slice(content_nonce),
            Payload {
                msg: &bytes[fixed..],
                aad: &bytes[..fixed],
            },
        )
        .map_err(|_| bad("the content does not decrypt: the object was altered"))?;
    Ok(Zeroizing::new(content))
}
