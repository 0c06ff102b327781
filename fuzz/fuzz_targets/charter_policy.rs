//! The Charter policy (core/src/charter/policy.rs, CharterPolicy::parse): the operator's
//! policy file, and the payload of a certified `charter/policy` change from the network.
//! Then what the enforcer asks of a policy, on a few names and addresses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use x0_core::charter::policy::CharterPolicy;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(policy) = CharterPolicy::parse(text) else {
        return;
    };
    for name in ["x0_probe_sent_total", "gossipsub_peers", "", "a*b"] {
        let _ = policy.allows_family(name);
        let _ = policy.forbids_label(name);
    }
    for address in ["127.0.0.1:9091", "[::1]:9125", "10.1.2.3:9090", "0.0.0.0:0"] {
        let _ = policy.allows_destination(&address.parse().expect("a socket address"));
    }
});
