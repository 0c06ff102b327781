//! SVG plots of a run, drawn from its [`Report`] alone (so a `report.json` holds all a plot
//! needs): the probe delivery-latency CDF, how each certificate spread over the honest
//! nodes, and a time line of the faults with certificate formation marks.
//!
//! Drawn with plotters' SVG backend, which writes a text as a `<text>` element for the
//! viewer to render: with no font feature enabled plotters only estimates text extents
//! for its layout, so no font file is read and no system font library is needed. Axes,
//! grid and tick labels come from plotters; the marks it has no series for (quantile
//! labels, proposal marks, fault bars and triangles, formation diamonds, the legend and
//! the row labels) are placed in pixels from the chart's own mapping
//! ([`ChartContext::backend_coord`]), so they sit exactly where the axes say.
//!
//! Every input is the report and every position a pure function of it (plotters rounds
//! to whole pixels and iterates nothing unordered), so equal reports give byte-identical
//! files. Tick positions are ours, not plotters' automatic ones: round values (1, 2 or 5
//! times a power of ten) that read the same in every plot.
//!
//! [`ChartContext::backend_coord`]: plotters::chart::ChartContext

use std::fmt::Write;
use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::report::{FaultKind, Report};

/// Series colours (colour-blind-safe Okabe-Ito palette).
const PALETTE: [RGBColor; 8] = [
    RGBColor(0x00, 0x72, 0xb2),
    RGBColor(0xe6, 0x9f, 0x00),
    RGBColor(0x00, 0x9e, 0x73),
    RGBColor(0xcc, 0x79, 0xa7),
    RGBColor(0x56, 0xb4, 0xe9),
    RGBColor(0xd5, 0x5e, 0x00),
    RGBColor(0xf0, 0xe4, 0x42),
    RGBColor(0x00, 0x00, 0x00),
];
/// The latency curve's colour, and the quantile marks'.
const CDF_COLOUR: RGBColor = PALETTE[0];
const QUANTILE_COLOUR: RGBColor = PALETTE[5];
const GRID_COLOUR: RGBColor = RGBColor(0xe5, 0xe5, 0xe5);
/// Lines in a legend or rows in the time line, at most; the rest are counted, not drawn.
const LEGEND_MAX: usize = 12;
const TIMELINE_ROWS_MAX: usize = 40;
/// The latency CDF goes logarithmic when its largest latency is this many times the median.
const LOG_AXIS_TAIL_RATIO: f64 = 20.0;
/// Characters of a row label or legend entry, at most, so it fits its margin.
const ROW_LABEL_CHARS_MAX: usize = 36;
const LEGEND_CHARS_MAX: usize = 24;
/// Font sizes on the page, px.
const TEXT_PX: f64 = 12.0;
const TITLE_PX: f64 = 16.0;
/// plotters takes a font size this many times larger than the `font-size` its SVG
/// backend writes; sizes go in multiplied by it so the file says 12, not 12.0967...
const PLOTTERS_FONT_SCALE: f64 = 1.24;
/// Height of the band above a chart that holds its title and subtitle, px.
const HEADER_HEIGHT_PX: u32 = 55;
/// Width of the certificate plot's legend column, px.
const LEGEND_WIDTH_PX: u32 = 210;
/// Height of one time-line row, px.
const ROW_HEIGHT_PX: i32 = 22;
/// Left margin of the time line, which holds the row labels, px.
const ROW_LABELS_WIDTH_PX: u32 = 250;

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

/// How the latency axis maps values: linear from 0, or logarithmic from a power of ten.
/// A logarithmic axis is drawn as a linear one over log10 of the value, so both scales
/// share one chart type and one set of marks.
#[derive(Clone, Copy)]
enum XScale {
    Linear,
    Log { min: f64 },
}

impl XScale {
    /// Where `value` sits on the chart's (linear) x axis.
    fn axis(self, value: f64) -> f64 {
        match self {
            XScale::Linear => value,
            XScale::Log { min } => value.max(min).log10(),
        }
    }
}

fn text_style(px: f64) -> TextStyle<'static> {
    TextStyle::from(("sans-serif", px * PLOTTERS_FONT_SCALE).into_font())
}

