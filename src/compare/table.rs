//! The results as markdown: the side-by-side table, the hold table, the cost table.
//!
//! Ratios are written so that above 1 means the reactor does better:
//! reactor/threaded for rates, threaded/reactor for p99 latency and memory.

use super::plan::Design;
use super::run::{CaseResult, DesignResult};
use super::Comparison;
use crate::loadgen::Scenario;
use std::fmt::Write as _;

/// The whole `compare.md`.
pub fn markdown(comparison: &Comparison) -> String {
    let mut out = String::new();
    let m = &comparison.machine;
    let _ = writeln!(out, "# reactord compare ({:?} preset)\n", comparison.preset);
    let _ = writeln!(
        out,
        "{} cores ({}), Linux {}; {} s per run, {} round(s) per design (median kept), {} load thread(s).\n",
        m.cores, m.cpu, m.kernel, comparison.duration_secs, comparison.rounds, comparison.client_threads
    );
    out += &main_table(&comparison.cases);
    out += "\nRatios above 1 favour the reactor: rate is reactor/threaded, p99 and peak RSS are threaded/reactor. \
             \"connected\" is how many of the connections asked for completed their connect during the run: \
             the load generator opens them 256 at a time while serving the open ones, and the rate includes that ramp.\n";
    if let Some(hold) = hold_table(&comparison.cases) {
        out += "\n## Idle connections (hold)\n\n";
        out += &hold;
    }
    out += "\n## Server cost per operation (CPU time and context switches, whole process, from wait4)\n\n";
    out += &cost_table(&comparison.cases);
    out
}

fn main_table(cases: &[CaseResult]) -> String {
    let tokio = cases.iter().any(|c| c.get(Design::Tokio).is_some());
    let mut header = vec![
        "case",
        "reactor ops/s",
        "threaded ops/s",
        "rate r/t",
        "reactor p99 µs",
        "threaded p99 µs",
        "p99 t/r",
        "reactor peak RSS",
        "threaded peak RSS",
        "RSS t/r",
        "peak threads r/t",
        "connected r/t",
        "errors r/t",
    ];
    if tokio {
        header.splice(3..3, ["tokio ops/s"]);
        header.splice(7..7, ["tokio p99 µs"]);
    }
    let mut out = row(&header);
    out += &row(&vec!["---"; header.len()]);
    for case in cases.iter().filter(|c| c.case.scenario != Scenario::Hold) {
        let (Some(r), Some(t)) = (case.get(Design::Reactor), case.get(Design::Threaded)) else {
            continue;
        };
        let (rm, tm) = (&r.median, &t.median);
        let mut cells = vec![
            case.case.name.clone(),
            rate(r),
            rate(t),
            ratio(rm.report.rate, tm.report.rate),
            p99(r),
            p99(t),
            ratio(p99_of(t), p99_of(r)),
            mib(rm.peak.rss_kib),
            mib(tm.peak.rss_kib),
            ratio(tm.peak.rss_kib as f64, rm.peak.rss_kib as f64),
            format!("{} / {}", rm.peak.threads, tm.peak.threads),
            format!("{} / {}", connected(r), connected(t)),
            format!("{} / {}", rm.report.errors_total, tm.report.errors_total),
        ];
        if tokio {
            let k = case.get(Design::Tokio);
            cells.insert(3, k.map_or("—".into(), rate));
            cells.insert(7, k.map_or("—".into(), p99));
        }
        out += &row(&cells);
    }
    out
}

fn hold_table(cases: &[CaseResult]) -> Option<String> {
    let holds: Vec<&CaseResult> = cases
        .iter()
        .filter(|c| c.case.scenario == Scenario::Hold)
        .collect();
    if holds.is_empty() {
        return None;
    }
    let header = [
        "case",
        "design",
        "established",
        "verified",
        "verified after idle",
        "RSS before",
        "peak RSS",
        "RSS growth per connection",
        "peak threads",
    ];
    let mut out = row(&header);
    out += &row(&["---"; 9]);
    for case in holds {
        for (design, result) in &case.designs {
            let m = &result.median;
            let Some(h) = m.report.hold else { continue };
            out += &row(&[
                case.case.name.clone(),
                design.to_string(),
                format!("{} / {}", h.established, h.target),
                h.verified.to_string(),
                format!("{} / {}", h.sample_verified, h.sampled),
                mib(m.rss_before_kib),
                mib(m.peak.rss_kib),
                m.rss_per_conn().map_or("—".into(), |b| format!("{b:.0} B")),
                m.peak.threads.to_string(),
            ]);
        }
    }
    Some(out)
}

fn cost_table(cases: &[CaseResult]) -> String {
    let header = [
        "case",
        "design",
        "ops",
        "server CPU s (user + sys)",
        "CPU µs/op",
        "context switches/op",
    ];
    let mut out = row(&header);
    out += &row(&["---"; 6]);
    for case in cases.iter().filter(|c| c.case.scenario != Scenario::Hold) {
        for (design, result) in &case.designs {
            let m = &result.median;
            out += &row(&[
                case.case.name.clone(),
                design.to_string(),
                m.report.ops.to_string(),
                format!("{:.2} + {:.2}", m.usage.user_secs, m.usage.sys_secs),
                m.cpu_us_per_op().map_or("—".into(), |v| format!("{v:.1}")),
                m.switches_per_op()
                    .map_or("—".into(), |v| format!("{v:.2}")),
            ]);
        }
    }
    out
}

fn row<S: AsRef<str>>(cells: &[S]) -> String {
    let cells: Vec<&str> = cells.iter().map(AsRef::as_ref).collect();
    format!("| {} |\n", cells.join(" | "))
}

fn rate(result: &DesignResult) -> String {
    format!("{:.0}", result.median.report.rate)
}

/// Connections (not reconnects) that completed their connect during the run.
fn connected(result: &DesignResult) -> u64 {
    let report = &result.median.report;
    report.connects.min(report.conns as u64)
}

fn p99_of(result: &DesignResult) -> f64 {
    result
        .median
        .report
        .latency_us
        .map_or(f64::NAN, |l| l.p99 as f64)
}

fn p99(result: &DesignResult) -> String {
    result
        .median
        .report
        .latency_us
        .map_or("—".into(), |l| l.p99.to_string())
}

fn ratio(numerator: f64, denominator: f64) -> String {
    if numerator.is_finite() && denominator.is_finite() && denominator > 0.0 {
        format!("{:.2}", numerator / denominator)
    } else {
        "—".into()
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_and_units_format() {
        assert_eq!(ratio(3.0, 2.0), "1.50");
        assert_eq!(ratio(1.0, 0.0), "—");
        assert_eq!(ratio(f64::NAN, 1.0), "—");
        assert_eq!(mib(1536), "1.5 MiB");
        assert_eq!(row(&["a", "b"]), "| a | b |\n");
    }
}
