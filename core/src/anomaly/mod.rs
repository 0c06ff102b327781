//! Anomaly limits: how much of the network may change, and how fast.
//!
//! The rule: changes that affect more than 10% of nodes are accepted only with a
//! certificate; the share of the network changed within a rolling window raises a warning
//! at 5% and halts further changes at 15%, until a passed ballot overrides the halt or the
//! window passes. Small networks use max(1 node, the percentage).
//!
//! # The rule, exactly
//!
//! With `n` the network size (the `network_nodes` of the latest change offered) and
//! `changed` the nodes changed by changes applied within the window (see below), every
//! comparison is the issue's, made on real numbers and then written in whole nodes:
//!
//! * **Certificate.** A change needs a certificate when it affects *more than*
//!   max(1, 10% of n) nodes: `affected_nodes > certificate_free_nodes_max` where
//!   `certificate_free_nodes_max = max(1, floor(certificate_required_ppm * n / 1e6))`.
//!   n = 100: 10 nodes pass uncertified, 11 need a certificate; n = 101: still 10 and 11
//!   (11 nodes are 10.9%); n = 5: 1 node passes, 2 need one.
//! * **Warning.** The level is `Warning` when `changed` *reaches* max(1, 5% of n):
//!   `changed >= warn_nodes` where `warn_nodes = max(1, ceil(warn_ppm * n / 1e6))`
//!   ([`threshold_nodes`]). n = 100: 5 nodes; n = 101: 6 (5 is 4.95%).
//! * **Halt.** The level is `Halted` when `changed` reaches max(1, 15% of n):
//!   `changed >= halt_nodes`, `halt_nodes = threshold_nodes(halt_ppm, n)`. While halted,
//!   every change is refused ([`Refusal::Halted`]).
//! * **The change at the halt line.** A change that would take `changed` *past* the halt
//!   line (`changed + affected_nodes > halt_nodes`) is refused when it carries no
//!   certificate ([`Refusal::WouldExceedHalt`]); one that lands exactly on the line is
//!   applied, and the halt begins. So uncertified changes never take more than
//!   max(1, 15% of n) nodes through one window. A *certified* change is applied past the
//!   line (the certificate is the committee's consent to that one change, which may rightly
//!   touch every node, e.g. a protocol upgrade) and the halt begins: its certificate is no
//!   consent to the changes that follow. A refused change leaves no trace: it neither
//!   counts nor raises the halt, so the level is always a function of `changed` alone.
//!
//!   Why not refuse every change that would *reach* the line (a stricter reading): the
//!   small-network rule puts the halt line at 1 node for n <= 6, so no change could ever be
//!   applied there, and a certified change affecting 15% or more could never be applied
//!   anywhere, not even after a ballot.
//!
//! # The window
//!
//! A change applied at `t` counts while `now_ms < t + window_ms` and stops counting at
//! `t + window_ms` exactly (rolling, not fixed buckets). Expired changes are dropped on
//! every call that carries `now_ms`, so the halt ends by itself once enough of the changes
//! that caused it are older than the window. Time never runs backwards in the core: a
//! `now_ms` earlier than one already seen is taken as the latest seen, so a stepped-back
//! clock can neither shorten the window nor reorder it.
//!
//! # Override by ballot
//!
//! [`AnomalyLimits::override_halt`] with a passed ballot lifts a halt by discounting every
//! change in the window at that moment: they stay remembered (for duplicate detection)
//! until they expire, but no longer count. Changes applied afterwards count from zero, so
//! the same limits hold again right away: the warning and the halt come back if the network
//! changes that fast again. A ballot lifts one halt: an override while not halted does
//! nothing, and a ballot id already used is refused. That the ballot passed is for the
//! caller to check (the ballot core); this core only takes its id.
//!
//! # Duplicates
//!
//! A change id applied within the window (discounted or not) is a duplicate: it returns
//! [`Decision::Duplicate`] and is not counted again, so a certificate delivered twice is
//! applied once. A refused change is not remembered: offered again, it is judged again.
//!
//! # Bounds
//!
//! `changes_max` changes are remembered in the window; beyond it a change is refused
//! ([`Refusal::WindowFull`], fail closed, counted in `window_full_total`). Used ballot ids:
//! [`BALLOTS_REMEMBERED_MAX`], the oldest forgotten first (counted).
//!
//! Sans-IO: `now_ms` is passed in, events go to an `out` vector, iteration is in insertion
//! order (`VecDeque`) or key order (`BTreeSet`).

