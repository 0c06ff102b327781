//! The sync state machine between nodes on a loopback network in this test: requests and
//! responses are handed over directly, in order; each node's "cores" accept the items a
//! test calls valid, reject those it calls invalid and ignore those it calls stale.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::item::{Item, ItemKey, Kind};
use super::machine::{Action, SyncConfig, SyncCore};
use super::wire::{Request, Response};
use crate::ids::{PeerKey, Verdict};

fn peer(n: u8) -> PeerKey {
    PeerKey(vec![n; 38])
}

fn item(kind: Kind, n: u32) -> Item {
    let mut bytes = n.to_be_bytes().to_vec();
    bytes.push(kind.code());
    Item { kind, bytes }
}

/// How a node's cores judge an item.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Judged {
    Valid,
    Invalid,
    Stale,
    /// Refused as waiting on another message (a vote before its open) the first time,
    /// valid from then on.
    NotYetThenValid,
}

/// What a node does with a request instead of answering it honestly.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Serving {
    Honest,
    /// Answers every fetch with an item nobody asked for.
    Unrequested,
    /// Answers with bytes that do not decode.
    Garbage,
    /// Never answers (the request times out).
    Silent,
}

struct Node {
    core: SyncCore,
    store: BTreeMap<ItemKey, Vec<u8>>,
    serving: Serving,
    delivered: Vec<ItemKey>,
    penalties: Vec<(PeerKey, &'static str)>,
    dropped: BTreeMap<&'static str, usize>,
}

struct Net {
    nodes: BTreeMap<PeerKey, Node>,
    judge: BTreeMap<ItemKey, Judged>,
    now_ms: u64,
    /// (from, to, request id, bytes) requests in flight.
    requests: VecDeque<(PeerKey, PeerKey, u64, Vec<u8>)>,
    requests_seen: usize,
    /// Requests sent, by (client, server).
    requests_by: BTreeMap<(u8, u8), usize>,
}

impl Net {
    fn new(config: &SyncConfig, count: u8) -> Net {
        let nodes = (1..=count)
            .map(|n| {
                (
                    peer(n),
                    Node {
                        core: SyncCore::new(config.clone(), 1),
                        store: BTreeMap::new(),
                        serving: Serving::Honest,
                        delivered: Vec::new(),
                        penalties: Vec::new(),
                        dropped: BTreeMap::new(),
                    },
                )
            })
            .collect();
        Net {
            nodes,
            judge: BTreeMap::new(),
            now_ms: 1_000_000,
            requests: VecDeque::new(),
            requests_seen: 0,
            requests_by: BTreeMap::new(),
        }
    }

    /// `node` holds `item` (made it, or took it from gossip).
    fn hold(&mut self, node: u8, item: &Item, judged: Judged) {
        let key = item.key();
        self.judge.insert(key, judged);
        let node = self.nodes.get_mut(&peer(node)).unwrap();
        node.store.insert(key, item.bytes.clone());
        let mut out = Vec::new();
        node.core.on_held(key, &mut out);
        assert!(out.is_empty());
    }

    fn connect(&mut self, a: u8, b: u8) {
        for (me, them) in [(a, b), (b, a)] {
            let mut out = Vec::new();
            let now = self.now_ms;
            self.node(me).core.on_connected(peer(them), now, &mut out);
            self.carry_out(me, out);
        }
    }

    fn node(&mut self, n: u8) -> &mut Node {
        self.nodes.get_mut(&peer(n)).unwrap()
    }

