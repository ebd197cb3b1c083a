//! `compare.svg`: grouped bars, one group per TCP case, one bar per design.
//!
//! Drawn with plotters' SVG backend only: no fonts to load (text is left to
//! the SVG viewer), no system libraries, nothing to configure.

use super::error::CompareError;
use super::plan::Design;
use super::run::{CaseResult, DesignResult};
use crate::loadgen::Scenario;
use plotters::prelude::*;
use std::path::Path;

const DESIGNS: [Design; 3] = [Design::Reactor, Design::Threaded, Design::Tokio];

fn color(design: Design) -> RGBColor {
    match design {
        Design::Reactor => RGBColor(31, 119, 180),
        Design::Threaded => RGBColor(255, 127, 14),
        Design::Tokio => RGBColor(44, 160, 44),
    }
}

/// Writes the chart to `path`: rate on top, p99 latency below on a log scale
/// (it spans 100 µs at 10 connections to 300 ms at 10,000).
pub fn write(path: &Path, cases: &[CaseResult]) -> Result<(), CompareError> {
    // Hold has no meaningful rate: its figures are in the hold table.
    let cases: Vec<&CaseResult> = cases
        .iter()
        .filter(|c| c.case.scenario != Scenario::Hold)
        .collect();
    let width = 160 + 150 * cases.len().max(1) as u32;
    let root = SVGBackend::new(path, (width, 760)).into_drawing_area();
    let chart_err = |err: &dyn std::fmt::Display| CompareError::Chart(err.to_string());
    root.fill(&WHITE).map_err(|e| chart_err(&e))?;
    let (top, bottom) = root.split_vertically(380);
    panel(
        &top,
        &cases,
        "operations per second (higher is better)",
        Scale::Linear,
        |r| Some(r.median.report.rate),
    )
    .map_err(|e| chart_err(&e))?;
    panel(
        &bottom,
        &cases,
        "p99 latency, µs, log scale (lower is better)",
        Scale::Log10,
        |r| r.median.report.latency_us.map(|l| l.p99 as f64),
    )
    .map_err(|e| chart_err(&e))?;
    root.present().map_err(|e| chart_err(&e))?;
    Ok(())
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

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
    title: &str,
    scale: Scale,
    raw: impl Fn(&DesignResult) -> Option<f64>,
) -> Result<(), Box<dyn std::error::Error>> {
    let value = |r: &DesignResult| raw(r).map(|v| scale.height(v));
    let max = cases
        .iter()
        .flat_map(|c| c.designs.values())
        .filter_map(value)
        .fold(1.0_f64, f64::max);
    let names: Vec<String> = cases.iter().map(|c| c.case.name.clone()).collect();
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 18))
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
    for design in DESIGNS {
        let bars: Vec<Rectangle<(f64, f64)>> = cases
            .iter()
            .enumerate()
            .filter_map(|(i, case)| {
                let v = case.get(design).and_then(&value)?;
                let slot = DESIGNS.iter().position(|&d| d == design)? as f64;
                let left = i as f64 + 0.1 + slot * 0.27;
                Some(Rectangle::new(
                    [(left, 0.0), (left + 0.25, v)],
                    color(design).filled(),
                ))
            })
            .collect();
        if bars.is_empty() {
            continue;
        }
        chart
            .draw_series(bars)?
            .label(design.name())
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 5), (x + 10, y + 5)], color(design).filled())
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;
    Ok(())
}
