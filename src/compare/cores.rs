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

use super::affinity;
use super::error::CompareError;
use super::plan::{Case, Design};
use super::server::{ServerProcess, Tuning};
use super::Machine;
use crate::loadgen::{self, Scenario};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Above this share of its cores busy, the load generator is called the bottleneck.
pub const CLIENT_BOUND_SHARE: f64 = 0.9;
/// Seconds of load per run unless `--duration` says otherwise.
pub const DEFAULT_SECS: f64 = 3.0;
/// Rounds per design and core count unless `--rounds` says otherwise.
pub const DEFAULT_ROUNDS: usize = 2;
/// The shortest run at 10,000 connections, in seconds.
pub const MIN_SECS_10K: f64 = 5.0;
/// The connection counts measured.
pub const CONNS: [usize; 2] = [1000, 10_000];

/// Which CPUs serve, which load, and how many cores each server run gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CorePlan {
    /// Server core counts, ascending.
    pub counts: Vec<usize>,
    /// The CPUs servers are pinned to (the first N of them for N cores); `None`: unpinned.
    pub server_cpus: Option<Vec<usize>>,
    /// The CPUs the load generator is pinned to; `None`: unpinned.
    pub client_cpus: Option<Vec<usize>>,
    /// Load generator event loops.
    pub client_threads: usize,
    /// What the plan could not do, for the output (e.g. "unpinned: 2 cores").
    pub note: String,
}

/// Splits `allowed` CPUs between server and load; `requested` counts, if given, must fit.
pub fn plan(
    allowed: &[usize],
    requested: Option<&[usize]>,
    client_threads: Option<usize>,
) -> Result<CorePlan, String> {
    let pinned = allowed.len() >= 4;
    let (server, client) = if pinned {
        let half = allowed.len() / 2;
        (allowed[..half].to_vec(), allowed[half..].to_vec())
    } else {
        (allowed.to_vec(), allowed.to_vec())
    };
    let counts = match requested {
        Some(counts) => {
            if let Some(&too_many) = counts.iter().find(|&&n| n == 0 || n > server.len()) {
                return Err(format!(
                    "--cores {too_many}: the server can have 1 to {} cores here",
                    server.len()
                ));
            }
            let mut counts = counts.to_vec();
            counts.sort_unstable();
            counts.dedup();
            counts
        }
        None => {
            let mut counts: Vec<usize> = std::iter::successors(Some(1), |n| Some(n * 2))
                .take_while(|&n| n <= server.len())
                .collect();
            if counts.last() != Some(&server.len()) {
                counts.push(server.len());
            }
            counts
        }
    };
    let note = if pinned {
        format!(
            "server pinned to CPUs {} (the first N for N cores), load generator to CPUs {}",
            ranges(&server),
            ranges(&client)
        )
    } else {
        format!(
            "only {} cores: server and load generator share them, nothing is pinned; \
             these figures show that it works, not how it scales",
            allowed.len()
        )
    };
    Ok(CorePlan {
        counts,
        client_threads: client_threads.unwrap_or(client.len()).max(1),
        server_cpus: pinned.then_some(server),
        client_cpus: pinned.then_some(client),
        note,
    })
}

/// `0-7` for a run of CPUs, `0,2,4` otherwise.
fn ranges(cpus: &[usize]) -> String {
    let contiguous = cpus.windows(2).all(|w| w[1] == w[0] + 1);
    match (cpus.first(), cpus.last()) {
        (Some(first), Some(last)) if contiguous && cpus.len() > 1 => format!("{first}-{last}"),
        _ => cpus
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(","),
    }
}

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
            let mut runs: BTreeMap<Design, Vec<Run>> = BTreeMap::new();
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

/// One run's figures.
#[derive(Debug, Clone)]
struct Run {
    rate: f64,
    server_cpu_us_per_op: f64,
    client_share: f64,
    errors: u64,
}

