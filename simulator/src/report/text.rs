//! The report for a person, as `x0 sim` prints it and `report.txt` holds it: what ran,
//! the key figures, where each certificate got to, the faults, the ballots, and each
//! criterion with ok or FAIL. Only what the [`Report`] holds goes in, never a wall-clock
//! figure, so the same scenario and seed print the same bytes.

use std::collections::BTreeMap;

use super::{nodes_text, CertificateFigures, Report};
use crate::scenario::Direction;

/// A figure the run may not have (no probe delivered, say) prints as `-`.
fn or_dash<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_string(), |v| v.to_string())
}

impl Report {
    /// The report for a person: what ran, the key figures, where each certificate got
    /// to, the faults, and each criterion with ok or FAIL. Deterministic (no wall-clock
    /// figures), so the same scenario and seed print the same text.
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let f = &self.figures;
        let _ = writeln!(
            out,
            "scenario {} seed {}: {} nodes ({} honest), committee {} (t = {}), {} ms simulated",
            self.scenario,
            self.seed,
            self.nodes,
            self.honest_nodes,
            self.committee_size,
            self.faulty_max,
            self.duration_ms
        );
        let _ = writeln!(
            out,
            "  probes        {} published, {} delivered; latency p50 {} ms, p99 {} ms, max {} ms",
            f.probes_published,
            f.probe_deliveries,
            or_dash(f.delivery_p50_ms),
            or_dash(f.delivery_p99_ms),
            or_dash(f.delivery_max_ms)
        );
        if f.quiet_probe_deliveries < f.probe_deliveries {
            let _ = writeln!(
                out,
                "  quiet phases  {} deliveries of probes published with no partition, loss or crash in force; p99 {} ms",
                f.quiet_probe_deliveries,
                or_dash(f.quiet_delivery_p99_ms)
            );
        }
        let _ = writeln!(
            out,
            "  gossip        {} messages sent, {} lost, {} duplicates; {} sends per first receipt",
            f.messages_sent,
            f.messages_lost,
            f.duplicates_received,
            f.sends_per_delivery
                .map_or_else(|| "-".to_string(), |v| format!("{v:.2}"))
        );
        let _ = writeln!(
            out,
            "  refused       {} shares, {} certificates; {} evidence records",
            f.shares_rejected, f.certificates_rejected, f.evidence_records
        );
        if f.eclipse_connections > 0 || f.eclipse_dials_refused > 0 {
            let _ = writeln!(
                out,
                "  eclipse       {} Sybil connections accepted, {} refused; {} Sybil GRAFTs taken into a mesh; targets received {} probes, p99 {} ms",
                f.eclipse_connections,
                f.eclipse_dials_refused,
                f.eclipse_grafts_accepted,
                f.eclipse_target_probe_deliveries,
                or_dash(f.eclipse_target_delivery_p99_ms)
            );
        }
        if f.auth_admitted > 0 || !f.auth_rejected.is_empty() {
            let _ = writeln!(
                out,
                "  auth          {} privileged messages admitted, refused: {}",
                f.auth_admitted,
                counts(&f.auth_rejected)
            );
        }
        if !f.revocations_refused.is_empty() {
            let _ = writeln!(
                out,
                "  revocations   lists honest nodes did not apply: {}",
                counts(&f.revocations_refused)
            );
        }
        if !f.auth_attacks_published.is_empty() {
            let sent: Vec<String> = f
                .auth_attacks_published
                .iter()
                .map(|(what, count)| format!("{count} {what}"))
                .collect();
            let _ = writeln!(out, "  token attacks {}", sent.join(", "));
        }
        let _ = writeln!(out, "  engine        {} events", f.events);
        if f.replays_published > 0 || f.flood_published > 0 {
            let _ = writeln!(
                out,
                "  byzantine     {} replays, {} flood messages ({} reached an honest node's validation)",
                f.replays_published, f.flood_published, f.flood_messages_validated
            );
        }
        if self.certificates.is_empty() {
            let _ = writeln!(out, "  certificates  none formed");
        }
        let mut certificates: Vec<&CertificateFigures> = self.certificates.iter().collect();
        // In the order they were proposed; those never proposed (forgeries) last.
        certificates.sort_by_key(|c| (c.proposed_at_ms.is_none(), c.proposed_at_ms));
        for certificate in certificates {
            let spread = self
                .certificate_spread
                .iter()
                .find(|s| s.id == certificate.id);
            let _ = writeln!(
                out,
                "  certificate   {}… {}: proposed at {} ms, formed at {} ms, on {}/{} honest up nodes, slowest {} ms",
                &certificate.id[..16.min(certificate.id.len())],
                spread.and_then(|s| s.slot.as_deref()).unwrap_or("?"),
                or_dash(certificate.proposed_at_ms),
                or_dash(spread.map(|s| s.formed_at_ms)),
                certificate.held_by,
                certificate.honest_up,
                or_dash(certificate.slowest_ms)
            );
        }
        for fault in &self.fault_timeline {
            let nodes: Vec<String> = fault
                .nodes
                .iter()
                .map(|r| {
                    if r.first == r.last {
                        r.first.to_string()
                    } else {
                        format!("{}-{}", r.first, r.last)
                    }
                })
                .collect();
            let mut line = format!(
                "  fault         {} at {} ms",
                fault.kind.as_str(),
                fault.at_ms
            );
            match fault.until_ms {
                Some(until) => {
                    let _ = write!(line, " until {until} ms");
                }
                None if fault.is_interval() => line.push_str(" to the end"),
                None => {}
            }
            if !nodes.is_empty() {
                let _ = write!(line, ", nodes {}", nodes.join(" | "));
            }
            if let Some(rate) = fault.rate {
                let _ = write!(line, ", rate {rate}");
            }
            if let Some(direction) = fault.direction {
                let _ = write!(
                    line,
                    ", {}",
                    match direction {
                        Direction::TwoWay => "two-way",
                        Direction::OneWay => "one-way",
                    }
                );
            }
            if let Some(skew) = fault.skew_ms {
                let _ = write!(line, ", skew {skew} ms");
            }
            let _ = writeln!(out, "{line}");
        }
        for ballot in &self.ballots {
            let id = ballot
                .id
                .as_deref()
                .map_or("-", |id| &id[..16.min(id.len())]);
            let which = ballot
                .index
                .map_or_else(|| "unscheduled".to_string(), |i| format!("ballots[{i}]"));
            match &ballot.refused {
                Some(refused) => {
                    let _ = writeln!(out, "  ballot        {which}: open refused: {refused}");
                }
                None => {
                    let _ = writeln!(
                        out,
                        "  ballot        {which} {id}…: honest nodes passed {}, rejected {}, no decision {}, undecided up {}; excluded everywhere: {}; expect {}",
                        ballot.passed,
                        ballot.rejected,
                        ballot.no_decision,
                        ballot.undecided_up,
                        if ballot.excluded_everywhere.is_empty() {
                            "none".to_string()
                        } else {
                            nodes_text(&ballot.excluded_everywhere)
                        },
                        ballot.expect.unwrap_or("-")
                    );
                }
            }
        }
        for list in &self.revocations {
            let revoked = nodes_text(&list.revoked);
            let _ = writeln!(
                out,
                "  revocation    list {} at {} ms by node {} revokes {revoked}: {}",
                list.sequence,
                list.at_ms,
                list.publisher,
                match (list.published, list.slowest_ms) {
                    (false, _) => "not published (its publisher was down)".to_string(),
                    (true, Some(ms)) => format!(
                        "in force on all {} honest up nodes, slowest {ms} ms",
                        list.honest_up
                    ),
                    (true, None) => format!(
                        "in force on {} of {} honest up nodes",
                        list.applied_by, list.honest_up
                    ),
                }
            );
        }
        if !self.figures.ballot_refused.is_empty() || !self.figures.ballot_attacks.is_empty() {
            let _ = writeln!(
                out,
                "  ballot msgs   honest books refused or ignored: {}; Byzantine voters sent: {}",
                counts(&self.figures.ballot_refused),
                counts(&self.figures.ballot_attacks)
            );
        }
        let _ = writeln!(
            out,
            "  bytes         per node per minute (estimated): {}",
            counts(&self.figures.bytes_per_node_per_minute)
        );
        if let Some(sync) = &self.figures.sync {
            let _ = writeln!(
                out,
                "  sync          {} frames, {} bytes sent; fetched: {}; penalties: {}; dropped: {}",
                sync.frames_sent,
                sync.bytes_sent,
                counts(&sync.delivered),
                counts(&sync.penalties),
                counts(&sync.dropped)
            );
        }
        for criterion in &self.criteria {
            let mark = if criterion.passed { "ok  " } else { "FAIL" };
            let _ = writeln!(out, "  {mark} {}: {}", criterion.name, criterion.detail);
        }
        let failed = self.failed_criteria();
        if failed.is_empty() {
            let _ = writeln!(out, "  passed: all {} criteria held", self.criteria.len());
        } else {
            let _ = writeln!(
                out,
                "  FAILED: {} of {} criteria ({})",
                failed.len(),
                self.criteria.len(),
                failed.join(", ")
            );
        }
        let _ = writeln!(out, "  trace sha256 {}", self.trace_sha256);
        out
    }
}

/// `count name` pairs joined by commas, or `none`.
fn counts<K: std::fmt::Display>(map: &BTreeMap<K, u64>) -> String {
    let parts: Vec<String> = map.iter().map(|(k, v)| format!("{v} {k}")).collect();
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}
