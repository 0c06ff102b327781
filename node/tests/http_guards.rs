//! The HTTP endpoint's guards on a real node over real TCP: writes only with a `Host`
//! naming this machine (DNS rebinding), a header-read timeout (slow loris), a request
//! timeout, a connection bound, each refusal counted in `x0_http_refused_total{reason}`;
//! and the warning when `http.bind` is not loopback.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{eventually, http_get, sample_value, test_config, KillOnDrop};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use x0_node::config::Config;
use x0_node::devnet;
use x0_node::Node;

fn refused(reason: &str) -> String {
    format!("x0_http_refused_total{{reason=\"{reason}\"}}")
}

async fn metric(node: &Node, sample: &str) -> Option<f64> {
    let (_, _, body) = http_get(&format!("http://{}/metrics", node.http_addr), None).await;
    sample_value(&body, sample)
}

/// Sends `request` on a new connection and reads until the server closes it.
async fn exchange(address: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(address).await.unwrap();
    if !request.is_empty() {
        stream.write_all(request).await.unwrap();
    }
    let mut response = Vec::new();
    // A reset (a refused connection closed over an unread request) ends it like EOF.
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
        .await
        .expect("the server answers and closes");
    String::from_utf8_lossy(&response).into_owned()
}

/// `POST /proposals` for `slot` with the given `Host` line and request target.
fn propose(target: &str, host: &str, slot: &str) -> Vec<u8> {
    let body = format!(r#"{{"slot":"{slot}","payload":"x","affected_fraction":0.0}}"#);
    format!(
        "POST {target} HTTP/1.1\r\nHost: {host}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn status_line(response: &str) -> &str {
    response.lines().next().unwrap_or_default()
}

/// A committee of one (it certifies its own proposals), as the devnet makes it.
fn member_config(dir: &Path) -> Config {
    let mut configs = vec![test_config(&dir.join("n0"))];
    devnet::with_committee(&mut configs, dir, vec![]).unwrap();
    configs.remove(0)
}

/// A page on evil.example that rebinds its name to 127.0.0.1 reaches the node as a
/// loopback client, but its requests say `Host: evil.example`: writes are refused and
/// counted, reads still answer, and a write naming this machine works.
#[actix_rt::test]
async fn writes_need_a_loopback_host() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(member_config(dir.path())).await.unwrap();
    let address = node.http_addr;
    let port = address.port();
    let foreign = [
        ("/proposals".to_string(), format!("evil.example:{port}")),
        ("/proposals".to_string(), "evil.example".to_string()),
        ("/proposals".to_string(), format!("10.0.0.1:{port}")),
        (
            "/proposals".to_string(),
            format!("localhost.evil.example:{port}"),
        ),
        // An absolute request target counts, whatever Host says.
        (
            format!("http://evil.example:{port}/proposals"),
            format!("127.0.0.1:{port}"),
        ),
    ];
    for (i, (target, host)) in foreign.iter().enumerate() {
        let response = exchange(address, &propose(target, host, &format!("refused/{i}"))).await;
        assert!(
            status_line(&response).starts_with("HTTP/1.1 403"),
            "{target} Host {host}: {response}"
        );
        assert!(
            response.contains("Host header naming this machine"),
            "{response}"
        );
    }
    // Without any Host (HTTP/1.0 allows that): refused too.
    let body = r#"{"slot":"refused/none","payload":"x","affected_fraction":0.0}"#;
    let response = exchange(
        address,
        format!(
            "POST /proposals HTTP/1.0\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .await;
    assert!(status_line(&response).contains(" 403"), "{response}");
    // Reads are not writes: a rebinding page could read them anyway (hence the warning
    // for a non-loopback bind, and no secrets in them).
    let response = exchange(
        address,
        format!("GET /health HTTP/1.1\r\nHost: evil.example:{port}\r\nconnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await;
    assert!(
        status_line(&response).starts_with("HTTP/1.1 200"),
        "{response}"
    );

    for (i, host) in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
        "127.0.0.1".to_string(),
    ]
    .iter()
    .enumerate()
    {
        let response = exchange(address, &propose("/proposals", host, &format!("local/{i}"))).await;
        assert!(
            status_line(&response).starts_with("HTTP/1.1 201"),
            "Host {host}: {response}"
        );
    }
    assert_eq!(
        metric(&node, &refused("host_not_loopback")).await,
        Some(foreign.len() as f64 + 1.0)
    );
    // The four accepted proposals were certified; the refused ones never reached the
    // certify actor.
    let formed = "x0_certificates_total{origin=\"formed\"}";
    assert!(
        eventually(Duration::from_secs(10), || async {
            metric(&node, formed).await == Some(4.0)
        })
        .await,
        "accepted writes were not certified: {:?}",
        metric(&node, formed).await
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(metric(&node, formed).await, Some(4.0));
    node.shutdown().await.unwrap();
}

/// Waits until the server closes `stream` (EOF or reset), or `limit` passes; returns how
/// long it took, or `None` if it stayed open.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buffer = [0u8; 1024];
    loop {
        let left = limit.checked_sub(started.elapsed())?;
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => continue,
        }
    }
}

/// Slow loris: a client that sends part of a header and waits, or trickles it a byte at a
/// time, is closed once `header_read_timeout_ms` passes; so is one that idles after a
/// request. Each is counted.
#[actix_rt::test]
async fn slow_headers_are_cut_off_at_the_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.http.header_read_timeout_ms = 500;
    let node = Node::start(config).await.unwrap();
    let address = node.http_addr;
    let limit = Duration::from_secs(5);

    // Part of a header, then nothing.
    let mut partial = TcpStream::connect(address).await.unwrap();
    partial
        .write_all(b"POST /proposals HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    let took = closed_within(&mut partial, limit)
        .await
        .expect("a partial header held the connection open");
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(2),
        "closed after {took:?}"
    );

    // A header trickled one byte per 100 ms: still cut off at the timeout, not reset by
    // every byte.
    let mut trickle = TcpStream::connect(address).await.unwrap();
    let started = Instant::now();
    let header = b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    let mut cut_off = None;
    for byte in header {
        if trickle.write_all(&[*byte]).await.is_err() {
            cut_off = Some(started.elapsed());
            break;
        }
        let mut buffer = [0u8; 64];
        match tokio::time::timeout(Duration::from_millis(100), trickle.read(&mut buffer)).await {
            Err(_) => {}
            Ok(Ok(0)) | Ok(Err(_)) => {
                cut_off = Some(started.elapsed());
                break;
            }
            Ok(Ok(_)) => panic!("no answer to an incomplete header"),
        }
    }
    let took = cut_off.expect("a trickled header was never cut off");
    assert!(took < Duration::from_secs(2), "closed after {took:?}");

    // Idle after a complete request on a kept-alive connection.
    let mut idle = TcpStream::connect(address).await.unwrap();
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut buffer = [0u8; 4096];
    let n = idle.read(&mut buffer).await.unwrap();
    assert!(String::from_utf8_lossy(&buffer[..n]).starts_with("HTTP/1.1 200"));
    closed_within(&mut idle, limit)
        .await
        .expect("an idle kept-alive connection was never closed");

    assert_eq!(metric(&node, &refused("header_timeout")).await, Some(3.0));
    node.shutdown().await.unwrap();
}

/// A request whose body never completes gets 408 at `request_timeout_ms`, counted.
#[actix_rt::test]
async fn a_request_that_never_finishes_gets_408() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.http.request_timeout_ms = 500;
    let node = Node::start(config).await.unwrap();
    let mut stream = TcpStream::connect(node.http_addr).await.unwrap();
    stream
        .write_all(b"POST /proposals HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"slot\":")
        .await
        .unwrap();
    let started = Instant::now();
    let mut buffer = [0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer))
        .await
        .expect("no answer to a request whose body never came")
        .unwrap();
    let took = started.elapsed();
    let response = String::from_utf8_lossy(&buffer[..n]);
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(2),
        "answered after {took:?}"
    );
    assert_eq!(metric(&node, &refused("request_timeout")).await, Some(1.0));
    node.shutdown().await.unwrap();
}

