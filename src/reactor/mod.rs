//! The event loop: one thread, one `mio::Poll`, every socket non-blocking.
//!
//! This is the only module that touches mio. Everything protocol-specific is
//! delegated to [`crate::protocol`]; the reactor moves bytes and enforces limits.
//!
//! # The rules of the game (from mio's `Poll` documentation)
//!
//! - **Readiness is a hint.** An event says a socket *may* be ready. The read
//!   or write can still return `WouldBlock` (a *spurious* event), so every
//!   handler here is safe to call at any time: it just meets `WouldBlock`.
//! - **Drain readiness.** mio is edge-triggered: after an event, no new one
//!   comes until the socket goes from not-ready to ready again. So the loop
//!   accepts until `WouldBlock`, reads until `WouldBlock`, writes until
//!   `WouldBlock`. A source that stops early for fairness (it used its turn's
//!   budget) is put on the `yielded` list and served again next turn with a
//!   zero poll timeout; one busy client can never starve the others.
//! - **Interrupted is not an error.** `EINTR` is retried.
//! - **Stale events are normal.** Closing a connection in the middle of a
//!   batch leaves its later events in the batch; the token's generation (see
//!   [`token`]) keeps them from reaching a new connection in the same slot.
//! - **Write interest only while needed.** Replies are written at once; only
//!   when the kernel's buffer is full does a connection ask for writable events.
//! - **One connection's error is its own.** It is logged with the token and
//!   closes that connection alone; nothing in the loop uses `?` on a client.
//!
//! # Files
//!
//! - `token.rs`: the token space. `connection.rs`: one TCP connection's I/O.
//! - `accept.rs`: accepting within `--max-conns` and surviving `EMFILE`.
//! - `udp.rs`: datagrams. `timers.rs`: idle deadlines. `shutdown.rs`: signals and draining.
//! - `guard.rs`: per-source limits (connections, connection rate, UDP reply budget).

mod accept;
mod connection;
mod guard;
mod shutdown;
mod stats;
mod timers;
pub mod token;
mod udp;

pub use shutdown::ShutdownHandle;
pub use stats::{Stats, StatsHandle};

use crate::config::{Binding, Limits, ServerConfig, Transport};
use crate::protocol::Framing;
use connection::{Connection, Outcome, Scratch};
use mio::net::{TcpListener, UdpSocket};
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;
use std::fmt;
use std::io;
use std::mem;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use token::Target;

/// One read, and the largest UDP datagram, fits in this many bytes.
const READ_SIZE: usize = 64 * 1024;
/// Events taken from the kernel per `poll` call.
const EVENTS_CAPACITY: usize = 1024;

/// A socket the loop listens on.
#[derive(Debug)]
enum Source {
    Listener {
        socket: TcpListener,
        binding: Binding,
    },
    Udp {
        socket: UdpSocket,
        binding: Binding,
    },
}

/// Starting the reactor failed.
#[derive(Debug)]
pub enum StartError {
    /// The poll instance or its waker could not be created.
    Poll(io::Error),
    /// A socket could not be bound (address in use, permission, ...).
    Bind {
        /// What was being bound.
        binding: Binding,
        /// Why it failed.
        source: io::Error,
    },
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Poll(err) => write!(f, "cannot create the event loop: {err}"),
            StartError::Bind { binding, source } => write!(f, "cannot bind {binding}: {source}"),
        }
    }
}

impl std::error::Error for StartError {}

/// The event loop and everything it owns. A plain value: no globals, so
/// several reactors can run side by side (tests do).
#[derive(Debug)]
pub struct Reactor {
    poll: Poll,
    events: Events,
    sources: Vec<Option<Source>>,
    connections: Slab<Connection>,
    next_generation: u32,
    scratch: Scratch,
    timers: timers::Timers,
    framing: Framing,
    limits: Limits,
    stats: Stats,
    published: StatsHandle,
    /// Served again next turn: sources that used up their budget.
    yielded: Vec<Token>,
    accept: accept::AcceptState,
    guard: guard::Guard,
    shutdown: shutdown::ShutdownState,
}

