//! The gossip model against upstream's rules, one behaviour per test.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::*;

const TOPIC: &str = "/x0/1/probe";

fn pair() -> (GossipNode, GossipNode) {
    let mut a = GossipNode::new(0, GossipConfig::default(), vec![TOPIC]);
    let mut b = GossipNode::new(1, GossipConfig::default(), vec![TOPIC]);
    a.connect(1);
    b.connect(0);
    (a, b)
}

#[test]
fn a_message_is_validated_once_and_duplicates_are_counted() {
    let (mut a, mut b) = pair();
    let mut out = Vec::new();
    let message = a.publish(TOPIC, b"x".to_vec(), 0, &mut out);
    assert_eq!(out.len(), 1, "flood publish to the one peer");
    let mut validate = Vec::new();
    let mut replies = Vec::new();
    b.on_rpc(
        0,
        Rpc::Message(message.clone()),
        5,
        &mut replies,
        &mut validate,
    );
    b.on_rpc(
        0,
        Rpc::Message(message.clone()),
        6,
        &mut replies,
        &mut validate,
    );
    assert_eq!(validate.len(), 1);
    assert_eq!(b.counters.duplicates_received, 1);
}

#[test]
fn a_peer_forwarding_this_nodes_own_message_is_penalised_and_a_restart_goes_on_numbering() {
    let (mut a, mut b) = pair();
    let mut out = Vec::new();
    let first = a.publish(TOPIC, b"x".to_vec(), 0, &mut out);
    let mut seen_by_b = Vec::new();
    b.on_rpc(0, Rpc::Message(first.clone()), 5, &mut out, &mut seen_by_b);
    assert_eq!(seen_by_b.len(), 1);
    // a restarts: a new node with nothing seen, handed its old message back by b.
    let mut restarted = GossipNode::new(0, GossipConfig::default(), vec![TOPIC]);
    restarted.connect(1);
    restarted.resume_sequence(a.sequence_next());
    let mut validate = Vec::new();
    for at_ms in [10, 11] {
        restarted.on_rpc(
            1,
            Rpc::Message(first.clone()),
            at_ms,
            &mut out,
            &mut validate,
        );
    }
    assert!(validate.is_empty());
    assert_eq!(restarted.counters.self_origin_rejected, 2);
    assert!(restarted.score(1) < 0.0);
    // Its next message has an id its peers have not seen.
    let next = restarted.publish(TOPIC, b"y".to_vec(), 12, &mut out);
    assert_eq!(next.id.sequence, first.id.sequence + 1);
    b.on_rpc(0, Rpc::Message(next), 13, &mut out, &mut seen_by_b);
    assert_eq!(seen_by_b.len(), 2, "not taken for the old one");
}

#[test]
fn nodes_sharing_a_seen_table_see_only_their_own_column_and_a_new_node_starts_clean() {
    let table = SeenTable::shared(3);
    let node = |id: NodeId| {
        let mut node = GossipNode::with_seen_table(
            id,
            GossipConfig::default(),
            vec![TOPIC],
            table.clone(),
            id as usize,
        );
        for peer in (0..3).filter(|p| *p != id) {
            node.connect(peer);
        }
        node
    };
    let (mut a, mut b, mut c) = (node(0), node(1), node(2));
    let message = a.publish(TOPIC, b"x".to_vec(), 0, &mut Vec::new());
    let mut validate = Vec::new();
    b.on_rpc(
        0,
        Rpc::Message(message.clone()),
        5,
        &mut Vec::new(),
        &mut validate,
    );
    assert_eq!(validate.len(), 1, "b had not seen it, though a had");
    // b restarts: its memory, seen cache included, is gone.
    drop(b);
    let mut b = node(1);
    validate.clear();
    b.on_rpc(
        0,
        Rpc::Message(message.clone()),
        6,
        &mut Vec::new(),
        &mut validate,
    );
    assert_eq!(validate.len(), 1, "a new node has seen nothing");
    c.on_rpc(
        0,
        Rpc::Message(message.clone()),
        7,
        &mut Vec::new(),
        &mut validate,
    );
    c.on_rpc(
        1,
        Rpc::Message(message.clone()),
        8,
        &mut Vec::new(),
        &mut validate,
    );
    assert_eq!(validate.len(), 2);
    assert_eq!(c.counters.duplicates_received, 1);
    // The seen cache expires after duplicate_cache_time, and the slot goes with the
    // last holder.
    let expired_ms = GossipConfig::default().duplicate_cache_time_ms + 10;
    for node in [&mut a, &mut b, &mut c] {
        node.heartbeat(
            expired_ms,
            &mut ChaCha8Rng::seed_from_u64(1),
            &mut Vec::new(),
        );
    }
    assert_eq!(table.borrow().slots_used(), 0);
    validate.clear();
    c.on_rpc(
        0,
        Rpc::Message(message),
        expired_ms + 1,
        &mut Vec::new(),
        &mut validate,
    );
    assert_eq!(validate.len(), 1, "new again once expired");
}

