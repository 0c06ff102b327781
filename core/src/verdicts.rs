//! Every refusal reason of every gossip topic, with the verdict gossipsub is told: the
//! source of the table in docs/PROTOCOL.md ("Gossip verdicts: REJECT and IGNORE"), which a
//! test below holds to it row by row, both ways.
//!
//! The rule ([`crate::ids::Verdict`]): REJECT only what is invalid in itself, the same
//! for every honest node; IGNORE what depends on the receiver's clock, on the order
//! messages reached it, or on what it holds. Each core decides it in one `match` on its
//! refusal type (`invalid_in_itself`); this module only gathers them by layer.

use crate::auth::gate::Refusal as GateRefusal;
use crate::auth::revocations::ListRefusal;
use crate::ballot::refusal::InboundRefusal as BallotRefusal;
use crate::ids::Verdict;
use crate::probe::Refusal as ProbeRefusal;

/// Refusals of the shells (network, auth, ballot and certify actors), on any topic. None
/// of them is the message's fault: each is an Ignore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShellRefusal {
    /// No actor owns the topic on this node.
    NoOwner,
    /// The network actor's mailbox is full (the swarm task does not wait for room).
    MailboxFull,
    /// The owner's validation queue (`gossip.validations_inflight_max`) is full.
    InflightFull,
    /// The owning actor stopped before it answered (shutdown).
    OwnerGone,
    /// An admitted message's owner (behind the auth gate) stopped before it answered.
    OwnerStopped,
    /// A held share's verdict never came back (the certify actor restarted its wait).
    VerdictLost,
    /// An actor was handed a topic it does not own.
    NotMyTopic,
    /// The store refused the write that must come before the message is acted on.
    JournalFailed,
}

impl ShellRefusal {
    pub const ALL: [ShellRefusal; 8] = [
        ShellRefusal::NoOwner,
        ShellRefusal::MailboxFull,
        ShellRefusal::InflightFull,
        ShellRefusal::OwnerGone,
        ShellRefusal::OwnerStopped,
        ShellRefusal::VerdictLost,
        ShellRefusal::NotMyTopic,
        ShellRefusal::JournalFailed,
    ];

    pub fn reason(self) -> &'static str {
        match self {
            ShellRefusal::NoOwner => "no_owner",
            ShellRefusal::MailboxFull => "mailbox_full",
            ShellRefusal::InflightFull => "inflight_full",
            ShellRefusal::OwnerGone => "owner_gone",
            ShellRefusal::OwnerStopped => "owner_stopped",
            ShellRefusal::VerdictLost => "verdict_lost",
            ShellRefusal::NotMyTopic => "not_my_topic",
            ShellRefusal::JournalFailed => "journal_failed",
        }
    }

    /// This node's load, lifecycle or disk: never the sender's fault.
    pub fn invalid_in_itself(self) -> bool {
        match self {
            ShellRefusal::NoOwner
            | ShellRefusal::MailboxFull
            | ShellRefusal::InflightFull
            | ShellRefusal::OwnerGone
            | ShellRefusal::OwnerStopped
            | ShellRefusal::VerdictLost
            | ShellRefusal::NotMyTopic
            | ShellRefusal::JournalFailed => false,
        }
    }

    pub fn verdict(self) -> Verdict {
        Verdict::refused(self.reason(), self.invalid_in_itself())
    }

    /// A moment's load or a restart, gone by the next try.
    pub fn passes(self) -> bool {
        match self {
            ShellRefusal::MailboxFull
            | ShellRefusal::InflightFull
            | ShellRefusal::OwnerGone
            | ShellRefusal::OwnerStopped
            | ShellRefusal::VerdictLost
            | ShellRefusal::JournalFailed => true,
            ShellRefusal::NoOwner | ShellRefusal::NotMyTopic => false,
        }
    }
}

