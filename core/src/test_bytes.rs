//! Deterministic pseudo-random bytes for the decoders' never-panic sweeps (xorshift64: no
//! RNG crate needed, the same bytes on every run).

/// `len` bytes from the xorshift state `state`, which advances.
pub fn pseudo_random(state: &mut u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|_| {
            *state ^= *state << 13;
            *state ^= *state >> 7;
            *state ^= *state << 17;
            *state as u8
        })
        .collect()
}

/// A real ed25519 node key for tests, named like an ed25519 PeerId (identity multihash of
/// the protobuf public key), so tokens minted for its [`PeerKey`] name it as their holder.
pub struct TestSigner {
    pub signing: ed25519_dalek::SigningKey,
    pub me: crate::ids::PeerKey,
}

const PEER_ID_PREFIX: [u8; 6] = [0x00, 0x24, 0x08, 0x01, 0x12, 0x20];

impl TestSigner {
    pub fn new(seed: u8) -> TestSigner {
        let signing = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
        let mut me = PEER_ID_PREFIX.to_vec();
        me.extend_from_slice(signing.verifying_key().as_bytes());
        TestSigner {
            signing,
            me: crate::ids::PeerKey(me),
        }
    }
}

/// Checks signatures of any [`TestSigner`] from its PeerKey alone.
pub struct TestSignatures;

impl crate::ids::SignatureCheck for TestSignatures {
    fn verify(&self, signer: &crate::ids::PeerKey, message: &[u8], signature: &[u8]) -> bool {
        use ed25519_dalek::Verifier;
        let Some(key) = signer.0.strip_prefix(&PEER_ID_PREFIX[..]) else {
            return false;
        };
        let Ok(key) = <[u8; 32]>::try_from(key) else {
            return false;
        };
        let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(&key) else {
            return false;
        };
        let Ok(signature) = ed25519_dalek::Signature::from_slice(signature) else {
            return false;
        };
        key.verify(message, &signature).is_ok()
    }
}

impl crate::ids::SignatureCheck for TestSigner {
    fn verify(&self, signer: &crate::ids::PeerKey, message: &[u8], signature: &[u8]) -> bool {
        TestSignatures.verify(signer, message, signature)
    }
}

impl crate::ids::NodeSigner for TestSigner {
    fn signer(&self) -> &crate::ids::PeerKey {
        &self.me
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        use ed25519_dalek::Signer;
        self.signing.sign(message).to_bytes().to_vec()
    }
}

/// A well-formed proposal of epoch 1 on `slot`, stamped `timestamp_unix_ms`: the sync
/// tests' stand-in for what a member proposes.
pub fn proposal(slot: &str, timestamp_unix_ms: u64) -> crate::certify::proposal::Proposal {
    crate::certify::proposal::Proposal {
        epoch: 1,
        slot: slot.to_string(),
        payload: b"9".to_vec(),
        affected_ppm: 100_000,
        proposer: vec![1; 38],
        nonce: [2; 16],
        timestamp_unix_ms,
    }
}