use std::collections::{BTreeSet, VecDeque};

/// Parts per million in the whole (100%).
pub const PPM_MAX: u32 = 1_000_000;

/// Used ballot ids remembered to refuse a replayed override. A ballot is a rare event (one
/// per halt at most), so this covers far more than one window.
pub const BALLOTS_REMEMBERED_MAX: usize = 1024;

/// A change or ballot id (the proposal id, SHA-256).
pub type Id = [u8; 32];

/// The `[anomaly]` config section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnomalyConfig {
    /// A change affecting more than this share of the network needs a certificate.
    pub certificate_required_ppm: u32,
    /// Share of the network changed within the window at which the level is `Warning`.
    pub warn_ppm: u32,
    /// Share of the network changed within the window at which further changes halt.
    pub halt_ppm: u32,
    /// Length of the rolling window.
    pub window_ms: u64,
    /// Changes remembered in the window. Beyond it changes are refused (fail closed).
    pub changes_max: usize,
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        AnomalyConfig {
            certificate_required_ppm: 100_000,
            warn_ppm: 50_000,
            halt_ppm: 150_000,
            window_ms: 3_600_000,
            changes_max: 4096,
        }
    }
}

/// An invalid [`AnomalyConfig`]: `field` is the field's name in the `[anomaly]` section.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}`: {message}")]
pub struct AnomalyConfigError {
    pub field: &'static str,
    pub message: String,
}

impl AnomalyConfig {
    /// Checks the config; the error names the field to fix.
    pub fn check(&self) -> Result<(), AnomalyConfigError> {
        let err = |field, message: String| Err(AnomalyConfigError { field, message });
        if self.certificate_required_ppm > PPM_MAX {
            return err(
                "certificate_required_ppm",
                format!("{} exceeds {PPM_MAX} (100%)", self.certificate_required_ppm),
            );
        }
        if self.halt_ppm > PPM_MAX {
            return err(
                "halt_ppm",
                format!("{} exceeds {PPM_MAX} (100%)", self.halt_ppm),
            );
        }
        if self.warn_ppm >= self.halt_ppm {
            return err(
                "warn_ppm",
                format!(
                    "{} must be below halt_ppm ({}): the warning comes before the halt",
                    self.warn_ppm, self.halt_ppm
                ),
            );
        }
        if self.window_ms == 0 {
            return err("window_ms", "must be at least 1".into());
        }
        if self.changes_max == 0 {
            return err("changes_max", "must be at least 1".into());
        }
        Ok(())
    }

    /// The thresholds in nodes for a network of `network_nodes`.
    pub fn thresholds(&self, network_nodes: u64) -> Thresholds {
        Thresholds {
            certificate_free_nodes_max: floor_nodes(self.certificate_required_ppm, network_nodes),
            warn_nodes: threshold_nodes(self.warn_ppm, network_nodes),
            halt_nodes: threshold_nodes(self.halt_ppm, network_nodes),
        }
    }
}

/// Nodes that make up at least `ppm` of `network_nodes`, and at least 1:
/// max(1, ceil(ppm * network_nodes / 1e6)). `changed >= threshold_nodes(ppm, n)` is exactly
/// "changed reaches ppm of n" (for changed >= 1).
pub fn threshold_nodes(ppm: u32, network_nodes: u64) -> u64 {
    let exact = u128::from(ppm) * u128::from(network_nodes);
    let ceil = exact.div_ceil(u128::from(PPM_MAX));
    u64::try_from(ceil).unwrap_or(u64::MAX).max(1)
}

/// max(1, floor(ppm * network_nodes / 1e6)): `affected > floor_nodes(ppm, n)` is exactly
/// "affected is more than ppm of n, and more than 1 node".
fn floor_nodes(ppm: u32, network_nodes: u64) -> u64 {
    let floor = u128::from(ppm) * u128::from(network_nodes) / u128::from(PPM_MAX);
    u64::try_from(floor).unwrap_or(u64::MAX).max(1)
}

