//! Envelope seals in the simulator, modelled: a node's "signature" over a message is a
//! keyed hash of the run's seed, the node's name and the message, so it binds exactly
//! what a real ed25519 seal binds (holder, topic, every field) at the cost of one SHA-256.
//!
//! Every node could compute anyone's seal, unlike a real key: the model is sound only
//! because no simulated behaviour forges seals. Forged and stolen envelopes are tested with
//! real keys, in core (`auth::gate`) and on real swarms (node/tests).

use sha2::{Digest, Sha256};
use x0_core::ids::{NodeSigner, PeerKey, SignatureCheck};

/// The check every simulated node's gate runs.
#[derive(Debug, Clone, Copy)]
pub struct ModelSeals {
    seed: u64,
}

impl ModelSeals {
    pub fn new(seed: u64) -> ModelSeals {
        ModelSeals { seed }
    }

    fn seal(&self, signer: &PeerKey, message: &[u8]) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(b"x0-sim/seal");
        hasher.update(self.seed.to_be_bytes());
        hasher.update((signer.0.len() as u32).to_be_bytes());
        hasher.update(&signer.0);
        hasher.update(message);
        hasher.finalize().into()
    }

    /// The sealer of one node.
    pub fn of(&self, me: PeerKey) -> ModelSealer {
        ModelSealer { seals: *self, me }
    }
}

impl SignatureCheck for ModelSeals {
    fn verify(&self, signer: &PeerKey, message: &[u8], signature: &[u8]) -> bool {
        signature == self.seal(signer, message)
    }
}

/// One node's modelled key.
pub struct ModelSealer {
    seals: ModelSeals,
    me: PeerKey,
}

impl SignatureCheck for ModelSealer {
    fn verify(&self, signer: &PeerKey, message: &[u8], signature: &[u8]) -> bool {
        self.seals.verify(signer, message, signature)
    }
}

impl NodeSigner for ModelSealer {
    fn signer(&self) -> &PeerKey {
        &self.me
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.seals.seal(&self.me, message).to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seal_binds_its_signer_message_and_run() {
        let seals = ModelSeals::new(7);
        let a = seals.of(PeerKey(b"a".to_vec()));
        let signature = a.sign(b"m");
        assert!(seals.verify(&PeerKey(b"a".to_vec()), b"m", &signature));
        assert!(!seals.verify(&PeerKey(b"b".to_vec()), b"m", &signature));
        assert!(!seals.verify(&PeerKey(b"a".to_vec()), b"n", &signature));
        assert!(!ModelSeals::new(8).verify(&PeerKey(b"a".to_vec()), b"m", &signature));
    }
}
