//! The files `x0 token` reads and writes: keys (hex) and tokens (biscuit's base64).

use std::path::{Path, PathBuf};

use base64::Engine as _;
use biscuit_auth::{Algorithm, KeyPair, PrivateKey, PublicKey};

use super::AuthorityPublicArgs;
use crate::cli::common::{cannot_read, check_size, operator, write_file, WriteMode};
use crate::NodeError;

/// Largest file read as a token or a revocation list: base64 of the largest list, padded.
const TOKEN_FILE_BYTES_MAX: u64 = 64 * 1024;
/// Largest key file read.
const KEY_FILE_BYTES_MAX: u64 = 4 * 1024;

/// Biscuit's base64: the URL-safe alphabet, written padded (as `Biscuit::to_base64`),
/// read with or without padding.
const BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    base64::engine::GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

fn read_small(flag: &str, path: &Path, limit: u64, what: &str) -> Result<String, NodeError> {
    check_size(flag, path, limit, |len| {
        format!("{len} bytes, more than any {what} ({limit}); is this the right file?")
    })?;
    std::fs::read_to_string(path).map_err(|e| cannot_read(flag, path, e))
}

/// Token bytes from a file of biscuit base64 (surrounding whitespace ignored).
pub fn read_token_file(flag: &str, path: &Path) -> Result<Vec<u8>, NodeError> {
    let text = read_small(flag, path, TOKEN_FILE_BYTES_MAX, "token")?;
    let text = text.trim();
    if text.is_empty() {
        return Err(operator(format!(
            "{flag} {}: the file is empty; it should hold one line of biscuit base64",
            path.display()
        )));
    }
    BASE64.decode(text).map_err(|e| {
        operator(format!(
            "{flag} {}: not biscuit's URL-safe base64 ({e}); pass a file written by `x0 token` or `Biscuit::to_base64`",
            path.display()
        ))
    })
}

/// The authority's key pair from a private key file (hex of the Ed25519 private key).
pub fn read_authority_key(flag: &str, path: &Path) -> Result<KeyPair, NodeError> {
    let name = path.display();
    let text = read_small(flag, path, KEY_FILE_BYTES_MAX, "key file")?;
    #[cfg(unix)]
    if let Ok(metadata) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt;
        if metadata.permissions().mode() & 0o077 != 0 {
            eprintln!("warning: {flag} {name}: readable by others; `chmod 600 {name}`");
        }
    }
    let key = PrivateKey::from_bytes_hex(text.trim(), Algorithm::Ed25519).map_err(|_| {
        operator(format!(
            "{flag} {name}: not an authority private key (one line of 64 hex digits, as `x0 token keygen --out` writes)"
        ))
    })?;
    Ok(KeyPair::from(&key))
}

/// The authority's public key from `--authority-public` or `--authority-public-file`.
pub fn authority_public(args: &AuthorityPublicArgs) -> Result<Option<PublicKey>, NodeError> {
    let (flag, text) = match (&args.authority_public, &args.authority_public_file) {
        (Some(hex), _) => ("--authority-public".to_string(), hex.clone()),
        (None, Some(path)) => (
            format!("--authority-public-file {}", path.display()),
            read_small(
                "--authority-public-file",
                path,
                KEY_FILE_BYTES_MAX,
                "key file",
            )?,
        ),
        (None, None) => return Ok(None),
    };
    let hex = text.trim();
    // The prefixed form biscuit's tools print is accepted too.
    let hex = hex.strip_prefix("ed25519/").unwrap_or(hex);
    PublicKey::from_bytes_hex(hex, Algorithm::Ed25519)
        .map(Some)
        .map_err(|_| {
            operator(format!(
                "{flag}: not an Ed25519 public key; give the 64 hex digits `x0 token keygen` printed"
            ))
        })
}

pub(super) fn required_public(args: &AuthorityPublicArgs) -> Result<PublicKey, NodeError> {
    authority_public(args)?.ok_or_else(|| {
        operator("the authority's public key is needed: pass --authority-public HEX or --authority-public-file FILE")
    })
}

/// Prints a token, or writes it to `--out`, then says what was written.
pub(super) fn emit(
    out: &Option<PathBuf>,
    bytes: &[u8],
    description: &str,
) -> Result<(), NodeError> {
    let text = BASE64.encode(bytes);
    match out {
        Some(path) => {
            // Replaced atomically, mode 0600: an access token is renewed in place while a
            // node may be reading it. A missing directory stays the operator's to create.
            let mode = WriteMode {
                secret: true,
                replace: true,
                create_dirs: false,
            };
            write_file("--out", path, format!("{text}\n").as_bytes(), mode)?;
            println!("wrote {}: {description}", path.display());
        }
        None => println!("{text}"),
    }
    Ok(())
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_reads_what_biscuit_writes_padded_or_not() {
        let authority = KeyPair::new();
        let biscuit = biscuit_auth::Biscuit::builder()
            .fact("member(\"x\")")
            .unwrap()
            .build(&authority)
            .unwrap();
        let text = biscuit.to_base64().unwrap();
        let bytes = biscuit.to_vec().unwrap();
        assert_eq!(BASE64.encode(&bytes), text);
        assert_eq!(BASE64.decode(&text).unwrap(), bytes);
        assert_eq!(BASE64.decode(text.trim_end_matches('=')).unwrap(), bytes);
    }
}
