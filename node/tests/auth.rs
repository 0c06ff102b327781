//! Capability tokens and replay protection on a real node: a real libp2p swarm, real
//! biscuit tokens from the devnet's authority, a real redb store across a restart.
//! Members are stock libp2p peers that seal shares exactly as a node does.

mod common;

use std::path::Path;
use std::time::Duration;

use biscuit_auth::KeyPair;
use common::{eventually, http_get, sample_value, sealed_share, test_config, StockPeer};
use libp2p::PeerId;
use x0_actors::messages::PeerKey;
use x0_actors::wall_clock::unix_ms_now;
use x0_core::auth::envelope::{Envelope, Sealed};
use x0_core::auth::token::{self, Operation, RevocationList, Revoked, Right};
use x0_core::topics;
use x0_node::config::Config;
use x0_node::devnet;
use x0_node::Node;

/// One x0 node (a committee of one, with `[auth]` from the devnet's authority).
fn member_config(dir: &Path) -> (Config, KeyPair) {
    let mut configs = vec![test_config(&dir.join("n0"))];
    devnet::with_committee(&mut configs, dir, vec![]).unwrap();
    let authority = devnet::devnet_authority(dir).unwrap();
    (configs.remove(0), authority)
}

fn credential(authority: &KeyPair, peer: &PeerId, rights: Vec<Right>) -> Vec<u8> {
    token::mint(
        authority,
        &token::Grant {
            member: PeerKey(peer.to_bytes()),
            rights,
            expires_unix_s: unix_ms_now() / 1000 + 3600,
        },
    )
    .unwrap()
}

async fn metric(node: &Node, sample: &str) -> Option<f64> {
    let (_, _, body) = http_get(&format!("http://{}/metrics", node.http_addr), None).await;
    sample_value(&body, sample)
}

async fn wait_metric(node: &Node, sample: &str, value: f64) -> bool {
    eventually(Duration::from_secs(10), || async {
        metric(node, sample).await == Some(value)
    })
    .await
}

async fn join(node: &Node, peers: &[&StockPeer]) {
    for peer in peers {
        peer.subscribe(topics::SHARES);
        peer.dial(devnet::tcp_address(node).await.unwrap());
    }
    let joined = eventually(Duration::from_secs(10), || async {
        common::mesh_peers(node, topics::SHARES).await.len() == peers.len()
    })
    .await;
    assert!(joined, "stock peers did not join the shares mesh");
}

const ADMITTED_SIGN: &str = "x0_auth_admitted_total{operation=\"sign\"}";

fn rejected(reason: &str) -> String {
    format!("x0_auth_rejected_total{{reason=\"{reason}\"}}")
}

/// Refusals that depend on the node's clock, order or state: gossipsub Ignores.
fn ignored(reason: &str) -> String {
    format!("x0_auth_ignored_total{{reason=\"{reason}\"}}")
}

