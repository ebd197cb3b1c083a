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
//!   budget) is posted on the `yielded` list (at most once, see `posted.rs`)
//!   and served again after this batch of events, 16 at a time, oldest
//!   first, with a zero poll timeout in between; so new events (a quiet
//!   client's request) are polled for between them and one busy client can
//!   never starve the others.
//! - **Interrupted is not an error.** `EINTR` is retried.
//! - **Stale events are normal.** Closing a connection in the middle of a
//!   batch leaves its later events in the batch; the token's generation (see
//!   [`token`]) keeps them from reaching a new connection in the same slot.
//! - **Registered once, read once.** Replies are written at once; a
//!   connection is registered for readable and writable when it opens and
//!   never re-registered, since edge-triggered readiness raises writable only
//!   after the kernel's buffer was full. A read shorter than the buffer means
//!   the socket is drained (the short-read rule; see `connection.rs`).
//! - **One connection's error is its own.** It is logged with the token and
//!   closes that connection alone; nothing in the loop uses `?` on a client.
//!
//! # Files
//!
//! - `bind.rs`: opening sockets. `token.rs`: the token space.
//! - `dispatch.rs`: what each event leads to; closing a connection; idle timers firing.
//! - `connection.rs`: one stream connection's I/O; `outbox.rs` its unsent output;
//!   `stream.rs` TCP or Unix; `context.rs` what the loop lends it.
//! - `accept.rs`: accepting within `--max-conns` and surviving `EMFILE`.
//! - `room.rs`: chat rooms, the one place output crosses connections: shared
//!   messages, the slow-reader rule and backpressure; `fanout.rs` the loop's side.
//! - `posted.rs`: the list of connections to serve again this turn, each at most once.
//! - `guard.rs`: per-source limits (connections, connection rate, UDP reply budget).
//! - `unix_path.rs`: which socket file is ours, and where a Unix datagram reply may go.
//! - `udp.rs`: datagrams (`udp_batch.rs`: many per syscall on Linux). `timers.rs`: idle deadlines. `shutdown.rs`: signals and draining.
//! - `ops.rs`: running as a service: `metrics/` (the Prometheus endpoint),
//!   `proxied.rs` (PROXY headers), `activation.rs` and `notify.rs` (systemd),
//!   `refusals.rs` (rate-limited warnings), `socket_files.rs` (cleanup on exit),
//!   `start_gate.rs` (readiness once every sibling is serving),
//!   `liveness.rs` and `vitals.rs` (the watchdog and figures across siblings).
//! - `sibling.rs`: the same loop again for another core (`--reactors N`, wired
//!   by `crate::shards`); `process_limits.rs`: the limits siblings share;
//!   `mailbox.rs`: messages between siblings (a channel plus the receiver's waker);
//!   `room_mail.rs`: a chat room's messages from sibling reactors.

mod accept;
pub mod activation;
mod bind;
mod connection;
mod context;
mod dispatch;
mod fanout;
pub(crate) mod guard;
mod liveness;
mod mailbox;
mod metrics;
mod notify;
mod ops;
mod outbox;
mod posted;
mod process_limits;
mod proxied;
mod refusals;
mod room;
mod room_mail;
mod shutdown;
mod sibling;
mod socket_files;
mod source;
mod start_gate;
mod stats;
mod stream;
mod timers;
pub mod token;
mod udp;
#[cfg(target_os = "linux")]
mod udp_batch;
mod unix_path;
mod vitals;

pub use mailbox::MailboxAddress;
pub use shutdown::{ShutdownHandle, SignalRequest, HANDLED_SIGNALS};
pub use source::StartError;
pub use stats::{Stats, StatsHandle};

use crate::config::{Binding, Limits, ServerConfig, UnixBinding};
use crate::files::FilesRoot;
use crate::protocol::Framing;
use connection::Connection;
use context::Scratch;
use mio::{Events, Poll, Token, Waker};
use slab::Slab;
use source::Source;
use std::io;
use std::mem;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// One read, and the largest UDP datagram, fits in this many bytes.
const READ_SIZE: usize = 64 * 1024;
/// Events taken from the kernel per `poll` call.
const EVENTS_CAPACITY: usize = 1024;

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
    files: Option<FilesRoot>,
    /// Members of each chat listener's room, by source index.
    rooms: room::Rooms,
    stats: Stats,
    published: StatsHandle,
    /// Served again this turn, each once (see `posted.rs`): sources that used
    /// up their budget, chat members with new output.
    yielded: Vec<Token>,
    accept: accept::AcceptState,
    /// Per-source limits and the connection count, shared with siblings if any.
    guard: process_limits::ProcessLimits,
    /// Whether this reactor has siblings, and what it shares with them.
    siblings: sibling::SiblingState,
    /// Mail from sibling reactors, and where to post theirs.
    mailbox: mailbox::Mailbox,
    shutdown: shutdown::ShutdownState,
    ops: ops::Operations,
}

