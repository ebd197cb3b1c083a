//! Running the cases: for each case and round, each design in turn on a fresh server.
//!
//! Designs alternate within a case (and the order rotates every round), so a
//! slow patch on this shared machine hits every design alike instead of
//! whichever happened to run during it. Of a design's rounds, the one with
//! the median rate is kept whole, and every figure the tables show has its
//! median, lowest and highest over the rounds (see [`Stat`]).

use super::error::CompareError;
use super::plan::{Case, Design, Preset};
use super::sampler::{read_status, Peaks, Sampler};
use super::server::{ServerProcess, Usage};
use super::spread::Stat;
use crate::loadgen::{self, Report, Scenario};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Everything `compare` needs to run.
#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// Which list of cases.
    pub preset: Preset,
    /// Seconds of load per run.
    pub duration: Duration,
    /// Runs per design and case.
    pub rounds: usize,
    /// Load generator threads.
    pub client_threads: usize,
    /// This binary, which serves as `serve` and `threaded`.
    pub reactord: PathBuf,
    /// The tokio echo example, if found.
    pub tokio: Option<PathBuf>,
    /// `--baseline`: another reactord build, run as the design `baseline`.
    pub baseline: Option<PathBuf>,
}

impl CompareOptions {
    /// The program that serves `design`: this binary unless it is tokio or the baseline.
    pub fn program(&self, design: Design) -> &Path {
        let other = match design {
            Design::Tokio => self.tokio.as_deref(),
            Design::Baseline => self.baseline.as_deref(),
            Design::Reactor | Design::Threaded => None,
        };
        other.unwrap_or(&self.reactord)
    }
}

/// One run of one design: what the client measured and what the server cost.
#[derive(Debug, Clone, Serialize)]
pub struct Measurement {
    /// The server's process id (gone by the time this is read).
    pub server_pid: u32,
    /// The load generator's report.
    pub report: Report,
    /// The server's RSS just before the load started, KiB.
    pub rss_before_kib: u64,
    /// The peaks sampled from `/proc` during the load.
    pub peak: Peaks,
    /// The kernel's account of the whole server process (start to exit).
    pub usage: Usage,
}

impl Measurement {
    /// RSS growth per connection held, bytes: `hold` and echo (not churn or UDP,
    /// whose connections or sockets come and go).
    pub fn rss_per_conn(&self) -> Option<f64> {
        let held = match (&self.report.hold, &self.report.ramp) {
            (Some(hold), _) => hold.established,
            (None, Some(ramp)) => ramp.connected,
            _ => return None,
        };
        (held > 0).then(|| {
            self.peak.rss_kib.saturating_sub(self.rss_before_kib) as f64 * 1024.0 / held as f64
        })
    }

    /// Server CPU time (user + system) per completed operation, microseconds.
    pub fn cpu_us_per_op(&self) -> Option<f64> {
        (self.report.ops > 0)
            .then(|| (self.usage.user_secs + self.usage.sys_secs) * 1e6 / self.report.ops as f64)
    }

    /// Server context switches (voluntary + involuntary) per completed operation.
    pub fn switches_per_op(&self) -> Option<f64> {
        (self.report.ops > 0).then(|| {
            (self.usage.voluntary_switches + self.usage.involuntary_switches) as f64
                / self.report.ops as f64
        })
    }
}

/// A design's result for one case: the median round, and each figure over all rounds.
#[derive(Debug, Clone, Serialize)]
pub struct DesignResult {
    /// The round with the median rate.
    pub median: Measurement,
    /// Every round's rate, ops/s, in the order run.
    pub rates: Vec<f64>,
    /// Operations per second.
    pub rate: Option<Stat>,
    /// Server CPU time per operation, µs.
    pub cpu_us_per_op: Option<Stat>,
    /// p99 latency, µs.
    pub p99_us: Option<Stat>,
    /// Peak RSS, KiB.
    pub peak_rss_kib: Option<Stat>,
    /// RSS growth per connection, bytes.
    pub rss_per_conn: Option<Stat>,
    /// Peak thread count.
    pub threads: Option<Stat>,
    /// Load generator CPU busy share (1.0: a load thread was always on a CPU).
    pub client_busy: Option<Stat>,
}

impl DesignResult {
    /// Whether the figures this case is about spread more than the noise threshold:
    /// rate and CPU per operation, or for `hold` (a handful of operations) the RSS per connection.
    pub fn noisy(&self) -> bool {
        let figures = if self.median.report.hold.is_some() {
            vec![self.rss_per_conn]
        } else {
            vec![self.rate, self.cpu_us_per_op]
        };
        figures.iter().flatten().any(Stat::noisy)
    }
}

