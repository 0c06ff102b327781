//! SVG plots of a run, drawn from its [`Report`] alone (so a `report.json` holds all a plot
//! needs): the probe delivery-latency CDF, how each certificate spread over the honest
//! nodes, and a time line of the faults with certificate formation marks.
//!
//! Hand-written SVG: three chart shapes do not justify a plotting crate and its
//! dependencies, and the output stays small, deterministic and diffable. Every series
//! element carries a `class` naming what it shows, so tests (and anyone scripting over
//! the files) can find them.

use std::fmt::Write;

use crate::report::{FaultKind, Report};

/// Series colours (colour-blind-safe Okabe-Ito palette).
const PALETTE: [&str; 8] = [
    "#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000",
];
/// Lines in a legend or rows in the time line, at most; the rest are counted, not drawn.
const LEGEND_MAX: usize = 12;
const TIMELINE_ROWS_MAX: usize = 40;
/// The latency CDF goes logarithmic when its largest latency is this many times the median.
const LOG_AXIS_TAIL_RATIO: f64 = 20.0;
/// Characters of a row label or legend entry, at most, so it fits its margin.
const ROW_LABEL_CHARS_MAX: usize = 36;
const LEGEND_CHARS_MAX: usize = 28;

/// `text` cut to `chars_max` characters, the cut marked with an ellipsis.
fn clip(text: &str, chars_max: usize) -> String {
    if text.chars().count() <= chars_max {
        return text.to_string();
    }
    let kept: String = text.chars().take(chars_max.saturating_sub(1)).collect();
    format!("{kept}…")
}

/// A node range as a person writes it: `8` or `10-19`.
fn range_label(range: &crate::scenario::NodeRange) -> String {
    if range.first == range.last {
        range.first.to_string()
    } else {
        format!("{}-{}", range.first, range.last)
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(c),
        }
    }
    out
}

/// An SVG document being written; `finish` closes it.
struct Svg {
    out: String,
}

impl Svg {
    fn new(width: f64, height: f64, title: &str) -> Svg {
        let mut out = String::new();
        let _ = write!(
            out,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#
        );
        let _ = write!(out, "\n<title>{}</title>\n", escape(title));
        let _ = writeln!(
            out,
            r#"<rect x="0" y="0" width="{width}" height="{height}" fill="white"/>"#
        );
        let _ = writeln!(
            out,
            r#"<text class="title" x="{}" y="22" text-anchor="middle" font-size="15" font-weight="bold">{}</text>"#,
            width / 2.0,
            escape(title)
        );
        Svg { out }
    }

    fn raw(&mut self, element: std::fmt::Arguments<'_>) {
        let _ = self.out.write_fmt(element);
        self.out.push('\n');
    }

    fn text(&mut self, x: f64, y: f64, anchor: &str, class: &str, text: &str) {
        self.raw(format_args!(
            r#"<text class="{class}" x="{x:.1}" y="{y:.1}" text-anchor="{anchor}">{}</text>"#,
            escape(text)
        ));
    }

    fn line(&mut self, (x1, y1): (f64, f64), (x2, y2): (f64, f64), style: &str) {
        self.raw(format_args!(
            r#"<line x1="{x1:.1}" y1="{y1:.1}" x2="{x2:.1}" y2="{y2:.1}" {style}/>"#
        ));
    }

    fn finish(mut self) -> String {
        self.out.push_str("</svg>\n");
        self.out
    }
}

/// About `target` round tick values (1, 2 or 5 times a power of ten apart) covering
/// `0..=max`, and the step between them.
fn ticks(max: f64, target: usize) -> (Vec<f64>, f64) {
    let max = if max > 0.0 { max } else { 1.0 };
    let raw = max / target.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    // A hair of slack: 0.3 / 0.1 is 2.9999999999999996 in floating point.
    let count = (max / step + 1e-9).floor() as usize;
    ((0..=count).map(|i| i as f64 * step).collect(), step)
}

fn tick_label(value: f64, step: f64) -> String {
    if step >= 1.0 {
        format!("{value:.0}")
    } else {
        let decimals = (-step.log10().floor()) as usize;
        format!("{value:.decimals$}")
    }
}

