//! The kernel enforcer: loads programs/charter.bpf.c, fills its allow-list with the
//! Charter's telemetry destinations, attaches the cgroup programs to the exporter's cgroup
//! and the TC classifier to the chosen interfaces, and reads the counters back.

use std::collections::{BTreeMap, BTreeSet};
use std::error::Error as StdError;
use std::fs::File;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use aya::maps::lpm_trie::Key;
use aya::maps::{Array, HashMap, LpmTrie, MapData, MapError, PerCpuArray};
use aya::programs::{
    CgroupAttachMode, CgroupSkb, CgroupSkbAttachType, CgroupSockAddr, ProgramError,
    SchedClassifier, TcAttachType, TcError,
};
use aya::{Ebpf, EbpfError, EbpfLoader};

use crate::cgroup;
use crate::destination::{AllowKey, Destination, DESTINATIONS_MAX, V4_DATA_LEN, V6_DATA_LEN};
use crate::host::{self, KernelVersion, KERNEL_MIN};
use crate::programs::{self, programs_built};

/// Kernels from this one attach TC programs with TCX links and need no clsact qdisc.
const KERNEL_TCX: KernelVersion = KernelVersion { major: 6, minor: 6 };

/// On kernels with BPF links (5.7+, which KERNEL_MIN implies) aya attaches cgroup programs
/// with `bpf_link_create`, whose links always coexist with other programs (the kernel
/// refuses any flag there, BPF_F_ALLOW_MULTI included: EINVAL); `Single` sends no flag.
const CGROUP_ATTACH_MODE: CgroupAttachMode = CgroupAttachMode::Single;

/// Where the enforcer attaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelSettings {
    /// The telemetry exporter's cgroup v2 directory; created when missing.
    pub cgroup_dir: PathBuf,
    /// Interfaces (in the caller's network namespace) that get the TC egress classifier.
    pub tc_interfaces: Vec<String>,
}

/// Refusals per hook and egress bytes per destination, summed over CPUs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KernelCounters {
    /// Refusals by "connect4", "connect6", "sendmsg4", "sendmsg6" and "tc_egress".
    pub denied: BTreeMap<&'static str, u64>,
    /// Bytes the cgroup sent, per destination address (at most 1024 addresses tracked).
    pub egress_bytes: BTreeMap<IpAddr, u64>,
    /// Bytes sent to addresses past the tracked ones (the map was full): the drop metric.
    pub egress_untracked_bytes: u64,
}

/// A program's run count and accumulated run time from the kernel's BPF stats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProgramStats {
    pub program: &'static str,
    pub run_count: u64,
    pub run_time_ns: u64,
}

/// Why the kernel enforcer cannot start or act; each Display is one sentence with the fix
/// where there is one, for the node's single log line before it falls back to userspace.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error("the kernel enforcer's eBPF programs are not built into this binary: {reason}")]
    NotBuilt { reason: &'static str },
    #[error("the kernel version is unreadable (/proc/sys/kernel/osrelease); the kernel enforcer needs Linux {KERNEL_MIN} or newer")]
    KernelUnknown,
    #[error("kernel {found} is older than {KERNEL_MIN}, the oldest the kernel enforcer supports; upgrade the kernel")]
    KernelTooOld { found: KernelVersion },
    #[error("no privilege to load eBPF programs: the process lacks CAP_BPF + CAP_NET_ADMIN (or CAP_SYS_ADMIN); grant them to x0 (e.g. systemd AmbientCapabilities)")]
    NoPrivilege,
    #[error("no cgroup v2 hierarchy is mounted; mount cgroup2 (or boot with systemd.unified_cgroup_hierarchy=1)")]
    NoCgroup2,
    #[error("{} is not in a cgroup v2 hierarchy; choose a directory under {}", path.display(), mount.display())]
    NotCgroup2Dir { path: PathBuf, mount: PathBuf },
    #[error("cannot use the cgroup directory {}: {source}", path.display())]
    CgroupDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{count} telemetry destinations exceed the kernel allow-list's {DESTINATIONS_MAX}; shorten the Charter's list")]
    TooManyDestinations { count: usize },
    #[error("loading the eBPF object failed: {}", chain(source))]
    Load {
        #[source]
        source: EbpfError,
    },
    #[error("the eBPF object has no {what} named {name}; the build and the loader disagree")]
    Missing {
        what: &'static str,
        name: &'static str,
    },
    #[error("the kernel verifier rejected eBPF program {program} ({error}); verifier log ends: {log_tail}")]
    Verifier {
        program: &'static str,
        error: io::Error,
        log_tail: String,
    },
    #[error("loading eBPF program {program} failed: {}", chain(source))]
    ProgramLoad {
        program: &'static str,
        #[source]
        source: ProgramError,
    },
    #[error(
        "attaching eBPF program {program} to {target} failed: {}",
        chain(source)
    )]
    Attach {
        program: &'static str,
        target: String,
        #[source]
        source: ProgramError,
    },
    #[error("adding the clsact qdisc to {interface} failed: {}", chain(source))]
    Clsact {
        interface: String,
        #[source]
        source: TcError,
    },
    #[error("eBPF map {map} failed: {}", chain(source))]
    Map {
        map: &'static str,
        #[source]
        source: MapError,
    },
    #[error("enabling or reading the kernel's BPF run-time stats failed: {}", chain(source.as_ref()))]
    Stats {
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
}