/// A count of nodes for display and comparison with a threshold (all thresholds are
/// u64, so a saturated value compares the same as the exact one).
fn saturate(nodes: u128) -> u64 {
    u64::try_from(nodes).unwrap_or(u64::MAX)
}

/// The config's shares, in nodes, for one network size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// The largest change accepted without a certificate.
    pub certificate_free_nodes_max: u64,
    /// Nodes changed in the window at which the level is `Warning`.
    pub warn_nodes: u64,
    /// Nodes changed in the window at which further changes halt.
    pub halt_nodes: u64,
}

impl Thresholds {
    /// The level for `changed_nodes` changed in the window.
    pub fn level(&self, changed_nodes: u64) -> Level {
        if changed_nodes >= self.halt_nodes {
            Level::Halted
        } else if changed_nodes >= self.warn_nodes {
            Level::Warning
        } else {
            Level::Normal
        }
    }
}

/// How much of the network changed in the window, in order of severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Normal,
    Warning,
    Halted,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Normal => "normal",
            Level::Warning => "warning",
            Level::Halted => "halted",
        }
    }

    /// The value of the `x0_anomaly_level` gauge: 0 normal, 1 warning, 2 halted.
    pub fn gauge(self) -> i64 {
        match self {
            Level::Normal => 0,
            Level::Warning => 1,
            Level::Halted => 2,
        }
    }
}

/// A change offered for application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    /// The change's id (the proposal id): a change is counted once per window.
    pub id: Id,
    /// Nodes the change affects. Counted as given, also when above `network_nodes` (a
    /// nonsense value then counts against the change, never for it).
    pub affected_nodes: u64,
    /// The network's size as this node sees it; the thresholds follow it.
    pub network_nodes: u64,
    /// The change carries a valid certificate (checked by the caller).
    pub certified: bool,
}

/// Why a change was refused. `as_str` is the metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// It affects more than `certificate_free_nodes_max` nodes and carries no certificate.
    CertificateRequired,
    /// The level is `Halted`: no change is applied until the window passes or a ballot.
    Halted,
    /// Uncertified, and it would take the nodes changed in the window past the halt line.
    WouldExceedHalt,
    /// `changes_max` changes are in the window already.
    WindowFull,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::CertificateRequired => "certificate_required",
            Refusal::Halted => "halted",
            Refusal::WouldExceedHalt => "would_exceed_halt",
            Refusal::WindowFull => "window_full",
        }
    }
}

/// The verdict on a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Apply it; `level` is the level with it counted.
    Applied { level: Level },
    /// Applied already within the window: do not apply it again. Nothing was counted.
    Duplicate { level: Level },
    /// Do not apply it.
    Refused(Refusal),
}

/// What the shell logs and exports; pushed only when something changed, so each is logged
/// once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnomalyEvent {
    /// The level moved (up by a change, down by expiry, an override or a larger network).
    LevelChanged {
        from: Level,
        to: Level,
        changed_nodes: u64,
    },
    /// A passed ballot lifted the halt; `discounted_nodes` no longer count.
    Overridden {
        ballot_id: Id,
        discounted_nodes: u64,
    },
}

/// The result of [`AnomalyLimits::override_halt`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Override {
    /// The halt is lifted; these nodes changed in the window no longer count.
    Lifted { discounted_nodes: u64 },
    /// The level was not `Halted`: nothing to lift, and the ballot is not used up.
    NotHalted,
    /// This ballot lifted a halt before: one ballot lifts one halt.
    BallotReused,
}

/// A snapshot for `/status` and the metrics (`x0_anomaly_level`,
/// `x0_anomaly_changed_nodes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnomalyStatus {
    pub level: Level,
    /// Nodes changed by changes counted in the window.
    pub changed_nodes_in_window: u64,
    /// Changes remembered in the window (counted or discounted by an override).
    pub changes_in_window: usize,
    /// The network size the thresholds are computed for (that of the latest change).
    pub network_nodes: u64,
    pub thresholds: Thresholds,
    pub window_ms: u64,
    pub changes_max: usize,
    /// Changes refused because `changes_max` was reached.
    pub window_full_total: u64,
    /// Halts lifted by ballots.
    pub overrides_total: u64,
    /// Used ballot ids forgotten to stay within [`BALLOTS_REMEMBERED_MAX`].
    pub ballots_forgotten_total: u64,
}

