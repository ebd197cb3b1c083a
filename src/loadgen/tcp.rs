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
//! A scan of 10,000 connections every 50 ms costs far less than the replies.

use super::config::BenchConfig;
use super::conn::{Conn, State};
use super::error::ErrorKind;
use super::expect::Exchange;
use super::stats::{Shared, Stats};
use mio::event::Event;
use mio::{Events, Interest, Poll, Token};
use std::collections::VecDeque;
use std::io;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How often timeouts and retries are checked and progress is published.
pub const TICK: Duration = Duration::from_millis(50);
/// Connects in progress at once per loop, so a server's accept backlog is not flooded.
const MAX_CONNECTING: usize = 256;
/// Wait before reconnecting after a failed connect, so a dead server is not spun on.
const RETRY_DELAY: Duration = Duration::from_millis(100);
/// One read's worth of buffer, shared by every connection of the loop.
const SCRATCH: usize = 64 * 1024;
/// How long a run waits for its window when nothing else bounds it.
const FOREVER: Duration = Duration::from_secs(86_400 * 365);

/// Open-loop mode: when each of this loop's requests is due.
#[derive(Debug)]
struct Schedule {
    /// Requests per second for this loop (its share of `--rate`).
    per_sec: f64,
    /// When request 0 is due: the start of traffic.
    t0: Option<Instant>,
    /// The next request of the loop's schedule not yet handed to its connection.
    cursor: u64,
}

