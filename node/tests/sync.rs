//! Anti-entropy sync on real nodes (`/x0/sync/1` over libp2p request-response): what gossip
//! never delivered reaches every node once the network can carry it, and only through
//! the same checks as gossip.
//!
//! Each scenario is also run with `sync.enabled = false` on every node: there it must fail,
//! so the catch-up is sync's doing, not a retry or a gossip cache.

use std::time::Duration;

mod common;

use common::{eventually, http_get, sample_value, sealed_share, test_config, StockPeer};
use futures::StreamExt;
use libp2p::swarm::SwarmEvent;
use libp2p::{gossipsub, request_response, Multiaddr, PeerId};
use x0_actors::auth::{GetAuthStatus, PublishRevocations};
use x0_actors::certify::GetCertificate;
use x0_actors::messages::PeerKey;
use x0_actors::wall_clock::unix_ms_now;
use x0_core::auth::token::{self, RevocationList, Revoked};
use x0_core::certify::proposal::ProposalId;
use x0_core::sync::item::{Item, Kind};
use x0_core::sync::machine::{SyncConfig, SyncCore};
use x0_core::topics;
use x0_node::cli::certify::propose_and_wait;
use x0_node::config::Config;
use x0_node::devnet;
use x0_node::http::proposals::{ProposalDocument, ProposeRequest};
use x0_node::network::sync_codec::{SyncCodec, SYNC_PROTOCOL};
use x0_node::network::Dial;
use x0_node::Node;

async fn dial(from: &Node, to: &Node) {
    let address = devnet::tcp_address(to).await.unwrap();
    from.network.send(Dial(address)).await.unwrap().unwrap();
}

async fn has_certificate(node: &Node, id: ProposalId) -> bool {
    let certify = node.certify.as_ref().unwrap();
    certify.send(GetCertificate(id)).await.unwrap().is_some()
}

async fn proposal_state(node: &Node, id: &str) -> ProposalDocument {
    let (status, _, body) =
        http_get(&format!("http://{}/proposals/{id}", node.http_addr), None).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// A committee of 10 (t = 3: a certificate needs 4 shares). The proposer and two members
/// (0, 1, 2) are cut off from the rest, and member 0 proposes: 3 shares, one short. Members
/// 3 to 9 are meshed among themselves and never hear it. Then member 2 dials member 3.
/// Returns whether every node holds the certificate within `heal_wait` of that.
async fn island_then_heal(sync_enabled: bool, heal_wait: Duration) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let mut configs: Vec<Config> = (0..10)
        .map(|i| {
            let mut config = test_config(&dir.path().join(format!("n{i}")));
            config.sync.enabled = sync_enabled;
            config.sync.round_interval_ms = 1_000;
            common::short_gossip_cache(&mut config);
            config
        })
        .collect();
    devnet::with_committee(&mut configs, dir.path(), vec![]).unwrap();
    let mut nodes = Vec::new();
    for config in configs {
        nodes.push(Node::start(config).await.unwrap());
    }
    dial(&nodes[1], &nodes[0]).await;
    dial(&nodes[2], &nodes[0]).await;
    dial(&nodes[2], &nodes[1]).await;
    for i in 4..10 {
        for j in 3..i {
            dial(&nodes[i], &nodes[j]).await;
        }
    }
    assert!(
        devnet::wait_for_mesh(&nodes[..3], topics::SHARES, 2, Duration::from_secs(15)).await,
        "the island did not mesh"
    );
    assert!(
        devnet::wait_for_mesh(&nodes[3..], topics::SHARES, 4, Duration::from_secs(15)).await,
        "the rest did not mesh"
    );

    let api: reqwest::Url = format!("http://{}", nodes[0].http_addr).parse().unwrap();
    let request = ProposeRequest {
        slot: "gossip/mesh_n".into(),
        payload: "7".into(),
        affected_fraction: 1.0,
    };
    let (id_hex, certificate) = propose_and_wait(&api, &request, Duration::ZERO)
        .await
        .unwrap();
    assert!(certificate.is_none());
    let id = ProposalId(hex::decode(&id_hex).unwrap().try_into().unwrap());
    // All three island members signed; the certificate is one share short.
    let island_signed = eventually(Duration::from_secs(10), || async {
        proposal_state(&nodes[0], &id_hex).await.shares == Some(3)
    })
    .await;
    assert!(
        island_signed,
        "{:?}",
        proposal_state(&nodes[0], &id_hex).await
    );
    // Past gossip's own repair: its message cache has let the proposal and shares go, so
    // IHAVE/IWANT cannot carry them over the new link.
    common::past_gossip_cache().await;
    for node in &nodes[3..] {
        assert_eq!(proposal_state(node, &id_hex).await.state, "unknown");
    }

    dial(&nodes[2], &nodes[3]).await;
    let everywhere = eventually(heal_wait, || async {
        for node in &nodes {
            if !has_certificate(node, id).await {
                return false;
            }
        }
        true
    })
    .await;
    // `/status` shows sync where it runs: the healed member offers what it caught up on,
    // the certificate (which supersedes the proposal and its shares: they leave the
    // archive once it is kept).
    let (_, _, status) = http_get(&format!("http://{}/status", nodes[3].http_addr), None).await;
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    if sync_enabled {
        let held = status["sync"]["held"].as_u64().unwrap();
        assert!(!everywhere || held >= 1, "{status}");
        assert!(status["sync"]["peers"].as_u64().unwrap() >= 1, "{status}");
    } else {
        assert!(status.get("sync").is_none(), "{status}");
    }
    for node in nodes {
        node.shutdown().await.unwrap();
    }
    everywhere
}

