//! The machine the figures come from: cores, CPU model, kernel, for every report.
//!
//! A ratio measured on 2 shared cores and one measured on 16 quiet ones are
//! different facts; every output of `compare` names its machine so a reader
//! can tell which one they are looking at.

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
}
