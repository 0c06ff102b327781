//! Scenario files (`scenarios/*.toml`): engine-neutral descriptions of a network, its
//! traffic, the faults that hit it and what must hold. The simulator runs them; the same
//! files are meant to drive real node processes in network namespaces later, so they
//! speak of nodes, links and times, never of simulator internals.

use std::path::Path;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    /// Default seed; `x0 sim --seed` overrides it.
    pub seed: u64,
    pub duration_ms: u64,
    pub topology: Topology,
    #[serde(default)]
    pub gossip: GossipOverrides,
    pub network: Network,
    pub committee: CommitteeSpec,
    #[serde(default)]
    pub traffic: Traffic,
    #[serde(default)]
    pub proposals: Vec<ProposalSpec>,
    #[serde(default)]
    pub faults: Vec<Fault>,
    /// Groups of Byzantine committee members, each with its behaviours; at most t
    /// members in all.
    #[serde(default)]
    pub byzantine: Vec<Byzantine>,
    #[serde(default)]
    pub crypto: CryptoSpec,
    /// How members take part in local ballots (only read when the scenario has ballots
    /// or hub outages).
    #[serde(default)]
    pub ballot: BallotSettings,
    /// Local (fallback) ballots a member opens, in time order of `at_ms`.
    #[serde(default)]
    pub ballots: Vec<BallotSpec>,
    pub criteria: Criteria,
}

/// `[ballot]`: the Snapshot hub watch and honest voting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BallotSettings {
    /// Every node asks its Snapshot hub this often (the node's `[dao] poll_interval`).
    #[serde(default = "default_hub_poll_interval_ms")]
    pub hub_poll_interval_ms: u64,
    /// An honest member votes this long after it first sees a ballot open, drawn
    /// uniformly from `vote_delay_ms_min..=vote_delay_ms_max`.
    #[serde(default = "default_vote_delay_ms_min")]
    pub vote_delay_ms_min: u64,
    #[serde(default = "default_vote_delay_ms_max")]
    pub vote_delay_ms_max: u64,
}

fn default_hub_poll_interval_ms() -> u64 {
    30_000
}
fn default_vote_delay_ms_min() -> u64 {
    1_000
}
fn default_vote_delay_ms_max() -> u64 {
    10_000
}

impl Default for BallotSettings {
    fn default() -> Self {
        BallotSettings {
            hub_poll_interval_ms: default_hub_poll_interval_ms(),
            vote_delay_ms_min: default_vote_delay_ms_min(),
            vote_delay_ms_max: default_vote_delay_ms_max(),
        }
    }
}

/// `[[ballots]]`: a member opens a local ballot at `at_ms` (refused, and recorded as
/// such, unless f+1 members' outage attestations have put it in fallback mode).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BallotSpec {
    pub at_ms: u64,
    /// A committee member's node index.
    pub opener: u32,
    pub title: String,
    /// What a pass does, in the effect's text form (`lift-halt`, `settle <slot> <id>`,
    /// `approve <id>`).
    pub effect: String,
    pub duration_ms: u64,
    /// How honest members vote: `yes`, `no`, `abstain`, or `split:F` (the first
    /// round(F * k) of the k honest members, in node order, vote yes, the others no).
    #[serde(default = "default_honest_choice")]
    pub honest_choice: String,
    /// Per-node exceptions to `honest_choice` (later entries win).
    #[serde(default)]
    pub choices: Vec<ChoiceOverride>,
    /// What every honest node up at the end must have decided: `passed`, `rejected`,
    /// `no_decision`, `any` (only the safety invariants), or `not_opened` (the opener's
    /// open is refused and no node holds the ballot).
    #[serde(default)]
    pub expect: BallotExpect,
}

