//! The `hold` scenario: many idle connections, verified before and after the hold.
//!
//! Phases, each loop on its own share of the connections:
//!
//! 1. Open every connection (at most 256 connects in progress per loop) and
//!    make one echo round trip on each. A connection counts as *established*
//!    when its connect completes and as *verified* when its reply matches.
//! 2. Hold them all idle for `duration`, still polling: a server that closes
//!    or resets an idle connection is caught here and counted as lost.
//! 3. Make one more round trip on an evenly spread sample of the verified
//!    connections that are still open, then close everything.
//!
//! Nothing is reopened in `hold`: the point is to count what the server keeps.

use super::config::BenchConfig;
use super::conn::State;
use super::report::HoldReport;
use super::stats::Shared;
use super::stats::Stats;
use super::tcp::{Engine, Mode};
use std::io;
use std::time::{Duration, Instant};

/// Runs the three phases on connections `first..first + count`; `sample` of them are re-checked.
pub fn run(
    config: &BenchConfig,
    shared: &Shared,
    first: usize,
    count: usize,
    sample: usize,
) -> io::Result<(Stats, HoldReport)> {
    let mut engine = Engine::new(config, shared, Mode::Hold, first, count)?;

    // Phase 1: connect and verify. Bounded by the timeouts, plus 1 ms per connection for the queue.
    let cap = Instant::now() + config.timeout * 3 + Duration::from_millis(count as u64);
    engine.open_all(1);
    engine.run_until(cap, Engine::settled)?;
    let established = engine.conns.iter().filter(|c| c.established).count();
    let verified: Vec<usize> = (0..count)
        .filter(|&i| engine.conns[i].ok_replies >= 1)
        .collect();

    // Phase 2: hold, noticing any connection the server drops.
    engine.run_until(Instant::now() + config.duration, |_| false)?;
    let alive: Vec<usize> = verified
        .iter()
        .copied()
        .filter(|&i| engine.conns[i].state == State::Ready)
        .collect();

    // Phase 3: re-verify an evenly spread sample of the survivors.
    let picked: Vec<usize> = spread(alive.len(), sample).map(|k| alive[k]).collect();
    for &i in &picked {
        engine.send_one(i);
    }
    let cap = Instant::now() + config.timeout;
    engine.run_until(cap, |e| picked.iter().all(|&i| !e.conns[i].waiting()))?;
    let sample_verified = picked
        .iter()
        .filter(|&&i| engine.conns[i].ok_replies >= 2)
        .count();

    engine.close_all();
    let report = HoldReport {
        target: count as u64,
        established: established as u64,
        verified: verified.len() as u64,
        sampled: picked.len() as u64,
        sample_verified: sample_verified as u64,
        lost_while_idle: (verified.len() - alive.len()) as u64,
    };
    Ok((engine.stats, report))
}

/// `want` indexes spread evenly over `0..len` (all of them when `want >= len`).
fn spread(len: usize, want: usize) -> impl Iterator<Item = usize> {
    let want = want.min(len);
    (0..want).map(move |k| k * len / want)
}

/// Adds one loop's hold figures to another's.
pub fn merge(total: &mut HoldReport, part: &HoldReport) {
    total.target += part.target;
    total.established += part.established;
    total.verified += part.verified;
    total.sampled += part.sampled;
    total.sample_verified += part.sample_verified;
    total.lost_while_idle += part.lost_while_idle;
}

#[cfg(test)]
mod tests {
    use super::spread;

    #[test]
    fn samples_are_spread_and_distinct() {
        assert_eq!(spread(10, 3).collect::<Vec<_>>(), [0, 3, 6]);
        assert_eq!(spread(2, 5).collect::<Vec<_>>(), [0, 1]);
        assert_eq!(spread(0, 5).count(), 0);
    }
}
