//! Accepting connections within `--max-conns`, and surviving descriptor exhaustion.
//!
//! Two things can stop `accept` from being useful:
//!
//! - **The connection cap.** At `--max-conns` the loop stops calling
//!   `accept`; new clients wait in the kernel's listen backlog. Because mio is
//!   edge-triggered, no event will remind us of them, so closing a connection
//!   puts every listener back on the `yielded` list to be served again.
//! - **`EMFILE`/`ENFILE`.** The process (or system) is out of descriptors. The
//!   pending connection stays in the backlog; calling `accept` again at once
//!   would fail again, and a level-triggered loop would spin at 100% CPU
//!   here. We instead retry after [`FD_RETRY`], or sooner when a connection
//!   closes and frees a descriptor, and warn at most once per [`FD_WARNING_EVERY`].

use super::connection::{Connection, Peer};
use super::source::Source;
use super::stream::Stream;
use super::{token, Reactor};
use crate::protocol::{Protocol, Session};
use mio::Token;
use std::io;
use std::time::{Duration, Instant, SystemTime};

/// Connections accepted per listener event before the listener yields.
const ACCEPT_BUDGET: usize = 128;
/// How long to wait before retrying `accept` after `EMFILE`/`ENFILE`.
const FD_RETRY: Duration = Duration::from_millis(100);
/// At most one warning about descriptor exhaustion per this long.
const FD_WARNING_EVERY: Duration = Duration::from_secs(10);

/// Why accepting is paused, if it is.
#[derive(Debug, Default)]
pub(super) struct AcceptState {
    paused_at_cap: bool,
    retry_at: Option<Instant>,
    last_fd_warning: Option<Instant>,
}

impl AcceptState {
    /// When accepting should be retried after descriptor exhaustion.
    pub(super) fn retry_at(&self) -> Option<Instant> {
        self.retry_at
    }

    /// Queues every listener once the retry time has come.
    pub(super) fn fire_retry(
        &mut self,
        now: Instant,
        sources: &[Option<Source>],
        yielded: &mut Vec<Token>,
    ) {
        if self.retry_at.is_some_and(|at| at <= now) {
            self.retry_at = None;
            queue_listeners(sources, yielded);
        }
    }
}

/// Closes a refused connection at once with RST (SO_LINGER 0): nothing to
/// deliver, and no TIME_WAIT left on the server for each refusal.
fn refuse(stream: Stream) {
    if let Stream::Tcp(tcp) = &stream {
        let _ = socket2::SockRef::from(tcp).set_linger(Some(Duration::ZERO));
    }
    drop(stream);
}

fn queue_listeners(sources: &[Option<Source>], yielded: &mut Vec<Token>) {
    for (index, source) in sources.iter().enumerate() {
        if source.as_ref().is_some_and(Source::is_listener) {
            yielded.push(token::source(index));
        }
    }
}