    fn carry_out(&mut self, at: u8, actions: Vec<Action>) {
        let me = peer(at);
        for action in actions {
            match action {
                Action::Request {
                    peer: to,
                    id,
                    bytes,
                } => {
                    self.requests_seen += 1;
                    *self.requests_by.entry((at, Net::index(&to))).or_default() += 1;
                    self.requests.push_back((me.clone(), to, id, bytes));
                }
                Action::Deliver {
                    delivery,
                    from: _,
                    item,
                } => {
                    let key = item.key();
                    let seen_before = self.nodes[&me].delivered.contains(&key);
                    let verdict = match self.judge.get(&key) {
                        Some(Judged::Valid) => Verdict::Accept,
                        Some(Judged::NotYetThenValid) if seen_before => Verdict::Accept,
                        Some(Judged::NotYetThenValid) => Verdict::Ignore {
                            reason: "unknown_ballot",
                        },
                        Some(Judged::Stale) => Verdict::Ignore { reason: "stale" },
                        Some(Judged::Invalid) | None => Verdict::Reject {
                            reason: "invalid_share",
                        },
                    };
                    let now = self.now_ms;
                    let node = self.nodes.get_mut(&me).unwrap();
                    node.delivered.push(key);
                    if verdict == Verdict::Accept {
                        node.store.insert(key, item.bytes.clone());
                    }
                    let mut out = Vec::new();
                    node.core.on_verdict(delivery, verdict, now, &mut out);
                    self.carry_out(at, out);
                }
                Action::Penalize { peer, reason, .. } => self
                    .nodes
                    .get_mut(&me)
                    .unwrap()
                    .penalties
                    .push((peer, reason)),
                Action::Dropped { what } => {
                    *self
                        .nodes
                        .get_mut(&me)
                        .unwrap()
                        .dropped
                        .entry(what)
                        .or_default() += 1
                }
            }
        }
    }

    fn index(key: &PeerKey) -> u8 {
        key.0[0]
    }

    /// Hands over requests and responses until none is left.
    fn settle(&mut self) {
        let mut steps = 0;
        while let Some((from, to, id, bytes)) = self.requests.pop_front() {
            steps += 1;
            assert!(steps < 100_000, "the exchange does not settle");
            let now = self.now_ms;
            let server = self.nodes.get_mut(&to).unwrap();
            let store = server.store.clone();
            let serving = server.serving;
            let mut out = Vec::new();
            let honest =
                server
                    .core
                    .on_request(&from, &bytes, now, |key| store.get(key).cloned(), &mut out);
            self.carry_out(Net::index(&to), out);
            let reply = match (serving, Request::decode(&bytes)) {
                (Serving::Silent, _) => continue,
                (Serving::Garbage, _) => Some(vec![1, 4, 0, 9]),
                (Serving::Unrequested, Ok(Request::Fetch(_))) => {
                    Some(Response::Items(vec![item(Kind::Share, 999_999)]).encode())
                }
                _ => honest,
            };
            let Some(reply) = reply else { continue };
            let mut out = Vec::new();
            let client = self.nodes.get_mut(&from).unwrap();
            client.core.on_response(id, &reply, now, &mut out);
            self.carry_out(Net::index(&from), out);
        }
    }

    /// Advances the clock, ticking every node, and settles.
    fn run_for(&mut self, ms: u64) {
        let end = self.now_ms + ms;
        while self.now_ms < end {
            self.now_ms += 500;
            let peers: Vec<u8> = self.nodes.keys().map(Net::index).collect();
            for n in peers {
                let now = self.now_ms;
                let mut out = Vec::new();
                self.node(n).core.tick(now, now / 7, &mut out);
                self.carry_out(n, out);
            }
            self.settle();
        }
    }