impl Run {
    /// `123456 ops/s, load generator 40% busy`, and whether it was the bottleneck.
    fn describe(&self) -> String {
        let bound = if self.client_share > CLIENT_BOUND_SHARE {
            " (it was the bottleneck)"
        } else {
            ""
        };
        format!(
            "{:.0} ops/s, load generator {:.0}% busy{bound}",
            self.rate,
            self.client_share * 100.0
        )
    }
}

fn cell(mut runs: Vec<Run>) -> Cell {
    let rates = runs.iter().map(|r| r.rate).collect();
    let client_cpu_share = runs.iter().map(|r| r.client_share).fold(0.0, f64::max);
    let errors = runs.iter().map(|r| r.errors).sum();
    runs.sort_by(|a, b| a.rate.total_cmp(&b.rate));
    let median = runs.swap_remove((runs.len() - 1) / 2);
    Cell {
        rates,
        median: median.rate,
        server_cpu_us_per_op: median.server_cpu_us_per_op,
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
        Design::Threaded => {}
    }
    tuning
}

fn run_one(
    options: &ScalingOptions,
    case: &Case,
    design: Design,
    cores: usize,
) -> Result<Run, CompareError> {
    let program = match design {
        Design::Tokio => options.tokio.as_deref().unwrap_or(&options.reactord),
        _ => &options.reactord,
    };
    let tuning = tuning(design, cores, options.plan.server_cpus.as_deref());
    let (mut server, ports) = ServerProcess::start_tuned(design, program, &tuning)?;
    let config = case.config(ports.tcp, options.duration, options.plan.client_threads);
    let (cpu_before, started) = (affinity::process_cpu_secs(), Instant::now());
    let report = loadgen::run(&config);
    let client_cpu = affinity::process_cpu_secs() - cpu_before;
    let wall = started.elapsed().as_secs_f64();
    let usage = server.stop().unwrap_or_default();
    let report =
        report.map_err(|err| CompareError::Bench(format!("{} on {design}", case.name), err))?;
    let client_cores = options
        .plan
        .client_cpus
        .as_ref()
        .map_or(options.plan.client_threads, Vec::len)
        .min(options.plan.client_threads)
        .max(1);
    Ok(Run {
        rate: report.rate,
        server_cpu_us_per_op: if report.ops > 0 {
            (usage.user_secs + usage.sys_secs) * 1e6 / report.ops as f64
        } else {
            0.0
        },
        client_share: client_cpu / (wall * client_cores as f64).max(f64::EPSILON),
        errors: report.errors_total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixteen_cores_split_in_halves_with_powers_of_two() {
        let cpus: Vec<usize> = (0..16).collect();
        let plan = plan(&cpus, None, None).unwrap();
        assert_eq!(plan.counts, [1, 2, 4, 8]);
        assert_eq!(plan.server_cpus.as_deref(), Some(&cpus[..8]));
        assert_eq!(plan.client_cpus.as_deref(), Some(&cpus[8..]));
        assert_eq!(plan.client_threads, 8);
        assert!(plan.note.contains("CPUs 0-7"), "{}", plan.note);
    }

    #[test]
    fn odd_machines_include_their_half_and_small_ones_are_unpinned() {
        let twelve: Vec<usize> = (0..12).collect();
        assert_eq!(plan(&twelve, None, None).unwrap().counts, [1, 2, 4, 6]);
        let two = plan(&[0, 1], None, Some(3)).unwrap();
        assert_eq!(two.counts, [1, 2]);
        assert_eq!(two.server_cpus, None);
        assert_eq!(two.client_threads, 3);
        assert!(two.note.contains("nothing is pinned"));
    }

    #[test]
    fn requested_counts_must_fit_the_servers_half() {
        let cpus: Vec<usize> = (0..8).collect();
        assert_eq!(plan(&cpus, Some(&[4, 1, 4]), None).unwrap().counts, [1, 4]);
        let err = plan(&cpus, Some(&[8]), None).unwrap_err();
        assert!(err.contains("1 to 4"), "{err}");
    }

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
