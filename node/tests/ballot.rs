//! DAO decisions on real nodes: four committee members over real libp2p swarms, real
//! ed25519 node keys, real redb stores across a restart, and a local Snapshot hub (a real
//! HTTP server speaking the GraphQL subset) serving votes signed by eth-account.

mod common;

use std::path::Path;
use std::time::Duration;

use common::eventually;
use common::snapshot_hub::{fixtures, hub_proposals, hub_votes, Mode, SnapshotHub};
use x0_actors::ballot::{BallotReport, CastVote, GetBallot, GetBallotStatus, OpenBallot};
use x0_actors::certify::Propose;
use x0_core::ballot::effect::Effect;
use x0_core::ballot::fallback::Mode as BallotMode;
use x0_core::ballot::rules::{Choice, Outcome};
use x0_core::ballot::wire::BallotId;
use x0_node::config::Config;
use x0_node::devnet;
use x0_node::network::Dial;
use x0_node::Node;

/// Four committee members; member i polls `hubs[i]`. Attestations are renewed every
/// second and count for 3 s, so a recovered hub ends the fallback within seconds.
fn committee(dir: &Path, hubs: &[String]) -> Vec<Config> {
    let mut configs: Vec<Config> = (0..hubs.len())
        .map(|i| devnet::node_config(i, hubs.len(), dir, 0, 0))
        .collect();
    devnet::with_committee(&mut configs, dir, vec![]).unwrap();
    for (config, hub) in configs.iter_mut().zip(hubs) {
        devnet::with_snapshot(std::slice::from_mut(config), hub, 1);
        config.ballot.attest_interval_s = 1;
        config.ballot.attestation_ttl_s = 3;
    }
    configs
}

async fn report(node: &Node) -> BallotReport {
    node.ballot
        .as_ref()
        .unwrap()
        .send(GetBallotStatus)
        .await
        .unwrap()
}

async fn mode(node: &Node) -> (BallotMode, usize, usize) {
    let report = report(node).await;
    (
        report.status.mode,
        report.status.attestations_fresh,
        report.status.attestations_needed,
    )
}

async fn all_in(nodes: &[Node], wanted: BallotMode, timeout: Duration) -> bool {
    eventually(timeout, || async {
        for node in nodes {
            if mode(node).await.0 != wanted {
                return false;
            }
        }
        true
    })
    .await
}

async fn open(node: &Node, title: &str, duration_s: u64) -> Result<BallotId, String> {
    node.ballot
        .as_ref()
        .unwrap()
        .send(OpenBallot {
            title: title.into(),
            effect: Effect::LiftHalt,
            duration_ms: duration_s * 1000,
        })
        .await
        .unwrap()
}

async fn vote(node: &Node, id: BallotId, choice: Choice) -> Result<u64, String> {
    node.ballot
        .as_ref()
        .unwrap()
        .send(CastVote { id, choice })
        .await
        .unwrap()
}

/// (yes, no, excluded, own choice) of an open ballot as `node` counts it.
async fn tally(node: &Node, id: BallotId) -> Option<(u64, u64, usize, Option<Choice>)> {
    let report = report(node).await;
    let id_hex = id.to_hex();
    report
        .status
        .open
        .iter()
        .find(|b| b.id.to_hex() == id_hex)
        .map(|b| (b.tally.yes, b.tally.no, b.excluded, b.own_choice))
}

async fn metric(node: &Node, sample: &str) -> Option<f64> {
    let (_, _, body) = common::http_get(&format!("http://{}/metrics", node.http_addr), None).await;
    common::sample_value(&body, sample)
}

