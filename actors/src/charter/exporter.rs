//! The telemetry exporter: a child process (`x0 telemetry-exporter`) that sends what the
//! enforcement actor hands it as UDP datagrams. It is a process of its own so that, in
//! kernel mode, it can live in the Charter's cgroup: the kernel programs then judge every
//! socket it opens, and a destination outside the policy is refused by the kernel even if
//! the node's own check were wrong.
//!
//! Over its stdin, one frame per push:
//!
//! ```text
//! push <ip:port> <datagram count>\n
//! <length>\n<bytes>          (count times)
//! ```
//!
//! and over its stdout one line per frame: `sent <datagrams> <bytes>`, `refused <errno>`
//! (the kernel said EPERM) or `failed <reason>`.

use std::io::{BufRead, Read, Write};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use x0_core::charter::statsd::{DATAGRAM_BYTES_MAX, LINES_PER_PUSH_MAX};

/// Datagrams one frame carries at most (each at least one line).
const DATAGRAMS_PER_FRAME_MAX: usize = LINES_PER_PUSH_MAX;
/// A frame header line at most, bytes.
const HEADER_BYTES_MAX: usize = 128;
/// How long the node waits for the exporter's answer to one frame.
const ANSWER_WAIT: Duration = Duration::from_secs(5);

/// What became of one push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    Sent {
        datagrams: usize,
        bytes: usize,
    },
    /// The kernel refused the destination (EPERM from the Charter's cgroup programs).
    RefusedByKernel,
    Failed(String),
}

impl PushOutcome {
    pub fn label(&self) -> &'static str {
        match self {
            PushOutcome::Sent { .. } => "sent",
            PushOutcome::RefusedByKernel => "refused_kernel",
            PushOutcome::Failed(_) => "failed",
        }
    }
}

/// The node's handle on the exporter process; restarted on the next push if it died.
pub struct Exporter {
    program: PathBuf,
    /// In kernel mode: the cgroup the process must be in before it opens a socket.
    cgroup_dir: Option<PathBuf>,
    running: Option<Running>,
}

struct Running {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Exporter {
    /// `program` is this node's own executable (it has the `telemetry-exporter` command).
    pub fn new(program: PathBuf, cgroup_dir: Option<PathBuf>) -> Exporter {
        Exporter {
            program,
            cgroup_dir,
            running: None,
        }
    }

    /// The exporter's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.running.as_ref().and_then(|r| r.child.id())
    }

    fn spawn(&self) -> Result<Running, String> {
        let mut child = Command::new(&self.program)
            .arg("telemetry-exporter")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.program.display()))?;
        // The exporter opens its sockets only when a frame arrives, so moving it now,
        // before the first frame, puts every socket it ever has under the programs.
        if let Some(cgroup_dir) = &self.cgroup_dir {
            let pid = child.id().ok_or("the exporter exited at once")?;
            if let Err(error) = join_cgroup(cgroup_dir, pid) {
                let _ = child.start_kill();
                return Err(error);
            }
        }
        let stdin = child.stdin.take().ok_or("no stdin pipe")?;
        let stdout = BufReader::new(child.stdout.take().ok_or("no stdout pipe")?);
        Ok(Running {
            child,
            stdin,
            stdout,
        })
    }

    /// Hands one push to the exporter and waits for its answer.
    pub async fn push(&mut self, destination: SocketAddr, datagrams: &[Vec<u8>]) -> PushOutcome {
        assert!(datagrams.len() <= DATAGRAMS_PER_FRAME_MAX);
        assert!(datagrams.iter().all(|d| d.len() <= DATAGRAM_BYTES_MAX));
        if self.running.is_none() {
            match self.spawn() {
                Ok(running) => self.running = Some(running),
                Err(error) => return PushOutcome::Failed(error),
            }
        }
        let running = self.running.as_mut().expect("spawned above");
        let mut frame = format!("push {destination} {}\n", datagrams.len()).into_bytes();
        for datagram in datagrams {
            frame.extend_from_slice(format!("{}\n", datagram.len()).as_bytes());
            frame.extend_from_slice(datagram);
        }
        let exchange = async {
            running.stdin.write_all(&frame).await?;
            running.stdin.flush().await?;
            let mut answer = String::new();
            running.stdout.read_line(&mut answer).await?;
            Ok::<String, std::io::Error>(answer)
        };
        let answer = match tokio::time::timeout(ANSWER_WAIT, exchange).await {
            Ok(Ok(answer)) if !answer.is_empty() => answer,
            Ok(Ok(_)) => return self.lost("the exporter closed its output".into()),
            Ok(Err(error)) => return self.lost(format!("exporter pipe: {error}")),
            Err(_) => return self.lost(format!("no answer within {ANSWER_WAIT:?}")),
        };
        parse_answer(answer.trim_end())
    }

    /// Drops a broken exporter (killed on drop); the next push starts a new one.
    fn lost(&mut self, why: String) -> PushOutcome {
        self.running = None;
        PushOutcome::Failed(why)
    }
}

fn parse_answer(answer: &str) -> PushOutcome {
    let mut words = answer.split(' ');
    match (words.next(), words.next(), words.next()) {
        (Some("sent"), Some(datagrams), Some(bytes)) => match (datagrams.parse(), bytes.parse()) {
            (Ok(datagrams), Ok(bytes)) => PushOutcome::Sent { datagrams, bytes },
            _ => PushOutcome::Failed(format!("unreadable answer `{answer}`")),
        },
        (Some("refused"), _, _) => PushOutcome::RefusedByKernel,
        (Some("failed"), _, _) => PushOutcome::Failed(answer["failed".len()..].trim().into()),
        _ => PushOutcome::Failed(format!("unreadable answer `{answer}`")),
    }
}

