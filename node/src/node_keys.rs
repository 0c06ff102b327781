//! The node's libp2p identity key as the ballot core's signer, and the check of anyone's
//! node-key signature from their PeerId alone (ed25519 PeerIds embed the public key), so a
//! ballot certificate verifies offline with nothing but itself.

use libp2p::identity::{Keypair, PublicKey};
use libp2p::PeerId;
use x0_actors::messages::PeerKey;
use x0_core::ballot::verify::{NodeSigner, SignatureCheck};

/// Checks node-key signatures of any peer.
pub struct PeerSignatures;

/// The public key inside a PeerId, for key types whose PeerId inlines the key (ed25519).
/// PeerIds that only hash the key carry no key to check against: nothing verifies.
pub fn public_key_of(peer: &PeerKey) -> Option<PublicKey> {
    let peer_id = PeerId::from_bytes(&peer.0).ok()?;
    let multihash: &libp2p::multihash::Multihash<64> = peer_id.as_ref();
    if multihash.code() != 0 {
        return None;
    }
    let key = PublicKey::try_decode_protobuf(multihash.digest()).ok()?;
    // The PeerId must be exactly this key's, not merely contain it.
    (PeerId::from_public_key(&key) == peer_id).then_some(key)
}

impl SignatureCheck for PeerSignatures {
    fn verify(&self, signer: &PeerKey, message: &[u8], signature: &[u8]) -> bool {
        public_key_of(signer).is_some_and(|key| key.verify(message, signature))
    }
}

/// This node's identity key.
pub struct NodeKeys {
    keypair: Keypair,
    me: PeerKey,
}

impl NodeKeys {
    pub fn new(keypair: Keypair) -> NodeKeys {
        let me = PeerKey(keypair.public().to_peer_id().to_bytes());
        NodeKeys { keypair, me }
    }
}

impl SignatureCheck for NodeKeys {
    fn verify(&self, signer: &PeerKey, message: &[u8], signature: &[u8]) -> bool {
        PeerSignatures.verify(signer, message, signature)
    }
}

impl NodeSigner for NodeKeys {
    fn signer(&self) -> &PeerKey {
        &self.me
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        // Ed25519 signing cannot fail; an RSA or ECDSA identity is refused at load.
        self.keypair
            .sign(message)
            .expect("ed25519 node keys always sign")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_from_the_peer_id_alone_and_fail_for_anything_else() {
        let keys = NodeKeys::new(Keypair::generate_ed25519());
        let other = NodeKeys::new(Keypair::generate_ed25519());
        let signature = keys.sign(b"vote");
        assert!(PeerSignatures.verify(keys.signer(), b"vote", &signature));
        assert!(!PeerSignatures.verify(keys.signer(), b"vote!", &signature));
        assert!(!PeerSignatures.verify(other.signer(), b"vote", &signature));
        let mut flipped = signature.clone();
        flipped[10] ^= 1;
        assert!(!PeerSignatures.verify(keys.signer(), b"vote", &flipped));
        for junk in [vec![], vec![0u8; 3], vec![0xff; 40]] {
            assert!(!PeerSignatures.verify(&PeerKey(junk), b"vote", &signature));
        }
    }
}
