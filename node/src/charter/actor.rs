//! The Charter's enforcement actor: owns the policy and drives whichever backend is
//! active.
//!
//! * Userspace, always: `/metrics` passes [`filter`]; every telemetry push passes it too,
//!   and goes out only to a destination the policy allows.
//! * Kernel, where the host allows it (`[charter] kernel = "auto"`): the `x0-ebpf`
//!   programs on the exporter's cgroup refuse any other destination, and count the bytes
//!   it sends. Any load or attach failure leaves userspace in charge, with one log line
//!   naming the cause and `x0_enforcement_mode`.
//!
//! A certified `charter/policy` change (the payload is the policy's TOML) replaces the
//! policy in both backends; the change with the highest epoch wins.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use x0_actors::certify::CertifiedChange;
use x0_actors::messages::Stop;
use x0_core::charter::exposition::filter;
use x0_core::charter::policy::CharterPolicy;
use x0_core::charter::statsd;
use x0_ebpf::{Destination, KernelEnforcer, KernelSettings};

use super::exporter::{Exporter, PushOutcome};
use super::POLICY_BYTES_MAX;
use crate::http::metrics::conform_openmetrics;

/// The certified slot whose payload is the policy.
pub const POLICY_SLOT: &str = "charter/policy";
/// How often the kernel's counters are read into the metrics.
const KERNEL_COUNTERS_INTERVAL: Duration = Duration::from_secs(5);
/// Pushes waiting for the exporter; one more is dropped and counted (`busy`).
const PUSHES_QUEUED_MAX: usize = 1;
/// Destinations whose egress bytes are shown (the kernel map holds more).
const EGRESS_DESTINATIONS_SHOWN_MAX: usize = 64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModeLabel {
    mode: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HookLabel {
    hook: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DestinationLabel {
    destination: String,
}

/// The Charter's metrics (registered under `x0_`).
#[derive(Clone)]
pub struct CharterMetrics {
    violations: Family<ReasonLabel, Counter>,
    mode: Family<ModeLabel, Gauge>,
    reloads: Family<ResultLabel, Counter>,
    pushes: Family<ResultLabel, Counter>,
    kernel_denied: Family<HookLabel, Gauge>,
    egress_bytes: Family<DestinationLabel, Gauge>,
    egress_untracked_bytes: Gauge,
}

impl CharterMetrics {
    pub fn register(registry: &mut Registry) -> CharterMetrics {
        let metrics = CharterMetrics {
            violations: Family::default(),
            mode: Family::default(),
            reloads: Family::default(),
            pushes: Family::default(),
            kernel_denied: Family::default(),
            egress_bytes: Family::default(),
            egress_untracked_bytes: Gauge::default(),
        };
        registry.register(
            "charter_violations",
            "Samples kept out of the export or a push, and pushes to a destination the policy does not allow, by reason",
            metrics.violations.clone(),
        );
        registry.register(
            "enforcement_mode",
            "Which Charter enforcer is active (1 for the active mode, 0 for the other)",
            metrics.mode.clone(),
        );
        registry.register(
            "charter_policy_reloads",
            "Certified charter/policy changes, by result (applied, stale, invalid, kernel_failed)",
            metrics.reloads.clone(),
        );
        registry.register(
            "telemetry_pushes",
            "Telemetry pushes, by result (sent, refused_userspace, refused_kernel, failed, busy)",
            metrics.pushes.clone(),
        );
        registry.register(
            "charter_kernel_denied",
            "Connects, sends and packets the kernel programs refused, by hook (kernel mode)",
            metrics.kernel_denied.clone(),
        );
        registry.register(
            "charter_egress_bytes",
            "Bytes the exporter's cgroup sent, by destination IP, as the kernel counted them",
            metrics.egress_bytes.clone(),
        );
        registry.register(
            "charter_egress_untracked_bytes",
            "Bytes sent to destinations beyond the kernel's per-destination map (its drops)",
            metrics.egress_untracked_bytes.clone(),
        );
        metrics
    }
}

/// What the actor starts from: the node's `[charter]` and `[telemetry]`.
pub struct CharterSettings {
    pub policy: CharterPolicy,
    /// `None`: the kernel enforcer is switched off (`[charter] kernel = "off"`).
    pub kernel: Option<KernelSettings>,
    pub telemetry: Option<Telemetry>,
    /// This node's executable, which runs the exporter (`x0 telemetry-exporter`).
    pub exporter_program: PathBuf,
}

#[derive(Debug, Clone, Copy)]
pub struct Telemetry {
    pub statsd: SocketAddr,
    pub interval: Duration,
}

/// `/status`'s view of the Charter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, MessageResponse)]
pub struct CharterStatus {
    /// `kernel` or `userspace`.
    pub mode: String,
    /// Why the kernel enforcer is not active, in userspace mode.
    pub kernel_unavailable: Option<String>,
    /// The exporter's cgroup, in kernel mode.
    pub cgroup_dir: Option<String>,
    /// The epoch of the certified policy in force; `None`: the policy file.
    pub policy_epoch: Option<u64>,
    pub destinations: Vec<String>,
    pub telemetry_statsd: Option<String>,
    pub exporter_pid: Option<u32>,
}

#[derive(Debug, Message)]
#[rtype(result = "CharterStatus")]
pub struct GetCharterStatus;

/// Filters an exposition for `/metrics`.
#[derive(Debug, Message)]
#[rtype(result = "String")]
pub struct FilterExport(pub String);

struct Frame {
    destination: SocketAddr,
    datagrams: Vec<Vec<u8>>,
}

pub struct CharterActor {
    policy: CharterPolicy,
    policy_epoch: Option<u64>,
    kernel: Option<KernelEnforcer>,
    kernel_unavailable: Option<String>,
    telemetry: Option<Telemetry>,
    frames: Option<mpsc::Sender<Frame>>,
    exporter_pid: Arc<std::sync::atomic::AtomicU32>,
    exporter_program: PathBuf,
    /// The node's registry, encoded for each push (set at start, after registration).
    registry: Arc<Registry>,
    metrics: CharterMetrics,
    /// Whether the last push was refused in userspace: logs only on a change.
    refusing: bool,
}

fn kernel_destinations(policy: &CharterPolicy) -> Vec<Destination> {
    policy
        .destinations
        .iter()
        .map(|d| Destination::new(d.net, d.port))
        .collect()
}

impl CharterActor {
    /// Chooses the backend: the kernel where it loads and attaches, else userspace with
    /// one log line naming the cause.
    pub fn new(
        settings: CharterSettings,
        registry: Arc<Registry>,
        metrics: CharterMetrics,
    ) -> CharterActor {
        let (kernel, kernel_unavailable) = match &settings.kernel {
            None => {
                let why = "switched off by [charter] kernel = \"off\"".to_string();
                tracing::info!("charter: kernel enforcement {why}; enforcing in userspace");
                (None, Some(why))
            }
            Some(kernel_settings) => {
                match KernelEnforcer::start(kernel_settings, &kernel_destinations(&settings.policy))
                {
                    Ok(enforcer) => {
                        tracing::info!(
                            cgroup = %enforcer.cgroup_dir().display(),
                            "charter: kernel enforcement active"
                        );
                        (Some(enforcer), None)
                    }
                    Err(error) => {
                        tracing::warn!(
                            "charter: kernel enforcement unavailable: {error}; enforcing in userspace"
                        );
                        (None, Some(error.to_string()))
                    }
                }
            }
        };
        let mut actor = CharterActor {
            policy: settings.policy,
            policy_epoch: None,
            kernel,
            kernel_unavailable,
            telemetry: settings.telemetry,
            frames: None,
            exporter_pid: Arc::new(std::sync::atomic::AtomicU32::new(0)),
            exporter_program: settings.exporter_program,
            registry,
            metrics,
            refusing: false,
        };
        actor.show_mode();
        actor
    }

    fn show_mode(&mut self) {
        let kernel = i64::from(self.kernel.is_some());
        let mode = &self.metrics.mode;
        mode.get_or_create(&ModeLabel { mode: "kernel" })
            .set(kernel);
        mode.get_or_create(&ModeLabel { mode: "userspace" })
            .set(1 - kernel);
    }

    fn count_violations(&self, dropped: impl IntoIterator<Item = (&'static str, u64)>) {
        for (reason, count) in dropped {
            self.metrics
                .violations
                .get_or_create(&ReasonLabel { reason })
                .inc_by(count);
        }
    }

    /// Applies a new policy to both backends. A kernel that cannot take it is dropped:
    /// userspace, which always has the new policy, is then in charge alone.
    fn apply(&mut self, policy: CharterPolicy) -> Result<(), String> {
        let mut result = Ok(());
        if let Some(kernel) = &mut self.kernel {
            if let Err(error) = kernel.set_destinations(&kernel_destinations(&policy)) {
                tracing::warn!(
                    "charter: kernel enforcement unavailable: the new policy did not load ({error}); enforcing in userspace"
                );
                self.kernel = None;
                self.kernel_unavailable = Some(format!("policy reload failed: {error}"));
                self.show_mode();
                result = Err(error.to_string());
            }
        }
        self.policy = policy;
        result
    }

    fn push(&mut self) {
        let Some(telemetry) = self.telemetry else {
            return;
        };
        let count_push = |metrics: &CharterMetrics, result: &'static str| {
            metrics.pushes.get_or_create(&ResultLabel { result }).inc();
        };
        if !self.policy.allows_destination(&telemetry.statsd) {
            self.count_violations([("destination_denied", 1)]);
            count_push(&self.metrics, "refused_userspace");
            if !self.refusing {
                tracing::warn!(destination = %telemetry.statsd, "charter: telemetry push refused: the policy's telemetry.destinations do not allow this destination");
                self.refusing = true;
            }
            return;
        }
        self.refusing = false;
        let mut text = String::new();
        if let Err(error) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::warn!(%error, "charter: encoding metrics for a push");
            count_push(&self.metrics, "failed");
            return;
        }
        let filtered = filter(&conform_openmetrics(&text), &self.policy);
        self.count_violations(filtered.dropped);
        let push = statsd::encode(&filtered.text);
        self.count_violations(push.dropped);
        let frame = Frame {
            destination: telemetry.statsd,
            datagrams: push.datagrams,
        };
        let Some(frames) = &self.frames else {
            return;
        };
        if frames.try_send(frame).is_err() {
            count_push(&self.metrics, "busy");
        }
    }

    fn refresh_kernel_counters(&mut self) {
        let Some(kernel) = &self.kernel else {
            return;
        };
        match kernel.counters() {
            Ok(counters) => {
                for (hook, count) in counters.denied {
                    self.metrics
                        .kernel_denied
                        .get_or_create(&HookLabel { hook })
                        .set(count as i64);
                }
                for (address, bytes) in counters
                    .egress_bytes
                    .into_iter()
                    .take(EGRESS_DESTINATIONS_SHOWN_MAX)
                {
                    self.metrics
                        .egress_bytes
                        .get_or_create(&DestinationLabel {
                            destination: address.to_string(),
                        })
                        .set(bytes as i64);
                }
                self.metrics
                    .egress_untracked_bytes
                    .set(counters.egress_untracked_bytes as i64);
            }
            Err(error) => tracing::warn!(%error, "charter: reading the kernel's counters"),
        }
    }
}

/// Runs pushes through the exporter one at a time, off the actor's thread.
async fn run_exporter(
    mut exporter: Exporter,
    mut frames: mpsc::Receiver<Frame>,
    metrics: CharterMetrics,
    pid: Arc<std::sync::atomic::AtomicU32>,
) {
    while let Some(frame) = frames.recv().await {
        let outcome = exporter.push(frame.destination, &frame.datagrams).await;
        pid.store(
            exporter.pid().unwrap_or(0),
            std::sync::atomic::Ordering::Relaxed,
        );
        match &outcome {
            PushOutcome::Sent { .. } => {}
            PushOutcome::RefusedByKernel => tracing::warn!(
                destination = %frame.destination,
                "charter: the kernel refused a telemetry push"
            ),
            PushOutcome::Failed(why) => {
                tracing::warn!(destination = %frame.destination, "charter: telemetry push failed: {why}")
            }
        }
        metrics
            .pushes
            .get_or_create(&ResultLabel {
                result: outcome.label(),
            })
            .inc();
    }
}

impl Actor for CharterActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if let Some(telemetry) = self.telemetry {
            let (sender, receiver) = mpsc::channel(PUSHES_QUEUED_MAX);
            let cgroup_dir = self.kernel.as_ref().map(|k| k.cgroup_dir().to_path_buf());
            let exporter = Exporter::new(self.exporter_program.clone(), cgroup_dir);
            actix::spawn(run_exporter(
                exporter,
                receiver,
                self.metrics.clone(),
                self.exporter_pid.clone(),
            ));
            self.frames = Some(sender);
            self.push();
            ctx.run_interval(telemetry.interval, |actor, _| actor.push());
        }
        if self.kernel.is_some() {
            ctx.run_interval(KERNEL_COUNTERS_INTERVAL, |actor, _| {
                actor.refresh_kernel_counters()
            });
        }
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.stop_kernel();
    }
}

