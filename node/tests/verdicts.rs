//! REJECT only what is invalid in itself, IGNORE what depends on time, order or local state
//! (docs/PROTOCOL.md, "Gossip verdicts"), on real nodes: real libp2p swarms and gossipsub
//! peer scores, real biscuit tokens and ed25519 node keys, real redb stores. The attackers
//! are stock libp2p gossipsub peers (nothing of x0 in them) that build messages exactly as
//! a node does.

mod common;

use std::path::Path;
use std::time::Duration;

use biscuit_auth::KeyPair;
use common::{eventually, http_get, mesh_peers, sample_value, score_of, test_config, StockPeer};
use libp2p::PeerId;
use x0_actors::messages::PeerKey;
use x0_actors::probe::GetProbeStats;
use x0_actors::wall_clock::unix_ms_now;
use x0_core::auth::envelope::Envelope;
use x0_core::auth::token;
use x0_core::ballot::wire::{Attestation, Message};
use x0_core::probe::Probe;
use x0_core::topics;
use x0_node::config::Config;
use x0_node::devnet;
use x0_node::network::Dial;
use x0_node::Node;

async fn metrics(node: &Node) -> String {
    http_get(&format!("http://{}/metrics", node.http_addr), None)
        .await
        .2
}

async fn metric(node: &Node, sample: &str) -> f64 {
    sample_value(&metrics(node).await, sample).unwrap_or(0.0)
}

