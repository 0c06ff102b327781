//! The ballot core with real ed25519 signatures, members talking through a loop that
//! delivers every publish to every other member (or to a chosen side).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::book::{Action, BallotBook, BallotConfig, OpenError, VoteError};
use super::certificate::{Certificate, CertificateError};
use super::effect::Effect;
use super::fallback::Mode;
use super::rules::{Choice, Outcome};
use super::verify::NodeSigner;
use super::wire::{BallotId, Message, Vote};
use crate::ids::{PeerKey, Verdict};

/// A member's key (real ed25519), and the check of anyone's signature from its PeerKey.
use crate::test_bytes::{TestSignatures as Verifier_, TestSigner as Keys};

/// A vote signed by `keys` in its own name (what a Byzantine member can make of its own).
fn signed_vote(keys: &Keys, ballot: BallotId, choice: Choice, sequence: u64) -> Vote {
    let mut vote = Vote {
        ballot,
        voter: keys.me.clone(),
        choice,
        sequence,
        signature: Vec::new(),
    };
    vote.signature = keys.sign(&vote.signed_bytes());
    vote
}

const T0: u64 = 1_800_000_000_000;
const OUTAGE_MS: u64 = 300_000;
const DURATION_MS: u64 = 600_000;

struct Net {
    books: Vec<BallotBook<Keys>>,
    members: Vec<PeerKey>,
    /// Everything each node was told to store, in order.
    stored: Vec<Vec<Action>>,
    decided: Vec<Option<Certificate>>,
}

impl Net {
    fn new(n: u8) -> Net {
        Net::with_configs(n, |_| BallotConfig::default())
    }

    /// Node i (0-based) runs `config(i)`: a faulty member runs whatever it likes.
    fn with_configs(n: u8, config: impl Fn(usize) -> BallotConfig) -> Net {
        let mut members: Vec<PeerKey> = (1..=n).map(|i| Keys::new(i).me).collect();
        members.sort();
        let books = (1..=n)
            .map(|i| BallotBook::new(Keys::new(i), members.clone(), config(i as usize - 1)))
            .collect();
        Net {
            books,
            members,
            stored: (0..n).map(|_| Vec::new()).collect(),
            decided: (0..n).map(|_| None).collect(),
        }
    }

    fn key(&self, node: usize) -> PeerKey {
        Keys::new(node as u8 + 1).me
    }

    /// Carries out `actions` of `from`, delivering publishes to `to`; returns the verdicts.
    fn run(
        &mut self,
        from: usize,
        actions: Vec<Action>,
        to: &[usize],
        now_ms: u64,
    ) -> Vec<Verdict> {
        let source = self.key(from);
        let mut verdicts = Vec::new();
        for action in actions {
            match action {
                Action::Publish { encoded } => {
                    for &node in to {
                        if node == from {
                            continue;
                        }
                        let mut out = Vec::new();
                        let verdict =
                            self.books[node].on_message(&source, &encoded, now_ms, &mut out);
                        verdicts.push(verdict);
                        // Forward what receivers publish (evidence) to the same side.
                        let sub: Vec<Action> = out;
                        let side = to.to_vec();
                        verdicts.extend(self.run(node, sub, &side, now_ms));
                    }
                }
                Action::Decided { certificate, .. } => self.decided[from] = Some(*certificate),
                other => self.stored[from].push(other),
            }
        }
        verdicts
    }

    /// Nodes in `down` see the hub fail from T0 until the outage passes; they attest.
    fn outage(&mut self, down: &[usize], side: &[usize]) -> u64 {
        let now = T0 + OUTAGE_MS;
        for &node in down {
            let mut out = Vec::new();
            self.books[node].hub_observed(false, T0, &mut out);
            self.books[node].hub_observed(false, now, &mut out);
            self.run(node, out, side, now);
        }
        now
    }

    fn vote(
        &mut self,
        node: usize,
        id: BallotId,
        choice: Choice,
        side: &[usize],
        now: u64,
    ) -> Vec<Verdict> {
        let mut out = Vec::new();
        self.books[node]
            .vote(id, choice, now, &mut out)
            .expect("vote");
        self.run(node, out, side, now)
    }

