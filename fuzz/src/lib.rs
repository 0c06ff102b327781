//! The fixed context the fuzz targets decode against, built once per process from
//! deterministic seeds, and shared with the corpus generator (`examples/gen_corpus.rs`), so
//! the committed seeds carry real signatures, real ciphertexts and real key sets that the
//! targets' keys accept: the fuzzer starts past the signature and tag checks, on the bytes
//! the real encoders produce.
//!
//! Nothing here is secret: every key is derived from a constant seed.

use std::sync::LazyLock;

use biscuit_auth::KeyPair;
use blsttc::SecretKeySet;
use libp2p::identity::Keypair;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use x0_core::auth::token::{Operation, Request, Right};
use x0_core::certify::committee::{key_set_threshold, Committee};
use x0_core::certify::threshold::ChangeClass;
use x0_core::guardians::ceremony::{self, Dealt};
use x0_core::guardians::share_file::KdfParams;
use x0_core::guardians::store::MasterKey;
use x0_core::ids::PeerKey;

/// Members of the fixed committee (also the fixed ballot electorate).
pub const MEMBERS: usize = 4;
/// Epoch of the fixed committee: certificates of another epoch are ignored by nodes.
pub const EPOCH: u64 = 3;
/// Slots the fixed committee certifies with its supermajority key set.
pub const SUPERMAJORITY_SLOTS: &[&str] = &["charter/*"];
/// "Now" for every time-dependent check: 2027-01-15T08:00:00Z.
pub const NOW_MS: u64 = 1_800_000_000_000;
/// Expiry of the fixed credential, 30 days after [`NOW_MS`].
pub const CREDENTIAL_EXPIRES_S: u64 = NOW_MS / 1000 + 30 * 24 * 3600;
/// Passphrase of every sealed guardian file in the corpus.
pub const PASSPHRASE: &[u8] = b"correct horse battery staple";
/// The cheapest Argon2id cost a sealed file may declare: the seeds use it so that opening
/// one costs microseconds, not the default's 19 MiB and two passes.
pub const KDF_CHEAP: KdfParams = KdfParams {
    memory_kib: 8,
    passes: 1,
    lanes: 1,
};
/// The guardian group the sealed files and the Sublime objects belong to.
pub const GROUP_NAME: &str = "sublime";
pub const GUARDIANS: u16 = 5;
pub const GUARDIAN_THRESHOLD: u16 = 3;
/// Name of the Sublime object every `sublime` seed is stored under.
pub const OBJECT_NAME: &str = "notes.txt";

/// A member's libp2p node key (ed25519), member `index` 0-based.
pub fn node_key(index: usize) -> Keypair {
    let mut seed = [0x40 + index as u8; 32];
    Keypair::ed25519_from_bytes(&mut seed).expect("32 bytes are an ed25519 secret key")
}

/// A member's PeerId bytes: what tokens, ballots and the committee name.
pub fn peer(index: usize) -> PeerKey {
    PeerKey(node_key(index).public().to_peer_id().to_bytes())
}

/// The fixed committee's members, in member-index order.
pub fn members() -> Vec<PeerKey> {
    (0..MEMBERS).map(peer).collect()
}

/// The members sorted by PeerId bytes: the ballot electorate.
pub fn electorate() -> Vec<PeerKey> {
    let mut members = members();
    members.sort();
    members
}

/// The committee's two secret key sets (standard, supermajority): the generator signs
/// certificates with them.
pub fn secret_key_sets() -> (SecretKeySet, SecretKeySet) {
    let mut rng = ChaCha8Rng::seed_from_u64(0x5eed_0001);
    let standard =
        SecretKeySet::random(key_set_threshold(MEMBERS, ChangeClass::Standard), &mut rng);
    let supermajority = SecretKeySet::random(
        key_set_threshold(MEMBERS, ChangeClass::Supermajority),
        &mut rng,
    );
    (standard, supermajority)
}

/// The committee certificates and shares are checked against.
pub static COMMITTEE: LazyLock<Committee> = LazyLock::new(|| {
    let (standard, supermajority) = secret_key_sets();
    Committee::new(
        EPOCH,
        members(),
        standard.public_keys(),
        supermajority.public_keys(),
        SUPERMAJORITY_SLOTS.iter().map(|s| s.to_string()).collect(),
    )
    .expect("the fixed committee is well formed")
});

/// The network authority's biscuit key pair (tokens and revocation lists).
pub fn authority() -> KeyPair {
    let mut rng = ChaCha8Rng::seed_from_u64(0x5eed_0002);
    KeyPair::new_with_rng(biscuit_auth::Algorithm::Ed25519, &mut rng)
}

pub static AUTHORITY: LazyLock<KeyPair> = LazyLock::new(authority);

/// The key pair that signs the block a holder appends (biscuit's next key): fixed, so a
/// target's run is the same on every replay of an input.
pub static APPEND_KEY: LazyLock<KeyPair> = LazyLock::new(|| {
    let mut rng = ChaCha8Rng::seed_from_u64(0x5eed_0003);
    KeyPair::new_with_rng(biscuit_auth::Algorithm::Ed25519, &mut rng)
});

/// Who the fixed credential names: member 0.
pub fn holder() -> PeerKey {
    peer(0)
}

/// What the fixed credential grants: signing shares. Nothing else, so a target can check
/// that no appended block ever widens it.
pub fn granted() -> Vec<Right> {
    Right::for_operation(Operation::Sign)
}

/// The request every token target asks about (the credential grants it).
pub fn request(holder: &PeerKey) -> Request<'_> {
    Request {
        holder,
        operation: Operation::Sign,
        topic: x0_core::topics::SHARES,
    }
}

/// The fixed member credential.
pub static CREDENTIAL: LazyLock<Vec<u8>> = LazyLock::new(|| {
    x0_core::auth::token::mint(
        &AUTHORITY,
        &x0_core::auth::token::Grant {
            member: holder(),
            rights: granted(),
            expires_unix_s: CREDENTIAL_EXPIRES_S,
        },
    )
    .expect("the fixed credential mints")
});

/// The fixed guardian group and its shares (a trusted-dealer ceremony).
pub static GUARDIAN_GROUP: LazyLock<Dealt> = LazyLock::new(|| {
    let mut rng = ChaCha8Rng::seed_from_u64(0x5eed_0004);
    ceremony::deal(GROUP_NAME, GUARDIANS, GUARDIAN_THRESHOLD, &mut rng)
        .expect("the fixed guardian group deals")
});

/// The Sublime store's master key (any 32 bytes serve: the store only wraps with it).
pub fn master_key() -> MasterKey {
    MasterKey::new([0x5b; 32])
}
