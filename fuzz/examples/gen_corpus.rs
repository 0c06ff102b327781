//! Writes the seed corpus, `fuzz/corpus/<target>/<name>`, with the real encoders and the
//! fixed keys of `x0_fuzz` (src/lib.rs): valid messages and files that the targets' checks
//! accept, so fuzzing starts past every signature, tag and format check.
//!
//! ```text
//! cd fuzz && cargo run --example gen_corpus            # rewrites fuzz/corpus/
//! ```
//!
//! Deterministic but for the biscuit tokens (and the envelopes carrying one): biscuit draws
//! a fresh key pair for each token's next block, so a rerun writes other, equally valid
//! token bytes. Every key, signature and sealed file else comes from a fixed seed.

use std::path::{Path, PathBuf};

use biscuit_auth::KeyPair;
use blsttc::SecretKeySet;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use x0_core::auth::envelope::Envelope;
use x0_core::auth::token::{
    derive_access, mint, mint_revocations, Grant, Operation, RevocationList, Revoked, Right,
    ACCESS_TTL_S_DEFAULT,
};
use x0_core::ballot::certificate::Certificate;
use x0_core::ballot::effect::Effect;
use x0_core::ballot::rules::{local_outcome, Choice, Tally};
use x0_core::ballot::verify::{NodeSigner, OpenRules};
use x0_core::ballot::wire::{Attestation, BallotId, Equivocation, Message, Open, Vote};
use x0_core::certify::proposal::{Proposal, ProposalId};
use x0_core::certify::scheme::{signing_message, ThresholdScheme};
use x0_core::certify::threshold::{share_count_min, ChangeClass};
use x0_core::certify::wire::{CertificateMessage, ShareMessage};
use x0_core::guardians::share_file::{self, Header, Kind};
use x0_core::guardians::store;
use x0_core::probe::Probe;
use x0_core::topics;
use x0_fuzz::*;
use x0_node::node_keys::{NodeKeys, PeerSignatures};

struct Corpus {
    root: PathBuf,
    files: usize,
    bytes: usize,
}

impl Corpus {
    fn put(&mut self, target: &str, name: &str, bytes: &[u8]) {
        let dir = self.root.join(target);
        std::fs::create_dir_all(&dir).expect("corpus directory");
        std::fs::write(dir.join(name), bytes).expect("corpus file");
        self.files += 1;
        self.bytes += bytes.len();
    }
}

fn proposal(slot: &str, payload: &[u8], nonce: u8) -> Proposal {
    Proposal {
        epoch: EPOCH,
        slot: slot.into(),
        payload: payload.to_vec(),
        affected_ppm: 250_000,
        proposer: peer(0).0,
        nonce: [nonce; 16],
        timestamp_unix_ms: NOW_MS,
    }
}

fn class_of(slot: &str) -> ChangeClass {
    COMMITTEE.class_of(slot)
}

fn secret_set(sets: &(SecretKeySet, SecretKeySet), class: ChangeClass) -> &SecretKeySet {
    match class {
        ChangeClass::Standard => &sets.0,
        ChangeClass::Supermajority => &sets.1,
    }
}

/// A certificate signed by the first `share_count_min` members, checked before it is written.
fn certificate(sets: &(SecretKeySet, SecretKeySet), proposal: &Proposal) -> CertificateMessage {
    let class = class_of(&proposal.slot);
    let message = signing_message(&proposal.id());
    let needed = share_count_min(MEMBERS, class);
    let shares: Vec<_> = (0..needed)
        .map(|i| {
            let share = secret_set(sets, class).secret_key_share(i).sign(&message);
            (i as u16, share)
        })
        .collect();
    let scheme = COMMITTEE.scheme(class);
    let signature = scheme.combine(&shares).expect("distinct shares combine");
    assert!(scheme.verify_certificate(&message, &signature));
    CertificateMessage {
        proposal: proposal.clone(),
        signers: (0..needed as u16).collect(),
        signature: signature.to_bytes(),
    }
}

fn share(sets: &(SecretKeySet, SecretKeySet), id: ProposalId, member: u16) -> ShareMessage {
    // The id stands for a proposal of either class: both key sets sign shares.
    let class = if member.is_multiple_of(2) {
        ChangeClass::Standard
    } else {
        ChangeClass::Supermajority
    };
    let signed = secret_set(sets, class)
        .secret_key_share(usize::from(member))
        .sign(signing_message(&id));
    assert!(COMMITTEE
        .scheme(class)
        .verify_share(member, &signing_message(&id), &signed));
    ShareMessage {
        class,
        id,
        member,
        share: signed.to_bytes(),
    }
}

