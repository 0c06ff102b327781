//! Issue 18, items 3 and 4, against the collector with real blsttc keys: a share is
//! forwarded (Valid) only when it is valid on its own, certificates never come from
//! invalid shares even when they combine validly, and a share known valid is never checked
//! again. In their own file so they merge apart from the collector's other tests.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use blsttc::{SecretKeySet, Signature, SignatureShare};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::bls_compose::colluding_shares;
use super::collector::{Collector, CollectorConfig, Output, ShareVerdict};
use super::proposal::{Proposal, ProposalId};
use super::scheme::{signing_message, BlsCommittee, BlsMember, MemberIndex, ThresholdScheme};
use super::threshold::faulty_max;

fn proposal(payload: &[u8]) -> Proposal {
    Proposal {
        epoch: 1,
        slot: "gossip/mesh_n".into(),
        payload: payload.to_vec(),
        affected_ppm: 500_000,
        proposer: vec![1, 2, 3],
        nonce: [4; 16],
        timestamp_unix_ms: 1_800_000_000_000,
    }
}

/// The one place these tests hand a proposal to a collector.
fn propose<S: ThresholdScheme<Share = SignatureShare>>(
    node: &mut Collector<S, BlsMember>,
    proposal: Proposal,
    now_ms: u64,
    out: &mut Vec<Output<SignatureShare, S::Certificate>>,
) {
    // Charged to member 0: these tests make a handful of proposals, far within its share.
    node.on_proposal(proposal, 0, now_ms, out)
        .expect("room for the test's proposal");
}

/// Every verdict given in `out` (held ones, as `ShareDecided`).
fn decided<C>(out: &[Output<SignatureShare, C>]) -> Vec<(MemberIndex, ShareVerdict)> {
    out.iter()
        .filter_map(|o| match o {
            Output::ShareDecided {
                member, verdict, ..
            } => Some((*member, *verdict)),
            _ => None,
        })
        .collect()
}

