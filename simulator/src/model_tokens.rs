//! A cost-free model of the capability tokens, for runs with modelled crypto.
//!
//! It keeps the verdicts of the real biscuit verifier ([`x0_core::auth::token`]) for
//! every token the world produces: a token verifies only under the authority that minted
//! it (else `token_signature`), only for the peer it names (else `wrong_holder`), only
//! before the earlier of its credential expiry and its access date (else
//! `token_expired`), only as an access token (else `not_access_token`) of at most
//! `access_ttl_ms_max` left (else `access_too_long`), and only for an (operation, topic) the authority granted (else
//! `not_permitted`); the checks run in the real verifier's order, so a token failing
//! several gets the same reason. In place of biscuit's Ed25519 chain it carries the claims
//! in the clear and a SHA-256 tag under the authority's secret; attenuation (deriving an
//! access token) re-tags with that secret.
//!
//! The one difference: the real verifier answers a token it verified before from its
//! cache, and there checks expiry before the holder, so a token that is both expired and
//! presented by another peer reads `token_expired` there and `wrong_holder` here. The world
//! never produces one (access tokens are refreshed at half their life, runs last at most a
//! day, and replayers present live tokens).
//!
//! This is a model, not cryptography: the secret is in every verifier. Nothing outside the
//! simulator uses it, and a simulated forger mints only with its own authority, which the
//! world draws for it and which no honest node trusts.

use std::sync::Arc;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};
use x0_core::auth::token::{
    Grant, Granted, Operation, Request, RevocationError, RevocationList, Revoked, TokenRefusal,
    TokenVerifier, VerifierConfig, REVOCATION_IDS_PER_LIST_MAX, REVOCATION_LIST_BYTES_MAX,
    TOKEN_BYTES_MAX,
};

use crate::model_crypto::Weakness;
use crate::tokens::SimTokens;

const MAGIC: &[u8; 4] = b"x0mt";
/// A model revocation list's magic.
const LIST_MAGIC: &[u8; 4] = b"x0mr";
const VERSION: u8 = 1;
const TAG_BYTES: usize = 32;
/// Longest member (PeerId bytes) and topic a model token carries, and most rights.
const MEMBER_BYTES_MAX: usize = 64;
const TOPIC_BYTES_MAX: usize = 255;
const RIGHTS_MAX: usize = 16;

/// The model's authority: a secret drawn from the run's RNG.
#[derive(Clone)]
pub struct ModelAuthority {
    secret: [u8; 32],
}

impl ModelAuthority {
    pub fn new(secret: [u8; 32]) -> ModelAuthority {
        ModelAuthority { secret }
    }

    fn tag(&self, body: &[u8]) -> [u8; TAG_BYTES] {
        self.tag_of(&[body])
    }

    /// The tag of the concatenated `parts`.
    fn tag_of(&self, parts: &[&[u8]]) -> [u8; TAG_BYTES] {
        let mut hasher = Sha256::new();
        hasher.update(b"x0/sim/model-token");
        hasher.update(self.secret);
        for part in parts {
            hasher.update(part);
        }
        hasher.finalize().into()
    }

    /// The tag of the credential a token with `body` was derived from: the same claims
    /// without an access date (the body's last 8 bytes), so it is the credential's own
    /// tag, and its revocation id.
    fn credential_tag(&self, body: &[u8]) -> [u8; TAG_BYTES] {
        let (claims, _access) = body.split_at(body.len() - 8);
        self.tag_of(&[claims, &[0u8; 8]])
    }

    fn seal(&self, claims: &Claims) -> Vec<u8> {
        let mut token = claims.encode();
        let tag = self.tag(&token);
        token.extend_from_slice(&tag);
        assert!(
            token.len() <= TOKEN_BYTES_MAX,
            "a model token fits the wire"
        );
        token
    }
}

/// What a model token says, in the clear.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Claims {
    member: Vec<u8>,
    rights: Vec<(Operation, String)>,
    expires_unix_s: u64,
    /// Present on access tokens.
    access_until_unix_s: Option<u64>,
}

