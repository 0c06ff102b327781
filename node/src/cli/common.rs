//! What the `x0` subcommands share: the operator's error (exit 2, naming the argument to
//! fix), a runtime for a command's few requests to a node, the clock, the files the
//! operator names (read within a size limit, written atomically), and the stop signals.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::NodeError;

/// Largest JSON file read: far above any file `x0` writes, far below what would hurt.
const JSON_FILE_BYTES_MAX: u64 = 1024 * 1024;

/// How a command ended when no argument was at fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// A check said no and printed why (`x0 token verify` refused the token, `x0 ballot
    /// tally --certificate` found the certificate invalid): exit 1, not an error.
    Refused,
}

/// A mistake the operator must fix (a flag, a file): exits 2 with the message, which
/// names the argument.
pub fn operator(message: impl Into<String>) -> NodeError {
    NodeError::Config(message.into())
}

/// A current-thread runtime: a command makes a few requests, one after another.
pub fn runtime() -> Result<tokio::runtime::Runtime, NodeError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| NodeError::Runtime(e.to_string()))
}

/// Seconds since the Unix epoch; 0 on a clock set before it.
pub fn now_unix_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `FLAG PATH: cannot read: ERROR`.
pub fn cannot_read(flag: &str, path: &Path, error: impl std::fmt::Display) -> NodeError {
    operator(format!("{flag} {}: cannot read: {error}", path.display()))
}

/// Refuses a file larger than `max` before anything reads it whole (a wrong path can name
/// a disk image); `too_large(len)` says why, after `FLAG PATH: `.
pub fn check_size(
    flag: &str,
    path: &Path,
    max: u64,
    too_large: impl FnOnce(u64) -> String,
) -> Result<(), NodeError> {
    let len = std::fs::metadata(path)
        .map_err(|e| cannot_read(flag, path, e))?
        .len();
    if len > max {
        return Err(operator(format!(
            "{flag} {}: {}",
            path.display(),
            too_large(len)
        )));
    }
    Ok(())
}

/// A file's bytes, refused when larger than `max`.
pub fn read_bounded(flag: &str, path: &Path, max: u64) -> Result<Vec<u8>, NodeError> {
    check_size(flag, path, max, |len| format!("{len} bytes, at most {max}"))?;
    std::fs::read(path).map_err(|e| cannot_read(flag, path, e))
}

/// A JSON file `x0` wrote (or a person copied from one).
pub fn read_json<T: DeserializeOwned>(flag: &str, path: &Path) -> Result<T, NodeError> {
    let bytes = read_bounded(flag, path, JSON_FILE_BYTES_MAX)?;
    serde_json::from_slice(&bytes)
        .map_err(|e| operator(format!("{flag} {}: not understood: {e}", path.display())))
}

/// How [`write_file`] treats the file and its directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteMode {
    /// Mode 0600; otherwise 0644.
    pub secret: bool,
    /// Replace a file already there; otherwise refuse it, writing nothing.
    pub replace: bool,
    /// Create missing parent directories (output directories a flag names).
    pub create_dirs: bool,
}

impl WriteMode {
    /// A new public file, in a directory created if need be.
    pub const PUBLIC: WriteMode = WriteMode {
        secret: false,
        replace: false,
        create_dirs: true,
    };
    /// A new secret file, in a directory created if need be.
    pub const SECRET: WriteMode = WriteMode {
        secret: true,
        replace: false,
        create_dirs: true,
    };

    /// The same, replacing a file already there.
    pub const fn replacing(self) -> WriteMode {
        WriteMode {
            replace: true,
            ..self
        }
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory: written,
/// fsynced, renamed over `path`, then the directory fsynced, so a crash leaves the old
/// file or the new one, never half of one, and what was reported written stays written.
pub fn write_file(flag: &str, path: &Path, bytes: &[u8], mode: WriteMode) -> Result<(), NodeError> {
    let fail =
        |e: std::io::Error| operator(format!("{flag} {}: cannot write: {e}", path.display()));
    if !mode.replace && path.exists() {
        return Err(operator(format!(
            "{flag} {}: already exists; move it away first (nothing was overwritten)",
            path.display()
        )));
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if mode.create_dirs {
        std::fs::create_dir_all(&dir).map_err(fail)?;
    }
    // NamedTempFile creates its file mode 0600.
    let mut file = tempfile::NamedTempFile::new_in(&dir).map_err(fail)?;
    if !mode.secret {
        std::fs::set_permissions(
            file.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o644),
        )
        .map_err(fail)?;
    }
    file.write_all(bytes).map_err(fail)?;
    file.as_file().sync_all().map_err(fail)?;
    file.persist(path).map_err(|e| fail(e.error))?;
    std::fs::File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(fail)?;
    Ok(())
}

/// [`write_file`] of pretty JSON and a newline.
pub fn write_json<T: Serialize>(
    flag: &str,
    path: &Path,
    value: &T,
    mode: WriteMode,
) -> Result<(), NodeError> {
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|e| NodeError::Runtime(format!("JSON: {e}")))?;
    text.push('\n');
    write_file(flag, path, text.as_bytes(), mode)
}

/// One request to a running node's API at `api` (`body`: a POST of that JSON, else a
/// GET); the URL asked, the HTTP status and the JSON answer (null when it is none). No
/// answer at all is the operator's to fix: the node is down or `--api` is wrong.
pub fn api_call(
    api: &reqwest::Url,
    path: &str,
    body: Option<serde_json::Value>,
) -> Result<(reqwest::Url, reqwest::StatusCode, serde_json::Value), NodeError> {
    let url = api
        .join(path)
        .map_err(|e| operator(format!("--api {api}: not a base URL ({e})")))?;
    let (status, value) = runtime()?.block_on(async {
        let client = reqwest::Client::new();
        let request = match &body {
            Some(body) => client.post(url.clone()).json(body),
            None => client.get(url.clone()),
        };
        let response = request.send().await.map_err(|e| {
            operator(format!(
                "--api {api}: no node answers ({e}); start one, or give its http.bind address"
            ))
        })?;
        let status = response.status();
        let value: serde_json::Value = response.json().await.unwrap_or_default();
        Ok::<_, NodeError>((status, value))
    })?;
    Ok((url, status, value))
}

/// The client for `x0 status` and `x0 propose`: a node that does not answer within 5 s
/// is as good as down.
pub fn node_client() -> Result<reqwest::Client, NodeError> {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()
        .map_err(|e| NodeError::Runtime(e.to_string()))
}

/// Sends a request to `url` on a node; no answer at all names the two likely causes.
pub async fn send_to_node(
    request: reqwest::RequestBuilder,
    url: &reqwest::Url,
) -> Result<reqwest::Response, NodeError> {
    request.send().await.map_err(|e| {
        NodeError::Runtime(format!(
            "{url}: {e}; is the node running, and is --api its http.bind?"
        ))
    })
}

/// SIGINT and SIGTERM, registered eagerly: a signal that arrives before anyone waits is
/// kept, not lost to the default handler (which would kill the process mid-write).
pub struct StopSignals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl StopSignals {
    pub fn install() -> Result<Self, NodeError> {
        use tokio::signal::unix::{signal, SignalKind};
        let handler = |kind, name: &str| {
            signal(kind).map_err(|e| NodeError::Runtime(format!("{name} handler: {e}")))
        };
        Ok(StopSignals {
            interrupt: handler(SignalKind::interrupt(), "SIGINT")?,
            terminate: handler(SignalKind::terminate(), "SIGTERM")?,
        })
    }

    /// Waits for the next stop signal; returns its name.
    pub async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }
}
