//! Reading a scenario file and refusing what the simulator cannot or must not run: a
//! wrong or unknown field is refused with its name (the TOML path), and a value out of
//! range with the bound it breaks, so the operator knows what to fix (`x0 sim` exits 2).
//! A scenario is input: the bounds keep one from exhausting the machine.

use std::path::Path;

use x0_core::auth::token::REVOCATION_IDS_PER_LIST_MAX;

use super::{parse_choice, Behaviour, Fault, Latency, Scenario};

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
/// Revocation lists a scenario may publish, at most.
pub const REVOCATIONS_MAX: usize = 64;

impl Scenario {
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
        let defaults = x0_core::certify::collector::CollectorConfig::default();
        if !(1..=defaults.pending_max).contains(&self.committee.pending_max.unwrap_or(1)) {
            return err(
                "committee.pending_max",
                format!(
                    "must be in 1..={} (the node's range), or left out",
                    defaults.pending_max
                ),
            );
        }
        if !(1..=defaults.certified_max).contains(&self.committee.certified_max.unwrap_or(1)) {
            return err(
                "committee.certified_max",
                format!(
                    "must be in 1..={} (the node's range), or left out",
                    defaults.certified_max
                ),
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
        if self.revocations.len() > REVOCATIONS_MAX {
            return err(
                "revocations",
                format!("at most {REVOCATIONS_MAX} revocation lists"),
            );
        }
        for (index, revocation) in self.revocations.iter().enumerate() {
            if revocation.publisher >= n {
                return err(
                    &format!("revocations[{index}].publisher"),
                    format!("node {} is outside 0..{n}", revocation.publisher),
                );
            }
            let revoked = revocation.revoked;
            let count = u64::from(revoked.last.saturating_sub(revoked.first)) + 1;
            if revoked.first > revoked.last
                || revoked.last >= n
                || count > REVOCATION_IDS_PER_LIST_MAX as u64
            {
                return err(
                    &format!("revocations[{index}].revoked"),
                    format!(
                        "must be nodes (0..{n}), first <= last, at most {REVOCATION_IDS_PER_LIST_MAX} (one list's ids)"
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
        for (index, revocation) in self.revocations.iter().enumerate() {
            let forger = self.byzantine.iter().find(|group| {
                group.behaviours.contains(&Behaviour::ForgeTokens)
                    && revocation
                        .revoked
                        .iter()
                        .any(|node| group.members.contains(node))
            });
            if forger.is_some() {
                return err(
                    &format!("revocations[{index}].revoked"),
                    "names a forge_tokens node: its credential is its own, not the authority's, so no list of the authority can revoke it".into(),
                );
            }
        }
        self.validate_ballots(source_name)?;
        if let Err(message) = self.sync.core_config().check() {
            // The core names the node's field (`sync.<field> ...`): the scenario's is the same.
            return err("sync", message);
        }
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
}