impl Claims {
    /// `magic, version, member_len u8, member, rights u8, (op u8, topic_len u8, topic)*,
    /// expires u64 BE, access u64 BE (0: none)`; the tag follows.
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.push(self.member.len() as u8);
        out.extend_from_slice(&self.member);
        out.push(self.rights.len() as u8);
        for (operation, topic) in &self.rights {
            let index = Operation::ALL
                .iter()
                .position(|op| op == operation)
                .expect("every operation is in ALL");
            out.push(index as u8);
            out.push(topic.len() as u8);
            out.extend_from_slice(topic.as_bytes());
        }
        out.extend_from_slice(&self.expires_unix_s.to_be_bytes());
        out.extend_from_slice(&self.access_until_unix_s.unwrap_or(0).to_be_bytes());
        out
    }
}

/// The claims of a model token as they sit in its bytes: reading them allocates nothing,
/// since every node reads every member's token.
struct View<'a> {
    member: &'a [u8],
    /// `rights_len` entries `(op u8, topic_len u8, topic)`, checked well-formed.
    rights: &'a [u8],
    rights_len: usize,
    expires_unix_s: u64,
    access_until_unix_s: Option<u64>,
}

impl<'a> View<'a> {
    /// The claims, the tagged body and the tag of untrusted bytes; never panics.
    fn parse(token: &'a [u8]) -> Result<(View<'a>, &'a [u8], &'a [u8]), TokenRefusal> {
        let malformed = TokenRefusal::Malformed;
        if token.len() < TAG_BYTES {
            return Err(malformed);
        }
        let (body, tag) = token.split_at(token.len() - TAG_BYTES);
        let mut reader = Reader { bytes: body };
        if reader.take(MAGIC.len())? != MAGIC || reader.u8()? != VERSION {
            return Err(malformed);
        }
        let member_len = usize::from(reader.u8()?);
        if member_len == 0 || member_len > MEMBER_BYTES_MAX {
            return Err(malformed);
        }
        let member = reader.take(member_len)?;
        let rights_len = usize::from(reader.u8()?);
        if rights_len == 0 || rights_len > RIGHTS_MAX {
            return Err(malformed);
        }
        let rights_start = reader.bytes;
        for _ in 0..rights_len {
            if usize::from(reader.u8()?) >= Operation::ALL.len() {
                return Err(malformed);
            }
            let topic_len = usize::from(reader.u8()?);
            std::str::from_utf8(reader.take(topic_len)?).map_err(|_| malformed)?;
        }
        let rights = &rights_start[..rights_start.len() - reader.bytes.len()];
        let expires_unix_s = reader.u64()?;
        let access = reader.u64()?;
        if !reader.bytes.is_empty() {
            return Err(malformed);
        }
        let view = View {
            member,
            rights,
            rights_len,
            expires_unix_s,
            access_until_unix_s: (access > 0).then_some(access),
        };
        Ok((view, body, tag))
    }

