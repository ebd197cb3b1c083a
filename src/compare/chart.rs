//! `compare.svg`: grouped bars, one group per case, one bar per design, with error bars.
//!
//! Three panels: rate, p99 latency and server memory per connection held
//! (the reactor's biggest difference). Each bar is the median of the rounds
//! and its error bar spans the lowest to the highest round. The legend has a
//! strip of its own above the panels, so it never covers a bar.
//!
//! Drawn with plotters' SVG backend only: no fonts to load (text is left to
//! the SVG viewer), no system libraries, nothing to configure. The output is
//! plain SVG 1.1 (rectangles, lines, text), which rsvg-convert, ImageMagick
//! and browsers all render alike.

use super::error::CompareError;
use super::plan::Design;
use super::run::{CaseResult, DesignResult};
use super::spread::Stat;
use crate::loadgen::Scenario;
use plotters::prelude::*;
use std::path::Path;

const DESIGNS: [Design; 4] = [
    Design::Reactor,
    Design::Threaded,
    Design::Tokio,
    Design::Baseline,
];
/// Height of each panel, and of the legend strip above them.
const PANEL: u32 = 360;
const LEGEND: u32 = 40;

fn color(design: Design) -> RGBColor {
    match design {
        Design::Reactor => RGBColor(31, 119, 180),
        Design::Threaded => RGBColor(255, 127, 14),
        Design::Tokio => RGBColor(44, 160, 44),
        Design::Baseline => RGBColor(127, 127, 127),
    }
}

/// One panel: what it shows and how.
struct Panel {
    title: &'static str,
    scale: Scale,
    get: fn(&DesignResult) -> Option<Stat>,
    /// Whether hold cases belong in it.
    hold: bool,
}

const PANELS: [Panel; 3] = [
    Panel {
        title: "operations per second (higher is better)",
        scale: Scale::Linear,
        get: |r| r.rate,
        hold: false,
    },
    Panel {
        title: "p99 latency, µs, log scale (lower is better)",
        scale: Scale::Log10,
        get: |r| r.p99_us,
        hold: false,
    },
    Panel {
        title: "server RSS growth per connection held, bytes, log scale (lower is better)",
        scale: Scale::Log10,
        get: |r| r.rss_per_conn,
        hold: true,
    },
];

/// Writes the chart to `path`: the legend, then one panel per figure.
pub fn write(path: &Path, cases: &[CaseResult]) -> Result<(), CompareError> {
    let chart_err = |err: &dyn std::fmt::Display| CompareError::Chart(err.to_string());
    // Wide enough for every case's group, and for the legend's swatches and note.
    let designs = DESIGNS
        .iter()
        .filter(|&&d| cases.iter().any(|c| c.get(d).is_some()))
        .count() as u32;
    let width = (160 + 150 * cases.len().max(1) as u32).max(90 + 130 * designs + 460);
    let height = LEGEND + PANEL * PANELS.len() as u32;
    let root = SVGBackend::new(path, (width, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| chart_err(&e))?;
    let (legend_area, mut rest) = root.split_vertically(LEGEND);
    legend(&legend_area, cases).map_err(|e| chart_err(&e))?;
    for spec in &PANELS {
        let (area, below) = rest.split_vertically(PANEL);
        rest = below;
        let shown: Vec<&CaseResult> = cases
            .iter()
            .filter(|c| spec.hold || c.case.scenario != Scenario::Hold)
            .filter(|c| c.get(Design::Reactor).and_then(spec.get).is_some())
            .collect();
        panel(&area, &shown, spec).map_err(|e| chart_err(&e))?;
    }
    root.present().map_err(|e| chart_err(&e))?;
    Ok(())
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

/// A swatch and a name per design that ran, in a row of their own.
fn legend(area: &Area<'_>, cases: &[CaseResult]) -> Result<(), Box<dyn std::error::Error>> {
    let mut x = 90;
    for design in DESIGNS {
        if !cases.iter().any(|c| c.get(design).is_some()) {
            continue;
        }
        area.draw(&Rectangle::new(
            [(x, 14), (x + 14, 28)],
            color(design).filled(),
        ))?;
        area.draw(&Text::new(design.name(), (x + 20, 14), ("sans-serif", 16)))?;
        x += 130;
    }
    area.draw(&Text::new(
        "bars: median of the rounds; whiskers: lowest to highest round",
        (x + 20, 14),
        ("sans-serif", 14),
    ))?;
    Ok(())
}

/// How a panel's values map to bar heights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scale {
    Linear,
    /// Bars are log10 of the value (at least 1), labelled with the value at each power of ten.
    Log10,
}

impl Scale {
    fn height(self, value: f64) -> f64 {
        match self {
            Scale::Linear => value,
            Scale::Log10 => value.max(1.0).log10(),
        }
    }

    fn label(self, y: f64) -> String {
        match self {
            Scale::Linear => format!("{y:.0}"),
            Scale::Log10 if (y - y.round()).abs() < 1e-9 => format!("{:.0}", 10f64.powf(y)),
            Scale::Log10 => String::new(),
        }
    }
}

fn panel(
    area: &Area<'_>,
    cases: &[&CaseResult],
    spec: &Panel,
) -> Result<(), Box<dyn std::error::Error>> {
    let scale = spec.scale;
    let max = cases
        .iter()
        .flat_map(|c| c.designs.values())
        .filter_map(spec.get)
        .map(|s| scale.height(s.max))
        .fold(1.0_f64, f64::max);
    let names: Vec<String> = cases.iter().map(|c| c.case.name.clone()).collect();
    let mut chart = ChartBuilder::on(area)
        .caption(spec.title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..cases.len().max(1) as f64, 0.0..max * 1.1)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(cases.len().max(1) * 2 + 1)
        .x_label_formatter(&|x| {
            // Labels sit at the middle of each group (x = i + 0.5).
            let i = x.floor() as usize;
            if (x - i as f64 - 0.5).abs() < 1e-6 {
                names.get(i).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_labels(match scale {
            Scale::Linear => 10,
            Scale::Log10 => (max * 1.1).ceil() as usize + 1,
        })
        .y_label_formatter(&|y| scale.label(*y))
        .draw()?;
    // A slot per design that ran, sharing 0.8 of each group's width.
    let present: Vec<Design> = DESIGNS
        .into_iter()
        .filter(|&d| cases.iter().any(|c| c.get(d).is_some()))
        .collect();
    let step = 0.8 / present.len().max(3) as f64;
    let width = step * 0.92;
    for (slot, design) in present.into_iter().enumerate() {
        for (i, case) in cases.iter().enumerate() {
            let Some(stat) = case.get(design).and_then(spec.get) else {
                continue;
            };
            let left = i as f64 + 0.1 + slot as f64 * step;
            let mid = left + width / 2.0;
            let (low, high) = (scale.height(stat.min), scale.height(stat.max));
            chart.draw_series([Rectangle::new(
                [(left, 0.0), (left + width, scale.height(stat.median))],
                color(design).filled(),
            )])?;
            chart.draw_series([
                PathElement::new([(mid, low), (mid, high)], BLACK.stroke_width(1)),
                PathElement::new(
                    [(mid - 0.05, low), (mid + 0.05, low)],
                    BLACK.stroke_width(1),
                ),
                PathElement::new(
                    [(mid - 0.05, high), (mid + 0.05, high)],
                    BLACK.stroke_width(1),
                ),
            ])?;
        }
    }
    Ok(())
}
