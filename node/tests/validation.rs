//! Manual application validation: a message the owning actor rejects is not forwarded,
//! and its sender's peer score drops. The hostile sender is a stock libp2p gossipsub peer.
//!
//! Topology: stock peer ──► node A ◄── node B. The stock peer reaches B only through A.

mod common;

use std::time::Duration;

use x0_actors::probe::GetProbeStats;
use x0_actors::wall_clock::unix_ms_now;
use x0_core::probe::Probe;
use x0_core::topics;
use x0_node::network::Dial;
use x0_node::Node;

use common::{
    eventually, http_get, mesh_peers, sample_value, score_of, test_config, Authenticity, StockPeer,
};

async fn two_nodes(dir: &std::path::Path) -> (Node, Node) {
    let a = Node::start(test_config(&dir.join("a"))).await.unwrap();
    let b = Node::start(test_config(&dir.join("b"))).await.unwrap();
    let a_addr = x0_node::devnet::tcp_address(&a).await.unwrap();
    b.network.send(Dial(a_addr)).await.unwrap().unwrap();
    (a, b)
}

fn valid_probe() -> Vec<u8> {
    Probe {
        sequence: 0,
        published_at_unix_ms: unix_ms_now(),
        body: vec![1, 2, 3],
    }
    .encode()
}

async fn rejected(node: &Node, reason: &str) -> f64 {
    refused(node, "rejected", reason).await
}

/// Refusals that are the receiver's view (clock, order, state): Ignores, no penalty.
async fn ignored(node: &Node, reason: &str) -> f64 {
    refused(node, "ignored", reason).await
}

async fn refused(node: &Node, verdict: &str, reason: &str) -> f64 {
    let (_, _, body) = http_get(&format!("http://{}/metrics", node.http_addr), None).await;
    let prefix = format!(
        "x0_gossip_messages_{verdict}_total{{topic=\"{}\",reason=\"{reason}\"}}",
        topics::PROBE
    );
    sample_value(&body, &prefix).unwrap_or(0.0)
}

/// A stock peer subscribed to the probe topic, dialed into `a`, and in a's mesh.
async fn stock_peer_in_mesh_of(a: &Node, authenticity: Authenticity) -> StockPeer {
    let peer = StockPeer::spawn(authenticity);
    peer.subscribe(topics::PROBE);
    peer.dial(x0_node::devnet::tcp_address(a).await.unwrap());
    let peer_id = peer.peer_id.to_string();
    assert!(
        eventually(Duration::from_secs(10), || async {
            mesh_peers(a, topics::PROBE).await.contains(&peer_id)
        })
        .await,
        "the stock peer never joined A's mesh"
    );
    peer
}

