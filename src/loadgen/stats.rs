//! What one event loop counts while it runs; merged into a [`Report`](super::Report) at the end.
//!
//! Each thread owns its `Stats` outright, so counting is plain arithmetic with
//! no atomics or locks on the per-operation path. The latency histogram is
//! allocated once (HdrHistogram keeps fixed-size buckets, about 3 significant
//! digits) and threads' histograms are added together afterwards.

use super::error::ErrorKind;
use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// Highest latency recorded exactly, in microseconds (one minute); above it values saturate.
const MAX_LATENCY_US: u64 = 60_000_000;

/// One thread's counters.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Operations completed and verified.
    pub ops: u64,
    /// Bytes written to the server.
    pub bytes_sent: u64,
    /// Bytes read from the server.
    pub bytes_received: u64,
    /// Connections (or UDP sockets) successfully opened.
    pub connects: u64,
    /// Requests still unanswered when the run ended.
    pub unfinished: u64,
    /// Failed operations, indexed by [`ErrorKind::index`].
    pub errors: [u64; ErrorKind::ALL.len()],
    /// Latency of each completed operation, in microseconds.
    pub latency: Histogram<u64>,
}

impl Stats {
    /// Empty counters.
    pub fn new() -> Stats {
        Stats {
            ops: 0,
            bytes_sent: 0,
            bytes_received: 0,
            connects: 0,
            unfinished: 0,
            errors: [0; ErrorKind::ALL.len()],
            // Bounds are constants known to be valid: 1 <= low, high >= 2 * low, sigfig <= 5.
            latency: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                .expect("constant histogram bounds are valid"),
        }
    }

    /// Counts one verified operation that took `elapsed`.
    pub fn record(&mut self, elapsed: Duration) {
        self.ops += 1;
        let micros = u64::try_from(elapsed.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        self.latency.saturating_record(micros);
    }

    /// Counts one failed operation.
    pub fn error(&mut self, kind: ErrorKind) {
        self.errors[kind.index()] += 1;
    }

    /// All failed operations.
    pub fn error_total(&self) -> u64 {
        self.errors.iter().sum()
    }

    /// Adds another thread's counters to these.
    pub fn merge(&mut self, other: &Stats) {
        self.ops += other.ops;
        self.bytes_sent += other.bytes_sent;
        self.bytes_received += other.bytes_received;
        self.connects += other.connects;
        self.unfinished += other.unfinished;
        for (mine, theirs) in self.errors.iter_mut().zip(other.errors) {
            *mine += theirs;
        }
        // Both histograms have the same bounds, so adding cannot fail; saturate if it did.
        let _ = self.latency.add(&other.latency);
    }
}

impl Default for Stats {
    fn default() -> Self {
        Stats::new()
    }
}

/// What every event loop shares: the stop flag, the request budget and progress counters.
///
/// Threads touch these once per operation at most (the budget) or once per
/// tick (progress), never per byte.
#[derive(Debug, Default)]
pub struct Shared {
    /// Set when the run must end (deadline reached, or a caller gave up).
    pub stop: AtomicBool,
    /// Requests handed out so far, compared with `limit`.
    issued: AtomicU64,
    /// The `--requests` budget, if any.
    limit: Option<u64>,
    /// Operations completed, published by each thread every tick (for progress).
    pub ops: AtomicU64,
    /// Errors counted, published by each thread every tick (for progress).
    pub errors: AtomicU64,
}

impl Shared {
    /// Shared state for a run with an optional request budget.
    pub fn new(limit: Option<u64>) -> Shared {
        Shared {
            limit,
            ..Shared::default()
        }
    }

    /// Takes one request from the budget; false once it is spent.
    pub fn take_request(&self) -> bool {
        match self.limit {
            None => true,
            // Overshooting the counter is harmless: it only ever gets compared.
            Some(limit) => self.issued.fetch_add(1, Ordering::Relaxed) < limit,
        }
    }

    /// Whether the budget is spent.
    pub fn budget_spent(&self) -> bool {
        self.limit
            .is_some_and(|limit| self.issued.load(Ordering::Relaxed) >= limit)
    }

    /// Whether the run must end.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_adds_counts_and_histograms() {
        let mut a = Stats::new();
        let mut b = Stats::new();
        a.record(Duration::from_micros(10));
        b.record(Duration::from_micros(1000));
        b.error(ErrorKind::Mismatch);
        a.merge(&b);
        assert_eq!(a.ops, 2);
        assert_eq!(a.latency.len(), 2);
        assert_eq!(a.errors[ErrorKind::Mismatch.index()], 1);
        assert_eq!(a.error_total(), 1);
    }

    #[test]
    fn the_budget_runs_out() {
        let shared = Shared::new(Some(2));
        assert!(shared.take_request() && shared.take_request());
        assert!(!shared.take_request());
        assert!(shared.budget_spent());
        assert!(!Shared::new(None).budget_spent());
    }
}
