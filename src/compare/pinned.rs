//! One measured run on a server that may be pinned to CPUs: what `--cores`
//! and `--one-core` repeat for every design, core count and round.
//!
//! Besides the rate and the server's CPU time per operation (from `wait4`
//! when the server is reaped), a run measures the load generator's own CPU
//! time over the run (`getrusage` of this process, whose load threads are
//! pinned with it). When that comes close to all of its cores, the load
//! generator, not the server, set the pace, and the rate is a floor.

use super::error::CompareError;
use super::plan::{Case, Design};
use super::server::{ServerProcess, Tuning};
use super::{affinity, cores_plan::CLIENT_BOUND_SHARE};
use crate::loadgen;
use serde::Serialize;
use std::path::Path;
use std::time::{Duration, Instant};

/// What one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct PinnedRun {
    /// The server's process id (reaped by the time this is read).
    pub server_pid: u32,
    /// Operations completed and verified in the measurement window.
    pub ops: u64,
    /// Operations per second.
    pub rate: f64,
    /// The server's CPU time (user + system), start to exit, seconds.
    pub server_cpu_secs: f64,
    /// The load generator's CPU time over (wall time x the cores it could use).
    pub client_share: f64,
    /// Connection and verification errors.
    pub errors: u64,
}

impl PinnedRun {
    /// Server CPU microseconds per operation; `None` when nothing completed.
    pub fn cpu_us_per_op(&self) -> Option<f64> {
        (self.ops > 0).then(|| self.server_cpu_secs * 1e6 / self.ops as f64)
    }

    /// Whether the load generator used over [`CLIENT_BOUND_SHARE`] of its cores.
    pub fn client_bound(&self) -> bool {
        self.client_share > CLIENT_BOUND_SHARE
    }

    /// `123456 ops/s, load generator 40% busy`, and whether it was the bottleneck.
    pub fn describe(&self) -> String {
        let bound = if self.client_bound() {
            " (it was the bottleneck)"
        } else {
            ""
        };
        format!(
            "{:.0} ops/s, {} server CPU µs/op, load generator {:.0}% busy{bound}",
            self.rate,
            self.cpu_us_per_op()
                .map_or("-".into(), |us| format!("{us:.2}")),
            self.client_share * 100.0
        )
    }
}

/// Where the load comes from: this process's event loops, and the CPUs they may use.
#[derive(Debug, Clone, Copy)]
pub struct Load<'a> {
    /// The case to run.
    pub case: &'a Case,
    /// Seconds of load (the case's minimum wins if longer).
    pub duration: Duration,
    /// Load generator event loops.
    pub threads: usize,
    /// The CPUs the load generator is pinned to; `None`: unpinned.
    pub cpus: Option<&'a [usize]>,
}

/// Starts `design` from `program` as `tuning` says, loads it, stops it by its pid.
pub fn run(
    design: Design,
    program: &Path,
    tuning: &Tuning,
    load: Load<'_>,
) -> Result<PinnedRun, CompareError> {
    let (mut server, ports) = ServerProcess::start_tuned(design, program, tuning)?;
    let config = load.case.config(ports.tcp, load.duration, load.threads);
    let (cpu_before, started) = (affinity::process_cpu_secs(), Instant::now());
    let report = loadgen::run(&config);
    let client_cpu = affinity::process_cpu_secs() - cpu_before;
    let wall = started.elapsed().as_secs_f64();
    let usage = server.stop().unwrap_or_default();
    let report = report
        .map_err(|err| CompareError::Bench(format!("{} on {design}", load.case.name), err))?;
    let client_cores = load
        .cpus
        .map_or(load.threads, <[usize]>::len)
        .min(load.threads)
        .max(1);
    Ok(PinnedRun {
        server_pid: server.pid(),
        ops: report.ops,
        rate: report.rate,
        server_cpu_secs: usage.user_secs + usage.sys_secs,
        client_share: client_cpu / (wall * client_cores as f64).max(f64::EPSILON),
        errors: report.errors_total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_per_op_needs_operations_and_the_bound_is_strict() {
        let mut run = PinnedRun {
            server_pid: 1,
            ops: 2_000_000,
            rate: 1e6,
            server_cpu_secs: 3.0,
            client_share: 0.9,
            errors: 0,
        };
        assert_eq!(run.cpu_us_per_op(), Some(1.5));
        assert!(!run.client_bound());
        assert!(run.describe().contains("1.50 server CPU µs/op"));
        run.client_share = 0.95;
        run.ops = 0;
        assert_eq!(run.cpu_us_per_op(), None);
        assert!(run.describe().ends_with("(it was the bottleneck)"));
    }
}