    fn tick(&mut self, nodes: &[usize], now: u64) {
        for &node in nodes {
            let mut out = Vec::new();
            self.books[node].tick(now, &mut out);
            self.run(node, out, &[], now);
        }
    }
}

fn all(n: usize) -> Vec<usize> {
    (0..n).collect()
}

#[test]
fn outage_attested_by_f_plus_one_opens_a_ballot_that_passes_with_a_verifiable_certificate() {
    let mut net = Net::new(10);
    let everyone = all(10);
    // Three attestations (f = 3) are not enough: one faulty node, or f, cannot switch.
    let now = net.outage(&[0, 1, 2], &everyone);
    assert_eq!(net.books[5].mode(), Mode::Snapshot);
    let mut out = Vec::new();
    assert_eq!(
        net.books[0].open(
            "lift the halt",
            Effect::LiftHalt,
            DURATION_MS,
            now,
            &mut out
        ),
        Err(OpenError::NotInFallback { have: 3, need: 4 })
    );
    net.outage(&[3], &everyone);
    for book in &net.books {
        assert_eq!(book.mode(), Mode::Fallback);
    }
    let id = net.books[0]
        .open(
            "lift the halt",
            Effect::LiftHalt,
            DURATION_MS,
            now,
            &mut out,
        )
        .unwrap();
    assert!(
        matches!(&out[0], Action::StoreBallot { .. }),
        "stored before published"
    );
    let verdicts = net.run(0, out, &everyone, now);
    assert!(
        verdicts.iter().all(|v| *v == Verdict::Accept),
        "{verdicts:?}"
    );

    for node in 0..5 {
        net.vote(node, id, Choice::Yes, &everyone, now + 1_000);
    }
    for node in 5..8 {
        net.vote(node, id, Choice::No, &everyone, now + 1_000);
    }
    // Before the deadline nothing is decided.
    net.tick(&everyone, now + DURATION_MS - 1);
    assert!(net.decided.iter().all(Option::is_none));
    net.tick(&everyone, now + DURATION_MS);
    for node in everyone {
        let certificate = net.decided[node].clone().expect("decided");
        assert_eq!(certificate.outcome, Outcome::Passed);
        assert_eq!((certificate.tally.yes, certificate.tally.no), (5, 3));
        let bytes = certificate.encode();
        let decoded = Certificate::decode(&bytes).unwrap();
        assert_eq!(decoded, certificate);
        let rules = BallotConfig::default().open_rules();
        assert_eq!(
            decoded.verify(&Verifier_, Some(&net.members), &rules),
            Ok(Outcome::Passed)
        );
    }

    // Tampering with any part is caught offline.
    let certificate = net.decided[0].clone().unwrap();
    let rules = BallotConfig::default().open_rules();
    let mut flipped = certificate.clone();
    flipped.votes[0].choice = match flipped.votes[0].choice {
        Choice::Yes => Choice::No,
        _ => Choice::Yes,
    };
    assert!(matches!(
        flipped.verify(&Verifier_, None, &rules),
        Err(CertificateError::Vote { .. })
    ));
    let mut inflated = certificate.clone();
    inflated.tally.yes += 2;
    assert!(matches!(
        inflated.verify(&Verifier_, None, &rules),
        Err(CertificateError::Tally { .. })
    ));
    let mut dropped = certificate.clone();
    dropped.votes.retain(|vote| vote.choice == Choice::Yes);
    dropped.tally.no = 0;
    // Five yes of five cast is under the 2/3 participation: the claim "passed" is false.
    assert!(matches!(
        dropped.verify(&Verifier_, None, &rules),
        Err(CertificateError::Outcome { .. })
    ));
    let mut wrong_electorate = net.members.clone();
    wrong_electorate.pop();
    assert!(matches!(
        certificate.verify(&Verifier_, Some(&wrong_electorate), &rules),
        Err(CertificateError::Open(_))
    ));
    let mut stripped = certificate.clone();
    stripped.open.attestations.pop();
    assert!(matches!(
        stripped.verify(&Verifier_, None, &rules),
        Err(CertificateError::Open(_))
    ));
}