#[derive(Debug, Clone, Copy)]
struct Applied {
    id: Id,
    applied_ms: u64,
    affected_nodes: u64,
    /// False once an override discounted it; it still blocks a duplicate until it expires.
    counted: bool,
}

/// The anomaly limits core.
#[derive(Debug)]
pub struct AnomalyLimits {
    config: AnomalyConfig,
    /// Applied changes in the window, oldest first (times never decrease: see `clamp`).
    window: VecDeque<Applied>,
    /// Ids of `window`, for duplicate detection.
    window_ids: BTreeSet<Id>,
    /// Sum of `affected_nodes` over counted entries of `window`. u128: at most
    /// `changes_max` (a usize) values of u64 each, so it never overflows, and expiry
    /// subtracts exactly what was added.
    changed_nodes: u128,
    network_nodes: u64,
    level: Level,
    latest_now_ms: u64,
    ballots_used: VecDeque<Id>,
    ballots_used_ids: BTreeSet<Id>,
    window_full_total: u64,
    overrides_total: u64,
    ballots_forgotten_total: u64,
}

impl AnomalyLimits {
    pub fn new(config: AnomalyConfig) -> Result<Self, AnomalyConfigError> {
        config.check()?;
        Ok(AnomalyLimits {
            config,
            window: VecDeque::new(),
            window_ids: BTreeSet::new(),
            changed_nodes: 0,
            network_nodes: 0,
            level: Level::Normal,
            latest_now_ms: 0,
            ballots_used: VecDeque::new(),
            ballots_used_ids: BTreeSet::new(),
            window_full_total: 0,
            overrides_total: 0,
            ballots_forgotten_total: 0,
        })
    }

    pub fn config(&self) -> &AnomalyConfig {
        &self.config
    }

    /// The level as of the latest call (see [`AnomalyLimits::status`] for a given time).
    pub fn level(&self) -> Level {
        self.level
    }

    /// Judges `change` at `now_ms`; counts it when applied. Level changes go to `out`.
    ///
    /// Checks in order: duplicate, certificate, halted, halt line, window bound; the bound
    /// comes last so `window_full_total` counts only changes refused for it alone.
    pub fn on_change(
        &mut self,
        change: Change,
        now_ms: u64,
        out: &mut Vec<AnomalyEvent>,
    ) -> Decision {
        let now_ms = self.clamp(now_ms);
        self.network_nodes = change.network_nodes;
        self.expire(now_ms);
        self.update_level(out);

        if self.window_ids.contains(&change.id) {
            return Decision::Duplicate { level: self.level };
        }
        let thresholds = self.config.thresholds(self.network_nodes);
        if !change.certified && change.affected_nodes > thresholds.certificate_free_nodes_max {
            return Decision::Refused(Refusal::CertificateRequired);
        }
        if self.level == Level::Halted {
            return Decision::Refused(Refusal::Halted);
        }
        let changed_after = self.changed_nodes + u128::from(change.affected_nodes);
        if !change.certified && changed_after > u128::from(thresholds.halt_nodes) {
            return Decision::Refused(Refusal::WouldExceedHalt);
        }
        if self.window.len() >= self.config.changes_max {
            self.window_full_total += 1;
            return Decision::Refused(Refusal::WindowFull);
        }

        self.window.push_back(Applied {
            id: change.id,
            applied_ms: now_ms,
            affected_nodes: change.affected_nodes,
            counted: true,
        });
        self.window_ids.insert(change.id);
        self.changed_nodes = changed_after;
        self.update_level(out);
        Decision::Applied { level: self.level }
    }

    /// Expires changes older than the window; a level that drops goes to `out`.
    pub fn tick(&mut self, now_ms: u64, out: &mut Vec<AnomalyEvent>) {
        let now_ms = self.clamp(now_ms);
        self.expire(now_ms);
        self.update_level(out);
    }