/// Ignore reasons that say "not yet" rather than "not here": the message waits on another
/// (a vote that reached this node before its ballot's open) or on a moment's load. Sync
/// asks again for such an item at its next round instead of setting it aside for
/// `sync.refused_ttl_ms`: items fetched together reach the cores in no particular order.
pub fn not_yet(reason: &str) -> bool {
    reason == BallotRefusal::UnknownBallot.reason()
        || ShellRefusal::ALL
            .iter()
            .any(|refusal| refusal.passes() && refusal.reason() == reason)
}

/// Where a refusal is decided: the first column of the table in docs/PROTOCOL.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Layer {
    /// `/x0/1/probe`, the probe core.
    Probe,
    /// The envelope of `/x0/1/proposals`, `/x0/1/shares` and `/x0/1/ballots`: the auth gate.
    Envelope,
    /// `/x0/1/ballots` after the gate: the ballot core.
    Ballots,
    /// `/x0/1/revocations`: the auth actor's list handling.
    Revocations,
    /// Any topic: the shells.
    Shell,
}

impl Layer {
    pub const ALL: [Layer; 5] = [
        Layer::Probe,
        Layer::Envelope,
        Layer::Ballots,
        Layer::Revocations,
        Layer::Shell,
    ];

    /// The name in the table's first column.
    pub fn name(self) -> &'static str {
        match self {
            Layer::Probe => "probe",
            Layer::Envelope => "envelope",
            Layer::Ballots => "ballots",
            Layer::Revocations => "revocations",
            Layer::Shell => "any",
        }
    }
}