/// An error and its sources, joined with ": " (aya's Display often leaves out the cause).
fn chain(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The kernel programs attached for one cgroup; dropping it detaches them.
pub struct KernelEnforcer {
    /// `None` only while starting or dropping.
    ebpf: Option<Ebpf>,
    cgroup_dir: PathBuf,
    created_cgroup_dir: bool,
    allowed: BTreeSet<AllowKey>,
    /// Held while BPF run-time stats are enabled by [`KernelEnforcer::enable_run_time_stats`].
    stats_enabled: Option<OwnedFd>,
}

impl std::fmt::Debug for KernelEnforcer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KernelEnforcer")
            .field("cgroup_dir", &self.cgroup_dir)
            .field("created_cgroup_dir", &self.created_cgroup_dir)
            .field("allowed", &self.allowed.len())
            .finish()
    }
}

/// Checks what the kernel enforcer needs of the host, in the order an operator fixes it.
fn check_host(facts: &host::HostFacts) -> Result<(), KernelError> {
    match facts.kernel {
        None => return Err(KernelError::KernelUnknown),
        Some(found) if found < KERNEL_MIN => return Err(KernelError::KernelTooOld { found }),
        Some(_) => {}
    }
    if !facts.may_load_bpf() {
        return Err(KernelError::NoPrivilege);
    }
    if !facts.cgroup2_mounted {
        return Err(KernelError::NoCgroup2);
    }
    Ok(())
}

/// The keys of `destinations`, deduplicated, after checking the allow-list's bound.
fn allow_keys(destinations: &[Destination]) -> Result<BTreeSet<AllowKey>, KernelError> {
    if destinations.len() > DESTINATIONS_MAX {
        return Err(KernelError::TooManyDestinations {
            count: destinations.len(),
        });
    }
    let keys: BTreeSet<AllowKey> = destinations.iter().map(AllowKey::of).collect();
    assert!(keys.len() <= DESTINATIONS_MAX, "deduplication only shrinks");
    Ok(keys)
}

