//! The network: one task owns the libp2p swarm; the [`NetworkActor`] is the only door to it.
//!
//! ```text
//!  socket ─► swarm task ──GossipArrived──► NetworkActor ──Inbound──► owning actor
//!               ▲                              │   ◄──Verdict────────┘
//!               └──────Command::Validated──────┘   (Accept forwards, Reject penalises)
//! ```

mod actor;
pub mod behaviour;
mod duplicates;
pub mod metrics;
mod swarm_task;
pub mod sync_codec;

pub use actor::{Dial, GetNetworkStatus, NetworkActor, Shutdown};
pub use swarm_task::{spawn, NetworkStatus, PeerStatus, TopicStatus, COMMAND_QUEUE_LEN};