#[test]
fn rejected_senders_are_scored_down_pruned_and_not_regrafted() {
    let (mut a, mut b) = pair();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut out = Vec::new();
    b.heartbeat(0, &mut rng, &mut out);
    assert!(b.mesh(TOPIC).unwrap().contains(&0), "grafted its only peer");
    let message = a.publish(TOPIC, b"bad".to_vec(), 0, &mut Vec::new());
    let mut validate = Vec::new();
    b.on_rpc(0, Rpc::Message(message.clone()), 1, &mut out, &mut validate);
    b.report_validation(message.id, Acceptance::Reject, 2, &mut out);
    assert!(b.score(0) < 0.0);
    out.clear();
    b.heartbeat(1_000, &mut rng, &mut out);
    assert!(!b.mesh(TOPIC).unwrap().contains(&0), "pruned");
    assert!(matches!(out.as_slice(), [(0, Rpc::Prune { .. })]));
    out.clear();
    b.heartbeat(2_000, &mut rng, &mut out);
    assert!(out.iter().all(|(_, rpc)| !matches!(rpc, Rpc::Graft { .. })));
}

#[test]
fn ihave_brings_a_missed_message_through_iwant() {
    // a keeps a mesh of one, so of its two peers one is outside the mesh and hears of
    // a's messages only through IHAVE.
    let config = GossipConfig {
        mesh_n: 1,
        mesh_n_low: 1,
        mesh_n_high: 1,
        flood_publish: false,
        ..GossipConfig::default()
    };
    let mut a = GossipNode::new(0, config, vec![TOPIC]);
    a.connect(1);
    a.connect(2);
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let mut out = Vec::new();
    a.heartbeat(0, &mut rng, &mut out);
    let in_mesh = *a.mesh(TOPIC).unwrap().iter().next().unwrap();
    let outside = 3 - in_mesh;
    out.clear();
    let message = a.publish(TOPIC, b"m".to_vec(), 10, &mut out);
    assert!(matches!(out.as_slice(), [(to, Rpc::Message(_))] if *to == in_mesh));
    out.clear();
    a.heartbeat(1_000, &mut rng, &mut out);
    let ids = out
        .iter()
        .find_map(|(to, rpc)| match rpc {
            Rpc::IHave { ids, .. } if *to == outside => Some(ids.clone()),
            _ => None,
        })
        .expect("the peer outside the mesh gets an IHAVE");
    assert_eq!(ids, vec![message.id].into());
    // The outside peer has not seen it, so it asks; a answers from its cache.
    let mut c = GossipNode::new(outside, config, vec![TOPIC]);
    c.connect(0);
    let mut asked = Vec::new();
    c.on_rpc(
        0,
        Rpc::IHave { topic: TOPIC, ids },
        1_001,
        &mut asked,
        &mut Vec::new(),
    );
    let [(0, Rpc::IWant { ids })] = asked.as_slice() else {
        panic!("expected one IWANT, got {asked:?}");
    };
    let mut replies = Vec::new();
    a.on_rpc(
        outside,
        Rpc::IWant { ids: ids.clone() },
        1_002,
        &mut replies,
        &mut Vec::new(),
    );
    assert!(
        matches!(replies.as_slice(), [(to, Rpc::Message(m))] if *to == outside && m.id == message.id)
    );
    // After history_length heartbeats the message has left the cache: no more repair.
    for beat in 2..=6 {
        a.heartbeat(beat * 1_000, &mut rng, &mut Vec::new());
    }
    let mut late = Vec::new();
    a.on_rpc(
        outside,
        Rpc::IWant {
            ids: vec![message.id],
        },
        7_000,
        &mut late,
        &mut Vec::new(),
    );
    assert!(late.is_empty());
}

#[test]
fn a_peer_is_grafted_as_its_subscription_arrives_while_the_mesh_is_low() {
    let config = GossipConfig::default();
    let mut hub = GossipNode::new(0, config, vec![TOPIC]);
    let mut out = Vec::new();
    for peer in 1..=7 {
        hub.connected(peer, false, &mut out);
        hub.on_rpc(
            peer,
            Rpc::Subscribe {
                topics: vec![TOPIC],
            },
            1,
            &mut out,
            &mut Vec::new(),
        );
    }
    // mesh_n_low (5) peers were grafted on arrival, the rest wait for heartbeats.
    assert_eq!(hub.mesh(TOPIC).unwrap().len(), config.mesh_n_low);
    let grafts = out
        .iter()
        .filter(|(_, rpc)| matches!(rpc, Rpc::Graft { .. }))
        .count();
    assert_eq!(grafts, config.mesh_n_low);
}

