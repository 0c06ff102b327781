//! Revocation lists on a real node: persisted before they are applied or forwarded, and a
//! list that adds nothing is ignored, not forwarded again. A real libp2p swarm, real
//! biscuit lists from the devnet's authority, a real redb store whose writes are made to
//! fail on command (`Store::fail_writes`) and across a restart. The publisher of the list
//! and the watcher behind the node are stock libp2p gossipsub peers.

mod common;

use std::time::Duration;

use common::{
    eventually, http_get, mesh_peers, sample_value, sealed_share, test_config, StockPeer,
};
use libp2p::PeerId;
use x0_actors::auth::GetAuthStatus;
use x0_core::auth::token::{self, RevocationList, Revoked};
use x0_core::topics;
use x0_node::devnet;
use x0_node::Node;

async fn metric(node: &Node, sample: &str) -> f64 {
    let (_, _, body) = http_get(&format!("http://{}/metrics", node.http_addr), None).await;
    sample_value(&body, sample).unwrap_or(0.0)
}

async fn wait_metric(node: &Node, sample: &str, value: f64) -> bool {
    eventually(Duration::from_secs(10), || async {
        metric(node, sample).await == value
    })
    .await
}

async fn revoked_ids(node: &Node) -> usize {
    node.auth
        .as_ref()
        .unwrap()
        .send(GetAuthStatus)
        .await
        .unwrap()
        .revoked_ids
}

fn lists(outcome: &str) -> String {
    format!("x0_auth_revocation_lists_total{{outcome=\"{outcome}\"}}")
}

const ADMITTED_SIGN: &str = "x0_auth_admitted_total{operation=\"sign\"}";

/// Copies of the revocation list the watcher got.
fn lists_seen(watcher: &StockPeer) -> usize {
    watcher
        .received()
        .iter()
        .filter(|(topic, _)| topic == topics::REVOCATIONS)
        .count()
}

async fn meshed(node: &Node, topic: &str, peers: &[PeerId]) {
    let wanted: Vec<String> = peers.iter().map(PeerId::to_string).collect();
    let ok = eventually(Duration::from_secs(10), || async {
        let mesh = mesh_peers(node, topic).await;
        wanted.iter().all(|peer| mesh.contains(peer))
    })
    .await;
    assert!(ok, "the node never meshed with {wanted:?} on {topic}");
}

/// Topology: publisher ──► node ──► watcher; the member sends shares to the node.
///
/// 1. The store fails: the list is neither applied (the member's next share is still
///    admitted) nor forwarded (the watcher never gets it), and the failure is counted.
/// 2. The store works again and the same list comes again: persisted, applied (the
///    member's share is refused as `revoked`), forwarded once.
/// 3. The same list a third time, and an older list of the same id: ignored as known,
///    not forwarded again.
/// 4. After a restart the revocation is still in force: it was persisted.
#[actix_rt::test]
async fn a_revocation_list_is_applied_only_once_persisted_and_a_known_one_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let mut configs = vec![test_config(&dir.path().join("n0"))];
    devnet::with_committee(&mut configs, dir.path(), vec![]).unwrap();
    let config = configs.remove(0);
    let authority = devnet::devnet_authority(dir.path()).unwrap();
    let member = StockPeer::spawn(common::Authenticity::Signed);
    let publisher = StockPeer::spawn(common::Authenticity::Signed);
    let watcher = StockPeer::spawn(common::Authenticity::Signed);
    let credential = common::sign_credential(&authority, &member);
    let summary = token::inspect(&credential, &authority.public()).unwrap();
    let revoked = Revoked {
        id: hex::decode(&summary.revocation_ids[0]).unwrap(),
        until_unix_s: summary.expires_unix_s.unwrap(),
    };
    let list = |sequence: u64| {
        token::mint_revocations(
            &authority,
            &RevocationList {
                sequence,
                entries: vec![revoked.clone()],
            },
        )
        .unwrap()
    };

    let node = Node::start(config.clone()).await.unwrap();
    let address = devnet::tcp_address(&node).await.unwrap();
    member.subscribe(topics::SHARES);
    publisher.subscribe(topics::REVOCATIONS);
    watcher.subscribe(topics::REVOCATIONS);
    for peer in [&member, &publisher, &watcher] {
        peer.dial(address.clone());
    }
    meshed(&node, topics::SHARES, &[member.peer_id]).await;
    meshed(
        &node,
        topics::REVOCATIONS,
        &[publisher.peer_id, watcher.peer_id],
    )
    .await;

    // 1. The store refuses every write.
    node.store().fail_writes(true);
    publisher
        .publish_when_ready(topics::REVOCATIONS, list(7))
        .await;
    assert!(
        wait_metric(&node, "x0_auth_journal_failures_total", 1.0).await,
        "the failed write was not counted"
    );
    assert_eq!(
        revoked_ids(&node).await,
        0,
        "a revocation list was applied although it was not persisted"
    );
    assert_eq!(metric(&node, &lists("not_persisted")).await, 1.0);
    assert_eq!(
        metric(&node, "x0_auth_ignored_total{reason=\"journal_failed\"}").await,
        1.0
    );
    node.store().fail_writes(false);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        lists_seen(&watcher),
        0,
        "a list that was not persisted was forwarded"
    );
    member
        .publish_when_ready(
            topics::SHARES,
            sealed_share(&member, &authority, &credential, 1),
        )
        .await;
    assert!(
        wait_metric(&node, ADMITTED_SIGN, 1.0).await,
        "the member is still admitted: the unpersisted list never took effect"
    );

    // 2. The same list again, with a store that works.
    publisher
        .publish_when_ready(topics::REVOCATIONS, list(7))
        .await;
    assert!(wait_metric(&node, &lists("applied"), 1.0).await);
    assert_eq!(revoked_ids(&node).await, 1);
    assert_eq!(node.store().revoked().unwrap(), vec![revoked.clone()]);
    assert!(
        eventually(Duration::from_secs(5), || async {
            lists_seen(&watcher) == 1
        })
        .await,
        "the applied list was not forwarded"
    );
    member
        .publish_when_ready(
            topics::SHARES,
            sealed_share(&member, &authority, &credential, 2),
        )
        .await;
    assert!(
        wait_metric(&node, "x0_auth_ignored_total{reason=\"revoked\"}", 1.0).await,
        "the applied list did not cut the member off"
    );

    // 3. Known lists: the same one again, and an older one of the same id.
    publisher
        .publish_when_ready(topics::REVOCATIONS, list(7))
        .await;
    publisher
        .publish_when_ready(topics::REVOCATIONS, list(6))
        .await;
    assert!(
        wait_metric(&node, &lists("known"), 2.0).await,
        "the known lists were not counted as known"
    );
    assert_eq!(
        metric(&node, "x0_auth_ignored_total{reason=\"revocations_known\"}").await,
        2.0
    );
    assert_eq!(metric(&node, &lists("applied")).await, 1.0);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        lists_seen(&watcher),
        1,
        "a known list was accepted and forwarded again"
    );
    node.shutdown().await.unwrap();

    // 4. What was persisted survives a restart.
    let node = Node::start(config).await.unwrap();
    assert_eq!(revoked_ids(&node).await, 1);
    node.shutdown().await.unwrap();
}
