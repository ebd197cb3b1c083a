//! The machine the figures come from: cores, CPU model, kernel, for every report.
//!
//! A ratio measured on 2 shared cores and one measured on 16 quiet ones are
//! different facts; every output of `compare` names its machine so a reader
//! can tell which one they are looking at.

use super::conditions::Conditions;
use serde::Serialize;

/// The machine the figures come from.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// Online CPUs.
    pub cores: usize,
    /// The CPU model from `/proc/cpuinfo`.
    pub cpu: String,
    /// The kernel release.
    pub kernel: String,
}

impl Machine {
    /// Reads this machine's description from `/proc`.
    pub fn detect() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|rest| rest.split_once(':'))
            .map_or("unknown CPU".into(), |(_, model)| model.trim().to_string());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map_or("unknown".into(), |k| k.trim().to_string());
        Machine {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu,
            kernel,
        }
    }

    /// The report's first line: the machine, and what else it was doing.
    pub fn describe(&self, conditions: &Conditions) -> String {
        let load = |avg: Option<[f64; 3]>| {
            avg.map_or("unknown".into(), |[a, b, c]| {
                format!("{a:.2} {b:.2} {c:.2}")
            })
        };
        format!(
            "Machine: {} cores ({}), Linux {}. Load average {} before, {} after; CPU steal {}.",
            self.cores,
            self.cpu,
            self.kernel,
            load(conditions.load_before),
            load(conditions.load_after),
            conditions
                .steal_pct
                .map_or("unknown".into(), |s| format!("{s:.1}%")),
        )
    }
}