/// With `connections_max` connections open, one more gets 503 and is closed, counted;
/// once one closes, a new one is served.
#[actix_rt::test]
async fn connections_over_the_bound_are_refused() {
    const MAX: usize = 4;
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.http.connections_max = MAX;
    config.http.header_read_timeout_ms = 20_000;
    let node = Node::start(config).await.unwrap();
    let address = node.http_addr;
    let mut held = Vec::new();
    for _ in 0..MAX {
        held.push(TcpStream::connect(address).await.unwrap());
    }
    // The node accepts the held ones first (its accept queue is in order); give it a
    // moment to take them all.
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The node answers 503 as it accepts, before any request (so the answer is not lost
    // to a reset over an unread request).
    for attempt in 0..3 {
        let response = exchange(address, b"").await;
        assert!(
            status_line(&response).starts_with("HTTP/1.1 503"),
            "attempt {attempt}: {response}"
        );
        assert!(response.contains("http.connections_max"), "{response}");
    }
    // Every held connection still works.
    for stream in &mut held {
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .unwrap();
        let mut buffer = [0u8; 4096];
        let n = stream.read(&mut buffer).await.unwrap();
        assert!(String::from_utf8_lossy(&buffer[..n]).starts_with("HTTP/1.1 200"));
    }
    // One closes: its slot is free again once the node has seen it go.
    held.pop();
    let mut refused_meanwhile = 0;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let response = exchange(
            address,
            b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nconnection: close\r\n\r\n",
        )
        .await;
        if status_line(&response).starts_with("HTTP/1.1 200") {
            break;
        }
        refused_meanwhile += 1;
        assert!(Instant::now() < deadline, "the freed slot was never reused");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(held);
    assert_eq!(
        metric(&node, &refused("connections_max")).await,
        Some(3.0 + f64::from(refused_meanwhile))
    );
    node.shutdown().await.unwrap();
}

/// Runs `x0 node` with `--http-bind bind` until it prints its start banner; returns what
/// it logged on stderr by then.
fn start_banner_stderr(dir: &Path, bind: &str) -> String {
    let child = Command::new(env!("CARGO_BIN_EXE_x0"))
        .args([
            "node",
            "--data-dir",
            &dir.display().to_string(),
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--http-bind",
            bind,
        ])
        .env_remove("X0_CONFIG")
        .env("X0_LOG", "warn")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let stdout = child.0.stdout.take().unwrap();
    let (lines_tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines
            .recv_timeout(left)
            .expect("the node printed its start banner");
        if line.trim_start().starts_with("status") {
            break;
        }
    }
    let _ = child.0.kill();
    let _ = child.0.wait();
    let mut stderr = String::new();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    stderr
}

/// Bound beyond loopback, the node says at start what anyone who reaches it can read.
#[test]
fn a_non_loopback_bind_is_warned_about_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let warning = "http.bind is not a loopback address";
    let open = start_banner_stderr(&dir.path().join("open"), "0.0.0.0:0");
    assert!(open.contains(warning), "{open}");
    for endpoint in ["/metrics", "/status", "/certificates/{id}", "/ballots"] {
        assert!(open.contains(endpoint), "{endpoint} not named: {open}");
    }
    let closed = start_banner_stderr(&dir.path().join("closed"), "127.0.0.1:0");
    assert!(!closed.contains(warning), "{closed}");
}
