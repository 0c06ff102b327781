//! Anomaly limits: how much of the network may change, and how fast.
//!
//! The issue's rule: changes that affect more than 10% of nodes are accepted only with a
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
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn id(n: u64) -> Id {
        let mut id = [0; 32];
        id[..8].copy_from_slice(&n.to_be_bytes());
        id
    }

    fn change(n: u64, affected_nodes: u64, network_nodes: u64, certified: bool) -> Change {
        Change {
            id: id(n),
            affected_nodes,
            network_nodes,
            certified,
        }
    }

    fn applied(level: Level) -> Decision {
        Decision::Applied { level }
    }

    fn refused(refusal: Refusal) -> Decision {
        Decision::Refused(refusal)
    }

    fn level_changed(from: Level, to: Level, changed_nodes: u64) -> AnomalyEvent {
        AnomalyEvent::LevelChanged {
            from,
            to,
            changed_nodes,
        }
    }

    /// Offers changes of `affected_nodes` each (ids from `first_id` on) at `now_ms`.
    fn offer(
        core: &mut AnomalyLimits,
        first_id: u64,
        affected: &[u64],
        network_nodes: u64,
        now_ms: u64,
    ) -> Vec<Decision> {
        let mut out = Vec::new();
        affected
            .iter()
            .zip(first_id..)
            .map(|(&a, n)| core.on_change(change(n, a, network_nodes, false), now_ms, &mut out))
            .collect()
    }

    #[test]
    fn defaults_are_the_issue_s_and_valid() {
        let config = AnomalyConfig::default();
        assert_eq!(config.certificate_required_ppm, 100_000);
        assert_eq!(config.warn_ppm, 50_000);
        assert_eq!(config.halt_ppm, 150_000);
        assert_eq!(config.window_ms, 3_600_000);
        assert_eq!(config.changes_max, 4096);
        assert_eq!(config.check(), Ok(()));
    }

    #[test]
    fn check_names_the_invalid_field() {
        let base = AnomalyConfig::default();
        let cases = [
            (
                AnomalyConfig {
                    certificate_required_ppm: PPM_MAX + 1,
                    ..base
                },
                "certificate_required_ppm",
            ),
            (
                AnomalyConfig {
                    halt_ppm: PPM_MAX + 1,
                    ..base
                },
                "halt_ppm",
            ),
            (
                AnomalyConfig {
                    warn_ppm: 150_000,
                    ..base
                },
                "warn_ppm",
            ),
            (
                AnomalyConfig {
                    warn_ppm: 200_000,
                    ..base
                },
                "warn_ppm",
            ),
            (
                AnomalyConfig {
                    window_ms: 0,
                    ..base
                },
                "window_ms",
            ),
            (
                AnomalyConfig {
                    changes_max: 0,
                    ..base
                },
                "changes_max",
            ),
        ];
        for (config, field) in cases {
            let error = config.check().unwrap_err();
            assert_eq!(error.field, field);
            assert!(error.to_string().contains(field), "{error}");
            assert_eq!(AnomalyLimits::new(config).unwrap_err().field, field);
        }
        // The extremes that are allowed.
        let extreme = AnomalyConfig {
            certificate_required_ppm: PPM_MAX,
            warn_ppm: 0,
            halt_ppm: PPM_MAX,
            window_ms: 1,
            changes_max: 1,
        };
        assert_eq!(extreme.check(), Ok(()));
    }

    #[test]
    fn thresholds_in_nodes_never_fall_below_one() {
        let default = AnomalyConfig::default();
        let custom = AnomalyConfig {
            certificate_required_ppm: 200_000,
            warn_ppm: 20_000,
            halt_ppm: 30_000,
            ..default
        };
        let table = [
            // (config, n, certificate_free_nodes_max, warn_nodes, halt_nodes)
            (default, 100, 10, 5, 15),
            (default, 101, 10, 6, 16),
            (default, 1000, 100, 50, 150),
            (default, 10_000, 1000, 500, 1500),
            (default, 20, 2, 1, 3),
            (default, 7, 1, 1, 2),
            (default, 6, 1, 1, 1),
            (default, 5, 1, 1, 1),
            (default, 1, 1, 1, 1),
            (default, 0, 1, 1, 1),
            (custom, 1000, 200, 20, 30),
            (custom, 1001, 200, 21, 31),
            (custom, 10, 2, 1, 1),
        ];
        for (config, n, certificate_free_nodes_max, warn_nodes, halt_nodes) in table {
            assert_eq!(
                config.thresholds(n),
                Thresholds {
                    certificate_free_nodes_max,
                    warn_nodes,
                    halt_nodes
                },
                "n = {n}, {config:?}"
            );
        }
        assert_eq!(threshold_nodes(PPM_MAX, u64::MAX), u64::MAX);
        assert_eq!(threshold_nodes(u32::MAX, u64::MAX), u64::MAX);
        assert_eq!(threshold_nodes(0, u64::MAX), 1);
    }

    #[test]
    fn certificate_is_required_exactly_above_ten_percent() {
        let config = AnomalyConfig::default();
        for (n, free_max) in [(100, 10), (101, 10), (110, 11), (5, 1), (1, 1)] {
            let mut out = Vec::new();
            let mut core = AnomalyLimits::new(config).unwrap();
            let at_line = core.on_change(change(1, free_max, n, false), 0, &mut out);
            assert!(
                matches!(at_line, Decision::Applied { .. }),
                "n = {n}: {at_line:?}"
            );

            let mut core = AnomalyLimits::new(config).unwrap();
            let above = change(2, free_max + 1, n, false);
            assert_eq!(
                core.on_change(above, 0, &mut out),
                refused(Refusal::CertificateRequired),
                "n = {n}"
            );
            let certified = Change {
                certified: true,
                ..above
            };
            assert!(matches!(
                core.on_change(certified, 0, &mut out),
                Decision::Applied { .. }
            ));
        }
    }

    #[test]
    fn warning_starts_exactly_at_five_percent() {
        let mut out = Vec::new();
        let mut core = AnomalyLimits::new(AnomalyConfig::default()).unwrap();
        assert_eq!(
            offer(&mut core, 0, &[2, 2], 100, 0),
            [applied(Level::Normal), applied(Level::Normal)]
        );
        assert!(out.is_empty());
        assert_eq!(
            core.on_change(change(9, 1, 100, false), 0, &mut out),
            applied(Level::Warning)
        );
        assert_eq!(out, [level_changed(Level::Normal, Level::Warning, 5)]);
        out.clear();
        core.on_change(change(10, 1, 100, false), 0, &mut out);
        assert!(out.is_empty(), "the warning is reported once");

        // 101 nodes: 5 nodes are 4.95%, so the warning waits for the sixth.
        let mut core = AnomalyLimits::new(AnomalyConfig::default()).unwrap();
        assert_eq!(offer(&mut core, 0, &[5], 101, 0), [applied(Level::Normal)]);
        assert_eq!(offer(&mut core, 1, &[1], 101, 0), [applied(Level::Warning)]);
    }

    #[test]
    fn halt_starts_exactly_at_fifteen_percent_and_refuses_further_changes() {
        let mut out = Vec::new();
        let mut core = AnomalyLimits::new(AnomalyConfig::default()).unwrap();
        assert_eq!(
            offer(&mut core, 0, &[10, 4], 100, 0),
            [applied(Level::Warning), applied(Level::Warning)]
        );
        // 14 + 2 would pass the line of 15: refused, not counted, no halt.
        assert_eq!(
            core.on_change(change(2, 2, 100, false), 0, &mut out),
            refused(Refusal::WouldExceedHalt)
        );
        assert_eq!(core.status(0).changed_nodes_in_window, 14);
        assert_eq!(core.level(), Level::Warning);
        out.clear();
        // 14 + 1 lands on the line: applied, and the halt begins.
        assert_eq!(
            core.on_change(change(3, 1, 100, false), 0, &mut out),
            applied(Level::Halted)
        );
        assert_eq!(out, [level_changed(Level::Warning, Level::Halted, 15)]);
        out.clear();
        for further in [change(4, 0, 100, false), change(5, 1, 100, true)] {
            assert_eq!(
                core.on_change(further, 1, &mut out),
                refused(Refusal::Halted)
            );
        }
        // The certificate rule still answers first for a change that could never pass.
        assert_eq!(
            core.on_change(change(6, 11, 100, false), 1, &mut out),
            refused(Refusal::CertificateRequired)
        );
        assert!(out.is_empty());
        let status = core.status(1);
        assert_eq!(status.level, Level::Halted);
        assert_eq!(status.changed_nodes_in_window, 15);
        assert_eq!(status.changes_in_window, 3);
    }

    #[test]
    fn certified_change_may_cross_the_halt_line_and_starts_the_halt() {
        let mut out = Vec::new();
        let mut core = AnomalyLimits::new(AnomalyConfig::default()).unwrap();
        assert_eq!(
            offer(&mut core, 0, &[14], 1000, 0),
            [applied(Level::Normal)]
        );
        out.clear();
        assert_eq!(
            core.on_change(change(1, 1000, 1000, true), 0, &mut out),
            applied(Level::Halted)
        );
        assert_eq!(out, [level_changed(Level::Normal, Level::Halted, 1014)]);
        assert_eq!(
            core.on_change(change(2, 1, 1000, true), 0, &mut out),
            refused(Refusal::Halted)
        );
    }

    #[test]
    fn small_network_uses_one_node() {
        let config = AnomalyConfig {
            window_ms: 1000,
            ..AnomalyConfig::default()
        };
        let mut out = Vec::new();
        let mut core = AnomalyLimits::new(config).unwrap();
        // n = 5: every threshold is 1 node.
        assert_eq!(
            core.on_change(change(1, 2, 5, false), 0, &mut out),
            refused(Refusal::CertificateRequired)
        );
        assert_eq!(
            core.on_change(change(2, 1, 5, false), 0, &mut out),
            applied(Level::Halted)
        );
        assert_eq!(out, [level_changed(Level::Normal, Level::Halted, 1)]);
        assert_eq!(
            core.on_change(change(3, 1, 5, false), 999, &mut out),
            refused(Refusal::Halted)
        );
        // One node per window, not none.
        assert_eq!(
            core.on_change(change(3, 1, 5, false), 1000, &mut out),
            applied(Level::Halted)
        );

        // n = 7: a certificate above 1 node, warning at 1, halt at 2 (15% is 1.05).
        let mut core = AnomalyLimits::new(config).unwrap();
        assert_eq!(
            offer(&mut core, 0, &[1, 1, 1], 7, 0),
            [
                applied(Level::Warning),
                applied(Level::Halted),
                refused(Refusal::Halted)
            ]
        );
    }

    /// The rule stated on real numbers, independently of the integer thresholds.
    fn exact_needs_certificate(config: &AnomalyConfig, affected: u64, n: u64) -> bool {
        let more_than_share = u128::from(affected) * u128::from(PPM_MAX)
            > u128::from(config.certificate_required_ppm) * u128::from(n);
        more_than_share && affected > 1
    }

    fn exact_reaches(ppm: u32, changed: u64, n: u64) -> bool {
        let reaches_share =
            u128::from(changed) * u128::from(PPM_MAX) >= u128::from(ppm) * u128::from(n);
        reaches_share && changed >= 1
    }

    #[test]
    fn boundaries_match_the_real_percentages_for_many_configs_and_sizes() {
        let configs = [
            AnomalyConfig::default(),
            AnomalyConfig {
                certificate_required_ppm: 200_000,
                warn_ppm: 20_000,
                halt_ppm: 30_000,
                window_ms: 10_000,
                changes_max: 4096,
            },
            AnomalyConfig {
                certificate_required_ppm: 33_333,
                warn_ppm: 66_667,
                halt_ppm: 250_001,
                window_ms: 1,
                changes_max: 4096,
            },
            AnomalyConfig {
                certificate_required_ppm: 0,
                warn_ppm: 0,
                halt_ppm: 1,
                window_ms: 60_000,
                changes_max: 4096,
            },
        ];
        let sizes = [
            0, 1, 2, 3, 5, 6, 7, 9, 19, 20, 21, 99, 100, 101, 333, 1000, 1001,
        ];
        for config in configs {
            for n in sizes {
                // Certificate: every size of change from a fresh core.
                for affected in 0..=n + 2 {
                    let mut core = AnomalyLimits::new(config).unwrap();
                    let decision =
                        core.on_change(change(1, affected, n, false), 0, &mut Vec::new());
                    assert_eq!(
                        decision == refused(Refusal::CertificateRequired),
                        exact_needs_certificate(&config, affected, n),
                        "{config:?} n = {n} affected = {affected}: {decision:?}"
                    );
                }
                // Warning and halt: one node at a time (certified, so the certificate line
                // does not interfere) until the halt.
                let mut core = AnomalyLimits::new(config).unwrap();
                let mut out = Vec::new();
                let mut changed = 0;
                loop {
                    let decision = core.on_change(change(changed, 1, n, true), 0, &mut out);
                    let before_halted = exact_reaches(config.halt_ppm, changed, n);
                    if before_halted {
                        assert_eq!(decision, refused(Refusal::Halted));
                        break;
                    }
                    changed += 1;
                    let expected = if exact_reaches(config.halt_ppm, changed, n) {
                        Level::Halted
                    } else if exact_reaches(config.warn_ppm, changed, n) {
                        Level::Warning
                    } else {
                        Level::Normal
                    };
                    assert_eq!(
                        decision,
                        applied(expected),
                        "{config:?} n = {n} changed = {changed}"
                    );
                }
            }
        }
    }

    #[test]
    fn window_expiry_ends_the_halt() {
        let config = AnomalyConfig {
            window_ms: 1000,
            ..AnomalyConfig::default()
        };
        let mut out = Vec::new();
        let mut core = AnomalyLimits::new(config).unwrap();
        assert_eq!(core.next_tick_ms(), None);
        offer(&mut core, 0, &[10], 100, 0);
        assert_eq!(
            offer(&mut core, 1, &[5], 100, 500),
            [applied(Level::Halted)]
        );
        assert_eq!(core.next_tick_ms(), Some(1000));
        assert_eq!(
            offer(&mut core, 2, &[1], 100, 999),
            [refused(Refusal::Halted)]
        );

        // Status sees the expiry at its own time, without a tick.
        assert_eq!(core.status(999).changed_nodes_in_window, 15);
        assert_eq!(core.status(1000).changed_nodes_in_window, 5);
        assert_eq!(core.status(1000).level, Level::Warning);
        assert_eq!(core.level(), Level::Halted);

        core.tick(1000, &mut out);
        assert_eq!(out, [level_changed(Level::Halted, Level::Warning, 5)]);
        assert_eq!(core.next_tick_ms(), Some(1500));
        assert_eq!(
            offer(&mut core, 3, &[1], 100, 1000),
            [applied(Level::Warning)]
        );
        out.clear();
        core.tick(1499, &mut out);
        assert!(out.is_empty());
        core.tick(1500, &mut out);
        assert_eq!(out, [level_changed(Level::Warning, Level::Normal, 1)]);
        out.clear();
        core.tick(2000, &mut out);
        assert!(out.is_empty(), "Normal already: nothing to report");
        assert_eq!(core.status(2000).changes_in_window, 0);
        assert_eq!(core.next_tick_ms(), None);
    }

    #[test]
    fn clock_stepping_back_does_not_shorten_the_window() {
        let config = AnomalyConfig {
            window_ms: 1000,
            ..AnomalyConfig::default()
        };
        let mut core = AnomalyLimits::new(config).unwrap();
        assert_eq!(
            offer(&mut core, 0, &[10, 5], 100, 5000),
            [applied(Level::Warning), applied(Level::Halted)]
        );
        // A change "at" 4000 is taken as at 5000: halted still.
        assert_eq!(
            offer(&mut core, 2, &[1], 100, 4000),
            [refused(Refusal::Halted)]
        );
        assert_eq!(core.status(0).level, Level::Halted);
        assert_eq!(
            offer(&mut core, 2, &[1], 100, 5999),
            [refused(Refusal::Halted)]
        );
        assert_eq!(
            offer(&mut core, 2, &[1], 100, 6000),
            [applied(Level::Normal)]
        );
    }

    #[test]
    fn override_lifts_the_halt_until_the_limits_are_reached_again() {
        let mut out = Vec::new();
        let mut core = AnomalyLimits::new(AnomalyConfig::default()).unwrap();
        let ballot = id(1000);
        assert_eq!(
            offer(&mut core, 0, &[10], 100, 0),
            [applied(Level::Warning)]
        );
        // Not halted: nothing to lift, and the ballot is not used up.
        assert_eq!(core.override_halt(ballot, 0, &mut out), Override::NotHalted);
        assert!(out.is_empty());
        assert_eq!(offer(&mut core, 1, &[5], 100, 0), [applied(Level::Halted)]);
        out.clear();

        assert_eq!(
            core.override_halt(ballot, 10, &mut out),
            Override::Lifted {
                discounted_nodes: 15
            }
        );
        assert_eq!(
            out,
            [
                AnomalyEvent::Overridden {
                    ballot_id: ballot,
                    discounted_nodes: 15
                },
                level_changed(Level::Halted, Level::Normal, 0),
            ]
        );
        let status = core.status(10);
        assert_eq!(status.level, Level::Normal);
        assert_eq!(status.changed_nodes_in_window, 0);
        assert_eq!(
            status.changes_in_window, 2,
            "still remembered against duplicates"
        );
        assert_eq!(status.overrides_total, 1);

        // Discounted changes are still duplicates.
        assert_eq!(
            offer(&mut core, 0, &[10], 100, 20),
            [Decision::Duplicate {
                level: Level::Normal
            }]
        );
        // Changes count from zero again, under the same limits.
        assert_eq!(
            offer(&mut core, 10, &[4, 1, 9, 1], 100, 20),
            [
                applied(Level::Normal),
                applied(Level::Warning),
                applied(Level::Warning),
                applied(Level::Halted)
            ]
        );
        // One ballot lifts one halt.
        out.clear();
        assert_eq!(
            core.override_halt(ballot, 30, &mut out),
            Override::BallotReused
        );
        assert!(out.is_empty());
        assert_eq!(core.level(), Level::Halted);
        assert!(matches!(
            core.override_halt(id(1001), 30, &mut out),
            Override::Lifted {
                discounted_nodes: 15
            }
        ));
    }

    #[test]
    fn override_is_forgotten_only_beyond_its_bound() {
        let config = AnomalyConfig {
            changes_max: BALLOTS_REMEMBERED_MAX + 8,
            ..AnomalyConfig::default()
        };
        let mut core = AnomalyLimits::new(config).unwrap();
        let mut out = Vec::new();
        for ballot in 0..=BALLOTS_REMEMBERED_MAX as u64 {
            core.on_change(change(ballot, 1, 1, false), 0, &mut out);
            assert!(matches!(
                core.override_halt(id(ballot), 0, &mut out),
                Override::Lifted { .. }
            ));
        }
        let status = core.status(0);
        assert_eq!(status.ballots_forgotten_total, 1);
        assert_eq!(core.ballots_used.len(), BALLOTS_REMEMBERED_MAX);
        assert_eq!(core.ballots_used_ids.len(), BALLOTS_REMEMBERED_MAX);
    }

    #[test]
    fn window_full_fails_closed_and_counts() {
        let config = AnomalyConfig {
            window_ms: 1000,
            changes_max: 3,
            ..AnomalyConfig::default()
        };
        let mut core = AnomalyLimits::new(config).unwrap();
        assert_eq!(
            offer(&mut core, 0, &[0, 1, 1, 1], 1000, 0),
            [
                applied(Level::Normal),
                applied(Level::Normal),
                applied(Level::Normal),
                refused(Refusal::WindowFull)
            ]
        );
        // Refused for another reason first: not counted as the bound's.
        assert_eq!(
            offer(&mut core, 10, &[101], 1000, 0),
            [refused(Refusal::CertificateRequired)]
        );
        let status = core.status(0);
        assert_eq!(status.window_full_total, 1);
        assert_eq!(status.changes_in_window, 3);
        assert_eq!(status.changes_max, 3);
        assert_eq!(
            offer(&mut core, 3, &[1], 1000, 1000),
            [applied(Level::Normal)]
        );
    }

    #[test]
    fn duplicate_id_is_not_counted_twice() {
        let config = AnomalyConfig {
            window_ms: 1000,
            ..AnomalyConfig::default()
        };
        let mut out = Vec::new();
        let mut core = AnomalyLimits::new(config).unwrap();
        assert_eq!(offer(&mut core, 7, &[3], 100, 0), [applied(Level::Normal)]);
        assert_eq!(
            offer(&mut core, 7, &[3], 100, 1),
            [Decision::Duplicate {
                level: Level::Normal
            }]
        );
        assert_eq!(core.status(1).changed_nodes_in_window, 3);
        // A duplicate is answered as such also while halted (it is applied already).
        assert_eq!(
            offer(&mut core, 8, &[10, 2], 100, 2),
            [applied(Level::Warning), applied(Level::Halted)]
        );
        assert_eq!(
            core.on_change(change(7, 3, 100, false), 3, &mut out),
            Decision::Duplicate {
                level: Level::Halted
            }
        );
        // A refused change is not remembered: offered again, it is judged again.
        assert_eq!(
            offer(&mut core, 20, &[1], 100, 3),
            [refused(Refusal::Halted)]
        );
        assert_eq!(
            offer(&mut core, 20, &[1], 100, 1002),
            [applied(Level::Normal)]
        );
        // Once expired, the id is a new change.
        assert_eq!(
            offer(&mut core, 7, &[3], 100, 1002),
            [applied(Level::Normal)]
        );
        assert_eq!(core.status(1002).changed_nodes_in_window, 4);
    }

    #[test]
    fn huge_affected_counts_never_overflow() {
        let mut out = Vec::new();
        let mut core = AnomalyLimits::new(AnomalyConfig {
            window_ms: 10,
            ..AnomalyConfig::default()
        })
        .unwrap();
        let n = u64::MAX;
        assert_eq!(
            core.on_change(change(1, 10u64.pow(18), n, false), 0, &mut out),
            applied(Level::Warning)
        );
        // A certified change may cross the line: the sum passes u64::MAX.
        assert_eq!(
            core.on_change(change(2, u64::MAX, n, true), 5, &mut out),
            applied(Level::Halted)
        );
        assert_eq!(core.status(5).changed_nodes_in_window, u64::MAX);
        core.tick(10, &mut out);
        assert_eq!(core.status(10).changed_nodes_in_window, u64::MAX);
        core.tick(15, &mut out);
        assert_eq!(core.status(15).changed_nodes_in_window, 0);
        assert_eq!(core.level(), Level::Normal);
    }

    /// What the model remembers of an applied change.
    struct Remembered {
        id: Id,
        applied_ms: u64,
        affected_nodes: u64,
        certified: bool,
        counted: bool,
    }

    #[test]
    fn random_sequences_keep_the_invariants() {
        // Outcomes seen over all runs: the runs must reach every path they check.
        let mut seen: std::collections::BTreeMap<String, u64> = Default::default();
        for seed in 0..300u64 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let halt_ppm = rng.gen_range(1..=PPM_MAX);
            let config = AnomalyConfig {
                certificate_required_ppm: rng.gen_range(0..=PPM_MAX / 2),
                warn_ppm: rng.gen_range(0..halt_ppm),
                halt_ppm,
                window_ms: rng.gen_range(1..=5_000),
                changes_max: rng.gen_range(1..=48),
            };
            let base_nodes: u64 = rng.gen_range(0..=300);
            // A third of the runs see the network size move between changes.
            let size_moves = seed % 3 == 0;
            let mut core = AnomalyLimits::new(config).unwrap();
            let mut model: Vec<Remembered> = Vec::new();
            let mut ballots_used: Vec<Id> = Vec::new();
            let mut network_nodes = 0;
            let mut latest_ms = 0u64;
            let mut reported = Level::Normal;
            let mut now_ms = 0u64;
            let mut out = Vec::new();
            for step in 0..400 {
                let context = format!("seed {seed} step {step} {config:?}");
                now_ms += rng.gen_range(0..=config.window_ms / 3 + 1);
                // Now and then the caller's clock steps back.
                let call_ms = if rng.gen_bool(0.05) {
                    now_ms.saturating_sub(rng.gen_range(0..=config.window_ms))
                } else {
                    now_ms
                };
                latest_ms = latest_ms.max(call_ms);
                model.retain(|m| latest_ms - m.applied_ms < config.window_ms);
                let counted = |model: &[Remembered]| -> u64 {
                    model
                        .iter()
                        .filter(|m| m.counted)
                        .map(|m| m.affected_nodes)
                        .sum()
                };
                out.clear();
                match rng.gen_range(0..12) {
                    0 => core.tick(call_ms, &mut out),
                    1 => {
                        let ballot = id(1_000_000 + rng.gen_range(0..16));
                        let level = config.thresholds(network_nodes).level(counted(&model));
                        let result = core.override_halt(ballot, call_ms, &mut out);
                        let kind = format!("{result:?}");
                        let kind = kind.split([' ', '{']).next().unwrap_or_default();
                        *seen.entry(kind.to_string()).or_default() += 1;
                        if ballots_used.contains(&ballot) {
                            assert_eq!(result, Override::BallotReused, "{context}");
                        } else if level != Level::Halted {
                            assert_eq!(result, Override::NotHalted, "{context}");
                        } else {
                            let discounted_nodes = counted(&model);
                            assert_eq!(result, Override::Lifted { discounted_nodes }, "{context}");
                            model.iter_mut().for_each(|m| m.counted = false);
                            ballots_used.push(ballot);
                        }
                    }
                    _ => {
                        network_nodes = if size_moves {
                            rng.gen_range(0..=300)
                        } else {
                            base_nodes
                        };
                        let thresholds = config.thresholds(network_nodes);
                        let changed_before = counted(&model);
                        let level_before = thresholds.level(changed_before);
                        let offered = Change {
                            id: id(rng.gen_range(0..60)),
                            affected_nodes: rng.gen_range(0..=network_nodes / 4 + 2),
                            network_nodes,
                            certified: rng.gen_bool(0.3),
                        };
                        let decision = core.on_change(offered, call_ms, &mut out);
                        *seen.entry(format!("{decision:?}")).or_default() += 1;
                        let duplicate = model.iter().any(|m| m.id == offered.id);
                        if duplicate {
                            assert!(matches!(decision, Decision::Duplicate { .. }), "{context}");
                        } else {
                            assert!(!matches!(decision, Decision::Duplicate { .. }), "{context}");
                        }
                        if let Decision::Applied { level } = decision {
                            // No uncertified change above the certificate line, nothing
                            // while halted, and no uncertified change past the halt line.
                            assert!(
                                offered.certified
                                    || offered.affected_nodes
                                        <= thresholds.certificate_free_nodes_max,
                                "{context}"
                            );
                            assert_ne!(level_before, Level::Halted, "{context}");
                            let changed_after = changed_before + offered.affected_nodes;
                            assert!(
                                offered.certified || changed_after <= thresholds.halt_nodes,
                                "{context}"
                            );
                            assert!(model.len() < config.changes_max, "{context}");
                            assert_eq!(level, thresholds.level(changed_after), "{context}");
                            model.push(Remembered {
                                id: offered.id,
                                applied_ms: latest_ms,
                                affected_nodes: offered.affected_nodes,
                                certified: offered.certified,
                                counted: true,
                            });
                        }
                        // Refusals are exactly the documented ones, in the documented order.
                        if let Decision::Refused(refusal) = decision {
                            let expected = if !offered.certified
                                && offered.affected_nodes > thresholds.certificate_free_nodes_max
                            {
                                Refusal::CertificateRequired
                            } else if level_before == Level::Halted {
                                Refusal::Halted
                            } else if !offered.certified
                                && changed_before + offered.affected_nodes > thresholds.halt_nodes
                            {
                                Refusal::WouldExceedHalt
                            } else {
                                assert_eq!(model.len(), config.changes_max, "{context}");
                                Refusal::WindowFull
                            };
                            assert_eq!(refusal, expected, "{context}");
                        }
                    }
                }

                // Events report every level change, once, in order.
                for event in &out {
                    if let AnomalyEvent::LevelChanged { from, to, .. } = *event {
                        assert_eq!(from, reported, "{context}");
                        assert_ne!(from, to, "{context}");
                        reported = to;
                    }
                }
                let status = core.status(latest_ms);
                let changed = counted(&model);
                let thresholds = config.thresholds(network_nodes);
                assert_eq!(reported, core.level(), "{context}");
                assert_eq!(status.level, core.level(), "{context}");
                assert_eq!(status.changed_nodes_in_window, changed, "{context}");
                assert_eq!(status.level, thresholds.level(changed), "{context}");
                assert_eq!(status.changes_in_window, model.len(), "{context}");
                assert!(status.changes_in_window <= config.changes_max, "{context}");
                // Past the halt line only by a certified change (or a network that shrank
                // under changes counted at its larger size).
                if !size_moves && changed > thresholds.halt_nodes {
                    assert!(model.iter().any(|m| m.counted && m.certified), "{context}");
                }
            }
        }
        let expected = [
            "Applied { level: Normal }",
            "Applied { level: Warning }",
            "Applied { level: Halted }",
            "Duplicate { level: Normal }",
            "Duplicate { level: Warning }",
            "Duplicate { level: Halted }",
            "Refused(CertificateRequired)",
            "Refused(Halted)",
            "Refused(WouldExceedHalt)",
            "Refused(WindowFull)",
            "Lifted",
            "NotHalted",
            "BallotReused",
        ];
        for kind in expected {
            assert!(
                seen.get(kind).copied().unwrap_or(0) > 0,
                "{kind} never seen: {seen:?}"
            );
        }
        assert_eq!(seen.len(), expected.len(), "{seen:?}");
    }
}
