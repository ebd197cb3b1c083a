//! One TCP event loop: a `mio::Poll` driving this thread's share of the connections.
//!
//! The loop is the same for every TCP scenario; a [`Mode`] decides what a
//! connection does next:
//!
//! - `Stream` (echo, lines): keep `pipeline` requests in flight until the
//!   deadline or the request budget runs out; a failed connection is reopened.
//! - `Churn`: connect, one round trip, close, connect again.
//! - `Hold`: the `hold` scenario drives the phases itself (see `hold.rs`),
//!   using [`Engine::open_all`], [`Engine::run_until`] and [`Engine::send_one`].
//!
//! Token `i` is connection `i` of this loop for the whole run. A reconnect
//! reuses the token, so an event left over from the previous socket may
//! arrive: it is harmless, because every handler only tries non-blocking
//! operations and stops at `WouldBlock`.
//!
//! Traffic waits for the ramp: a `Stream` loop opens its connections, then
//! sends nothing until [`Shared::traffic_start`] says every connection of the
//! run is up (the ramp is reported on its own), and replies count only inside
//! the measurement window that opens after the warm-up.
//!
//! With `--rate`, a `Stream` loop is *open-loop*: its share of the rate is a
//! schedule, request `k` of this loop due at `t0 + k / rate`, going to
//! connection `k % count`. A request is sent when it is due (or, if the
//! connection already has `pipeline` requests in flight, as soon as one is
//! answered) and its latency is measured from when it was *due*, not when it
//! went out: a server that stalls is charged for every request the stall
//! delayed, which is the coordinated-omission correction wrk2 makes.
//!
//! Timers are coarse on purpose: every [`TICK`] the loop scans its connections
//! for timeouts and retries and publishes its counters for the progress line.
//!
//! The engine is split by job, one file each:
//! - this file: the engine itself, its loop (`run_until`) and its timers;
//! - `traffic`: what a ready connection does: read and check replies, queue
//!   requests, write them;
//! - `connections`: opening (within the connect limit), failing, retrying
//!   and closing connections;
//! - `schedule`: open-loop mode's schedule of when each request is due.

mod connections;
mod schedule;
mod traffic;

use super::config::BenchConfig;
use super::conn::{Conn, State};
use super::error::ErrorKind;
use super::expect::Exchange;
use super::stats::{Shared, Stats};
use mio::{Events, Poll};
use schedule::Schedule;
use std::collections::VecDeque;
use std::io;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How often timeouts and retries are checked and progress is published.
pub const TICK: Duration = Duration::from_millis(50);

/// One read's worth of buffer, shared by every connection of the loop.
const SCRATCH: usize = 64 * 1024;
/// How long a run waits for its window when nothing else bounds it.
const FOREVER: Duration = Duration::from_secs(86_400 * 365);

/// What a connection does once it has an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Keep the pipeline full; reopen on failure.
    Stream,
    /// One round trip per connection, then close and reopen.
    Churn,
    /// Send only when told to; never reopen.
    Hold,
}

/// One thread's TCP event loop.
#[derive(Debug)]
pub struct Engine<'a> {
    config: &'a BenchConfig,
    shared: &'a Shared,
    mode: Mode,
    poll: Poll,
    /// Connection `i` has token `i`.
    pub conns: Vec<Conn>,
    /// Index of this loop's first connection in the whole run (for source addresses).
    first: usize,
    ex: Exchange,
    /// Where a connection's stamped requests are built before one `write`.
    wbuf: Vec<u8>,
    scratch: Vec<u8>,
    /// Whether the ramp is over and requests may go out.
    traffic: bool,
    /// Open-loop mode's schedule (`--rate`); `None`: closed loop.
    schedule: Option<Schedule>,
    /// Counters of this thread.
    pub stats: Stats,
    /// Connections waiting for a connect slot.
    backlog: VecDeque<usize>,
    connecting: usize,
    /// Counts already published to `shared`, for progress.
    published: (u64, u64),
}