#[test]
fn a_faulty_third_cannot_pass_a_proposal_alone() {
    let mut net = Net::new(10);
    let everyone = all(10);
    // The three faulty members plus one honest node attest (f+1 = 4)...
    let now = net.outage(&[7, 8, 9, 0], &everyone);
    let mut out = Vec::new();
    let id = net.books[9]
        .open("faulty", Effect::LiftHalt, DURATION_MS, now, &mut out)
        .unwrap();
    net.run(9, out, &everyone, now);
    // ...the faulty three vote yes, the honest abstain (the most they can be talked into).
    for node in 7..10 {
        net.vote(node, id, Choice::Yes, &everyone, now + 1);
    }
    for node in 0..7 {
        net.vote(node, id, Choice::Abstain, &everyone, now + 1);
    }
    net.tick(&everyone, now + DURATION_MS);
    for node in everyone {
        assert_eq!(
            net.decided[node].as_ref().unwrap().outcome,
            Outcome::NoDecision
        );
    }
}

#[test]
fn later_sequence_replaces_and_equal_sequence_with_another_choice_excludes_the_voter() {
    let mut net = Net::new(4);
    let everyone = all(4);
    let now = net.outage(&[0, 1], &everyone);
    let mut out = Vec::new();
    let id = net.books[0]
        .open("equivocation", Effect::LiftHalt, DURATION_MS, now, &mut out)
        .unwrap();
    net.run(0, out, &everyone, now);

    // Node 1 changes its mind: sequence 2 replaces sequence 1.
    net.vote(1, id, Choice::Yes, &everyone, now + 1);
    net.vote(1, id, Choice::No, &everyone, now + 2);
    let status = net.books[2].status(now + 2);
    assert_eq!((status.open[0].tally.yes, status.open[0].tally.no), (0, 1));
    // Replaying its sequence 1 is stale.
    let stale = net.stored[1]
        .iter()
        .find_map(|action| match action {
            Action::StoreVote { encoded, .. } => Some(encoded.clone()),
            _ => None,
        })
        .unwrap();
    let mut out = Vec::new();
    let one = net.key(1);
    assert_eq!(
        net.books[2].on_message(&one, &stale, now + 3, &mut out),
        Verdict::Ignore {
            reason: "stale_sequence"
        }
    );

    // Node 3 equivocates: yes to node 0, no to node 2, both sequence 1.
    let keys = Keys::new(4);
    let sign = |choice| signed_vote(&keys, id, choice, 1).encode();
    let (yes, no) = (sign(Choice::Yes), sign(Choice::No));
    let mut out = Vec::new();
    assert_eq!(
        net.books[0].on_message(&keys.me, &yes, now + 4, &mut out),
        Verdict::Accept
    );
    assert_eq!(
        net.books[2].on_message(&keys.me, &no, now + 4, &mut out),
        Verdict::Accept
    );
    // Node 0 then receives the other vote: it keeps the proof, excludes, gossips it.
    let mut out = Vec::new();
    assert_eq!(
        net.books[0].on_message(&keys.me, &no, now + 5, &mut out),
        Verdict::Ignore {
            reason: "equivocation"
        }
    );
    assert!(matches!(&out[0], Action::StoreEvidence { .. }));
    let verdicts = net.run(0, out, &everyone, now + 5);
    assert!(
        verdicts.contains(&Verdict::Accept),
        "node 2 takes the proof: {verdicts:?}"
    );
    for node in [0, 1, 2] {
        let status = net.books[node].status(now + 5);
        assert_eq!(status.open[0].excluded, 1, "node {node}");
        assert_eq!(status.open[0].tally.yes, 0, "node {node}");
    }
    // The excluded voter's new votes are not counted.
    let mut out = Vec::new();
    assert_eq!(
        net.books[2].on_message(&keys.me, &yes, now + 6, &mut out),
        Verdict::Ignore { reason: "excluded" }
    );
    net.tick(&everyone, now + DURATION_MS);
    let certificate = net.decided[2].clone().unwrap();
    assert_eq!(certificate.evidence.len(), 1);
    let rules = BallotConfig::default().open_rules();
    assert!(certificate
        .verify(&Verifier_, Some(&net.members), &rules)
        .is_ok());
}

