//! What one event loop counts while it runs; merged into a [`Report`](super::Report) at the end.
//!
//! Each thread owns its `Stats` outright, so counting is plain arithmetic with
//! no atomics or locks on the per-operation path. The latency histogram is
//! allocated once (HdrHistogram keeps fixed-size buckets, about 3 significant
//! digits) and threads' histograms are added together afterwards.

use super::error::ErrorKind;
use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A `connect` call (non-blocking: it only starts the handshake) this slow
/// was searching for a source port.
pub const SLOW_CONNECT_CALL: Duration = Duration::from_millis(1);

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
    /// `connect` calls that took [`SLOW_CONNECT_CALL`] or more inside the call
    /// itself: the kernel searching for a free ephemeral port (see [`Stats::note_connect_call`]).
    pub slow_connect_calls: u64,
    /// Requests still unanswered when the run ended.
    pub unfinished: u64,
    /// Failed operations, indexed by [`ErrorKind::index`].
    pub errors: [u64; ErrorKind::ALL.len()],
    /// Latency of each completed operation, in microseconds.
    pub latency: Histogram<u64>,
    /// Time of each completed connect, in microseconds (the ramp's figure).
    pub connect_latency: Histogram<u64>,
    /// CPU time the load threads used (user + system), summed over threads.
    pub cpu: Duration,
    /// Wall-clock time the load threads ran, summed over threads.
    pub wall: Duration,
    /// This thread's CPU time and the wall clock when measuring began (see [`Stats::mark_cpu`]).
    cpu_mark: Option<(Duration, Instant)>,
}

/// CPU time (user + system) the calling thread has used so far.
pub fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant every POSIX system has.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// An empty latency histogram: 1 us to one minute, 3 significant digits.
fn histogram() -> Histogram<u64> {
    // Bounds are constants known to be valid: 1 <= low, high >= 2 * low, sigfig <= 5.
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("constant histogram bounds are valid")
}

/// Microseconds in `elapsed`, at least 1 (the histogram's lowest value).
fn micros(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_micros())
        .unwrap_or(u64::MAX)
        .max(1)
}

impl Stats {
    /// Empty counters.
    pub fn new() -> Stats {
        Stats {
            ops: 0,
            bytes_sent: 0,
            bytes_received: 0,
            connects: 0,
            slow_connect_calls: 0,
            unfinished: 0,
            errors: [0; ErrorKind::ALL.len()],
            latency: histogram(),
            connect_latency: histogram(),
            cpu: Duration::ZERO,
            wall: Duration::ZERO,
            cpu_mark: None,
        }
    }

    /// Starts (or restarts) measuring this thread's CPU use: call on the thread that runs the load.
    pub fn mark_cpu(&mut self) {
        self.cpu_mark = Some((thread_cpu(), Instant::now()));
    }

    /// Adds the CPU and wall time since [`Stats::mark_cpu`] to `cpu` and `wall`.
    pub fn finish_cpu(&mut self) {
        if let Some((cpu, wall)) = self.cpu_mark.take() {
            self.cpu += thread_cpu().saturating_sub(cpu);
            self.wall += wall.elapsed();
        }
    }

    /// Notes how long one non-blocking `connect` call took. It returns at once
    /// unless the kernel had to search for a source port: on loopback, with
    /// one source address, that search runs through every port in TIME_WAIT
    /// once churn opens more connections a second than it can recycle, and
    /// the event loop (every other connection) waits for it.
    pub fn note_connect_call(&mut self, call: Duration) {
        if call >= SLOW_CONNECT_CALL {
            self.slow_connect_calls += 1;
        }
    }

    /// Records one completed connect that took `elapsed`.
    pub fn record_connect(&mut self, elapsed: Duration) {
        self.connect_latency.saturating_record(micros(elapsed));
    }

    /// Failed operations whose reply failed verification (see [`ErrorKind::is_verify`]).
    pub fn verify_total(&self) -> u64 {
        ErrorKind::ALL
            .iter()
            .filter(|kind| kind.is_verify())
            .map(|kind| self.errors[kind.index()])
            .sum()
    }

    /// Counts one verified operation that took `elapsed`.
    pub fn record(&mut self, elapsed: Duration) {
        self.ops += 1;
        self.latency.saturating_record(micros(elapsed));
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
        self.slow_connect_calls += other.slow_connect_calls;
        self.unfinished += other.unfinished;
        for (mine, theirs) in self.errors.iter_mut().zip(other.errors) {
            *mine += theirs;
        }
        self.cpu += other.cpu;
        self.wall += other.wall;
        // Both histograms have the same bounds, so adding cannot fail; saturate if it did.
        let _ = self.latency.add(&other.latency);
        let _ = self.connect_latency.add(&other.connect_latency);
    }
}

impl Default for Stats {
    fn default() -> Self {
        Stats::new()
    }
}

/// What every event loop shares: the stop flag, the request budget, the
/// measurement window and progress counters.
///
/// Threads touch these once per operation at most (the budget, the window) or
/// once per tick (progress), never per byte.
#[derive(Debug)]
pub struct Shared {
    /// When the run started; the window's times are nanoseconds after it.
    base: Instant,
    /// Nanoseconds after `base` when traffic starts (the ramp ended), plus one; 0: not yet.
    traffic_at: AtomicU64,
    /// Warm-up after the ramp, before the window opens.
    warmup: Duration,
    /// How long the window stays open.
    window: Duration,
    /// Connects completed so far, over all loops (the ramp's progress).
    pub established: AtomicU64,
    /// Connections up when the ramp ended.
    ramp_connected: AtomicU64,
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
    /// Shared state for a run with an optional request budget, unbounded in time.
    pub fn new(limit: Option<u64>) -> Shared {
        Shared::with_window(limit, Duration::ZERO, Duration::from_secs(86_400 * 365))
    }

    /// Shared state whose window opens `warmup` after the ramp and lasts `window`.
    pub fn with_window(limit: Option<u64>, warmup: Duration, window: Duration) -> Shared {
        Shared {
            base: Instant::now(),
            traffic_at: AtomicU64::new(0),
            warmup,
            window,
            established: AtomicU64::new(0),
            ramp_connected: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            issued: AtomicU64::new(0),
            limit,
            ops: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        }
    }

    /// Ends the ramp at `at`: traffic starts, and the window opens after the warm-up.
    pub fn start_traffic(&self, at: Instant) {
        let nanos = at.saturating_duration_since(self.base).as_nanos() as u64;
        let _ =
            self.traffic_at
                .compare_exchange(0, nanos + 1, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// Records how many connections were up when the ramp ended.
    pub fn set_ramp_connected(&self, up: u64) {
        self.ramp_connected.store(up, Ordering::Relaxed);
    }

    /// How many connections were up when the ramp ended (0: no ramp).
    pub fn ramp_connected(&self) -> u64 {
        self.ramp_connected.load(Ordering::Relaxed)
    }

    /// When traffic started, if the ramp is over.
    pub fn traffic_start(&self) -> Option<Instant> {
        match self.traffic_at.load(Ordering::Relaxed) {
            0 => None,
            n => Some(self.base + Duration::from_nanos(n - 1)),
        }
    }

    /// The measurement window, once the ramp is over: `(opens, closes)`.
    pub fn window(&self) -> Option<(Instant, Instant)> {
        let open = self.traffic_start()? + self.warmup;
        Some((open, open + self.window))
    }

    /// Whether `now` is inside the measurement window.
    pub fn measuring(&self, now: Instant) -> bool {
        self.window()
            .is_some_and(|(open, close)| open <= now && now < close)
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
