//! Capability tokens: biscuit-auth 6 tokens in one datalog format (docs/PROTOCOL.md,
//! "Capability tokens"), and a verifier that caches what it verified.
//!
//! A member's **credential** is minted by the network authority (its public key is in the
//! network config; its private key stays offline):
//!
//! ```text
//! member("12D3KooW...");                        // the holder's libp2p PeerId
//! right("sign", "/x0/1/shares");                // one fact per right: operation, topic
//! expires(2026-12-26T00:00:00Z);
//! check if time($t), $t < 2026-12-26T00:00:00Z;
//! ```
//!
//! Anyone holding a token can **attenuate** it offline by appending a block that only
//! narrows it (`check if operation($op), ["sign"].contains($op)`, a sooner `expires`).
//! The node never sends its credential: it sends an **access token**, the credential with
//! one more block `access(<now + 24 h>)` and the matching time check. The verifier accepts
//! only access tokens whose lifetime left is at most `access_ttl_ms_max`, so a token seen
//! on the wire is worth at most a day even to someone who also stole the node key.
//!
//! The verifier gives the authorizer `holder`, `operation`, `topic` and `time` facts, and
//! one policy: `allow if member($m), holder($m), operation($op), topic($t), right($op, $t)`.
//! Authorizer policies trust only the authority block, so no appended block can add a
//! right. Dates are enforced twice: by the datalog checks, and by this module from the
//! declared `expires`/`access` facts, which is what lets a cached verdict end on time.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use biscuit_auth::builder::{fact, string, Term};
use biscuit_auth::error::{Format, Token as BiscuitError};
use biscuit_auth::{
    AuthorizerBuilder, AuthorizerLimits, Biscuit, BlockBuilder, KeyPair, PublicKey,
};
use sha2::{Digest, Sha256};

use crate::ids::PeerKey;

/// Largest token accepted from the network or a file, checked before parsing.
pub const TOKEN_BYTES_MAX: usize = 4096;
/// Largest revocation list (a token of its own); 256 ids of 64 bytes plus framing.
pub const REVOCATION_LIST_BYTES_MAX: usize = 32 * 1024;
/// Ids one revocation list may carry.
pub const REVOCATION_IDS_PER_LIST_MAX: usize = 256;
/// Default lifetime of a member credential.
pub const CREDENTIAL_TTL_S_DEFAULT: u64 = 30 * 24 * 3600;
/// Default lifetime of an access token derived from a credential.
pub const ACCESS_TTL_S_DEFAULT: u64 = 24 * 3600;

/// What a privileged message asks to do. Each operation travels on one topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    Propose,
    Sign,
    Vote,
    CharterUpdate,
}

impl Operation {
    pub const ALL: [Operation; 4] = [
        Operation::Propose,
        Operation::Sign,
        Operation::Vote,
        Operation::CharterUpdate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Propose => "propose",
            Operation::Sign => "sign",
            Operation::Vote => "vote",
            Operation::CharterUpdate => "charter-update",
        }
    }

    pub fn parse(text: &str) -> Option<Operation> {
        Operation::ALL.into_iter().find(|op| op.as_str() == text)
    }

    /// The topic this operation's messages travel on.
    pub fn topic(self) -> &'static str {
        match self {
            Operation::Propose | Operation::CharterUpdate => crate::topics::PROPOSALS,
            Operation::Sign => crate::topics::SHARES,
            Operation::Vote => crate::topics::BALLOTS,
        }
    }
}

/// One right: an operation on a topic.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Right {
    pub operation: Operation,
    pub topic: String,
}

impl Right {
    /// The operation on its own topic.
    pub fn on_own_topic(operation: Operation) -> Right {
        Right {
            operation,
            topic: operation.topic().to_string(),
        }
    }

    /// What granting `operation` means by default: its own topic, and for `propose` also
    /// the ballots topic (opening a local ballot is a proposal).
    pub fn for_operation(operation: Operation) -> Vec<Right> {
        let mut rights = vec![Right::on_own_topic(operation)];
        if operation == Operation::Propose {
            rights.push(Right {
                operation,
                topic: crate::topics::BALLOTS.to_string(),
            });
        }
        rights
    }
}

/// Why a token was not accepted for a request. Each is its own metric reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenRefusal {
    #[error("token of {0} bytes exceeds {TOKEN_BYTES_MAX}")]
    TooLarge(usize),
    #[error("token bytes do not decode")]
    Malformed,
    #[error("token signature chain does not verify against the network authority")]
    BadSignature,
    #[error("token has expired")]
    Expired,
    #[error("token is held by another peer")]
    WrongHolder,
    #[error("token does not grant this operation on this topic")]
    NotPermitted,
    #[error("token is not an access token (it declares no access date)")]
    NotAccessToken,
    #[error("token's access date is further ahead than this node allows")]
    AccessTooLong,
    #[error("token is not a member token (no single member fact)")]
    NotMemberToken,
    #[error("token's datalog ran out of its time budget on this node")]
    Timeout,
}

impl TokenRefusal {
    /// Every refusal (one of each variant), for the tests that walk the verdict table.
    pub const ALL: [TokenRefusal; 10] = [
        TokenRefusal::TooLarge(TOKEN_BYTES_MAX + 1),
        TokenRefusal::Malformed,
        TokenRefusal::BadSignature,
        TokenRefusal::Expired,
        TokenRefusal::WrongHolder,
        TokenRefusal::NotPermitted,
        TokenRefusal::NotAccessToken,
        TokenRefusal::AccessTooLong,
        TokenRefusal::NotMemberToken,
        TokenRefusal::Timeout,
    ];