/// One case's results, by design name.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    /// What was run.
    pub case: Case,
    /// `reactor`, `threaded`, for echo with the example built `tokio`, and with `--baseline`, `baseline`.
    pub designs: BTreeMap<&'static str, DesignResult>,
}

impl CaseResult {
    /// The result of `design`, if it ran.
    pub fn get(&self, design: Design) -> Option<&DesignResult> {
        self.designs.get(design.name())
    }
}

/// Runs every case of `options.preset`; `progress` gets one line per run.
pub fn run_cases(
    options: &CompareOptions,
    mut progress: impl FnMut(&str),
) -> Result<Vec<CaseResult>, CompareError> {
    let cases = super::plan::cases(options.preset);
    let (tokio, baseline) = (options.tokio.is_some(), options.baseline.is_some());
    let total: usize = cases
        .iter()
        .map(|c| c.designs(tokio, baseline).len() * options.rounds)
        .sum();
    let mut done = 0;
    let mut results = Vec::with_capacity(cases.len());
    for case in cases {
        let designs = case.designs(tokio, baseline);
        let mut runs: BTreeMap<Design, Vec<Measurement>> = BTreeMap::new();
        for round in 0..options.rounds {
            let mut order = designs.clone();
            order.rotate_left(round % designs.len());
            for design in order {
                done += 1;
                let measurement = run_one(options, &case, design)?;
                progress(&format!(
                    "[{done}/{total}] {} {design} round {}: {}",
                    case.name,
                    round + 1,
                    summary(&measurement)
                ));
                runs.entry(design).or_default().push(measurement);
            }
        }
        let designs = runs
            .into_iter()
            .map(|(design, rounds)| (design.name(), median_round(rounds)))
            .collect();
        results.push(CaseResult { case, designs });
    }
    Ok(results)
}

/// One fresh server, one load, one measurement; the server is stopped on every path.
fn run_one(
    options: &CompareOptions,
    case: &Case,
    design: Design,
) -> Result<Measurement, CompareError> {
    let (mut server, ports) = ServerProcess::start(design, options.program(design))?;
    let addr = match case.scenario {
        Scenario::Udp => ports.udp.unwrap_or(ports.tcp),
        _ => ports.tcp,
    };
    let config = case.config(addr, options.duration, options.client_threads);
    let rss_before_kib = read_status(server.pid()).map_or(0, |s| s.rss_kib);
    let sampler = Sampler::start(server.pid())
        .map_err(|err| CompareError::Spawn(format!("{design} sampler"), err))?;
    let report = loadgen::run(&config);
    let peak = sampler.finish();
    let usage = server.stop().unwrap_or_default();
    let report =
        report.map_err(|err| CompareError::Bench(format!("{} on {design}", case.name), err))?;
    Ok(Measurement {
        server_pid: server.pid(),
        report,
        rss_before_kib,
        peak,
        usage,
    })
}

/// The round with the median rate (the lower middle of an even count), and every figure's spread.
fn median_round(mut rounds: Vec<Measurement>) -> DesignResult {
    let rates: Vec<f64> = rounds.iter().map(|m| m.report.rate).collect();
    let stat = |f: &dyn Fn(&Measurement) -> Option<f64>| Stat::of(rounds.iter().filter_map(f));
    let rate = stat(&|m| (m.report.ops > 0).then_some(m.report.rate));
    let cpu_us_per_op = stat(&Measurement::cpu_us_per_op);
    let p99_us = stat(&|m| m.report.latency_us.map(|l| l.p99 as f64));
    let peak_rss_kib = stat(&|m| Some(m.peak.rss_kib as f64));
    let rss_per_conn = stat(&Measurement::rss_per_conn);
    let threads = stat(&|m| Some(m.peak.threads as f64));
    let client_busy = stat(&|m| Some(m.report.client_cpu.busy));
    rounds.sort_by(|a, b| a.report.rate.total_cmp(&b.report.rate));
    let median = rounds.swap_remove((rounds.len() - 1) / 2);
    DesignResult {
        median,
        rates,
        rate,
        cpu_us_per_op,
        p99_us,
        peak_rss_kib,
        rss_per_conn,
        threads,
        client_busy,
    }
}

/// One progress line's figures.
fn summary(m: &Measurement) -> String {
    let mut line = format!("{:.0} ops/s", m.report.rate);
    if let Some(l) = &m.report.latency_us {
        line += &format!(", p99 {} us", l.p99);
    }
    if let Some(h) = &m.report.hold {
        line += &format!(", held {} verified {}", h.established, h.verified);
    }
    line += &format!(
        ", peak RSS {} KiB, {} threads, {} errors",
        m.peak.rss_kib, m.peak.threads, m.report.errors_total
    );
    line
}