fn is_descriptor_exhaustion(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

impl Reactor {
    /// Accepts until `WouldBlock`, the cap, descriptor exhaustion, or the budget.
    pub(super) fn accept_ready(&mut self, index: usize, now: Instant, wall: SystemTime) {
        if self.accept.retry_at.is_some() {
            return; // Out of descriptors: the retry timer will bring us back.
        }
        for _ in 0..ACCEPT_BUDGET {
            if self.connections.len() + self.ops.handshakes.len() >= self.limits.max_conns {
                if !self.accept.paused_at_cap {
                    // Logged at warn by `refusals`, at most once a second.
                    self.stats.max_conns_reached += 1;
                    self.accept.paused_at_cap = true;
                }
                return;
            }
            let accepted = match self.sources.get(index) {
                Some(Some(Source::Listener { socket, .. })) => {
                    socket.accept().map(|(stream, peer)| {
                        // Replies are whole messages written in one call: don't let Nagle delay them.
                        if let Err(err) = stream.set_nodelay(true) {
                            log::debug!("{peer}: cannot set TCP_NODELAY: {err}");
                        }
                        (Stream::Tcp(stream), Peer::Inet(peer))
                    })
                }
                Some(Some(Source::UnixListener { socket, .. })) => socket
                    .accept()
                    .map(|(stream, _)| (Stream::Unix(stream), Peer::Unix)),
                _ => return,
            };
            match accepted {
                Ok((stream, peer)) if self.ops.proxy_protocol => {
                    self.begin_handshake(stream, peer, index, now, wall);
                }
                Ok((stream, peer)) => self.admit_stream(stream, peer, index, now, wall),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) if is_descriptor_exhaustion(&err) => {
                    self.stats.accept_fd_exhausted += 1;
                    self.accept.retry_at = Some(now + FD_RETRY);
                    let warned_recently = self
                        .accept
                        .last_fd_warning
                        .is_some_and(|at| now.duration_since(at) < FD_WARNING_EVERY);
                    if !warned_recently {
                        log::warn!("accept: {err}; retrying every {FD_RETRY:?} while descriptors are short");
                        self.accept.last_fd_warning = Some(now);
                    }
                    return;
                }
                // ECONNABORTED and the like concern one client that already left.
                Err(err) if err.kind() == io::ErrorKind::ConnectionAborted => {}
                Err(err) => {
                    log::warn!("accept on {}: {err}", token::Label(token::source(index)));
                    return;
                }
            }
        }
        self.yielded.push(token::source(index));
    }

    /// Serves `stream` from `peer` if the per-source limits allow it.
    pub(super) fn admit_stream(
        &mut self,
        stream: Stream,
        peer: Peer,
        listener: usize,
        now: Instant,
        wall: SystemTime,
    ) {
        let admitted = match peer {
            Peer::Inet(addr) => self.guard.admit(addr, now, &mut self.stats),
            // Local clients only: no per-source limits.
            Peer::Unix => true,
        };
        if admitted {
            self.add_connection(stream, peer, listener, now, wall);
        } else {
            refuse(stream);
        }
    }

    fn add_connection(
        &mut self,
        stream: Stream,
        peer: Peer,
        listener: usize,
        now: Instant,
        wall: SystemTime,
    ) {
        let Some(Some(source)) = self.sources.get(listener) else {
            return;
        };
        let protocol = source.protocol();
        let generation = self.next_generation;
        self.next_generation = (generation + 1) & token::GENERATION_MASK;
        let key = self.connections.vacant_key();
        let token = token::connection(key, generation);
        let mut session = Session::new(protocol, self.framing, self.limits.max_line);
        if protocol == Protocol::Chat {
            // Only chat shows the peer, so only chat pays for its name.
            session = session.with_peer(match peer {
                Peer::Inet(addr) => addr.to_string(),
                Peer::Unix => format!("unix#{key}.{generation}"),
            });
        }
        let mut conn = Connection::new(stream, peer, generation, listener, session, now);
        let (mut cx, _) = self.context(now, wall);
        if let Err(err) = conn.open(token, &mut cx) {
            log::debug!(
                "{} {}: could not start: {err}",
                token::Label(token),
                conn.peer
            );
            conn.deregister(self.poll.registry());
            if let Peer::Inet(addr) = peer {
                self.guard.release(addr);
            }
            self.scratch.out.clear();
            self.scratch.room.clear();
            return;
        }
        log::debug!(
            "{} opened: {protocol} from {}",
            token::Label(token),
            conn.peer
        );
        self.connections.insert(conn);
        self.stats.connections += 1;
        self.ops.count_accept(listener);
        if protocol == Protocol::Chat {
            self.rooms.join(listener, key);
        }
        if let Some(idle) = self.limits.idle_timeout {
            self.timers.schedule(now + idle, key, generation);
        }
        // Data may have arrived with the handshake, and a greeting may be pending.
        self.handle_connection(key, generation, now, wall);
    }

    /// After a connection closes: if accepting had stopped, start again.
    pub(super) fn resume_accepting_if_paused(&mut self) {
        let open = self.connections.len() + self.ops.handshakes.len();
        if self.accept.paused_at_cap && open < self.limits.max_conns {
            self.accept.paused_at_cap = false;
            queue_listeners(&self.sources, &mut self.yielded);
        } else if self.accept.retry_at.is_some() {
            // A descriptor was just freed: no need to wait for the retry timer.
            self.accept.retry_at = None;
            queue_listeners(&self.sources, &mut self.yielded);
        }
    }
}
