//! Certificates on real nodes: real libp2p swarms on loopback, real BLS keys from the
//! dealer, real redb stores. Byzantine committee members are stock libp2p peers holding
//! real secret shares, publishing what an honest x0 node never would.

mod common;

use std::path::Path;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use biscuit_auth::KeyPair;
use blsttc::SecretKeyShare;
use common::{
    eventually, http_get, run_tool, sample_value, score_of, test_config, StockPeer,
    PARSE_OPENMETRICS,
};
use libp2p::PeerId;
use x0_actors::certify::{GetCertificate, GetCertifyStatus};
use x0_actors::messages::PeerKey;
use x0_actors::wall_clock::unix_ms_now;
use x0_core::auth::envelope::{Envelope, Sealed};
use x0_core::auth::token::{self, Operation, Right};
use x0_core::certify::proposal::{Proposal, ProposalId};
use x0_core::certify::scheme::{signing_message, BlsCommittee, ThresholdScheme};
use x0_core::certify::threshold::ChangeClass;
use x0_core::certify::wire::{CertificateMessage, ShareMessage};
use x0_core::topics;
use x0_node::committee::{self, CommitteeSection, Dealt};
use x0_node::config::Config;
use x0_node::devnet::{self, SHARE_FILE_NAME};
use x0_node::Node;

/// The network authority of every committee in this file: members' tokens come from it.
static AUTHORITY: LazyLock<KeyPair> = LazyLock::new(KeyPair::new);

/// A stock member's privileged message as the node expects it: in an envelope with an
/// access token of all rights, a fresh nonce and the time.
fn seal(peer: &StockPeer, topic: &str, payload: Vec<u8>) -> Vec<u8> {
    let now_s = unix_ms_now() / 1000;
    let credential = token::mint(
        &AUTHORITY,
        &token::Grant {
            member: PeerKey(peer.peer_id.to_bytes()),
            rights: Operation::ALL
                .into_iter()
                .map(Right::on_own_topic)
                .collect(),
            expires_unix_s: now_s + 3600,
        },
    )
    .unwrap();
    let access = token::derive_access(&credential, &AUTHORITY.public(), now_s, 600).unwrap();
    common::seal_envelope(
        &peer.key,
        topic,
        Envelope {
            token: &access,
            nonce: rand::random(),
            timestamp_unix_ms: unix_ms_now(),
            payload: &payload,
        },
    )
}

const CERTIFY_TOPICS: [&str; 3] = [topics::PROPOSALS, topics::SHARES, topics::CERTIFICATES];

/// Honest x0 nodes plus stock peers, all members of one freshly dealt committee in which
/// the stock peers hold the lowest indices (so a combination always picks their shares
/// first when they are there).
struct Committee {
    nodes: Vec<Node>,
    stock: Vec<StockPeer>,
    dealt: Dealt,
    _dir: tempfile::TempDir,
}

fn secret(dealt: &Dealt, member: usize) -> SecretKeyShare {
    let bytes: [u8; 32] = hex::decode(&dealt.shares[member].standard_share)
        .unwrap()
        .try_into()
        .unwrap();
    SecretKeyShare::from_bytes(bytes).unwrap()
}

fn node_configs(dir: &Path, honest: usize) -> Vec<Config> {
    (0..honest)
        .map(|i| {
            let mut config = test_config(&dir.join(format!("n{i}")));
            config.network.limits.established_per_peer_max = 2;
            config
        })
        .collect()
}

/// Deals a committee over `stock` then the nodes' identities; writes shares and config.
fn deal_into(configs: &mut [Config], stock: &[StockPeer], supermajority: Vec<String>) -> Dealt {
    let mut members: Vec<PeerId> = stock.iter().map(|s| s.peer_id).collect();
    for config in configs.iter() {
        let key = x0_node::identity::load_or_create(&config.data_dir()).unwrap();
        members.push(key.public().to_peer_id());
    }
    devnet::with_credentials(configs, &members[stock.len()..], &AUTHORITY).unwrap();
    let dealt = committee::deal(&members, 1, supermajority, &mut rand::thread_rng());
    for (index, config) in configs.iter_mut().enumerate() {
        let share = &dealt.shares[stock.len() + index];
        committee::write_share_file(share, &config.data_dir().join(SHARE_FILE_NAME)).unwrap();
        config.committee = Some(CommitteeSection {
            share_file: Some(SHARE_FILE_NAME.into()),
            ..dealt.section.clone()
        });
    }
    dealt
}

