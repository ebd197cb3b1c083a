//! A one-line progress display on stderr for runs longer than two seconds.
//!
//! The event loops publish their counts to [`Shared`] every tick; this thread
//! reads them twice a second and rewrites one line with `\r`. Nothing is shown
//! when stderr is not a terminal, so logs and pipes stay clean.

use super::stats::Shared;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Runs shorter than this show no progress.
const MIN_RUN: Duration = Duration::from_secs(2);
/// How often the line is redrawn.
const EVERY: Duration = Duration::from_millis(500);

/// Whether a run of `duration` should show progress, given the caller wants it.
pub fn wanted(requested: bool, duration: Duration) -> bool {
    requested && duration > MIN_RUN && std::io::stderr().is_terminal()
}

/// Redraws the progress line until `finished` is set, then erases it.
pub fn show(shared: &Shared, duration: Duration, finished: &AtomicBool) {
    let start = Instant::now();
    let mut next_draw = start + EVERY;
    let mut stderr = std::io::stderr();
    while !finished.load(Ordering::Relaxed) {
        // Short naps so the line disappears promptly when the run ends.
        std::thread::sleep(Duration::from_millis(50));
        if Instant::now() < next_draw {
            continue;
        }
        next_draw += EVERY;
        let elapsed = start.elapsed();
        let ops = shared.ops.load(Ordering::Relaxed);
        let errors = shared.errors.load(Ordering::Relaxed);
        let rate = ops as f64 / elapsed.as_secs_f64().max(1e-3);
        // A failed write to stderr is not worth stopping a benchmark for.
        let _ = write!(
            stderr,
            "\r{:>5.1}/{:.1} s  {ops} ops  {rate:.0} ops/s  {errors} errors   ",
            elapsed.as_secs_f64(),
            duration.as_secs_f64()
        );
        let _ = stderr.flush();
    }
    let _ = write!(stderr, "\r{:60}\r", "");
}