fn default_honest_choice() -> String {
    "yes".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChoiceOverride {
    pub nodes: NodeRange,
    /// `yes`, `no` or `abstain`.
    pub choice: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BallotExpect {
    #[default]
    Any,
    Passed,
    Rejected,
    NoDecision,
    NotOpened,
}

impl BallotExpect {
    pub fn as_str(self) -> &'static str {
        match self {
            BallotExpect::Any => "any",
            BallotExpect::Passed => "passed",
            BallotExpect::Rejected => "rejected",
            BallotExpect::NoDecision => "no_decision",
            BallotExpect::NotOpened => "not_opened",
        }
    }
}

/// An honest member's choice: `yes`, `no` or `abstain`.
pub fn parse_choice(text: &str) -> Option<x0_core::ballot::rules::Choice> {
    x0_core::ballot::rules::Choice::parse(text)
}

impl BallotSpec {
    /// The choice of honest member `node`, given the honest members in node order.
    pub fn choice_of(&self, node: u32, honest_members: &[u32]) -> x0_core::ballot::rules::Choice {
        use x0_core::ballot::rules::Choice;
        let mut choice = match self.honest_choice.strip_prefix("split:") {
            Some(fraction) => {
                let fraction: f64 = fraction.parse().unwrap_or(0.0);
                let yes = (fraction * honest_members.len() as f64).round() as usize;
                let rank = honest_members.iter().position(|m| *m == node);
                if rank.is_some_and(|rank| rank < yes) {
                    Choice::Yes
                } else {
                    Choice::No
                }
            }
            None => parse_choice(&self.honest_choice).unwrap_or(Choice::Abstain),
        };
        for exception in &self.choices {
            if exception.nodes.contains(node) {
                choice = parse_choice(&exception.choice).unwrap_or(choice);
            }
        }
        choice
    }
}

/// Which signature suite the nodes run. Real BLS costs real CPU (milliseconds per
/// verification, thousands of verifications per certificate in a large run) and no
/// virtual time; the modelled suite keeps the same valid/invalid semantics, costs almost
/// no real CPU, and charges each node virtual CPU time per operation, so a node busy
/// verifying delays what it sends. An engine that runs real node processes uses real
/// crypto and ignores this section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CryptoSpec {
    #[serde(default)]
    pub kind: CryptoKind,
    /// Virtual CPU time per operation in modelled runs, µs. The defaults are the BLS
    /// figures measured on the 2-core reference machine (docs/BENCHMARKS.md).
    #[serde(default = "default_sign_share_us")]
    pub sign_share_us: u64,
    #[serde(default = "default_verify_share_us")]
    pub verify_share_us: u64,
    /// Combining costs this per share combined (Lagrange interpolation grows with t).
    #[serde(default = "default_combine_per_share_us")]
    pub combine_per_share_us: u64,
    #[serde(default = "default_verify_certificate_us")]
    pub verify_certificate_us: u64,
}

fn default_sign_share_us() -> u64 {
    430
}
fn default_verify_share_us() -> u64 {
    1_200
}
fn default_combine_per_share_us() -> u64 {
    210
}
fn default_verify_certificate_us() -> u64 {
    1_300
}

impl Default for CryptoSpec {
    fn default() -> Self {
        CryptoSpec {
            kind: CryptoKind::Auto,
            sign_share_us: default_sign_share_us(),
            verify_share_us: default_verify_share_us(),
            combine_per_share_us: default_combine_per_share_us(),
            verify_certificate_us: default_verify_certificate_us(),
        }
    }
}

/// Runs of up to this many nodes use real BLS under `kind = "auto"`.
pub const AUTO_REAL_CRYPTO_NODES_MAX: u32 = 500;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CryptoKind {
    /// Real up to [`AUTO_REAL_CRYPTO_NODES_MAX`] nodes, modelled above.
    #[default]
    Auto,
    Real,
    Modelled,
}

impl Scenario {
    /// Whether this run uses real BLS.
    pub fn real_crypto(&self) -> bool {
        match self.crypto.kind {
            CryptoKind::Real => true,
            CryptoKind::Modelled => false,
            CryptoKind::Auto => self.topology.nodes <= AUTO_REAL_CRYPTO_NODES_MAX,
        }
    }

