//! `x0 token revoke` (sign a revocation list) and `x0 token publish` (hand it to a node).

use x0_core::auth::token::{self, RevocationList, Revoked, REVOCATION_IDS_PER_LIST_MAX};

use super::files::{emit, read_authority_key, read_token_file};
use super::inspect::block_facts;
use super::{count, date, token_error, PublishArgs, RevokeArgs};
use crate::cli::common::{api_call, operator};
use crate::NodeError;

/// `x0 token publish`: POST /revocations on a running node.
pub fn publish(args: &PublishArgs) -> Result<(), NodeError> {
    let list = std::fs::read_to_string(&args.list).map_err(|e| {
        operator(format!(
            "--list {}: cannot read ({e}); write one with `x0 token revoke --out FILE`",
            args.list.display()
        ))
    })?;
    let body = serde_json::json!({ "list": list.trim() });
    let (url, status, body) = api_call(&args.api, "revocations", Some(body))?;
    if !status.is_success() {
        let message = body["error"].as_str().unwrap_or("no reason given");
        return Err(if status.as_u16() == 422 {
            operator(format!(
                "--list {}: the node refused it: {message}",
                args.list.display()
            ))
        } else {
            NodeError::Runtime(format!("{url}: HTTP {status}: {message}"))
        });
    }
    println!(
        "revocation list #{} applied: {} new ids, {} known; {}",
        body["sequence"],
        body["added"],
        body["known"],
        if body["published"] == true {
            "published to the mesh"
        } else {
            "NOT published yet (no peers on the revocations topic); publish it again later"
        }
    );
    Ok(())
}

/// `x0 token revoke`.
pub fn revoke(args: &RevokeArgs, now_unix_s: u64) -> Result<(), NodeError> {
    if args.tokens.is_empty() && args.ids.is_empty() {
        return Err(operator(
            "nothing to revoke: pass --token FILE (repeatable) or --id HEX with --until-unix-s N",
        ));
    }
    if !args.ids.is_empty()
        && args.until_unix_s.len() != 1
        && args.until_unix_s.len() != args.ids.len()
    {
        return Err(operator(format!(
            "--until-unix-s: given {} times for {} --id; give one for all, or one per --id in order",
            args.until_unix_s.len(),
            args.ids.len()
        )));
    }
    let authority = read_authority_key("--authority-key", &args.authority_key)?;
    let root = authority.public();
    let mut entries: Vec<Revoked> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    for path in &args.tokens {
        let bytes = read_token_file("--token", path)?;
        let summary = token::inspect(&bytes, &root).map_err(|e| token_error("--token", path, e))?;
        let name = path.display();
        let Some(first) = summary.revocation_ids.first() else {
            return Err(operator(format!(
                "--token {name}: carries no revocation id"
            )));
        };
        let Some(sources) = summary.blocks.first() else {
            return Err(operator(format!("--token {name}: has no authority block")));
        };
        // The credential's own expiry (the authority block's), not a later block's sooner
        // one: the id of block 0 revokes the credential, which lives that long.
        let facts = block_facts(std::slice::from_ref(sources)).map_err(|e| {
            operator(format!(
                "--token {name}: authority block does not read: {e}"
            ))
        })?;
        let Some(until) = facts.expires.iter().min().copied() else {
            return Err(operator(format!(
                "--token {name}: its authority block declares no expiry; revoke its id with --id and --until-unix-s"
            )));
        };
        let member = summary.member.clone().unwrap_or_else(|| "no member".into());
        if until <= now_unix_s {
            eprintln!(
                "note: --token {name}: its credential expired at {} already; nodes refuse it anyway",
                date(until)
            );
        }
        entries.push(Revoked {
            id: hex::decode(first).expect("inspect prints hex"),
            until_unix_s: until,
        });
        notes.push(format!("credential of {member}, until {}", date(until)));
    }
    for (index, id_hex) in args.ids.iter().enumerate() {
        let id = hex::decode(id_hex.trim()).map_err(|e| {
            operator(format!(
                "--id {id_hex}: not hex ({e}); copy a revocation id from `x0 token inspect`"
            ))
        })?;
        if id.is_empty() || id.len() > 128 {
            return Err(operator(format!(
                "--id {id_hex}: {} bytes; biscuit revocation ids are 64 bytes (128 hex digits)",
                id.len()
            )));
        }
        let until = args
            .until_unix_s
            .get(index)
            .or(args.until_unix_s.first())
            .copied()
            .expect("checked above");
        entries.push(Revoked {
            id,
            until_unix_s: until,
        });
        notes.push(format!(
            "id {}…, until {}",
            &id_hex[..16.min(id_hex.len())],
            date(until)
        ));
    }
    entries.sort();
    entries.dedup_by(|a, b| a.id == b.id);
    if entries.len() > REVOCATION_IDS_PER_LIST_MAX {
        return Err(operator(format!(
            "{} ids: a list carries at most {REVOCATION_IDS_PER_LIST_MAX}; split them over several lists",
            entries.len()
        )));
    }
    let list = RevocationList {
        sequence: args.sequence,
        entries,
    };
    let bytes = token::mint_revocations(&authority, &list)
        .map_err(|e| NodeError::Runtime(format!("revoke: {e}")))?;
    emit(
        &args.out,
        &bytes,
        &format!(
            "revocation list #{} with {}: {}",
            list.sequence,
            count(list.entries.len(), "id"),
            notes.join("; ")
        ),
    )?;
    if args.out.is_some() {
        eprintln!(
            "publish it on {} through any node (docs/TOKENS.md)",
            x0_core::topics::REVOCATIONS
        );
    }
    Ok(())
}
