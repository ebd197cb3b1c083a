//! The results as markdown: one narrow table per figure, so each fits a terminal.
//!
//! Every cell is the median of a design's rounds with their spread (see
//! [`Stat::cell`]); a `!` flags rounds that spread more than 25%, and the
//! summary lists those cases. Every ratio points the same way: how many times
//! better the reactor did than the other design (above 1: the reactor is
//! better), whatever the figure, and the core count is stated beside them,
//! since a ratio measured on 2 cores is a 2-core ratio.

use super::plan::Design;
use super::run::{CaseResult, DesignResult};
use super::spread::{si, Stat, NOISY};
use super::Comparison;
use crate::loadgen::Scenario;
use std::fmt::Write as _;

/// Which way a figure is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Better {
    Higher,
    Lower,
}

/// One figure's table: its title, where to find it, how to print it, which way is better.
struct Figure {
    title: &'static str,
    /// The title's first words, for the before/after tables.
    short: &'static str,
    get: fn(&DesignResult) -> Option<Stat>,
    format: fn(f64) -> String,
    better: Better,
    /// Whether hold cases belong in this table.
    hold: bool,
    /// Whether `--baseline` gets a before/after table of it (not p99: in a
    /// closed loop it restates the rate).
    before_after: bool,
}

const FIGURES: [Figure; 5] = [
    Figure {
        title: "Server CPU µs per operation (lower is better; the figure that holds up on a noisy machine)",
        short: "Server CPU µs per operation",
        get: |r| r.cpu_us_per_op,
        format: si,
        better: Better::Lower,
        hold: false,
        before_after: true,
    },
    Figure {
        title: "Operations per second (higher is better)",
        short: "Operations per second",
        get: |r| r.rate,
        format: si,
        better: Better::Higher,
        hold: false,
        before_after: true,
    },
    Figure {
        title: "p99 latency, µs (lower is better)",
        short: "p99 latency, µs",
        get: |r| r.p99_us,
        format: si,
        better: Better::Lower,
        hold: false,
        before_after: false,
    },
    Figure {
        title: "Peak server RSS, MiB (lower is better)",
        short: "Peak server RSS, MiB",
        get: |r| r.peak_rss_kib,
        format: |kib| format!("{:.1}", kib / 1024.0),
        better: Better::Lower,
        hold: true,
        before_after: true,
    },
    Figure {
        title: "Server RSS growth per connection held, bytes (lower is better)",
        short: "Server RSS growth per connection held, bytes",
        get: |r| r.rss_per_conn,
        format: |b| format!("{b:.0}"),
        better: Better::Lower,
        hold: true,
        before_after: true,
    },
];

/// The whole `compare.md`.
pub fn markdown(comparison: &Comparison) -> String {
    let mut out = String::new();
    let m = &comparison.machine;
    let c = &comparison.conditions;
    let _ = writeln!(out, "# reactord compare ({:?} preset)\n", comparison.preset);
    let _ = writeln!(out, "{}\n", m.describe(c));
    let _ = writeln!(
        out,
        "{} s measured per run after every connection is up, {} round(s) per design, {} load thread(s). \
         Each cell: the median of the rounds, ± half their min–max range as a share of the median; \
         `!` marks rounds whose max − min exceeds {:.0}% of the median. \
         Ratios: how many times better the reactor did (above 1: reactor better), from the medians, \
         **on this {}-core machine**.\n",
        comparison.duration_secs,
        comparison.rounds,
        comparison.client_threads,
        NOISY * 100.0,
        m.cores
    );
    if m.cores > 2 {
        let _ = writeln!(
            out,
            "The servers are not pinned: reactord serves with one reactor (one core), the \
             threaded server and tokio with every core they can use, so on these {} cores the \
             rate columns set one core against all of them. `reactord compare --cores` gives \
             every design the same cores.\n",
            m.cores
        );
    }
    let ran = |design| comparison.cases.iter().any(|c| c.get(design).is_some());
    let (tokio, baseline) = (ran(Design::Tokio), ran(Design::Baseline));
    let main = designs(tokio, false);
    for figure in &FIGURES {
        if let Some(table) = figure_table(figure, &comparison.cases, &main) {
            let _ = writeln!(out, "## {}\n\n{table}", figure.title);
        }
    }
    if baseline {
        out += &before_after(comparison);
    }
    out += "## Threads, connections, errors, load generator\n\n";
    out += &counts_table(&comparison.cases, &designs(tokio, baseline));
    if let Some(hold) = hold_table(&comparison.cases) {
        out += "\n## Idle connections (hold)\n\n";
        out += &hold;
    }
    out += "\n## Summary\n\n";
    out += &summary(&comparison.cases);
    out
}