    /// Label for `x0_auth_rejected_total{reason}` / `x0_auth_ignored_total{reason}`.
    pub fn reason(self) -> &'static str {
        match self {
            TokenRefusal::TooLarge(_) => "token_too_large",
            TokenRefusal::Malformed => "token_malformed",
            TokenRefusal::BadSignature => "token_signature",
            TokenRefusal::Expired => "token_expired",
            TokenRefusal::WrongHolder => "wrong_holder",
            TokenRefusal::NotPermitted => "not_permitted",
            TokenRefusal::NotAccessToken => "not_access_token",
            TokenRefusal::AccessTooLong => "access_too_long",
            TokenRefusal::NotMemberToken => "not_member_token",
            TokenRefusal::Timeout => "token_timeout",
        }
    }

    /// Whether the token, with the message's verified source and the operation its topic
    /// and payload name, is refused by every honest node whatever its clock or config.
    ///
    /// * Bytes, signatures, the member fact, the holder and the rights are fixed by the
    ///   token and the network authority's key: invalid in itself.
    /// * `not_access_token`: the token declares no `access` date at all, so it is a bare
    ///   credential (or something else) sent where every node requires an access token
    ///   (`access_ttl_ms_max` is never 0 on a node): invalid in itself.
    /// * `access_too_long`: the access date lies further ahead of *this node's clock*
    ///   than *this node's* `auth.access_ttl_s + auth.skew_ms`. Another node with a later
    ///   clock or a longer configured lifetime accepts the same token, so an honest relay
    ///   may have forwarded it.
    /// * `token_expired`: expiry is read against this node's clock; a token that expires
    ///   while its message crosses the mesh is valid at one hop and expired at the next.
    /// * `token_timeout`: the datalog's wall-clock budget ran out on this node (load);
    ///   a faster node may finish it. The fact and iteration limits, which are the same
    ///   everywhere, stay `not_permitted`/`not_member_token`.
    pub fn invalid_in_itself(self) -> bool {
        match self {
            TokenRefusal::TooLarge(_)
            | TokenRefusal::Malformed
            | TokenRefusal::BadSignature
            | TokenRefusal::WrongHolder
            | TokenRefusal::NotPermitted
            | TokenRefusal::NotAccessToken
            | TokenRefusal::NotMemberToken => true,
            TokenRefusal::Expired | TokenRefusal::AccessTooLong | TokenRefusal::Timeout => false,
        }
    }
}

/// A datalog run that hit the authorizer's wall-clock budget is this node's load, not the
/// token's fault ([`TokenRefusal::Timeout`]); any other failure is `otherwise`.
fn run_refusal(error: &BiscuitError, otherwise: TokenRefusal) -> TokenRefusal {
    match error {
        BiscuitError::RunLimit(biscuit_auth::error::RunLimit::Timeout) => TokenRefusal::Timeout,
        _ => otherwise,
    }
}

/// Errors of the operator-side functions (mint, attenuate, inspect).
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("{0}")]
    Refused(#[from] TokenRefusal),
    #[error("biscuit: {0}")]
    Biscuit(#[from] BiscuitError),
    #[error("{0}")]
    Invalid(String),
}

/// What one request asks of a token.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The libp2p source of the message: must be the token's member.
    pub holder: &'a PeerKey,
    pub operation: Operation,
    pub topic: &'a str,
}

/// A token accepted for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Granted {
    /// The token's revocation ids (one per block); revoking any of them revokes it.
    pub revocation_ids: Arc<[Vec<u8>]>,
    /// The token is valid strictly before this time.
    pub valid_until_ms: u64,
}

/// Checks tokens for requests. The node uses [`BiscuitVerifier`]; the simulator may swap
/// in a cost model with the same accept/refuse semantics when it runs thousands of nodes.
pub trait TokenVerifier {
    fn verify(
        &mut self,
        token: &[u8],
        request: &Request<'_>,
        now_ms: u64,
    ) -> Result<Granted, TokenRefusal>;
}

/// Verifier bounds (the `[auth]` config section).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifierConfig {
    /// Verified (token, operation, topic) triples remembered; least recently used go first.
    pub cache_entries_max: usize,
    /// Refuse tokens that do not carry an `access` date at most this far ahead. Zero turns
    /// the requirement off (`x0 token verify` checks credentials that way).
    pub access_ttl_ms_max: u64,
}

impl Default for VerifierConfig {
    fn default() -> Self {
        VerifierConfig {
            cache_entries_max: 4096,
            // One day plus the skew window, so a token derived a moment ago still passes on
            // a node whose clock is a little behind.
            access_ttl_ms_max: ACCESS_TTL_S_DEFAULT * 1000 + 30_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    token_sha256: [u8; 32],
    operation: Operation,
    topic: Box<str>,
}

#[derive(Debug, Clone)]
struct CacheEntry {
    member: Vec<u8>,
    granted: Granted,
}

/// Counters a shell exports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerifierStats {
    pub cache_hits: u64,
    pub cache_misses: u64,
    pub cache_evictions: u64,
}

/// Verifies biscuit tokens against the network authority's public key, with an LRU cache
/// of verified requests: a repeated token costs a hash and a lookup.
pub struct BiscuitVerifier {
    root: PublicKey,
    config: VerifierConfig,
    cache: lru::LruCache<CacheKey, CacheEntry>,
    stats: VerifierStats,
}

impl BiscuitVerifier {
    pub fn new(root: PublicKey, config: VerifierConfig) -> BiscuitVerifier {
        let capacity = NonZeroUsize::new(config.cache_entries_max.max(1)).expect("max(1)");
        BiscuitVerifier {
            root,
            config,
            cache: lru::LruCache::new(capacity),
            stats: VerifierStats::default(),
        }
    }

    pub fn stats(&self) -> VerifierStats {
        self.stats
    }

