//! What else the machine was doing: load average before and after, and CPU steal.
//!
//! On a shared or virtual machine, other tenants take CPU time the benchmark
//! cannot see. The load average says how busy the machine was around the
//! run; *steal* (from `/proc/stat`) is the share of CPU time the hypervisor
//! gave to someone else while a virtual CPU wanted to run. Both go into the
//! report so a reader can judge the figures.

use serde::Serialize;

/// The 1, 5 and 15 minute load averages, from `/proc/loadavg`.
pub fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut fields = text.split_whitespace().map(|f| f.parse::<f64>().ok());
    Some([fields.next()??, fields.next()??, fields.next()??])
}

/// Total and stolen CPU time so far, in clock ticks, from the `cpu` line of `/proc/stat`.
pub fn cpu_ticks() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    parse_cpu_line(text.lines().next()?)
}

/// `(total, steal)` from `cpu  user nice system idle iowait irq softirq steal ...`.
fn parse_cpu_line(line: &str) -> Option<(u64, u64)> {
    let mut fields = line.split_whitespace();
    if fields.next()? != "cpu" {
        return None;
    }
    // Guest times are already counted in user and nice: only the first eight add up.
    let values: Vec<u64> = fields.take(8).filter_map(|f| f.parse().ok()).collect();
    let steal = *values.get(7)?;
    Some((values.iter().sum(), steal))
}

/// The machine's conditions around a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Conditions {
    /// Load average (1, 5, 15 min) when the comparison started.
    pub load_before: Option<[f64; 3]>,
    /// Load average when it ended.
    pub load_after: Option<[f64; 3]>,
    /// Percent of all CPU time stolen by the hypervisor during the comparison.
    pub steal_pct: Option<f64>,
}

/// Readings taken when a comparison starts, finished by [`Start::finish`].
#[derive(Debug, Clone, Copy)]
pub struct Start {
    load: Option<[f64; 3]>,
    ticks: Option<(u64, u64)>,
}

impl Start {
    /// Reads the load average and CPU times now.
    pub fn now() -> Start {
        Start {
            load: load_average(),
            ticks: cpu_ticks(),
        }
    }

    /// Reads them again and describes the span between.
    pub fn finish(self) -> Conditions {
        let steal_pct = match (self.ticks, cpu_ticks()) {
            (Some((t0, s0)), Some((t1, s1))) if t1 > t0 => {
                Some(s1.saturating_sub(s0) as f64 * 100.0 / (t1 - t0) as f64)
            }
            _ => None,
        };
        Conditions {
            load_before: self.load,
            load_after: load_average(),
            steal_pct,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_line_gives_total_and_steal() {
        let line = "cpu  100 5 50 800 10 1 2 32 7 0";
        assert_eq!(parse_cpu_line(line), Some((1000, 32)));
        assert_eq!(parse_cpu_line("intr 1 2 3"), None);
        assert_eq!(parse_cpu_line("cpu 1 2 3"), None);
    }

    #[test]
    fn this_machine_reports_something_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(load_average().is_some());
            assert!(cpu_ticks().is_some());
        }
    }
}