#[actix_rt::test]
async fn rejected_message_is_not_forwarded_and_sender_score_drops() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_nodes(dir.path()).await;
    let evil = StockPeer::spawn(Authenticity::Signed);
    evil.subscribe(topics::PROBE);
    evil.dial(x0_node::devnet::tcp_address(&a).await.unwrap());

    let evil_id = evil.peer_id.to_string();
    let b_id = b.peer_id.to_string();
    assert!(
        eventually(Duration::from_secs(10), || async {
            let mesh = mesh_peers(&a, topics::PROBE).await;
            mesh.contains(&evil_id) && mesh.contains(&b_id)
        })
        .await,
        "A's mesh never held both the stock peer and B"
    );
    let score_before = score_of(&a, &evil.peer_id)
        .await
        .expect("A scores the stock peer");
    assert!(
        score_before >= 0.0,
        "score before misbehaving: {score_before}"
    );

    // A valid probe from the stock peer crosses A and reaches B: the path works.
    evil.publish_when_ready(topics::PROBE, valid_probe()).await;
    assert!(
        eventually(Duration::from_secs(3), || async {
            b.probe.send(GetProbeStats).await.unwrap().delivered == 1
        })
        .await,
        "a valid message from the stock peer never reached B through A"
    );

    // A malformed probe is rejected; a future-dated one only ignored (its timestamp is
    // read against A's clock, which says nothing about the peer that handed it over).
    evil.publish_when_ready(topics::PROBE, b"not a probe at all".to_vec())
        .await;
    let future = Probe {
        sequence: 1,
        published_at_unix_ms: unix_ms_now() + 3_600_000,
        body: vec![],
    }
    .encode();
    evil.publish_when_ready(topics::PROBE, future).await;

    assert!(
        eventually(Duration::from_secs(3), || async {
            rejected(&a, "malformed").await == 1.0 && ignored(&a, "timestamp_future").await == 1.0
        })
        .await,
        "A did not refuse and count both messages"
    );
    assert!(
        eventually(Duration::from_secs(3), || async {
            score_of(&a, &evil.peer_id).await.is_some_and(|s| s < 0.0)
        })
        .await,
        "the stock peer's score did not drop below zero"
    );
    // One Reject costs `invalid_message_weight` (-10) times one squared; the valid probe
    // earned 0.5 (first delivery), and the Ignore nothing.
    let score_after = score_of(&a, &evil.peer_id).await.unwrap();
    assert!(
        score_after < score_before - 5.0,
        "before {score_before}, after {score_after}"
    );

    // Give any forwarding a full second and a heartbeat to happen; it must not.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        b.probe.send(GetProbeStats).await.unwrap().delivered,
        1,
        "B got a rejected message"
    );
    assert_eq!(rejected(&b, "malformed").await, 0.0, "B never even saw it");
    assert_eq!(ignored(&b, "timestamp_future").await, 0.0);
    let b_score = score_of(&a, &b.peer_id).await.unwrap();
    assert!(
        b_score >= 0.0,
        "the honest neighbour was penalised: {b_score}"
    );

    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn unsigned_messages_are_refused_under_strict_validation() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_nodes(dir.path()).await;
    let anonymous = stock_peer_in_mesh_of(&a, Authenticity::Anonymous).await;
    // A well-formed probe, but unsigned: gossipsub drops it before any actor sees it.
    anonymous
        .publish_when_ready(topics::PROBE, valid_probe())
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(a.probe.send(GetProbeStats).await.unwrap().delivered, 0);
    assert_eq!(b.probe.send(GetProbeStats).await.unwrap().delivered, 0);
    let (_, _, metrics) = http_get(&format!("http://{}/metrics", a.http_addr), None).await;
    let invalid = sample_value(
        &metrics,
        &format!(
            "gossipsub_invalid_messages_per_topic_total{{hash=\"{}\"}}",
            topics::PROBE
        ),
    );
    // At least once: a later IHAVE from the peer can make A fetch and count it again.
    assert!(
        invalid.unwrap_or(0.0) >= 1.0,
        "gossipsub counts the unsigned message as invalid"
    );
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn oversized_message_is_dropped_before_any_actor() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_nodes(dir.path()).await;
    let sender = stock_peer_in_mesh_of(&a, Authenticity::Signed).await;
    // Far over the probe topic's limit (1,043 bytes + framing), well under the stock
    // peer's own 64 KiB limit, so only the node's per-topic limit can stop it.
    let oversized = vec![0u8; 8 * 1024];
    sender.publish_when_ready(topics::PROBE, oversized).await;
    // A control message that fits proves the connection still carries traffic.
    sender
        .publish_when_ready(topics::PROBE, valid_probe())
        .await;
    assert!(
        eventually(Duration::from_secs(3), || async {
            a.probe.send(GetProbeStats).await.unwrap().delivered == 1
        })
        .await,
        "the valid message after the oversized one never arrived"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(a.probe.send(GetProbeStats).await.unwrap().delivered, 1);
    let (_, _, metrics) = http_get(&format!("http://{}/metrics", a.http_addr), None).await;
    let verdicts = |verdict: &str| {
        sample_value(
            &metrics,
            &format!(
                "x0_gossip_messages_validated_total{{topic=\"{}\",verdict=\"{verdict}\"}} ",
                topics::PROBE
            ),
        )
        .unwrap_or(0.0)
    };
    assert_eq!(
        verdicts("reject"),
        0.0,
        "no actor ever saw the oversized bytes"
    );
    assert_eq!(verdicts("accept"), 1.0);
    assert_eq!(b.probe.send(GetProbeStats).await.unwrap().delivered, 1);
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}