/// 1, 2 and 5 times each power of ten in `min..=max` (`min` a power of ten): the ticks of
/// a logarithmic axis.
fn log_ticks(min: f64, max: f64) -> Vec<f64> {
    let mut out = Vec::new();
    let mut decade = min;
    while decade <= max * (1.0 + 1e-9) {
        for m in [1.0, 2.0, 5.0] {
            let value = decade * m;
            if value <= max * (1.0 + 1e-9) {
                out.push(value);
            }
        }
        decade *= 10.0;
    }
    out
}

/// How the x axis maps values: linear from 0, or logarithmic from a power of ten.
#[derive(Clone, Copy)]
enum XScale {
    Linear,
    Log { min: f64 },
}

/// A plot area in pixels and the data range it shows (the y axis starts at 0).
struct Axes {
    left: f64,
    top: f64,
    width: f64,
    height: f64,
    x_scale: XScale,
    x_max: f64,
    y_max: f64,
}

impl Axes {
    fn x(&self, value: f64) -> f64 {
        let share = match self.x_scale {
            XScale::Linear => value / self.x_max,
            XScale::Log { min } => (value.max(min) / min).ln() / (self.x_max / min).ln(),
        };
        self.left + self.width * share.clamp(0.0, 1.0)
    }
    fn y(&self, value: f64) -> f64 {
        self.top + self.height * (1.0 - (value / self.y_max).clamp(0.0, 1.0))
    }
    fn bottom(&self) -> f64 {
        self.top + self.height
    }