/// Every (layer, reason, verdict), one row per reason, in the cores' own order. Reasons the
/// layers share a label for (two skew directions map to distinct labels) appear once.
pub fn rows() -> Vec<(Layer, Verdict)> {
    let mut rows: Vec<(Layer, Verdict)> = Vec::new();
    let mut push = |layer: Layer, verdict: Verdict| {
        if !rows.contains(&(layer, verdict)) {
            rows.push((layer, verdict));
        }
    };
    for refusal in ProbeRefusal::ALL {
        push(Layer::Probe, refusal.verdict());
    }
    for refusal in GateRefusal::all() {
        push(Layer::Envelope, refusal.verdict());
    }
    for refusal in BallotRefusal::all() {
        push(Layer::Ballots, refusal.verdict());
    }
    for refusal in ListRefusal::all() {
        push(Layer::Revocations, refusal.verdict());
    }
    for refusal in ShellRefusal::ALL {
        push(Layer::Shell, refusal.verdict());
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn only_waiting_and_load_refusals_are_not_yet() {
        for reason in [
            "unknown_ballot",
            "inflight_full",
            "mailbox_full",
            "journal_failed",
        ] {
            assert!(not_yet(reason), "{reason}");
        }
        for reason in [
            "replay",
            "duplicate",
            "closed",
            "no_owner",
            "timestamp_stale",
        ] {
            assert!(!not_yet(reason), "{reason}");
        }
    }

    const PROTOCOL: &str = include_str!("../../docs/PROTOCOL.md");
    const SECTION: &str = "## Gossip verdicts: REJECT and IGNORE";

    /// (layer, reason) -> "REJECT" | "IGNORE", from the section's table.
    fn documented() -> BTreeMap<(String, String), String> {
        let start = PROTOCOL
            .find(SECTION)
            .unwrap_or_else(|| panic!("docs/PROTOCOL.md has no section {SECTION:?}"));
        let section = &PROTOCOL[start + SECTION.len()..];
        let section = &section[..section.find("\n## ").unwrap_or(section.len())];
        let mut table = BTreeMap::new();
        for line in section.lines().filter(|l| l.starts_with("| ")) {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            // "", layer, reason, verdict, why, ""
            if cells.len() < 5 || !cells[2].starts_with('`') {
                continue;
            }
            let key = (cells[1].to_string(), cells[2].trim_matches('`').to_string());
            let previous = table.insert(key.clone(), cells[3].to_string());
            assert!(previous.is_none(), "{key:?} is in the table twice");
        }
        table
    }

    fn expected(verdict: Verdict) -> &'static str {
        match verdict {
            Verdict::Reject { .. } => "REJECT",
            Verdict::Ignore { .. } => "IGNORE",
            Verdict::Accept => unreachable!("a refusal is never Accept"),
        }
    }

    #[test]
    fn every_refusal_has_its_row_in_the_protocol_table_and_every_row_a_refusal() {
        let mut documented = documented();
        for (layer, verdict) in rows() {
            let reason = verdict.reason().expect("a refusal has a reason");
            let key = (layer.name().to_string(), reason.to_string());
            let Some(row) = documented.remove(&key) else {
                panic!("docs/PROTOCOL.md ({SECTION}) lacks the row {key:?}, verdict {verdict:?}")
            };
            assert_eq!(
                row,
                expected(verdict),
                "{key:?}: docs say {row}, code says {verdict:?}"
            );
        }
        // Rows the cores above do not produce: only the certify core's, which has no
        // refusal type yet (its reasons are inline in certify/node.rs and collector.rs).
        documented.retain(|(layer, _), _| layer != "certify");
        assert!(
            documented.is_empty(),
            "rows in docs/PROTOCOL.md that no refusal produces: {documented:?}"
        );
    }

    /// The verdict of every reason, walked: the rule's cases spelled out once more, so a
    /// change of any verdict is a visible change of this test too.
    #[test]
    fn only_what_is_invalid_in_itself_is_rejected() {
        let ignored: Vec<(&str, &str)> = rows()
            .into_iter()
            .filter_map(|(layer, verdict)| match verdict {
                Verdict::Ignore { reason } => Some((layer.name(), reason)),
                _ => None,
            })
            .collect();
        let expected_ignored = [
            ("probe", "timestamp_future"),
            ("probe", "timestamp_stale"),
            ("envelope", "revoked"),
            ("envelope", "token_expired"),
            ("envelope", "access_too_long"),
            ("envelope", "token_timeout"),
            ("envelope", "timestamp_future"),
            ("envelope", "timestamp_stale"),
            ("envelope", "replay"),
            ("envelope", "replay_guard_full"),
            ("envelope", "holder_nonces_full"),
            ("ballots", "timestamp_stale"),
            ("ballots", "timestamp_future"),
            ("ballots", "rate_limited"),
            ("ballots", "ballots_full"),
            ("ballots", "opener_full"),
            ("ballots", "duration_without_halt"),
            ("ballots", "duplicate"),
            ("ballots", "unknown_ballot"),
            ("ballots", "closed"),
            ("ballots", "excluded"),
            ("ballots", "stale_sequence"),
            ("ballots", "equivocation"),
            ("ballots", "duration_not_allowed"),
            ("ballots", "attestations_not_fresh"),
            ("revocations", "revocations_known"),
            ("revocations", "revocations_full"),
        ];
        let mut got = ignored.clone();
        got.retain(|(layer, _)| *layer != "any");
        let mut want = expected_ignored.to_vec();
        got.sort();
        want.sort();
        assert_eq!(got, want);
        for refusal in ShellRefusal::ALL {
            assert!(matches!(refusal.verdict(), Verdict::Ignore { .. }));
        }
        // The reasons the issue names as Rejects today that must not be.
        for (layer, reason) in [
            ("probe", "timestamp_stale"),
            ("probe", "timestamp_future"),
            ("envelope", "replay"),
            ("envelope", "timestamp_stale"),
            ("envelope", "timestamp_future"),
            ("envelope", "replay_guard_full"),
            ("ballots", "rate_limited"),
            ("ballots", "timestamp_stale"),
        ] {
            assert!(ignored.contains(&(layer, reason)), "{layer}/{reason}");
        }
    }
}