#[actix_rt::test]
async fn a_message_replayed_after_a_restart_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (config, authority) = member_config(dir.path());
    let member = StockPeer::spawn(common::Authenticity::Signed);
    let thief = StockPeer::spawn(common::Authenticity::Signed);
    let member_credential = credential(
        &authority,
        &member.peer_id,
        vec![Right::on_own_topic(Operation::Sign)],
    );

    let node = Node::start(config.clone()).await.unwrap();
    join(&node, &[&member, &thief]).await;
    let captured = sealed_share(&member, &authority, &member_credential, 1);
    member
        .publish_when_ready(topics::SHARES, captured.clone())
        .await;
    assert!(
        wait_metric(&node, ADMITTED_SIGN, 1.0).await,
        "the member's sealed share was not admitted"
    );
    // Another peer replaying the captured bytes: the seal still proves the member, so
    // only the nonce stands in the way (an Ignore: relaying a copy is no offence).
    thief
        .publish_when_ready(topics::SHARES, captured.clone())
        .await;
    assert!(wait_metric(&node, &ignored("replay"), 1.0).await);
    // The thief putting the member's token in an envelope of its own: it cannot seal as
    // the member, and its own seal names a holder the token does not.
    thief
        .publish_when_ready(
            topics::SHARES,
            sealed_share(&thief, &authority, &member_credential, 4),
        )
        .await;
    assert!(wait_metric(&node, &rejected("wrong_holder"), 1.0).await);
    let mut forged_seal = captured.clone();
    let signature_at =
        forged_seal.len() - Sealed::decode(&captured).unwrap().envelope.payload.len() - 64;
    forged_seal[signature_at..signature_at + 64]
        .copy_from_slice(&thief.key.sign(b"not the member's seal").unwrap());
    thief.publish_when_ready(topics::SHARES, forged_seal).await;
    assert!(wait_metric(&node, &rejected("envelope_signature"), 1.0).await);
    // The holder itself replaying them while the node runs: the nonce is known.
    member
        .publish_when_ready(topics::SHARES, captured.clone())
        .await;
    assert!(wait_metric(&node, &ignored("replay"), 2.0).await);
    let nonces = node
        .auth
        .as_ref()
        .unwrap()
        .send(x0_actors::auth::GetAuthStatus)
        .await
        .unwrap()
        .nonces;
    assert_eq!(nonces, 1);
    node.shutdown().await.unwrap();

    // After a restart the node's gossip caches are empty; only the persisted nonce stands
    // between the replay and the certify core.
    let node = Node::start(config).await.unwrap();
    join(&node, &[&member]).await;
    member
        .publish_when_ready(topics::SHARES, captured.clone())
        .await;
    assert!(
        wait_metric(&node, &ignored("replay"), 1.0).await,
        "the restarted node let the captured message through"
    );
    assert_eq!(metric(&node, ADMITTED_SIGN).await.unwrap_or(0.0), 0.0);
    // A fresh message from the same member still passes: the refusal is the replay's.
    member
        .publish_when_ready(
            topics::SHARES,
            sealed_share(&member, &authority, &member_credential, 2),
        )
        .await;
    assert!(wait_metric(&node, ADMITTED_SIGN, 1.0).await);
    node.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn rights_forgery_and_revocation_are_enforced_and_revocation_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (config, authority) = member_config(dir.path());
    let member = StockPeer::spawn(common::Authenticity::Signed);
    let voter = StockPeer::spawn(common::Authenticity::Signed);
    let forger = StockPeer::spawn(common::Authenticity::Signed);
    let member_credential = credential(
        &authority,
        &member.peer_id,
        vec![Right::on_own_topic(Operation::Sign)],
    );
    let vote_only = credential(
        &authority,
        &voter.peer_id,
        vec![Right::on_own_topic(Operation::Vote)],
    );
    let impostor = KeyPair::new();
    let forged = credential(
        &impostor,
        &forger.peer_id,
        Operation::ALL
            .into_iter()
            .map(Right::on_own_topic)
            .collect(),
    );

    let node = Node::start(config.clone()).await.unwrap();
    join(&node, &[&member, &voter, &forger]).await;
    voter
        .publish_when_ready(
            topics::SHARES,
            sealed_share(&voter, &authority, &vote_only, 1),
        )
        .await;
    assert!(wait_metric(&node, &rejected("not_permitted"), 1.0).await);
    forger
        .publish_when_ready(topics::SHARES, sealed_share(&forger, &impostor, &forged, 1))
        .await;
    assert!(wait_metric(&node, &rejected("token_signature"), 1.0).await);
    let stale = {
        let access = token::derive_access(
            &member_credential,
            &authority.public(),
            unix_ms_now() / 1000,
            600,
        )
        .unwrap();
        common::seal_envelope(
            &member.key,
            topics::SHARES,
            Envelope {
                token: &access,
                nonce: rand::random(),
                timestamp_unix_ms: unix_ms_now() - 3_601_000,
                payload: &[0; 8],
            },
        )
    };
    member.publish_when_ready(topics::SHARES, stale).await;
    assert!(wait_metric(&node, &ignored("timestamp_stale"), 1.0).await);
    member
        .publish_when_ready(
            topics::SHARES,
            sealed_share(&member, &authority, &member_credential, 1),
        )
        .await;
    assert!(wait_metric(&node, ADMITTED_SIGN, 1.0).await);

    // The authority revokes the member's credential; the operator hands the list to the
    // node's API, which applies, persists and publishes it.
    let summary = token::inspect(&member_credential, &authority.public()).unwrap();
    let list = RevocationList {
        sequence: 1,
        entries: vec![Revoked {
            id: hex::decode(&summary.revocation_ids[0]).unwrap(),
            until_unix_s: summary.expires_unix_s.unwrap(),
        }],
    };
    let list_bytes = token::mint_revocations(&authority, &list).unwrap();
    let list_text = biscuit_auth::Biscuit::from(&list_bytes[..], authority.public())
        .unwrap()
        .to_base64()
        .unwrap();
    let list_file = dir.path().join("revocations-1");
    std::fs::write(&list_file, format!("{list_text}\n")).unwrap();
    let api = format!("http://{}", node.http_addr);
    let published = tokio::task::spawn_blocking(move || {
        common::x0(&[
            "token",
            "publish",
            "--api",
            &api,
            "--list",
            list_file.to_str().unwrap(),
        ])
    })
    .await
    .unwrap();
    let said = common::text(&published.stdout);
    assert!(
        published.status.success(),
        "{said}{}",
        common::text(&published.stderr)
    );
    assert!(said.contains("1 new ids"), "{said}");
    let client = reqwest::Client::new();
    // A list the authority did not sign is refused.
    let bogus = token::mint_revocations(&impostor, &list).unwrap();
    let bogus_text = biscuit_auth::Biscuit::from(&bogus[..], impostor.public())
        .unwrap()
        .to_base64()
        .unwrap();
    let response = client
        .post(format!("http://{}/revocations", node.http_addr))
        .json(&serde_json::json!({ "list": bogus_text }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 422);

    member
        .publish_when_ready(
            topics::SHARES,
            sealed_share(&member, &authority, &member_credential, 2),
        )
        .await;
    assert!(wait_metric(&node, &ignored("revoked"), 1.0).await);
    node.shutdown().await.unwrap();

    let node = Node::start(config).await.unwrap();
    join(&node, &[&member]).await;
    member
        .publish_when_ready(
            topics::SHARES,
            sealed_share(&member, &authority, &member_credential, 3),
        )
        .await;
    assert!(
        wait_metric(&node, &ignored("revoked"), 1.0).await,
        "the restarted node forgot the revocation"
    );
    let (_, _, status) = http_get(&format!("http://{}/status", node.http_addr), None).await;
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["auth"]["revoked_ids"], 1);
    assert_eq!(status["auth"]["member_credential"], true);
    node.shutdown().await.unwrap();
}