    /// Frame, grid, tick labels and axis titles.
    fn draw(&self, svg: &mut Svg, x_title: &str, y_title: Option<&str>) {
        let (x_ticks, x_step) = match self.x_scale {
            XScale::Linear => ticks(self.x_max, 8),
            // Log ticks are whole numbers of ms from 1 up.
            XScale::Log { min } => (log_ticks(min, self.x_max), 1.0),
        };
        for value in x_ticks {
            let x = self.x(value);
            svg.line((x, self.top), (x, self.bottom()), r##"stroke="#e5e5e5""##);
            svg.line(
                (x, self.bottom()),
                (x, self.bottom() + 5.0),
                r#"stroke="black""#,
            );
            svg.text(
                x,
                self.bottom() + 18.0,
                "middle",
                "tick x",
                &tick_label(value, x_step),
            );
        }
        svg.text(
            self.left + self.width / 2.0,
            self.bottom() + 38.0,
            "middle",
            "axis x",
            x_title,
        );
        if let Some(y_title) = y_title {
            let (y_ticks, y_step) = ticks(self.y_max, 5);
            for value in y_ticks {
                let y = self.y(value);
                svg.line(
                    (self.left, y),
                    (self.left + self.width, y),
                    r##"stroke="#e5e5e5""##,
                );
                svg.line((self.left - 5.0, y), (self.left, y), r#"stroke="black""#);
                svg.text(
                    self.left - 8.0,
                    y + 4.0,
                    "end",
                    "tick y",
                    &tick_label(value, y_step),
                );
            }
            let (x, y) = (self.left - 48.0, self.top + self.height / 2.0);
            svg.raw(format_args!(
                r#"<text class="axis y" x="{x:.1}" y="{y:.1}" text-anchor="middle" transform="rotate(-90 {x:.1} {y:.1})">{}</text>"#,
                escape(y_title)
            ));
        }
        svg.raw(format_args!(
            r#"<rect class="frame" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="none" stroke="black"/>"#,
            self.left, self.top, self.width, self.height
        ));
    }
}

fn points_attr(points: &[(f64, f64)]) -> String {
    let mut out = String::new();
    for (x, y) in points {
        let _ = write!(out, "{x:.1},{y:.1} ");
    }
    out.trim_end().to_string()
}

fn subtitle(report: &Report) -> String {
    format!(
        "scenario {}, seed {}, {} nodes",
        report.scenario, report.seed, report.nodes
    )
}

/// The share of probe deliveries at or below each latency, with p50 and p99 marked.
pub fn latency_cdf_svg(report: &Report) -> String {
    let (width, height) = (800.0, 460.0);
    let mut svg = Svg::new(width, height, "Probe delivery latency (CDF)");
    svg.text(width / 2.0, 40.0, "middle", "subtitle", &subtitle(report));
    let total = report.latency_cdf.last().map_or(0, |(_, count)| *count);
    let x_max = report
        .latency_cdf
        .last()
        .map_or(1.0, |(ms, _)| (*ms as f64).max(1.0));
    // A tail far beyond the median (deliveries repaired after a partition, say) would
    // squash the body of a linear plot into its first pixels: plot such runs on a log axis.
    let median = report.figures.delivery_p50_ms.unwrap_or(0).max(1) as f64;
    let x_scale = if x_max > LOG_AXIS_TAIL_RATIO * median {
        let first = report.latency_cdf.first().map_or(1, |(ms, _)| *ms).max(1);
        XScale::Log {
            min: 10f64.powi((first as f64).log10().floor() as i32),
        }
    } else {
        XScale::Linear
    };
    let axes = Axes {
        left: 75.0,
        top: 55.0,
        width: width - 75.0 - 25.0,
        height: height - 55.0 - 60.0,
        x_scale,
        x_max,
        y_max: 100.0,
    };
    axes.draw(
        &mut svg,
        match x_scale {
            XScale::Linear => "delivery latency, publish to validated receipt (ms)",
            XScale::Log { .. } => {
                "delivery latency, publish to validated receipt (ms, logarithmic)"
            }
        },
        Some("deliveries at or below (%)"),
    );
    if total == 0 {
        svg.text(
            axes.left + axes.width / 2.0,
            axes.top + axes.height / 2.0,
            "middle",
            "empty",
            "no probe was delivered",
        );
        return svg.finish();
    }
    // A step curve: the share stays flat until the next bucket with deliveries.
    let mut points = vec![(axes.x(0.0), axes.y(0.0))];
    for (ms, count) in &report.latency_cdf {
        let x = axes.x(*ms as f64);
        points.push((x, points.last().expect("starts non-empty").1));
        points.push((x, axes.y(*count as f64 * 100.0 / total as f64)));
    }
    svg.raw(format_args!(
        r##"<polyline class="cdf" points="{}" fill="none" stroke="#0072b2" stroke-width="2"/>"##,
        points_attr(&points)
    ));
    let f = &report.figures;
    for (name, value) in [("p50", f.delivery_p50_ms), ("p99", f.delivery_p99_ms)] {
        if let Some(ms) = value {
            let x = axes.x(ms as f64);
            svg.line(
                (x, axes.top),
                (x, axes.bottom()),
                &format!(r##"class="quantile {name}" stroke="#d55e00" stroke-dasharray="4 3""##),
            );
            let y = if name == "p50" {
                axes.top + 14.0
            } else {
                axes.top + 30.0
            };
            // Right of the line, unless that would run off the plot.
            let label = format!("{name} {ms} ms");
            if x > axes.left + axes.width * 0.8 {
                svg.text(x - 4.0, y, "end", "quantile-label", &label);
            } else {
                svg.text(x + 4.0, y, "start", "quantile-label", &label);
            }
        }
    }
    svg.finish()
}

fn short_id(id: &str) -> &str {
    &id[..8.min(id.len())]
}

/// Honest nodes holding each certificate over the run's virtual time.
pub fn certificates_svg(report: &Report) -> String {
    let (width, height) = (900.0, 460.0);
    let legend_width = 210.0;
    let mut svg = Svg::new(width, height, "Certificates held by honest nodes over time");
    svg.text(
        (width - legend_width) / 2.0,
        40.0,
        "middle",
        "subtitle",
        &subtitle(report),
    );
    let end_s = report.duration_ms as f64 / 1000.0;
    let axes = Axes {
        left: 75.0,
        top: 55.0,
        width: width - 75.0 - legend_width,
        height: height - 55.0 - 60.0,
        x_scale: XScale::Linear,
        x_max: end_s.max(0.001),
        y_max: (report.honest_nodes as f64).max(1.0),
    };
    axes.draw(
        &mut svg,
        "virtual time (s)",
        Some("honest nodes holding it"),
    );
    if report.certificate_spread.is_empty() {
        svg.text(
            axes.left + axes.width / 2.0,
            axes.top + axes.height / 2.0,
            "middle",
            "empty",
            "no certificate formed",
        );
    }
    let legend_x = axes.left + axes.width + 20.0;
    for (index, spread) in report.certificate_spread.iter().enumerate() {
        let colour = PALETTE[index % PALETTE.len()];
        let s = |ms: u64| axes.x(ms as f64 / 1000.0);
        if let Some(proposed) = spread.proposed_at_ms {
            let x = s(proposed);
            svg.line(
                (x, axes.top),
                (x, axes.bottom()),
                &format!(r#"class="proposed" stroke="{colour}" stroke-dasharray="2 4""#),
            );
        }
        let start = spread.proposed_at_ms.unwrap_or(spread.formed_at_ms);
        let mut points = vec![(s(start), axes.y(0.0))];
        for (at, count) in &spread.holders {
            let x = s(*at);
            points.push((x, points.last().expect("starts non-empty").1));
            points.push((x, axes.y(*count as f64)));
        }
        let last_y = points.last().expect("starts non-empty").1;
        points.push((s(report.duration_ms), last_y));
        svg.raw(format_args!(
            r#"<polyline class="spread" data-id="{}" points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
            escape(&spread.id),
            points_attr(&points)
        ));
        if index < LEGEND_MAX {
            let y = axes.top + 10.0 + index as f64 * 18.0;
            svg.line(
                (legend_x, y),
                (legend_x + 18.0, y),
                &format!(r#"stroke="{colour}" stroke-width="3""#),
            );
            let label = format!(
                "{}… {}",
                short_id(&spread.id),
                spread.slot.as_deref().unwrap_or("")
            );
            svg.text(
                legend_x + 24.0,
                y + 4.0,
                "start",
                "legend",
                &clip(&label, LEGEND_CHARS_MAX),
            );
        }
    }
    let hidden = report.certificate_spread.len().saturating_sub(LEGEND_MAX);
    if hidden > 0 {
        let y = axes.top + 10.0 + LEGEND_MAX as f64 * 18.0;
        svg.text(
            legend_x,
            y + 4.0,
            "start",
            "legend",
            &format!("+{hidden} more"),
        );
    }
    svg.text(
        legend_x,
        axes.bottom() - 4.0,
        "start",
        "note",
        "dotted: proposal made",
    );
    svg.finish()
}

fn fault_colour(kind: FaultKind) -> &'static str {
    match kind {
        FaultKind::Partition => "#d55e00",
        FaultKind::Crash => "#555555",
        FaultKind::Churn => "#0072b2",
        FaultKind::Loss => "#e69f00",
        FaultKind::ClockSkew => "#cc79a7",
        FaultKind::HubDown => "#56b4e9",
        FaultKind::Heal | FaultKind::Restart => "#009e73",
    }
}

/// Faults as bars (partitions, crashes, loss, clock skew) or marks (heals, restarts) over
/// the run, and below them each certificate from proposal to its last honest holder, with
/// a diamond where it formed.
pub fn timeline_svg(report: &Report) -> String {
    let faults: Vec<_> = report
        .fault_timeline
        .iter()
        .take(TIMELINE_ROWS_MAX)
        .collect();
    let certificates: Vec<_> = report
        .certificate_spread
        .iter()
        .take(TIMELINE_ROWS_MAX)
        .collect();
    let hidden = report.fault_timeline.len() - faults.len() + report.certificate_spread.len()
        - certificates.len();
    let row_height = 22.0;
    let rows = (faults.len() + certificates.len() + usize::from(hidden > 0)).max(1);
    let width = 900.0;
    let top = 55.0;
    let height = top + rows as f64 * row_height + 78.0;
    let mut svg = Svg::new(width, height, "Faults and certificates over time");
    svg.text(width / 2.0, 40.0, "middle", "subtitle", &subtitle(report));
    let end_s = report.duration_ms as f64 / 1000.0;
    let axes = Axes {
        left: 250.0,
        top,
        width: width - 250.0 - 25.0,
        height: rows as f64 * row_height,
        x_scale: XScale::Linear,
        x_max: end_s.max(0.001),
        y_max: 1.0,
    };
    axes.draw(&mut svg, "virtual time (s)", None);
    let s = |ms: u64| axes.x(ms as f64 / 1000.0);
    let mut row = 0;
    let mut row_y = |svg: &mut Svg, label: &str| {
        let y = axes.top + row as f64 * row_height;
        svg.text(
            axes.left - 8.0,
            y + 15.0,
            "end",
            "row-label",
            &clip(label, ROW_LABEL_CHARS_MAX),
        );
        row += 1;
        y
    };
    if faults.is_empty() && certificates.is_empty() {
        row_y(&mut svg, "no faults, no certificates");
    }
    for fault in faults {
        let ranges: Vec<String> = fault.nodes.iter().map(range_label).collect();
        let mut label = fault.kind.as_str().replace('_', " ");
        if !ranges.is_empty() {
            let _ = write!(label, " {}", ranges.join(" | "));
        }
        if let Some(rate) = fault.rate {
            let _ = write!(label, " ({:.0}%)", rate * 100.0);
        }
        if let Some(skew) = fault.skew_ms {
            let _ = write!(label, " ({skew:+} ms)");
        }
        let y = row_y(&mut svg, &label);
        let colour = fault_colour(fault.kind);
        let class = format!("fault {}", fault.kind.as_str());
        let x = s(fault.at_ms);
        if fault.is_interval() {
            let until = fault.until_ms.unwrap_or(report.duration_ms);
            let bar_width = (s(until) - x).max(1.0);
            svg.raw(format_args!(
                r#"<rect class="{class}" x="{x:.1}" y="{:.1}" width="{bar_width:.1}" height="{:.1}" fill="{colour}" fill-opacity="0.75"><title>{} {} ms to {} ms</title></rect>"#,
                y + 4.0,
                row_height - 8.0,
                escape(&label),
                fault.at_ms,
                until
            ));
        } else {
            // An instant: a triangle pointing at its moment.
            svg.raw(format_args!(
                r#"<path class="{class}" d="M {:.1} {:.1} L {:.1} {:.1} L {x:.1} {:.1} Z" fill="{colour}"><title>{} at {} ms</title></path>"#,
                x - 6.0,
                y + 4.0,
                x + 6.0,
                y + 4.0,
                y + row_height - 4.0,
                escape(&label),
                fault.at_ms
            ));
        }
    }
    for (index, spread) in certificates.into_iter().enumerate() {
        let label = format!(
            "certificate {}… {}",
            short_id(&spread.id),
            spread.slot.as_deref().unwrap_or("")
        );
        let y = row_y(&mut svg, label.trim_end()) + row_height / 2.0;
        let colour = PALETTE[index % PALETTE.len()];
        let start = spread.proposed_at_ms.unwrap_or(spread.formed_at_ms);
        let last = spread.holders.last().map_or(spread.formed_at_ms, |h| h.0);
        svg.line(
            (s(start), y),
            (s(last), y),
            &format!(r#"class="certificate-span" stroke="{colour}" stroke-width="3""#),
        );
        let x = s(spread.formed_at_ms);
        svg.raw(format_args!(
            r#"<path class="formed" data-id="{}" d="M {x:.1} {:.1} L {:.1} {y:.1} L {x:.1} {:.1} L {:.1} {y:.1} Z" fill="{colour}" stroke="black" stroke-width="0.5"><title>formed at {} ms; last honest holder at {} ms</title></path>"#,
            escape(&spread.id),
            y - 7.0,
            x + 7.0,
            y + 7.0,
            x - 7.0,
            spread.formed_at_ms,
            last
        ));
    }
    if hidden > 0 {
        row_y(&mut svg, &format!("+{hidden} more rows not drawn"));
    }
    svg.text(
        10.0,
        height - 10.0,
        "start",
        "note",
        "bars: faults in force; triangles: heals, restarts; diamonds: certificates formed, \
         each line from the proposal to the last honest holder",
    );
    svg.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Scenario, World};

    /// A small run with every kind of fault and two proposals, one made mid-partition.
    fn report() -> Report {
        let text = r#"
name = "plot-test"
description = "small, with every fault kind"
seed = 5
duration_ms = 20000
[topology]
nodes = 24
connections_per_node = 5
[network]
latency = { kind = "uniform", min_ms = 5, max_ms = 30 }
[committee]
size = 7
[traffic]
probe_interval_ms = 1000
[[proposals]]
at_ms = 2000
proposer = 0
slot = "gossip/mesh_n"
payload = "8"
[[proposals]]
at_ms = 7000
proposer = 1
slot = "gossip/mesh_n_low"
payload = "5"
[[faults]]
kind = "partition"
at_ms = 5000
groups = [{ first = 0, last = 11 }, { first = 12, last = 23 }]
direction = "two_way"
[[faults]]
kind = "heal"
at_ms = 9000
[[faults]]
kind = "crash"
at_ms = 3000
nodes = { first = 20, last = 21 }
[[faults]]
kind = "restart"
at_ms = 12000
nodes = { first = 20, last = 21 }
[[faults]]
kind = "loss"
at_ms = 1000
until_ms = 4000
nodes = { first = 14, last = 16 }
rate = 0.3
direction = "one_way"
[[faults]]
kind = "clock_skew"
at_ms = 0
nodes = { first = 3, last = 3 }
skew_ms = 40
[criteria]
no_loss = true
"#;
        let scenario = Scenario::from_toml(text, "inline").unwrap();
        World::new(scenario, 5).run()
    }

    fn parse(svg: &str) -> roxmltree::Document<'_> {
        let document = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("{e}\n{svg}"));
        let root = document.root_element();
        assert_eq!(root.tag_name().name(), "svg");
        assert_eq!(
            root.tag_name().namespace(),
            Some("http://www.w3.org/2000/svg")
        );
        assert!(root.attribute("viewBox").is_some());
        document
    }

    fn with_class<'a>(
        document: &'a roxmltree::Document<'a>,
        class: &'a str,
    ) -> Vec<roxmltree::Node<'a, 'a>> {
        document
            .descendants()
            .filter(|n| {
                n.attribute("class")
                    .is_some_and(|c| c.split(' ').any(|part| part == class))
            })
            .collect()
    }

    fn texts(document: &roxmltree::Document<'_>, class: &str) -> Vec<String> {
        with_class(document, class)
            .iter()
            .filter_map(|n| n.text().map(str::to_string))
            .collect()
    }

    /// Every number in a `points` attribute, as (x, y) pairs.
    fn points(node: &roxmltree::Node<'_, '_>) -> Vec<(f64, f64)> {
        node.attribute("points")
            .unwrap()
            .split(' ')
            .map(|pair| {
                let (x, y) = pair.split_once(',').unwrap();
                (x.parse().unwrap(), y.parse().unwrap())
            })
            .collect()
    }

    #[test]
    fn plots_are_well_formed_svg_with_the_runs_series() {
        let report = report();
        assert!(!report.latency_cdf.is_empty());
        assert_eq!(report.certificate_spread.len(), 2, "{report:#?}");

        let cdf_svg = latency_cdf_svg(&report);
        let cdf = parse(&cdf_svg);
        assert_eq!(
            texts(&cdf, "title"),
            vec!["Probe delivery latency (CDF)".to_string()]
        );
        assert!(texts(&cdf, "axis")[0].contains("(ms"));
        assert!(texts(&cdf, "tick").len() >= 6, "tick labels on both axes");
        let curve = with_class(&cdf, "cdf");
        assert_eq!(curve.len(), 1);
        let curve = points(&curve[0]);
        // Two points per non-empty bucket after the origin; the curve only rises (SVG y
        // grows downwards) and ends at 100 %, the top of the frame.
        assert_eq!(curve.len(), 1 + 2 * report.latency_cdf.len());
        assert!(curve
            .windows(2)
            .all(|w| w[1].1 <= w[0].1 && w[1].0 >= w[0].0));
        assert!((curve.last().unwrap().1 - 55.0).abs() < 0.01);
        let p99 = report.figures.delivery_p99_ms.unwrap();
        assert!(texts(&cdf, "quantile-label").contains(&format!("p99 {p99} ms")));

        let certificates_svg = certificates_svg(&report);
        let certificates = parse(&certificates_svg);
        let spreads = with_class(&certificates, "spread");
        assert_eq!(spreads.len(), 2);
        for (node, spread) in spreads.iter().zip(&report.certificate_spread) {
            assert_eq!(node.attribute("data-id"), Some(spread.id.as_str()));
            // Start, then two points per holder point, then the flat line to the end.
            assert_eq!(points(node).len(), 2 + 2 * spread.holders.len());
        }
        assert_eq!(with_class(&certificates, "proposed").len(), 2);
        assert_eq!(texts(&certificates, "legend").len(), 2);
        assert!(texts(&certificates, "axis")
            .iter()
            .any(|t| t == "honest nodes holding it"));

        let timeline_svg = timeline_svg(&report);
        let timeline = parse(&timeline_svg);
        for (kind, count) in [
            ("partition", 1),
            ("heal", 1),
            ("crash", 1),
            ("restart", 1),
            ("loss", 1),
            ("clock_skew", 1),
        ] {
            assert_eq!(with_class(&timeline, kind).len(), count, "{kind}");
        }
        // Bars for intervals, marks for instants; the partition bar ends at the heal.
        assert_eq!(
            with_class(&timeline, "partition")[0].tag_name().name(),
            "rect"
        );
        assert_eq!(with_class(&timeline, "heal")[0].tag_name().name(), "path");
        let partition = &with_class(&timeline, "partition")[0];
        let heal_x: f64 = {
            // 9 s of 20 s over the 625 px plot area starting at 250 px.
            250.0 + 625.0 * 9.0 / 20.0
        };
        let x: f64 = partition.attribute("x").unwrap().parse().unwrap();
        let bar_width: f64 = partition.attribute("width").unwrap().parse().unwrap();
        assert!((x + bar_width - heal_x).abs() < 0.2, "{x} + {bar_width}");
        let formed = with_class(&timeline, "formed");
        assert_eq!(formed.len(), 2);
        assert_eq!(
            formed[1].attribute("data-id"),
            Some(report.certificate_spread[1].id.as_str())
        );
        assert_eq!(texts(&timeline, "row-label").len(), 6 + 2);
    }

    #[test]
    fn empty_runs_still_draw_valid_plots_and_text_is_escaped() {
        let mut report = report();
        report.latency_cdf.clear();
        report.certificate_spread.clear();
        report.fault_timeline.clear();
        report.scenario = "a <b> & \"c\"".into();
        for svg in [
            latency_cdf_svg(&report),
            certificates_svg(&report),
            timeline_svg(&report),
        ] {
            let document = parse(&svg);
            assert!(texts(&document, "subtitle")[0].contains("a <b> & \"c\""));
            assert!(
                !with_class(&document, "empty").is_empty()
                    || !texts(&document, "row-label").is_empty()
            );
        }
    }

    #[test]
    fn a_long_latency_tail_goes_logarithmic_and_long_labels_are_clipped() {
        let mut report = report();
        let total = report.latency_cdf.last().unwrap().1;
        report.latency_cdf.push((40_000, total + 1));
        let svg = latency_cdf_svg(&report);
        let document = parse(&svg);
        assert!(texts(&document, "axis")[0].ends_with("(ms, logarithmic)"));
        let labels = texts(&document, "tick");
        for decade in ["1", "10", "100", "1000", "10000"] {
            assert!(labels.iter().any(|l| l == decade), "{decade} in {labels:?}");
        }
        // The curve still rises left to right.
        let curve = points(&with_class(&document, "cdf")[0]);
        assert!(curve
            .windows(2)
            .all(|w| w[1].0 >= w[0].0 && w[1].1 <= w[0].1));

        report.certificate_spread[0].slot = Some("charter/".repeat(10));
        let timeline_svg = timeline_svg(&report);
        let timeline = parse(&timeline_svg);
        for label in texts(&timeline, "row-label") {
            assert!(label.chars().count() <= ROW_LABEL_CHARS_MAX, "{label}");
        }
        assert_eq!(
            range_label(&crate::scenario::NodeRange { first: 8, last: 8 }),
            "8"
        );
    }

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(log_ticks(1.0, 60.0), vec![1.0, 2.0, 5.0, 10.0, 20.0, 50.0]);
        assert_eq!(
            ticks(100.0, 5),
            (vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0], 20.0)
        );
        let (values, step) = ticks(0.3, 5);
        assert_eq!(values.len(), 4);
        assert!((step - 0.1).abs() < 1e-12);
        assert_eq!(tick_label(values[2], step), "0.2");
        assert_eq!(ticks(0.0, 5).0.last(), Some(&1.0));
        assert_eq!(tick_label(35_000.0, 5_000.0), "35000");
    }
}
