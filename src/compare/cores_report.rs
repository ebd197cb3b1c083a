//! The core-scaling run's outputs: `cores.md` (two small tables per
//! connection count) and `cores.svg` (rate against cores, a line per design).

use super::cores::{Cell, Scaling, ScalingCase, CLIENT_BOUND_SHARE};
use super::error::CompareError;
use super::plan::Design;
use plotters::prelude::*;
use std::fmt::Write as _;
use std::path::Path;
use std::path::PathBuf;

/// Writes `cores.md`, `cores.json` and `cores.svg` into `dir`, creating it.
pub fn write_outputs(dir: &Path, scaling: &Scaling, markdown: &str) -> Result<(), CompareError> {
    let output = |path: PathBuf| move |err| CompareError::Output(path, err);
    std::fs::create_dir_all(dir).map_err(output(dir.to_path_buf()))?;
    let md = dir.join("cores.md");
    std::fs::write(&md, markdown).map_err(output(md.clone()))?;
    let json = dir.join("cores.json");
    // Numbers, strings, vectors and maps with string or integer keys: cannot fail.
    let text = serde_json::to_string_pretty(scaling).expect("a Scaling always serializes");
    std::fs::write(&json, text + "\n").map_err(output(json.clone()))?;
    write_chart(&dir.join("cores.svg"), &scaling.cases)
}

const DESIGNS: [Design; 3] = [Design::Reactor, Design::Threaded, Design::Tokio];

/// `1,234,567`.
fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `130,000 (125,000-133,000)`, with a dagger when the load generator was the bottleneck.
fn rate_cell(cell: Option<&Cell>) -> String {
    let Some(cell) = cell else {
        return "-".into();
    };
    let (min, max) = cell.spread();
    let mut text = thousands(cell.median);
    if cell.rates.len() > 1 {
        let _ = write!(text, " ({}-{})", thousands(min), thousands(max));
    }
    if cell.client_bound() {
        text.push_str(" †");
    }
    text
}

fn ratio(a: Option<&Cell>, b: Option<&Cell>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b.median > 0.0 => format!("{:.2}x", a.median / b.median),
        _ => "-".into(),
    }
}

/// The markdown report.
pub fn markdown(scaling: &Scaling) -> String {
    let m = &scaling.machine;
    let mut out = String::from("# Core scaling: echo 64 B, every design on the same cores\n\n");
    let _ = writeln!(
        out,
        "Machine: {} cores, {}, Linux {}. {}. Load generator: {} event loops. \
         {} rounds of {:.1} s per cell (10,000 connections: at least 5 s); a cell is the median \
         round, (min-max) over the rounds.\n\nCommand: `{}`\n",
        m.cores,
        m.cpu,
        m.kernel,
        scaling.plan.note,
        scaling.plan.client_threads,
        scaling.rounds,
        scaling.duration_secs,
        scaling.command
    );
    for case in &scaling.cases {
        case_tables(&mut out, case);
    }
    let _ = writeln!(
        out,
        "Reactor scaling: its rate on N cores over N times its rate on 1 core (the target is 80% or more). \
         † the load generator used over {:.0}% of its cores in a round: that rate is a floor, not the server's capacity.",
        CLIENT_BOUND_SHARE * 100.0
    );
    out
}

