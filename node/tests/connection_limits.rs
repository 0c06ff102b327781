//! A flood of dials cannot exhaust the node: connections beyond the configured limit are
//! refused and counted, and the node keeps serving.

mod common;

use std::time::Duration;

use x0_node::Node;

use common::{eventually, http_get, test_config, Authenticity, StockPeer};

#[actix_rt::test]
async fn dials_beyond_the_limit_are_refused_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.network.limits.established_total_max = 3;
    config.network.limits.established_per_peer_max = 1;
    let node = Node::start(config).await.unwrap();
    let address = x0_node::devnet::tcp_address(&node).await.unwrap();

    let flood: Vec<StockPeer> = (0..10)
        .map(|_| StockPeer::spawn(Authenticity::Signed))
        .collect();
    for peer in &flood {
        peer.dial(address.clone());
        peer.dial(address.clone()); // a second connection from the same peer: over per-peer limit
    }
    let metrics_url = format!("http://{}/metrics", node.http_addr);
    assert!(
        eventually(Duration::from_secs(10), || async {
            let (_, _, body) = http_get(&metrics_url, None).await;
            let denied: f64 = body
                .lines()
                .filter(|l| l.starts_with("libp2p_swarm_connections_incoming_error_total{"))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum();
            denied >= 10.0
        })
        .await,
        "refused connections were not counted"
    );
    let status = node.network_status().await.unwrap();
    assert!(
        status.connected_peers.len() <= 3,
        "{} peers connected past a limit of 3",
        status.connected_peers.len()
    );
    assert!(
        !status.connected_peers.is_empty(),
        "the first dials are accepted"
    );
    let (code, _, _) = http_get(&format!("http://{}/health", node.http_addr), None).await;
    assert_eq!(code, 200, "the node still serves");
    node.shutdown().await.unwrap();
}