#[test]
fn a_restarted_node_keeps_its_votes_and_never_reuses_a_sequence() {
    let mut net = Net::new(4);
    let everyone = all(4);
    let now = net.outage(&[0, 1], &everyone);
    let mut out = Vec::new();
    let id = net.books[0]
        .open("restart", Effect::LiftHalt, DURATION_MS, now, &mut out)
        .unwrap();
    net.run(0, out, &everyone, now);
    net.vote(2, id, Choice::Yes, &everyone, now + 1);
    net.vote(1, id, Choice::Yes, &everyone, now + 1);

    // Node 2 restarts from what it stored: the ballot and both votes.
    let mut restarted = BallotBook::new(Keys::new(3), net.members.clone(), BallotConfig::default());
    for action in &net.stored[2] {
        match action {
            Action::StoreBallot { encoded, .. } => {
                let Message::Open(open) = Message::decode(encoded).unwrap() else {
                    panic!()
                };
                restarted.restore_ballot(open);
            }
            Action::StoreVote { encoded, .. } => {
                let Message::Vote(vote) = Message::decode(encoded).unwrap() else {
                    panic!()
                };
                restarted.restore_vote(vote);
            }
            _ => {}
        }
    }
    let status = restarted.status(now + 2);
    assert_eq!(status.open[0].tally.yes, 2);
    assert_eq!(status.open[0].own_choice, Some(Choice::Yes));
    let mut out = Vec::new();
    assert_eq!(restarted.vote(id, Choice::No, now + 3, &mut out), Ok(2));
    net.books[2] = restarted;
    net.run(2, out, &everyone, now + 3);
    // Peers take sequence 2 as a change of mind, not as equivocation.
    let status = net.books[0].status(now + 3);
    assert_eq!(
        (
            status.open[0].tally.yes,
            status.open[0].tally.no,
            status.open[0].excluded
        ),
        (1, 1, 0)
    );
}

#[test]
fn bad_messages_are_refused_with_a_reason_and_never_panic() {
    let mut net = Net::new(4);
    let everyone = all(4);
    let now = net.outage(&[0, 1], &everyone);
    let mut out = Vec::new();
    let id = net.books[0]
        .open("bad input", Effect::LiftHalt, DURATION_MS, now, &mut out)
        .unwrap();
    let open_bytes = match &out[1] {
        Action::Publish { encoded } => encoded.clone(),
        _ => panic!(),
    };
    net.run(0, out, &everyone, now);
    let outsider = Keys::new(99);
    let vote = signed_vote(&outsider, id, Choice::Yes, 1);
    let opener = net.key(0);
    let book = &mut net.books[1];
    let mut out = Vec::new();
    let reason = |verdict: Verdict| match verdict {
        Verdict::Reject { reason } | Verdict::Ignore { reason } => reason,
        Verdict::Accept => "accept",
    };
    assert_eq!(
        reason(book.on_message(&outsider.me, &vote.encode(), now, &mut out)),
        "not_in_electorate"
    );
    // Relaying someone else's vote as one's own.
    let member = Keys::new(3);
    let vote = signed_vote(&member, id, Choice::Yes, 1);
    assert_eq!(
        reason(book.on_message(&outsider.me, &vote.encode(), now, &mut out)),
        "not_from_signer"
    );
    // Forged signature.
    let mut forged = vote.clone();
    forged.signature[0] ^= 1;
    assert_eq!(
        reason(book.on_message(&member.me, &forged.encode(), now, &mut out)),
        "bad_signature"
    );
    // After the deadline.
    assert_eq!(
        reason(book.on_message(&member.me, &vote.encode(), now + DURATION_MS, &mut out)),
        "closed"
    );
    // An open from an outsider, and a stale one.
    assert_eq!(
        reason(book.on_message(&outsider.me, &open_bytes, now, &mut out)),
        "not_from_signer"
    );
    assert_eq!(
        reason(book.on_message(&opener, &open_bytes, now, &mut out)),
        "duplicate"
    );
    // A second open within the rate limit from the same member.
    let mut out2 = Vec::new();
    assert_eq!(
        net.books[0].open("again", Effect::LiftHalt, DURATION_MS, now + 1, &mut out2),
        Err(OpenError::RateLimited(600_000))
    );
    assert_eq!(
        net.books[0].vote(BallotId([7; 32]), Choice::Yes, now, &mut out2),
        Err(VoteError::UnknownBallot)
    );

    // Every truncation and random bytes: refused, no panic.
    let first = net.members[0].clone();
    let book = &mut net.books[2];
    for len in 0..open_bytes.len() {
        let verdict = book.on_message(&first, &open_bytes[..len], now, &mut out);
        assert_eq!(
            verdict,
            Verdict::Reject {
                reason: "malformed"
            },
            "truncated at {len}"
        );
    }
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    for _ in 0..5_000 {
        let len = rng.gen_range(0..400);
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        if len > 2 {
            bytes[0] = 1;
            bytes[1] = rng.gen_range(1..=4);
        }
        let _ = book.on_message(&first, &bytes, now, &mut out);
        let _ = Certificate::decode(&bytes);
    }
}