impl KernelEnforcer {
    /// Checks the host (host::probe), creates cgroup_dir if missing, loads the object,
    /// fills the allow-list, attaches connect4/6 + sendmsg4/6 + cgroup_skb egress to the
    /// cgroup and the TC classifier on each tc interface (adding clsact where the kernel
    /// predates TCX). Any failure is an error naming the cause, and whatever was attached
    /// or created by then is undone.
    pub fn start(
        settings: &KernelSettings,
        destinations: &[Destination],
    ) -> Result<KernelEnforcer, KernelError> {
        programs_built().map_err(|reason| KernelError::NotBuilt { reason })?;
        let facts = host::probe();
        check_host(&facts)?;
        let keys = allow_keys(destinations)?;

        let cgroup_dir = settings.cgroup_dir.clone();
        let dir_error = |source| KernelError::CgroupDir {
            path: cgroup_dir.clone(),
            source,
        };
        let existed = cgroup_dir.is_dir();
        if !existed {
            std::fs::create_dir_all(&cgroup_dir).map_err(dir_error)?;
        }
        // From here on, Drop undoes what was done if a later step fails.
        let mut enforcer = KernelEnforcer {
            ebpf: None,
            cgroup_dir: cgroup_dir.clone(),
            created_cgroup_dir: !existed,
            allowed: BTreeSet::new(),
            stats_enabled: None,
        };
        if !cgroup::is_cgroup2_dir(&cgroup_dir).map_err(dir_error)? {
            return Err(KernelError::NotCgroup2Dir {
                path: cgroup_dir,
                mount: cgroup::live_cgroup2_mount().unwrap_or_else(|| "/sys/fs/cgroup".into()),
            });
        }
        let cgroup_id = cgroup::cgroup_id(&cgroup_dir).map_err(dir_error)?;
        let cgroup_file = File::open(&cgroup_dir).map_err(dir_error)?;

        let ebpf = EbpfLoader::new()
            .load(programs::OBJECT)
            .map_err(|source| KernelError::Load { source })?;
        let ebpf = enforcer.ebpf.insert(ebpf);
        {
            let mut config: Array<&mut MapData, u64> = map_mut(ebpf, programs::MAP_CONFIG)?;
            config
                .set(programs::CONFIG_CGROUP_ID, cgroup_id, 0)
                .map_err(|source| KernelError::Map {
                    map: programs::MAP_CONFIG,
                    source,
                })?;
        }
        enforcer.write_allow_list(keys)?;

        let ebpf = enforcer.ebpf.as_mut().expect("loaded above");
        let cgroup_target = format!("cgroup {}", settings.cgroup_dir.display());
        for name in [
            programs::CONNECT4,
            programs::CONNECT6,
            programs::SENDMSG4,
            programs::SENDMSG6,
        ] {
            let program: &mut CgroupSockAddr = program_mut(ebpf, name)?;
            program.load().map_err(|source| load_error(name, source))?;
            program
                .attach(&cgroup_file, CGROUP_ATTACH_MODE)
                .map_err(|source| attach_error(name, &cgroup_target, source))?;
        }
        let skb: &mut CgroupSkb = program_mut(ebpf, programs::SKB_EGRESS)?;
        skb.load()
            .map_err(|source| load_error(programs::SKB_EGRESS, source))?;
        skb.attach(
            &cgroup_file,
            CgroupSkbAttachType::Egress,
            CGROUP_ATTACH_MODE,
        )
        .map_err(|source| attach_error(programs::SKB_EGRESS, &cgroup_target, source))?;

        let classifier: &mut SchedClassifier = program_mut(ebpf, programs::TC_EGRESS)?;
        classifier
            .load()
            .map_err(|source| load_error(programs::TC_EGRESS, source))?;
        let needs_clsact = facts.kernel.is_some_and(|kernel| kernel < KERNEL_TCX);
        for interface in &settings.tc_interfaces {
            if needs_clsact {
                add_clsact(interface)?;
            }
            classifier
                .attach(interface, TcAttachType::Egress)
                .map_err(|source| {
                    attach_error(
                        programs::TC_EGRESS,
                        &format!("the egress of interface {interface}"),
                        source,
                    )
                })?;
        }
        tracing::info!(
            cgroup = %settings.cgroup_dir.display(),
            interfaces = ?settings.tc_interfaces,
            destinations = enforcer.allowed.len(),
            "charter kernel enforcer attached"
        );
        Ok(enforcer)
    }

    /// Replaces the allow-list (policy reload). Entries leaving the list are removed
    /// before new ones are added, so no moment allows more than the old and new lists
    /// have in common plus the new list.
    pub fn set_destinations(&mut self, destinations: &[Destination]) -> Result<(), KernelError> {
        let keys = allow_keys(destinations)?;
        self.write_allow_list(keys)
    }

