//! `reactord compare --cores`: how each design scales with the cores it is given.
//!
//! Echo 64 B at 1,000 and 10,000 connections, against reactord with 1, 2, 4,
//! ... reactors, `reactord threaded`, and the tokio example with the same
//! number of worker threads; every design's server is pinned to the same N
//! cores (`sched_setaffinity`, like `taskset -c 0-(N-1)`), so each gets the
//! same core budget. The load generator runs in this process, pinned to the
//! other half of the machine, with one event loop per core of its half.
//!
//! - **Enough cores** (4 or more allowed to this process): the server's half
//!   is the lower half of the CPUs, the load generator's the upper half, and
//!   the server counts are the powers of two up to the half (and the half).
//! - **Fewer**: nothing can be kept apart, so nothing is pinned, the counts
//!   are 1 and 2, and the output says so; such figures show that the feature
//!   works, not how it scales.
//! - **Was the load generator the bottleneck?** Its own CPU time is measured
//!   over each run (`getrusage`); a run where it used over 90% of its cores is
//!   flagged, because then the server's rate is a floor, not its capacity.
//!
//! Rounds alternate the designs (the order rotating every round) and each
//! cell shows the median round with the min-max of all rounds.

use super::error::CompareError;
use super::pinned::{self, PinnedRun};
use super::plan::{Case, Design};
use super::server::Tuning;
use super::{affinity, Machine};
use crate::loadgen::Scenario;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

pub use super::cores_plan::{plan, CorePlan, CLIENT_BOUND_SHARE};

/// Seconds of load per run unless `--duration` says otherwise.
pub const DEFAULT_SECS: f64 = 3.0;
/// Rounds per design and core count unless `--rounds` says otherwise.
pub const DEFAULT_ROUNDS: usize = 2;
/// The shortest run at 10,000 connections, in seconds.
pub const MIN_SECS_10K: f64 = 5.0;
/// The connection counts measured.
pub const CONNS: [usize; 2] = [1000, 10_000];

/// One design's rounds at one core count.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    /// Every round's rate, ops/s, in the order run.
    pub rates: Vec<f64>,
    /// The median round's rate.
    pub median: f64,
    /// Server CPU microseconds per operation, median round.
    pub server_cpu_us_per_op: f64,
    /// The load generator's busiest round: CPU time over (wall time x its cores).
    pub client_cpu_share: f64,
    /// Verification or connection errors over all rounds.
    pub errors: u64,
}

impl Cell {
    /// Whether the load generator was the bottleneck in some round.
    pub fn client_bound(&self) -> bool {
        self.client_cpu_share > CLIENT_BOUND_SHARE
    }

    /// The lowest and highest round.
    pub fn spread(&self) -> (f64, f64) {
        let min = self.rates.iter().copied().fold(f64::INFINITY, f64::min);
        let max = self.rates.iter().copied().fold(0.0, f64::max);
        (min, max)
    }
}

/// One connection count: a row per core count, a cell per design.
#[derive(Debug, Clone, Serialize)]
pub struct ScalingCase {
    /// `echo 64 B x 1000`.
    pub name: String,
    /// Connections.
    pub conns: usize,
    /// Core count -> design name -> cell.
    pub rows: BTreeMap<usize, BTreeMap<&'static str, Cell>>,
}

/// A whole core-scaling run: `cores.json` is this, serialized.
#[derive(Debug, Clone, Serialize)]
pub struct Scaling {
    /// Where it ran.
    pub machine: Machine,
    /// How the CPUs were split.
    pub plan: CorePlan,
    /// Seconds of load per run (10,000 connections get at least 10).
    pub duration_secs: f64,
    /// Rounds per design and core count.
    pub rounds: usize,
    /// The command that produced it.
    pub command: String,
    /// One entry per connection count.
    pub cases: Vec<ScalingCase>,
}

/// What `--cores` runs with.
#[derive(Debug, Clone)]
pub struct ScalingOptions {
    /// The split of CPUs.
    pub plan: CorePlan,
    /// Seconds of load per run.
    pub duration: Duration,
    /// Rounds per design and core count.
    pub rounds: usize,
    /// Connection counts.
    pub conns: Vec<usize>,
    /// This binary.
    pub reactord: PathBuf,
    /// The tokio echo example, if found.
    pub tokio: Option<PathBuf>,
}