fn node_keys(index: usize) -> NodeKeys {
    NodeKeys::new(node_key(index))
}

fn attestation(keys: &NodeKeys, down_since_ms: u64, at_ms: u64) -> Attestation {
    let mut attestation = Attestation {
        attester: keys.signer().clone(),
        down_since_unix_ms: down_since_ms,
        attested_at_unix_ms: at_ms,
        signature: Vec::new(),
    };
    attestation.signature = keys.sign(&attestation.signed_bytes());
    attestation
}

/// A fallback ballot opened by member 0 over the fixed electorate, with f+1 attestations.
fn open(effect: Effect, title: &str) -> Open {
    let opener = node_keys(0);
    let opened_at = NOW_MS;
    let attesters = ballot_faulty_max() + 1;
    let mut open = Open {
        opener: opener.signer().clone(),
        title: title.into(),
        effect,
        opened_at_unix_ms: opened_at,
        deadline_unix_ms: opened_at + 600_000,
        electorate: electorate(),
        attestations: (0..attesters)
            .map(|i| attestation(&node_keys(i), opened_at - 400_000, opened_at - 10_000))
            .collect(),
        signature: Vec::new(),
    };
    open.signature = opener.sign(&open.signed_bytes());
    open
}

fn ballot_faulty_max() -> usize {
    (MEMBERS - 1) / 3
}

fn vote(keys: &NodeKeys, ballot: BallotId, choice: Choice, sequence: u64) -> Vote {
    let mut vote = Vote {
        ballot,
        voter: keys.signer().clone(),
        choice,
        sequence,
        signature: Vec::new(),
    };
    vote.signature = keys.sign(&vote.signed_bytes());
    vote
}

/// A decided ballot: members 1..=3 vote as `choices`, member 0 equivocates (two choices
/// under one sequence) when `with_evidence`.
fn ballot_certificate(open: Open, choices: &[Choice], with_evidence: bool) -> Certificate {
    let ballot = open.id();
    let mut votes: Vec<Vote> = choices
        .iter()
        .enumerate()
        .map(|(i, choice)| vote(&node_keys(i + 1), ballot, *choice, 1))
        .collect();
    votes.sort_by(|a, b| a.voter.cmp(&b.voter));
    let mut evidence = Vec::new();
    if with_evidence {
        let cheat = node_keys(0);
        evidence.push(Equivocation {
            first: vote(&cheat, ballot, Choice::Yes, 7),
            second: vote(&cheat, ballot, Choice::No, 7),
        });
    }
    let mut tally = Tally::default();
    for vote in &votes {
        tally.add(vote.choice);
    }
    let outcome = local_outcome(&tally, open.electorate.len() as u64);
    let certificate = Certificate {
        open,
        votes,
        evidence,
        tally,
        outcome,
    };
    let verified = certificate.verify(&PeerSignatures, Some(&electorate()), &OpenRules::default());
    assert_eq!(verified, Ok(outcome), "the seed certificate verifies");
    certificate
}

fn access_token(credential: &[u8]) -> Vec<u8> {
    derive_access(
        credential,
        &AUTHORITY.public(),
        NOW_MS / 1000,
        ACCESS_TTL_S_DEFAULT,
    )
    .expect("access token derives")
}

