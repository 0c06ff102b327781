//! `x0 token inspect` (what a token says, its signatures checked when the key is given)
//! and `x0 token verify` (a request checked as a node would).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use biscuit_auth::{AuthorizerBuilder, AuthorizerLimits, UnverifiedBiscuit};
use x0_core::auth::token::{
    self, BiscuitVerifier, Request, TokenSummary, TokenVerifier, VerifierConfig,
};

use super::files::{authority_public, read_token_file, required_public};
use super::{count, date, peer_key, InspectArgs, VerifyArgs};
use crate::cli::common::{operator, Outcome};
use crate::NodeError;

/// What a token says, read without its signatures: the same queries as
/// `x0_core::auth::token::inspect`, over each block's datalog.
fn unverified_summary(
    biscuit: &UnverifiedBiscuit,
) -> Result<TokenSummary, biscuit_auth::error::Token> {
    let blocks = (0..biscuit.block_count())
        .map(|i| biscuit.print_block_source(i))
        .collect::<Result<Vec<_>, _>>()?;
    let authority = block_facts(&blocks[..1])?;
    let all = block_facts(&blocks)?;
    Ok(TokenSummary {
        member: match authority.members.as_slice() {
            [member] => Some(member.clone()),
            _ => None,
        },
        rights: authority.rights,
        expires_unix_s: all.expires.iter().min().copied(),
        access_until_unix_s: all.access.iter().min().copied(),
        blocks,
        revocation_ids: biscuit
            .revocation_identifiers()
            .iter()
            .map(hex::encode)
            .collect(),
    })
}

#[derive(Debug, Default)]
pub(super) struct BlockFacts {
    members: Vec<String>,
    rights: Vec<(String, String)>,
    pub(super) expires: Vec<u64>,
    access: Vec<u64>,
    revocation_list: Vec<i64>,
}

/// The facts of the given blocks' datalog, loaded into an authorizer of their own (no
/// token, so nothing is trusted or checked: this only reads what the blocks declare).
pub(super) fn block_facts(sources: &[String]) -> Result<BlockFacts, biscuit_auth::error::Token> {
    let limits = AuthorizerLimits {
        max_time: Duration::from_secs(1),
        ..AuthorizerLimits::default()
    };
    let mut builder = AuthorizerBuilder::new().set_limits(limits.clone());
    for source in sources {
        builder = builder.code(source)?;
    }
    let mut authorizer = builder.build_unauthenticated()?;
    let dates = |authorizer: &mut biscuit_auth::Authorizer, rule: &str| {
        authorizer
            .query_with_limits::<_, (SystemTime,), _>(rule, limits.clone())
            .map(|rows| {
                rows.into_iter()
                    .map(|(t,)| {
                        t.duration_since(UNIX_EPOCH)
                            .map(|d| d.as_secs())
                            .unwrap_or(0)
                    })
                    .collect::<Vec<u64>>()
            })
    };
    let members: Vec<(String,)> =
        authorizer.query_with_limits("m($m) <- member($m)", limits.clone())?;
    let mut rights: Vec<(String, String)> =
        authorizer.query_with_limits("r($o, $t) <- right($o, $t)", limits.clone())?;
    rights.sort();
    let revocation_list: Vec<(i64,)> =
        authorizer.query_with_limits("s($s) <- revocation_list($s)", limits.clone())?;
    Ok(BlockFacts {
        members: members.into_iter().map(|(m,)| m).collect(),
        rights,
        expires: dates(&mut authorizer, "e($d) <- expires($d)")?,
        access: dates(&mut authorizer, "a($d) <- access($d)")?,
        revocation_list: revocation_list.into_iter().map(|(s,)| s).collect(),
    })
}