async fn snapshot_metrics(node: &Node) -> String {
    let (_, _, body) = common::http_get(&format!("http://{}/metrics", node.http_addr), None).await;
    body.lines()
        .filter(|l| l.starts_with("x0_snapshot") || l.starts_with("x0_anomaly"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[actix_rt::test]
async fn the_fallback_needs_f_plus_one_attestations_and_ends_when_the_hub_answers_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = SnapshotHub::start().await;
    // Member 0 alone cannot reach the hub (f = 1, so 2 attestations are needed).
    let mut hubs = vec![devnet::HUB_DOWN_URL.to_string()];
    hubs.extend((1..4).map(|_| hub.url()));
    let nodes = devnet::start_mesh(committee(dir.path(), &hubs))
        .await
        .unwrap();

    assert!(
        eventually(Duration::from_secs(20), || async {
            mode(&nodes[2]).await.1 == 1
        })
        .await,
        "member 0's attestation never reached member 2"
    );
    for node in &nodes {
        let (mode, fresh, needed) = mode(node).await;
        assert_eq!((mode, needed), (BallotMode::Snapshot, 2), "fresh {fresh}");
    }
    let refused = open(&nodes[0], "one faulty node", 30).await.unwrap_err();
    assert!(refused.contains("1 of 2"), "{refused}");

    // The hub fails for everyone (503 on every request): after the outage every member
    // attests, and the fallback is on everywhere.
    hub.set_mode(Mode::Unavailable).await;
    assert!(
        all_in(&nodes, BallotMode::Fallback, Duration::from_secs(30)).await,
        "the fallback never opened"
    );
    let id = open(&nodes[1], "during the outage", 60).await.unwrap();
    assert!(
        eventually(Duration::from_secs(10), || async {
            tally(&nodes[3], id).await.is_some()
        })
        .await
    );
    assert_eq!(
        metric(&nodes[1], "x0_ballot_mode").await,
        Some(1.0),
        "the metric shows the fallback"
    );

    // The hub answers again: the members stop attesting, the attestations lapse, and
    // Snapshot decides again; the ballot already open runs to its deadline.
    hub.set_mode(Mode::Healthy).await;
    assert!(
        all_in(&nodes, BallotMode::Snapshot, Duration::from_secs(30)).await,
        "Snapshot never took over again"
    );
    assert!(
        tally(&nodes[3], id).await.is_some(),
        "the open ballot was dropped"
    );
    let late = open(&nodes[2], "after the outage", 30).await.unwrap_err();
    assert!(late.contains("Snapshot decides"), "{late}");
    for node in nodes {
        node.shutdown().await.unwrap();
    }
}

#[actix_rt::test]
async fn a_restart_mid_ballot_loses_no_vote_and_never_reuses_a_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let hubs: Vec<String> = (0..4).map(|_| devnet::HUB_DOWN_URL.to_string()).collect();
    let configs = committee(dir.path(), &hubs);
    let mut nodes = devnet::start_mesh(configs.clone()).await.unwrap();
    assert!(all_in(&nodes, BallotMode::Fallback, Duration::from_secs(30)).await);

    let id = open(&nodes[0], "restart", 40).await.unwrap();
    assert!(
        eventually(Duration::from_secs(10), || async {
            tally(&nodes[1], id).await.is_some()
        })
        .await
    );
    assert_eq!(vote(&nodes[1], id, Choice::Yes).await, Ok(1));
    assert!(
        eventually(Duration::from_secs(10), || async {
            tally(&nodes[0], id).await.map(|t| t.0) == Some(1)
        })
        .await,
        "node 0 never counted node 1's vote"
    );

    // Node 1 crashes (a stop, then a start on the same data dir).
    let restarted_config = configs[1].clone();
    nodes.remove(1).shutdown().await.unwrap();
    let restarted = Node::start(restarted_config).await.unwrap();
    for other in &nodes {
        let address = devnet::tcp_address(other).await.unwrap();
        restarted
            .network
            .send(Dial(address))
            .await
            .unwrap()
            .unwrap();
    }
    nodes.insert(1, restarted);
    assert_eq!(
        tally(&nodes[1], id).await,
        Some((1, 0, 0, Some(Choice::Yes))),
        "the restarted node lost the ballot or its vote"
    );
    // Its next vote continues the sequence: the others take it as a change of mind, not as
    // equivocation (a reused sequence 1 with another choice would exclude it).
    assert!(
        eventually(Duration::from_secs(15), || async {
            vote(&nodes[1], id, Choice::No).await.is_ok()
        })
        .await
    );
    let report = report(&nodes[1]).await;
    assert_eq!(report.counters.equivocations_total, 0);
    for node in [0, 2, 3] {
        assert!(
            eventually(Duration::from_secs(15), || async {
                tally(&nodes[node], id).await.map(|t| (t.0, t.1, t.2)) == Some((0, 1, 0))
            })
            .await,
            "node {node} did not take sequence 2 as the vote: {:?}",
            tally(&nodes[node], id).await
        );
    }
    for node in [0, 2, 3] {
        assert_eq!(vote(&nodes[node], id, Choice::Yes).await, Ok(1));
    }
    // At the deadline every node decides passed (3 yes, 1 no of 4).
    for node in &nodes {
        assert!(
            eventually(Duration::from_secs(60), || async {
                let result = node
                    .ballot
                    .as_ref()
                    .unwrap()
                    .send(GetBallot(id))
                    .await
                    .unwrap();
                result.is_some_and(|r| r.decided && r.outcome == Outcome::Passed)
            })
            .await,
            "node {} never decided passed",
            node.peer_id
        );
    }
    for node in nodes {
        node.shutdown().await.unwrap();
    }
}

#[actix_rt::test]
async fn a_passed_snapshot_proposal_lifts_the_anomaly_halt() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = fixtures();
    // The hub lists no proposal yet; the votes are eth-account's.
    let hub = SnapshotHub::with_data(vec![], hub_votes(&fixtures)).await;
    let hubs: Vec<String> = (0..4).map(|_| hub.url()).collect();
    let mut configs = committee(dir.path(), &hubs);
    // The fixture voters 1..=8 (the 9th is unregistered) speak for eight nodes of a
    // network of 100: the quorum is 5 votes, the halt line 15 nodes.
    let mut addresses: Vec<String> = Vec::new();
    for vote in fixtures["votes"].as_array().unwrap() {
        let address = vote["address"].as_str().unwrap().to_string();
        if vote["message"]["proposal"] == fixtures["proposals"]["bytes32"]
            && !addresses.contains(&address)
        {
            addresses.push(address);
        }
    }
    assert_eq!(addresses.len(), 9);
    for config in &mut configs {
        config.anomaly.network_nodes = 100;
        let snapshot = config.snapshot.as_mut().unwrap();
        snapshot.space = fixtures["space"].as_str().unwrap().to_string();
        snapshot.registry = addresses[..8]
            .iter()
            .map(|a| (a.clone(), libp2p::PeerId::random().to_string()))
            .collect();
    }
    // One registry for all: the same voters speak for the same nodes everywhere.
    let registry = configs[0].snapshot.as_ref().unwrap().registry.clone();
    for config in &mut configs {
        config.snapshot.as_mut().unwrap().registry = registry.clone();
    }
    let nodes = devnet::start_mesh(configs).await.unwrap();
    assert!(
        devnet::wait_for_mesh(&nodes, x0_core::topics::SHARES, 1, Duration::from_secs(15)).await
    );

    // A certified change of 20% of the network crosses the 15% halt line.
    let proposed = nodes[0]
        .certify
        .as_ref()
        .unwrap()
        .send(Propose {
            slot: "gossip/mesh_n".into(),
            payload: b"8".to_vec(),
            affected_ppm: 200_000,
        })
        .await
        .unwrap();
    assert!(proposed.is_ok(), "{proposed:?}");
    for node in &nodes {
        assert!(
            eventually(Duration::from_secs(20), || async {
                metric(node, "x0_anomaly_level").await == Some(2.0)
            })
            .await,
            "node {} never halted",
            node.peer_id
        );
    }

    // The DAO votes to lift it: the closed proposal (6 yes, 1 no, 1 abstain of the
    // registered voters, one unregistered) passes, and every node lifts the halt.
    hub.set_proposals(hub_proposals(&fixtures));
    for node in &nodes {
        assert!(
            eventually(Duration::from_secs(20), || async {
                metric(node, "x0_anomaly_level").await == Some(0.0)
            })
            .await,
            "node {} is still halted; its Snapshot metrics:\n{}",
            node.peer_id,
            snapshot_metrics(node).await
        );
        assert_eq!(
            metric(node, "x0_snapshot_decisions_total{outcome=\"passed\"}").await,
            Some(1.0)
        );
        assert_eq!(
            metric(node, "x0_snapshot_votes_total{outcome=\"accepted\"}").await,
            Some(8.0)
        );
        assert_eq!(
            metric(node, "x0_snapshot_votes_total{outcome=\"unregistered\"}").await,
            Some(1.0)
        );
        assert_eq!(metric(node, "x0_snapshot_hub_healthy").await, Some(1.0));
        assert_eq!(metric(node, "x0_ballot_mode").await, Some(0.0));
    }
    // Polls go on; the decision is applied once.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        metric(&nodes[0], "x0_snapshot_decisions_total{outcome=\"passed\"}").await,
        Some(1.0)
    );
    for node in nodes {
        node.shutdown().await.unwrap();
    }
}

