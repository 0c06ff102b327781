//! A proposal's lifetime as an operator sees it: a member that proposes while no other
//! member can hear it sees `GET /proposals/{id}` report it pending with its shares and the
//! moment it expires, then expired; `x0 propose` (its library call) fails with
//! "expired: k of t+1 shares" instead of waiting in silence.

use std::time::Duration;

mod common;

use common::{http_get, test_config};
use x0_node::cli::certify::propose_and_wait;
use x0_node::config::Config;
use x0_node::devnet;
use x0_node::http::proposals::{ProposalDocument, ProposeRequest};
use x0_node::Node;

#[actix_rt::test]
async fn a_proposal_nobody_can_hear_expires_visibly_with_its_shares_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut configs: Vec<Config> = ["a", "b", "c", "d"]
        .iter()
        .map(|name| test_config(&dir.path().join(name)))
        .collect();
    devnet::with_committee(&mut configs, dir.path(), vec![]).unwrap();
    // Only the proposer runs: a committee of 4 needs 2 shares, it holds its own.
    let mut config = configs.swap_remove(0);
    config.certify.pending_ttl_ms = 4_000;
    let node = Node::start(config).await.unwrap();
    let api: reqwest::Url = format!("http://{}", node.http_addr).parse().unwrap();
    let request = ProposeRequest {
        slot: "gossip/mesh_n".into(),
        payload: "7".into(),
        affected_fraction: 1.0,
    };
    let (id, certificate) = propose_and_wait(&api, &request, Duration::ZERO)
        .await
        .unwrap();
    assert!(certificate.is_none());
    let read = |id: String| {
        let addr = node.http_addr;
        async move {
            let (status, _, body) = http_get(&format!("http://{addr}/proposals/{id}"), None).await;
            assert_eq!(status, 200, "{body}");
            serde_json::from_str::<ProposalDocument>(&body).unwrap()
        }
    };
    let pending = read(id.clone()).await;
    assert_eq!(pending.state, "pending", "{pending:?}");
    assert_eq!((pending.shares, pending.needed), (Some(1), Some(2)));
    let expires = pending.expires_at_unix_ms.unwrap();
    let now = x0_actors::wall_clock::unix_ms_now();
    assert!(
        expires > now && expires <= now + 4_000,
        "expires {expires}, now {now}"
    );

    // A second proposal (another slot: this member signed the first one's, and one
    // signature per slot and epoch stands) waited on: the wait ends when the lifetime
    // does, with what it had.
    let second = ProposeRequest {
        slot: "gossip/mesh_n_low".into(),
        ..request
    };
    let error = propose_and_wait(&api, &second, Duration::from_secs(30))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("expired: 1 of 2 shares"), "{error}");
    let expired = read(id.clone()).await;
    assert_eq!(expired.state, "expired", "{expired:?}");
    assert_eq!((expired.shares, expired.needed), (Some(1), Some(2)));
    // `/status` lists both with what they had (two expiring within one tick are listed
    // in id order, so look it up by id).
    let (_, _, status) = http_get(&format!("http://{}/status", node.http_addr), None).await;
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    let listed = status["certify"]["recently_expired"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "{status}");
    let first = listed
        .iter()
        .find(|e| e["id"] == serde_json::json!(id))
        .unwrap_or_else(|| panic!("{status}"));
    assert_eq!((&first["shares"], &first["needed"]), (&1.into(), &2.into()));
    let unknown = read("00".repeat(32)).await;
    assert_eq!(unknown.state, "unknown");
    let (status, _, _) = http_get(&format!("http://{}/proposals/zz", node.http_addr), None).await;
    assert_eq!(status, 400);
    node.shutdown().await.unwrap();
}
