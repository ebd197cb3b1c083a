//! The load generator behind `reactord bench`: non-blocking, multi-threaded, verifying.
//!
//! A load generator must not be the bottleneck it claims to measure, and must
//! not trust the server it measures. So:
//!
//! - It is itself an event loop (mio), not a thread per connection: `--threads
//!   N` loops, each a std thread with its own `Poll` and its share of the
//!   connections, nothing shared between them but a few atomics.
//! - Every reply is checked byte for byte as it arrives (timestamps by shape).
//!   A wrong reply is counted as a `mismatch`, never a panic; a failed
//!   connection is counted by kind and reopened, never the end of the run.
//! - The per-request path does not allocate: each loop builds the request
//!   and reply template once (see [`expect`]), connections keep offsets into
//!   them and a preallocated ring of send times, one scratch buffer per loop
//!   takes every read, and latencies go into a fixed-size HdrHistogram.
//! - Every run is bounded by `duration` and optionally by a request count,
//!   and closes everything it opened.
//! - A run has phases, so the figures describe the steady state: the *ramp*
//!   (every connection opened; its connect rate and connect latency are
//!   reported on their own), the *warm-up* (`--warmup`, traffic not counted),
//!   then the *window* of `duration` in which operations are counted. Churn
//!   and UDP have no ramp (a connect is part of their operation).
//! - It measures its own CPU time and says when it, not the server, was the
//!   bottleneck; `reactord bench` exits non-zero when any operation failed.
//!
//! # Layout
//!
//! - [`config`]: [`BenchConfig`] and its checks. [`args`]: the clap flags.
//! - [`expect`]: requests and reply templates. [`conn`]: one TCP connection.
//!   [`connect`]: its socket, from a source address if asked.
//! - [`tcp`]: the TCP event loop (echo, lines, churn). [`hold`]: the hold phases.
//! - [`udp`]: datagram ping-pong. [`stats`]: counters. [`report`]: the result.
//! - [`progress`]: the stderr progress line.
//! - [`mass`]: `reactord mass-hold`, a frugal crowd of held connections (scripts/million.sh).
//!
//! # Use from code
//!
//! ```no_run
//! use reactord::loadgen::{self, BenchConfig, Scenario};
//! let mut config = BenchConfig::new(Scenario::Echo, "127.0.0.1:7007".parse().unwrap());
//! config.conns = 100;
//! let report = loadgen::run(&config).unwrap();
//! println!("{} ops/s, p99 {:?} us", report.rate, report.latency_us.map(|l| l.p99));
//! ```

pub mod args;
pub mod config;
pub mod conn;
pub mod connect;
pub mod error;
pub mod expect;
pub mod hold;
pub mod mass;
pub mod progress;
pub mod report;
pub mod stats;
pub mod tcp;
pub mod udp;

pub use args::BenchArgs;
pub use config::{BenchConfig, Scenario};
pub use error::{BenchError, ErrorKind};
pub use report::{HoldReport, Latency, Report};

use report::Phases;
use stats::{Shared, Stats};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tcp::{Engine, Mode};

/// File descriptors kept free for everything that is not a benchmark socket.
const FD_RESERVE: u64 = 64;

/// Runs `config`'s parsed flags and prints the report (table, or JSON with `--json`).
///
/// Fails (a non-zero exit) when any operation failed or any reply failed
/// verification, unless `--allow-errors`; a hint names the likely cause when
/// the server refused or reset connections.
pub fn main(args: &BenchArgs) -> Result<(), Box<dyn std::error::Error>> {
    let config = args.config()?;
    let report = run(&config)?;
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{report}");
    }
    if let Some(hint) = report.hint() {
        eprintln!("hint: {hint}");
    }
    if report.errors_total > 0 && !args.allow_errors {
        return Err(format!(
            "{} operation(s) failed, {} of them verification errors (--allow-errors accepts this)",
            report.errors_total, report.verify_errors.total
        )
        .into());
    }
    Ok(())
}

/// Runs one benchmark and returns what it measured.
///
/// Fails only when the run cannot start (a bad configuration, no event loop,
/// too few file descriptors); failures during the run are counted in the report.
pub fn run(config: &BenchConfig) -> Result<Report, BenchError> {
    config.validate()?;
    check_fd_limit(config.conns)?;
    // `hold` runs its own phases: its window is the whole run.
    let shared = match config.scenario {
        Scenario::Hold => Shared::new(config.requests),
        _ => Shared::with_window(config.requests, config.warmup, config.duration),
    };
    let finished = AtomicBool::new(false);
    let start = Instant::now();
    let ramped = matches!(config.scenario, Scenario::Echo | Scenario::Lines);
    if !ramped {
        shared.start_traffic(start);
    }

    let results = std::thread::scope(|scope| {
        if progress::wanted(config.progress, config.duration) {
            scope.spawn(|| progress::show(&shared, config.duration, &finished));
        }
        let handles = spawn_workers(scope, config, &shared)?;
        if ramped {
            wait_for_ramp(config, &shared, &handles);
        }
        let panicked =
            || BenchError::Setup("run a load thread", std::io::Error::other("it panicked"));
        let results: Vec<WorkerResult> = handles
            .into_iter()
            .map(|handle| handle.join().unwrap_or_else(|_| Err(panicked())))
            .collect();
        finished.store(true, Ordering::Relaxed);
        Ok::<_, BenchError>(results)
    })?;

    let end = Instant::now();
    let mut stats = Stats::new();
    let mut hold: Option<HoldReport> = None;
    for result in results {
        let (part, part_hold) = result?;
        stats.merge(&part);
        match (&mut hold, part_hold) {
            (Some(total), Some(part)) => hold::merge(total, &part),
            (None, part) => hold = part,
            (Some(_), None) => {}
        }
    }
    let traffic = shared.traffic_start().unwrap_or(end);
    let (open, close) = shared.window().unwrap_or((end, end));
    let phases = Phases {
        ramp: traffic.saturating_duration_since(start),
        ramp_connected: shared.ramp_connected(),
        window: end.min(close).saturating_duration_since(open),
    };
    Ok(Report::new(config, &stats, phases, hold))
}