/// Member 3 runs with the others, stops, and a ballot opens and collects votes while it is
/// down. Member 3 then restarts on its data dir and dials member 0. Returns whether it counts the open ballot with both
/// votes within `join_wait` (sync carries the open and the votes; gossip's cache has long
/// let them go).
async fn ballot_missed_then_join(sync_enabled: bool, join_wait: Duration) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let hubs: Vec<String> = (0..4).map(|_| devnet::HUB_DOWN_URL.to_string()).collect();
    let mut configs = committee(dir.path(), &hubs);
    for config in &mut configs {
        config.sync.enabled = sync_enabled;
        common::short_gossip_cache(config);
    }
    let late = configs[3].clone();
    let mut nodes = devnet::start_mesh(configs).await.unwrap();
    assert!(all_in(&nodes, BallotMode::Fallback, Duration::from_secs(30)).await);
    nodes.pop().unwrap().shutdown().await.unwrap();
    let id = open(&nodes[0], "missed", 180).await.unwrap();
    for voter in &nodes[..2] {
        let counted = eventually(Duration::from_secs(10), || async {
            tally(voter, id).await.is_some()
        })
        .await;
        assert!(counted, "a running member never saw the open");
        assert_eq!(vote(voter, id, Choice::Yes).await, Ok(1));
    }
    let both = eventually(Duration::from_secs(10), || async {
        tally(&nodes[2], id).await.map(|t| t.0) == Some(2)
    })
    .await;
    assert!(both, "member 2 never counted both votes");
    common::past_gossip_cache().await;

    let late = Node::start(late).await.unwrap();
    let address = devnet::tcp_address(&nodes[0]).await.unwrap();
    late.network.send(Dial(address)).await.unwrap().unwrap();
    let caught_up = eventually(join_wait, || async {
        tally(&late, id).await.map(|t| t.0) == Some(2)
    })
    .await;
    if !caught_up {
        let (_, _, body) =
            common::http_get(&format!("http://{}/metrics", late.http_addr), None).await;
        eprintln!(
            "the late member's sync and refusal counters:\n{}",
            body.lines()
                .filter(|l| !l.starts_with('#')
                    && (l.contains("sync") || l.contains("ignored") || l.contains("rejected")))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    late.shutdown().await.unwrap();
    for node in nodes {
        node.shutdown().await.unwrap();
    }
    caught_up
}

#[actix_rt::test]
async fn a_member_down_when_a_ballot_opened_counts_it_and_its_votes_after_restarting() {
    assert!(
        ballot_missed_then_join(true, Duration::from_secs(30)).await,
        "the late member did not learn the open ballot and its votes within 30 s"
    );
}

#[actix_rt::test]
async fn without_sync_a_member_that_missed_the_ballot_never_counts_it() {
    assert!(
        !ballot_missed_then_join(false, Duration::from_secs(10)).await,
        "learned without sync: the scenario does not test sync"
    );
}
