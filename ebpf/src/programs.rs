//! The compiled eBPF object (programs/charter.bpf.c, built by build.rs) and the names of
//! its programs, maps and counter slots, which the C source mirrors.

/// The object; empty when build.rs could not compile it.
pub(crate) static OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/charter.bpf.o"));

/// Why build.rs could not compile the programs (empty when it could).
const BUILD_NOTE: &str = env!("X0_BPF_BUILD_NOTE");

/// Whether the programs were compiled into this build, else why not.
pub fn programs_built() -> Result<(), &'static str> {
    if OBJECT.is_empty() {
        Err(if BUILD_NOTE.is_empty() {
            "the eBPF object is empty"
        } else {
            BUILD_NOTE
        })
    } else {
        Ok(())
    }
}

pub(crate) const CONNECT4: &str = "connect4";
pub(crate) const CONNECT6: &str = "connect6";
pub(crate) const SENDMSG4: &str = "sendmsg4";
pub(crate) const SENDMSG6: &str = "sendmsg6";
pub(crate) const SKB_EGRESS: &str = "skb_egress";
pub(crate) const TC_EGRESS: &str = "tc_egress";

/// Every program, in the order they are loaded and attached.
pub(crate) const PROGRAMS: [&str; 6] = [
    CONNECT4, CONNECT6, SENDMSG4, SENDMSG6, SKB_EGRESS, TC_EGRESS,
];

pub(crate) const MAP_ALLOW_V4: &str = "allow_v4";
pub(crate) const MAP_ALLOW_V6: &str = "allow_v6";
pub(crate) const MAP_COUNTERS: &str = "counters";
pub(crate) const MAP_EGRESS_BYTES: &str = "egress_bytes";
pub(crate) const MAP_CONFIG: &str = "config";

/// Slots of `counters`: refusals per hook (named as in [`crate::KernelCounters::denied`]).
pub(crate) const DENIED_SLOTS: [(&str, u32); 5] = [
    (CONNECT4, 0),
    (CONNECT6, 1),
    (SENDMSG4, 2),
    (SENDMSG6, 3),
    (TC_EGRESS, 4),
];
/// Slot of `counters`: bytes not attributed to a destination because `egress_bytes` was full.
pub(crate) const EGRESS_UNTRACKED_SLOT: u32 = 5;
/// Entries of `egress_bytes` (EGRESS_TRACKED_MAX in the C).
pub const EGRESS_TRACKED_MAX: usize = 1024;
/// Slot of `config`: the enforced cgroup's id, for the TC classifier.
pub(crate) const CONFIG_CGROUP_ID: u32 = 0;