    pub fn cgroup_dir(&self) -> &Path {
        &self.cgroup_dir
    }

    /// The destinations' keys now in the allow-list (deduplicated).
    pub fn destinations_len(&self) -> usize {
        self.allowed.len()
    }

    pub fn counters(&self) -> Result<KernelCounters, KernelError> {
        let ebpf = self.ebpf();
        let counters: PerCpuArray<&MapData, u64> = map(ebpf, programs::MAP_COUNTERS)?;
        let counter_error = |source| KernelError::Map {
            map: programs::MAP_COUNTERS,
            source,
        };
        let slot = |index: u32| -> Result<u64, KernelError> {
            let values = counters.get(&index, 0).map_err(counter_error)?;
            Ok(values.iter().copied().fold(0u64, u64::wrapping_add))
        };
        let mut result = KernelCounters::default();
        for (name, index) in programs::DENIED_SLOTS {
            result.denied.insert(name, slot(index)?);
        }
        result.egress_untracked_bytes = slot(programs::EGRESS_UNTRACKED_SLOT)?;

        let egress: HashMap<&MapData, [u8; 20], u64> = map(ebpf, programs::MAP_EGRESS_BYTES)?;
        for entry in egress.iter() {
            let (key, bytes) = entry.map_err(|source| KernelError::Map {
                map: programs::MAP_EGRESS_BYTES,
                source,
            })?;
            if let Some(address) = egress_address(&key) {
                *result.egress_bytes.entry(address).or_default() += bytes;
            }
        }
        Ok(result)
    }

    /// Turns on the kernel's BPF run-time stats (as `sysctl kernel.bpf_stats_enabled=1`
    /// does) for as long as this enforcer lives, so [`Self::program_stats`] has figures.
    pub fn enable_run_time_stats(&mut self) -> Result<(), KernelError> {
        if self.stats_enabled.is_none() {
            let fd = aya::sys::enable_stats(aya::sys::Stats::RunTime).map_err(|source| {
                KernelError::Stats {
                    source: Box::new(source),
                }
            })?;
            self.stats_enabled = Some(fd);
        }
        Ok(())
    }

    /// Per-program run count and run time from the kernel's bpf stats. The kernel counts
    /// only while stats are enabled: [`Self::enable_run_time_stats`] or
    /// `sysctl kernel.bpf_stats_enabled=1`; otherwise the figures stay 0.
    pub fn program_stats(&self) -> Result<Vec<ProgramStats>, KernelError> {
        let ebpf = self.ebpf();
        programs::PROGRAMS
            .iter()
            .map(|&name| {
                let program = ebpf.program(name).ok_or(KernelError::Missing {
                    what: "program",
                    name,
                })?;
                let info = program.info().map_err(|source| KernelError::Stats {
                    source: Box::new(source),
                })?;
                Ok(ProgramStats {
                    program: name,
                    run_count: info.run_count(),
                    run_time_ns: u64::try_from(info.run_time().as_nanos()).unwrap_or(u64::MAX),
                })
            })
            .collect()
    }

    fn ebpf(&self) -> &Ebpf {
        self.ebpf
            .as_ref()
            .expect("an enforcer handed to the caller has its object loaded")
    }