fn designs(tokio: bool, baseline: bool) -> Vec<Design> {
    let mut all = vec![Design::Reactor, Design::Threaded];
    if tokio {
        all.push(Design::Tokio);
    }
    if baseline {
        all.push(Design::Baseline);
    }
    all
}

/// `--baseline`: this build against the other, for rate, CPU per operation and memory.
fn before_after(comparison: &Comparison) -> String {
    let mut out = format!(
        "## Before/after: this build (reactor) against the baseline build{}\n\n\
         `vs baseline`, as every ratio here: how many times better this build did \
         (above 1: this build better; for CPU per operation and memory that is baseline ÷ reactor, \
         for the rate reactor ÷ baseline). The load generator is this build's in both.\n\n",
        comparison
            .baseline
            .as_deref()
            .map_or(String::new(), |path| format!(" (`{path}`)"))
    );
    let pair = [Design::Reactor, Design::Baseline];
    for figure in FIGURES.iter().filter(|f| f.before_after) {
        if let Some(table) = figure_table(figure, &comparison.cases, &pair) {
            let _ = writeln!(out, "### Before/after: {}\n\n{table}", figure.short);
        }
    }
    out
}

/// One figure, one row per case: each design's cell, then the ratios.
fn figure_table(figure: &Figure, cases: &[CaseResult], designs: &[Design]) -> Option<String> {
    let mut header: Vec<String> = vec!["case".into()];
    header.extend(designs.iter().map(|d| d.name().to_string()));
    header.extend(designs[1..].iter().map(|d| format!("vs {d}")));
    let mut rows = Vec::new();
    for case in cases {
        if case.case.scenario == Scenario::Hold && !figure.hold {
            continue;
        }
        let stats: Vec<Option<Stat>> = designs
            .iter()
            .map(|&d| case.get(d).and_then(figure.get))
            .collect();
        if stats[0].is_none() {
            continue;
        }
        let mut cells = vec![case.case.name.clone()];
        cells.extend(
            stats
                .iter()
                .map(|s| s.map_or("—".into(), |s| s.cell(figure.format))),
        );
        let reactor = stats[0].map(|s| s.median);
        for other in &stats[1..] {
            let ratio = match (reactor, other.map(|s| s.median), figure.better) {
                (Some(r), Some(o), Better::Higher) => times(r, o),
                (Some(r), Some(o), Better::Lower) => times(o, r),
                _ => "—".into(),
            };
            cells.push(ratio);
        }
        rows.push(cells);
    }
    (!rows.is_empty()).then(|| render(&header, &rows))
}

/// Threads, connections, errors and the load generator's CPU: one row per case and design.
fn counts_table(cases: &[CaseResult], designs: &[Design]) -> String {
    let header: Vec<String> = [
        "case",
        "design",
        "threads",
        "connected",
        "errors",
        "verify errors",
        "switches/op",
        "client CPU",
    ]
    .map(String::from)
    .to_vec();
    let mut rows = Vec::new();
    for case in cases {
        for &design in designs {
            let Some(r) = case.get(design) else { continue };
            let report = &r.median.report;
            let cpu = report.client_cpu;
            rows.push(vec![
                case.case.name.clone(),
                design.to_string(),
                r.threads
                    .map_or("—".into(), |s| s.cell(|v| format!("{v:.0}"))),
                connected(r).to_string(),
                report.errors_total.to_string(),
                report.verify_errors.total.to_string(),
                r.median
                    .switches_per_op()
                    .map_or("—".into(), |v| format!("{v:.2}")),
                format!(
                    "{:.0}%{}",
                    cpu.busy * 100.0,
                    if cpu.bottleneck { " (bottleneck)" } else { "" }
                ),
            ]);
        }
    }
    render(&header, &rows)
}