/// Runs every design at every core count; `progress` gets one line per run.
pub fn run(
    options: &ScalingOptions,
    mut progress: impl FnMut(&str),
) -> Result<Vec<ScalingCase>, CompareError> {
    if let Some(cpus) = &options.plan.client_cpus {
        // This thread and the load generator's threads, started from it, stay off the server's CPUs.
        affinity::apply(&affinity::cpu_set(cpus))
            .map_err(|err| CompareError::Spawn("load generator (pinning)".into(), err))?;
    }
    let mut designs = vec![Design::Reactor, Design::Threaded];
    if options.tokio.is_some() {
        designs.push(Design::Tokio);
    }
    let total = options.conns.len() * options.plan.counts.len() * designs.len() * options.rounds;
    let mut done = 0;
    let mut cases = Vec::new();
    for &conns in &options.conns {
        let case = echo_case(conns);
        let mut rows = BTreeMap::new();
        for &cores in &options.plan.counts {
            let mut runs: BTreeMap<Design, Vec<PinnedRun>> = BTreeMap::new();
            for round in 0..options.rounds {
                let mut order = designs.clone();
                order.rotate_left(round % designs.len());
                for &design in &order {
                    done += 1;
                    let run = run_one(options, &case, design, cores)?;
                    let what = format!(
                        "{} {design} on {cores} cores, round {}",
                        case.name,
                        round + 1
                    );
                    progress(&format!("[{done}/{total}] {what}: {}", run.describe()));
                    runs.entry(design).or_default().push(run);
                }
            }
            let cells = runs
                .into_iter()
                .map(|(design, runs)| (design.name(), cell(runs)))
                .collect();
            rows.insert(cores, cells);
        }
        cases.push(ScalingCase {
            name: case.name.clone(),
            conns,
            rows,
        });
    }
    Ok(cases)
}

/// Echo 64 B at `conns`; 10,000 connections get at least [`MIN_SECS_10K`] (their ramp is long).
fn echo_case(conns: usize) -> Case {
    let mut case = Case::new(Scenario::Echo, conns, 64);
    case.min_secs = if conns >= 10_000 { MIN_SECS_10K } else { 0.0 };
    case
}

fn cell(mut runs: Vec<PinnedRun>) -> Cell {
    let rates = runs.iter().map(|r| r.rate).collect();
    let client_cpu_share = runs.iter().map(|r| r.client_share).fold(0.0, f64::max);
    let errors = runs.iter().map(|r| r.errors).sum();
    runs.sort_by(|a, b| a.rate.total_cmp(&b.rate));
    let median = runs.swap_remove((runs.len() - 1) / 2);
    Cell {
        rates,
        median: median.rate,
        server_cpu_us_per_op: median.cpu_us_per_op().unwrap_or(0.0),
        client_cpu_share,
        errors,
    }
}

/// How `design` is told to use `cores`: reactors, tokio workers, and the CPUs it may run on.
pub fn tuning(design: Design, cores: usize, server_cpus: Option<&[usize]>) -> Tuning {
    let mut tuning = Tuning {
        cpus: server_cpus.map(|cpus| cpus[..cores.min(cpus.len())].to_vec()),
        ..Tuning::default()
    };
    match design {
        Design::Reactor => tuning.args = vec!["--reactors".into(), cores.to_string()],
        // Read by #[tokio::main]'s multi-thread runtime.
        Design::Tokio => tuning.env = vec![("TOKIO_WORKER_THREADS".into(), cores.to_string())],
        // A thread per connection: the pinning alone limits its cores.
        // (`--cores` runs no baseline build; it would get the pinning alone too.)
        Design::Threaded | Design::Baseline => {}
    }
    tuning
}

fn run_one(
    options: &ScalingOptions,
    case: &Case,
    design: Design,
    cores: usize,
) -> Result<PinnedRun, CompareError> {
    let program = match design {
        Design::Tokio => options.tokio.as_deref().unwrap_or(&options.reactord),
        _ => &options.reactord,
    };
    let tuning = tuning(design, cores, options.plan.server_cpus.as_deref());
    let load = pinned::Load {
        case,
        duration: options.duration,
        threads: options.plan.client_threads,
        cpus: options.plan.client_cpus.as_deref(),
    };
    pinned::run(design, program, &tuning, load)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_design_gets_the_same_cores() {
        let cpus = [4, 5, 6, 7];
        let reactor = tuning(Design::Reactor, 2, Some(&cpus));
        assert_eq!(reactor.args, ["--reactors", "2"]);
        assert_eq!(reactor.cpus.as_deref(), Some(&[4, 5][..]));
        let tokio = tuning(Design::Tokio, 2, Some(&cpus));
        assert_eq!(
            tokio.env,
            [("TOKIO_WORKER_THREADS".to_string(), "2".to_string())]
        );
        assert_eq!(tokio.cpus, reactor.cpus);
        assert_eq!(tuning(Design::Threaded, 2, None).cpus, None);
    }
}