/// Waits until every connection is up, or until none has come up for `timeout`,
/// then starts the traffic (and so the warm-up and the window).
fn wait_for_ramp(
    config: &BenchConfig,
    shared: &Shared,
    handles: &[std::thread::ScopedJoinHandle<'_, WorkerResult>],
) {
    let mut seen = 0;
    let mut last_change = Instant::now();
    loop {
        let now = Instant::now();
        let up = shared.established.load(Ordering::Relaxed);
        if up != seen {
            (seen, last_change) = (up, now);
        }
        let stalled = now.duration_since(last_change) >= config.timeout;
        let gone = shared.stopped() || handles.iter().all(|h| h.is_finished());
        if up >= config.conns as u64 || stalled || gone {
            shared.set_ramp_connected(up);
            shared.start_traffic(now);
            return;
        }
        std::thread::sleep(RAMP_POLL);
    }
}

/// How often the ramp's progress is checked.
const RAMP_POLL: Duration = Duration::from_millis(1);

/// What one worker thread hands back.
type WorkerResult = Result<(Stats, Option<HoldReport>), BenchError>;

/// Spawns one worker per thread on its share of the connections.
fn spawn_workers<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    config: &'scope BenchConfig,
    shared: &'scope Shared,
) -> Result<Vec<std::thread::ScopedJoinHandle<'scope, WorkerResult>>, BenchError> {
    let threads = config.threads.min(config.conns);
    let mut handles = Vec::with_capacity(threads);
    let mut first = 0;
    for t in 0..threads {
        let count = share(config.conns, threads, t);
        let sample = share(config.sample, threads, t);
        let spawned = std::thread::Builder::new()
            .name(format!("bench-{t}"))
            .spawn_scoped(scope, move || worker(config, shared, first, count, sample));
        first += count;
        match spawned {
            Ok(handle) => handles.push(handle),
            Err(err) => {
                // The scope joins the threads already started; tell them to stop now.
                shared.stop.store(true, Ordering::Relaxed);
                return Err(BenchError::Setup("spawn a load thread", err));
            }
        }
    }
    Ok(handles)
}

/// One thread's run: its share `first..first + count` of the connections.
fn worker(
    config: &BenchConfig,
    shared: &Shared,
    first: usize,
    count: usize,
    sample: usize,
) -> WorkerResult {
    let setup = |err| {
        shared.stop.store(true, Ordering::Relaxed);
        BenchError::Setup("run an event loop", err)
    };
    let (mut stats, hold) = match config.scenario {
        Scenario::Udp => (udp::run(config, shared, count).map_err(setup)?, None),
        Scenario::Hold => {
            let (stats, h) = hold::run(config, shared, first, count, sample).map_err(setup)?;
            (stats, Some(h))
        }
        scenario => {
            let mode = if scenario == Scenario::Churn {
                Mode::Churn
            } else {
                Mode::Stream
            };
            let mut engine = Engine::new(config, shared, mode, first, count).map_err(setup)?;
            engine.run().map_err(setup)?;
            (engine.stats, None)
        }
    };
    stats.finish_cpu();
    Ok((stats, hold))
}

/// Thread `t`'s share of `total` items split over `threads` (earlier threads get the remainder).
fn share(total: usize, threads: usize, t: usize) -> usize {
    total / threads + usize::from(t < total % threads)
}

/// Raises the open-file soft limit to the hard limit and checks `conns` fit under it.
fn check_fd_limit(conns: usize) -> Result<(), BenchError> {
    let limit = rlimit::increase_nofile_limit(u64::MAX)
        .map_err(|err| BenchError::Setup("raise the open-file limit", err))?;
    let needed = conns as u64 + FD_RESERVE;
    if needed > limit {
        return Err(BenchError::Invalid(format!(
            "--conns {conns} needs about {needed} file descriptors; the limit is {limit} \
             (the server under test needs its own too if it runs in this process)"
        )));
    }
    Ok(())
}

/// How long a run of `config` can take at most, for callers that want a watchdog.
pub fn max_run_time(config: &BenchConfig) -> Duration {
    match config.scenario {
        Scenario::Hold => {
            config.duration + config.timeout * 4 + Duration::from_millis(config.conns as u64)
        }
        // The ramp ends at the latest `timeout` after the last connect completed.
        _ => {
            config.warmup
                + config.duration
                + config.timeout * 2
                + Duration::from_millis(config.conns as u64 + 100)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::share;

    #[test]
    fn shares_add_up() {
        for (total, threads) in [(10, 3), (2, 2), (7, 1), (5, 8)] {
            let sum: usize = (0..threads).map(|t| share(total, threads, t)).sum();
            assert_eq!(sum, total);
        }
        assert_eq!(share(10, 3, 0), 4);
    }
}
