//! One process's crowd of connections and the event loop that opens, checks and holds them.
//!
//! Per connection this keeps 8 bytes: the socket (a descriptor) and three
//! small counters. The payload of each round trip is computed from the
//! connection's number instead of stored: 8 bytes, the run-wide connection id
//! shifted left once plus the round (0 at the start, 1 for the sample). An echo
//! must return exactly those bytes, so a reply that went to the wrong
//! connection, or came back stale from the first round, is caught.
//!
//! Timeouts need no scan: every connection in flight has the same timeout, so
//! the oldest is always at the front of a FIFO, and a loop turn only looks at
//! the front. While holding, the loop sleeps in `epoll_wait` with no timeout
//! at all (or until the hold ends): an idle crowd costs this process nothing.
//!
//! The work is split by job: this file is the loop (opening at most
//! `--window` connections at once, expiring the overdue, sleeping while
//! holding); `round_trip` is what one connection does when it is ready
//! (finish its connect, write the payload, check the echo, count a failure);
//! `connect` makes the socket itself, from a chosen source address.

mod connect;
mod round_trip;

use super::MassConfig;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use socket2::SockRef;
use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::time::{Duration, Instant};

/// Bytes of one round trip's payload.
const PAYLOAD: u8 = 8;
/// The wake source's token, outside the connections' range.
const WAKE: Token = Token(usize::MAX);
/// Longest wait between loop turns while connections are in flight.
const TURN: Duration = Duration::from_millis(100);

/// Where one connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Not opened yet.
    New,
    /// Non-blocking connect in progress.
    Connecting,
    /// Payload sent (or being sent), echo not complete.
    Echoing,
    /// Idle, every round so far verified.
    Held,
    /// Failed or lost; the socket is gone.
    Failed,
}

/// One connection: its socket and where its round trip stands.
#[derive(Debug)]
struct Slot {
    stream: Option<TcpStream>,
    phase: Phase,
    /// Round trips verified so far.
    rounds: u8,
    /// Payload bytes of the current round written, and echoed bytes matched.
    written: u8,
    matched: u8,
}

/// The connections of this process and their event loop.
#[derive(Debug)]
pub struct Crowd<'a> {
    config: &'a MassConfig,
    poll: Poll,
    slots: Vec<Slot>,
    /// Connections opening or echoing, with their deadlines, oldest first (finished ones linger
    /// until they reach the front; a connection has at most one entry per phase).
    pending: VecDeque<(usize, Instant)>,
    in_flight: usize,
    /// Connects that completed.
    pub established: u64,
    /// Failures by cause, e.g. "connect: Connection refused (os error 111)".
    pub errors: BTreeMap<String, u64>,
    /// Whether the wake source has fired.
    woken: bool,
}

impl<'a> Crowd<'a> {
    /// A crowd of `config.conns` connections, none opened yet.
    pub fn new(config: &'a MassConfig) -> io::Result<Crowd<'a>> {
        let slots = (0..config.conns)
            .map(|_| Slot {
                stream: None,
                phase: Phase::New,
                rounds: 0,
                written: 0,
                matched: 0,
            })
            .collect();
        Ok(Crowd {
            config,
            poll: Poll::new()?,
            slots,
            pending: VecDeque::new(),
            in_flight: 0,
            established: 0,
            errors: BTreeMap::new(),
            woken: false,
        })
    }

    /// Opens every connection, at most `window` at once, and verifies each with one echo.
    pub fn establish(&mut self) -> io::Result<()> {
        let mut next = 0;
        let mut events = Events::with_capacity(1024);
        loop {
            while self.in_flight < self.config.window && next < self.slots.len() {
                self.open(next);
                next += 1;
            }
            if self.in_flight == 0 && next == self.slots.len() {
                return Ok(());
            }
            self.turn(&mut events)?;
        }
    }

    /// Connections whose every round trip so far was verified and that are still open.
    pub fn held(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.slots.len()).filter(|&i| self.slots[i].phase == Phase::Held)
    }

    /// Connections verified at least `rounds` times (open or not since).
    pub fn verified(&self, rounds: u8) -> usize {
        self.slots.iter().filter(|s| s.rounds >= rounds).count()
    }

    /// Sleeps in the poll until `end` (or, with `None`, forever); a held connection that
    /// becomes readable was closed or written to by the server and is counted as lost.
    /// Returns early, with true, once the wake source has fired (even during `establish`).
    pub fn hold(&mut self, end: Option<Instant>) -> io::Result<bool> {
        let mut events = Events::with_capacity(1024);
        while !self.woken {
            let now = Instant::now();
            let timeout = match end {
                Some(end) if end <= now => return Ok(false),
                Some(end) => Some(end - now),
                None => None,
            };
            self.poll_once(&mut events, timeout)?;
        }
        Ok(true)
    }

    /// Registers `source` (a signal pipe) under `WAKE`; its first event ends a [`hold`](Self::hold).
    pub fn watch(&mut self, source: &mut impl mio::event::Source) -> io::Result<()> {
        self.poll
            .registry()
            .register(source, WAKE, Interest::READABLE)
    }

    /// Sends round two's payload on each of `picked` and waits for every echo or its timeout.
    pub fn reverify(&mut self, picked: &[usize]) -> io::Result<()> {
        // Nothing is in flight after `establish`; entries left in the FIFO are finished
        // ones, and an old deadline must not time out a connection's new round trip.
        self.pending.clear();
        let deadline = Instant::now() + self.config.timeout;
        for &i in picked {
            if self.slots[i].phase == Phase::Held {
                self.in_flight += 1;
                self.pending.push_back((i, deadline));
                self.begin_echo(i);
            }
        }
        let mut events = Events::with_capacity(1024);
        while self.in_flight > 0 {
            self.turn(&mut events)?;
        }
        Ok(())
    }

    /// Closes every socket with a reset (SO_LINGER 0), so the run leaves no TIME_WAIT behind.
    pub fn close_all(&mut self) {
        for slot in &mut self.slots {
            if let Some(stream) = slot.stream.take() {
                let _ = SockRef::from(&stream).set_linger(Some(Duration::ZERO));
            }
        }
    }

    /// One loop turn while connections are in flight: expire the overdue, then wait for events.
    fn turn(&mut self, events: &mut Events) -> io::Result<()> {
        let now = Instant::now();
        while let Some(&(i, deadline)) = self.pending.front() {
            if !matches!(self.slots[i].phase, Phase::Connecting | Phase::Echoing) {
                self.pending.pop_front();
            } else if deadline <= now {
                self.pending.pop_front();
                let what = if self.slots[i].phase == Phase::Connecting {
                    "connect"
                } else {
                    "echo"
                };
                self.fail(
                    i,
                    format!("{what}: not done within {:?}", self.config.timeout),
                );
            } else {
                break;
            }
        }
        let wait = self
            .pending
            .front()
            .map_or(TURN, |&(_, d)| d.saturating_duration_since(now));
        self.poll_once(events, Some(wait.min(TURN)))
    }

    fn poll_once(&mut self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        match self.poll.poll(events, timeout) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(err) => return Err(err),
        }
        for event in events.iter() {
            let i = event.token().0;
            if event.token() == WAKE {
                self.woken = true;
            } else if i < self.slots.len() {
                self.handle(i);
            }
        }
        Ok(())
    }
}