/// `style` anchored at `h` horizontally and `v` vertically.
fn anchored(style: &TextStyle<'static>, h: HPos, v: VPos) -> TextStyle<'static> {
    style.pos(Pos::new(h, v))
}

fn subtitle(report: &Report) -> String {
    format!(
        "scenario {}, seed {}, {} nodes",
        report.scenario, report.seed, report.nodes
    )
}

/// The title (bold) and subtitle of a plot, centred on `centre_x`.
fn draw_header(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    centre_x: i32,
    title: &str,
    subtitle: &str,
) -> DrawResult {
    let title_style = TextStyle::from(
        ("sans-serif", TITLE_PX * PLOTTERS_FONT_SCALE)
            .into_font()
            .style(FontStyle::Bold),
    );
    root.draw(&Text::new(
        title.to_string(),
        (centre_x, 22),
        anchored(&title_style, HPos::Center, VPos::Bottom),
    ))?;
    label(root, subtitle, (centre_x, 40), HPos::Center, VPos::Bottom)
}

type DrawResult = Result<(), DrawingAreaErrorKind<std::io::Error>>;

/// Draws into a fresh SVG document of `size` and returns it.
fn svg(
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> DrawResult,
) -> String {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        // The plots have fixed sizes and finite data, and the backend writes to memory:
        // an error here is a bug in this file, not a condition of the run.
        root.fill(&WHITE)
            .and_then(|()| draw(&root))
            .and_then(|()| root.present())
            .unwrap_or_else(|error| panic!("drawing a plot failed: {error:?}"));
    }
    out
}

/// A linear axis whose grid lines and labels sit exactly at the given ticks. plotters'
/// own `with_key_points` would do, but its wrapper loses the label formatting the mesh
/// needs for `f64`.
struct Axis {
    linear: RangedCoordf64,
    ticks: Vec<f64>,
}

impl Ranged for Axis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.linear.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // Bold points only: a light grid between ticks would add nothing but ink.
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.linear.range()
    }
}

type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<Axis, Axis>>;

/// One axis of a chart: its range, its ticks (values on the axis), how a tick reads, and
/// its title (`None`: no axis drawn, as the time line's rows, which carry labels of
/// their own).
struct AxisSpec<'f> {
    range: Range<f64>,
    ticks: Vec<f64>,
    tick_label: &'f dyn Fn(&f64) -> String,
    title: Option<&'f str>,
}

/// The plot area of a chart in pixels of the whole image.
#[derive(Clone, Copy)]
struct PlotBox {
    left: i32,
    top: i32,
    right: i32,
    bottom: i32,
}

/// A chart on `area` (a part of `root`) whose axes carry exactly the ticks given, with
/// light grey grid lines at them and a frame around the plot area; `y_labels_px` is the
/// width left of the plot for the y axis.
fn chart<'a, 'b>(
    root: &DrawingArea<SVGBackend<'b>, Shift>,
    area: &'a DrawingArea<SVGBackend<'b>, Shift>,
    x: AxisSpec<'_>,
    y: AxisSpec<'_>,
    y_labels_px: u32,
) -> Result<(Chart<'a, 'b>, PlotBox), DrawingAreaErrorKind<std::io::Error>> {
    let (x_range, y_range) = (x.range.clone(), y.range.clone());
    let mut chart = ChartBuilder::on(area)
        .margin_left(10)
        .margin_right(25)
        .margin_bottom(10)
        .x_label_area_size(45)
        .y_label_area_size(y_labels_px)
        .build_cartesian_2d(
            Axis {
                linear: x.range.into(),
                ticks: x.ticks,
            },
            Axis {
                linear: y.range.into(),
                ticks: y.ticks,
            },
        )?;
    let mut mesh = chart.configure_mesh();
    mesh.bold_line_style(GRID_COLOUR)
        .light_line_style(TRANSPARENT)
        .label_style(text_style(TEXT_PX))
        .axis_desc_style(text_style(TEXT_PX))
        .x_label_formatter(x.tick_label)
        .y_label_formatter(y.tick_label);
    if let Some(title) = x.title {
        mesh.x_desc(title);
    }
    match y.title {
        Some(title) => {
            mesh.y_desc(title);
        }
        None => {
            mesh.disable_y_axis().disable_y_mesh();
        }
    }
    mesh.draw()?;
    let (left, top) = chart.backend_coord(&(x_range.start, y_range.end));
    let (right, bottom) = chart.backend_coord(&(x_range.end, y_range.start));
    root.draw(&Rectangle::new(
        [(left, top), (right, bottom)],
        BLACK.stroke_width(1),
    ))?;
    let plot = PlotBox {
        left,
        top,
        right,
        bottom,
    };
    Ok((chart, plot))
}