    /// Full verification, no cache: signatures, member, dates, datalog.
    pub fn verify_uncached(
        &self,
        token: &[u8],
        request: &Request<'_>,
        now_ms: u64,
    ) -> Result<(Vec<u8>, Granted), TokenRefusal> {
        let biscuit = parse(token, &self.root)?;
        let mut authorizer = authorizer_for(&biscuit, Some(request), now_ms)?;
        let member = single_member(&mut authorizer)?;
        if member.as_slice() != request.holder.0.as_slice() {
            return Err(TokenRefusal::WrongHolder);
        }
        let dates = declared_dates(&mut authorizer)?;
        let valid_until_ms = dates.valid_until_ms();
        if now_ms >= valid_until_ms {
            return Err(TokenRefusal::Expired);
        }
        if self.config.access_ttl_ms_max > 0 {
            match dates.access_ms_min {
                None => return Err(TokenRefusal::NotAccessToken),
                Some(access_ms)
                    if access_ms.saturating_sub(now_ms) > self.config.access_ttl_ms_max =>
                {
                    return Err(TokenRefusal::AccessTooLong)
                }
                Some(_) => {}
            }
        }
        match authorizer.authorize() {
            Ok(_) => {}
            Err(BiscuitError::FailedLogic(logic)) => {
                // A time check we could not see as a declared date (a foreign attenuation)
                // still reads as expiry to the operator.
                let text = format!("{logic:?}");
                return Err(if text.contains("time(") {
                    TokenRefusal::Expired
                } else {
                    TokenRefusal::NotPermitted
                });
            }
            Err(error) => return Err(run_refusal(&error, TokenRefusal::NotPermitted)),
        }
        let granted = Granted {
            revocation_ids: biscuit.revocation_identifiers().into(),
            valid_until_ms,
        };
        Ok((member, granted))
    }
}

impl TokenVerifier for BiscuitVerifier {
    fn verify(
        &mut self,
        token: &[u8],
        request: &Request<'_>,
        now_ms: u64,
    ) -> Result<Granted, TokenRefusal> {
        if token.len() > TOKEN_BYTES_MAX {
            return Err(TokenRefusal::TooLarge(token.len()));
        }
        let key = CacheKey {
            token_sha256: Sha256::digest(token).into(),
            operation: request.operation,
            topic: request.topic.into(),
        };
        if let Some(entry) = self.cache.get(&key) {
            self.stats.cache_hits += 1;
            if now_ms >= entry.granted.valid_until_ms {
                self.cache.pop(&key);
                return Err(TokenRefusal::Expired);
            }
            if entry.member.as_slice() != request.holder.0.as_slice() {
                return Err(TokenRefusal::WrongHolder);
            }
            return Ok(entry.granted.clone());
        }
        self.stats.cache_misses += 1;
        let (member, granted) = self.verify_uncached(token, request, now_ms)?;
        let evicted = self.cache.push(
            key,
            CacheEntry {
                member,
                granted: granted.clone(),
            },
        );
        if evicted.is_some() {
            self.stats.cache_evictions += 1;
        }
        Ok(granted)
    }
}

fn parse(token: &[u8], root: &PublicKey) -> Result<Biscuit, TokenRefusal> {
    if token.len() > TOKEN_BYTES_MAX {
        return Err(TokenRefusal::TooLarge(token.len()));
    }
    Biscuit::from(token, root).map_err(|error| match error {
        BiscuitError::Format(
            Format::Signature(_)
            | Format::SealedSignature
            | Format::InvalidKey(_)
            | Format::InvalidSignatureSize(_)
            | Format::SignatureDeserializationError(_),
        ) => TokenRefusal::BadSignature,
        _ => TokenRefusal::Malformed,
    })
}

/// Datalog limits: the defaults, but a wall-clock budget that a loaded machine does not
/// turn into false refusals. Facts and iterations still bound the work.
fn limits() -> AuthorizerLimits {
    AuthorizerLimits {
        max_time: Duration::from_millis(50),
        ..AuthorizerLimits::default()
    }
}

fn authorizer_for(
    biscuit: &Biscuit,
    request: Option<&Request<'_>>,
    now_ms: u64,
) -> Result<biscuit_auth::Authorizer, TokenRefusal> {
    let mut builder = AuthorizerBuilder::new()
        .set_limits(limits())
        .fact(fact("time", &[Term::Date(now_ms / 1000)]))
        .map_err(|_| TokenRefusal::Malformed)?;
    if let Some(request) = request {
        builder = builder
            .fact(fact("holder", &[string(&peer_text(request.holder))]))
            .and_then(|b| b.fact(fact("operation", &[string(request.operation.as_str())])))
            .and_then(|b| b.fact(fact("topic", &[string(request.topic)])))
            .and_then(|b| {
                b.policy(
                    "allow if member($m), holder($m), operation($op), topic($t), right($op, $t)",
                )
            })
            .map_err(|_| TokenRefusal::Malformed)?;
    } else {
        builder = builder
            .policy("allow if true")
            .map_err(|_| TokenRefusal::Malformed)?;
    }
    builder.build(biscuit).map_err(|_| TokenRefusal::Malformed)
}

/// The authority block's one `member` fact, as PeerId bytes.
fn single_member(authorizer: &mut biscuit_auth::Authorizer) -> Result<Vec<u8>, TokenRefusal> {
    let members: Vec<(String,)> = authorizer
        .query_with_limits("m($m) <- member($m)", limits())
        .map_err(|error| run_refusal(&error, TokenRefusal::NotMemberToken))?;
    match members.as_slice() {
        [(member,)] => bs58::decode(member)
            .into_vec()
            .map_err(|_| TokenRefusal::NotMemberToken),
        _ => Err(TokenRefusal::NotMemberToken),
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct DeclaredDates {
    expires_ms_min: Option<u64>,
    access_ms_min: Option<u64>,
}

impl DeclaredDates {
    fn valid_until_ms(&self) -> u64 {
        let until = [self.expires_ms_min, self.access_ms_min]
            .into_iter()
            .flatten()
            .min();
        // A token that declares no expiry at all is refused by `declared_dates`.
        until.unwrap_or(0)
    }
}

/// The earliest `expires` and `access` dates declared in any block. Block facts are not
/// trusted for rights, but a date a block declares can only shorten the token's life, so
/// reading them from every block is safe.
fn declared_dates(
    authorizer: &mut biscuit_auth::Authorizer,
) -> Result<DeclaredDates, TokenRefusal> {
    let read = |authorizer: &mut biscuit_auth::Authorizer, rule: &str| {
        authorizer
            .query_all_with_limits::<_, (SystemTime,), _>(rule, limits())
            .map_err(|error| run_refusal(&error, TokenRefusal::Malformed))
            .map(|rows| {
                rows.into_iter()
                    .map(|(time,)| unix_s(time).saturating_mul(1000))
                    .min()
            })
    };
    let dates = DeclaredDates {
        expires_ms_min: read(authorizer, "e($d) <- expires($d)")?,
        access_ms_min: read(authorizer, "a($d) <- access($d)")?,
    };
    if dates.expires_ms_min.is_none() {
        // Only the authority's expiry bounds a credential: a token without one would be
        // valid forever.
        return Err(TokenRefusal::NotMemberToken);
    }
    Ok(dates)
}

/// The PeerId text (base58) of a peer, as tokens name it.
pub fn peer_text(peer: &PeerKey) -> String {
    bs58::encode(&peer.0).into_string()
}

// ---- operator side: mint, attenuate, derive, inspect, revocation lists ----

/// What the authority grants one member.
#[derive(Debug, Clone)]
pub struct Grant {
    /// The member's PeerId bytes.
    pub member: PeerKey,
    pub rights: Vec<Right>,
    pub expires_unix_s: u64,
}

/// Mints a member credential with the authority's key pair.
pub fn mint(authority: &KeyPair, grant: &Grant) -> Result<Vec<u8>, TokenError> {
    mint_with_rng(authority, grant, &mut rand::rngs::OsRng)
}

/// As [`mint`], drawing the key that signs the token's next block from `rng` (biscuit
/// draws it from the operating system): the simulator's tokens are then the same bytes in
/// every run of a seed.
pub fn mint_with_rng(
    authority: &KeyPair,
    grant: &Grant,
    rng: &mut (impl rand::RngCore + rand::CryptoRng),
) -> Result<Vec<u8>, TokenError> {
    if grant.rights.is_empty() {
        return Err(TokenError::Invalid(
            "a credential needs at least one right".into(),
        ));
    }
    let mut builder = Biscuit::builder()
        .fact(fact("member", &[string(&peer_text(&grant.member))]))?
        .fact(fact("expires", &[Term::Date(grant.expires_unix_s)]))?
        .code_with_params(
            "check if time($t), $t < {expires}",
            HashMap::from([("expires".to_string(), Term::Date(grant.expires_unix_s))]),
            HashMap::new(),
        )?;
    for right in &grant.rights {
        builder = builder.fact(fact(
            "right",
            &[string(right.operation.as_str()), string(&right.topic)],
        ))?;
    }
    let token = builder
        .build_with_rng(authority, biscuit_auth::datalog::SymbolTable::new(), rng)?
        .to_vec()?;
    assert!(
        token.len() <= TOKEN_BYTES_MAX,
        "a minted credential fits the wire limit"
    );
    Ok(token)
}

/// How a holder narrows its token.
#[derive(Debug, Clone, Default)]
pub struct Attenuation {
    /// Keep only these operations.
    pub operations: Option<Vec<Operation>>,
    /// Keep only these topics.
    pub topics: Option<Vec<String>>,
    /// Expire at this time at the latest.
    pub expires_unix_s: Option<u64>,
    /// Mark the result as an access token ending at this time.
    pub access_until_unix_s: Option<u64>,
}

/// Appends one block that narrows the token. Needs no key but the root's public key (to
/// check the token first): attenuation is offline.
pub fn attenuate(
    token: &[u8],
    root: &PublicKey,
    attenuation: &Attenuation,
) -> Result<Vec<u8>, TokenError> {
    attenuate_with_rng(token, root, attenuation, &mut rand::rngs::OsRng)
}

/// As [`attenuate`], drawing the new block's key from `rng` (see [`mint_with_rng`]).
pub fn attenuate_with_rng(
    token: &[u8],
    root: &PublicKey,
    attenuation: &Attenuation,
    rng: &mut (impl rand::RngCore + rand::CryptoRng),
) -> Result<Vec<u8>, TokenError> {
    let biscuit = parse(token, root)?;
    let mut block = BlockBuilder::new();
    let date_check = |block: BlockBuilder, name: &str, seconds: u64| {
        block
            .fact(fact(name, &[Term::Date(seconds)]))?
            .code_with_params(
                "check if time($t), $t < {until}",
                HashMap::from([("until".to_string(), Term::Date(seconds))]),
                HashMap::new(),
            )
    };
    if let Some(seconds) = attenuation.expires_unix_s {
        block = date_check(block, "expires", seconds)?;
    }
    if let Some(seconds) = attenuation.access_until_unix_s {
        block = date_check(block, "access", seconds)?;
    }
    if let Some(operations) = &attenuation.operations {
        let set: std::collections::BTreeSet<Term> =
            operations.iter().map(|op| string(op.as_str())).collect();
        block = block.code_with_params(
            "check if operation($op), {ops}.contains($op)",
            HashMap::from([("ops".to_string(), Term::Set(set))]),
            HashMap::new(),
        )?;
    }
    if let Some(topics) = &attenuation.topics {
        let set: std::collections::BTreeSet<Term> = topics.iter().map(|t| string(t)).collect();
        block = block.code_with_params(
            "check if topic($t), {topics}.contains($t)",
            HashMap::from([("topics".to_string(), Term::Set(set))]),
            HashMap::new(),
        )?;
    }
    let next = KeyPair::new_with_rng(biscuit_auth::Algorithm::Ed25519, rng);
    let out = biscuit.append_with_keypair(&next, block)?.to_vec()?;
    if out.len() > TOKEN_BYTES_MAX {
        return Err(TokenRefusal::TooLarge(out.len()).into());
    }
    Ok(out)
}

/// The access token a node sends: its credential, valid for `ttl_s` more seconds.
pub fn derive_access(
    credential: &[u8],
    root: &PublicKey,
    now_unix_s: u64,
    ttl_s: u64,
) -> Result<Vec<u8>, TokenError> {
    derive_access_with_rng(credential, root, now_unix_s, ttl_s, &mut rand::rngs::OsRng)
}

/// As [`derive_access`], drawing the new block's key from `rng` (see [`mint_with_rng`]).
pub fn derive_access_with_rng(
    credential: &[u8],
    root: &PublicKey,
    now_unix_s: u64,
    ttl_s: u64,
    rng: &mut (impl rand::RngCore + rand::CryptoRng),
) -> Result<Vec<u8>, TokenError> {
    attenuate_with_rng(
        credential,
        root,
        &Attenuation {
            access_until_unix_s: Some(now_unix_s + ttl_s),
            ..Attenuation::default()
        },
        rng,
    )
}

/// What a token says, for `x0 token inspect` and for a node checking its own credential.
#[derive(Debug, Clone)]
pub struct TokenSummary {
    /// The member PeerId text, if exactly one.
    pub member: Option<String>,
    /// Rights granted by the authority block (before attenuation).
    pub rights: Vec<(String, String)>,
    pub expires_unix_s: Option<u64>,
    pub access_until_unix_s: Option<u64>,
    /// Datalog source of every block, authority first.
    pub blocks: Vec<String>,
    /// Hex revocation ids, one per block.
    pub revocation_ids: Vec<String>,
}

/// Verifies the signature chain and reads the token, without authorizing a request.
pub fn inspect(token: &[u8], root: &PublicKey) -> Result<TokenSummary, TokenError> {
    let biscuit = parse(token, root)?;
    let mut authorizer = authorizer_for(&biscuit, None, 0)?;
    let members: Vec<(String,)> = authorizer.query_with_limits("m($m) <- member($m)", limits())?;
    let mut rights: Vec<(String, String)> =
        authorizer.query_with_limits("r($o, $t) <- right($o, $t)", limits())?;
    rights.sort();
    let dates = declared_dates(&mut authorizer).unwrap_or_default();
    let blocks = (0..biscuit.block_count())
        .map(|i| biscuit.print_block_source(i))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(TokenSummary {
        member: match members.as_slice() {
            [(m,)] => Some(m.clone()),
            _ => None,
        },
        rights,
        expires_unix_s: dates.expires_ms_min.map(|ms| ms / 1000),
        access_until_unix_s: dates.access_ms_min.map(|ms| ms / 1000),
        blocks,
        revocation_ids: biscuit
            .revocation_identifiers()
            .iter()
            .map(hex::encode)
            .collect(),
    })
}

/// One revoked token id and the time after which nobody needs to remember it (the revoked
/// token's own expiry: it is dead by then anyway).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Revoked {
    pub id: Vec<u8>,
    pub until_unix_s: u64,
}

/// A signed revocation list: a biscuit of its own, minted by the authority, with one
/// `revocation_list(sequence)` fact and `revoked(id, until)` facts, never attenuated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationList {
    pub sequence: u64,
    pub entries: Vec<Revoked>,
}

pub fn mint_revocations(authority: &KeyPair, list: &RevocationList) -> Result<Vec<u8>, TokenError> {
    mint_revocations_with_rng(authority, list, &mut rand::rngs::OsRng)
}

/// As [`mint_revocations`], drawing the next block's key from `rng` (see [`mint_with_rng`]).
pub fn mint_revocations_with_rng(
    authority: &KeyPair,
    list: &RevocationList,
    rng: &mut (impl rand::RngCore + rand::CryptoRng),
) -> Result<Vec<u8>, TokenError> {
    if list.entries.is_empty() || list.entries.len() > REVOCATION_IDS_PER_LIST_MAX {
        return Err(TokenError::Invalid(format!(
            "a revocation list carries 1..={REVOCATION_IDS_PER_LIST_MAX} ids, not {}",
            list.entries.len()
        )));
    }
    let mut builder = Biscuit::builder().fact(fact(
        "revocation_list",
        &[Term::Integer(list.sequence as i64)],
    ))?;
    for entry in &list.entries {
        builder = builder.fact(fact(
            "revoked",
            &[
                Term::Bytes(entry.id.clone()),
                Term::Date(entry.until_unix_s),
            ],
        ))?;
    }
    Ok(builder
        .build_with_rng(authority, biscuit_auth::datalog::SymbolTable::new(), rng)?
        .to_vec()?)
}

/// The id that revokes `credential` and every token derived from it: the revocation id of
/// its authority block, which every attenuated copy carries first.
pub fn credential_revocation_id(
    credential: &[u8],
    root: &PublicKey,
) -> Result<Vec<u8>, TokenError> {
    let biscuit = parse(credential, root)?;
    Ok(biscuit
        .revocation_identifiers()
        .into_iter()
        .next()
        .expect("a biscuit has an authority block"))
}

/// Why bytes are not a revocation list from the authority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RevocationError {
    #[error("revocation list of {0} bytes exceeds {REVOCATION_LIST_BYTES_MAX}")]
    TooLarge(usize),
    #[error("not signed by the network authority")]
    BadSignature,
    #[error("does not decode as a revocation list")]
    Malformed,
    #[error("a revocation list must not be attenuated")]
    Attenuated,
    #[error("more than {REVOCATION_IDS_PER_LIST_MAX} ids")]
    TooManyIds,
}