#[actix_rt::test]
async fn a_proposer_and_two_members_cut_off_get_their_proposal_certified_everywhere_after_the_heal()
{
    assert!(
        island_then_heal(true, Duration::from_secs(30)).await,
        "no certificate on every node within 30 s of the heal"
    );
}

#[actix_rt::test]
async fn without_sync_the_same_proposal_is_never_certified_outside_the_island() {
    assert!(
        !island_then_heal(false, Duration::from_secs(15)).await,
        "certified without sync: the scenario does not test sync"
    );
}

async fn revoked_ids(node: &Node) -> usize {
    let auth = node.auth.as_ref().unwrap();
    auth.send(GetAuthStatus).await.unwrap().revoked_ids
}

/// Member B runs with the others, stops, and a revocation list goes out while it is down.
/// B then restarts on its data dir and dials one peer. Returns whether B holds the revocation within `join_wait`, and if it
/// does, asserts that B refuses the revoked member's next share as `revoked`.
/// With `restart_first`, both running nodes stop after the list went out and only the
/// first starts again before B joins: B can learn the list only from what that node kept
/// on disk.
async fn revocation_missed_then_join(
    sync_enabled: bool,
    restart_first: bool,
    join_wait: Duration,
) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let mut configs: Vec<Config> = (0..3)
        .map(|i| {
            let mut config = test_config(&dir.path().join(format!("n{i}")));
            config.sync.enabled = sync_enabled;
            common::short_gossip_cache(&mut config);
            config
        })
        .collect();
    devnet::with_committee(&mut configs, dir.path(), vec![]).unwrap();
    let authority = devnet::devnet_authority(dir.path()).unwrap();
    let member = StockPeer::spawn(common::Authenticity::Signed);
    let credential = common::sign_credential(&authority, &member);
    let summary = token::inspect(&credential, &authority.public()).unwrap();
    let list = token::mint_revocations(
        &authority,
        &RevocationList {
            sequence: 1,
            entries: vec![Revoked {
                id: hex::decode(&summary.revocation_ids[0]).unwrap(),
                until_unix_s: summary.expires_unix_s.unwrap(),
            }],
        },
    )
    .unwrap();

    let late = configs.remove(1);
    let first = configs[0].clone();
    let mut nodes = Vec::new();
    for config in configs {
        nodes.push(Node::start(config).await.unwrap());
    }
    dial(&nodes[1], &nodes[0]).await;
    assert!(
        devnet::wait_for_mesh(&nodes, topics::REVOCATIONS, 1, Duration::from_secs(15)).await,
        "the two running nodes did not mesh"
    );
    // B was part of the mesh before it went down.
    let b = Node::start(late.clone()).await.unwrap();
    dial(&b, &nodes[0]).await;
    assert!(
        devnet::wait_for_mesh(
            std::slice::from_ref(&b),
            topics::REVOCATIONS,
            1,
            Duration::from_secs(15)
        )
        .await,
        "B did not mesh before it went down"
    );
    b.shutdown().await.unwrap();
    let auth = nodes[0].auth.as_ref().unwrap();
    auth.send(PublishRevocations(list)).await.unwrap().unwrap();
    for node in &nodes {
        let applied = eventually(Duration::from_secs(10), || async {
            revoked_ids(node).await == 1
        })
        .await;
        assert!(applied, "a running node did not apply the list");
    }
    // Past gossip's message cache: only sync can bring the list now.
    common::past_gossip_cache().await;
    if restart_first {
        for node in nodes.drain(..) {
            node.shutdown().await.unwrap();
        }
        nodes.push(Node::start(first).await.unwrap());
        assert_eq!(
            revoked_ids(&nodes[0]).await,
            1,
            "the revocation did not survive"
        );
    }

    let late = Node::start(late).await.unwrap();
    dial(&late, &nodes[0]).await;
    let caught_up = eventually(join_wait, || async { revoked_ids(&late).await == 1 }).await;
    if caught_up {
        member.subscribe(topics::SHARES);
        member.dial(devnet::tcp_address(&late).await.unwrap());
        member
            .publish_when_ready(
                topics::SHARES,
                sealed_share(&member, &authority, &credential, 1),
            )
            .await;
        let refused = eventually(Duration::from_secs(10), || async {
            let (_, _, body) = http_get(&format!("http://{}/metrics", late.http_addr), None).await;
            sample_value(&body, "x0_auth_ignored_total{reason=\"revoked\"}") == Some(1.0)
        })
        .await;
        assert!(
            refused,
            "the late node learned the list but admits the revoked member"
        );
    }
    late.shutdown().await.unwrap();
    for node in nodes {
        node.shutdown().await.unwrap();
    }
    caught_up
}

