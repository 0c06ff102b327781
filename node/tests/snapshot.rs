//! The Snapshot hub client against a local hub, and vote signatures made by an
//! independent library (eth-account, scripts/interop/snapshot_votes.py).

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::snapshot_hub::{fixtures, hub_votes, Garbage, Mode, SnapshotHub};
use libp2p::PeerId;
use serde_json::Value;
use tokio::time::Instant;
use x0_core::ballot::rules::{Outcome, Tally};
use x0_node::snapshot::eip712::{self, ProposalIdType, VerifyError, VoteMessage};
use x0_node::snapshot::{
    snapshot_tally, ClientConfig, HubVote, Registry, SnapshotClient, SnapshotTally, VoteCounts,
};

const SPACE: &str = "x0tta6bl4.eth";

fn proposal_bytes32() -> String {
    fixtures()["proposals"]["bytes32"]
        .as_str()
        .unwrap()
        .to_string()
}

fn proposal_string() -> String {
    fixtures()["proposals"]["string"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A fixed PeerId per test key index.
fn node(index: u8) -> PeerId {
    libp2p::identity::Keypair::ed25519_from_bytes([index; 32])
        .unwrap()
        .public()
        .to_peer_id()
}

/// The fixture voter of key `index` (1..=9), from the fixtures themselves.
fn address_of_key(index: usize) -> alloy_primitives::Address {
    // Keys 1..=8 each first appear in this order on the bytes32 proposal; key 1 again at 7.
    let order = [1usize, 2, 3, 4, 5, 6, 7, 1, 8, 9];
    let position = order.iter().position(|&k| k == index).unwrap();
    let votes = fixtures()["votes"].clone();
    eip712::parse_address(votes[position]["address"].as_str().unwrap()).unwrap()
}

/// Keys 1..=8 are members; key 9 is not.
fn registry() -> Registry {
    Registry::from_pairs((1..=8u8).map(|k| (address_of_key(k as usize), node(k))))
}

fn messages() -> Vec<(VoteMessage, String, String, String, String)> {
    fixtures()["votes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                serde_json::from_value(v["message"].clone()).unwrap(),
                v["signature"].as_str().unwrap().to_string(),
                v["address"].as_str().unwrap().to_string(),
                v["digest"].as_str().unwrap().to_string(),
                v["proposal_id_type"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn votes_of(proposal: &str) -> Vec<HubVote> {
    hub_votes(&fixtures())
        .into_iter()
        .map(|v| serde_json::from_value::<HubVote>(v).unwrap())
        .filter(|v| v.proposal.id == proposal)
        .collect()
}

fn client_config(hub: &SnapshotHub) -> ClientConfig {
    ClientConfig::new(hub.url(), SPACE)
}

// (a) signatures

#[test]
fn every_fixture_vote_recovers_to_its_voter() {
    let all = messages();
    assert_eq!(all.len(), 13);
    let mut types = BTreeSet::new();
    for (message, signature, address, digest, id_type) in all {
        let (hash, kind) = eip712::signing_hash(&message).unwrap();
        assert_eq!(format!("{hash:#x}"), digest, "digest of {message:?}");
        let expected_kind = match id_type.as_str() {
            "bytes32" => ProposalIdType::Bytes32,
            _ => ProposalIdType::String,
        };
        assert_eq!(kind, expected_kind);
        types.insert(id_type);
        let recovered = eip712::verify_vote(&message, &signature).unwrap();
        assert_eq!(recovered.to_string(), address);
    }
    assert_eq!(types.len(), 2, "both Vote types are covered");
}

#[test]
fn tampered_votes_are_refused() {
    for (message, signature, _, _, _) in messages() {
        let wrong_signer = |changed: &VoteMessage| match eip712::verify_vote(changed, &signature) {
            Err(VerifyError::WrongSigner { .. }) => {}
            other => panic!("{changed:?} with the original signature: {other:?}"),
        };
        let mut m = message.clone();
        m.choice = m.choice % 3 + 1;
        wrong_signer(&m);
        let mut m = message.clone();
        m.reason.push('!');
        wrong_signer(&m);
        let mut m = message.clone();
        m.timestamp += 1;
        wrong_signer(&m);
        let mut m = message.clone();
        m.space = "other.eth".into();
        wrong_signer(&m);
        let mut m = message.clone();
        m.metadata = String::new();
        wrong_signer(&m);
        let mut m = message.clone();
        m.app = "snapshot".into();
        wrong_signer(&m);

        // A flipped bit in r: another key or none at all; never the voter.
        let mut bytes = hex::decode(&signature[2..]).unwrap();
        bytes[5] ^= 0x01;
        let flipped = format!("0x{}", hex::encode(&bytes));
        assert!(eip712::verify_vote(&message, &flipped).is_err());
        // The other parity recovers another key.
        let mut bytes = hex::decode(&signature[2..]).unwrap();
        bytes[64] = if bytes[64] == 27 { 28 } else { 27 };
        let other_v = format!("0x{}", hex::encode(&bytes));
        assert!(matches!(
            eip712::verify_vote(&message, &other_v),
            Err(VerifyError::WrongSigner { .. }) | Err(VerifyError::Unrecoverable)
        ));
        // v outside {0, 1, 27, 28}, e.g. an EIP-155 value.
        bytes[64] = 37;
        let eip155 = format!("0x{}", hex::encode(&bytes));
        assert_eq!(
            eip712::verify_vote(&message, &eip155),
            Err(VerifyError::BadRecoveryId(37))
        );
        // 0/1 parity is the same signature as 27/28.
        let mut bytes = hex::decode(&signature[2..]).unwrap();
        bytes[64] -= 27;
        let zero_one = format!("0x{}", hex::encode(&bytes));
        assert!(eip712::verify_vote(&message, &zero_one).is_ok());
        // Truncated.
        assert_eq!(
            eip712::verify_vote(&message, &signature[..100]),
            Err(VerifyError::BadEncoding)
        );
    }
}

// (b) retries and backoff, under paused time

#[tokio::test(start_paused = true)]
async fn refused_hub_gets_one_try_and_five_retries_with_doubling_backoff() {
    let mut hub = SnapshotHub::start().await;
    hub.set_mode(Mode::Refused).await;
    let client = SnapshotClient::new(client_config(&hub)).unwrap();
    let started = Instant::now();
    let error = client.votes(&proposal_bytes32()).await.unwrap_err();
    let elapsed = started.elapsed();
    assert_eq!(error.as_str(), "connect", "{error}");
    assert_eq!(error.attempts, 6);
    assert_eq!(error.waits_ms, [500, 1_000, 2_000, 4_000, 8_000]);
    // Refused connections take no virtual time: the elapsed time is the backoff alone.
    assert_eq!(elapsed, Duration::from_millis(15_500));
    assert_eq!(
        client
            .counters
            .attempts_total
            .load(std::sync::atomic::Ordering::Relaxed),
        6
    );
}

#[tokio::test(start_paused = true)]
async fn backoff_is_capped() {
    let mut hub = SnapshotHub::start().await;
    hub.set_mode(Mode::Refused).await;
    let mut config = client_config(&hub);
    config.backoff_ms_max = 3_000;
    let client = SnapshotClient::new(config).unwrap();
    let started = Instant::now();
    let error = client.proposals().await.unwrap_err();
    assert_eq!(error.waits_ms, [500, 1_000, 2_000, 3_000, 3_000]);
    assert_eq!(started.elapsed(), Duration::from_millis(9_500));
}

#[tokio::test(start_paused = true)]
async fn slow_hub_times_out_each_attempt_at_three_seconds() {
    let mut hub = SnapshotHub::start().await;
    hub.set_mode(Mode::Slow(Duration::from_secs(10))).await;
    let client = SnapshotClient::new(client_config(&hub)).unwrap();
    let started = Instant::now();
    let error = client.votes(&proposal_bytes32()).await.unwrap_err();
    let elapsed = started.elapsed();
    assert_eq!(error.as_str(), "timeout", "{error}");
    assert_eq!(error.attempts, 6);
    assert_eq!(error.waits_ms, [500, 1_000, 2_000, 4_000, 8_000]);
    // 6 timeouts of 3 s and 15.5 s of backoff.
    assert_eq!(elapsed, Duration::from_millis(6 * 3_000 + 15_500));
}

#[tokio::test]
async fn unavailable_hub_is_retried_then_labelled() {
    let mut hub = SnapshotHub::start().await;
    hub.set_mode(Mode::Unavailable).await;
    let mut config = client_config(&hub);
    config.backoff_ms_initial = 1;
    let client = SnapshotClient::new(config).unwrap();
    let error = client.votes(&proposal_bytes32()).await.unwrap_err();
    assert_eq!(error.as_str(), "http_status");
    assert_eq!(error.attempts, 6);
    assert_eq!(error.waits_ms, [1, 2, 4, 8, 16]);
    assert_eq!(hub.seen().len(), 6);
    // And the hub coming back is served again.
    hub.set_mode(Mode::Healthy).await;
    assert_eq!(
        client.votes(&proposal_bytes32()).await.unwrap().votes.len(),
        10
    );
}

#[tokio::test]
async fn refused_then_back() {
    let mut hub = SnapshotHub::start().await;
    let mut config = client_config(&hub);
    config.backoff_ms_initial = 1;
    let client = SnapshotClient::new(config).unwrap();
    assert_eq!(client.proposals().await.unwrap().len(), 3);
    hub.set_mode(Mode::Refused).await;
    let error = client.proposals().await.unwrap_err();
    assert_eq!(error.as_str(), "connect", "{error}");
    hub.set_mode(Mode::Healthy).await;
    assert_eq!(client.proposals().await.unwrap().len(), 3);
}

// (c) paging

#[tokio::test]
async fn healthy_paging_walks_the_created_lt_cursor() {
    let hub = SnapshotHub::start().await;
    let mut config = client_config(&hub);
    config.page_size = 3;
    let client = SnapshotClient::new(config).unwrap();

    let proposals = client.proposals().await.unwrap();
    assert_eq!(proposals.len(), 3);
    assert_eq!(proposals.iter().filter(|p| p.is_basic()).count(), 2);

    let fetch = client.votes(&proposal_bytes32()).await.unwrap();
    assert_eq!(fetch.votes.len(), 10);
    assert_eq!(fetch.pages, 6);
    assert!(!fetch.truncated);
    // Each cursor asks again for the oldest second seen (keys 4 and 5 share one).
    assert_eq!(fetch.repeats, 6);
    let cursors: Vec<i64> = hub
        .seen()
        .iter()
        .filter(|s| s.operation == "Votes")
        .map(|s| s.variables["created_lt"].as_i64().unwrap())
        .collect();
    assert_eq!(
        cursors,
        [
            i32::MAX as i64,
            1_760_000_701,
            1_760_000_501,
            1_760_000_401,
            1_760_000_301,
            1_760_000_101
        ]
    );
    for seen in hub.seen().iter().filter(|s| s.operation == "Votes") {
        assert_eq!(seen.variables["first"], 3);
        assert_eq!(seen.variables["space"], SPACE);
    }
    let ids: BTreeSet<String> = fetch.votes.iter().map(|v| v.id.clone()).collect();
    let expected: BTreeSet<String> = votes_of(&proposal_bytes32())
        .into_iter()
        .map(|v| v.id)
        .collect();
    assert_eq!(ids, expected);

    let string_fetch = client.votes(&proposal_string()).await.unwrap();
    assert_eq!(string_fetch.votes.len(), 3);
    assert_eq!(string_fetch.pages, 2);
}

#[tokio::test]
async fn votes_beyond_the_bound_are_cut_and_counted() {
    let hub = SnapshotHub::start().await;
    let mut config = client_config(&hub);
    config.page_size = 3;
    config.votes_max = 4;
    let client = SnapshotClient::new(config).unwrap();
    let fetch = client.votes(&proposal_bytes32()).await.unwrap();
    assert_eq!(fetch.votes.len(), 4);
    assert!(fetch.truncated);
    assert_eq!(
        client
            .counters
            .votes_truncated_total
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

// (d) garbage

#[tokio::test]
async fn garbage_is_an_invalid_error_never_a_panic() {
    let mut hub = SnapshotHub::start().await;
    let mut config = client_config(&hub);
    config.backoff_ms_initial = 1;
    let client = SnapshotClient::new(config).unwrap();
    for garbage in [Garbage::NotJson, Garbage::WrongShape] {
        hub.set_mode(Mode::Garbage(garbage)).await;
        let error = client.votes(&proposal_bytes32()).await.unwrap_err();
        assert_eq!(error.as_str(), "invalid", "{garbage:?}: {error}");
        assert_eq!(error.attempts, 6);
        let error = client.proposals().await.unwrap_err();
        assert_eq!(error.as_str(), "invalid", "{garbage:?}: {error}");
    }
    // Well-formed votes with signatures that do not match: fetched, then all dropped.
    hub.set_mode(Mode::Garbage(Garbage::BadSignatures)).await;
    let fetch = client.votes(&proposal_bytes32()).await.unwrap();
    let result = snapshot_tally(&fetch.votes, &registry(), 100);
    assert_eq!(
        result.counts,
        VoteCounts {
            bad_signature: 10,
            ..VoteCounts::default()
        }
    );
    assert_eq!(result.outcome, Outcome::NoDecision);
}

#[tokio::test]
async fn graphql_errors_are_labelled() {
    let mut hub = SnapshotHub::start().await;
    hub.set_mode(Mode::Garbage(Garbage::GraphQlErrors)).await;
    let mut config = client_config(&hub);
    config.backoff_ms_initial = 1;
    let client = SnapshotClient::new(config).unwrap();
    let error = client.votes(&proposal_bytes32()).await.unwrap_err();
    assert_eq!(error.as_str(), "graphql", "{error}");
    assert!(error.to_string().contains("Cannot query field"), "{error}");
    assert_eq!(error.attempts, 6);
}

#[tokio::test]
async fn oversized_bodies_are_refused_unparsed() {
    let hub = SnapshotHub::start().await;
    let mut config = client_config(&hub);
    config.backoff_ms_initial = 1;
    config.retries_max = 0;
    config.body_bytes_max = 200;
    let client = SnapshotClient::new(config).unwrap();
    let error = client.votes(&proposal_bytes32()).await.unwrap_err();
    assert_eq!(error.as_str(), "too_large", "{error}");
    assert_eq!(error.attempts, 1);
}

#[tokio::test]
async fn an_empty_space_is_empty_lists() {
    let hub = SnapshotHub::with_data(Vec::new(), Vec::new()).await;
    let client = SnapshotClient::new(client_config(&hub)).unwrap();
    assert!(client.proposals().await.unwrap().is_empty());
    assert!(client.votes("nothing").await.unwrap().votes.is_empty());
}

// (e) conflicting order and duplicates

#[tokio::test]
async fn conflicting_order_and_repeats_tally_like_healthy() {
    let mut hub = SnapshotHub::start().await;
    let mut config = client_config(&hub);
    config.page_size = 5;
    let client = SnapshotClient::new(config).unwrap();
    let healthy = client.votes(&proposal_bytes32()).await.unwrap();
    hub.set_mode(Mode::Conflicting).await;
    let conflicting = client.votes(&proposal_bytes32()).await.unwrap();
    assert!(
        conflicting.repeats > healthy.repeats,
        "the conflicting hub repeated votes"
    );
    let ids = |f: &x0_node::snapshot::VoteFetch| {
        f.votes
            .iter()
            .map(|v| v.id.clone())
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(ids(&healthy), ids(&conflicting));
    let a = snapshot_tally(&healthy.votes, &registry(), 100);
    let b = snapshot_tally(&conflicting.votes, &registry(), 100);
    assert_eq!(a, b);
    assert_eq!(a.outcome, Outcome::Passed);
}

#[test]
fn tally_ignores_order_and_exact_duplicates_count_once() {
    let votes = votes_of(&proposal_bytes32());
    let expected = snapshot_tally(&votes, &registry(), 100);
    let mut shuffled: Vec<HubVote> = votes.iter().rev().cloned().collect();
    shuffled.rotate_left(3);
    assert_eq!(
        snapshot_tally(&shuffled, &registry(), 100).tally,
        expected.tally
    );
    let mut doubled = shuffled.clone();
    doubled.extend(votes.iter().cloned());
    let result = snapshot_tally(&doubled, &registry(), 100);
    assert_eq!(result.tally, expected.tally);
    assert_eq!(result.ballots, expected.ballots);
    // Ten more copies, all duplicates (nine of them signed and registered).
    assert_eq!(result.counts.duplicate, expected.counts.duplicate + 9);
}

// (f) the tally rule

#[test]
fn tally_counts_each_node_once_and_drops_strangers() {
    let result: SnapshotTally = snapshot_tally(&votes_of(&proposal_bytes32()), &registry(), 100);
    // Key 1 voted no, then yes: the later vote counts. Key 9 is not a member.
    assert_eq!(
        result.tally,
        Tally {
            yes: 6,
            no: 1,
            abstain: 1
        }
    );
    assert_eq!(
        result.counts,
        VoteCounts {
            accepted: 8,
            bad_signature: 0,
            unregistered: 1,
            duplicate: 1,
            skipped: 0
        }
    );
    assert_eq!(
        result.ballots[&node(1)],
        x0_core::ballot::rules::Choice::Yes
    );
    assert_eq!(result.outcome, Outcome::Passed);

    // Quorum is 5% of the network's nodes: 8 votes meet it for 160 nodes, not for 161.
    let votes = votes_of(&proposal_bytes32());
    assert_eq!(
        snapshot_tally(&votes, &registry(), 160).outcome,
        Outcome::Passed
    );
    assert_eq!(
        snapshot_tally(&votes, &registry(), 161).outcome,
        Outcome::NoDecision
    );

    // The string-id proposal: one each of yes, no, abstain: no majority.
    let result = snapshot_tally(&votes_of(&proposal_string()), &registry(), 20);
    assert_eq!(
        result.tally,
        Tally {
            yes: 1,
            no: 1,
            abstain: 1
        }
    );
    assert_eq!(result.outcome, Outcome::NoDecision);
}

#[test]
fn one_node_one_vote_even_with_two_addresses() {
    // Keys 2 and 6 both speak for node 2 (a registry built past the config check).
    let pairs = (1..=8u8).map(|k| {
        let n = if k == 6 { node(2) } else { node(k) };
        (address_of_key(k as usize), n)
    });
    let registry = Registry::from_pairs(pairs);
    let result = snapshot_tally(&votes_of(&proposal_bytes32()), &registry, 100);
    assert_eq!(result.counts.accepted, 7);
    assert_eq!(result.counts.duplicate, 2);
    // Key 6 (no, at ...500) is later than key 2 (yes, at ...200): node 2 votes no.
    assert_eq!(
        result.tally,
        Tally {
            yes: 5,
            no: 1,
            abstain: 1
        }
    );
}

#[test]
fn majority_must_exceed_half_of_votes_cast() {
    // Members: keys 1 (yes, latest), 2 (yes), 4 (abstain), 6 (no): 2 yes of 4 cast.
    let registry =
        Registry::from_pairs([1u8, 2, 4, 6].map(|k| (address_of_key(k as usize), node(k))));
    let result = snapshot_tally(&votes_of(&proposal_bytes32()), &registry, 20);
    assert_eq!(
        result.tally,
        Tally {
            yes: 2,
            no: 1,
            abstain: 1
        }
    );
    assert_eq!(result.counts.unregistered, 5);
    assert_eq!(result.outcome, Outcome::NoDecision);
    // Key 3 (yes) joins: 3 of 5.
    let registry =
        Registry::from_pairs([1u8, 2, 3, 4, 6].map(|k| (address_of_key(k as usize), node(k))));
    assert_eq!(
        snapshot_tally(&votes_of(&proposal_bytes32()), &registry, 20).outcome,
        Outcome::Passed
    );
}

#[test]
fn non_single_choice_votes_are_skipped() {
    let mut votes = votes_of(&proposal_bytes32());
    votes[0].choice = serde_json::json!([1, 2]);
    votes[1].choice = serde_json::json!(4);
    votes[2].choice = Value::Null;
    let result = snapshot_tally(&votes, &registry(), 100);
    assert_eq!(result.counts.skipped, 3);
    assert_eq!(
        result.counts.accepted
            + result.counts.bad_signature
            + result.counts.unregistered
            + result.counts.duplicate
            + result.counts.skipped,
        10
    );
}