#[test]
fn two_sides_of_a_partition_never_decide_opposite_results() {
    // 10 members, 3 faulty bridging both sides and voting yes to one side and no to the
    // other under one sequence (nobody sees both). Honest split 4 | 3 and 5 | 2.
    for split in [3usize, 4, 5] {
        let mut net = Net::new(10);
        let side_a: Vec<usize> = (0..split).chain(7..10).collect();
        let side_b: Vec<usize> = (split..7).chain(7..10).collect();
        let everyone = all(10);
        let now = net.outage(&everyone, &everyone);
        let mut out = Vec::new();
        let id = net.books[7]
            .open("split", Effect::LiftHalt, DURATION_MS, now, &mut out)
            .unwrap();
        net.run(7, out, &everyone, now);
        for node in 0..split {
            net.vote(node, id, Choice::Yes, &side_a, now + 1);
        }
        for node in split..7 {
            net.vote(node, id, Choice::No, &side_b, now + 1);
        }
        for node in 7..10 {
            let keys = Keys::new(node as u8 + 1);
            for (choice, side) in [(Choice::Yes, &side_a), (Choice::No, &side_b)] {
                let vote = signed_vote(&keys, id, choice, 1);
                for &receiver in side.iter().filter(|r| **r < 7) {
                    let mut out = Vec::new();
                    net.books[receiver].on_message(&keys.me, &vote.encode(), now + 2, &mut out);
                }
            }
        }
        net.tick(&(0..7).collect::<Vec<_>>(), now + DURATION_MS);
        let outcomes: Vec<Outcome> = (0..7)
            .map(|n| net.decided[n].as_ref().unwrap().outcome)
            .collect();
        let passed = outcomes.contains(&Outcome::Passed);
        let rejected = outcomes.contains(&Outcome::Rejected);
        assert!(!(passed && rejected), "split {split}: {outcomes:?}");
    }
}

/// Opens `count` ballots at `node` (its own book decides what it may), one per ms from
/// `now`, and delivers each to everyone; returns the receivers' verdicts per open.
fn open_many(
    net: &mut Net,
    node: usize,
    count: usize,
    effect: Effect,
    duration_ms: u64,
    now: u64,
) -> Vec<Vec<Verdict>> {
    let everyone = all(net.books.len());
    (0..count)
        .map(|i| {
            let mut out = Vec::new();
            net.books[node]
                .open(
                    &format!("open {i}"),
                    effect.clone(),
                    duration_ms,
                    now + i as u64,
                    &mut out,
                )
                .expect("the opener's own book lets it open");
            net.run(node, out, &everyone, now + i as u64)
        })
        .collect()
}