    /// When the oldest remembered change expires: the next `tick` that can lower the level.
    pub fn next_tick_ms(&self) -> Option<u64> {
        self.window
            .front()
            .map(|oldest| oldest.applied_ms.saturating_add(self.config.window_ms))
    }

    /// A passed ballot (`ballot_id`) lifts the halt: every change in the window now stops
    /// counting (it is still remembered against duplicates until it expires), and changes
    /// from now on count from zero under the same limits.
    pub fn override_halt(
        &mut self,
        ballot_id: Id,
        now_ms: u64,
        out: &mut Vec<AnomalyEvent>,
    ) -> Override {
        let now_ms = self.clamp(now_ms);
        self.expire(now_ms);
        self.update_level(out);
        if self.ballots_used_ids.contains(&ballot_id) {
            return Override::BallotReused;
        }
        if self.level != Level::Halted {
            return Override::NotHalted;
        }
        if self.ballots_used.len() >= BALLOTS_REMEMBERED_MAX {
            if let Some(oldest) = self.ballots_used.pop_front() {
                self.ballots_used_ids.remove(&oldest);
                self.ballots_forgotten_total += 1;
            }
        }
        self.ballots_used.push_back(ballot_id);
        self.ballots_used_ids.insert(ballot_id);

        for applied in self.window.iter_mut() {
            applied.counted = false;
        }
        let discounted_nodes = saturate(std::mem::take(&mut self.changed_nodes));
        self.overrides_total += 1;
        out.push(AnomalyEvent::Overridden {
            ballot_id,
            discounted_nodes,
        });
        self.update_level(out);
        Override::Lifted { discounted_nodes }
    }

    /// The state at `now_ms`, counting only changes still within the window then (without
    /// expiring anything: `&self`).
    pub fn status(&self, now_ms: u64) -> AnomalyStatus {
        let now_ms = now_ms.max(self.latest_now_ms);
        let live = self
            .window
            .iter()
            .filter(|applied| !self.expired(applied, now_ms));
        let (changes_in_window, changed_nodes) =
            live.fold((0usize, 0u128), |(changes, nodes), applied| {
                let counted = if applied.counted {
                    applied.affected_nodes
                } else {
                    0
                };
                (changes + 1, nodes + u128::from(counted))
            });
        let changed_nodes_in_window = saturate(changed_nodes);
        let thresholds = self.config.thresholds(self.network_nodes);
        AnomalyStatus {
            level: thresholds.level(changed_nodes_in_window),
            changed_nodes_in_window,
            changes_in_window,
            network_nodes: self.network_nodes,
            thresholds,
            window_ms: self.config.window_ms,
            changes_max: self.config.changes_max,
            window_full_total: self.window_full_total,
            overrides_total: self.overrides_total,
            ballots_forgotten_total: self.ballots_forgotten_total,
        }
    }

    /// `now_ms`, or the latest time seen if that is later: the window's order and length
    /// must not depend on a clock that stepped back.
    fn clamp(&mut self, now_ms: u64) -> u64 {
        self.latest_now_ms = self.latest_now_ms.max(now_ms);
        self.latest_now_ms
    }

    fn expired(&self, applied: &Applied, now_ms: u64) -> bool {
        now_ms.saturating_sub(applied.applied_ms) >= self.config.window_ms
    }

    fn expire(&mut self, now_ms: u64) {
        while let Some(oldest) = self.window.front().copied() {
            if !self.expired(&oldest, now_ms) {
                break;
            }
            self.window.pop_front();
            self.window_ids.remove(&oldest.id);
            if oldest.counted {
                self.changed_nodes -= u128::from(oldest.affected_nodes);
            }
        }
    }

    fn update_level(&mut self, out: &mut Vec<AnomalyEvent>) {
        let level = self
            .config
            .thresholds(self.network_nodes)
            .level(saturate(self.changed_nodes));
        if level != self.level {
            out.push(AnomalyEvent::LevelChanged {
                from: self.level,
                to: level,
                changed_nodes: saturate(self.changed_nodes),
            });
            self.level = level;
        }
    }
}

#[cfg(test)]
mod tests;
