//! The kernel enforcer against the real kernel. Needs root, cgroup v2, `ip` (iproute2),
//! python3 and the programs built (clang + libbpf-dev, scripts/setup): a missing one
//! fails the test with the reason, it never skips.
//!
//! Each test has its own network namespace (`ip netns add x0t-<pid>-<n>`) and its own
//! cgroup directory under the cgroup2 mount, both removed on every exit path by guards.
//! Traffic stays inside those namespaces. The processes under enforcement are python3
//! children that join the namespace and the cgroup before exec (`pre_exec`).

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, SocketAddrV6, TcpListener, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use x0_ebpf::{
    cgroup2_mount, Destination, KernelCounters, KernelEnforcer, KernelError, KernelSettings,
};

// ---------------------------------------------------------------------------------------
// The shared destination table.

struct Table {
    allow: Vec<Destination>,
    cases: Vec<(SocketAddr, bool)>,
}

fn destination_table() -> Table {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/destination_cases.txt");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut table = Table {
        allow: Vec::new(),
        cases: Vec::new(),
    };
    for (number, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap().trim();
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [] => {}
            ["allow", destination] => table.allow.push(
                destination
                    .parse()
                    .unwrap_or_else(|e| panic!("{path}:{}: {e}", number + 1)),
            ),
            ["case", address, verdict] => {
                let address: SocketAddr = address
                    .parse()
                    .unwrap_or_else(|e| panic!("{path}:{}: {e}", number + 1));
                let allowed = match *verdict {
                    "allowed" => true,
                    "denied" => false,
                    other => panic!("{path}:{}: verdict {other:?}", number + 1),
                };
                table.cases.push((address, allowed));
            }
            _ => panic!("{path}:{}: unreadable line {line:?}", number + 1),
        }
    }
    assert!(
        !table.allow.is_empty() && !table.cases.is_empty(),
        "{path} is empty"
    );
    table
}

#[test]
fn the_table_file_agrees_with_the_userspace_rule() {
    // The same verdicts as Destination::allows, the rule the programs implement.
    let table = destination_table();
    assert_eq!(table.allow.len(), 3);
    assert_eq!(table.cases.len(), 9);
    for (address, allowed) in &table.cases {
        let verdict = table
            .allow
            .iter()
            .any(|d| d.allows(address.ip(), address.port()));
        assert_eq!(verdict, *allowed, "{address}");
    }
}

// ---------------------------------------------------------------------------------------
// Prerequisites, namespaces, cgroups, processes.

static NEXT: AtomicUsize = AtomicUsize::new(0);

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "the kernel tests need root (CAP_BPF, CAP_NET_ADMIN, cgroup and netns creation); run them as root"
    );
}

fn python() -> &'static str {
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

fn run(program: &str, args: &[&str]) {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("{program} could not run ({e}); install iproute2 (scripts/setup)")
        });
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A named network namespace; deleted on drop.
struct Netns {
    name: String,
    file: File,
}

impl Netns {
    fn new() -> Netns {
        require_root();
        let name = unique("x0t");
        run("ip", &["netns", "add", &name]);
        let file = File::open(format!("/run/netns/{name}"));
        let netns = Netns {
            name: name.clone(),
            file: match file {
                Ok(file) => file,
                Err(e) => {
                    let _ = Command::new("ip").args(["netns", "del", &name]).status();
                    panic!("/run/netns/{name}: {e}");
                }
            },
        };
        netns.ip(&["link", "set", "lo", "up"]);
        netns
    }

    fn ip(&self, args: &[&str]) {
        let mut full = vec!["-n", &self.name];
        full.extend_from_slice(args);
        run("ip", &full);
    }