/// Connections that completed their connect: the ramp's count, or the hold's.
fn connected(result: &DesignResult) -> u64 {
    let report = &result.median.report;
    match (&report.hold, &report.ramp) {
        (Some(h), _) => h.established,
        (None, Some(ramp)) => ramp.connected,
        _ => report.connects.min(report.conns as u64),
    }
}

fn hold_table(cases: &[CaseResult]) -> Option<String> {
    let header: Vec<String> = [
        "case",
        "design",
        "established",
        "verified",
        "verified after idle",
    ]
    .map(String::from)
    .to_vec();
    let mut rows = Vec::new();
    for case in cases.iter().filter(|c| c.case.scenario == Scenario::Hold) {
        for (design, result) in &case.designs {
            let Some(h) = result.median.report.hold else {
                continue;
            };
            rows.push(vec![
                case.case.name.clone(),
                design.to_string(),
                format!("{} / {}", h.established, h.target),
                h.verified.to_string(),
                format!("{} / {}", h.sample_verified, h.sampled),
            ]);
        }
    }
    (!rows.is_empty()).then(|| render(&header, &rows))
}

/// Noisy cases and runs where the load generator, not the server, was the bottleneck.
fn summary(cases: &[CaseResult]) -> String {
    let mut out = String::new();
    let noisy: Vec<String> = cases
        .iter()
        .flat_map(|c| {
            c.designs
                .iter()
                .filter(|(_, r)| r.noisy())
                .map(move |(d, _)| format!("{} ({d})", c.case.name))
        })
        .collect();
    if noisy.is_empty() {
        let _ = writeln!(
            out,
            "- No figure's rounds spread more than {:.0}%.",
            NOISY * 100.0
        );
    } else {
        let _ = writeln!(
            out,
            "- **Noisy** (rate or CPU per operation, for hold RSS per connection, spread more \
             than {:.0}% over the rounds; rerun before quoting): {}.",
            NOISY * 100.0,
            noisy.join(", ")
        );
    }
    let bound: Vec<String> = cases
        .iter()
        .flat_map(|c| {
            c.designs
                .iter()
                .filter(|(_, r)| r.median.report.client_cpu.bottleneck)
                .map(move |(d, _)| format!("{} ({d})", c.case.name))
        })
        .collect();
    if !bound.is_empty() {
        let _ = writeln!(
            out,
            "- The load generator was busy 90%+ of the time, so it may have been the bottleneck: {}.",
            bound.join(", ")
        );
    }
    out
}

/// `a / b` as `1.23`, or `—` when it cannot be computed.
fn times(a: f64, b: f64) -> String {
    if a.is_finite() && b.is_finite() && b > 0.0 {
        format!("{:.2}", a / b)
    } else {
        "—".into()
    }
}

/// A markdown table with columns padded to their widest cell.
pub(super) fn render(header: &[String], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count().max(3)).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, &w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
            .collect();
        format!("| {} |\n", padded.join(" | "))
    };
    let mut out = line(header);
    let rule: Vec<String> = widths.iter().map(|&w| "-".repeat(w)).collect();
    out += &format!("|-{}-|\n", rule.join("-|-"));
    for row in rows {
        out += &line(row);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_and_tables_format() {
        assert_eq!(times(3.0, 2.0), "1.50");
        assert_eq!(times(1.0, 0.0), "—");
        assert_eq!(times(f64::NAN, 1.0), "—");
        let table = render(
            &["a".into(), "bb".into()],
            &[vec!["xyz".into(), "1".into()]],
        );
        assert_eq!(table, "| a   | bb  |\n|-----|-----|\n| xyz | 1   |\n");
    }

    #[test]
    fn more_than_two_cores_warn_that_the_servers_were_not_pinned() {
        let on = |cores| Comparison {
            machine: crate::compare::Machine {
                cores,
                cpu: "Test CPU".into(),
                kernel: "6.1".into(),
            },
            conditions: crate::compare::conditions::Conditions {
                load_before: None,
                load_after: None,
                steal_pct: None,
            },
            preset: crate::compare::plan::Preset::Quick,
            duration_secs: 1.0,
            rounds: 1,
            client_threads: 1,
            baseline: None,
            cases: Vec::new(),
        };
        let warning = "set one core against all of them";
        assert!(markdown(&on(16)).contains(warning));
        assert!(markdown(&on(16)).contains("`reactord compare --cores`"));
        assert!(!markdown(&on(2)).contains(warning));
    }
}