#[actix_rt::test]
async fn a_member_down_when_a_revocation_went_out_refuses_the_revoked_member_after_restarting() {
    assert!(
        revocation_missed_then_join(true, false, Duration::from_secs(30)).await,
        "the restarted member did not learn the revocation list within 30 s"
    );
}

#[actix_rt::test]
async fn a_restarted_node_still_serves_what_it_held_before_the_restart() {
    assert!(
        revocation_missed_then_join(true, true, Duration::from_secs(30)).await,
        "the restarted node did not serve the revocation list it held"
    );
}

#[actix_rt::test]
async fn without_sync_a_node_that_missed_the_revocation_never_learns_it() {
    assert!(
        !revocation_missed_then_join(false, false, Duration::from_secs(10)).await,
        "learned without sync: the scenario does not test sync"
    );
}

/// A hostile sync server: a real libp2p peer speaking gossipsub and `/x0/sync/1`, whose
/// answers come from a real [`SyncCore`] holding one forged item. It lists the item's key
/// honestly (the key is the hash of the forged bytes), so the forgery passes the key check
/// and must be caught by the topic's own checks.
#[derive(libp2p::swarm::NetworkBehaviour)]
struct HostileBehaviour {
    gossipsub: gossipsub::Behaviour,
    sync: request_response::Behaviour<SyncCodec>,
}

