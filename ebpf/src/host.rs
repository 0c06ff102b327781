//! What the host allows: kernel version, the capability to load BPF programs, a mounted
//! BPF filesystem and cgroup v2. Parsing is pure (tested on fixed text); [`probe`] reads
//! the live files under /proc.

use std::fmt;

/// Oldest kernel whose BPF features (BTF, cgroup-skb hooks, ring buffers) the programs use.
pub const KERNEL_MIN: KernelVersion = KernelVersion { major: 5, minor: 8 };

/// Linux capability bits (include/uapi/linux/capability.h).
const CAP_NET_ADMIN: u32 = 12;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_BPF: u32 = 39;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct KernelVersion {
    pub major: u32,
    pub minor: u32,
}

impl fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// Where the Charter is enforced on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnforcementMode {
    /// eBPF programs can be loaded and attached.
    Kernel,
    /// Userspace only; every reason the kernel path is closed, each with its fix.
    Userspace { reasons: Vec<String> },
}

/// The host facts the decision rests on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostFacts {
    pub kernel: Option<KernelVersion>,
    /// Effective capability mask of this process (`CapEff` in /proc/self/status).
    pub capabilities_effective: u64,
    /// Informational: nothing is pinned, so kernel mode does not need it.
    pub bpffs_mounted: bool,
    pub cgroup2_mounted: bool,
}

impl HostFacts {
    /// Whether the capabilities allow loading and attaching the programs: CAP_SYS_ADMIN,
    /// or CAP_BPF with CAP_NET_ADMIN.
    pub fn may_load_bpf(&self) -> bool {
        let has = |bit: u32| self.capabilities_effective & (1u64 << bit) != 0;
        has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_NET_ADMIN))
    }

    /// Kernel mode needs every fact in place; otherwise each missing one is a reason.
    /// A BPF filesystem is not among them: the enforcer pins nothing (its programs live as
    /// long as the process holding them), so `bpffs_mounted` is informational.
    pub fn enforcement_mode(&self) -> EnforcementMode {
        let mut reasons = Vec::new();
        match self.kernel {
            None => {
                reasons.push("kernel version unreadable (/proc/sys/kernel/osrelease)".to_string())
            }
            Some(version) if version < KERNEL_MIN => reasons.push(format!(
                "kernel {version} is older than {KERNEL_MIN}; upgrade the kernel"
            )),
            Some(_) => {}
        }
        if !self.may_load_bpf() {
            reasons.push(
                "process lacks CAP_BPF + CAP_NET_ADMIN (or CAP_SYS_ADMIN); grant them to x0 (e.g. systemd AmbientCapabilities)"
                    .to_string(),
            );
        }
        if !self.cgroup2_mounted {
            reasons.push(
                "no cgroup v2 hierarchy mounted; boot with systemd.unified_cgroup_hierarchy=1"
                    .to_string(),
            );
        }
        if reasons.is_empty() {
            EnforcementMode::Kernel
        } else {
            EnforcementMode::Userspace { reasons }
        }
    }
}

/// Parses `/proc/sys/kernel/osrelease`, e.g. `6.1.0-18-amd64`.
pub fn parse_kernel_release(release: &str) -> Option<KernelVersion> {
    let mut parts = release.trim().split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some(KernelVersion { major, minor })
}

/// Parses the `CapEff:` line of `/proc/<pid>/status` (hex). Missing or malformed: none.
pub fn parse_effective_capabilities(status: &str) -> u64 {
    status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or(0)
}

/// Whether `/proc/mounts` lists a mount of `fs_type` (third field).
pub fn mounts_have(mounts: &str, fs_type: &str) -> bool {
    mounts
        .lines()
        .any(|line| line.split_whitespace().nth(2) == Some(fs_type))
}

