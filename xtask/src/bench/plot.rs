//! The pictures in BENCHMARKS.md, drawn with plotters' SVG backend (text stays `<text>`, so no
//! font files are needed): a bar chart of every workload's ratios (mpwasm / contender, on a
//! log scale around parity, the goal marked where it is such a ratio) and a line chart per
//! sweep (the cost per run as the work grows, mpwasm and each contender).

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use plotters::coord::Shift;
use plotters::prelude::*;

use super::report::Outcome;

/// Below parity: mpwasm is faster or smaller.
const FASTER: RGBColor = RGBColor(46, 139, 87);
/// Above parity: mpwasm is slower or larger.
const SLOWER: RGBColor = RGBColor(214, 120, 40);
/// The goal marks.
const GOAL: RGBColor = RGBColor(200, 30, 30);
/// Colours of the lines in a sweep chart, mpwasm first.
const LINES: [RGBColor; 5] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 120, 40),
    RGBColor(46, 139, 87),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// One bar: a workload's contender and the ratio mpwasm / it, with the goal when it is one.
struct Bar {
    label: String,
    ratio: f64,
    goal: Option<f64>,
}

/// Draws the ratio chart of `outcomes` into `path` (SVG).
///
/// # Errors
/// When the file cannot be written, or no workload has a ratio to draw.
pub fn ratios(outcomes: &[Outcome<'_>], path: &Path) -> Result<()> {
    let bars: Vec<Bar> = outcomes
        .iter()
        .flat_map(|outcome| {
            let ours = outcome.rows.first().map_or(f64::NAN, |row| row.median);
            let goal = outcome.workload.goal_line;
            outcome.rows.iter().skip(1).map(move |row| Bar {
                label: format!("{} {}", outcome.workload.id, row.label),
                ratio: ours / row.median,
                goal: goal
                    .filter(|(label, _)| *label == row.label)
                    .map(|(_, ratio)| ratio),
            })
        })
        .filter(|bar| bar.ratio.is_finite() && bar.ratio > 0.0)
        .collect();
    if bars.is_empty() {
        return Err(anyhow!("no workload has a ratio to draw"));
    }
    let (low, high) = bars
        .iter()
        .flat_map(|bar| std::iter::once(bar.ratio).chain(bar.goal))
        .fold((1.0f64, 1.0f64), |(lo, hi), r| (lo.min(r), hi.max(r)));
    let height = (110 + 24 * bars.len()).max(300) as u32;
    let root = SVGBackend::new(path, (1000, height)).into_drawing_area();
    draw_ratios(&root, &bars, low / 1.6, high * 1.6)
        .with_context(|| format!("cannot draw {}", path.display()))?;
    root.present()
        .map_err(|err| anyhow!("cannot write {}: {err}", path.display()))
}

fn draw_ratios(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    bars: &[Bar],
    low: f64,
    high: f64,
) -> Result<()> {
    let failed = |err: &dyn std::fmt::Display| anyhow!("{err}");
    root.fill(&WHITE).map_err(|e| failed(&e))?;
    let n = bars.len() as i32;
    // The first bar at the top: bar i sits in row n - 1 - i.
    let row = |i: usize| n - 1 - i as i32;
    let mut chart = ChartBuilder::on(root)
        .caption(
            "mpwasm / contender (log scale; left of 1: mpwasm faster or smaller; red: the goal)",
            ("sans-serif", 16),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(330)
        .build_cartesian_2d((low..high).log_scale(), (0..n - 1).into_segmented())
        .map_err(|e| failed(&e))?;
    let labels: Vec<String> = bars.iter().map(|bar| bar.label.clone()).collect();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(bars.len())
        .y_label_formatter(&|value| match value {
            SegmentValue::CenterOf(r) => usize::try_from(n - 1 - *r)
                .ok()
                .and_then(|i| labels.get(i))
                .cloned()
                .unwrap_or_default(),
            _ => String::new(),
        })
        .y_label_style(("sans-serif", 12))
        .x_desc("mpwasm / contender")
        .x_label_formatter(&|ratio| format!("{ratio}"))
        .draw()
        .map_err(|e| failed(&e))?;
    chart
        .draw_series(bars.iter().enumerate().map(|(i, bar)| {
            let colour = if bar.ratio <= 1.0 { FASTER } else { SLOWER };
            let mut rect = Rectangle::new(
                [
                    (1.0, SegmentValue::Exact(row(i))),
                    (bar.ratio, SegmentValue::Exact(row(i) + 1)),
                ],
                colour.mix(0.85).filled(),
            );
            rect.set_margin(3, 3, 0, 0);
            rect
        }))
        .map_err(|e| failed(&e))?;
    chart
        .draw_series(bars.iter().enumerate().filter_map(|(i, bar)| {
            bar.goal.map(|goal| {
                PathElement::new(
                    vec![
                        (goal, SegmentValue::Exact(row(i))),
                        (goal, SegmentValue::Exact(row(i) + 1)),
                    ],
                    GOAL.stroke_width(3),
                )
            })
        }))
        .map_err(|e| failed(&e))?;
    chart
        .draw_series(std::iter::once(PathElement::new(
            vec![(1.0, SegmentValue::Exact(0)), (1.0, SegmentValue::Exact(n))],
            BLACK.stroke_width(1),
        )))
        .map_err(|e| failed(&e))?;
    Ok(())
}

/// One line of a sweep chart: a contender's cost per run at each size.
pub struct Line {
    /// The contender.
    pub label: String,
    /// (size, figure) points, sizes ascending.
    pub points: Vec<(f64, f64)>,
}

/// Draws a sweep (`lines` over sizes, both axes logarithmic) into `path` (SVG).
///
/// # Errors
/// When the file cannot be written, or there is nothing to draw.
pub fn sweep(title: &str, x_desc: &str, y_desc: &str, lines: &[Line], path: &Path) -> Result<()> {
    let points = || lines.iter().flat_map(|line| line.points.iter().copied());
    let (x_lo, x_hi) = points().fold((f64::MAX, f64::MIN), |(lo, hi), (x, _)| {
        (lo.min(x), hi.max(x))
    });
    let (y_lo, y_hi) = points().fold((f64::MAX, f64::MIN), |(lo, hi), (_, y)| {
        (lo.min(y), hi.max(y))
    });
    if !(x_lo > 0.0 && y_lo > 0.0 && x_hi.is_finite() && y_hi.is_finite()) {
        return Err(anyhow!("{title}: no positive figures to draw"));
    }
    let root = SVGBackend::new(path, (800, 520)).into_drawing_area();
    let failed = |err: &dyn std::fmt::Display| anyhow!("cannot draw {}: {err}", path.display());
    root.fill(&WHITE).map_err(|e| failed(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(
            (x_lo / 1.3..x_hi * 1.3).log_scale(),
            (y_lo / 1.5..y_hi * 1.5).log_scale(),
        )
        .map_err(|e| failed(&e))?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(&|x| compact(*x))
        .y_label_formatter(&|y| compact(*y))
        .draw()
        .map_err(|e| failed(&e))?;
    for (line, colour) in lines.iter().zip(LINES.iter().cycle()) {
        chart
            .draw_series(LineSeries::new(
                line.points.iter().copied(),
                colour.stroke_width(2),
            ))
            .map_err(|e| failed(&e))?
            .label(line.label.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2))
            });
        chart
            .draw_series(
                line.points
                    .iter()
                    .map(|&point| Circle::new(point, 3, colour.filled())),
            )
            .map_err(|e| failed(&e))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(|e| failed(&e))?;
    root.present().map_err(|e| failed(&e))
}

/// A number for an axis: 1k, 2.5M, 0.01.
fn compact(x: f64) -> String {
    let magnitude = x.abs();
    if magnitude >= 1e6 {
        format!("{}M", trim(x / 1e6))
    } else if magnitude >= 1e3 {
        format!("{}k", trim(x / 1e3))
    } else {
        trim(x)
    }
}

/// At most three significant digits, no trailing zeros.
fn trim(x: f64) -> String {
    let text = if x.abs() >= 100.0 {
        format!("{x:.0}")
    } else if x.abs() >= 1.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.3}")
    };
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::compact;

    #[test]
    fn axis_numbers_are_short() {
        assert_eq!(compact(1000.0), "1k");
        assert_eq!(compact(2_500_000.0), "2.5M");
        assert_eq!(compact(0.0125), "0.013");
        assert_eq!(compact(150.0), "150");
    }
}