/// Moves process `pid` into the cgroup v2 directory.
pub fn join_cgroup(cgroup_dir: &Path, pid: u32) -> Result<(), String> {
    let procs = cgroup_dir.join("cgroup.procs");
    std::fs::write(&procs, pid.to_string())
        .map_err(|e| format!("cannot move the exporter into {}: {e}", procs.display()))
}

/// The exporter process's main loop: frames from `input`, answers to `output`, until
/// `input` ends. A malformed frame ends it with an error (its only writer is the node).
pub fn run(input: impl BufRead, mut output: impl Write) -> Result<(), String> {
    let mut input = input;
    loop {
        let mut header = String::new();
        let read = (&mut input)
            .take(HEADER_BYTES_MAX as u64)
            .read_line(&mut header)
            .map_err(|e| format!("reading a frame: {e}"))?;
        if read == 0 {
            return Ok(());
        }
        let (destination, count) = parse_header(header.trim_end())?;
        let mut datagrams = Vec::with_capacity(count);
        for _ in 0..count {
            let mut length = String::new();
            (&mut input)
                .take(16)
                .read_line(&mut length)
                .map_err(|e| format!("reading a datagram length: {e}"))?;
            let length: usize = length
                .trim_end()
                .parse()
                .ok()
                .filter(|l| *l <= DATAGRAM_BYTES_MAX)
                .ok_or_else(|| format!("datagram length `{}`", length.trim_end()))?;
            let mut datagram = vec![0u8; length];
            input
                .read_exact(&mut datagram)
                .map_err(|e| format!("reading a datagram: {e}"))?;
            datagrams.push(datagram);
        }
        let answer = send(destination, &datagrams);
        writeln!(output, "{answer}").map_err(|e| format!("answering: {e}"))?;
        output.flush().map_err(|e| format!("answering: {e}"))?;
    }
}

fn parse_header(header: &str) -> Result<(SocketAddr, usize), String> {
    let mut words = header.split(' ');
    let (Some("push"), Some(destination), Some(count), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return Err(format!("frame header `{header}`"));
    };
    let destination = destination
        .parse()
        .map_err(|_| format!("destination `{destination}`"))?;
    let count = count
        .parse()
        .ok()
        .filter(|c| *c <= DATAGRAMS_PER_FRAME_MAX)
        .ok_or_else(|| format!("datagram count `{count}`"))?;
    Ok((destination, count))
}

/// Sends the datagrams from a socket opened now (so it is created in this process's
/// current cgroup), stopping at the first refusal.
fn send(destination: SocketAddr, datagrams: &[Vec<u8>]) -> String {
    let bind: SocketAddr = match destination {
        SocketAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = match UdpSocket::bind(bind) {
        Ok(socket) => socket,
        Err(error) => return format!("failed socket: {error}"),
    };
    let mut bytes = 0;
    for datagram in datagrams {
        match socket.send_to(datagram, destination) {
            Ok(sent) => bytes += sent,
            Err(error) if error.kind() == std::io::ErrorKind::PermissionDenied => {
                return format!("refused {}", error.raw_os_error().unwrap_or(0));
            }
            Err(error) => return format!("failed {error}"),
        }
    }
    format!("sent {} {bytes}", datagrams.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_through_the_exporter_loop() {
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        let destination = receiver.local_addr().unwrap();
        let mut input = format!("push {destination} 2\n").into_bytes();
        for datagram in [&b"x0_a:1|g"[..], &b"x0_b:2|g\nx0_c:3|g"[..]] {
            input.extend_from_slice(format!("{}\n", datagram.len()).as_bytes());
            input.extend_from_slice(datagram);
        }
        let mut output = Vec::new();
        run(&input[..], &mut output).unwrap();
        assert_eq!(String::from_utf8(output).unwrap(), "sent 2 25\n");
        let mut buffer = [0u8; 64];
        let (n, _) = receiver.recv_from(&mut buffer).unwrap();
        assert_eq!(&buffer[..n], b"x0_a:1|g");
        let (n, _) = receiver.recv_from(&mut buffer).unwrap();
        assert_eq!(&buffer[..n], b"x0_b:2|g\nx0_c:3|g");
    }

    #[test]
    fn malformed_frames_end_the_loop_with_the_reason() {
        for (input, reason) in [
            ("pull 127.0.0.1:1 1\n", "frame header"),
            ("push nowhere 1\n", "destination"),
            ("push 127.0.0.1:1 99999999\n", "datagram count"),
            ("push 127.0.0.1:1 1\n99999\n", "datagram length"),
            ("push 127.0.0.1:1 1\n5\nab", "reading a datagram"),
        ] {
            let error = run(input.as_bytes(), Vec::new()).unwrap_err();
            assert!(error.contains(reason), "{input:?}: {error}");
        }
    }

    #[test]
    fn answers_are_read_back() {
        assert_eq!(
            parse_answer("sent 3 120"),
            PushOutcome::Sent {
                datagrams: 3,
                bytes: 120
            }
        );
        assert_eq!(parse_answer("refused 1"), PushOutcome::RefusedByKernel);
        assert_eq!(
            parse_answer("failed no route"),
            PushOutcome::Failed("no route".into())
        );
        assert!(matches!(parse_answer("garbage"), PushOutcome::Failed(_)));
    }
}