    /// Makes the tries hold exactly `keys`: removals first, then insertions.
    fn write_allow_list(&mut self, keys: BTreeSet<AllowKey>) -> Result<(), KernelError> {
        let ebpf = self.ebpf.as_mut().expect("loaded before the allow-list");
        let [v4, v6] = ebpf.maps_disjoint_mut([programs::MAP_ALLOW_V4, programs::MAP_ALLOW_V6]);
        let missing = |name| KernelError::Missing { what: "map", name };
        let mut v4: LpmTrie<&mut MapData, [u8; V4_DATA_LEN], u32> = v4
            .ok_or_else(|| missing(programs::MAP_ALLOW_V4))?
            .try_into()
            .map_err(|source| map_error(programs::MAP_ALLOW_V4, source))?;
        let mut v6: LpmTrie<&mut MapData, [u8; V6_DATA_LEN], u32> = v6
            .ok_or_else(|| missing(programs::MAP_ALLOW_V6))?
            .try_into()
            .map_err(|source| map_error(programs::MAP_ALLOW_V6, source))?;

        let leaving: Vec<AllowKey> = self.allowed.difference(&keys).copied().collect();
        for key in leaving {
            match key {
                AllowKey::V4 { prefix_len, data } => v4
                    .remove(&Key::new(prefix_len, data))
                    .map_err(|source| map_error(programs::MAP_ALLOW_V4, source))?,
                AllowKey::V6 { prefix_len, data } => v6
                    .remove(&Key::new(prefix_len, data))
                    .map_err(|source| map_error(programs::MAP_ALLOW_V6, source))?,
            }
            self.allowed.remove(&key);
        }
        let arriving: Vec<AllowKey> = keys.difference(&self.allowed).copied().collect();
        for key in arriving {
            key.assert_well_formed();
            match key {
                AllowKey::V4 { prefix_len, data } => {
                    v4.insert(&Key::new(prefix_len, data), 1, 0)
                        .map_err(|source| map_error(programs::MAP_ALLOW_V4, source))?
                }
                AllowKey::V6 { prefix_len, data } => {
                    v6.insert(&Key::new(prefix_len, data), 1, 0)
                        .map_err(|source| map_error(programs::MAP_ALLOW_V6, source))?
                }
            }
            self.allowed.insert(key);
        }
        debug_assert_eq!(self.allowed, keys);
        Ok(())
    }
}

impl Drop for KernelEnforcer {
    /// Detaches every program (aya's links drop with the object), then removes the
    /// cgroup directory if this enforcer created it and it is empty. Best-effort.
    fn drop(&mut self) {
        drop(self.ebpf.take());
        drop(self.stats_enabled.take());
        if self.created_cgroup_dir {
            if let Err(error) = std::fs::remove_dir(&self.cgroup_dir) {
                tracing::warn!(
                    cgroup = %self.cgroup_dir.display(),
                    %error,
                    "could not remove the enforcer's cgroup directory"
                );
            }
        }
    }
}

/// The destination address of an `egress_bytes` key ({u32 family; u8 addr[16]}).
fn egress_address(key: &[u8; 20]) -> Option<IpAddr> {
    let family = u32::from_ne_bytes([key[0], key[1], key[2], key[3]]);
    let address = &key[4..];
    match family {
        4 => Some(IpAddr::V4(Ipv4Addr::new(
            address[0], address[1], address[2], address[3],
        ))),
        6 => Some(IpAddr::V6(Ipv6Addr::from(
            <[u8; 16]>::try_from(address).expect("16 bytes"),
        ))),
        _ => None,
    }
}

fn map<'a, T>(ebpf: &'a Ebpf, name: &'static str) -> Result<T, KernelError>
where
    T: TryFrom<&'a aya::maps::Map, Error = MapError>,
{
    let map = ebpf
        .map(name)
        .ok_or(KernelError::Missing { what: "map", name })?;
    T::try_from(map).map_err(|source| map_error(name, source))
}

fn map_mut<'a, T>(ebpf: &'a mut Ebpf, name: &'static str) -> Result<T, KernelError>
where
    T: TryFrom<&'a mut aya::maps::Map, Error = MapError>,
{
    let map = ebpf
        .map_mut(name)
        .ok_or(KernelError::Missing { what: "map", name })?;
    T::try_from(map).map_err(|source| map_error(name, source))
}

fn program_mut<'a, T>(ebpf: &'a mut Ebpf, name: &'static str) -> Result<&'a mut T, KernelError>
where
    &'a mut T: TryFrom<&'a mut aya::programs::Program, Error = ProgramError>,
{
    let program = ebpf.program_mut(name).ok_or(KernelError::Missing {
        what: "program",
        name,
    })?;
    program
        .try_into()
        .map_err(|source| load_error(name, source))
}

fn map_error(map: &'static str, source: MapError) -> KernelError {
    KernelError::Map { map, source }
}