/// A vertical line at `x` over the plot, in dashes of `dash_px` with `gap_px` between:
/// plotters' backend has no dash style, so each dash is its own short line.
fn dashed_vertical(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    x: i32,
    plot: PlotBox,
    (dash_px, gap_px): (i32, i32),
    style: ShapeStyle,
) -> DrawResult {
    let mut y = plot.top;
    while y < plot.bottom {
        root.draw(&PathElement::new(
            vec![(x, y), (x, (y + dash_px).min(plot.bottom))],
            style,
        ))?;
        y += dash_px + gap_px;
    }
    Ok(())
}

/// Draws `text` at pixel `at`, anchored as given.
fn label(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    text: &str,
    at: (i32, i32),
    h: HPos,
    v: VPos,
) -> DrawResult {
    area.draw(&Text::new(
        text.to_string(),
        at,
        anchored(&text_style(TEXT_PX), h, v),
    ))?;
    Ok(())
}

/// The share of probe deliveries at or below each latency, with p50 and p99 marked.
pub fn latency_cdf_svg(report: &Report) -> String {
    let (width, height) = (800, 460);
    svg((width, height), |root| {
        draw_header(
            root,
            width as i32 / 2,
            "Probe delivery latency (CDF)",
            &subtitle(report),
        )?;
        let total = report.latency_cdf.last().map_or(0, |(_, count)| *count);
        let x_max = report
            .latency_cdf
            .last()
            .map_or(1.0, |(ms, _)| (*ms as f64).max(1.0));
        // A tail far beyond the median (deliveries repaired after a partition, say) would
        // squash the body of a linear plot into its first pixels: plot such runs on a log
        // axis.
        let median = report.figures.delivery_p50_ms.unwrap_or(0).max(1) as f64;
        let x_scale = if x_max > LOG_AXIS_TAIL_RATIO * median {
            let first = report.latency_cdf.first().map_or(1, |(ms, _)| *ms).max(1);
            XScale::Log {
                min: 10f64.powi((first as f64).log10().floor() as i32),
            }
        } else {
            XScale::Linear
        };
        let (x_ticks, x_step, x_title) = match x_scale {
            XScale::Linear => {
                let (values, step) = ticks(x_max, 8);
                (
                    values,
                    step,
                    "delivery latency, publish to validated receipt (ms)",
                )
            }
            // Log ticks are whole numbers of ms from 1 up.
            XScale::Log { min } => (
                log_ticks(min, x_max).into_iter().map(f64::log10).collect(),
                1.0,
                "delivery latency, publish to validated receipt (ms, logarithmic)",
            ),
        };
        let x_label = move |value: &f64| match x_scale {
            XScale::Linear => tick_label(*value, x_step),
            XScale::Log { .. } => tick_label(10f64.powf(*value).round(), 1.0),
        };
        let (y_ticks, y_step) = ticks(100.0, 5);
        let y_label = move |value: &f64| tick_label(*value, y_step);
        let (_, body) = root.split_vertically(HEADER_HEIGHT_PX);
        let x_range = x_scale.axis(match x_scale {
            XScale::Linear => 0.0,
            XScale::Log { min } => min,
        })..x_scale.axis(x_max);
        let (mut chart, plot) = chart(
            root,
            &body,
            AxisSpec {
                range: x_range,
                ticks: x_ticks,
                tick_label: &x_label,
                title: Some(x_title),
            },
            AxisSpec {
                range: 0.0..100.0,
                ticks: y_ticks,
                tick_label: &y_label,
                title: Some("deliveries at or below (%)"),
            },
            75,
        )?;
        let PlotBox {
            left,
            top,
            right,
            bottom,
        } = plot;
        if total == 0 {
            return label(
                root,
                "no probe was delivered",
                ((left + right) / 2, (top + bottom) / 2),
                HPos::Center,
                VPos::Center,
            );
        }
        // A step curve: the share stays flat until the next bucket with deliveries.
        let mut points = vec![(x_scale.axis(0.0), 0.0)];
        for (ms, count) in &report.latency_cdf {
            let x = x_scale.axis(*ms as f64);
            points.push((x, points.last().expect("starts non-empty").1));
            points.push((x, *count as f64 * 100.0 / total as f64));
        }
        chart.draw_series(LineSeries::new(points, CDF_COLOUR.stroke_width(2)))?;
        let f = &report.figures;
        for (name, value, y) in [
            ("p50", f.delivery_p50_ms, top + 14),
            ("p99", f.delivery_p99_ms, top + 30),
        ] {
            let Some(ms) = value else {
                continue;
            };
            let (x, _) = chart.backend_coord(&(x_scale.axis(ms as f64), 0.0));
            dashed_vertical(root, x, plot, (4, 3), QUANTILE_COLOUR.stroke_width(1))?;
            // Right of the line, unless that would run off the plot.
            let text = format!("{name} {ms} ms");
            if x > left + (right - left) * 4 / 5 {
                label(root, &text, (x - 4, y), HPos::Right, VPos::Center)?;
            } else {
                label(root, &text, (x + 4, y), HPos::Left, VPos::Center)?;
            }
        }
        Ok(())
    })
}