/// One faulty opener floods opens (its own book has no per-opener bound and no rate
/// limit). Honest members hold at most its share, ignore the rest (no penalty: another
/// member may hold fewer), and an honest member can still open a ballot that everyone
/// accepts. Without the per-opener bound the faulty member would fill every slot.
#[test]
fn one_opener_cannot_take_more_than_its_share_of_open_ballots() {
    // n = 4, f = 1: three slots, two per opener, so f faulty openers leave one free.
    let honest = BallotConfig {
        ballots_open_max: 3,
        ballots_open_per_opener_max: 2,
        open_interval_ms_min: 0,
        ..BallotConfig::default()
    };
    let faulty = BallotConfig {
        ballots_open_max: 1_024,
        ballots_open_per_opener_max: 1_024,
        ..honest
    };
    let mut net = Net::with_configs(4, |i| if i == 3 { faulty } else { honest });
    let everyone = all(4);
    let now = net.outage(&everyone, &everyone);
    let verdicts = open_many(&mut net, 3, 6, Effect::LiftHalt, DURATION_MS, now);
    for (i, per_receiver) in verdicts.iter().enumerate() {
        let expected = if i < 2 {
            Verdict::Accept
        } else {
            Verdict::Ignore {
                reason: "opener_full",
            }
        };
        assert_eq!(per_receiver, &vec![expected; 3], "open {i}");
    }
    for node in 0..3 {
        assert_eq!(net.books[node].status(now).open.len(), 2, "node {node}");
    }
    // An honest member still opens, and every other member accepts its open.
    let verdicts = open_many(&mut net, 0, 1, Effect::LiftHalt, DURATION_MS, now + 10);
    assert_eq!(verdicts[0], vec![Verdict::Accept; 3]);
    // Its own second open is allowed by its share but not by the total: three are open.
    let mut out = Vec::new();
    assert_eq!(
        net.books[0].open(
            "one more",
            Effect::LiftHalt,
            DURATION_MS,
            now + 11,
            &mut out
        ),
        Err(OpenError::Full(3))
    );
    // A member at its share is told so by its own book.
    let mut net = Net::with_configs(4, |_| BallotConfig {
        ballots_open_max: 16,
        ..honest
    });
    let now = net.outage(&everyone, &everyone);
    open_many(&mut net, 1, 2, Effect::LiftHalt, DURATION_MS, now);
    assert_eq!(
        net.books[1].open("third", Effect::LiftHalt, DURATION_MS, now + 5, &mut out),
        Err(OpenError::OpenerFull(2))
    );
    // Once its ballots decide, the opener has its share again (the outage goes on, so
    // the members' renewed attestations support the new open).
    let later = now + 2 + DURATION_MS;
    for node in everyone.clone() {
        let mut out = Vec::new();
        net.books[node].tick(later, &mut out);
        net.run(node, out, &everyone, later);
    }
    assert!(net.books[1].status(later).open.is_empty());
    let verdicts = open_many(&mut net, 1, 2, Effect::LiftHalt, DURATION_MS, later);
    assert_eq!(verdicts, vec![vec![Verdict::Accept; 3]; 2]);
}