impl<'a> Engine<'a> {
    /// A loop for connections `first..first + count` of the run.
    pub fn new(
        config: &'a BenchConfig,
        shared: &'a Shared,
        mode: Mode,
        first: usize,
        count: usize,
    ) -> io::Result<Engine<'a>> {
        let now = Instant::now();
        let ex = Exchange::new(config.protocol, config.size, false);
        let schedule = match (mode, config.rate) {
            (Mode::Stream, Some(rate)) => Some(Schedule {
                per_sec: (rate * count as f64 / config.conns as f64).max(1e-3),
                t0: None,
                cursor: 0,
            }),
            _ => None,
        };
        Ok(Engine {
            config,
            shared,
            mode,
            poll: Poll::new()?,
            conns: (0..count)
                .map(|i| Conn::new(first + i, config.pipeline, now))
                .collect(),
            first,
            wbuf: Vec::with_capacity(ex.request.len() * config.pipeline),
            ex,
            scratch: vec![0; SCRATCH],
            traffic: false,
            schedule,
            stats: Stats::new(),
            backlog: VecDeque::with_capacity(count),
            connecting: 0,
            published: (0, 0),
        })
    }

    /// Runs a `Stream` or `Churn` loop until the window closes or the budget is spent.
    pub fn run(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + FOREVER; // the window's close ends it sooner
        self.open_all(if self.mode == Mode::Churn {
            0
        } else {
            u64::MAX
        });
        let mode = self.mode;
        self.run_until(deadline, |engine| {
            engine.shared.budget_spent()
                && engine.conns.iter().all(|c| match mode {
                    Mode::Churn => c.state == State::Closed,
                    _ => !c.waiting() || c.state == State::Closed,
                })
        })?;
        self.close_all();
        Ok(())
    }

    /// Opens every connection (as connect slots allow), each to send `remaining` requests.
    pub fn open_all(&mut self, remaining: u64) {
        for i in 0..self.conns.len() {
            self.conns[i].remaining = remaining;
            self.open(i, Instant::now());
        }
    }

    /// Polls and handles events until `deadline`, a stop, or `done` (checked every tick).
    pub fn run_until(
        &mut self,
        deadline: Instant,
        mut done: impl FnMut(&Self) -> bool,
    ) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let mut next_tick = Instant::now() + TICK;
        loop {
            let now = Instant::now();
            self.start_traffic_once(now);
            let deadline = match self.shared.window() {
                Some((_, close)) => deadline.min(close),
                None => deadline,
            };
            if now >= deadline || self.shared.stopped() {
                break;
            }
            self.send_due(now);
            if now >= next_tick {
                next_tick = now + TICK;
                self.tick(now);
                if done(self) {
                    break;
                }
            }
            let mut wake = deadline.min(next_tick);
            if let Some(schedule) = &self.schedule {
                wake = wake.min(schedule.due(schedule.cursor));
            }
            let wait = wake.saturating_duration_since(now);
            match self.poll.poll(&mut events, Some(wait)) {
                Ok(()) => {}
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            }
            for event in events.iter() {
                self.handle(event);
            }
        }
        self.publish();
        Ok(())
    }

    /// On the first turn after the ramp: start the schedule and fill every pipeline.
    fn start_traffic_once(&mut self, now: Instant) {
        if self.traffic {
            return;
        }
        let Some(t0) = self.shared.traffic_start() else {
            return;
        };
        self.traffic = true;
        self.stats.mark_cpu(); // the load's CPU use is measured from here, the ramp left out
        if let Some(schedule) = &mut self.schedule {
            schedule.t0 = Some(t0);
        }
        if self.mode == Mode::Stream {
            for i in 0..self.conns.len() {
                self.fill(i, now);
                self.flush(i);
            }
        }
    }

    /// Whether every connection has had its connect resolved and no reply or greeting is owed.
    pub fn settled(&self) -> bool {
        self.backlog.is_empty() && self.connecting == 0 && self.conns.iter().all(|c| !c.waiting())
    }

    /// Queues one request on connection `i` if it is connected, and writes it.
    pub fn send_one(&mut self, i: usize) {
        let conn = &mut self.conns[i];
        if conn.state == State::Ready && !conn.waiting() {
            conn.remaining = 1;
            self.fill(i, Instant::now());
            self.flush(i);
        }
    }

    /// Closes every connection; requests still in flight are counted as unfinished.
    pub fn close_all(&mut self) {
        for i in 0..self.conns.len() {
            let mut unanswered = self.close(i) as u64;
            if self.conns[i].partial_mismatch() && unanswered > 0 {
                self.stats.error(ErrorKind::Mismatch);
                unanswered -= 1;
            }
            self.stats.unfinished += unanswered;
        }
        self.publish();
    }

    /// Times out stalled connections, reopens those whose retry is due, publishes progress.
    fn tick(&mut self, now: Instant) {
        let timeout = self.config.timeout;
        for i in 0..self.conns.len() {
            let conn = &self.conns[i];
            let stalled = match conn.state {
                State::Connecting => now.duration_since(conn.opened_at) > timeout,
                _ => conn.waiting() && now.duration_since(conn.last_progress) > timeout,
            };
            if stalled {
                let kind = if conn.partial_mismatch() {
                    ErrorKind::Mismatch
                } else {
                    ErrorKind::Timeout
                };
                self.fail(i, kind, now);
            } else if conn.retry_at.is_some_and(|at| at <= now) {
                self.conns[i].retry_at = None;
                self.open(i, now);
            }
        }
        self.publish();
    }

    /// Adds what changed since the last call to the shared progress counters.
    fn publish(&mut self) {
        let now = (self.stats.ops, self.stats.error_total());
        self.shared
            .ops
            .fetch_add(now.0 - self.published.0, Ordering::Relaxed);
        self.shared
            .errors
            .fetch_add(now.1 - self.published.1, Ordering::Relaxed);
        self.published = now;
    }
}