/// What the test asks of the hostile peer.
enum HostileCommand {
    Dial(Multiaddr),
    /// Send these raw bytes as a `/x0/sync/1` request.
    Request(PeerId, Vec<u8>),
}

/// Each request's outcome as the hostile peer saw it: the response bytes, or the failure.
type Outcomes = std::sync::Arc<std::sync::Mutex<Vec<Result<Vec<u8>, String>>>>;

fn spawn_hostile_server(
    forged: Item,
) -> (
    PeerId,
    tokio::sync::mpsc::UnboundedSender<HostileCommand>,
    Outcomes,
) {
    let mut swarm = libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            libp2p::tcp::Config::default(),
            libp2p::noise::Config::new,
            libp2p::yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|key| HostileBehaviour {
            gossipsub: gossipsub::Behaviour::new(
                gossipsub::MessageAuthenticity::Signed(key.clone()),
                gossipsub::Config::default(),
            )
            .unwrap(),
            sync: request_response::Behaviour::with_codec(
                SyncCodec,
                [(SYNC_PROTOCOL, request_response::ProtocolSupport::Full)],
                request_response::Config::default().with_max_concurrent_streams(1_000),
            ),
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build();
    let peer_id = *swarm.local_peer_id();
    let (commands, mut queue) = tokio::sync::mpsc::unbounded_channel::<HostileCommand>();
    let outcomes: Outcomes = Default::default();
    let log = outcomes.clone();
    tokio::spawn(async move {
        let mut core = SyncCore::new(SyncConfig::default(), 1);
        let mut ignored = Vec::new();
        let key = forged.key();
        core.on_held(key, &mut ignored);
        loop {
            tokio::select! {
                command = queue.recv() => match command {
                    Some(HostileCommand::Dial(address)) => swarm.dial(address).unwrap(),
                    Some(HostileCommand::Request(peer, bytes)) => {
                        swarm.behaviour_mut().sync.send_request(&peer, bytes);
                    }
                    None => return,
                },
                event = swarm.select_next_some() => match event {
                    SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                        core.on_connected(PeerKey(peer_id.to_bytes()), unix_ms_now(), &mut ignored);
                    }
                    SwarmEvent::Behaviour(HostileBehaviourEvent::Sync(
                        request_response::Event::Message {
                            peer,
                            message: request_response::Message::Request { request, channel, .. },
                            ..
                        },
                    )) => {
                        let answer = core.on_request(
                            &PeerKey(peer.to_bytes()),
                            &request,
                            unix_ms_now(),
                            |asked| (asked == &key).then(|| forged.bytes.clone()),
                            &mut ignored,
                        );
                        if let Some(answer) = answer {
                            let _ = swarm.behaviour_mut().sync.send_response(channel, answer);
                        }
                    }
                    SwarmEvent::Behaviour(HostileBehaviourEvent::Sync(
                        request_response::Event::Message {
                            message: request_response::Message::Response { response, .. },
                            ..
                        },
                    )) => log.lock().unwrap().push(Ok(response)),
                    SwarmEvent::Behaviour(HostileBehaviourEvent::Sync(
                        request_response::Event::OutboundFailure { error, .. },
                    )) => log.lock().unwrap().push(Err(error.to_string())),
                    _ => {}
                },
            }
        }
    });
    (peer_id, commands, outcomes)
}