impl CharterActor {
    /// Detaches the kernel programs and removes the cgroup. The exporter dies with the
    /// actor's channel, but perhaps not before the enforcer's rmdir: what is still inside
    /// moves to the parent first (no more pushes are sent: the channel is closed).
    fn stop_kernel(&mut self) {
        let Some(kernel) = self.kernel.take() else {
            return;
        };
        self.frames = None;
        let dir = kernel.cgroup_dir().to_path_buf();
        if let (Ok(procs), Some(parent)) = (
            std::fs::read_to_string(dir.join("cgroup.procs")),
            dir.parent(),
        ) {
            for pid in procs.lines() {
                let _ = std::fs::write(parent.join("cgroup.procs"), pid);
            }
        }
        drop(kernel);
    }
}

impl Handler<FilterExport> for CharterActor {
    type Result = String;

    fn handle(&mut self, FilterExport(exposition): FilterExport, _: &mut Context<Self>) -> String {
        let filtered = filter(&exposition, &self.policy);
        self.count_violations(filtered.dropped);
        filtered.text
    }
}

impl Handler<CertifiedChange> for CharterActor {
    type Result = ();

    fn handle(&mut self, change: CertifiedChange, _: &mut Context<Self>) {
        let count = |metrics: &CharterMetrics, result: &'static str| {
            metrics.reloads.get_or_create(&ResultLabel { result }).inc();
        };
        if change.slot != POLICY_SLOT {
            return;
        }
        if self.policy_epoch.is_some_and(|epoch| change.epoch <= epoch) {
            count(&self.metrics, "stale");
            return;
        }
        let parsed = if change.payload.len() as u64 > POLICY_BYTES_MAX {
            Err(format!(
                "{} bytes; at most {POLICY_BYTES_MAX}",
                change.payload.len()
            ))
        } else {
            std::str::from_utf8(&change.payload)
                .map_err(|_| "not UTF-8".to_string())
                .and_then(|text| CharterPolicy::parse(text).map_err(|e| e.to_string()))
        };
        let policy = match parsed {
            Ok(policy) => policy,
            Err(why) => {
                // Certified, so signed by the committee: a policy this build cannot read
                // is kept out, and the one in force stays.
                tracing::warn!(
                    epoch = change.epoch,
                    "charter: certified policy not applied: {why}"
                );
                count(&self.metrics, "invalid");
                return;
            }
        };
        self.policy_epoch = Some(change.epoch);
        match self.apply(policy) {
            Ok(()) => count(&self.metrics, "applied"),
            Err(_) => count(&self.metrics, "kernel_failed"),
        }
        tracing::info!(
            epoch = change.epoch,
            destinations = self.policy.destinations.len(),
            "charter: certified policy applied"
        );
    }
}

impl Handler<GetCharterStatus> for CharterActor {
    type Result = CharterStatus;

    fn handle(&mut self, _: GetCharterStatus, _: &mut Context<Self>) -> CharterStatus {
        let pid = self.exporter_pid.load(std::sync::atomic::Ordering::Relaxed);
        CharterStatus {
            mode: if self.kernel.is_some() {
                "kernel"
            } else {
                "userspace"
            }
            .into(),
            kernel_unavailable: self.kernel_unavailable.clone(),
            cgroup_dir: self
                .kernel
                .as_ref()
                .map(|k| k.cgroup_dir().display().to_string()),
            policy_epoch: self.policy_epoch,
            destinations: self
                .policy
                .destinations
                .iter()
                .map(|d| match d.net {
                    ipnet::IpNet::V4(net) => format!("{net}:{}", d.port),
                    ipnet::IpNet::V6(net) => format!("[{net}]:{}", d.port),
                })
                .collect(),
            telemetry_statsd: self.telemetry.map(|t| t.statsd.to_string()),
            exporter_pid: (pid != 0).then_some(pid),
        }
    }
}

impl Handler<Stop> for CharterActor {
    type Result = ();

    fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