fn config_with_committee() -> String {
    let sets = secret_key_sets();
    let members: Vec<String> = (0..MEMBERS)
        .map(|i| node_key(i).public().to_peer_id().to_string())
        .collect();
    let members = members
        .iter()
        .map(|m| format!("\"{m}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let authority = hex_of(&AUTHORITY.public().to_bytes());
    format!(
        r#"[node]
data_dir = "/var/lib/x0"

[network]
listen = ["/ip4/0.0.0.0/tcp/4801"]
bootstrap = ["/ip4/10.0.0.2/tcp/4801/p2p/{peer1}"]

[committee]
epoch = {EPOCH}
members = [{members}]
public_key_set = "{standard}"
supermajority_public_key_set = "{supermajority}"
supermajority_slots = ["charter/*"]
share_file = "committee-share.json"

[auth]
authority_public_key = "{authority}"
credential_file = "credential.biscuit"
skew_ms = 30000

[charter]
policy_file = "charter.toml"
tc_interfaces = ["eth0"]

[telemetry]
statsd = "127.0.0.1:9125"
push_interval_s = 10

[snapshot]
hub_url = "https://hub.snapshot.org/graphql"
space = "x0.eth"

[snapshot.registry]
"0x{address}" = "{peer1}"

[http]
bind = "127.0.0.1:8080"
"#,
        peer1 = node_key(1).public().to_peer_id(),
        standard = hex_of(&sets.0.public_keys().to_bytes()),
        supermajority = hex_of(&sets.1.public_keys().to_bytes()),
        address = "ab".repeat(20),
    )
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    if root.exists() {
        std::fs::remove_dir_all(&root).expect("clear the old corpus");
    }
    let mut corpus = Corpus {
        root,
        files: 0,
        bytes: 0,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(0x5eed_0100);

    // probe
    for (name, body) in [("empty", vec![]), ("padded", vec![0xab; 32])] {
        let probe = Probe {
            sequence: 41,
            published_at_unix_ms: NOW_MS,
            body,
        };
        corpus.put("probe", name, &probe.encode());
    }

    // proposal, certificate
    let sets = secret_key_sets();
    let proposals = [
        ("mesh_n", proposal("gossip/mesh_n", b"8", 1)),
        (
            "charter",
            proposal(
                "charter/policy",
                b"version = 1\n[metrics]\nallow = [\"x0_*\"]\nseries_per_family_max = 100\n",
                2,
            ),
        ),
        ("empty_payload", proposal("settle/a-b.c_d", b"", 3)),
    ];
    for (name, proposal) in &proposals {
        corpus.put("proposal", name, &proposal.encode());
        corpus.put("certificate", name, &certificate(&sets, proposal).encode());
    }

    // share
    let id = proposals[0].1.id();
    for member in 0..MEMBERS as u16 {
        corpus.put(
            "share",
            &format!("member{member}"),
            &share(&sets, id, member).encode(),
        );
    }

    // token, token_block
    let credential = CREDENTIAL.clone();
    let access = access_token(&credential);
    corpus.put("token", "credential", &credential);
    corpus.put("token", "access", &access);
    let everything: Vec<Right> = Operation::ALL
        .into_iter()
        .flat_map(Right::for_operation)
        .collect();
    let other = mint(
        &AUTHORITY,
        &Grant {
            member: peer(1),
            rights: everything,
            expires_unix_s: CREDENTIAL_EXPIRES_S,
        },
    )
    .expect("mint");
    corpus.put("token", "access_all_rights_member1", &access_token(&other));
    let foreign = KeyPair::new_with_rng(
        biscuit_auth::Algorithm::Ed25519,
        &mut ChaCha8Rng::seed_from_u64(9),
    );
    let foreign = mint(
        &foreign,
        &Grant {
            member: holder(),
            rights: granted(),
            expires_unix_s: CREDENTIAL_EXPIRES_S,
        },
    )
    .expect("mint");
    corpus.put("token", "foreign_authority", &foreign);
    let peer0 = x0_core::auth::token::peer_text(&holder());
    let peer1 = x0_core::auth::token::peer_text(&peer(1));
    for (name, source) in [
        ("operations", "check if operation($op), [\"sign\"].contains($op);".to_string()),
        ("topics", "check if topic($t), [\"/x0/1/shares\"].contains($t);".to_string()),
        (
            "expires",
            "expires(2027-01-15T09:00:00Z);\ncheck if time($t), $t < 2027-01-15T09:00:00Z;"
                .to_string(),
        ),
        (
            "widen",
            format!(
                "right(\"propose\", \"/x0/1/proposals\");\nmember(\"{peer1}\");\naccess(2099-01-01T00:00:00Z);\nexpires(2099-01-01T00:00:00Z);"
            ),
        ),
        (
            "rules",
            format!("holder(\"{peer0}\");\nr($op, $t) <- operation($op), topic($t);\ncheck if r(\"sign\", $t), $t.starts_with(\"/x0/\");"),
        ),
    ] {
        corpus.put("token_block", name, source.as_bytes());
    }

    // envelope
    let envelope_payloads: [(&str, &str, Vec<u8>); 3] = [
        ("proposal", topics::PROPOSALS, proposals[0].1.encode()),
        ("share", topics::SHARES, share(&sets, id, 0).encode()),
        (
            "vote",
            topics::BALLOTS,
            Message::Vote(vote(&node_keys(1), BallotId([4; 32]), Choice::Yes, 1)).encode(),
        ),
    ];
    for (i, (name, topic, payload)) in envelope_payloads.iter().enumerate() {
        let envelope = Envelope {
            token: &access,
            nonce: [i as u8 + 1; 16],
            timestamp_unix_ms: NOW_MS,
            payload,
        };
        corpus.put("envelope", name, &envelope.seal(topic, &node_keys(1)));
    }

    // revocations
    let list = RevocationList {
        sequence: 5,
        entries: vec![
            Revoked {
                id: vec![0x11; 64],
                until_unix_s: CREDENTIAL_EXPIRES_S,
            },
            Revoked {
                id: vec![0x22; 64],
                until_unix_s: NOW_MS / 1000 + 60,
            },
        ],
    };
    corpus.put(
        "revocations",
        "two_ids",
        &mint_revocations(&AUTHORITY, &list).expect("mint list"),
    );

    // ballot_message, ballot_certificate
    let proposal_id = proposals[0].1.id();
    let opens = [
        ("lift_halt", open(Effect::LiftHalt, "lift the halt")),
        (
            "settle",
            open(
                Effect::Settle {
                    slot: "gossip/mesh_n".into(),
                    id: proposal_id,
                },
                "keep mesh_n = 8",
            ),
        ),
        (
            "approve",
            open(Effect::Approve { id: proposal_id }, "approve"),
        ),
    ];
    for (name, open) in &opens {
        corpus.put(
            "ballot_message",
            &format!("open_{name}"),
            &Message::Open(open.clone()).encode(),
        );
    }
    let ballot = opens[0].1.id();
    corpus.put(
        "ballot_message",
        "vote",
        &Message::Vote(vote(&node_keys(2), ballot, Choice::No, 3)).encode(),
    );
    corpus.put(
        "ballot_message",
        "attestation",
        &Message::Attestation(attestation(&node_keys(3), NOW_MS - 400_000, NOW_MS)).encode(),
    );
    corpus.put(
        "ballot_message",
        "evidence",
        &Message::Evidence(Equivocation {
            first: vote(&node_keys(1), ballot, Choice::Yes, 2),
            second: vote(&node_keys(1), ballot, Choice::Abstain, 2),
        })
        .encode(),
    );
    corpus.put(
        "ballot_certificate",
        "passed",
        &ballot_certificate(
            opens[0].1.clone(),
            &[Choice::Yes, Choice::Yes, Choice::Yes],
            false,
        )
        .encode(),
    );
    corpus.put(
        "ballot_certificate",
        "evidence_no_decision",
        &ballot_certificate(
            opens[1].1.clone(),
            &[Choice::Yes, Choice::No, Choice::Abstain],
            true,
        )
        .encode(),
    );

    // guardian_share, guardian_group, sublime
    let dealt = &*GUARDIAN_GROUP;
    let group = &dealt.group;
    let header = |kind, guardian| Header {
        kind,
        guardian,
        epoch: group.epoch,
        group_id: group.id(),
        kdf: KDF_CHEAP,
    };
    for (index, key_package) in dealt.shares.iter().take(2) {
        let plain = key_package.serialize().expect("key package serializes");
        let sealed = share_file::seal(&header(Kind::Share, *index), &plain, PASSPHRASE, &mut rng)
            .expect("seal");
        corpus.put("guardian_share", &format!("share{index}"), &sealed);
    }
    let master = master_key();
    corpus.put(
        "guardian_share",
        "master_key",
        &share_file::seal(
            &header(Kind::MasterKey, 0),
            master.as_bytes(),
            PASSPHRASE,
            &mut rng,
        )
        .expect("seal"),
    );
    corpus.put(
        "guardian_share",
        "signing_nonces",
        &share_file::seal(
            &header(Kind::SigningNonces, 2),
            b"{\"nonces\":[]}",
            PASSPHRASE,
            &mut rng,
        )
        .expect("seal"),
    );
    corpus.put(
        "guardian_group",
        "dealer",
        serde_json::to_string_pretty(group)
            .expect("group serializes")
            .as_bytes(),
    );
    let mut without_commitment = group.clone();
    without_commitment.commitment = None;
    without_commitment.validate().expect("still a valid group");
    corpus.put(
        "guardian_group",
        "no_commitment",
        serde_json::to_string(&without_commitment)
            .expect("group serializes")
            .as_bytes(),
    );
    for (name, content) in [
        ("empty", &b""[..]),
        ("text", &b"the store's first object\n"[..]),
    ] {
        let sealed =
            store::seal(&master, &group.id(), OBJECT_NAME, content, &mut rng).expect("seal object");
        corpus.put("sublime", name, &sealed);
    }

    // config
    corpus.put(
        "config",
        "default",
        x0_node::config::DEFAULT_TOML.as_bytes(),
    );
    let full = config_with_committee();
    x0_node::config::Config::from_toml(&full, "full.toml").expect("the full seed config validates");
    corpus.put("config", "full", full.as_bytes());
    corpus.put("config", "empty", b"");

    // charter_policy
    for (name, text) in [
        (
            "small",
            "version = 1\n[metrics]\nallow = [\"x0_*\", \"gossipsub_*\"]\nforbidden_labels = [\"peer_addr\", \"ip\"]\nseries_per_family_max = 1000\n[telemetry]\ndestinations = [\"127.0.0.1/32:9091\", \"10.0.0.0/8:9090\"]\n",
        ),
        (
            "ipv6",
            "version = 1\n[metrics]\nallow = [\"x0_probe_?\"]\nseries_per_family_max = 1\n[telemetry]\ndestinations = [\"::1/128:9125\"]\n",
        ),
    ] {
        x0_core::charter::policy::CharterPolicy::parse(text).expect("seed policy parses");
        corpus.put("charter_policy", name, text.as_bytes());
    }

    // sync_wire: the first byte picks the side (even: request, odd: response).
    {
        use x0_core::sync::digest::KeySet;
        use x0_core::sync::item::{Item, ItemKey, Kind as ItemKind};
        use x0_core::sync::wire::{Request, Response};
        let mut set = KeySet::new(EPOCH);
        let mut keys = Vec::new();
        for n in 0u32..600 {
            let key = ItemKey::of(
                ItemKind::ALL[n as usize % ItemKind::ALL.len()],
                &n.to_be_bytes(),
            );
            set.insert(key).expect("within the bound");
            keys.push(key);
        }
        let mut fetch = keys[..8].to_vec();
        fetch.sort();
        let bucket = keys[1].bucket();
        let (listed, more) =
            set.bucket_keys(ItemKind::Share, bucket, bucket.saturating_add(9), 512);
        let messages: Vec<(&str, u8, Vec<u8>)> = vec![
            ("request_summary", 0, Request::Summary.encode()),
            (
                "request_buckets",
                0,
                Request::Buckets(ItemKind::Share).encode(),
            ),
            (
                "request_keys",
                0,
                Request::Keys {
                    kind: ItemKind::Certificate,
                    first: 7,
                    last: 90,
                }
                .encode(),
            ),
            ("request_fetch", 0, Request::Fetch(fetch).encode()),
            (
                "response_summary",
                1,
                Response::Summary(set.summary()).encode(),
            ),
            (
                "response_buckets",
                1,
                Response::Buckets(set.buckets(ItemKind::Share)).encode(),
            ),
            (
                "response_keys",
                1,
                Response::Keys {
                    kind: ItemKind::Share,
                    first: bucket,
                    last: bucket.saturating_add(9),
                    hashes: listed.iter().map(|k| k.hash).collect(),
                    more,
                }
                .encode(),
            ),
            (
                "response_items",
                1,
                Response::Items(vec![
                    Item {
                        kind: ItemKind::Certificate,
                        bytes: vec![1; 40],
                    },
                    Item {
                        kind: ItemKind::RevocationList,
                        bytes: vec![2; 3],
                    },
                ])
                .encode(),
            ),
            (
                "response_busy",
                1,
                Response::Busy {
                    retry_after_ms: 2_000,
                }
                .encode(),
            ),
        ];
        for (name, side, bytes) in messages {
            let mut seed = vec![side];
            seed.extend_from_slice(&bytes);
            corpus.put("sync_wire", name, &seed);
        }
    }

    println!(
        "wrote {} files, {} bytes, under {}",
        corpus.files,
        corpus.bytes,
        corpus.root.display()
    );
}
