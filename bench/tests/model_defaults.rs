//! The simulator's gossip model takes the node's `[gossip]` defaults. It cannot depend on
//! the node crate, so it repeats them (`GossipConfig::default`); this test catches the two
//! drifting apart.

use x0_bench::fidelity::model_config;
use x0_node::config::Config;
use x0_simulator::gossip::GossipConfig;

#[test]
fn the_models_defaults_are_the_nodes_embedded_defaults() {
    let node = Config::embedded().gossip;
    assert_eq!(GossipConfig::default(), model_config(&node));
}