/// `x0 token inspect`.
pub fn inspect(args: &InspectArgs, now_unix_s: u64) -> Result<(), NodeError> {
    let root = authority_public(&args.authority)?;
    let bytes = read_token_file("--token", &args.token)?;
    let name = args.token.display();
    let unverified = UnverifiedBiscuit::from(&bytes).map_err(|e| {
        operator(format!(
            "--token {name}: not a biscuit token ({e}); pass a token or revocation list file"
        ))
    })?;
    let (summary, verdict) = match &root {
        Some(root) => match token::inspect(&bytes, root) {
            Ok(summary) => (
                summary,
                format!(
                    "signature chain verified against authority {}",
                    root.to_bytes_hex()
                ),
            ),
            Err(error) => {
                return Err(NodeError::Runtime(format!(
                    "--token {name}: does not verify against --authority-public: {error}"
                )))
            }
        },
        None => (
            unverified_summary(&unverified).map_err(|e| {
                NodeError::Runtime(format!("--token {name}: blocks do not read: {e}"))
            })?,
            "signature NOT verified (pass --authority-public to check it)".to_string(),
        ),
    };
    let sources: Vec<String> = summary.blocks.clone();
    let authority_facts = block_facts(&sources[..1.min(sources.len())]).unwrap_or_default();
    println!(
        "token      {} bytes, {}",
        bytes.len(),
        count(summary.blocks.len(), "block")
    );
    println!("           {verdict}");
    let kind = if let [sequence] = authority_facts.revocation_list.as_slice() {
        format!("revocation list #{sequence}")
    } else if summary.member.is_none() {
        "not a member token (no single member fact)".to_string()
    } else if summary.access_until_unix_s.is_some() {
        "access token".to_string()
    } else {
        "credential".to_string()
    };
    println!("kind       {kind}");
    if let Some(member) = &summary.member {
        println!("member     {member}");
    }
    if !summary.rights.is_empty() {
        println!("rights     (granted by the authority block; later blocks may narrow them)");
        for (operation, topic) in &summary.rights {
            println!("           {operation} on {topic}");
        }
    }
    let state = |until: u64| {
        if until <= now_unix_s {
            "  EXPIRED"
        } else {
            ""
        }
    };
    match summary.expires_unix_s {
        Some(expires) => println!("expires    {}{}", date(expires), state(expires)),
        None if summary.member.is_some() => {
            println!("expires    none declared: nodes refuse this token")
        }
        None => {}
    }
    match summary.access_until_unix_s {
        Some(access) => println!("access     until {}{}", date(access), state(access)),
        None if summary.member.is_some() => {
            println!("access     none: a credential, not sent on the wire")
        }
        None => {}
    }
    for (index, source) in summary.blocks.iter().enumerate() {
        let label = if index == 0 { " (authority)" } else { "" };
        println!("block {index}{label}");
        for line in source.lines() {
            println!("    {line}");
        }
    }
    if authority_facts.revocation_list.is_empty() {
        println!(
            "revocation ids (revoking any one revokes this token; #0 revokes its credential too)"
        );
    } else {
        println!("revocation ids (of the list itself)");
    }
    for (index, id) in summary.revocation_ids.iter().enumerate() {
        println!("    {index} {id}");
    }
    Ok(())
}

/// `x0 token verify`.
pub fn verify(args: &VerifyArgs, now_unix_s: u64) -> Result<Outcome, NodeError> {
    let root = required_public(&args.authority)?;
    let bytes = read_token_file("--token", &args.token)?;
    let at_unix_s = args.at_unix_s.unwrap_or(now_unix_s);
    let holder = peer_key(&args.holder);
    let topic = args
        .topic
        .clone()
        .unwrap_or_else(|| args.operation.topic().to_string());
    let config = VerifierConfig {
        access_ttl_ms_max: if args.credential_ok {
            0
        } else {
            VerifierConfig::default().access_ttl_ms_max
        },
        ..VerifierConfig::default()
    };
    let request = Request {
        holder: &holder,
        operation: args.operation,
        topic: &topic,
    };
    let mut verifier = BiscuitVerifier::new(root, config);
    match verifier.verify(&bytes, &request, at_unix_s.saturating_mul(1000)) {
        Ok(granted) => {
            println!(
                "granted {} on {topic} to {}; token valid until {}",
                args.operation.as_str(),
                args.holder,
                date(granted.valid_until_ms / 1000)
            );
            Ok(Outcome::Done)
        }
        Err(refusal) => {
            println!("refused: {} ({refusal})", refusal.reason());
            Ok(Outcome::Refused)
        }
    }
}

#[cfg(test)]
mod tests {
    use biscuit_auth::KeyPair;
    use libp2p::PeerId;
    use x0_core::auth::token::{Grant, Operation, Right};

    use super::*;

    #[test]
    fn unverified_reading_matches_the_verified_one() {
        let authority = KeyPair::new();
        let member = PeerId::random();
        let grant = Grant {
            member: peer_key(&member),
            rights: vec![Right::on_own_topic(Operation::Vote)],
            expires_unix_s: 2_000_000_000,
        };
        let credential = token::mint(&authority, &grant).unwrap();
        let access =
            token::derive_access(&credential, &authority.public(), 1_900_000_000, 3600).unwrap();
        let verified = token::inspect(&access, &authority.public()).unwrap();
        let unverified = unverified_summary(&UnverifiedBiscuit::from(&access).unwrap()).unwrap();
        assert_eq!(unverified.member, verified.member);
        assert_eq!(unverified.rights, verified.rights);
        assert_eq!(unverified.expires_unix_s, verified.expires_unix_s);
        assert_eq!(unverified.access_until_unix_s, Some(1_900_003_600));
        assert_eq!(unverified.access_until_unix_s, verified.access_until_unix_s);
        assert_eq!(unverified.blocks, verified.blocks);
        assert_eq!(unverified.revocation_ids, verified.revocation_ids);
    }
}
