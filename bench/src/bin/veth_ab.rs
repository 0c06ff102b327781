//! A/B benchmark of the Charter's kernel enforcer on a veth pair.
//!
//! Two network namespaces it creates (`x0b-<pid>-c`, `x0b-<pid>-s`) joined by a veth pair
//! (10.78.0.1 <-> 10.78.0.2), a TCP echo server and a TCP sink in the server namespace,
//! and a client process (this binary re-executed with `--client`) in the client namespace
//! and in a cgroup of its own. Rounds alternate WITHOUT and WITH the kernel programs
//! (cgroup connect/sendmsg/skb programs on the client's cgroup with the server allowed,
//! the TC classifier on the client's veth); the order flips every round. Each round
//! measures round-trip latency (small ping-pongs: median, p99) and bulk TCP throughput.
//! One extra round with the programs and the kernel's BPF run-time stats on gives
//! per-program run counts and average ns per run (stats stay off during the A/B rounds,
//! as they cost two clock reads per program run).
//!
//! Needs root. `cargo run --release -p x0-bench --bin veth_ab -- [--rounds 5]
//! [--pings 20000] [--bulk-secs 2]`. Prints a table and one JSON line. Everything it
//! creates (namespaces, veth, cgroup) is removed when it ends.

use std::ffi::CString;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use x0_ebpf::{cgroup2_mount, Destination, KernelEnforcer, KernelSettings, ProgramStats};

const CLIENT_IP: &str = "10.78.0.1";
const SERVER_IP: &str = "10.78.0.2";
const ECHO_PORT: u16 = 9091;
const SINK_PORT: u16 = 9092;
const MESSAGE: usize = 64;
const WARMUP: usize = 500;
const CHUNK: usize = 64 * 1024;

/// A/B of the Charter's kernel enforcer over a veth pair (root).
#[derive(Debug, clap::Parser)]
struct Options {
    /// WITHOUT/WITH rounds each (the order flips every round).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=1000))]
    rounds: u64,
    /// Ping-pongs per round for the round-trip time (the first 500 are warm-up).
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(501..=10_000_000))]
    pings: u64,
    /// Seconds of bulk TCP per round for throughput.
    #[arg(long, default_value_t = 2.0)]
    bulk_secs: f64,
    /// Whether WITH rounds also attach the TC classifier on the client's veth (a node
    /// attaches it only on `[charter] tc_interfaces`, none by default).
    #[arg(long, default_value = "on", value_parser = ["on", "off"])]
    tc: String,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--client") {
        client(&args[1..]);
        return;
    }
    let options = <Options as clap::Parser>::parse();
    if !(options.bulk_secs > 0.0 && options.bulk_secs <= 600.0) {
        eprintln!("error: --bulk-secs must be in (0, 600]");
        std::process::exit(2);
    }
    if let Err(reason) = x0_ebpf::programs_built() {
        fail(&format!("the kernel programs are not built: {reason}"));
    }
    // SAFETY: plain getter.
    if unsafe { libc::geteuid() } != 0 {
        fail("run as root: it creates namespaces, a veth pair and a cgroup, and loads BPF");
    }
    bench(&options);
}

/// Unwinds (rather than exits) so the namespace and cgroup guards still clean up.
fn fail(message: &str) -> ! {
    panic!("veth_ab: {message}");
}

// ---------------------------------------------------------------------------------------
// Setup and teardown.

fn ip(args: &[&str]) {
    let status = Command::new("ip")
        .args(args)
        .status()
        .unwrap_or_else(|e| fail(&format!("ip: {e}; install iproute2")));
    if !status.success() {
        fail(&format!("ip {args:?} failed"));
    }
}

struct Netns {
    name: String,
    file: File,
}