#[test]
fn a_full_mesh_refuses_inbound_grafts_but_not_peers_it_dialled() {
    let config = GossipConfig::default();
    let mut hub = GossipNode::new(0, config, vec![TOPIC]);
    let high = config.mesh_n_high as NodeId;
    for peer in 1..=high {
        hub.connect(peer);
        hub.on_rpc(
            peer,
            Rpc::Graft { topic: TOPIC },
            1,
            &mut Vec::new(),
            &mut Vec::new(),
        );
    }
    assert_eq!(hub.mesh(TOPIC).unwrap().len(), config.mesh_n_high);
    let mut out = Vec::new();
    hub.connect(high + 1);
    hub.on_rpc(
        high + 1,
        Rpc::Graft { topic: TOPIC },
        2,
        &mut out,
        &mut Vec::new(),
    );
    assert!(matches!(out.as_slice(), [(p, Rpc::Prune { .. })] if *p == high + 1));
    out.clear();
    hub.connected(high + 2, true, &mut out);
    hub.on_rpc(
        high + 2,
        Rpc::Subscribe {
            topics: vec![TOPIC],
        },
        2,
        &mut out,
        &mut Vec::new(),
    );
    out.clear();
    hub.on_rpc(
        high + 2,
        Rpc::Graft { topic: TOPIC },
        3,
        &mut out,
        &mut Vec::new(),
    );
    assert!(out.is_empty());
    assert!(hub.mesh(TOPIC).unwrap().contains(&(high + 2)));
    // At mesh_n_high the heartbeat trims back to mesh_n, keeping the dialled peer
    // (one of the mesh_outbound_min it must keep).
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    hub.heartbeat(1_000, &mut rng, &mut out);
    assert_eq!(hub.mesh(TOPIC).unwrap().len(), config.mesh_n);
    assert!(hub.mesh(TOPIC).unwrap().contains(&(high + 2)));
}

#[test]
fn an_id_is_asked_once_while_its_promise_is_open_and_answered_three_times_at_most() {
    let config = GossipConfig {
        flood_publish: false,
        ..GossipConfig::default()
    };
    let mut author = GossipNode::new(0, config, vec![TOPIC]);
    let mut asker = GossipNode::new(1, config, vec![TOPIC]);
    author.connect(1);
    asker.connect(0);
    asker.connect(2);
    let message = author.publish(TOPIC, b"m".to_vec(), 0, &mut Vec::new());
    let ids = vec![message.id];
    let mut out = Vec::new();
    asker.on_rpc(
        0,
        Rpc::IHave {
            topic: TOPIC,
            ids: ids.clone().into(),
        },
        1,
        &mut out,
        &mut Vec::new(),
    );
    asker.on_rpc(
        2,
        Rpc::IHave {
            topic: TOPIC,
            ids: ids.clone().into(),
        },
        2,
        &mut out,
        &mut Vec::new(),
    );
    assert_eq!(
        out.len(),
        1,
        "the second IHAVE finds the promise open: {out:?}"
    );
    out.clear();
    // After iwant_followup_time the promise has lapsed (at a heartbeat): ask again.
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    asker.heartbeat(config.iwant_followup_time_ms + 2, &mut rng, &mut Vec::new());
    asker.on_rpc(
        2,
        Rpc::IHave {
            topic: TOPIC,
            ids: ids.clone().into(),
        },
        3_003,
        &mut out,
        &mut Vec::new(),
    );
    assert!(matches!(out.as_slice(), [(2, Rpc::IWant { .. })]));
    // The author answers one peer's IWANT for one message gossip_retransmission times.
    let mut answers = Vec::new();
    for at in 0..5 {
        author.on_rpc(
            1,
            Rpc::IWant { ids: ids.clone() },
            10 + at,
            &mut answers,
            &mut Vec::new(),
        );
    }
    assert_eq!(answers.len(), config.gossip_retransmission as usize);
}

#[test]
fn a_message_is_not_forwarded_to_peers_that_sent_it_during_validation() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut relay = GossipNode::new(0, GossipConfig::default(), vec![TOPIC]);
    for peer in 1..=6 {
        relay.connect(peer);
    }
    relay.heartbeat(0, &mut rng, &mut Vec::new());
    let mesh: Vec<NodeId> = relay.mesh(TOPIC).unwrap().iter().copied().collect();
    let mut author = GossipNode::new(9, GossipConfig::default(), vec![TOPIC]);
    let message = author.publish(TOPIC, b"m".to_vec(), 0, &mut Vec::new());
    let mut validate = Vec::new();
    let mut out = Vec::new();
    relay.on_rpc(
        mesh[0],
        Rpc::Message(message.clone()),
        1,
        &mut out,
        &mut validate,
    );
    relay.on_rpc(
        mesh[1],
        Rpc::Message(message.clone()),
        2,
        &mut out,
        &mut validate,
    );
    assert_eq!(validate.len(), 1);
    relay.report_validation(message.id, Acceptance::Accept, 3, &mut out);
    let sent_to: Vec<NodeId> = out.iter().map(|(to, _)| *to).collect();
    assert_eq!(sent_to, mesh[2..].to_vec());
}