fn case_tables(out: &mut String, case: &ScalingCase) {
    let one_core = case
        .rows
        .values()
        .next()
        .and_then(|row| row.get("reactor"))
        .map(|cell| cell.median);
    let _ = writeln!(out, "## {}\n", case.name);
    out.push_str(
        "| server cores | reactor ops/s | threaded ops/s | tokio ops/s | reactor / threaded | reactor / tokio | reactor scaling |\n\
         |---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (&cores, row) in &case.rows {
        let reactor = row.get("reactor");
        let scaling = match (reactor, one_core) {
            (Some(cell), Some(one)) if one > 0.0 => {
                format!("{:.0}%", cell.median / (one * cores as f64) * 100.0)
            }
            _ => "-".into(),
        };
        let _ = writeln!(
            out,
            "| {cores} | {} | {} | {} | {} | {} | {scaling} |",
            rate_cell(reactor),
            rate_cell(row.get("threaded")),
            rate_cell(row.get("tokio")),
            ratio(reactor, row.get("threaded")),
            ratio(reactor, row.get("tokio")),
        );
    }
    out.push_str(
        "\n| server cores | reactor CPU µs/op | threaded CPU µs/op | tokio CPU µs/op | load generator busiest | errors |\n\
         |---:|---:|---:|---:|---:|---:|\n",
    );
    for (&cores, row) in &case.rows {
        let cpu = |name| {
            row.get(name).map_or("-".into(), |c: &Cell| {
                format!("{:.2}", c.server_cpu_us_per_op)
            })
        };
        let busiest = row.values().map(|c| c.client_cpu_share).fold(0.0, f64::max);
        let errors: u64 = row.values().map(|c| c.errors).sum();
        let _ = writeln!(
            out,
            "| {cores} | {} | {} | {} | {:.0}% | {errors} |",
            cpu("reactor"),
            cpu("threaded"),
            cpu("tokio"),
            busiest * 100.0
        );
    }
    out.push('\n');
}

fn color(design: Design) -> RGBColor {
    match design {
        Design::Reactor => RGBColor(31, 119, 180),
        Design::Threaded => RGBColor(255, 127, 14),
        Design::Tokio => RGBColor(44, 160, 44),
        Design::Baseline => RGBColor(127, 127, 127),
    }
}

/// Writes the chart: one panel per connection count, rate against server cores,
/// a line per design through the median rounds, bars from the min to the max round.
pub fn write_chart(path: &Path, cases: &[ScalingCase]) -> Result<(), CompareError> {
    let height = 380 * cases.len().max(1) as u32;
    let root = SVGBackend::new(path, (760, height)).into_drawing_area();
    let chart_err = |err: &dyn std::fmt::Display| CompareError::Chart(err.to_string());
    root.fill(&WHITE).map_err(|e| chart_err(&e))?;
    let panels = root.split_evenly((cases.len().max(1), 1));
    for (case, area) in cases.iter().zip(panels.iter()) {
        panel(area, case).map_err(|e| chart_err(&e))?;
    }
    root.present().map_err(|e| chart_err(&e))?;
    Ok(())
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

fn panel(area: &Area<'_>, case: &ScalingCase) -> Result<(), Box<dyn std::error::Error>> {
    let counts: Vec<usize> = case.rows.keys().copied().collect();
    let max = case
        .rows
        .values()
        .flat_map(|row| row.values())
        .map(|cell| cell.spread().1)
        .fold(1.0_f64, f64::max);
    let last = counts.len().saturating_sub(1).max(1) as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!("{}: ops/s against server cores", case.name),
            ("sans-serif", 18),
        )
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(90)
        .build_cartesian_2d(-0.3..last + 0.3, 0.0..max * 1.15)?;
    chart
        .configure_mesh()
        .x_labels(counts.len().max(2))
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 {
                counts
                    .get(i as usize)
                    .map_or(String::new(), usize::to_string)
            } else {
                String::new()
            }
        })
        .x_desc("server cores")
        .y_label_formatter(&|y| thousands(*y))
        .draw()?;
    for design in DESIGNS {
        let points: Vec<(f64, &Cell)> = counts
            .iter()
            .enumerate()
            .filter_map(|(i, cores)| Some((i as f64, case.rows[cores].get(design.name())?)))
            .collect();
        if points.is_empty() {
            continue;
        }
        let style = color(design).stroke_width(2);
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|(x, cell)| (*x, cell.median)),
                style,
            ))?
            .label(design.name())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], style));
        chart.draw_series(points.iter().map(|(x, cell)| {
            let (min, max) = cell.spread();
            ErrorBar::new_vertical(*x, min, cell.median, max, color(design).filled(), 8)
        }))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_get_separators() {
        assert_eq!(thousands(1_234_567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
    }

    #[test]
    fn a_cell_shows_its_spread_and_a_client_bound_mark() {
        let cell = Cell {
            rates: vec![100.0, 300.0, 200.0],
            median: 200.0,
            server_cpu_us_per_op: 1.0,
            client_cpu_share: 0.95,
            errors: 0,
        };
        assert_eq!(rate_cell(Some(&cell)), "200 (100-300) †");
        assert_eq!(rate_cell(None), "-");
    }
}