impl Netns {
    fn new(suffix: &str) -> Netns {
        let name = format!("x0b-{}-{suffix}", std::process::id());
        ip(&["netns", "add", &name]);
        let file = File::open(format!("/run/netns/{name}"))
            .unwrap_or_else(|e| fail(&format!("/run/netns/{name}: {e}")));
        let netns = Netns { name, file };
        ip(&["-n", &netns.name, "link", "set", "lo", "up"]);
        netns
    }

    /// Moves the calling thread into this namespace.
    fn enter(&self) {
        // SAFETY: a valid namespace fd; only this thread changes.
        if unsafe { libc::setns(self.file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            fail(&format!("setns: {}", std::io::Error::last_os_error()));
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

struct Cgroup(PathBuf);

impl Drop for Cgroup {
    fn drop(&mut self) {
        for _ in 0..50 {
            match std::fs::remove_dir(&self.0) {
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => break,
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Server side (threads of this process in the server namespace).

fn serve(listener: TcpListener, handle: fn(TcpStream)) {
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || handle(stream));
        }
    });
}

fn echo(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut buffer = [0u8; MESSAGE];
    while stream.read_exact(&mut buffer).is_ok() {
        if stream.write_all(&buffer).is_err() {
            break;
        }
    }
}

/// Reads until EOF, then answers with the byte count (8 bytes, big endian).
fn sink(mut stream: TcpStream) {
    let mut buffer = vec![0u8; CHUNK];
    let mut total: u64 = 0;
    loop {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => total += n as u64,
        }
    }
    let _ = stream.write_all(&total.to_be_bytes());
}

// ---------------------------------------------------------------------------------------
// Client side (a child process in the client namespace and cgroup).

fn client(args: &[String]) {
    let server: SocketAddr = args[1].parse().expect("server address");
    match args[0].as_str() {
        "ping" => {
            let pings: usize = args[2].parse().expect("pings");
            let mut stream = TcpStream::connect(server).expect("connect to the echo server");
            stream.set_nodelay(true).unwrap();
            let message = [7u8; MESSAGE];
            let mut reply = [0u8; MESSAGE];
            let mut rtts = Vec::with_capacity(pings);
            for _ in 0..pings {
                let start = Instant::now();
                stream.write_all(&message).unwrap();
                stream.read_exact(&mut reply).unwrap();
                rtts.push(start.elapsed().as_nanos() as u64);
            }
            let mut measured = rtts.split_off(WARMUP);
            measured.sort_unstable();
            println!(
                "{} {}",
                percentile(&measured, 0.50),
                percentile(&measured, 0.99)
            );
        }
        "bulk" => {
            let seconds: f64 = args[2].parse().expect("seconds");
            let mut stream = TcpStream::connect(server).expect("connect to the sink");
            let chunk = vec![1u8; CHUNK];
            let start = Instant::now();
            let until = start + Duration::from_secs_f64(seconds);
            while Instant::now() < until {
                stream.write_all(&chunk).unwrap();
            }
            stream.shutdown(std::net::Shutdown::Write).unwrap();
            let mut total = [0u8; 8];
            stream.read_exact(&mut total).unwrap();
            let elapsed = start.elapsed().as_secs_f64();
            println!("{} {}", u64::from_be_bytes(total), elapsed);
        }
        other => panic!("unknown client mode {other}"),
    }
}

fn percentile(sorted: &[u64], q: f64) -> u64 {
    let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// Runs this binary as a client inside the client namespace and cgroup.
fn run_client(netns: &Netns, cgroup: &Cgroup, args: &[String]) -> Vec<f64> {
    let procs = CString::new(cgroup.0.join("cgroup.procs").as_os_str().as_bytes()).unwrap();
    let netns_fd = netns.file.as_raw_fd();
    let mut command = Command::new(std::env::current_exe().unwrap());
    command.arg("--client").args(args);
    // SAFETY: only async-signal-safe syscalls (setns, open, write, close).
    unsafe {
        command.pre_exec(move || {
            if libc::setns(netns_fd, libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let written = libc::write(fd, b"0".as_ptr().cast(), 1);
            libc::close(fd);
            if written != 1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let output = command.output().expect("spawn the client");
    if !output.status.success() {
        fail(&format!(
            "client {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .map(|word| word.parse().expect("client prints numbers"))
        .collect()
}

// ---------------------------------------------------------------------------------------
// The benchmark.

#[derive(Default)]
struct Samples {
    rtt_median_ns: Vec<f64>,
    rtt_p99_ns: Vec<f64>,
    throughput_mbit: Vec<f64>,
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

fn bench(options: &Options) {
    let client_ns = Netns::new("c");
    let server_ns = Netns::new("s");
    ip(&[
        "-n",
        &client_ns.name,
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
    ip(&[
        "-n",
        &client_ns.name,
        "addr",
        "add",
        &format!("{CLIENT_IP}/24"),
        "dev",
        "x0c",
    ]);
    ip(&["-n", &client_ns.name, "link", "set", "x0c", "up"]);
    ip(&[
        "-n",
        &server_ns.name,
        "addr",
        "add",
        &format!("{SERVER_IP}/24"),
        "dev",
        "x0s",
    ]);
    ip(&["-n", &server_ns.name, "link", "set", "x0s", "up"]);

    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mount = cgroup2_mount(&mountinfo).unwrap_or_else(|| fail("no cgroup v2 mount"));
    let cgroup = Cgroup(mount.join(format!("x0b-{}", std::process::id())));
    std::fs::create_dir(&cgroup.0)
        .unwrap_or_else(|e| fail(&format!("mkdir {}: {e}", cgroup.0.display())));

    let echo_address: SocketAddr = format!("{SERVER_IP}:{ECHO_PORT}").parse().unwrap();
    let sink_address: SocketAddr = format!("{SERVER_IP}:{SINK_PORT}").parse().unwrap();
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                server_ns.enter();
                serve(TcpListener::bind(echo_address).unwrap(), echo);
                serve(TcpListener::bind(sink_address).unwrap(), sink);
            })
            .join()
            .unwrap();
    });
    // This thread stays in the client namespace from here: the TC classifier attaches
    // to the client's veth by name.
    client_ns.enter();

    let settings = KernelSettings {
        cgroup_dir: cgroup.0.clone(),
        tc_interfaces: if options.tc == "on" {
            vec!["x0c".to_string()]
        } else {
            Vec::new()
        },
    };
    let destinations: Vec<Destination> = [ECHO_PORT, SINK_PORT]
        .iter()
        .map(|port| format!("{SERVER_IP}/32:{port}").parse().unwrap())
        .collect();
    let ping_args = [
        "ping".to_string(),
        echo_address.to_string(),
        options.pings.to_string(),
    ];
    let bulk_args = [
        "bulk".to_string(),
        sink_address.to_string(),
        options.bulk_secs.to_string(),
    ];
    let measure = |samples: &mut Samples| {
        let ping = run_client(&client_ns, &cgroup, &ping_args);
        samples.rtt_median_ns.push(ping[0]);
        samples.rtt_p99_ns.push(ping[1]);
        let bulk = run_client(&client_ns, &cgroup, &bulk_args);
        samples.throughput_mbit.push(bulk[0] * 8.0 / bulk[1] / 1e6);
    };

    let mut without = Samples::default();
    let mut with = Samples::default();
    for round in 0..options.rounds {
        let order = if round % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        };
        for attached in order {
            if attached {
                let enforcer = KernelEnforcer::start(&settings, &destinations)
                    .unwrap_or_else(|e| fail(&format!("KernelEnforcer::start: {e}")));
                measure(&mut with);
                let counters = enforcer.counters().unwrap();
                let counted = counters
                    .egress_bytes
                    .get(&SERVER_IP.parse().unwrap())
                    .copied()
                    .unwrap_or(0);
                if counted == 0 || counters.denied.values().any(|&n| n != 0) {
                    fail(&format!(
                        "the programs did not see the client as expected: {counters:?}"
                    ));
                }
            } else {
                measure(&mut without);
            }
        }
        eprintln!("round {}/{} done", round + 1, options.rounds);
    }

    // Per-program figures: one more round with the run-time stats on.
    let stats: Vec<ProgramStats> = {
        let mut enforcer = KernelEnforcer::start(&settings, &destinations)
            .unwrap_or_else(|e| fail(&format!("KernelEnforcer::start: {e}")));
        enforcer
            .enable_run_time_stats()
            .unwrap_or_else(|e| fail(&e.to_string()));
        measure(&mut Samples::default());
        enforcer.program_stats().unwrap()
    };

    report(options, &without, &with, &stats);
}

fn report(options: &Options, without: &Samples, with: &Samples, stats: &[ProgramStats]) {
    let row = |samples: &Samples| {
        (
            median(&samples.rtt_median_ns) / 1000.0,
            median(&samples.rtt_p99_ns) / 1000.0,
            median(&samples.throughput_mbit),
        )
    };
    let (a_median, a_p99, a_tput) = row(without);
    let (b_median, b_p99, b_tput) = row(with);
    println!(
        "veth A/B: {} rounds, {} ping-pongs of {MESSAGE} B per round ({WARMUP} warm-up), {} s bulk TCP per round; medians over rounds",
        options.rounds, options.pings, options.bulk_secs
    );
    println!(
        "{:<10} {:>16} {:>14} {:>18}",
        "", "rtt median (us)", "rtt p99 (us)", "throughput (Mbit/s)"
    );
    println!(
        "{:<10} {a_median:>16.2} {a_p99:>14.2} {a_tput:>18.0}",
        "without"
    );
    println!(
        "{:<10} {b_median:>16.2} {b_p99:>14.2} {b_tput:>18.0}",
        "with"
    );
    println!(
        "{:<10} {:>16.3} {:>14.3} {:>18.3}",
        "with/w.o.",
        b_median / a_median,
        b_p99 / a_p99,
        b_tput / a_tput
    );
    println!("per program (one extra round with kernel.bpf_stats on):");
    println!("{:<12} {:>12} {:>12}", "program", "runs", "avg ns/run");
    let avg = |s: &ProgramStats| {
        if s.run_count == 0 {
            0.0
        } else {
            s.run_time_ns as f64 / s.run_count as f64
        }
    };
    for s in stats {
        println!("{:<12} {:>12} {:>12.1}", s.program, s.run_count, avg(s));
    }
    let programs: Vec<String> = stats
        .iter()
        .map(|s| {
            format!(
                "{{\"program\":\"{}\",\"run_count\":{},\"run_time_ns\":{},\"avg_ns\":{:.1}}}",
                s.program,
                s.run_count,
                s.run_time_ns,
                avg(s)
            )
        })
        .collect();
    let rounds = |values: &[f64]| {
        values
            .iter()
            .map(|v| format!("{v:.1}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    println!(
        "{{\"bench\":\"veth_ab\",\"rounds\":{},\"pings\":{},\"bulk_secs\":{},\
\"without\":{{\"rtt_median_us\":{a_median:.3},\"rtt_p99_us\":{a_p99:.3},\"throughput_mbit\":{a_tput:.1},\"throughput_mbit_rounds\":[{}]}},\
\"with\":{{\"rtt_median_us\":{b_median:.3},\"rtt_p99_us\":{b_p99:.3},\"throughput_mbit\":{b_tput:.1},\"throughput_mbit_rounds\":[{}]}},\
\"ratio\":{{\"rtt_median\":{:.4},\"rtt_p99\":{:.4},\"throughput\":{:.4}}},\"programs\":[{}]}}",
        options.rounds,
        options.pings,
        options.bulk_secs,
        rounds(&without.throughput_mbit),
        rounds(&with.throughput_mbit),
        b_median / a_median,
        b_p99 / a_p99,
        b_tput / a_tput,
        programs.join(",")
    );
}