impl RevocationError {
    /// One of each error, for the verdict-table tests.
    pub const ALL: [RevocationError; 5] = [
        RevocationError::TooLarge(REVOCATION_LIST_BYTES_MAX + 1),
        RevocationError::BadSignature,
        RevocationError::Malformed,
        RevocationError::Attenuated,
        RevocationError::TooManyIds,
    ];

    pub fn reason(self) -> &'static str {
        match self {
            RevocationError::TooLarge(_) => "revocations_too_large",
            RevocationError::BadSignature => "revocations_signature",
            RevocationError::Malformed => "revocations_malformed",
            RevocationError::Attenuated => "revocations_attenuated",
            RevocationError::TooManyIds => "revocations_too_many",
        }
    }
}

pub fn read_revocations(bytes: &[u8], root: &PublicKey) -> Result<RevocationList, RevocationError> {
    if bytes.len() > REVOCATION_LIST_BYTES_MAX {
        return Err(RevocationError::TooLarge(bytes.len()));
    }
    let biscuit = Biscuit::from(bytes, root).map_err(|error| match error {
        BiscuitError::Format(Format::Signature(_) | Format::InvalidKey(_)) => {
            RevocationError::BadSignature
        }
        _ => RevocationError::Malformed,
    })?;
    if biscuit.block_count() != 1 {
        return Err(RevocationError::Attenuated);
    }
    let mut authorizer =
        authorizer_for(&biscuit, None, 0).map_err(|_| RevocationError::Malformed)?;
    let sequences: Vec<(i64,)> = authorizer
        .query_with_limits("s($s) <- revocation_list($s)", limits())
        .map_err(|_| RevocationError::Malformed)?;
    let [(sequence,)] = sequences.as_slice() else {
        return Err(RevocationError::Malformed);
    };
    let rows: Vec<(Vec<u8>, SystemTime)> = authorizer
        .query_with_limits("r($id, $until) <- revoked($id, $until)", limits())
        .map_err(|_| RevocationError::Malformed)?;
    if rows.len() > REVOCATION_IDS_PER_LIST_MAX {
        return Err(RevocationError::TooManyIds);
    }
    let mut entries = Vec::with_capacity(rows.len());
    for (id, until) in rows {
        entries.push(Revoked {
            id,
            until_unix_s: unix_s(until),
        });
    }
    if entries.is_empty() || *sequence < 0 {
        return Err(RevocationError::Malformed);
    }
    entries.sort();
    Ok(RevocationList {
        sequence: *sequence as u64,
        entries,
    })
}