fn load_error(program: &'static str, source: ProgramError) -> KernelError {
    match source {
        ProgramError::LoadError {
            io_error,
            verifier_log,
        } => {
            let log = verifier_log.to_string();
            let lines: Vec<&str> = log.lines().filter(|line| !line.trim().is_empty()).collect();
            let log_tail = lines[lines.len().saturating_sub(3)..].join(" | ");
            KernelError::Verifier {
                program,
                error: io_error,
                log_tail,
            }
        }
        source => KernelError::ProgramLoad { program, source },
    }
}

fn attach_error(program: &'static str, target: &str, source: ProgramError) -> KernelError {
    KernelError::Attach {
        program,
        target: target.to_string(),
        source,
    }
}

/// Adds the clsact qdisc that pre-TCX kernels need for TC programs; one already there is fine.
fn add_clsact(interface: &str) -> Result<(), KernelError> {
    match aya::programs::tc::qdisc_add_clsact(interface) {
        Ok(()) | Err(TcError::AlreadyAttached) => Ok(()),
        Err(TcError::NetlinkError(error)) if error.raw_os_error() == Some(libc::EEXIST) => Ok(()),
        Err(source) => Err(KernelError::Clsact {
            interface: interface.to_string(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> host::HostFacts {
        host::HostFacts {
            kernel: Some(KernelVersion { major: 6, minor: 1 }),
            capabilities_effective: 1 << 21, // CAP_SYS_ADMIN
            bpffs_mounted: false,
            cgroup2_mounted: true,
        }
    }

    #[test]
    fn host_checks_name_the_missing_piece() {
        assert!(
            check_host(&facts()).is_ok(),
            "bpffs is not needed: nothing is pinned"
        );
        let unprivileged = host::HostFacts {
            capabilities_effective: 1 << 39, // CAP_BPF alone
            ..facts()
        };
        let error = check_host(&unprivileged).unwrap_err();
        assert!(matches!(error, KernelError::NoPrivilege), "{error}");
        assert!(error.to_string().contains("CAP_BPF"));
        let v1_only = host::HostFacts {
            cgroup2_mounted: false,
            ..facts()
        };
        assert!(matches!(
            check_host(&v1_only).unwrap_err(),
            KernelError::NoCgroup2
        ));
        let old = host::HostFacts {
            kernel: Some(KernelVersion {
                major: 4,
                minor: 19,
            }),
            ..facts()
        };
        assert!(check_host(&old).unwrap_err().to_string().contains("4.19"));
    }

    #[test]
    fn the_allow_list_is_bounded_and_deduplicated() {
        let many: Vec<Destination> = (0..=DESTINATIONS_MAX as u16)
            .map(|port| Destination::new("10.0.0.0/8".parse().unwrap(), port))
            .collect();
        let error = allow_keys(&many).unwrap_err();
        assert!(
            matches!(error, KernelError::TooManyDestinations { count: 257 }),
            "{error}"
        );
        assert_eq!(allow_keys(&many[..DESTINATIONS_MAX]).unwrap().len(), 256);
        let same = [
            "10.0.0.0/8:0".parse().unwrap(),
            "10.9.9.9/8:0".parse().unwrap(),
        ];
        assert_eq!(allow_keys(&same).unwrap().len(), 1);
    }

    #[test]
    fn egress_keys_decode_both_families() {
        let mut key = [0u8; 20];
        key[..4].copy_from_slice(&4u32.to_ne_bytes());
        key[4..8].copy_from_slice(&[10, 1, 2, 3]);
        assert_eq!(egress_address(&key), Some("10.1.2.3".parse().unwrap()));
        key[..4].copy_from_slice(&6u32.to_ne_bytes());
        key[4..].copy_from_slice(&"fd00::1".parse::<Ipv6Addr>().unwrap().octets());
        assert_eq!(egress_address(&key), Some("fd00::1".parse().unwrap()));
        key[..4].copy_from_slice(&0u32.to_ne_bytes());
        assert_eq!(egress_address(&key), None);
    }

    #[test]
    fn the_programs_are_built_on_the_test_hosts() {
        // CI installs clang and libbpf-dev (scripts/setup) before the tests.
        assert_eq!(programs_built(), Ok(()));
    }
}