async fn committee_mesh(honest: usize, stock_members: usize) -> Committee {
    let dir = tempfile::tempdir().unwrap();
    let stock: Vec<StockPeer> = (0..stock_members)
        .map(|_| StockPeer::spawn(common::Authenticity::Signed))
        .collect();
    let mut configs = node_configs(dir.path(), honest);
    let dealt = deal_into(&mut configs, &stock, vec![]);
    let nodes = devnet::start_mesh(configs).await.unwrap();
    for peer in &stock {
        for topic in CERTIFY_TOPICS {
            peer.subscribe(topic);
        }
        for node in &nodes {
            peer.dial(devnet::tcp_address(node).await.unwrap());
        }
    }
    let mesh_min = (nodes.len() - 1).min(4);
    assert!(
        devnet::wait_for_mesh(&nodes, topics::SHARES, mesh_min, Duration::from_secs(15)).await,
        "the shares topic did not mesh"
    );
    Committee {
        nodes,
        stock,
        dealt,
        _dir: dir,
    }
}

fn proposal_by(peer: &PeerId, slot: &str, payload: &[u8]) -> Proposal {
    Proposal {
        epoch: 1,
        slot: slot.into(),
        payload: payload.to_vec(),
        affected_ppm: 100_000,
        proposer: peer.to_bytes(),
        nonce: rand::random(),
        timestamp_unix_ms: unix_ms_now(),
    }
}

fn share_message(dealt: &Dealt, member: usize, id: ProposalId, message: &[u8]) -> Vec<u8> {
    ShareMessage {
        class: ChangeClass::Standard,
        id,
        member: member as u16,
        share: secret(dealt, member).sign(message).to_bytes(),
    }
    .encode()
}

/// Waits until every node holds a certificate for `id`; returns them.
async fn certificates_everywhere(
    nodes: &[Node],
    id: ProposalId,
    timeout: Duration,
) -> Option<Vec<CertificateMessage>> {
    let all = eventually(timeout, || async {
        for node in nodes {
            let certify = node.certify.as_ref().unwrap();
            if certify.send(GetCertificate(id)).await.unwrap().is_none() {
                return false;
            }
        }
        true
    })
    .await;
    if !all {
        return None;
    }
    let mut out = Vec::new();
    for node in nodes {
        let certify = node.certify.as_ref().unwrap();
        out.push(certify.send(GetCertificate(id)).await.unwrap().unwrap());
    }
    Some(out)
}

/// The same valid certificate everywhere: one threshold signature over the proposal id,
/// whichever t+1 shares each node combined.
fn assert_one_valid_certificate(certificates: &[CertificateMessage], dealt: &Dealt) {
    let committee = dealt.section.committee().unwrap();
    let first = &certificates[0];
    for certificate in certificates {
        assert_eq!(certificate.proposal, first.proposal);
        assert_eq!(certificate.signature, first.signature);
        let encoded = hex::encode(certificate.encode());
        x0_node::cli::certify::verify_certificate(&encoded, &committee)
            .expect("every node's certificate verifies offline");
    }
}

async fn shutdown(nodes: Vec<Node>) {
    for node in nodes {
        node.shutdown().await.unwrap();
    }
}

