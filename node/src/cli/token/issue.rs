//! `x0 token keygen`, `mint`, `attenuate` and `access`: making and narrowing tokens.

use std::collections::BTreeSet;
use std::io::Write;

use biscuit_auth::KeyPair;
use x0_core::auth::token::{self, Attenuation, Grant, Operation, Right};

use super::files::{emit, read_authority_key, read_token_file, required_public};
use super::{
    date, operations_text, peer_key, token_error, AccessArgs, AttenuateArgs, KeygenArgs, MintArgs,
};
use crate::cli::common::operator;
use crate::NodeError;

/// `x0 token keygen`.
pub fn keygen(args: &KeygenArgs) -> Result<(), NodeError> {
    let name = args.out.display();
    let key = KeyPair::new();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&args.out).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            operator(format!(
                "--out {name}: already exists; an authority key is never overwritten, choose another path"
            ))
        } else {
            operator(format!("--out {name}: cannot create: {e}"))
        }
    })?;
    writeln!(file, "{}", key.private().to_bytes_hex())
        .and_then(|()| file.sync_all())
        .map_err(|e| operator(format!("--out {name}: cannot write: {e}")))?;
    println!("{}", key.public().to_bytes_hex());
    eprintln!(
        "wrote the authority private key to {name} (mode 0600): keep it offline. The line above is the public key every node's config names."
    );
    Ok(())
}

/// `x0 token mint`.
pub fn mint(args: &MintArgs, now_unix_s: u64) -> Result<(), NodeError> {
    let authority = read_authority_key("--authority-key", &args.authority_key)?;
    let operations: Vec<Operation> = if args.rights.is_empty() {
        Operation::ALL.to_vec()
    } else {
        args.rights
            .iter()
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    };
    let expires_unix_s = now_unix_s + args.ttl_days * 24 * 3600;
    let grant = Grant {
        member: peer_key(&args.member),
        rights: operations
            .iter()
            .copied()
            .flat_map(Right::for_operation)
            .collect(),
        expires_unix_s,
    };
    let token =
        token::mint(&authority, &grant).map_err(|e| NodeError::Runtime(format!("mint: {e}")))?;
    emit(
        &args.out,
        &token,
        &format!(
            "credential for {} ({}), expires {}",
            args.member,
            operations_text(&operations),
            date(expires_unix_s)
        ),
    )
}

/// `x0 token attenuate`.
pub fn attenuate(args: &AttenuateArgs, now_unix_s: u64) -> Result<(), NodeError> {
    if args.rights.is_empty()
        && args.topics.is_empty()
        && args.ttl_s.is_none()
        && args.expires_unix_s.is_none()
    {
        return Err(operator(
            "nothing to narrow: pass --rights, --topics, --ttl-s or --expires-unix-s",
        ));
    }
    let root = required_public(&args.authority)?;
    let bytes = read_token_file("--token", &args.token)?;
    let expires_unix_s = args
        .ttl_s
        .map(|ttl| now_unix_s + ttl)
        .or(args.expires_unix_s);
    let attenuation = Attenuation {
        operations: (!args.rights.is_empty()).then(|| args.rights.clone()),
        topics: (!args.topics.is_empty()).then(|| args.topics.clone()),
        expires_unix_s,
        access_until_unix_s: None,
    };
    let narrowed = token::attenuate(&bytes, &root, &attenuation)
        .map_err(|e| token_error("--token", &args.token, e))?;
    let mut kept = Vec::new();
    if !args.rights.is_empty() {
        kept.push(format!("operations {}", operations_text(&args.rights)));
    }
    if !args.topics.is_empty() {
        kept.push(format!("topics {}", args.topics.join(", ")));
    }
    if let Some(seconds) = expires_unix_s {
        kept.push(format!("expiry {}", date(seconds)));
    }
    emit(
        &args.out,
        &narrowed,
        &format!("token narrowed to {}", kept.join("; ")),
    )
}

/// `x0 token access`.
pub fn access(args: &AccessArgs, now_unix_s: u64) -> Result<(), NodeError> {
    let root = required_public(&args.authority)?;
    let credential = read_token_file("--credential", &args.credential)?;
    let summary = token::inspect(&credential, &root)
        .map_err(|e| token_error("--credential", &args.credential, e))?;
    let name = args.credential.display();
    let Some(member) = &summary.member else {
        return Err(operator(format!(
            "--credential {name}: not a member credential (no single member fact)"
        )));
    };
    if let Some(access) = summary.access_until_unix_s {
        return Err(operator(format!(
            "--credential {name}: already an access token (access until {}); pass the credential the authority minted",
            date(access)
        )));
    }
    let Some(expires) = summary.expires_unix_s else {
        return Err(operator(format!(
            "--credential {name}: declares no expiry; nodes refuse such tokens"
        )));
    };
    if expires <= now_unix_s {
        return Err(NodeError::Runtime(format!(
            "--credential {name}: expired at {}; ask the authority for a new credential (`x0 token mint`)",
            date(expires)
        )));
    }
    let ttl_s = args.ttl_hours * 3600;
    let token = token::derive_access(&credential, &root, now_unix_s, ttl_s)
        .map_err(|e| token_error("--credential", &args.credential, e))?;
    let until = (now_unix_s + ttl_s).min(expires);
    let mut description = format!("access token for {member} valid until {}", date(until));
    if until < now_unix_s + ttl_s {
        description.push_str(" (the credential's expiry); renew the credential");
    } else {
        description.push_str("; derive the next one before then");
    }
    emit(&args.out, &token, &description)
}