/// Every Reject `node` counted on `topic`, whatever the reason.
async fn rejects_on(node: &Node, topic: &str) -> f64 {
    let prefix = format!("x0_gossip_messages_rejected_total{{topic=\"{topic}\"");
    metrics(node)
        .await
        .lines()
        .filter(|line| line.starts_with(&prefix))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The lowest score each judge gave each judged peer, sampled as the run goes: a score
/// dips right after a Reject and decays back within seconds, so the end value alone hides
/// a graylisting.
struct LowestScores(Vec<(&'static str, f64)>);

impl LowestScores {
    fn new() -> LowestScores {
        LowestScores(Vec::new())
    }

    async fn sample(&mut self, pairs: &[(&Node, &Node, &'static str)]) {
        for (judge, judged, name) in pairs {
            let score = score_of(judge, &judged.peer_id).await.expect("connected");
            match self.0.iter_mut().find(|(n, _)| n == name) {
                Some((_, lowest)) => *lowest = lowest.min(score),
                None => self.0.push((name, score)),
            }
        }
    }

    fn assert_above(&self, threshold: f64, what: &str) {
        for (name, lowest) in &self.0 {
            assert!(
                *lowest > threshold,
                "{name}: the score fell to {lowest}, at or below the graylist threshold {threshold}: {what} (lowest scores: {:?})",
                self.0
            );
        }
    }
}

async fn dial(from: &Node, to: &Node) {
    let address = devnet::tcp_address(to).await.unwrap();
    from.network.send(Dial(address)).await.unwrap().unwrap();
}

/// Waits until `node`'s mesh for `topic` holds every peer in `peers`.
async fn meshed(node: &Node, topic: &str, peers: &[PeerId]) {
    let wanted: Vec<String> = peers.iter().map(PeerId::to_string).collect();
    let ok = eventually(Duration::from_secs(15), || async {
        let mesh = mesh_peers(node, topic).await;
        wanted.iter().all(|peer| mesh.contains(peer))
    })
    .await;
    assert!(
        ok,
        "{} never meshed with {wanted:?} on {topic}",
        node.peer_id
    );
}

/// Rounds of the re-wrap attack: three Rejects graylist a peer, so twenty leave no doubt.
const ROUNDS: u64 = 20;

/// The attack of issue 18: a member re-wraps one signed envelope (one nonce) in two gossip
/// messages (two sequence numbers, so two message ids) and hands each to a different
/// neighbour. Topology, with the member X running two swarms on its one key:
///
/// ```text
///   X1 ── A ── C ── B ── X2        A, B, C: honest x0 nodes; X: a committee member
/// ```
///
/// X2 hands copy 2 to B while X1 hands copy 1 to A. A and B each see their copy first and
/// admit it; both forward to C, which admits the first to arrive and refuses the second as
/// a replay. On the old code that refusal was a Reject charged to the honest relay that
/// forwarded it (A or B); twenty rounds graylist it. Now it is an Ignore: every honest
/// relay keeps its score, and C still admits each envelope exactly once.
#[actix_rt::test]
async fn a_re_wrapped_envelope_costs_the_honest_relays_nothing_and_is_admitted_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut configs: Vec<Config> = ["a", "b", "c", "x"]
        .iter()
        .map(|name| test_config(&dir.path().join(name)))
        .collect();
    devnet::with_committee(&mut configs, dir.path(), vec![]).unwrap();
    let graylist = configs[2].gossip.score.graylist_threshold;
    // X's seat, key and credential: dealt like any member's, but X runs stock peers.
    let x_config = configs.pop().unwrap();
    let x_key = x0_node::identity::load_or_create(&x_config.data_dir()).unwrap();
    let authority = devnet::devnet_authority(dir.path()).unwrap();
    let x_credential = read_credential(&x_config.data_dir(), &authority);

    let mut nodes = Vec::new();
    for config in configs {
        nodes.push(Node::start(config).await.unwrap());
    }
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    dial(c, a).await;
    dial(c, b).await;
    let x1 = StockPeer::spawn_with_key(x_key.clone());
    let x2 = StockPeer::spawn_with_key(x_key.clone());
    for (stock, node) in [(&x1, a), (&x2, b)] {
        stock.subscribe(topics::BALLOTS);
        stock.dial(devnet::tcp_address(node).await.unwrap());
    }
    let x = x1.peer_id;
    assert_eq!(x, x2.peer_id, "one key, two swarms");
    meshed(a, topics::BALLOTS, &[x, c.peer_id]).await;
    meshed(b, topics::BALLOTS, &[x, c.peer_id]).await;
    meshed(c, topics::BALLOTS, &[a.peer_id, b.peer_id]).await;

    let pairs = [
        (c, a, "C scores A"),
        (c, b, "C scores B"),
        (a, c, "A scores C"),
        (b, c, "B scores C"),
    ];
    let mut lowest = LowestScores::new();
    let admitted = "x0_auth_admitted_total{operation=\"vote\"}";
    let replays = "x0_auth_ignored_total{reason=\"replay\"}";
    let access = token::derive_access(
        &x_credential,
        &authority.public(),
        unix_ms_now() / 1000,
        3600,
    )
    .unwrap();
    for round in 1..=ROUNDS {
        // A fresh, valid outage attestation by X, in one envelope with one nonce.
        let now_ms = unix_ms_now();
        let mut attestation = Attestation {
            attester: PeerKey(x.to_bytes()),
            down_since_unix_ms: now_ms - 600_000,
            attested_at_unix_ms: now_ms,
            signature: Vec::new(),
        };
        attestation.signature = x_key.sign(&attestation.signed_bytes()).unwrap();
        let envelope = common::seal_envelope(
            &x_key,
            topics::BALLOTS,
            Envelope {
                token: &access,
                nonce: rand::random(),
                timestamp_unix_ms: now_ms,
                payload: &Message::Attestation(attestation).encode(),
            },
        );
        // Two gossip messages around it, one to each neighbour, at once.
        tokio::join!(
            x2.publish_when_ready(topics::BALLOTS, envelope.clone()),
            x1.publish_when_ready(topics::BALLOTS, envelope),
        );
        let reached = eventually(Duration::from_secs(10), || async {
            metric(c, admitted).await == round as f64
        })
        .await;
        assert!(reached, "round {round}: C never admitted the envelope");
        lowest.sample(&pairs).await;
    }
    // C saw every envelope twice (once through A, once through B) and refused the second
    // copy as a replay each time.
    let counted = eventually(Duration::from_secs(10), || async {
        metric(c, replays).await == ROUNDS as f64
    })
    .await;
    // Give late copies and a heartbeat of scoring time to land before judging.
    tokio::time::sleep(Duration::from_secs(2)).await;
    lowest.sample(&pairs).await;
    lowest.assert_above(graylist, "an honest relay paid for the attacker's re-wrap");
    assert_eq!(
        rejects_on(c, topics::BALLOTS).await,
        0.0,
        "C rejected a ballots message: it charged a relay"
    );
    assert!(
        counted,
        "C counted {} ignored replays, not {ROUNDS}",
        metric(c, replays).await
    );
    assert_eq!(
        metric(c, admitted).await,
        ROUNDS as f64,
        "C admits each envelope exactly once"
    );
    for node in nodes {
        node.shutdown().await.unwrap();
    }
}

/// The credential devnet wrote into a member's data dir.
fn read_credential(data_dir: &Path, authority: &KeyPair) -> Vec<u8> {
    let text =
        std::fs::read_to_string(data_dir.join(devnet::CREDENTIAL_FILE_NAME)).expect("credential");
    biscuit_auth::Biscuit::from_base64(text.trim(), authority.public())
        .unwrap()
        .to_vec()
        .unwrap()
}

/// Probes a relay forwards in good faith but the next hop finds stale.
const STALE_PROBES: u64 = 6;

/// A probe stamped near the age limit is fresh at one hop and stale at the next. Here the
/// two hops differ by config rather than by a few milliseconds of transit, so the test
/// is deterministic: A keeps the default `probe.age_ms_max` (60 s), C allows 20 s (as if
/// its clock ran 40 s ahead of A's). X's probes stamped 40 s ago pass A, which forwards
/// them; C refuses them as stale. On the old code each was a Reject charged to A, and six
/// graylist it; now C ignores them and A keeps its score.
///
/// ```text
///   X ── A ── C
/// ```
#[actix_rt::test]
async fn a_probe_stale_at_the_next_hop_costs_the_honest_relay_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let a = Node::start(test_config(&dir.path().join("a")))
        .await
        .unwrap();
    let mut c_config = test_config(&dir.path().join("c"));
    c_config.probe.age_ms_max = 20_000;
    let graylist = c_config.gossip.score.graylist_threshold;
    let c = Node::start(c_config).await.unwrap();
    dial(&c, &a).await;
    let x = StockPeer::spawn(common::Authenticity::Signed);
    x.subscribe(topics::PROBE);
    x.dial(devnet::tcp_address(&a).await.unwrap());
    meshed(&a, topics::PROBE, &[x.peer_id, c.peer_id]).await;
    meshed(&c, topics::PROBE, &[a.peer_id]).await;

    let probe = |sequence: u64, age_ms: u64| {
        Probe {
            sequence,
            published_at_unix_ms: unix_ms_now() - age_ms,
            body: vec![],
        }
        .encode()
    };
    // The path works: a fresh probe crosses A and reaches C.
    x.publish_when_ready(topics::PROBE, probe(0, 0)).await;
    let delivered = |node: &Node, count: u64| {
        let probe = node.probe.clone();
        async move {
            eventually(Duration::from_secs(10), || async {
                probe.send(GetProbeStats).await.unwrap().delivered == count
            })
            .await
        }
    };
    assert!(delivered(&c, 1).await, "a fresh probe never reached C");

    let stale = format!(
        "x0_gossip_messages_ignored_total{{topic=\"{}\",reason=\"timestamp_stale\"}}",
        topics::PROBE
    );
    let pairs = [(&c, &a, "C scores A")];
    let mut lowest = LowestScores::new();
    for sequence in 1..=STALE_PROBES {
        x.publish_when_ready(topics::PROBE, probe(sequence, 40_000))
            .await;
        // Until C has judged it, whichever way (the old code rejected it).
        eventually(Duration::from_secs(3), || async {
            metric(&c, &stale).await + rejects_on(&c, topics::PROBE).await >= sequence as f64
        })
        .await;
        lowest.sample(&pairs).await;
    }
    assert!(
        delivered(&a, 1 + STALE_PROBES).await,
        "A did not take every probe as fresh"
    );
    let ignored = eventually(Duration::from_secs(10), || async {
        metric(&c, &stale).await == STALE_PROBES as f64
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    lowest.sample(&pairs).await;
    lowest.assert_above(
        graylist,
        "the relay paid for probes that were fresh when it forwarded them",
    );
    assert_eq!(rejects_on(&c, topics::PROBE).await, 0.0);
    assert!(
        ignored,
        "C ignored {} stale probes, not {STALE_PROBES}",
        metric(&c, &stale).await
    );
    assert_eq!(
        c.probe.send(GetProbeStats).await.unwrap().delivered,
        1,
        "C delivered a stale probe"
    );
    a.shutdown().await.unwrap();
    c.shutdown().await.unwrap();
}