fn short_id(id: &str) -> &str {
    &id[..8.min(id.len())]
}

/// Honest nodes holding each certificate over the run's virtual time.
pub fn certificates_svg(report: &Report) -> String {
    let (width, height) = (900, 460);
    svg((width, height), |root| {
        let (chart_area, _) = root.split_horizontally(width - LEGEND_WIDTH_PX);
        draw_header(
            root,
            (width - LEGEND_WIDTH_PX) as i32 / 2,
            "Certificates held by honest nodes over time",
            &subtitle(report),
        )?;
        let (_, body) = chart_area.split_vertically(HEADER_HEIGHT_PX);
        let end_s = (report.duration_ms as f64 / 1000.0).max(0.001);
        let y_max = (report.honest_nodes as f64).max(1.0);
        let (x_ticks, x_step) = ticks(end_s, 8);
        let (y_ticks, y_step) = ticks(y_max, 5);
        let x_label = move |value: &f64| tick_label(*value, x_step);
        let y_label = move |value: &f64| tick_label(*value, y_step);
        let (mut chart, plot) = chart(
            root,
            &body,
            AxisSpec {
                range: 0.0..end_s,
                ticks: x_ticks,
                tick_label: &x_label,
                title: Some("virtual time (s)"),
            },
            AxisSpec {
                range: 0.0..y_max,
                ticks: y_ticks,
                tick_label: &y_label,
                title: Some("honest nodes holding it"),
            },
            75,
        )?;
        let PlotBox {
            left,
            top,
            right,
            bottom,
        } = plot;
        if report.certificate_spread.is_empty() {
            label(
                root,
                "no certificate formed",
                ((left + right) / 2, (top + bottom) / 2),
                HPos::Center,
                VPos::Center,
            )?;
        }
        let s = |ms: u64| ms as f64 / 1000.0;
        // The legend column starts a little past the plot's right edge.
        let legend_x = right + 15;
        for (index, spread) in report.certificate_spread.iter().enumerate() {
            let colour = PALETTE[index % PALETTE.len()];
            if let Some(proposed) = spread.proposed_at_ms {
                // A dotted line where the proposal was made.
                let (x, _) = chart.backend_coord(&(s(proposed), 0.0));
                dashed_vertical(root, x, plot, (2, 4), colour.stroke_width(1))?;
            }
            let start = spread.proposed_at_ms.unwrap_or(spread.formed_at_ms);
            let mut points = vec![(s(start), 0.0)];
            for (at, count) in &spread.holders {
                let x = s(*at);
                points.push((x, points.last().expect("starts non-empty").1));
                points.push((x, *count as f64));
            }
            let last_y = points.last().expect("starts non-empty").1;
            points.push((s(report.duration_ms), last_y));
            chart.draw_series(LineSeries::new(points, colour.stroke_width(2)))?;
            if index < LEGEND_MAX {
                let y = top + 10 + index as i32 * 18;
                root.draw(&PathElement::new(
                    vec![(legend_x, y), (legend_x + 18, y)],
                    colour.stroke_width(3),
                ))?;
                let text = format!(
                    "{}… {}",
                    short_id(&spread.id),
                    spread.slot.as_deref().unwrap_or("")
                );
                label(
                    root,
                    &clip(&text, LEGEND_CHARS_MAX),
                    (legend_x + 22, y),
                    HPos::Left,
                    VPos::Center,
                )?;
            }
        }
        let hidden = report.certificate_spread.len().saturating_sub(LEGEND_MAX);
        if hidden > 0 {
            let y = top + 10 + LEGEND_MAX as i32 * 18;
            label(
                root,
                &format!("+{hidden} more"),
                (legend_x, y),
                HPos::Left,
                VPos::Center,
            )?;
        }
        label(
            root,
            "dotted: proposal made",
            (legend_x, bottom - 4),
            HPos::Left,
            VPos::Bottom,
        )?;
        Ok(())
    })
}

