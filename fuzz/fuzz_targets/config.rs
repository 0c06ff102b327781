//! The operator's node config (node/src/config/mod.rs, Config::from_toml: parse, merge
//! over the embedded defaults, validate). Bad operator input must come back as an error
//! naming the field, never a panic; and a config that validates must start: everything the
//! node derives from it at start (node/src/node.rs, node/src/network/behaviour.rs) is
//! derived here too and must succeed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use x0_core::anomaly::AnomalyLimits;
use x0_node::config::Config;
use x0_node::network::behaviour::{gossipsub_config, score_parameters};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = Config::from_toml(text, "fuzz.toml") else {
        return;
    };
    gossipsub_config(&config.gossip).expect("a validated [gossip] builds gossipsub's config");
    let (params, thresholds) = score_parameters(&config.gossip);
    params
        .validate()
        .expect("a validated [gossip.score] gives valid score parameters");
    thresholds
        .validate()
        .expect("a validated [gossip.score] gives valid thresholds");
    AnomalyLimits::new(config.anomaly.core_config()).expect("a validated [anomaly] is usable");
    let _ = config.certify.actor_config();
    let skew_ms = config.auth.as_ref().map_or(30_000, |a| a.skew_ms);
    let _ = config.ballot.core_config(
        skew_ms,
        config.snapshot.as_ref().map_or(300, |s| s.outage_s),
    );
    if let Some(auth) = &config.auth {
        auth.authority()
            .expect("a validated [auth] has an authority key");
        let _ = (auth.gate_config(), auth.verifier_config());
    }
    if let Some(snapshot) = &config.snapshot {
        let _ = snapshot.client_config();
        snapshot
            .registry()
            .expect("a validated [snapshot] has a registry");
    }
    // Written back out (as `x0 node init` writes a config) and read again: the same config.
    let written = toml::to_string(&config).expect("a validated config writes as TOML");
    let again = Config::from_toml(&written, "written.toml").expect("a written config reads");
    assert_eq!(again, config);
});