    /// The rights, in token order.
    fn rights(&self) -> impl Iterator<Item = (Operation, &'a [u8])> + '_ {
        let mut reader = Reader { bytes: self.rights };
        (0..self.rights_len).map(move |_| {
            let operation = Operation::ALL[usize::from(reader.u8().expect("checked"))];
            let topic_len = usize::from(reader.u8().expect("checked"));
            (operation, reader.take(topic_len).expect("checked"))
        })
    }

    fn grants(&self, operation: Operation, topic: &str) -> bool {
        self.rights()
            .any(|(op, granted)| op == operation && granted == topic.as_bytes())
    }

    fn to_claims(&self) -> Claims {
        Claims {
            member: self.member.to_vec(),
            rights: self
                .rights()
                .map(|(op, topic)| {
                    let topic = std::str::from_utf8(topic).expect("checked utf-8");
                    (op, topic.to_string())
                })
                .collect(),
            expires_unix_s: self.expires_unix_s,
            access_until_unix_s: self.access_until_unix_s,
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], TokenRefusal> {
        if self.bytes.len() < len {
            return Err(TokenRefusal::Malformed);
        }
        let (head, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, TokenRefusal> {
        Ok(self.take(1)?[0])
    }

    fn u64(&mut self) -> Result<u64, TokenRefusal> {
        Ok(u64::from_be_bytes(
            self.take(8)?.try_into().expect("took 8"),
        ))
    }
}

/// The model's verifier: the real verifier's checks in its order, no cache, no cost.
pub struct ModelVerifier {
    authority: ModelAuthority,
    config: VerifierConfig,
    weakness: Weakness,
}

impl TokenVerifier for ModelVerifier {
    fn verify(
        &mut self,
        token: &[u8],
        request: &Request<'_>,
        now_ms: u64,
    ) -> Result<Granted, TokenRefusal> {
        if token.len() > TOKEN_BYTES_MAX {
            return Err(TokenRefusal::TooLarge(token.len()));
        }
        if self.weakness == Weakness::TokensUnverified {
            return Ok(Granted {
                revocation_ids: Arc::from(Vec::new()),
                valid_until_ms: u64::MAX,
            });
        }
        let (claims, body, tag) = View::parse(token)?;
        if self.authority.tag(body) != tag {
            return Err(TokenRefusal::BadSignature);
        }
        if claims.member != request.holder.0.as_slice() {
            return Err(TokenRefusal::WrongHolder);
        }
        let expires_ms = claims.expires_unix_s.saturating_mul(1000);
        let access_ms = claims.access_until_unix_s.map(|s| s.saturating_mul(1000));
        let valid_until_ms = access_ms.map_or(expires_ms, |a| a.min(expires_ms));
        if now_ms >= valid_until_ms {
            return Err(TokenRefusal::Expired);
        }
        if self.config.access_ttl_ms_max > 0 {
            match access_ms {
                None => return Err(TokenRefusal::NotAccessToken),
                Some(access_ms)
                    if access_ms.saturating_sub(now_ms) > self.config.access_ttl_ms_max =>
                {
                    return Err(TokenRefusal::AccessTooLong)
                }
                Some(_) => {}
            }
        }
        if !claims.grants(request.operation, request.topic) {
            return Err(TokenRefusal::NotPermitted);
        }
        // As a biscuit names its authority block's id first: revoking the credential
        // revokes every access token derived from it.
        Ok(Granted {
            revocation_ids: Arc::from(vec![
                self.authority.credential_tag(body).to_vec(),
                tag.to_vec(),
            ]),
            valid_until_ms,
        })
    }
}

/// The model token scheme.
pub struct ModelTokens;

impl SimTokens for ModelTokens {
    type Authority = ModelAuthority;
    type Verifier = ModelVerifier;

    fn authority(rng: &mut ChaCha8Rng) -> ModelAuthority {
        ModelAuthority::new(rng.gen())
    }

    fn mint(authority: &ModelAuthority, grant: &Grant, _entropy: [u8; 32]) -> Vec<u8> {
        assert!(
            !grant.rights.is_empty() && grant.rights.len() <= RIGHTS_MAX,
            "a credential needs 1..={RIGHTS_MAX} rights"
        );
        assert!(!grant.member.0.is_empty() && grant.member.0.len() <= MEMBER_BYTES_MAX);
        let claims = Claims {
            member: grant.member.0.clone(),
            rights: grant
                .rights
                .iter()
                .map(|right| {
                    assert!(right.topic.len() <= TOPIC_BYTES_MAX);
                    (right.operation, right.topic.clone())
                })
                .collect(),
            expires_unix_s: grant.expires_unix_s,
            access_until_unix_s: None,
        };
        authority.seal(&claims)
    }

    fn derive_access(
        authority: &ModelAuthority,
        credential: &[u8],
        now_unix_s: u64,
        ttl_s: u64,
        _entropy: [u8; 32],
    ) -> Vec<u8> {
        let (view, body, tag) =
            View::parse(credential).expect("a credential the world minted parses");
        assert!(
            authority.tag(body) == tag,
            "derived with the authority that minted it"
        );
        let mut claims = view.to_claims();
        // As an appended block: an access date can only shorten the token's life.
        let until = now_unix_s + ttl_s;
        claims.access_until_unix_s =
            Some(claims.access_until_unix_s.map_or(until, |a| a.min(until)));
        authority.seal(&claims)
    }

    fn verifier(
        authority: &ModelAuthority,
        config: VerifierConfig,
        weakness: Weakness,
    ) -> ModelVerifier {
        ModelVerifier {
            authority: authority.clone(),
            config,
            weakness,
        }
    }

    fn revocation_id(authority: &ModelAuthority, credential: &[u8]) -> Vec<u8> {
        let (_, body, tag) = View::parse(credential).expect("a credential the world minted parses");
        assert!(authority.tag(body) == tag, "minted by this authority");
        authority.credential_tag(body).to_vec()
    }

    /// `x0mr, version, sequence u64 BE, count u16 BE, (id_len u8, id, until u64 BE)*`,
    /// then the tag: the real list's content, under the model's tag.
    fn mint_revocations(
        authority: &ModelAuthority,
        list: &RevocationList,
        _entropy: [u8; 32],
    ) -> Vec<u8> {
        assert!(
            !list.entries.is_empty() && list.entries.len() <= REVOCATION_IDS_PER_LIST_MAX,
            "a list carries 1..={REVOCATION_IDS_PER_LIST_MAX} ids"
        );
        let mut out = Vec::with_capacity(16 + list.entries.len() * 48);
        out.extend_from_slice(LIST_MAGIC);
        out.push(VERSION);
        out.extend_from_slice(&list.sequence.to_be_bytes());
        out.extend_from_slice(&(list.entries.len() as u16).to_be_bytes());
        for entry in &list.entries {
            out.push(u8::try_from(entry.id.len()).expect("ids fit a u8 length"));
            out.extend_from_slice(&entry.id);
            out.extend_from_slice(&entry.until_unix_s.to_be_bytes());
        }
        let tag = authority.tag(&out);
        out.extend_from_slice(&tag);
        out
    }

    /// The real reader's refusals, in its order: size, then what decoding finds (biscuit
    /// decodes before it checks signatures), the signature, the id count.
    fn read_revocations(
        authority: &ModelAuthority,
        bytes: &[u8],
    ) -> Result<RevocationList, RevocationError> {
        if bytes.len() > REVOCATION_LIST_BYTES_MAX {
            return Err(RevocationError::TooLarge(bytes.len()));
        }
        if bytes.len() < TAG_BYTES {
            return Err(RevocationError::Malformed);
        }
        let (body, tag) = bytes.split_at(bytes.len() - TAG_BYTES);
        let signed = authority.tag(body) == tag;
        // A model token is a biscuit too: one of the authority's with an access date reads
        // as an attenuated biscuit, any other as no list.
        if body.starts_with(MAGIC) {
            return Err(match View::parse(bytes) {
                _ if !signed => RevocationError::BadSignature,
                Ok((view, _, _)) if view.access_until_unix_s.is_some() => {
                    RevocationError::Attenuated
                }
                _ => RevocationError::Malformed,
            });
        }
        let malformed = |_| RevocationError::Malformed;
        let mut reader = Reader { bytes: body };
        if reader.take(LIST_MAGIC.len()).map_err(malformed)? != LIST_MAGIC
            || reader.u8().map_err(malformed)? != VERSION
        {
            return Err(RevocationError::Malformed);
        }
        let sequence = reader.u64().map_err(malformed)?;
        let count = u16::from_be_bytes(
            reader
                .take(2)
                .map_err(malformed)?
                .try_into()
                .expect("took 2"),
        );
        let mut entries = Vec::with_capacity(usize::from(count).min(REVOCATION_IDS_PER_LIST_MAX));
        for _ in 0..count {
            let id_len = usize::from(reader.u8().map_err(malformed)?);
            let id = reader.take(id_len).map_err(malformed)?.to_vec();
            let until_unix_s = reader.u64().map_err(malformed)?;
            entries.push(Revoked { id, until_unix_s });
        }
        if !reader.bytes.is_empty() {
            return Err(RevocationError::Malformed);
        }
        if !signed {
            return Err(RevocationError::BadSignature);
        }
        if entries.len() > REVOCATION_IDS_PER_LIST_MAX {
            return Err(RevocationError::TooManyIds);
        }
        if entries.is_empty() {
            return Err(RevocationError::Malformed);
        }
        // As biscuit's datalog: repeated facts are one fact, and an integer is an i64.
        if sequence > i64::MAX as u64 {
            return Err(RevocationError::Malformed);
        }
        entries.sort();
        entries.dedup();
        Ok(RevocationList { sequence, entries })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::BiscuitTokens;
    use rand::SeedableRng;
    use x0_core::auth::token::{Right, ACCESS_TTL_S_DEFAULT, CREDENTIAL_TTL_S_DEFAULT};
    use x0_core::ids::PeerKey;
    use x0_core::topics;

    const NOW_S: u64 = 1_800_000_000;
    const NOW_MS: u64 = NOW_S * 1000;

    fn peer(i: u32) -> PeerKey {
        PeerKey(format!("sim-node-{i}").into_bytes())
    }

    fn rights(operations: &[Operation]) -> Vec<Right> {
        operations
            .iter()
            .copied()
            .flat_map(Right::for_operation)
            .collect()
    }

    /// One token in both schemes, described once.
    struct Case {
        name: &'static str,
        /// Minted by the network authority, or by a forger's own key pair.
        forged: bool,
        member: u32,
        rights: Vec<Right>,
        credential_ttl_s: u64,
        /// Derive an access token of this lifetime, or send the credential itself.
        access_ttl_s: Option<u64>,
        holder: u32,
        operation: Operation,
        topic: &'static str,
        /// Seconds after minting the request is checked.
        at_s: u64,
        expected: Result<(), &'static str>,
    }

    fn case(name: &'static str, expected: Result<(), &'static str>) -> Case {
        Case {
            name,
            forged: false,
            member: 1,
            rights: rights(&Operation::ALL),
            credential_ttl_s: CREDENTIAL_TTL_S_DEFAULT,
            access_ttl_s: Some(ACCESS_TTL_S_DEFAULT),
            holder: 1,
            operation: Operation::Sign,
            topic: topics::SHARES,
            at_s: 10,
            expected,
        }
    }

    /// The case's token, minted (and derived) in scheme `T`.
    fn token<T: SimTokens>(
        authority: &T::Authority,
        forger: &T::Authority,
        case: &Case,
    ) -> Vec<u8> {
        let issuer = if case.forged { forger } else { authority };
        let credential = T::mint(
            issuer,
            &Grant {
                member: peer(case.member),
                rights: case.rights.clone(),
                expires_unix_s: NOW_S + case.credential_ttl_s,
            },
            [7; 32],
        );
        match case.access_ttl_s {
            Some(ttl_s) => T::derive_access(issuer, &credential, NOW_S, ttl_s, [7; 32]),
            None => credential,
        }
    }

    fn verdict(
        verifier: &mut impl TokenVerifier,
        token: &[u8],
        case: &Case,
    ) -> Result<u64, &'static str> {
        let holder = peer(case.holder);
        let request = Request {
            holder: &holder,
            operation: case.operation,
            topic: case.topic,
        };
        verifier
            .verify(token, &request, (NOW_S + case.at_s) * 1000)
            .map(|granted| granted.valid_until_ms)
            .map_err(|refusal| refusal.reason())
    }

    /// The model gives the real verifier's verdict (and validity end) on every kind of
    /// token the world produces, and on the refusals around them.
    #[test]
    fn the_model_verifier_agrees_with_the_biscuit_verifier() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let real_authority = BiscuitTokens::authority(&mut rng);
        let real_forger = BiscuitTokens::authority(&mut rng);
        let model_authority = ModelTokens::authority(&mut rng);
        let model_forger = ModelTokens::authority(&mut rng);
        let config = VerifierConfig::default();
        let mut real = BiscuitTokens::verifier(&real_authority, config, Weakness::None);
        let mut model = ModelTokens::verifier(&model_authority, config, Weakness::None);
        let access_end_s = ACCESS_TTL_S_DEFAULT;
        let cases = vec![
            case("a member signs", Ok(())),
            Case {
                operation: Operation::Propose,
                topic: topics::PROPOSALS,
                ..case("a member proposes", Ok(()))
            },
            Case {
                operation: Operation::CharterUpdate,
                topic: topics::PROPOSALS,
                ..case("a member updates the charter", Ok(()))
            },
            Case {
                forged: true,
                ..case("a forger's own authority", Err("token_signature"))
            },
            Case {
                forged: true,
                holder: 2,
                ..case("a forged token for another peer", Err("token_signature"))
            },
            Case {
                holder: 2,
                ..case("a replayed token from another peer", Err("wrong_holder"))
            },
            Case {
                rights: rights(&[Operation::Vote]),
                ..case("a voter signs", Err("not_permitted"))
            },
            Case {
                rights: rights(&[Operation::Vote]),
                operation: Operation::Propose,
                topic: topics::PROPOSALS,
                ..case("a voter proposes", Err("not_permitted"))
            },
            Case {
                rights: rights(&[Operation::Vote, Operation::Propose]),
                operation: Operation::CharterUpdate,
                topic: topics::PROPOSALS,
                ..case("a proposer updates the charter", Err("not_permitted"))
            },
            Case {
                operation: Operation::Sign,
                topic: topics::PROPOSALS,
                ..case("a right on another topic", Err("not_permitted"))
            },
            Case {
                rights: rights(&[Operation::Vote]),
                operation: Operation::Vote,
                topic: topics::BALLOTS,
                ..case("a voter votes", Ok(()))
            },
            Case {
                at_s: access_end_s - 1,
                ..case("the access token's last second", Ok(()))
            },
            Case {
                at_s: access_end_s,
                ..case("an expired access token", Err("token_expired"))
            },
            Case {
                credential_ttl_s: 3600,
                at_s: 3600,
                ..case("an expired credential", Err("token_expired"))
            },
            Case {
                credential_ttl_s: 3600,
                at_s: 3599,
                ..case("a credential expiring before its access date", Ok(()))
            },
            Case {
                access_ttl_s: None,
                ..case("a credential sent as is", Err("not_access_token"))
            },
            Case {
                access_ttl_s: Some(7 * 24 * 3600),
                ..case("an access token living too long", Err("access_too_long"))
            },
            Case {
                rights: rights(&[Operation::Vote]),
                holder: 2,
                ..case("another peer's voter token signing", Err("wrong_holder"))
            },
        ];
        for case in &cases {
            let expected_until_s = NOW_S + case.credential_ttl_s.min(access_end_s);
            let real_token = token::<BiscuitTokens>(&real_authority, &real_forger, case);
            let model_token = token::<ModelTokens>(&model_authority, &model_forger, case);
            // Twice: the real verifier's second answer comes from its cache.
            for round in 0..2 {
                let real = verdict(&mut real, &real_token, case);
                let model = verdict(&mut model, &model_token, case);
                assert_eq!(real, model, "{} (round {round})", case.name);
                match case.expected {
                    Ok(()) => assert_eq!(model, Ok(expected_until_s * 1000), "{}", case.name),
                    Err(reason) => assert_eq!(model, Err(reason), "{}", case.name),
                }
            }
        }
        // Bytes that are no token of either kind.
        let holder = peer(1);
        let request = Request {
            holder: &holder,
            operation: Operation::Sign,
            topic: topics::SHARES,
        };
        for bytes in [
            b"not a token".to_vec(),
            Vec::new(),
            vec![0; TOKEN_BYTES_MAX + 1],
        ] {
            assert_eq!(
                real.verify(&bytes, &request, NOW_MS)
                    .map_err(|r| r.reason()),
                model
                    .verify(&bytes, &request, NOW_MS)
                    .map_err(|r| r.reason()),
                "{} bytes",
                bytes.len()
            );
        }
    }

    /// Lists and revocation ids: what the world does with them reads alike in both schemes.
    fn revocation_verdicts<T: SimTokens>(
        authority: &T::Authority,
        forger: &T::Authority,
    ) -> Vec<Result<(usize, bool), &'static str>> {
        let grant = Grant {
            member: peer(1),
            rights: rights(&Operation::ALL),
            expires_unix_s: NOW_S + CREDENTIAL_TTL_S_DEFAULT,
        };
        let credential = T::mint(authority, &grant, [7; 32]);
        let access = T::derive_access(authority, &credential, NOW_S, 600, [7; 32]);
        let id = T::revocation_id(authority, &credential);
        let mut verifier = T::verifier(authority, VerifierConfig::default(), Weakness::None);
        let holder = peer(1);
        let request = Request {
            holder: &holder,
            operation: Operation::Sign,
            topic: topics::SHARES,
        };
        let granted = verifier.verify(&access, &request, NOW_MS).unwrap();
        assert_eq!(
            granted.revocation_ids.first(),
            Some(&id),
            "the credential's id comes first"
        );
        let entry = |id: Vec<u8>| Revoked {
            id,
            until_unix_s: NOW_S + 60,
        };
        let list = RevocationList {
            sequence: 3,
            entries: vec![entry(id.clone()), entry(vec![9; 64])],
        };
        let minted = T::mint_revocations(authority, &list, [5; 32]);
        let mut sorted = list.clone();
        sorted.entries.sort();
        assert_eq!(T::read_revocations(authority, &minted), Ok(sorted));
        let mut cut = minted.clone();
        cut.truncate(minted.len() - 1);
        let reads = [
            minted.clone(),
            T::mint_revocations(forger, &list, [5; 32]),
            credential.clone(),
            access.clone(),
            b"garbage".to_vec(),
            Vec::new(),
            cut,
            vec![0; REVOCATION_LIST_BYTES_MAX + 1],
        ];
        reads
            .iter()
            .map(|bytes| {
                T::read_revocations(authority, bytes)
                    .map(|list| (list.entries.len(), list.entries.iter().any(|e| e.id == id)))
                    .map_err(|error| error.reason())
            })
            .collect()
    }

    #[test]
    fn model_revocation_lists_read_as_the_real_ones_do() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let (real, real_forger) = (
            BiscuitTokens::authority(&mut rng),
            BiscuitTokens::authority(&mut rng),
        );
        let (model, model_forger) = (
            ModelTokens::authority(&mut rng),
            ModelTokens::authority(&mut rng),
        );
        let real = revocation_verdicts::<BiscuitTokens>(&real, &real_forger);
        let model = revocation_verdicts::<ModelTokens>(&model, &model_forger);
        assert_eq!(real, model);
        assert_eq!(
            model,
            vec![
                Ok((2, true)),
                Err("revocations_signature"),
                Err("revocations_malformed"),
                Err("revocations_attenuated"),
                Err("revocations_malformed"),
                Err("revocations_malformed"),
                Err("revocations_malformed"),
                Err("revocations_too_large"),
            ]
        );
    }

    #[test]
    fn a_tampered_model_token_is_refused_and_random_bytes_never_panic() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let authority = ModelTokens::authority(&mut rng);
        let credential = ModelTokens::mint(
            &authority,
            &Grant {
                member: peer(3),
                rights: rights(&[Operation::Vote]),
                expires_unix_s: NOW_S + 3600,
            },
            [7; 32],
        );
        let token = ModelTokens::derive_access(&authority, &credential, NOW_S, 600, [7; 32]);
        let mut verifier =
            ModelTokens::verifier(&authority, VerifierConfig::default(), Weakness::None);
        let holder = peer(3);
        let vote = Request {
            holder: &holder,
            operation: Operation::Vote,
            topic: topics::BALLOTS,
        };
        assert!(verifier.verify(&token, &vote, NOW_MS).is_ok());
        // Any change in the clear (a widened right, a later date, another member) breaks
        // the tag, or the structure.
        for at in 0..token.len() {
            let mut flipped = token.clone();
            flipped[at] ^= 0x01;
            let result = verifier.verify(&flipped, &vote, NOW_MS);
            assert!(
                matches!(
                    result,
                    Err(TokenRefusal::BadSignature | TokenRefusal::Malformed)
                ),
                "byte {at}: {result:?}"
            );
        }
        for _ in 0..5_000 {
            let len = rng.gen_range(0..120);
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            if bytes.len() > 5 && rng.gen_bool(0.5) {
                bytes[..4].copy_from_slice(MAGIC);
                bytes[4] = VERSION;
            }
            let _ = verifier.verify(&bytes, &vote, NOW_MS);
            // The same bytes as a revocation list, with a list's magic half the time.
            if bytes.len() > 5 && rng.gen_bool(0.5) {
                bytes[..4].copy_from_slice(LIST_MAGIC);
            }
            assert!(ModelTokens::read_revocations(&authority, &bytes).is_err());
        }
        // A weakened verifier takes anything.
        let mut weak = ModelTokens::verifier(
            &authority,
            VerifierConfig::default(),
            Weakness::TokensUnverified,
        );
        assert!(weak.verify(b"garbage", &vote, NOW_MS).is_ok());
    }
}