/// The anomaly limits on a real node: a committee of one certifies its own proposals; with
/// `network_nodes = 100` the warning comes at 5 nodes changed and the halt at 15.
#[actix_rt::test]
async fn anomaly_warning_and_halt_come_exactly_at_the_configured_lines() {
    let dir = tempfile::tempdir().unwrap();
    let (mut config, _) = member_config(dir.path());
    config.anomaly.network_nodes = 100;
    let node = Node::start(config).await.unwrap();
    let client = reqwest::Client::new();
    let propose = |slot: &str, fraction: f64| {
        let request = client
            .post(format!("http://{}/proposals", node.http_addr))
            .json(
                &serde_json::json!({ "slot": slot, "payload": "x", "affected_fraction": fraction }),
            )
            .send();
        async move { assert_eq!(request.await.unwrap().status().as_u16(), 201) }
    };
    let applied = "x0_anomaly_changes_total{outcome=\"applied\"}";
    propose("gossip/a", 0.04).await;
    assert!(wait_metric(&node, applied, 1.0).await);
    assert_eq!(metric(&node, "x0_anomaly_level").await, Some(0.0));
    assert_eq!(metric(&node, "x0_anomaly_changed_nodes").await, Some(4.0));
    propose("gossip/b", 0.01).await;
    assert!(wait_metric(&node, applied, 2.0).await);
    assert_eq!(
        metric(&node, "x0_anomaly_level").await,
        Some(1.0),
        "warning at 5 of 100"
    );
    propose("gossip/c", 0.09).await;
    assert!(wait_metric(&node, applied, 3.0).await);
    assert_eq!(
        metric(&node, "x0_anomaly_level").await,
        Some(1.0),
        "14 of 100 is below the halt"
    );
    propose("gossip/d", 0.01).await;
    assert!(wait_metric(&node, applied, 4.0).await);
    assert_eq!(
        metric(&node, "x0_anomaly_level").await,
        Some(2.0),
        "halt at 15 of 100"
    );
    propose("gossip/e", 0.01).await;
    assert!(wait_metric(&node, "x0_anomaly_changes_total{outcome=\"halted\"}", 1.0).await);
    assert_eq!(metric(&node, "x0_anomaly_changed_nodes").await, Some(15.0));
    node.shutdown().await.unwrap();
}

/// A message the node dropped without acting on it (its store refused the nonce) is not
/// a replay when it comes again: the gate let its nonce go, so the same bytes are taken
/// once the store works. The same path lets a vote that came before its ballot's open be
/// taken when sync brings it again.
#[actix_rt::test]
async fn a_message_dropped_unacted_is_taken_when_it_comes_again() {
    let dir = tempfile::tempdir().unwrap();
    let (config, authority) = member_config(dir.path());
    let member = StockPeer::spawn(common::Authenticity::Signed);
    let member_credential = credential(
        &authority,
        &member.peer_id,
        vec![Right::on_own_topic(Operation::Sign)],
    );
    let node = Node::start(config).await.unwrap();
    join(&node, &[&member]).await;
    let share = sealed_share(&member, &authority, &member_credential, 1);

    node.store().fail_writes(true);
    member
        .publish_when_ready(topics::SHARES, share.clone())
        .await;
    assert!(
        wait_metric(&node, "x0_auth_journal_failures_total", 1.0).await,
        "the failed write was not counted"
    );
    assert_eq!(metric(&node, ADMITTED_SIGN).await.unwrap_or(0.0), 0.0);
    node.store().fail_writes(false);

    member.publish_when_ready(topics::SHARES, share).await;
    assert!(
        wait_metric(&node, ADMITTED_SIGN, 1.0).await,
        "the same bytes were refused as a replay although nothing was done with them"
    );
    assert_eq!(metric(&node, &ignored("replay")).await.unwrap_or(0.0), 0.0);
    node.shutdown().await.unwrap();
}