    /// Whether `node` publishes probes.
    pub fn probes_from(&self, node: u32) -> bool {
        let n = self.topology.nodes;
        match self.traffic.probe_sources {
            None => true,
            // Sources spread evenly over the node indices: i * n / sources.
            Some(sources) => {
                let sources = u64::from(sources.min(n));
                let node = u64::from(node);
                let n = u64::from(n);
                // node is a source iff some i < sources has i * n / sources == node.
                let i = (node * sources).div_ceil(n);
                i < sources && i * n / sources == node
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    pub nodes: u32,
    /// Each node dials this many distinct random peers (links are two-way).
    pub connections_per_node: u32,
    /// Connections a node keeps at most; further dials to it are refused. The node's
    /// `[network] established_total_max`.
    #[serde(default = "default_connections_max")]
    pub connections_max: u32,
}

fn default_connections_max() -> u32 {
    256
}

/// The node's `[gossip]` parameters; absent ones take the node's defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GossipOverrides {
    pub mesh_n: Option<usize>,
    pub mesh_n_low: Option<usize>,
    pub mesh_n_high: Option<usize>,
    pub gossip_lazy: Option<usize>,
    pub heartbeat_interval_ms: Option<u64>,
    pub history_length: Option<usize>,
    pub history_gossip: Option<usize>,
    pub flood_publish: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    pub latency: Latency,
    /// Probability that a message on any link is lost, both directions.
    #[serde(default)]
    pub loss: f64,
}

/// One-way link latency, drawn per message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Latency {
    Fixed {
        ms: u64,
    },
    Uniform {
        min_ms: u64,
        max_ms: u64,
    },
    /// Log-normal around `median_ms` with shape `sigma` (0.5 is a typical WAN spread).
    LogNormal {
        median_ms: u64,
        sigma: f64,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitteeSpec {
    /// Members are nodes 0..size.
    pub size: u32,
    #[serde(default)]
    pub supermajority_slots: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Traffic {
    /// Every probe source publishes a probe this often (0: none); latency figures come
    /// from them.
    #[serde(default)]
    pub probe_interval_ms: u64,
    /// How many nodes publish probes, spread evenly over the node indices (default:
    /// all). Large runs sample latency from some sources rather than flooding the mesh
    /// with n probes per interval.
    #[serde(default)]
    pub probe_sources: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProposalSpec {
    pub at_ms: u64,
    /// A committee member's node index.
    pub proposer: u32,
    pub slot: String,
    pub payload: String,
}

/// Nodes `first..=last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRange {
    pub first: u32,
    pub last: u32,
}

impl NodeRange {
    pub fn contains(&self, node: u32) -> bool {
        (self.first..=self.last).contains(&node)
    }
    pub fn iter(&self) -> impl Iterator<Item = u32> {
        self.first..=self.last
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// Split the nodes into groups; no message crosses between groups (`two_way`), or
    /// none from an earlier group to a later one (`one_way`). Nodes in no group are cut
    /// off from all groups.
    Partition {
        at_ms: u64,
        groups: Vec<NodeRange>,
        direction: Direction,
        /// Nodes that keep their links to every group (multi-homed), such as Byzantine
        /// members that sit on both sides of the split.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        bridges: Vec<NodeRange>,
    },
    /// End every partition.
    Heal { at_ms: u64 },
    /// The nodes stop: no messages in or out, no timers; state not persisted is lost.
    Crash { at_ms: u64, nodes: NodeRange },
    /// Crashed nodes start again from what they persisted, and reconnect.
    Restart { at_ms: u64, nodes: NodeRange },
    /// From `at_ms` until `until_ms`, messages from `from` nodes are lost with
    /// probability `rate` (`direction` says whether replies to them are lost too).
    Loss {
        at_ms: u64,
        until_ms: u64,
        nodes: NodeRange,
        rate: f64,
        direction: Direction,
    },
    /// Churn: from `at_ms` until `until_ms`, every `interval_ms` one random up node of
    /// `nodes` leaves (crashes) and rejoins from its store `down_ms` later.
    Churn {
        at_ms: u64,
        until_ms: u64,
        nodes: NodeRange,
        interval_ms: u64,
        down_ms: u64,
    },
    /// The nodes' clocks run `skew_ms` ahead (negative: behind) from `at_ms` on.
    ClockSkew {
        at_ms: u64,
        nodes: NodeRange,
        skew_ms: i64,
    },
    /// From `at_ms` until `until_ms` (to the end when absent), the nodes' Snapshot hub
    /// gives no valid answer: their polls fail, and after the outage bound (5 minutes)
    /// the members among them attest the outage.
    HubDown {
        at_ms: u64,
        #[serde(default)]
        until_ms: Option<u64>,
        nodes: NodeRange,
    },
}

impl Fault {
    /// The node ranges the fault names.
    pub fn node_ranges(&self) -> Vec<&NodeRange> {
        match self {
            Fault::Partition {
                groups, bridges, ..
            } => groups.iter().chain(bridges.iter()).collect(),
            Fault::HubDown { nodes, .. }
            | Fault::Crash { nodes, .. }
            | Fault::Restart { nodes, .. }
            | Fault::Loss { nodes, .. }
            | Fault::Churn { nodes, .. }
            | Fault::ClockSkew { nodes, .. } => vec![nodes],
            Fault::Heal { .. } => vec![],
        }
    }

    pub fn at_ms(&self) -> u64 {
        match self {
            Fault::Partition { at_ms, .. }
            | Fault::Heal { at_ms }
            | Fault::Crash { at_ms, .. }
            | Fault::Restart { at_ms, .. }
            | Fault::Loss { at_ms, .. }
            | Fault::Churn { at_ms, .. }
            | Fault::ClockSkew { at_ms, .. }
            | Fault::HubDown { at_ms, .. } => *at_ms,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    TwoWay,
    OneWay,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Byzantine {
    /// Nodes `members.first..=members.last` misbehave: at most a third of all nodes, and
    /// at most t of the committee.
    pub members: NodeRange,
    #[serde(default)]
    pub behaviours: Vec<Behaviour>,
    /// The node an `eclipse` group dials and grafts.
    pub target: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Behaviour {
    /// Publish shares over the wrong message instead of valid ones.
    InvalidShares,
    /// Never sign, never forward anything.
    Withhold,
    /// Sign every proposal it sees, also a second one for a slot it signed already.
    Equivocate,
    /// Whenever it sees a proposal, publish a certificate for a forged proposal on the
    /// same slot, signed with nothing but its own key share.
    ForgedCertificates,
    /// Every 500 ms, publish again (as a new message) one of the last 64 proposals,
    /// shares or certificates it saw.
    Replay,
    /// Every 500 ms, publish 20 messages of garbage on the shares topic.
    Flood,
    /// Sybils: dial the group's `target`, GRAFT it on every topic every 500 ms, and
    /// withhold everything (never sign, never forward), to cut it off from the mesh.
    Eclipse,
    /// Token forger: holds a credential minted by its own key pair (not the network
    /// authority's) that claims every right, and every 500 ms publishes in envelopes
    /// sealed with it a proposal and a share (for the last proposal it saw; a committee
    /// member signs it with its key share, anyone else sends a signature of zeros).
    /// Every honest gate must refuse them (`token_signature`).
    ForgeTokens,
    /// Replayer of privileged messages: captures the envelopes of proposals and shares
    /// it receives from honest members (the last 64, and the first 64 not yet
    /// re-injected) and (1) every 500 ms publishes one of them byte-identical as its own
    /// message (its source is not the token's holder: `wrong_holder`); (2) re-injects
    /// each original message unchanged (the honest author's own signed gossip message,
    /// which anyone can relay) to all its peers once the peers' seen caches have let it
    /// go (`duplicate_cache_time` plus a heartbeat; stale by then: `timestamp_stale`);
    /// (3) hands every peer that connects to it (a node back from a crash, whose seen
    /// cache is empty) all it captured, so a restarted node must refuse what it admitted
    /// before the crash from its persisted nonces (`replay`).
    ReplayPrivileged,
    /// A committee member beyond its rights: its credential grants only `vote`, yet it
    /// signs the proposals it sees (valid shares, sealed with its real token) and answers
    /// each with a proposal of its own and one on a `charter/` slot. Every honest gate
    /// must refuse them (`not_permitted`). Members only: nodes `0..committee.size`.
    ExceedRights,
    /// Ballots (members only): on each ballot it sees, votes yes to some peers and no to
    /// others under one sequence (during a partition, yes to the first group and no to
    /// the others); while a partition is in force it relays ballot traffic only within
    /// the side it came from, so that both sides may decide.
    EquivocateVotes,
    /// Ballots (members only): votes yes on every ballot it sees.
    VoteYesAlways,
    /// Ballots: on each ballot it sees, publishes a vote of its own with a broken
    /// signature and a vote in another member's name (signed with its own key).
    ForgeVotes,
    /// Ballots (members only): every 500 ms, once fresh outage attestations of f+1
    /// members have reached it, opens a new ballot, bypassing its own rate limit.
    SpamOpens,
}

impl Behaviour {
    /// The behaviours that attack the capability tokens: none of their privileged
    /// messages may ever be admitted by an honest node.
    pub const AGAINST_TOKENS: [Behaviour; 3] = [
        Behaviour::ForgeTokens,
        Behaviour::ReplayPrivileged,
        Behaviour::ExceedRights,
    ];

    /// The behaviours that only members can have (they need a seat in the electorate).
    pub const MEMBERS_ONLY: [Behaviour; 4] = [
        Behaviour::ExceedRights,
        Behaviour::EquivocateVotes,
        Behaviour::VoteYesAlways,
        Behaviour::SpamOpens,
    ];
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Criteria {
    /// p99 probe delivery latency over the whole run, at most.
    pub delivery_p99_ms_max: Option<u64>,
    /// p99 delivery latency of the probes published in quiet phases, at most: while no
    /// partition, no loss and no crashed node is in force (links still have their
    /// latency: the fault-free and delay-only phases).
    pub quiet_delivery_p99_ms_max: Option<u64>,
    /// Every honest node that is up at the end holds every certificate formed anywhere.
    #[serde(default)]
    pub no_loss: bool,
    /// Every certificate any honest node holds verifies under the committee's keys and
    /// names enough distinct signers; conflicting certificates are detected by every node
    /// holding both.
    #[serde(default)]
    pub safety: bool,
    /// When two certificates exist for one slot, every honest node up at the end has
    /// halted that slot (the conflict was detected everywhere).
    #[serde(default)]
    pub conflicts_halted: bool,
    /// Every proposal is certified on every up honest node within this long of being made
    /// (or of the last heal/restart before that, when later).
    pub certified_within_ms: Option<u64>,
}

/// Nodes, connections and events a scenario may ask for, at most: a scenario is input,
/// and the simulator must refuse one that would exhaust the machine.
pub const NODES_MAX: u32 = 20_000;
pub const CONNECTIONS_PER_NODE_MAX: u32 = 64;
pub const COMMITTEE_MAX: u32 = 1_024;
pub const DURATION_MS_MAX: u64 = 24 * 3_600_000;

/// A scenario the operator must fix: the field and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("scenario {source_name}: {field}: {message}")]
pub struct ScenarioError {
    pub source_name: String,
    pub field: String,
    pub message: String,
}

/// Committees above this cannot hold a local ballot (its electorate bound).
pub const BALLOT_COMMITTEE_MAX: u32 = x0_core::ballot::wire::ELECTORATE_MAX as u32;
/// Ballots a scenario may schedule, at most.
pub const BALLOTS_MAX: usize = 64;

impl Scenario {
    /// Whether the nodes host ballot books: the scenario has ballots or hub outages.
    pub fn has_ballots(&self) -> bool {
        !self.ballots.is_empty()
            || self
                .faults
                .iter()
                .any(|fault| matches!(fault, Fault::HubDown { .. }))
    }

    fn validate_ballots(&self, source_name: &str) -> Result<(), ScenarioError> {
        let err = |field: String, message: String| {
            Err(ScenarioError {
                source_name: source_name.to_string(),
                field,
                message,
            })
        };
        let m = self.committee.size;
        if self.has_ballots() && m > BALLOT_COMMITTEE_MAX {
            return err(
                "committee.size".into(),
                format!("a committee with ballots holds at most {BALLOT_COMMITTEE_MAX} members (the electorate bound)"),
            );
        }
        if self.ballots.len() > BALLOTS_MAX {
            return err("ballots".into(), format!("at most {BALLOTS_MAX} ballots"));
        }
        let settings = &self.ballot;
        if settings.hub_poll_interval_ms == 0 {
            return err(
                "ballot.hub_poll_interval_ms".into(),
                "must be above 0".into(),
            );
        }
        if settings.vote_delay_ms_min > settings.vote_delay_ms_max {
            return err(
                "ballot.vote_delay_ms_min".into(),
                "must not exceed vote_delay_ms_max".into(),
            );
        }
        for (index, ballot) in self.ballots.iter().enumerate() {
            let field = |name: &str| format!("ballots[{index}].{name}");
            if ballot.opener >= m {
                return err(
                    field("opener"),
                    format!("node {} is not a committee member (0..{m})", ballot.opener),
                );
            }
            let title = ballot.title.len();
            if title == 0 || title > x0_core::ballot::wire::TITLE_BYTES_MAX {
                return err(
                    field("title"),
                    format!(
                        "must be 1..={} bytes",
                        x0_core::ballot::wire::TITLE_BYTES_MAX
                    ),
                );
            }
            if let Err(error) = ballot.effect.parse::<x0_core::ballot::effect::Effect>() {
                return err(field("effect"), error.to_string());
            }
            let choice_ok = match ballot.honest_choice.strip_prefix("split:") {
                Some(fraction) => fraction
                    .parse::<f64>()
                    .is_ok_and(|f| (0.0..=1.0).contains(&f)),
                None => parse_choice(&ballot.honest_choice).is_some(),
            };
            if !choice_ok {
                return err(
                    field("honest_choice"),
                    "must be yes, no, abstain or split:F with F in 0.0..=1.0".into(),
                );
            }
            for (k, exception) in ballot.choices.iter().enumerate() {
                if parse_choice(&exception.choice).is_none() {
                    return err(
                        format!("ballots[{index}].choices[{k}].choice"),
                        "must be yes, no or abstain".into(),
                    );
                }
                let nodes = exception.nodes;
                if nodes.first > nodes.last || nodes.last >= m {
                    return err(
                        format!("ballots[{index}].choices[{k}].nodes"),
                        format!("must be committee nodes (0..{m}), first <= last"),
                    );
                }
            }
        }
        for (index, fault) in self.faults.iter().enumerate() {
            if let Fault::HubDown {
                at_ms,
                until_ms: Some(until_ms),
                ..
            } = fault
            {
                if until_ms <= at_ms {
                    return err(
                        format!("faults[{index}].until_ms"),
                        "must be after at_ms".into(),
                    );
                }
            }
        }
        Ok(())
    }

    pub fn from_file(path: &Path) -> Result<Scenario, ScenarioError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
            source_name: name.clone(),
            field: "(file)".into(),
            message: format!("cannot read: {e}"),
        })?;
        Scenario::from_toml(&text, &name)
    }

    pub fn from_toml(text: &str, source_name: &str) -> Result<Scenario, ScenarioError> {
        let deserializer = toml::Deserializer::new(text);
        let scenario: Scenario =
            serde_path_to_error::deserialize(deserializer).map_err(|e| ScenarioError {
                source_name: source_name.to_string(),
                field: e.path().to_string(),
                message: e.inner().message().trim().to_string(),
            })?;
        scenario.validate(source_name)?;
        Ok(scenario)
    }

    pub fn validate(&self, source_name: &str) -> Result<(), ScenarioError> {
        let err = |field: &str, message: String| {
            Err(ScenarioError {
                source_name: source_name.to_string(),
                field: field.to_string(),
                message,
            })
        };
        let n = self.topology.nodes;
        if !(2..=NODES_MAX).contains(&n) {
            return err("topology.nodes", format!("must be in 2..={NODES_MAX}"));
        }
        let c = self.topology.connections_per_node;
        if c == 0 || c > CONNECTIONS_PER_NODE_MAX || c >= n {
            return err(
                "topology.connections_per_node",
                format!(
                    "must be in 1..={} and below the node count",
                    CONNECTIONS_PER_NODE_MAX
                ),
            );
        }
        if self.topology.connections_max < c.saturating_mul(2) {
            return err(
                "topology.connections_max",
                format!("must be at least twice connections_per_node ({c}): nodes are dialled as often as they dial"),
            );
        }
        if self.duration_ms == 0 || self.duration_ms > DURATION_MS_MAX {
            return err("duration_ms", format!("must be in 1..={DURATION_MS_MAX}"));
        }
        let m = self.committee.size;
        if m == 0 || m > COMMITTEE_MAX || m > n {
            return err(
                "committee.size",
                format!("must be in 1..={COMMITTEE_MAX} and at most topology.nodes"),
            );
        }
        if self.traffic.probe_sources == Some(0) || self.traffic.probe_sources > Some(n) {
            return err(
                "traffic.probe_sources",
                format!("must be in 1..={n} (the node count), or left out for all nodes"),
            );
        }
        if !(0.0..=1.0).contains(&self.network.loss) {
            return err("network.loss", "must be a probability in 0.0..=1.0".into());
        }
        match self.network.latency {
            Latency::Uniform { min_ms, max_ms } if min_ms > max_ms => {
                return err("network.latency", "min_ms must not exceed max_ms".into())
            }
            Latency::LogNormal { sigma, .. } if !(0.0..=3.0).contains(&sigma) => {
                return err("network.latency.sigma", "must be in 0.0..=3.0".into())
            }
            _ => {}
        }
        for (index, proposal) in self.proposals.iter().enumerate() {
            if proposal.proposer >= m {
                return err(
                    &format!("proposals[{index}].proposer"),
                    format!(
                        "node {} is not a committee member (0..{m})",
                        proposal.proposer
                    ),
                );
            }
        }
        for (index, fault) in self.faults.iter().enumerate() {
            for range in fault.node_ranges() {
                if range.first > range.last || range.last >= n {
                    return err(
                        &format!("faults[{index}]"),
                        format!(
                            "node range {}..={} is outside 0..{n}",
                            range.first, range.last
                        ),
                    );
                }
            }
            if let Fault::Churn {
                at_ms,
                until_ms,
                interval_ms,
                ..
            } = fault
            {
                if *interval_ms == 0 || until_ms <= at_ms {
                    return err(
                        &format!("faults[{index}]"),
                        "churn needs interval_ms > 0 and until_ms after at_ms".into(),
                    );
                }
            }
            if let Fault::Loss { rate, .. } = fault {
                if !(0.0..=1.0).contains(rate) {
                    return err(
                        &format!("faults[{index}].rate"),
                        "must be in 0.0..=1.0".into(),
                    );
                }
            }
        }
        let t = (m - 1) / 3;
        let mut byzantine = std::collections::BTreeSet::new();
        for (index, group) in self.byzantine.iter().enumerate() {
            let members = group.members;
            if members.first > members.last || members.last >= n {
                return err(
                    &format!("byzantine[{index}].members"),
                    format!("must be nodes (0..{n}), first <= last"),
                );
            }
            byzantine.extend(members.iter());
        }
        for (index, group) in self.byzantine.iter().enumerate() {
            let eclipse = group.behaviours.contains(&Behaviour::Eclipse);
            match (eclipse, group.target) {
                (true, None) => {
                    return err(
                        &format!("byzantine[{index}].target"),
                        "an eclipse group needs the node it attacks: target = N".into(),
                    )
                }
                (false, Some(_)) => {
                    return err(
                        &format!("byzantine[{index}].target"),
                        "only an eclipse group has a target; add \"eclipse\" or remove it".into(),
                    )
                }
                (true, Some(target)) if target >= n || byzantine.contains(&target) => {
                    return err(
                        &format!("byzantine[{index}].target"),
                        format!("must be an honest node (0..{n}, in no byzantine group)"),
                    )
                }
                _ => {}
            }
        }
        for (index, group) in self.byzantine.iter().enumerate() {
            if group.behaviours.contains(&Behaviour::ExceedRights) && group.members.last >= m {
                return err(
                    &format!("byzantine[{index}].members"),
                    format!(
                        "exceed_rights is a committee member beyond its rights: members must be committee nodes (0..{m})"
                    ),
                );
            }
            let members_only = Behaviour::MEMBERS_ONLY
                .iter()
                .find(|b| group.behaviours.contains(b));
            if let (Some(behaviour), true) = (members_only, group.members.last >= m) {
                return err(
                    &format!("byzantine[{index}].members"),
                    format!(
                        "{behaviour:?} needs a seat in the electorate: members must be committee nodes (0..{m})"
                    ),
                );
            }
        }
        self.validate_ballots(source_name)?;
        let in_committee = byzantine.iter().filter(|node| **node < m).count() as u32;
        if in_committee > t {
            return err(
                "byzantine.members",
                format!(
                    "{in_committee} Byzantine committee members in all; must be at most t = {t} of the committee"
                ),
            );
        }
        if byzantine.len() as u32 > n / 3 {
            return err(
                "byzantine.members",
                format!(
                    "{} Byzantine nodes in all; must be at most a third of the {n} nodes",
                    byzantine.len()
                ),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use x0_core::ballot::rules::Choice;

    fn ballot(honest_choice: &str, choices: Vec<ChoiceOverride>) -> BallotSpec {
        BallotSpec {
            at_ms: 0,
            opener: 0,
            title: "t".into(),
            effect: "lift-halt".into(),
            duration_ms: 60_000,
            honest_choice: honest_choice.into(),
            choices,
            expect: BallotExpect::Any,
        }
    }

    #[test]
    fn split_gives_yes_to_the_first_honest_members_and_overrides_win() {
        let honest = [0, 1, 2, 4, 5, 6, 8];
        let split = ballot("split:0.5", Vec::new());
        // round(0.5 * 7) = 4: members 0, 1, 2 and 4 vote yes.
        let yes: Vec<u32> = honest
            .iter()
            .copied()
            .filter(|m| split.choice_of(*m, &honest) == Choice::Yes)
            .collect();
        assert_eq!(yes, vec![0, 1, 2, 4]);
        assert_eq!(split.choice_of(8, &honest), Choice::No);
        let overridden = ballot(
            "yes",
            vec![
                ChoiceOverride {
                    nodes: NodeRange { first: 4, last: 6 },
                    choice: "no".into(),
                },
                ChoiceOverride {
                    nodes: NodeRange { first: 6, last: 6 },
                    choice: "abstain".into(),
                },
            ],
        );
        assert_eq!(overridden.choice_of(0, &honest), Choice::Yes);
        assert_eq!(overridden.choice_of(5, &honest), Choice::No);
        assert_eq!(overridden.choice_of(6, &honest), Choice::Abstain);
    }
}