fn fault_colour(kind: FaultKind) -> RGBColor {
    match kind {
        FaultKind::Partition => RGBColor(0xd5, 0x5e, 0x00),
        FaultKind::Crash => RGBColor(0x55, 0x55, 0x55),
        FaultKind::Churn => RGBColor(0x00, 0x72, 0xb2),
        FaultKind::Loss => RGBColor(0xe6, 0x9f, 0x00),
        FaultKind::ClockSkew => RGBColor(0xcc, 0x79, 0xa7),
        FaultKind::HubDown => RGBColor(0x56, 0xb4, 0xe9),
        FaultKind::Heal | FaultKind::Restart => RGBColor(0x00, 0x9e, 0x73),
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
    let rows = (faults.len() + certificates.len() + usize::from(hidden > 0)).max(1);
    let width = 900;
    let height = HEADER_HEIGHT_PX + rows as u32 * ROW_HEIGHT_PX as u32 + 78;
    svg((width, height), |root| {
        draw_header(
            root,
            width as i32 / 2,
            "Faults and certificates over time",
            &subtitle(report),
        )?;
        let (_, below_header) = root.split_vertically(HEADER_HEIGHT_PX);
        // The chart's plotting area is exactly the rows; the note sits below the axis.
        let (body, _) = below_header.split_vertically(rows as u32 * ROW_HEIGHT_PX as u32 + 55);
        let end_s = (report.duration_ms as f64 / 1000.0).max(0.001);
        let (x_ticks, x_step) = ticks(end_s, 8);
        let x_label = move |value: &f64| tick_label(*value, x_step);
        let no_label = |_: &f64| String::new();
        let (chart, plot) = chart(
            root,
            &body,
            AxisSpec {
                range: 0.0..end_s,
                ticks: x_ticks,
                tick_label: &x_label,
                title: Some("virtual time (s)"),
            },
            AxisSpec {
                range: 0.0..rows as f64,
                ticks: Vec::new(),
                tick_label: &no_label,
                title: None,
            },
            ROW_LABELS_WIDTH_PX,
        )?;
        let x_of = |ms: u64| chart.backend_coord(&(ms as f64 / 1000.0, 0.0)).0;
        let PlotBox { left, top, .. } = plot;
        let mut row = 0;
        let mut row_top = |text: &str| -> Result<i32, DrawingAreaErrorKind<std::io::Error>> {
            let y = top + row * ROW_HEIGHT_PX;
            label(
                root,
                &clip(text, ROW_LABEL_CHARS_MAX),
                (left - 8, y + ROW_HEIGHT_PX / 2),
                HPos::Right,
                VPos::Center,
            )?;
            row += 1;
            Ok(y)
        };
        if faults.is_empty() && certificates.is_empty() {
            row_top("no faults, no certificates")?;
        }
        for fault in faults {
            let ranges: Vec<String> = fault.nodes.iter().map(range_label).collect();
            let mut text = fault.kind.as_str().replace('_', " ");
            if !ranges.is_empty() {
                let _ = write!(text, " {}", ranges.join(" | "));
            }
            if let Some(rate) = fault.rate {
                let _ = write!(text, " ({:.0}%)", rate * 100.0);
            }
            if let Some(skew) = fault.skew_ms {
                let _ = write!(text, " ({skew:+} ms)");
            }
            let y = row_top(&text)?;
            let colour = fault_colour(fault.kind);
            let x = x_of(fault.at_ms);
            if fault.is_interval() {
                let until = fault.until_ms.unwrap_or(report.duration_ms);
                // At least a pixel wide, so a short episode still shows.
                let x_end = x_of(until).max(x + 1);
                root.draw(&Rectangle::new(
                    [(x, y + 4), (x_end, y + ROW_HEIGHT_PX - 4)],
                    colour.mix(0.75).filled(),
                ))?;
            } else {
                // An instant: a triangle pointing at its moment.
                root.draw(&Polygon::new(
                    vec![(x - 6, y + 4), (x + 6, y + 4), (x, y + ROW_HEIGHT_PX - 4)],
                    colour.filled(),
                ))?;
            }
        }
        for (index, spread) in certificates.into_iter().enumerate() {
            let text = format!(
                "certificate {}… {}",
                short_id(&spread.id),
                spread.slot.as_deref().unwrap_or("")
            );
            let y = row_top(text.trim_end())? + ROW_HEIGHT_PX / 2;
            let colour = PALETTE[index % PALETTE.len()];
            let start = spread.proposed_at_ms.unwrap_or(spread.formed_at_ms);
            let last = spread.holders.last().map_or(spread.formed_at_ms, |h| h.0);
            root.draw(&PathElement::new(
                vec![(x_of(start), y), (x_of(last), y)],
                colour.stroke_width(3),
            ))?;
            let x = x_of(spread.formed_at_ms);
            let diamond = vec![(x, y - 7), (x + 7, y), (x, y + 7), (x - 7, y)];
            root.draw(&Polygon::new(diamond.clone(), colour.filled()))?;
            let mut outline = diamond;
            outline.push((x, y - 7));
            root.draw(&PathElement::new(outline, BLACK.stroke_width(1)))?;
        }
        if hidden > 0 {
            row_top(&format!("+{hidden} more rows not drawn"))?;
        }
        label(
            root,
            "bars: faults in force; triangles: heals, restarts; diamonds: certificates formed, \
             each line from the proposal to the last honest holder",
            (10, height as i32 - 10),
            HPos::Left,
            VPos::Bottom,
        )?;
        Ok(())
    })
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

    /// SVG colours as plotters writes them: `#RRGGBB`, upper case.
    fn hex(colour: RGBColor) -> String {
        format!("#{:02X}{:02X}{:02X}", colour.0, colour.1, colour.2)
    }

    fn elements<'a>(
        document: &'a roxmltree::Document<'a>,
        tag: &str,
    ) -> Vec<roxmltree::Node<'a, 'a>> {
        document
            .descendants()
            .filter(|n| n.tag_name().name() == tag)
            .collect()
    }

    /// Elements of `tag` whose `attribute` is `value`.
    fn with<'a>(
        document: &'a roxmltree::Document<'a>,
        tag: &str,
        attribute: &str,
        value: &str,
    ) -> Vec<roxmltree::Node<'a, 'a>> {
        elements(document, tag)
            .into_iter()
            .filter(|n| n.attribute(attribute) == Some(value))
            .collect()
    }

    /// Every text the plot shows (plotters puts each on a line of its own).
    fn texts(document: &roxmltree::Document<'_>) -> Vec<String> {
        elements(document, "text")
            .iter()
            .filter_map(|n| n.text().map(|t| t.trim().to_string()))
            .collect()
    }

    fn number_of(node: &roxmltree::Node<'_, '_>, attribute: &str) -> i32 {
        node.attribute(attribute).unwrap().parse().unwrap()
    }

    /// The (x, y) pairs of a `points` attribute.
    fn points(node: &roxmltree::Node<'_, '_>) -> Vec<(i32, i32)> {
        node.attribute("points")
            .unwrap()
            .split_whitespace()
            .map(|pair| {
                let (x, y) = pair.split_once(',').unwrap();
                (x.parse().unwrap(), y.parse().unwrap())
            })
            .collect()
    }

    /// The plot area's frame: the one unfilled black rectangle.
    fn frame<'a>(document: &'a roxmltree::Document<'a>) -> roxmltree::Node<'a, 'a> {
        let frames: Vec<_> = with(document, "rect", "fill", "none")
            .into_iter()
            .filter(|n| n.attribute("stroke") == Some("#000000"))
            .collect();
        assert_eq!(frames.len(), 1);
        frames[0]
    }

    /// Polylines of a series: drawn 2 px wide in `colour`.
    fn series<'a>(
        document: &'a roxmltree::Document<'a>,
        colour: RGBColor,
    ) -> Vec<roxmltree::Node<'a, 'a>> {
        with(document, "polyline", "stroke", &hex(colour))
            .into_iter()
            .filter(|n| n.attribute("stroke-width") == Some("2"))
            .collect()
    }

    #[test]
    fn plots_are_well_formed_svg_with_the_runs_series() {
        let report = report();
        assert!(!report.latency_cdf.is_empty());
        assert_eq!(report.certificate_spread.len(), 2, "{report:#?}");

        let cdf_svg = latency_cdf_svg(&report);
        let cdf = parse(&cdf_svg);
        let cdf_texts = texts(&cdf);
        assert_eq!(cdf_texts[0], "Probe delivery latency (CDF)");
        assert!(cdf_texts.contains(&"scenario plot-test, seed 5, 24 nodes".to_string()));
        assert!(cdf_texts
            .iter()
            .any(|t| t.starts_with("delivery latency") && t.contains("(ms")));
        assert!(cdf_texts.contains(&"deliveries at or below (%)".to_string()));
        let tick_labels = cdf_texts
            .iter()
            .filter(|t| t.parse::<f64>().is_ok())
            .count();
        assert!(tick_labels >= 6, "tick labels on both axes: {cdf_texts:?}");
        let curve = series(&cdf, CDF_COLOUR);
        assert_eq!(curve.len(), 1);
        let curve = points(&curve[0]);
        // Two points per non-empty bucket after the origin; the curve only rises (SVG y
        // grows downwards) and ends at 100 %, the top of the frame.
        assert_eq!(curve.len(), 1 + 2 * report.latency_cdf.len());
        assert!(curve
            .windows(2)
            .all(|w| w[1].1 <= w[0].1 && w[1].0 >= w[0].0));
        assert_eq!(curve.last().unwrap().1, number_of(&frame(&cdf), "y"));
        let p50 = report.figures.delivery_p50_ms.unwrap();
        let p99 = report.figures.delivery_p99_ms.unwrap();
        assert!(
            cdf_texts.contains(&format!("p50 {p50} ms")),
            "{cdf_texts:?}"
        );
        assert!(
            cdf_texts.contains(&format!("p99 {p99} ms")),
            "{cdf_texts:?}"
        );
        assert!(!with(&cdf, "polyline", "stroke", &hex(QUANTILE_COLOUR)).is_empty());

        let certificates_svg = certificates_svg(&report);
        let certificates = parse(&certificates_svg);
        let certificate_texts = texts(&certificates);
        assert_eq!(
            certificate_texts[0],
            "Certificates held by honest nodes over time"
        );
        assert!(certificate_texts.contains(&"honest nodes holding it".to_string()));
        for (index, spread) in report.certificate_spread.iter().enumerate() {
            // One curve per certificate in its own colour: start, then two points per
            // holder point, then the flat line to the end.
            let colour = PALETTE[index];
            let curve = series(&certificates, colour);
            assert_eq!(curve.len(), 1, "certificate {index}");
            assert_eq!(points(&curve[0]).len(), 2 + 2 * spread.holders.len());
            // Its proposal marked by a dotted line in the same colour, and a legend entry.
            assert!(with(&certificates, "polyline", "stroke", &hex(colour))
                .iter()
                .any(|n| n.attribute("stroke-width") == Some("1")));
            let legend = format!("{}… {}", &spread.id[..8], spread.slot.as_deref().unwrap());
            let legend = clip(&legend, LEGEND_CHARS_MAX);
            assert!(certificate_texts.contains(&legend), "{certificate_texts:?}");
        }

        let timeline_svg = timeline_svg(&report);
        let timeline = parse(&timeline_svg);
        // Bars for intervals, one per fault; triangles for instants (heal and restart
        // share a colour); a diamond per certificate.
        for (kind, count) in [
            (FaultKind::Partition, 1),
            (FaultKind::Crash, 1),
            (FaultKind::Loss, 1),
            (FaultKind::ClockSkew, 1),
        ] {
            let bars = with(&timeline, "rect", "fill", &hex(fault_colour(kind)));
            assert_eq!(bars.len(), count, "{kind:?}");
        }
        let marks = with(
            &timeline,
            "polygon",
            "fill",
            &hex(fault_colour(FaultKind::Heal)),
        );
        assert_eq!(marks.len(), 2);
        // The partition bar ends where the heal (the earlier mark) points.
        let partition = &with(
            &timeline,
            "rect",
            "fill",
            &hex(fault_colour(FaultKind::Partition)),
        )[0];
        let bar_end = number_of(partition, "x") + number_of(partition, "width");
        assert_eq!(bar_end, points(&marks[0])[2].0);
        let diamonds: Vec<_> = elements(&timeline, "polygon")
            .into_iter()
            .filter(|n| points(n).len() == 4)
            .collect();
        assert_eq!(diamonds.len(), 2);
        assert_eq!(
            diamonds[1].attribute("fill"),
            Some(hex(PALETTE[1]).as_str())
        );
        let row_labels = with(&timeline, "text", "text-anchor", "end");
        assert_eq!(row_labels.len(), 6 + 2);
        let timeline_texts = texts(&timeline);
        assert!(timeline_texts.contains(&"partition 0-11 | 12-23".to_string()));
        assert!(timeline_texts.contains(&"loss 14-16 (30%)".to_string()));
        assert!(timeline_texts.contains(&"clock skew 3 (+40 ms)".to_string()));
    }

    #[test]
    fn a_report_draws_the_same_bytes_every_time() {
        let report = report();
        assert_eq!(latency_cdf_svg(&report), latency_cdf_svg(&report.clone()));
        assert_eq!(certificates_svg(&report), certificates_svg(&report.clone()));
        assert_eq!(timeline_svg(&report), timeline_svg(&report.clone()));
    }

    #[test]
    fn empty_runs_still_draw_valid_plots_and_text_is_escaped() {
        let mut report = report();
        report.latency_cdf.clear();
        report.certificate_spread.clear();
        report.fault_timeline.clear();
        report.scenario = "a <b> & \"c\"".into();
        for (svg, empty) in [
            (latency_cdf_svg(&report), "no probe was delivered"),
            (certificates_svg(&report), "no certificate formed"),
            (timeline_svg(&report), "no faults, no certificates"),
        ] {
            let document = parse(&svg);
            let shown = texts(&document);
            assert!(
                shown.iter().any(|t| t.contains("a <b> & \"c\"")),
                "{shown:?}"
            );
            assert!(shown.contains(&empty.to_string()), "{shown:?}");
        }
    }

    #[test]
    fn a_long_latency_tail_goes_logarithmic_and_long_labels_are_clipped() {
        let mut report = report();
        let total = report.latency_cdf.last().unwrap().1;
        report.latency_cdf.push((40_000, total + 1));
        let svg = latency_cdf_svg(&report);
        let document = parse(&svg);
        let shown = texts(&document);
        assert!(
            shown.iter().any(|t| t.ends_with("(ms, logarithmic)")),
            "{shown:?}"
        );
        for decade in ["1", "10", "100", "1000", "10000"] {
            assert!(shown.iter().any(|l| l == decade), "{decade} in {shown:?}");
        }
        // The curve still rises left to right.
        let curve = points(&series(&document, CDF_COLOUR)[0]);
        assert!(curve
            .windows(2)
            .all(|w| w[1].0 >= w[0].0 && w[1].1 <= w[0].1));

        report.certificate_spread[0].slot = Some("charter/".repeat(10));
        let timeline_svg = timeline_svg(&report);
        let timeline = parse(&timeline_svg);
        for label in with(&timeline, "text", "text-anchor", "end") {
            let label = label.text().unwrap().trim();
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