impl Schedule {
    /// When request `k` of this loop is due (far in the future before traffic starts).
    fn due(&self, k: u64) -> Instant {
        match self.t0 {
            Some(t0) => t0 + Duration::from_secs_f64(k as f64 / self.per_sec),
            None => Instant::now() + FOREVER,
        }
    }
}

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

    /// Open-loop mode: hands every request now due to its connection, in schedule order.
    fn send_due(&mut self, now: Instant) {
        let count = self.conns.len() as u64;
        loop {
            let Some(schedule) = &mut self.schedule else {
                return;
            };
            if schedule.due(schedule.cursor) > now {
                return;
            }
            let i = (schedule.cursor % count) as usize;
            schedule.cursor += 1;
            // `fill` sends every due request of connection `i`, this one included.
            self.fill(i, now);
            self.flush(i);
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

    fn handle(&mut self, event: &Event) {
        let i = event.token().0;
        if i >= self.conns.len() || self.conns[i].state == State::Closed {
            return; // stale: the connection was closed earlier in this batch
        }
        let now = Instant::now();
        if self.conns[i].state == State::Connecting {
            let greeting = self.ex.greeting.is_some();
            match self.conns[i].finish_connect(greeting, &mut self.stats, now) {
                Ok(false) => return,
                Ok(true) => {
                    self.connecting -= 1;
                    self.stats.connects += 1;
                    if self.stats.connects <= self.conns.len() as u64 {
                        // The ramp counts first connects; reconnects come later.
                        self.shared.established.fetch_add(1, Ordering::Relaxed);
                    }
                    self.open_backlog(now);
                }
                Err(kind) => return self.fail(i, kind, now),
            }
        }
        let measuring = self.shared.measuring(now);
        let Engine {
            conns,
            ex,
            scratch,
            stats,
            ..
        } = self;
        let read_closed = event.is_read_closed();
        if let Err(kind) = conns[i].read(ex, scratch, stats, (now, measuring, read_closed)) {
            return self.fail(i, kind, now);
        }
        self.after_reply(i, now);
        self.flush(i);
    }

    /// Decides what a connection does after reading: queue what its mode allows, or
    /// (churn, after its one reply) close and reopen.
    fn after_reply(&mut self, i: usize, now: Instant) {
        let conn = &self.conns[i];
        match self.mode {
            Mode::Churn if conn.state == State::Ready && conn.remaining == 0 && !conn.waiting() => {
                self.close(i);
                self.open(i, now);
            }
            _ => self.fill(i, now),
        }
    }

    /// Queues requests until the pipeline is full, the phase's quota is sent or the budget is spent.
    ///
    /// Open loop: only requests already due, each timed from when it was due.
    fn fill(&mut self, i: usize, now: Instant) {
        let count = self.conns.len() as u64;
        let conn = &mut self.conns[i];
        if conn.state != State::Ready || self.shared.stopped() || !self.traffic {
            return;
        }
        while conn.remaining > 0 && conn.sent_at.len() < self.config.pipeline {
            let due = self
                .schedule
                .as_ref()
                .map(|s| s.due(conn.scheduled * count + i as u64));
            if due.is_some_and(|due| due > now) {
                break;
            }
            if self.mode == Mode::Stream && !self.shared.take_request() {
                conn.remaining = 0;
                break;
            }
            // Churn times the whole connect + round trip; the others the round trip.
            let at = match (self.mode, due) {
                (Mode::Churn, _) => conn.opened_at,
                (_, Some(due)) => due,
                _ => now,
            };
            conn.scheduled += u64::from(due.is_some());
            conn.enqueue(at, now);
        }
    }

    fn flush(&mut self, i: usize) {
        let Engine {
            conns,
            ex,
            wbuf,
            stats,
            ..
        } = self;
        if let Err(kind) = conns[i].write(ex, wbuf, stats) {
            self.fail(i, kind, Instant::now());
        }
    }

    /// Starts connection `i` now, or queues it while too many connects are in progress.
    fn open(&mut self, i: usize, now: Instant) {
        if self.shared.stopped() {
            return;
        }
        if self.connecting >= MAX_CONNECTING {
            self.backlog.push_back(i);
            return;
        }
        if self.mode == Mode::Churn {
            // Churn spends one request per connection, at the connect.
            if !self.shared.take_request() {
                return;
            }
            self.conns[i].remaining = 1;
        }
        let source = self.config.source(self.first + i);
        let conn = &mut self.conns[i];
        let call = Instant::now();
        let opened = conn.open(self.config.addr, source, now);
        self.stats.note_connect_call(call.elapsed());
        let registered = opened.and_then(|()| {
            let stream = conn.stream.as_mut().expect("open just set the stream");
            self.poll
                .registry()
                .register(stream, Token(i), Interest::READABLE | Interest::WRITABLE)
        });
        match registered {
            Ok(()) => self.connecting += 1,
            Err(_) => {
                self.close(i);
                self.stats.error(ErrorKind::Connect);
                self.retry_later(i, now);
            }
        }
    }

    fn open_backlog(&mut self, now: Instant) {
        while self.connecting < MAX_CONNECTING {
            let Some(i) = self.backlog.pop_front() else {
                break;
            };
            self.open(i, now);
        }
    }

    /// Counts a failure, closes the connection and (outside `hold`) schedules a reopen.
    fn fail(&mut self, i: usize, kind: ErrorKind, now: Instant) {
        self.stats.error(kind);
        self.close(i);
        self.open_backlog(now);
        match self.mode {
            Mode::Hold => {}
            _ if kind == ErrorKind::Connect => self.retry_later(i, now),
            _ => self.open(i, now),
        }
    }

    fn retry_later(&mut self, i: usize, now: Instant) {
        if self.mode != Mode::Hold {
            self.conns[i].retry_at = Some(now + RETRY_DELAY);
        }
    }

    /// Deregisters and drops connection `i`'s socket; returns requests left unanswered.
    fn close(&mut self, i: usize) -> usize {
        let conn = &mut self.conns[i];
        if conn.state == State::Connecting {
            self.connecting -= 1;
        }
        if let Some(stream) = conn.stream.as_mut() {
            // Dropping the socket would deregister it too; doing it first keeps mio's rules.
            let _ = self.poll.registry().deregister(stream);
        }
        conn.close()
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