/// What a peer that serves a forged item through sync gets: the item meets the gossip
/// checks of its topic (a share whose seal does not cover its bytes is `envelope_signature`,
/// REJECT, counted with the gossip verdicts), is never admitted, and the server's gossipsub
/// score falls as an invalid gossip message would make it fall.
#[actix_rt::test]
async fn a_peer_serving_a_forged_item_through_sync_is_refused_and_scored_down() {
    let dir = tempfile::tempdir().unwrap();
    let mut configs: Vec<Config> = (0..4)
        .map(|i| {
            let mut config = test_config(&dir.path().join(format!("n{i}")));
            config.sync.round_interval_ms = 1_000;
            config
        })
        .collect();
    devnet::with_committee(&mut configs, dir.path(), vec![]).unwrap();
    let authority = devnet::devnet_authority(dir.path()).unwrap();
    let member = StockPeer::spawn(common::Authenticity::Signed);
    let credential = common::sign_credential(&authority, &member);
    // The member's genuine share with its last byte (in the sealed payload) changed.
    let mut bytes = sealed_share(&member, &authority, &credential, 9);
    *bytes.last_mut().unwrap() ^= 1;
    let forged = Item {
        kind: Kind::Share,
        bytes,
    };

    let node = Node::start(configs.remove(0)).await.unwrap();
    let (hostile, commands, _) = spawn_hostile_server(forged);
    commands
        .send(HostileCommand::Dial(
            devnet::tcp_address(&node).await.unwrap(),
        ))
        .unwrap();

    let metrics = || async {
        let (_, _, body) = http_get(&format!("http://{}/metrics", node.http_addr), None).await;
        body
    };
    let penalised = eventually(Duration::from_secs(15), || async {
        sample_value(
            &metrics().await,
            "x0_sync_penalties_total{reason=\"envelope_signature\"}",
        )
        .is_some_and(|count| count >= 1.0)
    })
    .await;
    let body = metrics().await;
    assert!(
        penalised,
        "the forged share was not refused as invalid:\n{body}"
    );
    assert!(
        sample_value(
            &body,
            "x0_gossip_messages_rejected_total{topic=\"/x0/1/shares\",reason=\"envelope_signature\"}"
        )
        .is_some_and(|count| count >= 1.0),
        "the sync delivery was not judged and counted like gossip:\n{body}"
    );
    assert_eq!(
        sample_value(&body, "x0_auth_admitted_total{operation=\"sign\"}").unwrap_or(0.0),
        0.0
    );
    let scored_down = eventually(Duration::from_secs(10), || async {
        common::score_of(&node, &hostile)
            .await
            .is_some_and(|score| score < 0.0)
    })
    .await;
    assert!(
        scored_down,
        "the server's gossipsub score did not fall: {:?}",
        common::score_of(&node, &hostile).await
    );
    node.shutdown().await.unwrap();
}