impl Reactor {
    /// Binds every socket in `config` and prepares the loop; nothing is served until [`run`](Self::run).
    pub fn bind(config: &ServerConfig) -> Result<Reactor, StartError> {
        Reactor::bind_with(config, false)
    }

    /// Like [`bind`](Self::bind), with `SO_REUSEPORT` on TCP and UDP sockets
    /// when `reuse_port`, so that other processes may serve the same ports.
    pub fn bind_with(config: &ServerConfig, reuse_port: bool) -> Result<Reactor, StartError> {
        Self::bind_adopting(config, reuse_port, Vec::new())
    }

    /// Prepares a loop serving `sources`, already opened; a `None` keeps its
    /// index (and token) unused, so that siblings number their sources alike.
    fn with_sources(
        config: &ServerConfig,
        mut sources: Vec<Option<Source>>,
        socket_files: socket_files::SocketFiles,
    ) -> Result<Reactor, StartError> {
        let files = match &config.files_root {
            Some(dir) => Some(FilesRoot::new(dir).map_err(|err| {
                StartError::Config(format!("--files-root {}: {err}", dir.display()))
            })?),
            None => None,
        };
        let poll = Poll::new().map_err(StartError::Poll)?;
        let waker = Arc::new(Waker::new(poll.registry(), token::WAKER).map_err(StartError::Poll)?);
        let mut guard = guard::Guard::new(&config.limits);
        guard.set_own_sockets(guard::OwnSockets::new(
            sources.iter().flatten().filter_map(Source::udp_addr),
        ));
        for (index, source) in sources.iter_mut().enumerate() {
            let Some(source) = source else { continue };
            source
                .register(poll.registry(), token::source(index))
                .map_err(StartError::Poll)?;
        }
        let ops = ops::Operations::new(&sources, socket_files);
        Ok(Reactor {
            ops,
            poll,
            events: Events::with_capacity(EVENTS_CAPACITY),
            rooms: room::Rooms::new(sources.len(), config.limits.max_pending),
            sources,
            connections: Slab::new(),
            next_generation: 0,
            scratch: Scratch::new(READ_SIZE),
            timers: timers::Timers::default(),
            framing: config.framing,
            limits: config.limits,
            files,
            stats: Stats::default(),
            published: StatsHandle::default(),
            yielded: Vec::new(),
            accept: accept::AcceptState::default(),
            guard: process_limits::ProcessLimits::alone(guard),
            siblings: sibling::SiblingState::default(),
            mailbox: mailbox::Mailbox::new(Arc::clone(&waker)),
            shutdown: shutdown::ShutdownState::new(waker, Arc::new(AtomicBool::new(false))),
        })
    }

    /// The bound sockets, with the ports the kernel chose for port 0.
    pub fn bindings(&self) -> Vec<Binding> {
        self.sources
            .iter()
            .flatten()
            .filter_map(|source| match source {
                Source::Listener { binding, .. } | Source::Udp { binding, .. } => Some(*binding),
                _ => None,
            })
            .collect()
    }

    /// The bound Unix domain sockets.
    pub fn unix_bindings(&self) -> Vec<UnixBinding> {
        self.sources
            .iter()
            .flatten()
            .filter_map(|source| match source {
                Source::UnixListener { binding, .. } | Source::UnixDatagram { binding, .. } => {
                    Some(binding.clone())
                }
                _ => None,
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
            self.bindings().len() + self.unix_bindings().len(),
            self.limits.max_conns
        );
        self.arrive_and_announce();
        loop {
            let now = Instant::now();
            self.fire_timers(now);
            self.begin_turn(now);
            self.check_rooms(now);
            self.deliver_rooms();
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
            let batch = events.iter().count();
            for event in events.iter() {
                log::trace!(
                    "event {} readable={} writable={} read_closed={} error={}",
                    token::Label(event.token()),
                    event.is_readable(),
                    event.is_writable(),
                    event.is_read_closed(),
                    event.is_error()
                );
                self.note_readiness(event);
                self.dispatch(event.token(), now, wall);
            }
            self.events = events;
            self.deliver_rooms();
            self.serve_posted(now, wall);
            self.deliver_rooms();
            self.published.publish(&self.stats);
            self.end_turn(now, batch);
        }
        Ok(self.finish())
    }

    fn poll_timeout(&self, now: Instant) -> Option<Duration> {
        if !self.yielded.is_empty() || self.rooms.has_batch() {
            return Some(Duration::ZERO);
        }
        [
            self.timers.next_deadline(),
            self.rooms.next_check(),
            self.accept.retry_at(),
            self.shutdown.deadline(),
            self.ops.deadline(&self.stats),
        ]
        .into_iter()
        .flatten()
        .min()
        .map(|deadline| deadline.saturating_duration_since(now))
    }
}