fn unix_s(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    pub const NOW_S: u64 = 1_800_000_000;
    pub const NOW_MS: u64 = NOW_S * 1000;

    pub fn authority_key(seed: u8) -> KeyPair {
        let mut rng = rand_chacha::ChaCha8Rng::from_seed([seed; 32]);
        KeyPair::new_with_rng(biscuit_auth::Algorithm::Ed25519, &mut rng)
    }

    pub fn peer(i: u8) -> PeerKey {
        // The shape of an Ed25519 PeerId: identity multihash of a protobuf public key.
        let mut bytes = vec![0x00, 0x24, 0x08, 0x01, 0x12, 0x20];
        bytes.extend([i; 32]);
        PeerKey(bytes)
    }

    pub fn all_rights() -> Vec<Right> {
        Operation::ALL
            .into_iter()
            .flat_map(Right::for_operation)
            .collect()
    }

    pub fn credential(authority: &KeyPair, member: &PeerKey, rights: Vec<Right>) -> Vec<u8> {
        mint(
            authority,
            &Grant {
                member: member.clone(),
                rights,
                expires_unix_s: NOW_S + CREDENTIAL_TTL_S_DEFAULT,
            },
        )
        .unwrap()
    }

    pub fn access(authority: &KeyPair, member: &PeerKey, rights: Vec<Right>) -> Vec<u8> {
        derive_access(
            &credential(authority, member, rights),
            &authority.public(),
            NOW_S,
            ACCESS_TTL_S_DEFAULT,
        )
        .unwrap()
    }

    fn request(holder: &PeerKey, operation: Operation) -> Request<'_> {
        Request {
            holder,
            operation,
            topic: operation.topic(),
        }
    }

    fn verifier(authority: &KeyPair) -> BiscuitVerifier {
        BiscuitVerifier::new(authority.public(), VerifierConfig::default())
    }

    #[test]
    fn an_access_token_grants_exactly_its_rights_to_its_holder() {
        let authority = authority_key(1);
        let member = peer(1);
        let token = access(
            &authority,
            &member,
            vec![Right::on_own_topic(Operation::Sign)],
        );
        assert!(token.len() < 1024, "two blocks: {} bytes", token.len());
        let mut verifier = verifier(&authority);
        let granted = verifier
            .verify(&token, &request(&member, Operation::Sign), NOW_MS)
            .unwrap();
        assert_eq!(granted.revocation_ids.len(), 2);
        assert_eq!(
            granted.valid_until_ms,
            (NOW_S + ACCESS_TTL_S_DEFAULT) * 1000
        );
        assert_eq!(
            verifier.verify(&token, &request(&member, Operation::Propose), NOW_MS),
            Err(TokenRefusal::NotPermitted)
        );
        // The right names a topic: the same operation elsewhere is not granted.
        let elsewhere = Request {
            holder: &member,
            operation: Operation::Sign,
            topic: crate::topics::PROPOSALS,
        };
        assert_eq!(
            verifier.verify(&token, &elsewhere, NOW_MS),
            Err(TokenRefusal::NotPermitted)
        );
        assert_eq!(
            verifier.verify(&token, &request(&peer(2), Operation::Sign), NOW_MS),
            Err(TokenRefusal::WrongHolder)
        );
    }

    #[test]
    fn tokens_drawn_from_a_seeded_rng_are_the_same_bytes_and_verify_alike() {
        // The simulator seeds what biscuit would draw from the OS, so a run replays.
        let authority = authority_key(1);
        let member = peer(1);
        let grant = Grant {
            member: member.clone(),
            rights: all_rights(),
            expires_unix_s: NOW_S + CREDENTIAL_TTL_S_DEFAULT,
        };
        let seeded = |seed: u8| rand_chacha::ChaCha8Rng::from_seed([seed; 32]);
        let derived = |seed: u8| {
            let credential = mint_with_rng(&authority, &grant, &mut seeded(seed)).unwrap();
            derive_access_with_rng(
                &credential,
                &authority.public(),
                NOW_S,
                ACCESS_TTL_S_DEFAULT,
                &mut seeded(seed),
            )
            .unwrap()
        };
        let (first, again, other) = (derived(3), derived(3), derived(4));
        assert_eq!(first, again);
        assert_ne!(first, other);
        let mut verifier = verifier(&authority);
        for token in [&first, &other] {
            verifier
                .verify(token, &request(&member, Operation::Sign), NOW_MS)
                .unwrap();
        }
    }

    #[test]
    fn a_credential_revocation_id_revokes_its_access_tokens_and_seeded_lists_replay() {
        let authority = authority_key(1);
        let member = peer(1);
        let credential = credential(&authority, &member, all_rights());
        let id = credential_revocation_id(&credential, &authority.public()).unwrap();
        let token = derive_access(
            &credential,
            &authority.public(),
            NOW_S,
            ACCESS_TTL_S_DEFAULT,
        )
        .unwrap();
        let granted = verifier(&authority)
            .verify(&token, &request(&member, Operation::Sign), NOW_MS)
            .unwrap();
        assert_eq!(granted.revocation_ids.first(), Some(&id));
        assert!(credential_revocation_id(&credential, &authority_key(2).public()).is_err());
        let list = RevocationList {
            sequence: 1,
            entries: vec![Revoked {
                id,
                until_unix_s: NOW_S + 10,
            }],
        };
        let seeded = |seed: u8| rand_chacha::ChaCha8Rng::from_seed([seed; 32]);
        let minted =
            |seed: u8| mint_revocations_with_rng(&authority, &list, &mut seeded(seed)).unwrap();
        assert_eq!(minted(3), minted(3));
        assert_ne!(minted(3), minted(4));
        assert_eq!(read_revocations(&minted(3), &authority.public()), Ok(list));
    }

    #[test]
    fn expiry_is_enforced_fresh_and_from_the_cache() {
        let authority = authority_key(1);
        let member = peer(1);
        let token = access(&authority, &member, all_rights());
        let until_ms = (NOW_S + ACCESS_TTL_S_DEFAULT) * 1000;
        let mut cached = verifier(&authority);
        assert!(cached
            .verify(&token, &request(&member, Operation::Vote), until_ms - 1000)
            .is_ok());
        assert_eq!(
            cached.verify(&token, &request(&member, Operation::Vote), until_ms),
            Err(TokenRefusal::Expired)
        );
        assert_eq!(
            verifier(&authority).verify(&token, &request(&member, Operation::Vote), until_ms),
            Err(TokenRefusal::Expired)
        );
        // The credential's own 30-day expiry binds an access token derived late.
        let credential = credential(&authority, &member, all_rights());
        let late_s = NOW_S + CREDENTIAL_TTL_S_DEFAULT - 60;
        let late = derive_access(
            &credential,
            &authority.public(),
            late_s,
            ACCESS_TTL_S_DEFAULT,
        )
        .unwrap();
        assert!(verifier(&authority)
            .verify(
                &late,
                &request(&member, Operation::Vote),
                (late_s + 30) * 1000
            )
            .is_ok());
        assert_eq!(
            verifier(&authority).verify(
                &late,
                &request(&member, Operation::Vote),
                (late_s + 61) * 1000
            ),
            Err(TokenRefusal::Expired)
        );
    }

    #[test]
    fn a_credential_is_not_an_access_token_unless_the_check_is_off() {
        let authority = authority_key(1);
        let member = peer(1);
        let credential = credential(&authority, &member, all_rights());
        assert_eq!(
            verifier(&authority).verify(&credential, &request(&member, Operation::Sign), NOW_MS),
            Err(TokenRefusal::NotAccessToken)
        );
        // An access date further ahead than this verifier allows is refused too, with a
        // reason of its own: it reads this node's clock and config, so it is no proof
        // that the sender misbehaved (an Ignore, not a Reject).
        let long = derive_access(&credential, &authority.public(), NOW_S, 7 * 24 * 3600).unwrap();
        assert_eq!(
            verifier(&authority).verify(&long, &request(&member, Operation::Sign), NOW_MS),
            Err(TokenRefusal::AccessTooLong)
        );
        let mut lax = BiscuitVerifier::new(
            authority.public(),
            VerifierConfig {
                access_ttl_ms_max: 0,
                ..VerifierConfig::default()
            },
        );
        assert!(lax
            .verify(&credential, &request(&member, Operation::Sign), NOW_MS)
            .is_ok());
    }

    #[test]
    fn forged_and_broken_tokens_are_refused_with_their_reason() {
        let authority = authority_key(1);
        let impostor = authority_key(2);
        let member = peer(1);
        let forged = access(&impostor, &member, all_rights());
        let mut verifier = verifier(&authority);
        assert_eq!(
            verifier.verify(&forged, &request(&member, Operation::Sign), NOW_MS),
            Err(TokenRefusal::BadSignature)
        );
        let mut flipped = access(&authority, &member, all_rights());
        let middle = flipped.len() / 2;
        flipped[middle] ^= 0x01;
        assert!(matches!(
            verifier.verify(&flipped, &request(&member, Operation::Sign), NOW_MS),
            Err(TokenRefusal::BadSignature | TokenRefusal::Malformed)
        ));
        assert_eq!(
            verifier.verify(b"not a token", &request(&member, Operation::Sign), NOW_MS),
            Err(TokenRefusal::Malformed)
        );
        assert_eq!(
            verifier.verify(
                &vec![0; TOKEN_BYTES_MAX + 1],
                &request(&member, Operation::Sign),
                NOW_MS
            ),
            Err(TokenRefusal::TooLarge(TOKEN_BYTES_MAX + 1))
        );
        // A holder cannot add rights by appending facts: blocks are not trusted for them.
        let narrow = credential(
            &authority,
            &member,
            vec![Right::on_own_topic(Operation::Sign)],
        );
        let biscuit = Biscuit::from(&narrow[..], authority.public()).unwrap();
        let widened = biscuit
            .append(
                BlockBuilder::new()
                    .code("right(\"propose\", \"/x0/1/proposals\"); access(2027-01-15T09:00:00Z);")
                    .unwrap(),
            )
            .unwrap()
            .to_vec()
            .unwrap();
        assert_eq!(
            verifier.verify(&widened, &request(&member, Operation::Propose), NOW_MS),
            Err(TokenRefusal::NotPermitted)
        );
    }

    #[test]
    fn attenuation_narrows_operations_topics_and_time() {
        let authority = authority_key(1);
        let member = peer(1);
        let token = access(&authority, &member, all_rights());
        let root = authority.public();
        let only_sign = attenuate(
            &token,
            &root,
            &Attenuation {
                operations: Some(vec![Operation::Sign]),
                ..Attenuation::default()
            },
        )
        .unwrap();
        let mut verifier = verifier(&authority);
        assert!(verifier
            .verify(&only_sign, &request(&member, Operation::Sign), NOW_MS)
            .is_ok());
        assert_eq!(
            verifier.verify(&only_sign, &request(&member, Operation::Vote), NOW_MS),
            Err(TokenRefusal::NotPermitted)
        );
        let only_ballots = attenuate(
            &token,
            &root,
            &Attenuation {
                topics: Some(vec![crate::topics::BALLOTS.into()]),
                ..Attenuation::default()
            },
        )
        .unwrap();
        assert!(verifier
            .verify(&only_ballots, &request(&member, Operation::Vote), NOW_MS)
            .is_ok());
        assert_eq!(
            verifier.verify(&only_ballots, &request(&member, Operation::Sign), NOW_MS),
            Err(TokenRefusal::NotPermitted)
        );
        let an_hour = attenuate(
            &token,
            &root,
            &Attenuation {
                expires_unix_s: Some(NOW_S + 3600),
                ..Attenuation::default()
            },
        )
        .unwrap();
        assert!(verifier
            .verify(&an_hour, &request(&member, Operation::Sign), NOW_MS)
            .is_ok());
        assert_eq!(
            verifier.verify(
                &an_hour,
                &request(&member, Operation::Sign),
                (NOW_S + 3600) * 1000
            ),
            Err(TokenRefusal::Expired)
        );
        let summary = inspect(&an_hour, &root).unwrap();
        assert_eq!(summary.member, Some(peer_text(&member)));
        assert_eq!(summary.expires_unix_s, Some(NOW_S + 3600));
        assert_eq!(summary.blocks.len(), 3);
        assert_eq!(summary.revocation_ids.len(), 3);
        // Four operations on their topics, and propose on the ballots topic.
        assert_eq!(summary.rights.len(), 5);
    }

    /// Random grants and attenuations against the rule written out longhand: a request
    /// passes iff the authority granted (operation, topic) and every attenuation keeps it.
    #[test]
    fn random_rights_and_attenuations_match_the_rule() {
        let authority = authority_key(3);
        let root = authority.public();
        let member = peer(3);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut verifier = verifier(&authority);
        for round in 0..40 {
            let granted: Vec<Operation> = Operation::ALL
                .into_iter()
                .filter(|_| rng.gen_bool(0.5))
                .collect();
            if granted.is_empty() {
                continue;
            }
            let token = access(
                &authority,
                &member,
                granted.iter().copied().map(Right::on_own_topic).collect(),
            );
            let kept: Option<Vec<Operation>> = rng.gen_bool(0.6).then(|| {
                Operation::ALL
                    .into_iter()
                    .filter(|_| rng.gen_bool(0.5))
                    .collect()
            });
            let token = match &kept {
                Some(ops) => attenuate(
                    &token,
                    &root,
                    &Attenuation {
                        operations: Some(ops.clone()),
                        ..Attenuation::default()
                    },
                )
                .unwrap(),
                None => token,
            };
            for operation in Operation::ALL {
                let expected = granted.contains(&operation)
                    && kept.as_ref().is_none_or(|ops| ops.contains(&operation));
                let result = verifier.verify(&token, &request(&member, operation), NOW_MS);
                assert_eq!(
                    result.is_ok(),
                    expected,
                    "round {round}: {operation:?} {result:?}"
                );
                if !expected {
                    assert_eq!(result, Err(TokenRefusal::NotPermitted));
                }
            }
        }
    }

    #[test]
    fn the_cache_answers_repeats_and_still_checks_the_holder() {
        let authority = authority_key(1);
        let member = peer(1);
        let token = access(&authority, &member, all_rights());
        let mut verifier = verifier(&authority);
        let first = verifier
            .verify(&token, &request(&member, Operation::Sign), NOW_MS)
            .unwrap();
        let second = verifier
            .verify(&token, &request(&member, Operation::Sign), NOW_MS + 5)
            .unwrap();
        assert_eq!(first, second);
        assert_eq!(verifier.stats().cache_hits, 1);
        assert_eq!(verifier.stats().cache_misses, 1);
        assert_eq!(
            verifier.verify(&token, &request(&peer(9), Operation::Sign), NOW_MS),
            Err(TokenRefusal::WrongHolder)
        );
    }

    #[test]
    fn revocation_lists_verify_against_the_authority_only() {
        let authority = authority_key(1);
        let list = RevocationList {
            sequence: 7,
            entries: vec![
                Revoked {
                    id: vec![1; 64],
                    until_unix_s: NOW_S + 10,
                },
                Revoked {
                    id: vec![2; 64],
                    until_unix_s: NOW_S + 20,
                },
            ],
        };
        let bytes = mint_revocations(&authority, &list).unwrap();
        assert_eq!(
            read_revocations(&bytes, &authority.public()),
            Ok(list.clone())
        );
        assert_eq!(
            read_revocations(&bytes, &authority_key(2).public()),
            Err(RevocationError::BadSignature)
        );
        assert_eq!(
            read_revocations(b"garbage", &authority.public()),
            Err(RevocationError::Malformed)
        );
        // A member token is not a revocation list, and nobody can append to one.
        let token = credential(&authority, &peer(1), all_rights());
        assert_eq!(
            read_revocations(&token, &authority.public()),
            Err(RevocationError::Malformed)
        );
        let appended = Biscuit::from(&bytes[..], authority.public())
            .unwrap()
            .append(
                BlockBuilder::new()
                    .code("revoked(hex:00, 2030-01-01T00:00:00Z);")
                    .unwrap(),
            )
            .unwrap()
            .to_vec()
            .unwrap();
        assert_eq!(
            read_revocations(&appended, &authority.public()),
            Err(RevocationError::Attenuated)
        );
    }
}