    fn fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }

    /// Runs `body` on a thread of its own that has entered this namespace: sockets it
    /// opens, interfaces it names and children it forks are inside.
    fn run<T: Send>(&self, body: impl FnOnce() -> T + Send) -> T {
        std::thread::scope(|scope| {
            let handle = scope.spawn(|| {
                // SAFETY: a valid namespace fd; setns only changes this thread.
                let rc = unsafe { libc::setns(self.fd(), libc::CLONE_NEWNET) };
                assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
                body()
            });
            match handle.join() {
                Ok(value) => value,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }

    /// Adds a case address to lo (127/8 is there already).
    fn add_local_address(&self, address: IpAddr) {
        match address {
            IpAddr::V4(v4) if v4.is_loopback() => {}
            IpAddr::V4(v4) => self.ip(&["addr", "add", &format!("{v4}/32"), "dev", "lo"]),
            IpAddr::V6(v6) if v6.is_loopback() => {}
            IpAddr::V6(v6) => self.ip(&[
                "-6",
                "addr",
                "add",
                &format!("{v6}/128"),
                "dev",
                "lo",
                "nodad",
            ]),
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// A unique cgroup path under the cgroup2 mount (the enforcer creates it); removed on drop
/// if still there.
struct CgroupDir {
    path: PathBuf,
}

impl CgroupDir {
    fn new() -> CgroupDir {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let mount = cgroup2_mount(&mountinfo)
            .expect("no cgroup2 mount in /proc/self/mountinfo: the kernel tests need cgroup v2");
        CgroupDir {
            path: mount.join(unique("x0t")),
        }
    }

    fn settings(&self, tc_interfaces: &[&str]) -> KernelSettings {
        KernelSettings {
            cgroup_dir: self.path.clone(),
            tc_interfaces: tc_interfaces.iter().map(|s| s.to_string()).collect(),
        }
    }
}

impl Drop for CgroupDir {
    fn drop(&mut self) {
        if let Ok(procs) = std::fs::read_to_string(self.path.join("cgroup.procs")) {
            for pid in procs.lines().filter_map(|l| l.parse::<i32>().ok()) {
                // SAFETY: kill has no memory preconditions; these are our children.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        for _ in 0..50 {
            match std::fs::remove_dir(&self.path) {
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => break,
            }
        }
    }
}

/// Where a child runs: a namespace, and optionally a cgroup it joins before exec.
struct Placement<'a> {
    netns: &'a Netns,
    cgroup: Option<&'a Path>,
}

fn command(placement: &Placement, script: &str, args: &[String]) -> Command {
    let mut command = Command::new(python());
    command.arg("-c").arg(script).args(args);
    let netns_fd = placement.netns.fd();
    let procs = placement.cgroup.map(|dir| {
        CString::new(dir.join("cgroup.procs").as_os_str().as_bytes()).expect("no NUL in paths")
    });
    // SAFETY: the closure only makes async-signal-safe syscalls (setns, open, write, close).
    unsafe {
        command.pre_exec(move || {
            if libc::setns(netns_fd, libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if let Some(procs) = &procs {
                let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let written = libc::write(fd, b"0".as_ptr().cast(), 1);
                libc::close(fd);
                if written != 1 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    command
}

fn output(placement: &Placement, script: &str, args: &[String]) -> String {
    let Output {
        status,
        stdout,
        stderr,
    } = command(placement, script, args)
        .output()
        .unwrap_or_else(|e| panic!("python3 could not run: {e}; install python3"));
    let stdout = String::from_utf8_lossy(&stdout).into_owned();
    assert!(
        status.success(),
        "child {args:?} failed ({status}): {stdout}{}",
        String::from_utf8_lossy(&stderr)
    );
    stdout.trim().to_string()
}

/// Kills and reaps a child on every exit path.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Connects (TCP) or sends to (UDP) a destination and prints `reply <text>` or
/// `errno <n>`. Arguments: tcp|udp, host, port, IPv6 scope id, payload size.
const CLIENT: &str = r#"
import socket, sys
proto, host, port, scope, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
v6 = ':' in host
family = socket.AF_INET6 if v6 else socket.AF_INET
address = (host, port, 0, scope) if v6 else (host, port)
payload = b'x' * size
try:
    if proto == 'tcp':
        s = socket.socket(family, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(address)
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        reply = s.recv(64)
    else:
        s = socket.socket(family, socket.SOCK_DGRAM)
        s.settimeout(5)
        s.sendto(payload, address)
        reply, _ = s.recvfrom(64)
    print('reply ' + reply.decode())
except socket.timeout:
    print('timeout')
except OSError as e:
    print('errno %d' % e.errno)
"#;

fn scope_of(address: &SocketAddr) -> u32 {
    match address {
        // Link-local destinations need an interface: lo (index 1 in a new namespace).
        SocketAddr::V6(v6) if v6.ip().segments()[0] & 0xffc0 == 0xfe80 => 1,
        _ => 0,
    }
}

fn client(placement: &Placement, proto: &str, address: &SocketAddr, size: usize) -> String {
    output(
        placement,
        CLIENT,
        &[
            proto.to_string(),
            address.ip().to_string(),
            address.port().to_string(),
            scope_of(address).to_string(),
            size.to_string(),
        ],
    )
}

const EPERM_LINE: &str = "errno 1";

/// TCP and UDP servers on the given addresses that answer `ok <bytes received>`; they
/// stop on drop.
struct Servers {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Servers {
    /// Binds in the calling thread's namespace.
    fn start(addresses: &[SocketAddr]) -> Servers {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for address in addresses {
            let bind = match address {
                SocketAddr::V6(v6) => {
                    SocketAddr::V6(SocketAddrV6::new(*v6.ip(), v6.port(), 0, scope_of(address)))
                }
                v4 => *v4,
            };
            let tcp = TcpListener::bind(bind).unwrap_or_else(|e| panic!("bind tcp {bind}: {e}"));
            tcp.set_nonblocking(true).unwrap();
            let udp = UdpSocket::bind(bind).unwrap_or_else(|e| panic!("bind udp {bind}: {e}"));
            udp.set_read_timeout(Some(Duration::from_millis(50)))
                .unwrap();
            let stop_tcp = stop.clone();
            threads.push(std::thread::spawn(move || {
                while !stop_tcp.load(Ordering::Relaxed) {
                    match tcp.accept() {
                        Ok((mut stream, _)) => {
                            stream.set_nonblocking(false).unwrap();
                            stream
                                .set_read_timeout(Some(Duration::from_secs(5)))
                                .unwrap();
                            let mut received = Vec::new();
                            let _ = stream.read_to_end(&mut received);
                            let _ = stream.write_all(format!("ok {}", received.len()).as_bytes());
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            }));
            let stop_udp = stop.clone();
            threads.push(std::thread::spawn(move || {
                let mut buffer = vec![0u8; 65536];
                while !stop_udp.load(Ordering::Relaxed) {
                    if let Ok((n, from)) = udp.recv_from(&mut buffer) {
                        let _ = udp.send_to(format!("ok {n}").as_bytes(), from);
                    }
                }
            }));
        }
        Servers { stop, threads }
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn start(settings: &KernelSettings, destinations: &[Destination]) -> KernelEnforcer {
    KernelEnforcer::start(settings, destinations)
        .unwrap_or_else(|error| panic!("KernelEnforcer::start failed: {error}"))
}

fn denied(counters: &KernelCounters) -> BTreeMap<&'static str, u64> {
    counters.denied.clone()
}

fn expect_denied(pairs: &[(&'static str, u64)]) -> BTreeMap<&'static str, u64> {
    let mut all: BTreeMap<&'static str, u64> =
        ["connect4", "connect6", "sendmsg4", "sendmsg6", "tc_egress"]
            .into_iter()
            .map(|name| (name, 0))
            .collect();
    for (name, count) in pairs {
        all.insert(name, *count);
    }
    all
}

/// A namespace with every case address on lo and servers on every case destination.
fn case_world(netns: &Netns, table: &Table) {
    let addresses: std::collections::BTreeSet<IpAddr> = table
        .cases
        .iter()
        .map(|(address, _)| address.ip())
        .collect();
    for address in addresses {
        netns.add_local_address(address);
    }
}

fn case_addresses(table: &Table) -> Vec<SocketAddr> {
    table.cases.iter().map(|(address, _)| *address).collect()
}

// ---------------------------------------------------------------------------------------
// The tests.

#[test]
fn destination_table_holds_in_the_kernel_for_tcp_and_udp() {
    let table = destination_table();
    let netns = Netns::new();
    case_world(&netns, &table);
    let cgroup = CgroupDir::new();
    netns.run(|| {
        let _servers = Servers::start(&case_addresses(&table));
        let enforcer = start(&cgroup.settings(&[]), &table.allow);
        assert_eq!(enforcer.cgroup_dir(), cgroup.path);
        let inside = Placement {
            netns: &netns,
            cgroup: Some(&cgroup.path),
        };
        let mut expected: BTreeMap<&'static str, u64> = expect_denied(&[]);
        for (address, allowed) in &table.cases {
            for proto in ["tcp", "udp"] {
                let result = client(&inside, proto, address, 2);
                if *allowed {
                    assert_eq!(result, "reply ok 2", "{proto} {address} must get through");
                } else {
                    assert_eq!(result, EPERM_LINE, "{proto} {address} must be refused");
                    let hook = match (proto, address.is_ipv4()) {
                        ("tcp", true) => "connect4",
                        ("tcp", false) => "connect6",
                        ("udp", true) => "sendmsg4",
                        _ => "sendmsg6",
                    };
                    *expected.get_mut(hook).unwrap() += 1;
                }
                let counters = enforcer.counters().unwrap();
                assert_eq!(denied(&counters), expected, "after {proto} {address}");
            }
        }
        // 3 denied IPv4 and 2 denied IPv6 cases, once per transport.
        assert_eq!(
            expected,
            expect_denied(&[
                ("connect4", 3),
                ("connect6", 2),
                ("sendmsg4", 3),
                ("sendmsg6", 2)
            ])
        );
    });
}

#[test]
fn egress_bytes_count_a_known_payload() {
    const PAYLOAD: usize = 64 * 1024;
    let netns = Netns::new();
    netns.add_local_address("10.1.2.3".parse().unwrap());
    let cgroup = CgroupDir::new();
    netns.run(|| {
        let tcp_target: SocketAddr = "127.0.0.1:9091".parse().unwrap();
        let udp_target: SocketAddr = "10.1.2.3:1".parse().unwrap();
        let _servers = Servers::start(&[tcp_target, udp_target]);
        let enforcer = start(
            &cgroup.settings(&[]),
            &[
                "127.0.0.1/32:9091".parse().unwrap(),
                "10.0.0.0/8:0".parse().unwrap(),
            ],
        );
        let inside = Placement {
            netns: &netns,
            cgroup: Some(&cgroup.path),
        };
        assert_eq!(
            client(&inside, "tcp", &tcp_target, PAYLOAD),
            format!("reply ok {PAYLOAD}")
        );
        assert_eq!(client(&inside, "udp", &udp_target, 1000), "reply ok 1000");
        let counters = enforcer.counters().unwrap();
        let tcp_bytes = counters.egress_bytes[&tcp_target.ip()];
        assert!(
            tcp_bytes >= PAYLOAD as u64,
            "{tcp_bytes} bytes counted to {} for a {PAYLOAD}-byte payload",
            tcp_target.ip()
        );
        // One datagram: IPv4 header (20) + UDP header (8) + payload.
        assert_eq!(counters.egress_bytes[&udp_target.ip()], 1000 + 28);
        // The servers answer from outside the cgroup: their bytes are not counted.
        assert_eq!(
            counters.egress_bytes.len(),
            2,
            "{:?}",
            counters.egress_bytes
        );
        assert_eq!(counters.egress_untracked_bytes, 0);
    });
}

/// Sends one 10-byte UDP datagram to each of N addresses in 10.0.0.0/8 (made local by a
/// route), then prints `sent N`.
const SPRAY: &str = r#"
import socket, sys
count = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(count):
    s.sendto(b'0123456789', ('10.%d.%d.%d' % (1 + i // 65536, (i // 256) % 256, i % 256), 7))
print('sent %d' % count)
"#;

#[test]
fn egress_bytes_past_the_tracked_limit_count_as_untracked() {
    const DESTINATIONS: usize = x0_ebpf::EGRESS_TRACKED_MAX + 100;
    let netns = Netns::new();
    netns.ip(&["route", "add", "local", "10.0.0.0/8", "dev", "lo"]);
    let cgroup = CgroupDir::new();
    netns.run(|| {
        let enforcer = start(&cgroup.settings(&[]), &["10.0.0.0/8:0".parse().unwrap()]);
        let inside = Placement {
            netns: &netns,
            cgroup: Some(&cgroup.path),
        };
        assert_eq!(
            output(&inside, SPRAY, &[DESTINATIONS.to_string()]),
            format!("sent {DESTINATIONS}")
        );
        let counters = enforcer.counters().unwrap();
        let datagram = 20 + 8 + 10;
        assert_eq!(counters.egress_bytes.len(), x0_ebpf::EGRESS_TRACKED_MAX);
        assert!(counters.egress_bytes.values().all(|&b| b == datagram));
        assert_eq!(counters.egress_untracked_bytes, 100 * datagram);
    });
}

#[test]
fn a_process_outside_the_cgroup_is_not_enforced() {
    let table = destination_table();
    let netns = Netns::new();
    case_world(&netns, &table);
    let cgroup = CgroupDir::new();
    netns.run(|| {
        let _servers = Servers::start(&case_addresses(&table));
        let enforcer = start(&cgroup.settings(&[]), &table.allow);
        let outside = Placement {
            netns: &netns,
            cgroup: None,
        };
        let inside = Placement {
            netns: &netns,
            cgroup: Some(&cgroup.path),
        };
        let mut checked = 0;
        for (address, _) in table.cases.iter().filter(|(_, allowed)| !allowed) {
            assert_eq!(client(&inside, "tcp", address, 3), EPERM_LINE, "{address}");
            for proto in ["tcp", "udp"] {
                assert_eq!(
                    client(&outside, proto, address, 3),
                    "reply ok 3",
                    "{proto} {address} from outside the cgroup"
                );
                checked += 1;
            }
        }
        assert_eq!(checked, 10);
        let counters = enforcer.counters().unwrap();
        // Only the inside attempts were refused and only inside bytes counted.
        assert_eq!(
            denied(&counters),
            expect_denied(&[("connect4", 3), ("connect6", 2)])
        );
        assert!(
            counters.egress_bytes.is_empty(),
            "{:?}",
            counters.egress_bytes
        );
    });
}

#[test]
fn policy_reload_flips_a_case_and_back() {
    let table = destination_table();
    let netns = Netns::new();
    case_world(&netns, &table);
    let cgroup = CgroupDir::new();
    netns.run(|| {
        let _servers = Servers::start(&case_addresses(&table));
        let mut enforcer = start(&cgroup.settings(&[]), &table.allow);
        let inside = Placement {
            netns: &netns,
            cgroup: Some(&cgroup.path),
        };
        let target: SocketAddr = "127.0.0.1:9091".parse().unwrap();
        let other: SocketAddr = "10.1.2.3:1".parse().unwrap();
        assert_eq!(client(&inside, "tcp", &target, 1), "reply ok 1");

        let without: Vec<Destination> = table
            .allow
            .iter()
            .copied()
            .filter(|d| !d.allows(target.ip(), target.port()))
            .collect();
        assert_eq!(without.len(), table.allow.len() - 1);
        enforcer.set_destinations(&without).unwrap();
        assert_eq!(enforcer.destinations_len(), without.len());
        assert_eq!(client(&inside, "tcp", &target, 1), EPERM_LINE);
        assert_eq!(client(&inside, "udp", &target, 1), EPERM_LINE);
        assert_eq!(
            client(&inside, "tcp", &other, 1),
            "reply ok 1",
            "untouched entry"
        );

        enforcer.set_destinations(&table.allow).unwrap();
        assert_eq!(client(&inside, "tcp", &target, 1), "reply ok 1");
        assert_eq!(client(&inside, "udp", &target, 1), "reply ok 1");

        // An empty list refuses everything.
        enforcer.set_destinations(&[]).unwrap();
        assert_eq!(client(&inside, "tcp", &other, 1), EPERM_LINE);
        assert_eq!(
            denied(&enforcer.counters().unwrap()),
            expect_denied(&[("connect4", 2), ("sendmsg4", 1)])
        );
        let too_many: Vec<Destination> = (0..=x0_ebpf::DESTINATIONS_MAX as u16)
            .map(|port| Destination::new("10.0.0.0/8".parse().unwrap(), port + 1))
            .collect();
        let error = enforcer.set_destinations(&too_many).unwrap_err();
        assert!(
            matches!(error, KernelError::TooManyDestinations { count: 257 }),
            "{error}"
        );
        assert_eq!(
            enforcer.destinations_len(),
            0,
            "a refused list changes nothing"
        );
    });
}

/// Two connected UDP sockets (IPv4, IPv6) to the given destinations: sends `first` on
/// each, prints `ready`, waits for a line on stdin, sends `second` five times on each
/// (no address: the sendmsg hooks do not see these), prints `done`.
const CONNECTED_SENDER: &str = r#"
import socket, sys
sockets = []
for target in sys.argv[1:]:
    host, port = target.rsplit(':', 1)
    v6 = host.startswith('[')
    s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((host.strip('[]'), int(port)))
    s.send(b'first')
    sockets.append(s)
print('ready', flush=True)
sys.stdin.readline()
for s in sockets:
    for _ in range(5):
        s.send(b'second')
print('done', flush=True)
"#;

/// Sends one datagram `outside` to host, port; prints `sent`.
const SEND_ONCE: &str = r#"
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b'outside', (host, port))
print('sent')
"#;

/// UDP sinks that record every datagram received.
/// Datagrams received: (the sink's address, the text).
type Received = Arc<Mutex<Vec<(SocketAddr, String)>>>;

fn udp_sinks(addresses: &[SocketAddr]) -> (Received, Servers) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for address in addresses {
        let socket = UdpSocket::bind(address).unwrap_or_else(|e| panic!("bind {address}: {e}"));
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let (received, stop, address) = (received.clone(), stop.clone(), *address);
        threads.push(std::thread::spawn(move || {
            let mut buffer = [0u8; 256];
            while !stop.load(Ordering::Relaxed) {
                if let Ok(n) = socket.recv(&mut buffer) {
                    let text = String::from_utf8_lossy(&buffer[..n]).into_owned();
                    received.lock().unwrap().push((address, text));
                }
            }
        }));
    }
    (received, Servers { stop, threads })
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn tc_classifier_drops_the_cgroups_denied_packets_on_the_interface() {
    // client namespace --veth--> server namespace
    let client_ns = Netns::new();
    let server_ns = Netns::new();
    client_ns.ip(&[
        "link",
        "add",
        "x0c",
        "type",
        "veth",
        "peer",
        "name",
        "x0s",
        "netns",
        &server_ns.name,
    ]);
    client_ns.ip(&["addr", "add", "10.77.0.1/24", "dev", "x0c"]);
    client_ns.ip(&["-6", "addr", "add", "fd77::1/64", "dev", "x0c", "nodad"]);
    client_ns.ip(&["link", "set", "x0c", "up"]);
    server_ns.ip(&["addr", "add", "10.77.0.2/24", "dev", "x0s"]);
    server_ns.ip(&["-6", "addr", "add", "fd77::2/64", "dev", "x0s", "nodad"]);
    server_ns.ip(&["link", "set", "x0s", "up"]);
    let v4: SocketAddr = "10.77.0.2:9091".parse().unwrap();
    let v6: SocketAddr = "[fd77::2]:9091".parse().unwrap();
    let (received, _sinks) = server_ns.run(|| udp_sinks(&[v4, v6]));
    let count = |text: &str| {
        let received = received.lock().unwrap();
        [v4, v6].map(|a| {
            received
                .iter()
                .filter(|(to, t)| *to == a && t == text)
                .count()
        })
    };
    let cgroup = CgroupDir::new();
    client_ns.run(|| {
        let mut enforcer = start(
            &cgroup.settings(&["x0c"]),
            &[
                "10.77.0.2/32:9091".parse().unwrap(),
                "[fd77::2/128]:9091".parse().unwrap(),
            ],
        );
        let inside = Placement {
            netns: &client_ns,
            cgroup: Some(&cgroup.path),
        };
        let mut sender = ChildGuard(
            command(&inside, CONNECTED_SENDER, &[v4.to_string(), v6.to_string()])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("python3 runs"),
        );
        let mut lines = BufReader::new(sender.0.stdout.take().unwrap()).lines();
        assert_eq!(lines.next().unwrap().unwrap(), "ready");
        wait_for("the allowed first datagrams", || count("first") == [1, 1]);
        assert_eq!(enforcer.counters().unwrap().denied["tc_egress"], 0);

        // Reload: the connected sockets' destinations are no longer allowed. Their sends
        // carry no address, so only the TC classifier can stop them.
        enforcer
            .set_destinations(&["10.99.0.0/16:0".parse().unwrap()])
            .unwrap();
        writeln!(sender.0.stdin.take().unwrap(), "go").unwrap();
        assert_eq!(lines.next().unwrap().unwrap(), "done");
        assert!(sender.0.wait().unwrap().success());

        // A process outside the cgroup sends to the same destinations through the same
        // interface: the classifier lets it pass.
        let outside = Placement {
            netns: &client_ns,
            cgroup: None,
        };
        for target in [v4, v6] {
            let args = [target.ip().to_string(), target.port().to_string()];
            assert_eq!(output(&outside, SEND_ONCE, &args), "sent");
        }
        wait_for("the outside datagrams", || count("outside") == [1, 1]);
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(
            count("second"),
            [0, 0],
            "denied datagrams reached the server"
        );
        let counters = enforcer.counters().unwrap();
        assert_eq!(
            denied(&counters),
            expect_denied(&[("tc_egress", 10)]),
            "5 dropped datagrams per family, none refused by the cgroup hooks"
        );
    });
}

const UNPRIVILEGED_CHILD: &str = "X0_EBPF_UNPRIVILEGED_CHILD";
const UNPRIVILEGED_MARKER: &str = "unprivileged start refused: ";

#[test]
fn without_privilege_start_fails_naming_the_privilege() {
    if let Some(cgroup_dir) = std::env::var_os(UNPRIVILEGED_CHILD) {
        // The child side: running as nobody, with no capabilities.
        // SAFETY: plain getters.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        assert_eq!((uid, gid), (65534, 65534));
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        assert!(status.contains("CapEff:\t0000000000000000"), "{status}");
        let settings = KernelSettings {
            cgroup_dir: PathBuf::from(&cgroup_dir),
            tc_interfaces: vec!["lo".to_string()],
        };
        let error = KernelEnforcer::start(&settings, &[]).expect_err("nobody must not load BPF");
        assert!(matches!(error, KernelError::NoPrivilege), "{error:?}");
        assert!(
            !settings.cgroup_dir.exists(),
            "nothing is created on refusal"
        );
        println!("{UNPRIVILEGED_MARKER}{error}");
        return;
    }
    require_root();
    let cgroup = CgroupDir::new();
    // A copy of this test binary that uid 65534 can execute wherever the build lives.
    let dir = std::env::temp_dir().join(unique("x0t-exe"));
    std::fs::create_dir(&dir).unwrap();
    struct RemoveDir(PathBuf);
    impl Drop for RemoveDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _remove = RemoveDir(dir.clone());
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let exe = dir.join("kernel-test");
    std::fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let child = Command::new(&exe)
        .args([
            "--exact",
            "without_privilege_start_fails_naming_the_privilege",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(UNPRIVILEGED_CHILD, &cgroup.path)
        .current_dir(&dir)
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&child.stdout);
    let stderr = String::from_utf8_lossy(&child.stderr);
    assert!(child.status.success(), "child failed: {stdout}{stderr}");
    let line = stdout
        .lines()
        .find_map(|line| line.split_once(UNPRIVILEGED_MARKER).map(|(_, error)| error))
        .unwrap_or_else(|| panic!("the child did not report its refusal: {stdout}{stderr}"));
    assert!(line.contains("no privilege"), "{line}");
    assert!(line.contains("CAP_BPF"), "{line}");
    assert!(stdout.contains("1 passed"), "{stdout}");
}