/// A peer that sends garbage and floods requests: the garbage is penalised (the stream is
/// closed unanswered), the flood is answered `busy` beyond the peer's budget (counted, no
/// penalty), the node does not fall over, and it still answers an honest request after.
#[actix_rt::test]
async fn a_peer_sending_garbage_and_floods_gets_penalised_and_busy_and_nothing_breaks() {
    let dir = tempfile::tempdir().unwrap();
    let mut configs = vec![test_config(&dir.path().join("n0"))];
    devnet::with_committee(&mut configs, dir.path(), vec![]).unwrap();
    let node = Node::start(configs.remove(0)).await.unwrap();
    let node_id: PeerId = node.peer_id;
    let (hostile, commands, outcomes) = spawn_hostile_server(Item {
        kind: Kind::Certificate,
        bytes: vec![1],
    });
    commands
        .send(HostileCommand::Dial(
            devnet::tcp_address(&node).await.unwrap(),
        ))
        .unwrap();
    let connected = eventually(Duration::from_secs(10), || async {
        common::score_of(&node, &hostile).await.is_some()
    })
    .await;
    assert!(connected, "the hostile peer never connected");
    let metric = |sample: &'static str| {
        let addr = node.http_addr;
        async move {
            let (_, _, body) = http_get(&format!("http://{addr}/metrics"), None).await;
            sample_value(&body, sample).unwrap_or(0.0)
        }
    };

    // Garbage: not a request at all.
    for garbage in [vec![], vec![0xff; 40], vec![1, 99]] {
        commands
            .send(HostileCommand::Request(node_id, garbage))
            .unwrap();
    }
    let penalised = eventually(Duration::from_secs(10), || async {
        metric("x0_sync_penalties_total{reason=\"sync_malformed\"}").await >= 3.0
    })
    .await;
    assert!(penalised, "malformed requests were not penalised");

    // A flood of valid summary requests beyond the budget (a burst of 64), sent 8 at a
    // time: the most the node holds waiting from one peer (more at once are dropped at the
    // transport: the next part).
    let summary = x0_core::sync::wire::Request::Summary.encode();
    let garbage_outcomes = outcomes.lock().unwrap().len();
    for batch in 1..=25 {
        for _ in 0..8 {
            commands
                .send(HostileCommand::Request(node_id, summary.clone()))
                .unwrap();
        }
        let answered = eventually(Duration::from_secs(10), || async {
            outcomes.lock().unwrap().len() >= garbage_outcomes + 8 * batch
        })
        .await;
        assert!(answered, "batch {batch} was not answered");
    }
    let seen = outcomes.lock().unwrap()[garbage_outcomes..].to_vec();
    let failed = seen.iter().filter(|o| o.is_err()).count();
    assert_eq!(
        failed,
        0,
        "{:?}",
        seen.iter().filter(|o| o.is_err()).collect::<Vec<_>>()
    );
    let busy = seen
        .iter()
        .filter_map(|o| o.as_ref().ok())
        .filter(|bytes| {
            matches!(
                x0_core::sync::wire::Response::decode(bytes),
                Ok(x0_core::sync::wire::Response::Busy { .. })
            )
        })
        .count();
    let summaries = seen
        .iter()
        .filter_map(|o| o.as_ref().ok())
        .filter(|bytes| {
            matches!(
                x0_core::sync::wire::Response::decode(bytes),
                Ok(x0_core::sync::wire::Response::Summary(_))
            )
        })
        .count();
    assert!(busy > 0, "no busy answer to a flood of 200");
    assert!(
        (64..=100).contains(&summaries),
        "{summaries} summaries answered: the budget is a burst of 64 plus 20 per second"
    );
    assert!(metric("x0_sync_dropped_total{what=\"requests_over_budget\"}").await >= busy as f64);
    // Busy costs the asker nothing beyond the malformed penalties.
    assert_eq!(
        metric("x0_sync_penalties_total{reason=\"sync_malformed\"}").await,
        3.0
    );

    // 40 at once, the budget refilled: beyond what the node holds open for one peer (16
    // streams per connection, 8 requests waiting in the swarm task) it drops the stream
    // (the asker sees a failure), counted; the rest are answered.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let before = outcomes.lock().unwrap().len();
    for _ in 0..40 {
        commands
            .send(HostileCommand::Request(node_id, summary.clone()))
            .unwrap();
    }
    let all = eventually(Duration::from_secs(20), || async {
        outcomes.lock().unwrap().len() >= before + 40
    })
    .await;
    assert!(all, "not every request of the burst got an outcome");
    let burst = outcomes.lock().unwrap()[before..].to_vec();
    assert!(burst.iter().any(|o| o.is_err()), "no stream was dropped");
    assert!(burst.iter().any(|o| o.is_ok()), "none was answered");
    let dropped = metric("x0_sync_transport_dropped_total{reason=\"inbound_full\"}").await
        + metric("x0_sync_transport_dropped_total{reason=\"inbound_failed\"}").await;
    assert!(dropped >= 1.0, "the dropped streams were not counted");

    // After the budget refills, the node answers again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = outcomes.lock().unwrap().len();
    commands
        .send(HostileCommand::Request(node_id, summary))
        .unwrap();
    let again = eventually(Duration::from_secs(10), || async {
        outcomes.lock().unwrap()[before..].iter().any(|o| {
            o.as_ref().is_ok_and(|bytes| {
                matches!(
                    x0_core::sync::wire::Response::decode(bytes),
                    Ok(x0_core::sync::wire::Response::Summary(_))
                )
            })
        })
    })
    .await;
    assert!(again, "the node stopped answering after the flood");
    node.shutdown().await.unwrap();
}