/// Reads the live host.
pub fn probe() -> HostFacts {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let mounts = read("/proc/mounts");
    HostFacts {
        kernel: parse_kernel_release(&read("/proc/sys/kernel/osrelease")),
        capabilities_effective: parse_effective_capabilities(&read("/proc/self/status")),
        bpffs_mounted: mounts_have(&mounts, "bpf"),
        cgroup2_mounted: mounts_have(&mounts, "cgroup2"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_CAPS: u64 = 0x0000_01ff_ffff_ffff;

    fn capable_host() -> HostFacts {
        HostFacts {
            kernel: Some(KernelVersion { major: 6, minor: 1 }),
            capabilities_effective: ALL_CAPS,
            bpffs_mounted: true,
            cgroup2_mounted: true,
        }
    }

    #[test]
    fn parses_real_release_strings() {
        assert_eq!(
            parse_kernel_release("6.1.0-18-amd64\n"),
            Some(KernelVersion { major: 6, minor: 1 })
        );
        assert_eq!(
            parse_kernel_release("5.15.153.1-microsoft-standard-WSL2"),
            Some(KernelVersion {
                major: 5,
                minor: 15
            })
        );
        assert_eq!(
            parse_kernel_release("4.19"),
            Some(KernelVersion {
                major: 4,
                minor: 19
            })
        );
        assert_eq!(parse_kernel_release(""), None);
        assert_eq!(parse_kernel_release("linux"), None);
    }

    #[test]
    fn parses_capabilities_and_mounts() {
        let status = "Name:\tx0\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n";
        assert_eq!(parse_effective_capabilities(status), ALL_CAPS);
        assert_eq!(parse_effective_capabilities("CapEff:\tzz\n"), 0);
        let mounts = "cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\nbpf /sys/fs/bpf bpf rw 0 0\n";
        assert!(mounts_have(mounts, "bpf"));
        assert!(mounts_have(mounts, "cgroup2"));
        assert!(!mounts_have("proc /proc proc rw 0 0\n", "bpf"));
    }

    #[test]
    fn kernel_mode_only_when_everything_is_in_place() {
        assert_eq!(capable_host().enforcement_mode(), EnforcementMode::Kernel);
        let no_bpffs = HostFacts {
            bpffs_mounted: false,
            ..capable_host()
        };
        assert_eq!(no_bpffs.enforcement_mode(), EnforcementMode::Kernel);
        let old = HostFacts {
            kernel: Some(KernelVersion {
                major: 4,
                minor: 19,
            }),
            ..capable_host()
        };
        let EnforcementMode::Userspace { reasons } = old.enforcement_mode() else {
            panic!("an old kernel must fall back");
        };
        assert_eq!(reasons.len(), 1);
        assert!(reasons[0].contains("4.19"));
    }

    #[test]
    fn cap_bpf_alone_is_not_enough_but_with_net_admin_it_is() {
        let bpf_only = HostFacts {
            capabilities_effective: 1 << CAP_BPF,
            ..capable_host()
        };
        assert!(matches!(
            bpf_only.enforcement_mode(),
            EnforcementMode::Userspace { .. }
        ));
        let bpf_net = HostFacts {
            capabilities_effective: (1 << CAP_BPF) | (1 << CAP_NET_ADMIN),
            ..capable_host()
        };
        assert_eq!(bpf_net.enforcement_mode(), EnforcementMode::Kernel);
    }

    #[test]
    fn every_missing_fact_is_a_reason_with_a_fix() {
        let bare = HostFacts {
            kernel: None,
            capabilities_effective: 0,
            bpffs_mounted: false,
            cgroup2_mounted: false,
        };
        let EnforcementMode::Userspace { reasons } = bare.enforcement_mode() else {
            panic!("a bare host must fall back");
        };
        assert_eq!(reasons.len(), 3, "{reasons:?}");
    }

    #[test]
    fn probing_this_host_does_not_fail() {
        let facts = probe();
        assert!(facts.kernel.is_some(), "this machine runs Linux with /proc");
        let _ = facts.enforcement_mode();
    }
}
