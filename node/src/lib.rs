//! The x0 mesh node: the libp2p network, the actor assembly, HTTP metrics and status, and
//! the CLI's building blocks. The binary `x0` (src/main.rs) is a thin edge over this.

pub mod charter;
pub mod cli;
pub mod committee;
pub mod config;
pub mod devnet;
pub mod http;
pub mod identity;
pub mod journal;
pub mod network;
pub mod node;
pub mod node_keys;
pub mod snapshot;
pub mod snapshot_watch;
pub mod store;

pub use node::Node;

/// Why a node could not start or run. [`NodeError::exit_code`] maps it for the binary.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The operator must change the config, a flag or the data dir.
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Identity(#[from] identity::IdentityError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// Something failed at run time that no config change fixes.
    #[error("{0}")]
    Runtime(String),
}

impl NodeError {
    /// 2 for what the operator must fix (config, flags, data dir), 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            NodeError::Config(_) | NodeError::Identity(_) | NodeError::Store(_) => 2,
            NodeError::Runtime(_) => 1,
        }
    }
}

/// An error and its sources on one line: libp2p's transport errors keep their cause (an
/// `AddrInUse`, say) only in the source chain.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        parts.push(cause.to_string());
        source = cause.source();
    }
    parts.retain(|p| !p.is_empty());
    parts.dedup();
    parts.join(": ")
}