#[actix_rt::test]
async fn ten_members_three_byzantine_every_honest_node_gets_one_certificate_within_5s() {
    // n = 10, t = 3: members 0..=2 are Byzantine stock peers, 3..=9 honest x0 nodes.
    let Committee {
        nodes,
        stock,
        dealt,
        _dir,
    } = committee_mesh(7, 3).await;
    assert_eq!(dealt.section.members.len(), 10);

    // Round 1: a Byzantine member proposes, and all three Byzantine members poison the
    // collection with shares over the wrong message, published before the proposal so
    // every honest node holds them when it combines.
    let proposal = proposal_by(&stock[0].peer_id, "gossip/mesh_n", b"8");
    let id = proposal.id();
    for (member, peer) in stock.iter().enumerate() {
        let bad = share_message(&dealt, member, id, b"not the proposal");
        peer.publish_when_ready(topics::SHARES, seal(peer, topics::SHARES, bad))
            .await;
    }
    let started = Instant::now();
    stock[0]
        .publish_when_ready(
            topics::PROPOSALS,
            seal(&stock[0], topics::PROPOSALS, proposal.encode()),
        )
        .await;
    let certificates = certificates_everywhere(&nodes, id, Duration::from_secs(5))
        .await
        .expect("every honest node holds the certificate within 5 s");
    let elapsed = started.elapsed();
    assert_one_valid_certificate(&certificates, &dealt);
    for certificate in &certificates {
        assert!(
            certificate.signers.iter().all(|s| *s >= 3),
            "a Byzantine member counted as a signer: {:?}",
            certificate.signers
        );
    }
    eprintln!("round 1: certificate on all 7 honest nodes after {elapsed:?}");

    // Every honest node rejected the invalid shares (never forwarded them), so each one
    // scored each Byzantine sender below zero, and kept evidence.
    for (index, node) in nodes.iter().enumerate() {
        for peer in &stock {
            let scored_down = eventually(Duration::from_secs(3), || async {
                score_of(node, &peer.peer_id).await.is_some_and(|s| s < 0.0)
            })
            .await;
            assert!(
                scored_down,
                "node {index} did not score Byzantine {} down: {:?}",
                peer.peer_id,
                score_of(node, &peer.peer_id).await
            );
        }
        let (_, _, metrics) = http_get(&format!("http://{}/metrics", node.http_addr), None).await;
        let rejected = sample_value(
            &metrics,
            "x0_shares_rejected_total{reason=\"invalid_share\"}",
        );
        assert_eq!(rejected, Some(3.0), "node {index}");
        let evidence = sample_value(&metrics, "x0_evidence_total{kind=\"invalid_share\"}");
        assert_eq!(evidence, Some(3.0), "node {index}");
    }
    // The certificate families pass Prometheus' own checks, in both formats.
    let metrics_url = format!("http://{}/metrics", nodes[0].http_addr);
    let (_, _, classic) = http_get(&metrics_url, None).await;
    let (status, lint) = run_tool("promtool", &["check", "metrics"], &classic);
    assert!(status == 0 && lint.trim().is_empty(), "promtool: {lint}");
    assert!(classic.contains("x0_certificate_formation_seconds_bucket"));
    let (_, _, openmetrics) = http_get(
        &metrics_url,
        Some("application/openmetrics-text;version=1.0.0"),
    )
    .await;
    let (status, parsed) = run_tool("/usr/bin/python3", &["-c", PARSE_OPENMETRICS], &openmetrics);
    assert_eq!(status, 0, "OpenMetrics parser: {parsed}");
    // Honest peers keep a non-negative score with each other.
    let honest_score = score_of(&nodes[0], &nodes[1].peer_id).await.unwrap();
    assert!(honest_score >= 0.0, "honest peer scored {honest_score}");

    // Round 2: an honest member proposes through its operator API; the Byzantine members
    // answer with invalid shares. The certificate still reaches every honest node.
    let response = reqwest::Client::new()
        .post(format!("http://{}/proposals", nodes[2].http_addr))
        .json(&serde_json::json!({
            "slot": "gossip/mesh_n_low",
            "payload": "4",
            "affected_fraction": 0.5,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let started = Instant::now();
    let answer: serde_json::Value = response.json().await.unwrap();
    let id = x0_node::http::certificates::parse_id(answer["id"].as_str().unwrap()).unwrap();
    for (member, peer) in stock.iter().enumerate() {
        let bad = share_message(&dealt, member, id, b"still not the proposal");
        let _ = peer
            .publish(topics::SHARES, seal(peer, topics::SHARES, bad))
            .await;
    }
    let certificates = certificates_everywhere(&nodes, id, Duration::from_secs(5))
        .await
        .expect("the API proposal is certified on every honest node within 5 s");
    eprintln!(
        "round 2: certificate on all 7 honest nodes after {:?}",
        started.elapsed()
    );
    assert_one_valid_certificate(&certificates, &dealt);
    assert_eq!(certificates[0].proposal.payload, b"4");
    // The certificate came back over HTTP too, as `x0 propose --out` stores it.
    let (status, _, body) = http_get(
        &format!(
            "http://{}/certificates/{}",
            nodes[6].http_addr,
            answer["id"].as_str().unwrap()
        ),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let committee = dealt.section.committee().unwrap();
    x0_node::cli::certify::verify_certificate(&body, &committee).unwrap();
    shutdown(nodes).await;
}

/// A committee of four: one x0 node (member 3) and three stock peers holding members
/// 0..=2's shares. t = 1, so a certificate needs two shares.
async fn small_committee(dir: &Path, stock: &[StockPeer]) -> (Config, Dealt) {
    let mut configs = node_configs(dir, 1);
    let dealt = deal_into(&mut configs, stock, vec![]);
    (configs.remove(0), dealt)
}

async fn join(node: &Node, stock: &[StockPeer]) {
    for peer in stock {
        for topic in CERTIFY_TOPICS {
            peer.subscribe(topic);
        }
        peer.dial(devnet::tcp_address(node).await.unwrap());
    }
    let joined = eventually(Duration::from_secs(10), || async {
        common::mesh_peers(node, topics::SHARES).await.len() == stock.len()
    })
    .await;
    assert!(joined, "stock peers did not join the shares mesh");
}

fn shares_received(peer: &StockPeer, id: ProposalId) -> Vec<ShareMessage> {
    peer.received()
        .into_iter()
        .filter(|(topic, _)| topic == topics::SHARES)
        .filter_map(|(_, data)| {
            let sealed = Sealed::decode(&data).ok()?;
            ShareMessage::decode(sealed.envelope.payload).ok()
        })
        .filter(|share| share.id == id)
        .collect()
}

#[actix_rt::test]
async fn a_restarted_member_never_signs_twice_and_never_forgets_a_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let stock: Vec<StockPeer> = (0..3)
        .map(|_| StockPeer::spawn(common::Authenticity::Signed))
        .collect();
    let (config, dealt) = small_committee(dir.path(), &stock).await;
    let node = Node::start(config.clone()).await.unwrap();
    join(&node, &stock).await;

    // Proposal A: the node signs it; with member 0's share that makes a certificate.
    let a = proposal_by(&stock[0].peer_id, "charter/policy", b"A");
    stock[0]
        .publish_when_ready(
            topics::PROPOSALS,
            seal(&stock[0], topics::PROPOSALS, a.encode()),
        )
        .await;
    let signed_a = eventually(Duration::from_secs(5), || async {
        !shares_received(&stock[1], a.id()).is_empty()
    })
    .await;
    assert!(signed_a, "the node did not publish its share for A");
    let valid = share_message(&dealt, 0, a.id(), &signing_message(&a.id()));
    stock[0]
        .publish_when_ready(topics::SHARES, seal(&stock[0], topics::SHARES, valid))
        .await;
    let certified = eventually(Duration::from_secs(5), || async {
        let certify = node.certify.as_ref().unwrap();
        certify
            .send(GetCertificate(a.id()))
            .await
            .unwrap()
            .is_some()
    })
    .await;
    assert!(certified, "no certificate for A");
    let certificate_a = node
        .certify
        .as_ref()
        .unwrap()
        .send(GetCertificate(a.id()))
        .await
        .unwrap()
        .unwrap();
    node.shutdown().await.unwrap();

    // Restart on the same data dir: the certificate is still there, and a conflicting
    // proposal B for the same slot gets no share from this member.
    let node = Node::start(config).await.unwrap();
    let certify = node.certify.clone().unwrap();
    let kept = certify.send(GetCertificate(a.id())).await.unwrap();
    assert_eq!(
        kept.as_ref().map(|c| &c.signature),
        Some(&certificate_a.signature)
    );
    join(&node, &stock).await;
    let b = proposal_by(&stock[0].peer_id, "charter/policy", b"B");
    stock[0]
        .publish_when_ready(
            topics::PROPOSALS,
            seal(&stock[0], topics::PROPOSALS, b.encode()),
        )
        .await;
    let refused = eventually(Duration::from_secs(5), || async {
        let (_, _, metrics) = http_get(&format!("http://{}/metrics", node.http_addr), None).await;
        sample_value(
            &metrics,
            "x0_certify_dropped_total{what=\"slot_already_signed\"}",
        ) == Some(1.0)
    })
    .await;
    assert!(refused, "the restarted node did not refuse B");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        shares_received(&stock[1], b.id()).is_empty(),
        "the restarted member signed a conflicting proposal"
    );
    // A proposal for another slot is still signed after the restart.
    let c = proposal_by(&stock[0].peer_id, "gossip/mesh_n", b"C");
    stock[0]
        .publish_when_ready(
            topics::PROPOSALS,
            seal(&stock[0], topics::PROPOSALS, c.encode()),
        )
        .await;
    let signed_c = eventually(Duration::from_secs(5), || async {
        !shares_received(&stock[1], c.id()).is_empty()
    })
    .await;
    assert!(signed_c, "the restarted member stopped signing altogether");
    node.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn two_certificates_for_one_slot_halt_it_on_every_node() {
    let Committee {
        nodes,
        stock,
        dealt,
        _dir,
    } = committee_mesh(4, 3).await;
    // n = 7, t = 2: members 0..=2 (the stock peers, all faulty here) sign two proposals
    // for one slot; three shares each make two valid certificates.
    let committee = dealt.section.committee().unwrap();
    let scheme: &BlsCommittee = committee.scheme(ChangeClass::Standard);
    let certify = |proposal: &Proposal| {
        let message = signing_message(&proposal.id());
        let shares: Vec<_> = (0..3)
            .map(|m| (m as u16, secret(&dealt, m).sign(&message)))
            .collect();
        CertificateMessage {
            proposal: proposal.clone(),
            signers: vec![0, 1, 2],
            signature: scheme.combine(&shares).unwrap().to_bytes(),
        }
    };
    let a = proposal_by(&stock[0].peer_id, "gossip/mesh_n", b"6");
    let b = proposal_by(&stock[0].peer_id, "gossip/mesh_n", b"12");
    // The faulty members also publish their shares, so nodes can name them.
    for proposal in [&a, &b] {
        for (member, peer) in stock.iter().enumerate() {
            let share = share_message(
                &dealt,
                member,
                proposal.id(),
                &signing_message(&proposal.id()),
            );
            peer.publish_when_ready(topics::SHARES, seal(peer, topics::SHARES, share))
                .await;
        }
    }
    stock[1]
        .publish_when_ready(topics::CERTIFICATES, certify(&a).encode())
        .await;
    stock[2]
        .publish_when_ready(topics::CERTIFICATES, certify(&b).encode())
        .await;
    for (index, node) in nodes.iter().enumerate() {
        let certify = node.certify.as_ref().unwrap();
        let halted = eventually(Duration::from_secs(5), || async {
            certify.send(GetCertifyStatus).await.unwrap().0.halted
                == vec![(1, "gossip/mesh_n".to_string())]
        })
        .await;
        assert!(halted, "node {index} did not halt the slot");
        let (_, _, metrics) = http_get(&format!("http://{}/metrics", node.http_addr), None).await;
        assert_eq!(
            sample_value(&metrics, "x0_certificate_conflicts_total"),
            Some(1.0)
        );
        assert_eq!(
            sample_value(&metrics, "x0_evidence_total{kind=\"double_signed\"}"),
            Some(1.0)
        );
        let (_, _, status) = http_get(&format!("http://{}/status", node.http_addr), None).await;
        let status: serde_json::Value = serde_json::from_str(&status).unwrap();
        assert_eq!(status["certify"]["halted_slots"][0], "1/gossip/mesh_n");
    }
    // The halted slot takes no new proposals from the operator either.
    let response = reqwest::Client::new()
        .post(format!("http://{}/proposals", nodes[0].http_addr))
        .json(&serde_json::json!({
            "slot": "gossip/mesh_n", "payload": "9", "affected_fraction": 0.1,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 422);
    let body = response.text().await.unwrap();
    assert!(body.contains("halted"), "{body}");
    shutdown(nodes).await;
}

/// Collects what an actor publishes, standing in for the network actor.
struct Published(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl actix::Actor for Published {
    type Context = actix::Context<Self>;
}

impl actix::Handler<x0_actors::messages::Publish> for Published {
    type Result = Result<(), x0_actors::messages::PublishError>;

    fn handle(
        &mut self,
        publish: x0_actors::messages::Publish,
        _: &mut Self::Context,
    ) -> Self::Result {
        self.0.lock().unwrap().push(publish.topic);
        Ok(())
    }
}

/// The store refuses a second signature for a slot, and the node then publishes no share,
/// even when the certify core itself has forgotten what it signed (its restored memory is
/// empty here, while the redb file remembers). The simulator's store applies the same rule
/// through the same interpreter (x0_core::certify::effects): its own test is in the
/// simulator's certify shell; here both stores answer the same refusal for the same write.
#[actix_rt::test]
async fn a_second_signature_for_a_slot_is_refused_by_the_store_and_never_published() {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    use actix::Actor;
    use rand::SeedableRng;
    use x0_actors::certify::{
        AnomalyWatch, CertifyActor, CertifyMetrics, Journal, JournalError, Propose,
    };
    use x0_core::anomaly::{AnomalyConfig, AnomalyLimits};
    use x0_core::certify::committee::Committee;
    use x0_core::certify::effects::MemoryJournal;
    use x0_core::certify::node::CertifySetup;
    use x0_core::certify::scheme::BlsMember;
    use x0_node::journal::StoreJournal;
    use x0_node::store::Store;

    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let journal = StoreJournal(store.clone());
    let slot = (1, "gossip/mesh_n".to_string());
    let earlier = ProposalId([9; 32]);
    let other = ProposalId([8; 32]);
    journal.record_signed(&slot, &earlier, &[1; 96]).unwrap();

    // The simulator's store and the node's refuse the same second write alike.
    let mut simulated = MemoryJournal::default();
    simulated.record_signed(&slot, &earlier).unwrap();
    assert_eq!(
        journal.record_signed(&slot, &other, &[2; 96]),
        Err(JournalError::SlotAlreadySigned)
    );
    assert_eq!(
        simulated.record_signed(&slot, &other),
        Err(JournalError::SlotAlreadySigned)
    );
    assert_eq!(journal.record_signed(&slot, &earlier, &[1; 96]), Ok(()));
    assert_eq!(simulated.record_signed(&slot, &earlier), Ok(()));

    // A member whose core lost its memory proposes on the slot: it signs, the store
    // refuses, and only the proposal goes out.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let standard = blsttc::SecretKeySet::random(1, &mut rng);
    let supermajority = blsttc::SecretKeySet::random(2, &mut rng);
    let members: Vec<PeerKey> = (0..4)
        .map(|_| PeerKey(PeerId::random().to_bytes()))
        .collect();
    let committee = Committee::new(
        1,
        members.clone(),
        standard.public_keys(),
        supermajority.public_keys(),
        vec![],
    )
    .unwrap();
    let setup = CertifySetup {
        committee: Arc::new(committee),
        own_key: members[0].clone(),
        shares: Some((
            BlsMember::new(0, standard.secret_key_share(0)),
            BlsMember::new(0, supermajority.secret_key_share(0)),
        )),
        signed: BTreeMap::new(),
        certificates: Vec::new(),
    };
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = CertifyMetrics::register(&mut registry);
    let anomaly = AnomalyWatch::new(
        AnomalyLimits::new(AnomalyConfig::default()).unwrap(),
        4,
        &mut registry,
    );
    let topics_published = Arc::new(Mutex::new(Vec::new()));
    let network = Published(topics_published.clone()).start();
    let actor = CertifyActor::new(
        setup,
        Box::new(StoreJournal(store.clone())),
        network.recipient(),
        Config::embedded().certify.actor_config(),
        metrics.clone(),
        anomaly,
    )
    .start();
    let proposed = actor
        .send(Propose {
            slot: slot.1.clone(),
            payload: b"8".to_vec(),
            affected_ppm: 0,
        })
        .await
        .unwrap();
    assert!(proposed.is_ok(), "{proposed:?}");
    let proposal_out = eventually(Duration::from_secs(5), || {
        let published = topics_published.clone();
        async move {
            published
                .lock()
                .unwrap()
                .iter()
                .any(|t| t == topics::PROPOSALS)
        }
    })
    .await;
    assert!(proposal_out, "the proposal was not published");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let published = topics_published.lock().unwrap().clone();
    assert!(
        !published.iter().any(|t| t == topics::SHARES),
        "a share went out for an already signed slot: {published:?}"
    );
    assert_eq!(metrics.journal_failures.get(), 1);
    assert_eq!(store.signed_slots().unwrap().get(&slot), Some(&earlier));
}
