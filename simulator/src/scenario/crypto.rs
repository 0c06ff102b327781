//! `[crypto]`: which signature suite the nodes run, and what each operation costs in
//! virtual CPU time when it is the cost-modelled one.

use serde::{Deserialize, Serialize};

/// Which signature suite the nodes run. Real BLS costs real CPU (milliseconds per
/// verification, thousands of verifications per certificate in a large run) and no
/// virtual time; the modelled suite keeps the same valid/invalid semantics, costs almost
/// no real CPU, and charges each node virtual CPU time per operation, so a node busy
/// verifying delays what it sends. An engine that runs real node processes uses real
/// crypto and ignores this section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CryptoSpec {
    #[serde(default)]
    pub kind: CryptoKind,
    /// Virtual CPU time per operation in modelled runs, µs. The defaults are the BLS
    /// figures measured on the 2-core reference machine (docs/BENCHMARKS.md).
    #[serde(default = "default_sign_share_us")]
    pub sign_share_us: u64,
    #[serde(default = "default_verify_share_us")]
    pub verify_share_us: u64,
    /// Combining costs this per share combined (Lagrange interpolation grows with t).
    #[serde(default = "default_combine_per_share_us")]
    pub combine_per_share_us: u64,
    #[serde(default = "default_verify_certificate_us")]
    pub verify_certificate_us: u64,
}

fn default_sign_share_us() -> u64 {
    430
}
fn default_verify_share_us() -> u64 {
    1_200
}
fn default_combine_per_share_us() -> u64 {
    210
}
fn default_verify_certificate_us() -> u64 {
    1_300
}

impl Default for CryptoSpec {
    fn default() -> Self {
        CryptoSpec {
            kind: CryptoKind::Auto,
            sign_share_us: default_sign_share_us(),
            verify_share_us: default_verify_share_us(),
            combine_per_share_us: default_combine_per_share_us(),
            verify_certificate_us: default_verify_certificate_us(),
        }
    }
}

/// Runs of up to this many nodes use real BLS under `kind = "auto"`.
pub const AUTO_REAL_CRYPTO_NODES_MAX: u32 = 500;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CryptoKind {
    /// Real up to [`AUTO_REAL_CRYPTO_NODES_MAX`] nodes, modelled above.
    #[default]
    Auto,
    Real,
    Modelled,
}