impl Reactor {
    /// Binds every socket in `config` and prepares the loop; nothing is served until [`run`](Self::run).
    pub fn bind(config: &ServerConfig) -> Result<Reactor, StartError> {
        let poll = Poll::new().map_err(StartError::Poll)?;
        let waker = Waker::new(poll.registry(), token::WAKER).map_err(StartError::Poll)?;
        let mut sources = Vec::with_capacity(config.bindings.len());
        for (index, binding) in config.bindings.iter().enumerate() {
            let bind_error = |source| StartError::Bind {
                binding: *binding,
                source,
            };
            let token = token::source(index);
            let source = match binding.transport {
                Transport::Tcp => {
                    let mut socket = accept::bind_listener(binding.addr).map_err(bind_error)?;
                    let addr = socket.local_addr().map_err(bind_error)?;
                    poll.registry()
                        .register(&mut socket, token, Interest::READABLE)
                        .map_err(bind_error)?;
                    let binding = Binding { addr, ..*binding };
                    Source::Listener { socket, binding }
                }
                Transport::Udp => {
                    let mut socket = UdpSocket::bind(binding.addr).map_err(bind_error)?;
                    let addr = socket.local_addr().map_err(bind_error)?;
                    poll.registry()
                        .register(&mut socket, token, Interest::READABLE)
                        .map_err(bind_error)?;
                    let binding = Binding { addr, ..*binding };
                    Source::Udp { socket, binding }
                }
            };
            sources.push(Some(source));
        }
        Ok(Reactor {
            poll,
            events: Events::with_capacity(EVENTS_CAPACITY),
            sources,
            connections: Slab::new(),
            next_generation: 0,
            scratch: Scratch::new(READ_SIZE),
            timers: timers::Timers::default(),
            framing: config.framing,
            limits: config.limits,
            stats: Stats::default(),
            published: StatsHandle::default(),
            yielded: Vec::new(),
            accept: accept::AcceptState::default(),
            guard: guard::Guard::new(&config.limits),
            shutdown: shutdown::ShutdownState::new(
                Arc::new(waker),
                Arc::new(AtomicBool::new(false)),
            ),
        })
    }

    /// The bound sockets, with the ports the kernel chose for port 0.
    pub fn bindings(&self) -> Vec<Binding> {
        self.sources
            .iter()
            .flatten()
            .map(|source| match source {
                Source::Listener { binding, .. } | Source::Udp { binding, .. } => *binding,
            })
            .collect()
    }

    /// A live view of the counters, for tests and monitoring from another thread.
    pub fn stats_handle(&self) -> StatsHandle {
        self.published.clone()
    }

    /// Runs until shut down (signal or [`ShutdownHandle`]) and drained; returns the counters.
    ///
    /// Only a failure of `poll` itself ends the loop with an error: errors on
    /// individual sockets close those sockets and are logged.
    pub fn run(mut self) -> io::Result<Stats> {
        log::info!(
            "serving {} sockets, max {} connections",
            self.bindings().len(),
            self.limits.max_conns
        );
        loop {
            let now = Instant::now();
            self.fire_timers(now);
            if self.shutdown.drained(now, self.connections.len()) {
                break;
            }
            let timeout = self.poll_timeout(now);
            if let Err(err) = self.poll.poll(&mut self.events, timeout) {
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(err);
            }
            let (now, wall) = (Instant::now(), SystemTime::now());
            let events = mem::replace(&mut self.events, Events::with_capacity(0));
            for event in events.iter() {
                log::trace!(
                    "event {} readable={} writable={} read_closed={} error={}",
                    token::Label(event.token()),
                    event.is_readable(),
                    event.is_writable(),
                    event.is_read_closed(),
                    event.is_error()
                );
                self.dispatch(event.token(), now, wall);
            }
            self.events = events;
            for token in mem::take(&mut self.yielded) {
                log::trace!("serving {} again", token::Label(token));
                self.dispatch(token, now, wall);
            }
            self.published.publish(&self.stats);
        }
        Ok(self.finish())
    }