/// A ballot that resolves no pending halt (`approve`) runs at most a day; halts may need
/// the full week. Received ones are ignored, not rejected: the bound is this node's config.
#[test]
fn approve_ballots_run_shorter_than_halt_ballots() {
    const DAY_MS: u64 = 24 * 3_600_000;
    assert_eq!(BallotConfig::default().duration_ms_max_without_halt, DAY_MS);
    // No rate limit here: it is not what this test is about.
    let honest = BallotConfig {
        open_interval_ms_min: 0,
        ..BallotConfig::default()
    };
    let faulty = BallotConfig {
        duration_ms_max_without_halt: honest.duration_ms_max,
        ballots_open_per_opener_max: 16,
        open_interval_ms_min: 0,
        ..honest
    };
    let mut net = Net::with_configs(4, |i| if i == 3 { faulty } else { honest });
    let everyone = all(4);
    let now = net.outage(&everyone, &everyone);
    let approve = Effect::Approve {
        id: crate::certify::proposal::ProposalId([5; 32]),
    };
    let mut out = Vec::new();
    assert_eq!(
        net.books[0].open("too long", approve.clone(), 2 * DAY_MS, now, &mut out),
        Err(OpenError::DurationWithoutHalt(2 * DAY_MS, DAY_MS))
    );
    let verdicts = open_many(&mut net, 3, 1, approve.clone(), 2 * DAY_MS, now);
    assert_eq!(
        verdicts[0],
        vec![
            Verdict::Ignore {
                reason: "duration_without_halt"
            };
            3
        ]
    );
    // A day is fine for approve; a week is fine for a halt.
    let verdicts = open_many(&mut net, 3, 1, approve, DAY_MS, now + 1);
    assert_eq!(verdicts[0], vec![Verdict::Accept; 3]);
    let verdicts = open_many(&mut net, 3, 1, Effect::LiftHalt, 7 * DAY_MS, now + 2);
    assert_eq!(verdicts[0], vec![Verdict::Accept; 3]);
}

/// An open one node accepts and forwards can meet another node whose clock, `[ballot]`
/// durations or attestation lifetime differ: those refusals are Ignores, so the relay is not
/// penalised. What the open is (its signatures, its electorate) is refused alike everywhere.
#[test]
fn an_open_refused_for_the_receivers_clock_or_config_is_ignored_not_rejected() {
    let mut net = Net::new(4);
    let everyone = all(4);
    let attested = net.outage(&[0, 1], &everyone);
    // Opened a minute after the attestations: fresh under the default two-minute lifetime.
    let opened = attested + 60_000;
    let mut out = Vec::new();
    net.books[0]
        .open("skewed", Effect::LiftHalt, DURATION_MS, opened, &mut out)
        .unwrap();
    let encoded = out
        .iter()
        .find_map(|action| match action {
            Action::Publish { encoded } => Some(encoded.clone()),
            _ => None,
        })
        .expect("the open is published");
    let opener = net.key(0);
    let receiver =
        |config: BallotConfig| BallotBook::new(Keys::new(3), net.members.clone(), config);
    let judge = |config: BallotConfig, bytes: &[u8], now: u64| {
        receiver(config).on_message(&opener, bytes, now, &mut Vec::new())
    };
    let defaults = BallotConfig::default();
    assert_eq!(judge(defaults, &encoded, opened), Verdict::Accept);

    let skew = defaults.skew_ms;
    // Older than the skew but still open: a node that missed it joins the ballot late.
    assert_eq!(
        judge(defaults, &encoded, opened + skew + 1),
        Verdict::Accept
    );
    assert_eq!(
        judge(defaults, &encoded, opened + DURATION_MS - 1),
        Verdict::Accept
    );
    assert_eq!(
        judge(defaults, &encoded, opened + DURATION_MS),
        Verdict::Ignore { reason: "closed" }
    );
    assert_eq!(
        judge(defaults, &encoded, opened - skew - 1),
        Verdict::Ignore {
            reason: "timestamp_future"
        }
    );
    let short = BallotConfig {
        duration_ms_max: DURATION_MS - 1,
        ..defaults
    };
    assert_eq!(
        judge(short, &encoded, opened),
        Verdict::Ignore {
            reason: "duration_not_allowed"
        }
    );
    let mut brief = defaults;
    brief.fallback.attestation_ttl_ms = 30_000;
    assert_eq!(
        judge(brief, &encoded, opened),
        Verdict::Ignore {
            reason: "attestations_not_fresh"
        }
    );

    // A bad signature is a bad signature at every node, whatever its config: one
    // attestation's signature flipped is found even where that attestation is not fresh.
    let Ok(Message::Open(mut open)) = Message::decode(&encoded) else {
        panic!("an open decodes")
    };
    open.attestations[0].signature[0] ^= 1;
    let forged = Message::Open(open).encode();
    for config in [defaults, brief, short] {
        assert_eq!(
            judge(config, &forged, opened),
            Verdict::Reject {
                reason: "bad_signature"
            }
        );
    }
}
