//! Five real nodes over TCP on loopback form a gossipsub mesh, and a message published at
//! one reaches every other within 2 s, exactly once.

mod common;

use std::time::{Duration, Instant};

use x0_actors::probe::{GetProbeStats, PublishProbeNow};
use x0_core::topics;
use x0_node::devnet;

use common::{eventually, mesh_peers, test_config};

#[actix_rt::test]
async fn five_nodes_mesh_and_deliver_within_two_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let configs = (0..5)
        .map(|i| test_config(&dir.path().join(format!("n{i}"))))
        .collect();
    let nodes = devnet::start_mesh(configs)
        .await
        .expect("nodes start and dial");

    // Five nodes: every node's mesh should hold the other four (D_lo = 5 > 4 available).
    assert!(
        devnet::wait_for_mesh(&nodes, topics::PROBE, 4, Duration::from_secs(10)).await,
        "mesh did not form"
    );
    for node in &nodes {
        let mesh = mesh_peers(node, topics::PROBE).await;
        assert_eq!(mesh.len(), 4, "node {} mesh {mesh:?}", node.peer_id);
        assert!(!mesh.contains(&node.peer_id.to_string()));
    }

    let authors = [0usize, 3];
    for round in 0..authors.len() {
        let author = authors[round];
        let published_at = Instant::now();
        nodes[author]
            .probe
            .send(PublishProbeNow)
            .await
            .unwrap()
            .expect("publish succeeds");
        // After this round, node i has delivered every message so far not authored by i.
        let expected =
            |index: usize| authors[..=round].iter().filter(|&&a| a != index).count() as u64;
        let all_received = eventually(Duration::from_secs(2), || async {
            for (index, node) in nodes.iter().enumerate() {
                let stats = node.probe.send(GetProbeStats).await.unwrap();
                if stats.delivered < expected(index) {
                    return false;
                }
            }
            true
        })
        .await;
        assert!(
            all_received,
            "round {round}: not every node got the message within 2 s"
        );
        println!(
            "round {round}: every node received it after {:?}",
            published_at.elapsed()
        );
    }

    // Exactly once each: gossipsub de-duplicates, and no node delivers its own message.
    let mut published_total = 0;
    for (index, node) in nodes.iter().enumerate() {
        let stats = node.probe.send(GetProbeStats).await.unwrap();
        let authored = u64::from(index == 0 || index == 3);
        assert_eq!(stats.published, authored, "node {index}");
        assert_eq!(
            stats.delivered,
            2 - authored,
            "node {index} delivered {stats:?}"
        );
        published_total += stats.published;
    }
    assert_eq!(published_total, 2);
    for node in nodes {
        node.shutdown().await.unwrap();
    }
}

#[actix_rt::test]
async fn two_nodes_gossip_over_quic() {
    let dir = tempfile::tempdir().unwrap();
    let configs: Vec<_> = (0..2)
        .map(|i| {
            let mut config = test_config(&dir.path().join(format!("q{i}")));
            config.network.listen = vec!["/ip4/127.0.0.1/udp/0/quic-v1".parse().unwrap()];
            config
        })
        .collect();
    let mut nodes = Vec::new();
    for config in configs {
        nodes.push(x0_node::Node::start(config).await.unwrap());
    }
    let quic_address: libp2p::Multiaddr = nodes[0]
        .network_status()
        .await
        .unwrap()
        .listen_addrs
        .into_iter()
        .find(|a| a.contains("/quic-v1/"))
        .expect("a QUIC listener")
        .parse()
        .unwrap();
    nodes[1]
        .network
        .send(x0_node::network::Dial(quic_address))
        .await
        .unwrap()
        .unwrap();
    assert!(
        devnet::wait_for_mesh(&nodes, topics::PROBE, 1, Duration::from_secs(10)).await,
        "no mesh over QUIC"
    );
    nodes[0].probe.send(PublishProbeNow).await.unwrap().unwrap();
    assert!(
        eventually(Duration::from_secs(2), || async {
            nodes[1].probe.send(GetProbeStats).await.unwrap().delivered == 1
        })
        .await,
        "the probe did not cross the QUIC connection"
    );
    for node in nodes {
        node.shutdown().await.unwrap();
    }
}

#[actix_rt::test]
async fn a_node_joins_through_its_configured_bootstrap_peer() {
    let dir = tempfile::tempdir().unwrap();
    let seed = x0_node::Node::start(test_config(&dir.path().join("seed")))
        .await
        .unwrap();
    let seed_address = devnet::tcp_address(&seed).await.unwrap();
    let mut config = test_config(&dir.path().join("joiner"));
    config.network.bootstrap = vec![seed_address];
    let joiner = x0_node::Node::start(config).await.unwrap();
    let seed_id = seed.peer_id.to_string();
    assert!(
        eventually(Duration::from_secs(5), || async {
            joiner
                .network_status()
                .await
                .unwrap()
                .connected_peers
                .iter()
                .any(|p| p.peer_id == seed_id)
        })
        .await,
        "the joiner never connected to its bootstrap peer"
    );
    let nodes = [seed, joiner];
    assert!(devnet::wait_for_mesh(&nodes, topics::PROBE, 1, Duration::from_secs(10)).await);
    let [seed, joiner] = nodes;
    let seed_port: u16 = devnet::tcp_address(&seed)
        .await
        .unwrap()
        .iter()
        .find_map(|p| match p {
            libp2p::multiaddr::Protocol::Tcp(port) => Some(port),
            _ => None,
        })
        .unwrap();
    seed.shutdown().await.unwrap();
    // Shutdown closed the listener while this process lives on: the port is free again.
    std::net::TcpListener::bind(("127.0.0.1", seed_port)).expect("listener closed on shutdown");
    joiner.shutdown().await.unwrap();
}
