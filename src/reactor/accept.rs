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
//! - **Errors about one client.** accept(2) lists errors that concern a
//!   connection that died in the backlog, or network trouble reported early
//!   (`ECONNABORTED`, `EPROTO`, `ENETDOWN`, ...): the next `accept` may well
//!   succeed, so they are retried at once, within the turn's budget. Any
//!   other error is logged and the listener is retried after [`FD_RETRY`]:
//!   never simply dropped, because under edge-triggering no new event would
//!   come for the clients already waiting in the backlog.

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
/// How soon a reactor at a `--max-conns` shared with siblings looks again.
const CAP_RETRY: Duration = Duration::from_millis(20);
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

/// Errors that accept(2) says to treat like `EAGAIN` and retry: they concern
/// one client (or the network), not the listener.
fn is_retryable(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(
            libc::ECONNABORTED
                | libc::EPROTO
                | libc::EINTR
                | libc::ENETDOWN
                | libc::ENOPROTOOPT
                | libc::EHOSTDOWN
                | libc::ENONET
                | libc::EHOSTUNREACH
                | libc::EOPNOTSUPP
                | libc::ENETUNREACH
                | libc::EPERM
        )
    )
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
            // A connection still sending its PROXY header holds a place too.
            let open = self.connections.len() + self.ops.handshakes.len();
            if !self.guard.reserve(open, self.limits.max_conns) {
                if !self.accept.paused_at_cap {
                    // Logged at warn by `refusals`, at most once a second.
                    self.stats.max_conns_reached += 1;
                    self.accept.paused_at_cap = true;
                }
                if self.guard.is_shared() {
                    // A sibling's close does not wake this loop: look again soon.
                    self.accept.retry_at = Some(now + CAP_RETRY);
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
                Some(Some(Source::UnixListener { socket, .. })) => {
                    socket.accept().map(|(stream, _)| {
                        // Unix sockets do not inherit the listener's buffer size.
                        if let Some(bytes) = self.limits.sndbuf {
                            let _ = socket2::SockRef::from(&stream).set_send_buffer_size(bytes);
                        }
                        (Stream::Unix(stream), Peer::Unix)
                    })
                }
                _ => {
                    self.guard.unreserve();
                    return;
                }
            };
            if accepted.is_err() {
                self.guard.unreserve();
            }
            match accepted {
                Ok((stream, peer)) if self.ops.proxy_protocol => {
                    self.begin_handshake(stream, peer, index, now, wall);
                }
                Ok((stream, peer)) => self.admit_stream(stream, peer, index, now, wall),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    log::trace!(
                        "{} accept WouldBlock: backlog drained",
                        token::Label(token::source(index))
                    );
                    return;
                }
                // ECONNABORTED and the like concern one client that already left.
                Err(err) if is_retryable(&err) => {
                    log::debug!(
                        "accept on {}: {err}; retrying",
                        token::Label(token::source(index))
                    );
                }
                Err(err) => return self.pause_accepting(index, &err, now),
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
            self.guard.unreserve();
            refuse(stream);
        }
    }

    /// `accept` failed for a reason that retrying at once would not cure:
    /// retry every listener after [`FD_RETRY`] (or when a descriptor frees).
    fn pause_accepting(&mut self, index: usize, err: &io::Error, now: Instant) {
        self.accept.retry_at = Some(now + FD_RETRY);
        let exhausted = is_descriptor_exhaustion(err);
        if exhausted {
            self.stats.accept_fd_exhausted += 1;
        }
        let warned_recently = self
            .accept
            .last_fd_warning
            .is_some_and(|at| now.duration_since(at) < FD_WARNING_EVERY);
        if warned_recently {
            return;
        }
        self.accept.last_fd_warning = Some(now);
        if exhausted {
            log::warn!("accept: {err}; retrying every {FD_RETRY:?} while descriptors are short");
        } else {
            let label = token::Label(token::source(index));
            log::warn!("accept on {label}: {err}; retrying every {FD_RETRY:?}");
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
            self.guard.unreserve();
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
        let (mut cx, _) = self.context(token, now, wall);
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
            self.guard.unreserve();
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
            let seat = self.rooms.join(listener, key, generation);
            self.connections[key].seat = seat;
        }
        // A timeout too large to add to the clock means "never": no entry.
        if let Some(deadline) = self
            .limits
            .idle_timeout
            .and_then(|idle| now.checked_add(idle))
        {
            self.timers.schedule(deadline, key, generation);
        }
        // Data may have arrived with the handshake, and a greeting may be pending.
        self.handle_connection(key, generation, now, wall);
    }

    /// After a connection closes: if accepting had stopped, start again.
    pub(super) fn resume_accepting_if_paused(&mut self) {
        let open = self.connections.len() + self.ops.handshakes.len();
        if self.accept.paused_at_cap && self.guard.below(open, self.limits.max_conns) {
            self.accept.paused_at_cap = false;
            queue_listeners(&self.sources, &mut self.yielded);
        } else if self.accept.retry_at.is_some() {
            // A descriptor was just freed: no need to wait for the retry timer.
            self.accept.retry_at = None;
            queue_listeners(&self.sources, &mut self.yielded);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_sockets_inherit_the_listener_send_buffer() {
        let options =
            crate::net::SocketOptions::nonblocking(false).with_send_buffer(Some(64 * 1024));
        let listener = crate::net::tcp_listener("127.0.0.1:0".parse().unwrap(), options).unwrap();
        let listener = mio::net::TcpListener::from_std(listener);
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let accepted = loop {
            match listener.accept() {
                Ok((stream, _)) => break stream,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(err) => panic!("accept: {err}"),
            }
        };
        // Linux doubles the value for its bookkeeping.
        let size = socket2::SockRef::from(&accepted)
            .send_buffer_size()
            .unwrap();
        assert_eq!(size, 2 * 64 * 1024);
        drop(client);
    }

    #[test]
    fn errors_about_one_client_are_retried() {
        for errno in [
            libc::ECONNABORTED,
            libc::EPROTO,
            libc::EPERM,
            libc::ENETUNREACH,
        ] {
            assert!(is_retryable(&io::Error::from_raw_os_error(errno)));
        }
        for errno in [libc::EMFILE, libc::EBADF, libc::EINVAL] {
            assert!(!is_retryable(&io::Error::from_raw_os_error(errno)));
        }
    }
}