fn published<C: Clone>(out: &[Output<SignatureShare, C>]) -> Vec<(Vec<MemberIndex>, C)> {
    out.iter()
        .filter_map(|o| match o {
            Output::PublishCertificate(c) => Some((c.signers.clone(), c.signature.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn colluding_shares_that_combine_validly_are_never_forwarded() {
    const SEVEN: usize = 7;
    let mut rng = ChaCha8Rng::seed_from_u64(18);
    let secret = SecretKeySet::random(faulty_max(SEVEN), &mut rng);
    assert_eq!(secret.threshold(), 2, "n = 7, t = 2");
    let committee = || BlsCommittee::new(secret.public_keys(), SEVEN);
    let p = proposal(b"colluding");
    let id = p.id();
    let message = signing_message(&id);
    let honest = |m: usize| secret.secret_key_share(m).sign(&message);

    // Members 0 and 1 collude against member 6, which aggregates: the shares they send
    // combine validly with member 6's own share, the first three in member order.
    let subset: [MemberIndex; 3] = [0, 1, 6];
    let (a, b) = colluding_shares((0, &honest(0)), (1, &honest(1)), &subset, &mut rng);
    let check = committee();
    let combined = check
        .combine(&[(0, a.clone()), (1, b.clone()), (6, honest(6))])
        .unwrap();
    assert!(
        check.verify_certificate(&message, &combined),
        "the construction combines validly"
    );
    assert!(!check.verify_share(0, &message, &a) && !check.verify_share(1, &message, &b));

    let mut node: Collector<BlsCommittee, BlsMember> = Collector::new(
        committee(),
        Some(BlsMember::new(6, secret.secret_key_share(6usize))),
        CollectorConfig::default(),
        BTreeMap::new(),
    );
    let mut out = Vec::new();
    propose(&mut node, p.clone(), 0, &mut out);
    let verdict_a = node.on_share(0, id, a.clone(), 1, &mut out);
    let verdict_b = node.on_share(1, id, b.clone(), 1, &mut out);
    // Share a waits for a combination; share b completes t+1, the combination verifies,
    // and the batch check of the two unchecked shares finds both invalid.
    assert_eq!(verdict_a, None);
    assert_eq!(verdict_b, Some(ShareVerdict::Invalid("invalid_share")));
    assert_eq!(
        decided(&out),
        vec![(0, ShareVerdict::Invalid("invalid_share"))]
    );
    let evidence: Vec<MemberIndex> = out
        .iter()
        .filter_map(|o| match o {
            Output::InvalidShare { member, .. } => Some(*member),
            _ => None,
        })
        .collect();
    assert_eq!(evidence, vec![0, 1]);
    assert!(published(&out).is_empty(), "no certificate from them");
    assert!(!out.iter().any(|o| matches!(o, Output::Certified { .. })));

    // A node that holds only one of them (another subset) finds it invalid too, after
    // the hold, and does not forward it either.
    let mut other: Collector<BlsCommittee, BlsMember> = Collector::new(
        committee(),
        None,
        CollectorConfig::default(),
        BTreeMap::new(),
    );
    let mut other_out = Vec::new();
    assert_eq!(other.on_share(1, id, b, 1, &mut other_out), None);
    other.tick(1 + CollectorConfig::default().share_hold_ms, &mut other_out);
    assert_eq!(
        decided(&other_out),
        vec![(1, ShareVerdict::Invalid("invalid_share"))]
    );

    // Honest shares still certify, and the certificate names none of the colluders.
    let mut out = Vec::new();
    assert_eq!(node.on_share(2, id, honest(2), 2, &mut out), None);
    assert_eq!(
        node.on_share(3, id, honest(3), 2, &mut out),
        Some(ShareVerdict::Valid)
    );
    assert_eq!(decided(&out), vec![(2, ShareVerdict::Valid)]);
    let certificates = published(&out);
    assert_eq!(certificates.len(), 1);
    let (signers, signature): &(Vec<MemberIndex>, Signature) = &certificates[0];
    assert_eq!(signers, &vec![2, 3, 6]);
    assert!(check.verify_certificate(&message, signature));
    assert!(node.certificate(&(1, "gossip/mesh_n".into())).is_some());
}

/// The real BLS scheme, counting per member how many times a share was checked: on its
/// own or as part of a batch.
#[derive(Clone)]
struct Counting {
    inner: BlsCommittee,
    checks: Rc<RefCell<BTreeMap<MemberIndex, usize>>>,
}

impl Counting {
    fn count(&self, member: MemberIndex) {
        *self.checks.borrow_mut().entry(member).or_default() += 1;
    }
}

impl ThresholdScheme for Counting {
    type Share = SignatureShare;
    type Certificate = Signature;

    fn committee_size(&self) -> usize {
        self.inner.committee_size()
    }

    fn share_count_min(&self) -> usize {
        self.inner.share_count_min()
    }

    fn verify_share(&self, member: MemberIndex, message: &[u8], share: &SignatureShare) -> bool {
        self.count(member);
        self.inner.verify_share(member, message, share)
    }

    fn combine(&self, shares: &[(MemberIndex, SignatureShare)]) -> Option<Signature> {
        self.inner.combine(shares)
    }

    fn verify_certificate(&self, message: &[u8], certificate: &Signature) -> bool {
        self.inner.verify_certificate(message, certificate)
    }

    fn shares_valid_batch(&self, message: &[u8], shares: &[(MemberIndex, SignatureShare)]) -> bool {
        for (member, _) in shares {
            self.count(*member);
        }
        self.inner.shares_valid_batch(message, shares)
    }
}

#[test]
fn a_share_known_valid_is_never_checked_again() {
    const N: usize = 10;
    let secret = SecretKeySet::random(faulty_max(N), &mut ChaCha8Rng::seed_from_u64(19));
    let checks = Rc::new(RefCell::new(BTreeMap::new()));
    let scheme = Counting {
        inner: BlsCommittee::new(secret.public_keys(), N),
        checks: checks.clone(),
    };
    assert_eq!(scheme.share_count_min(), 4);
    let mut node: Collector<Counting, BlsMember> =
        Collector::new(scheme, None, CollectorConfig::default(), BTreeMap::new());
    let p = proposal(b"known valid");
    let id: ProposalId = p.id();
    let message = signing_message(&id);
    let sign = |m: usize| secret.secret_key_share(m).sign(&message);
    let hold = CollectorConfig::default().share_hold_ms;

    let mut out = Vec::new();
    propose(&mut node, p, 0, &mut out);
    // Shares of 0 and 1 wait past the hold and are checked (one batch): valid.
    assert_eq!(node.on_share(0, id, sign(0), 0, &mut out), None);
    assert_eq!(node.on_share(1, id, sign(1), 0, &mut out), None);
    node.tick(hold, &mut out);
    assert_eq!(
        decided(&out),
        vec![(0, ShareVerdict::Valid), (1, ShareVerdict::Valid)]
    );
    assert_eq!(*checks.borrow(), BTreeMap::from([(0, 1), (1, 1)]));

    // Member 2 signs something else; with member 3's share the combination of 0..=3
    // fails. Only the two unchecked shares are checked, each on its own (a batch would
    // fail for sure); 0 and 1 are not checked again.
    let mut out = Vec::new();
    let forged = secret.secret_key_share(2usize).sign(b"not the proposal");
    assert_eq!(node.on_share(2, id, forged, hold + 1, &mut out), None);
    assert_eq!(
        node.on_share(3, id, sign(3), hold + 1, &mut out),
        Some(ShareVerdict::Valid)
    );
    assert_eq!(
        decided(&out),
        vec![(2, ShareVerdict::Invalid("invalid_share"))]
    );
    assert!(published(&out).is_empty());
    assert_eq!(
        *checks.borrow(),
        BTreeMap::from([(0, 1), (1, 1), (2, 1), (3, 1)])
    );

    // Member 4 completes t+1 again: only its share is checked before the certificate.
    let mut out = Vec::new();
    assert_eq!(
        node.on_share(4, id, sign(4), hold + 2, &mut out),
        Some(ShareVerdict::Valid)
    );
    let certificates = published(&out);
    assert_eq!(certificates.len(), 1);
    assert_eq!(certificates[0].0, vec![0, 1, 3, 4]);
    assert_eq!(
        *checks.borrow(),
        BTreeMap::from([(0, 1), (1, 1), (2, 1), (3, 1), (4, 1)])
    );
}