    fn dispatch(&mut self, token: Token, now: Instant, wall: SystemTime) {
        match token::target(token) {
            Target::Waker => self.handle_wake(now),
            Target::Signals => self.handle_signals(now),
            Target::Source(index) => self.handle_source(index, now, wall),
            Target::Connection { key, generation } => {
                self.handle_connection(key, generation, now, wall)
            }
        }
    }

    fn handle_source(&mut self, index: usize, now: Instant, wall: SystemTime) {
        match self.sources.get(index) {
            Some(Some(Source::Listener { .. })) => self.accept_ready(index, now, wall),
            Some(Some(Source::Udp { socket, binding })) => {
                let outcome = udp::serve_datagrams(
                    socket,
                    binding.protocol,
                    &mut self.scratch,
                    &mut self.guard,
                    &mut self.stats,
                    connection::Moment { now, wall },
                );
                if outcome == Outcome::Yield {
                    self.yielded.push(token::source(index));
                }
            }
            // Closed at shutdown; the event is stale.
            Some(None) | None => {}
        }
    }

    fn handle_connection(&mut self, key: usize, generation: u32, now: Instant, wall: SystemTime) {
        let Some(conn) = self
            .connections
            .get_mut(key)
            .filter(|c| c.generation == generation)
        else {
            log::trace!("stale event for slot {key} generation {generation}: dropped");
            return;
        };
        let token = token::connection(key, generation);
        let was_lingering = conn.is_lingering();
        let outcome = conn.drive(
            token,
            self.poll.registry(),
            &mut self.scratch,
            &self.limits,
            &mut self.stats,
            connection::Moment { now, wall },
        );
        if !was_lingering && conn.is_lingering() {
            if let Some(deadline) = conn.deadline(self.limits.idle_timeout) {
                self.timers.schedule(deadline, key, generation);
            }
        }
        match outcome {
            Outcome::Keep => {}
            Outcome::Yield => self.yielded.push(token),
            Outcome::Close(reason) => self.close(key, reason),
        }
    }

    /// Closes the connection in slot `key` and, if accepting was paused at the cap, resumes it.
    fn close(&mut self, key: usize, reason: &str) {
        let mut conn = self.connections.remove(key);
        conn.deregister(self.poll.registry());
        self.guard.release(conn.peer);
        log::debug!(
            "{} closed ({reason}), peer {}",
            token::Label(token::connection(key, conn.generation)),
            conn.peer
        );
        self.resume_accepting_if_paused();
    }

    fn fire_timers(&mut self, now: Instant) {
        while let Some(entry) = self.timers.pop_due(now) {
            let Some(conn) = self
                .connections
                .get(entry.key)
                .filter(|c| c.generation == entry.generation)
            else {
                continue;
            };
            match conn.deadline(self.limits.idle_timeout) {
                Some(deadline) if deadline <= now => {
                    let reason = if conn.is_lingering() {
                        "linger timeout"
                    } else {
                        self.stats.idle_closed += 1;
                        "idle timeout"
                    };
                    self.close(entry.key, reason);
                }
                Some(deadline) => self.timers.schedule(deadline, entry.key, entry.generation),
                None => {}
            }
        }
        self.accept
            .fire_retry(now, &self.sources, &mut self.yielded);
    }

    fn poll_timeout(&self, now: Instant) -> Option<Duration> {
        if !self.yielded.is_empty() {
            return Some(Duration::ZERO);
        }
        [
            self.timers.next_deadline(),
            self.accept.retry_at(),
            self.shutdown.deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
        .map(|deadline| deadline.saturating_duration_since(now))
    }
}