    fn holds(&mut self, n: u8) -> BTreeSet<ItemKey> {
        self.node(n).store.keys().copied().collect()
    }
}

fn config() -> SyncConfig {
    SyncConfig::default()
}

#[test]
fn a_node_that_missed_everything_gets_every_valid_item_from_one_peer() {
    let mut net = Net::new(&config(), 2);
    // Every kind a core takes in (ballot certificates are not fetched yet), 250 each: one
    // exchange within the server's request burst.
    let kinds: Vec<Kind> = Kind::ALL
        .into_iter()
        .filter(|kind| kind.topic().is_some())
        .collect();
    for n in 0..1_250 {
        let kind = kinds[n as usize % kinds.len()];
        net.hold(1, &item(kind, n), Judged::Valid);
    }
    net.connect(1, 2);
    net.settle();
    assert_eq!(net.holds(2), net.holds(1));
    assert_eq!(net.node(2).core.summary().held, 1_250);
    assert!(net.node(2).penalties.is_empty() && net.node(1).penalties.is_empty());
    // Each item was fetched once.
    let delivered = net.node(2).delivered.clone();
    assert_eq!(delivered.len(), 1_250);
    // Once in step, a round is a summary each way and nothing else.
    let before = net.requests_seen;
    net.run_for(30_000);
    let rounds = net.requests_seen - before;
    assert!(
        rounds > 0 && rounds <= 2 * 30_000 / 5_000 + 2,
        "{rounds} requests"
    );
    assert_eq!(net.node(2).delivered.len(), 1_250);
}

#[test]
fn items_spread_through_a_line_of_nodes_both_ways() {
    let mut net = Net::new(&config(), 5);
    net.hold(1, &item(Kind::Proposal, 1), Judged::Valid);
    net.hold(5, &item(Kind::BallotMessage, 2), Judged::Valid);
    net.hold(3, &item(Kind::RevocationList, 3), Judged::Valid);
    for n in 1..5 {
        net.connect(n, n + 1);
    }
    net.run_for(60_000);
    let all = net.holds(3);
    assert_eq!(all.len(), 3);
    for n in 1..=5 {
        assert_eq!(net.holds(n), all, "node {n}");
    }
}

#[test]
fn an_invalid_item_costs_its_server_and_a_stale_one_costs_nothing() {
    let mut net = Net::new(&config(), 2);
    let bad = item(Kind::Share, 1);
    let stale = item(Kind::Share, 2);
    let good = item(Kind::Share, 3);
    net.hold(1, &bad, Judged::Invalid);
    net.hold(1, &stale, Judged::Stale);
    net.hold(1, &good, Judged::Valid);
    net.connect(1, 2);
    net.settle();
    assert_eq!(net.node(2).penalties, vec![(peer(1), "invalid_share")]);
    assert_eq!(net.holds(2), BTreeSet::from([good.key()]));
    // The refused stale item is not fetched again while it is refused; the invalid one is
    // fetched again (it is the server's to stop serving) and costs it again.
    net.run_for(60_000);
    let delivered = net.node(2).delivered.clone();
    assert_eq!(delivered.iter().filter(|k| **k == stale.key()).count(), 1);
    assert!(delivered.iter().filter(|k| **k == bad.key()).count() >= 2);
    assert!(net.node(2).penalties.iter().all(|(p, _)| *p == peer(1)));
    // After refused_ttl_ms the stale item is asked for again.
    net.run_for(config().refused_ttl_ms);
    let delivered = net.node(2).delivered.clone();
    assert!(delivered.iter().filter(|k| **k == stale.key()).count() >= 2);
}

#[test]
fn kinds_no_core_takes_in_are_never_fetched() {
    let mut net = Net::new(&config(), 2);
    net.hold(1, &item(Kind::BallotCertificate, 1), Judged::Valid);
    net.hold(1, &item(Kind::Certificate, 2), Judged::Valid);
    net.connect(1, 2);
    net.run_for(30_000);
    assert_eq!(
        net.holds(2),
        BTreeSet::from([item(Kind::Certificate, 2).key()])
    );
    assert_eq!(net.node(2).delivered.len(), 1);
}

#[test]
fn an_item_refused_as_not_yet_is_asked_for_again_at_the_next_round() {
    let mut net = Net::new(&config(), 2);
    let vote = item(Kind::BallotMessage, 1);
    net.hold(1, &vote, Judged::NotYetThenValid);
    net.connect(1, 2);
    net.settle();
    assert!(net.holds(2).is_empty());
    // Not set aside for refused_ttl_ms: one round later it is fetched and taken.
    net.run_for(2 * config().round_interval_ms);
    assert_eq!(net.holds(2), BTreeSet::from([vote.key()]));
    assert!(config().refused_ttl_ms > 10 * config().round_interval_ms);
}

#[test]
fn a_server_that_keeps_serving_invalid_items_is_shunned_until_its_penalty_decays() {
    let mut net = Net::new(&config(), 2);
    for n in 0..10 {
        net.hold(1, &item(Kind::Share, n), Judged::Invalid);
    }
    net.connect(1, 2);
    net.settle();
    net.run_for(120_000);
    // Three penalties reach the shunning level; no round starts with it until it decays.
    let penalties = net.node(2).penalties.len();
    assert!(penalties >= 3, "{penalties}");
    let asked = |net: &Net| net.requests_by.get(&(2, 1)).copied().unwrap_or(0);
    let before = asked(&net);
    net.run_for(10_000);
    assert_eq!(asked(&net), before, "the shunned server is not asked");
    // Its penalty decays (0.99 per second): after a few minutes it is asked again.
    net.run_for(300_000);
    assert!(asked(&net) > before);
}

#[test]
fn a_penalised_server_that_reconnects_keeps_its_penalty() {
    let mut net = Net::new(&config(), 2);
    for n in 0..10 {
        net.hold(1, &item(Kind::Share, n), Judged::Invalid);
    }
    net.connect(1, 2);
    net.settle();
    net.run_for(60_000);
    assert!(net.node(2).penalties.len() >= 3);
    let now = net.now_ms;
    let before = net.node(2).core.penalties(now);
    net.node(2).core.on_disconnected(&peer(1));
    assert!(net.node(2).core.penalties(now).is_empty());
    let asked = |net: &Net| net.requests_by.get(&(2, 1)).copied().unwrap_or(0);
    let before_asked = asked(&net);
    net.connect(1, 2);
    let after = net.node(2).core.penalties(now);
    assert_eq!(
        after, before,
        "leaving and coming back washed the offence away"
    );
    assert!(after[0].1 >= config().penalty_shun_min);
    net.settle();
    assert_eq!(
        asked(&net),
        before_asked,
        "a shunned peer is not asked on its return"
    );
}

#[test]
fn a_server_answering_with_unrequested_items_or_garbage_is_penalised_and_nothing_is_delivered() {
    for (serving, reason) in [
        (Serving::Unrequested, "sync_unrequested"),
        (Serving::Garbage, "sync_malformed"),
    ] {
        let mut net = Net::new(&config(), 2);
        net.hold(1, &item(Kind::Certificate, 1), Judged::Valid);
        net.node(1).serving = serving;
        net.connect(1, 2);
        net.settle();
        assert!(net.node(2).delivered.is_empty(), "{serving:?}");
        assert_eq!(net.node(2).penalties[0], (peer(1), reason), "{serving:?}");
    }
}

#[test]
fn a_silent_server_times_out_at_no_cost_and_another_peer_serves() {
    let mut net = Net::new(&config(), 3);
    let wanted = item(Kind::Proposal, 7);
    net.hold(1, &wanted, Judged::Valid);
    net.hold(3, &wanted, Judged::Valid);
    net.node(1).serving = Serving::Silent;
    net.connect(1, 2);
    net.settle();
    assert!(net.holds(2).is_empty());
    net.connect(2, 3);
    net.run_for(30_000);
    assert!(net.holds(2).contains(&wanted.key()));
    assert!(net.node(2).penalties.is_empty());
    assert!(
        net.node(2)
            .dropped
            .get("request_failed")
            .copied()
            .unwrap_or(0)
            >= 1
    );
}

#[test]
fn a_peer_flooding_requests_gets_busy_answers_within_its_budget() {
    let config = config();
    let mut net = Net::new(&config, 2);
    net.connect(1, 2);
    net.settle();
    let mut out = Vec::new();
    let now = net.now_ms + 10_000;
    let mut busy = 0;
    let mut answered = 0;
    for _ in 0..1_000 {
        let reply = net
            .node(1)
            .core
            .on_request(
                &peer(2),
                &Request::Summary.encode(),
                now,
                |_| None,
                &mut out,
            )
            .unwrap();
        match Response::decode(&reply).unwrap() {
            Response::Busy { retry_after_ms } => {
                assert!(retry_after_ms > 0);
                busy += 1
            }
            _ => answered += 1,
        }
    }
    assert_eq!(answered, config.peer_request_burst as usize);
    assert_eq!(busy, 1_000 - answered);
    assert!(!out.iter().any(|a| matches!(a, Action::Penalize { .. })));
    // A second later the budget has refilled by the rate.
    let later = now + 1_000;
    let answered_later = (0..100)
        .filter(|_| {
            let reply = net
                .node(1)
                .core
                .on_request(
                    &peer(2),
                    &Request::Summary.encode(),
                    later,
                    |_| None,
                    &mut out,
                )
                .unwrap();
            !matches!(Response::decode(&reply).unwrap(), Response::Busy { .. })
        })
        .count();
    assert_eq!(answered_later, config.peer_request_per_s_for_test());
}

impl SyncConfig {
    fn peer_request_per_s_for_test(&self) -> usize {
        self.peer_requests_per_s as usize
    }
}

#[test]
fn a_malformed_request_is_not_answered_and_costs_its_sender() {
    let mut net = Net::new(&config(), 2);
    net.connect(1, 2);
    net.settle();
    let mut out = Vec::new();
    let now = net.now_ms;
    let reply = net
        .node(1)
        .core
        .on_request(&peer(2), &[1, 99], now, |_| None, &mut out);
    assert_eq!(reply, None);
    assert!(matches!(
        &out[..],
        [Action::Penalize { peer: p, reason: "sync_malformed", .. }] if *p == peer(2)
    ));
}

#[test]
fn a_peer_listing_keys_it_never_serves_holds_at_most_its_share_of_the_wanted_table() {
    let config = SyncConfig {
        wanted_max: 64,
        wanted_per_peer_max: 16,
        ..SyncConfig::default()
    };
    let mut net = Net::new(&config, 3);
    // Node 1 lists 200 keys it cannot load (its store is empty): every fetch comes back
    // without them.
    for n in 0..200 {
        let key = item(Kind::Share, n).key();
        let mut out = Vec::new();
        net.node(1).core.on_held(key, &mut out);
    }
    let honest = item(Kind::Certificate, 1);
    net.hold(3, &honest, Judged::Valid);
    net.connect(1, 2);
    net.connect(2, 3);
    net.run_for(30_000);
    assert!(net.holds(2).contains(&honest.key()));
    assert!(net.node(2).core.summary().wanted <= 16);
    assert!(net.node(2).dropped.get("wanted_full").copied().unwrap_or(0) >= 1);
    assert!(net.node(2).dropped.get("unserved").copied().unwrap_or(0) >= 1);
    // Not serving is not a fault in itself (an item may be forgotten meanwhile).
    assert!(net.node(2).penalties.is_empty());
}

#[test]
fn per_epoch_items_are_not_exchanged_across_epochs() {
    let mut net = Net::new(&config(), 2);
    net.hold(1, &item(Kind::Certificate, 1), Judged::Valid);
    net.hold(1, &item(Kind::RevocationList, 1), Judged::Valid);
    net.node(2).core.enter_epoch(2);
    net.connect(1, 2);
    net.settle();
    assert_eq!(
        net.holds(2),
        BTreeSet::from([item(Kind::RevocationList, 1).key()])
    );
}

/// The kinds a node fetches (no core takes ballot certificates in yet).
const FETCHED_KINDS: [Kind; 5] = [
    Kind::Proposal,
    Kind::Share,
    Kind::Certificate,
    Kind::BallotMessage,
    Kind::RevocationList,
];

#[test]
fn the_same_inputs_give_the_same_actions() {
    let run = || {
        let mut net = Net::new(&config(), 4);
        for n in 0..200 {
            net.hold(
                (n % 4 + 1) as u8,
                &item(FETCHED_KINDS[n as usize % FETCHED_KINDS.len()], n),
                Judged::Valid,
            );
        }
        net.connect(1, 2);
        net.connect(2, 3);
        net.connect(3, 4);
        net.run_for(40_000);
        (
            net.requests_seen,
            (1..=4)
                .map(|n| net.node(n).delivered.clone())
                .collect::<Vec<_>>(),
        )
    };
    let first = run();
    assert_eq!(first, run());
    assert!(first.1.iter().all(|d| d.len() == 150));
}

#[test]
fn configs_out_of_range_name_the_field() {
    let bad = SyncConfig {
        wanted_max: 0,
        ..SyncConfig::default()
    };
    assert_eq!(
        bad.check(),
        Err("sync.wanted_max must be at least 1".into())
    );
    let bad = SyncConfig {
        wanted_per_peer_max: 10_000,
        ..SyncConfig::default()
    };
    assert!(bad.check().unwrap_err().contains("wanted_per_peer_max"));
    let bad = SyncConfig {
        penalty_decay_per_s: 1.0,
        ..SyncConfig::default()
    };
    assert!(bad.check().unwrap_err().contains("penalty_decay_per_s"));
    assert_eq!(SyncConfig::default().check(), Ok(()));
}
