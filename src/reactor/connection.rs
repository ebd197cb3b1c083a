//! One stream connection: its socket, its session, and the bytes in between.
//!
//! A connection owns only what it must keep between events: input it has read
//! but could not yet use (because its output was full) and output the kernel
//! would not yet take (its [`Outbox`]). Both are empty, unallocated while the
//! client is idle. Reading goes through the loop's one scratch buffer, and
//! replies are built in the loop's one output buffer and written at once.
//!
//! Life of a connection:
//!
//! ```text
//! Open --(protocol closes, peer EOF, or server shutdown)--> Closing
//! Closing --(all output written; shutdown(Write) sends FIN)--> Lingering
//! Lingering --(peer EOF, or linger deadline)--> closed
//! ```
//!
//! While closing, input is still read and thrown away: a client that writes
//! all its requests before it reads a reply (a pipelined batch ending in
//! `exit`, then more) would otherwise fill our receive window while we wait
//! for it to read, and both sides would wait for the idle timeout.
//!
//! Lingering, as nginx does it, matters: closing a socket that still has
//! unread input makes the kernel send RST, which can destroy replies the
//! client has not read yet. So after the last reply the server shuts its
//! write side and reads and discards until the client closes too.
//!
//! The turn itself is in `connection/turn.rs`, the closing phases in
//! `connection/closing.rs`.
//!
//! # The fewest syscalls per message
//!
//! - **Registered once.** The socket is registered for readable *and*
//!   writable when it opens and never re-registered: with edge-triggered
//!   epoll (and kqueue's `EV_CLEAR`), a writable event comes only after the
//!   send buffer was full and drained, so leaving write interest on costs
//!   nothing while replies fit, and saves two `epoll_ctl` calls each time
//!   they do not. Closing the descriptor removes it from the poll.
//! - **The short-read rule.** A `read` that returns fewer bytes than the
//!   buffer holds means the socket's receive queue was empty at that moment,
//!   and on epoll and kqueue any byte that arrives later raises a new
//!   readable edge. So the connection marks itself drained (`may_read`) and
//!   skips the `read` that would only return `WouldBlock`: one `recv` per
//!   message instead of two. Tokio does the same (`poll_evented.rs`).
//! - **read-closed is sticky.** When an event says the peer's FIN has
//!   arrived, that edge will not come again, so the short-read rule is off
//!   for the rest of the connection's life and reading goes on until it sees
//!   end-of-file: a FIN that arrived together with the last data is never
//!   missed.

mod closing;
mod turn;

use super::context::{Context, Scratch};
use super::outbox::Outbox;
use super::stream::Stream;
use super::token::Label;
use crate::protocol::chat::Departure;
use crate::protocol::{Action, Session};
use mio::{Interest, Registry, Token};
use std::io;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a closing connection waits for the peer's EOF before giving up.
pub const LINGER_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Open,
    Closing,
    Lingering,
}

/// What the reactor should do with a connection after serving it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Wait for its next event.
    Keep,
    /// It still has work but used its turn: serve it again after the others.
    Yield,
    /// Drop it; the reason is logged.
    Close(&'static str),
}

/// A stream connection and its protocol state.
#[derive(Debug)]
pub struct Connection {
    stream: Stream,
    /// The client's address (for logs).
    pub peer: Peer,
    /// Which occupant of the slab slot this is (see `token`).
    pub generation: u32,
    /// Index of the listener that accepted it (its chat room).
    pub listener: usize,
    /// Its seat in the chat room (`room::NO_SEAT` when not a member).
    pub seat: u32,
    /// Already on the loop's list of connections to serve again this turn
    /// (nginx's `ev->posted`): posting it twice is a no-op.
    pub posted: bool,
    /// The socket may have input: no read has met `WouldBlock` since the last
    /// readable event. A connection served only to flush skips the read.
    may_read: bool,
    session: Session,
    /// Read but not yet used: the session's output budget ran out.
    input: Vec<u8>,
    outbox: Outbox,
    phase: Phase,
    peer_eof: bool,
    eof_delivered: bool,
    /// An event reported the peer's FIN: read until end-of-file from now on
    /// (the short-read rule is off; see the module docs).
    read_closed: bool,
    /// Last time a whole message arrived or reply bytes left (the idle timer
    /// counts from here); once lingering, when lingering began.
    pub last_active: Instant,
}

/// Who is on the other end, kept inline (no allocation per connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// A TCP client.
    Inet(std::net::SocketAddr),
    /// A Unix socket client (they rarely bind a name).
    Unix,
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Peer::Inet(addr) => addr.fmt(f),
            Peer::Unix => f.write_str("unix client"),
        }
    }
}

fn would_block(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::WouldBlock
}

/// One trace line per write that moved bytes or left some behind (the
/// kernel's buffer was full: the rest waits in the outbox for a writable event).
fn trace_write(token: Token, taken: usize, left: usize) {
    if taken > 0 || left > 0 {
        log::trace!("{} write: {taken} bytes taken, {left} left", Label(token));
    }
}

impl Connection {
    /// Wraps an accepted stream.
    pub fn new(
        stream: Stream,
        peer: Peer,
        generation: u32,
        listener: usize,
        session: Session,
        now: Instant,
    ) -> Self {
        Connection {
            stream,
            peer,
            generation,
            listener,
            seat: super::room::NO_SEAT,
            posted: false,
            may_read: true,
            session,
            input: Vec::new(),
            outbox: Outbox::default(),
            phase: Phase::Open,
            peer_eof: false,
            eof_delivered: false,
            read_closed: false,
            last_active: now,
        }
    }

    /// Output bytes waiting for the kernel.
    pub fn pending_output(&self) -> usize {
        self.outbox.pending()
    }

    /// Memory its unsent output holds (bytes and chunk bookkeeping).
    pub fn held_output(&self) -> usize {
        self.outbox.held()
    }

    /// Bytes the kernel has taken from this connection so far.
    pub fn written(&self) -> u64 {
        self.outbox.written()
    }

    /// Bytes written to the socket that the kernel still holds (`SIOCOUTQ`).
    pub fn unsent_in_kernel(&self) -> usize {
        self.stream.unsent_in_kernel().unwrap_or(0)
    }

    /// A readable (or hang-up, or error) event arrived: the next turn reads.
    pub fn mark_readable(&mut self) {
        self.may_read = true;
    }

    /// An event reported the peer's FIN: read until end-of-file, whatever the reads return.
    pub fn mark_read_closed(&mut self) {
        self.may_read = true;
        self.read_closed = true;
    }

    /// True while a read might return bytes (or EOF) rather than `WouldBlock`.
    pub fn may_read(&self) -> bool {
        self.may_read && !self.peer_eof && self.phase == Phase::Open
    }

    /// True once the write side is shut and the connection only waits for EOF.
    pub fn is_lingering(&self) -> bool {
        self.phase == Phase::Lingering
    }

    /// When the timer should look at this connection next; `None` for never
    /// (no idle timeout, or one too large to add to the clock).
    pub fn deadline(&self, idle_timeout: Option<Duration>) -> Option<Instant> {
        match self.phase {
            Phase::Lingering => self.last_active.checked_add(LINGER_TIMEOUT),
            _ => idle_timeout.and_then(|idle| self.last_active.checked_add(idle)),
        }
    }

    /// Registers the socket and produces what the protocol says on connect.
    pub fn open(&mut self, token: Token, cx: &mut Context<'_>) -> io::Result<()> {
        debug_assert!(
            cx.scratch.out.is_empty(),
            "another source left output in the scratch buffer"
        );
        // Once, for both directions: see "Registered once" in the module docs.
        cx.registry.register(
            &mut self.stream,
            token,
            Interest::READABLE | Interest::WRITABLE,
        )?;
        log::trace!("{} registered, interest READABLE | WRITABLE", Label(token));
        if self.session.on_connect(cx.moment.wall, &mut cx.scratch.out) == Action::Close {
            self.phase = Phase::Closing;
        }
        self.emit(cx)
    }

    /// Server shutdown: produce nothing more, deliver what is pending, then close.
    pub fn begin_shutdown(&mut self) {
        if self.phase == Phase::Open {
            self.phase = Phase::Closing;
            self.input = Vec::new();
        }
    }

    /// A chat message's `range` for this connection, shared, behind what is pending.
    pub fn queue_shared(&mut self, message: &Arc<[u8]>, range: Range<usize>) {
        if self.phase != Phase::Lingering {
            self.outbox.queue_shared(message, range);
        }
    }

    /// The connection is being dropped: let the session say goodbye (chat tells the room).
    pub fn depart(&mut self, departure: Departure, scratch: &mut Scratch) {
        self.session.on_close(departure, &mut scratch.out);
        if self.session.is_broadcast() {
            scratch.room.append(&mut scratch.out);
        }
        scratch.out.clear();
    }

    /// Does all the I/O this connection can do now. Safe to call at any time:
    /// a spurious wake-up just meets `WouldBlock`.
    pub fn drive(&mut self, token: Token, cx: &mut Context<'_>) -> Outcome {
        let outcome = match self.serve(cx) {
            Ok(outcome) => outcome,
            Err(err) => {
                log::debug!("{} {}: {err}", Label(token), self.peer);
                // Replies built for a dead socket are discarded with it.
                cx.scratch.out.clear();
                match err.kind() {
                    io::ErrorKind::ConnectionReset => Outcome::Close("reset by peer"),
                    io::ErrorKind::BrokenPipe => Outcome::Close("broken pipe"),
                    _ => Outcome::Close("socket error"),
                }
            }
        };
        outcome
    }

    /// Sends what the session produced: to this client now, or to the room.
    fn emit(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        if self.session.is_broadcast() {
            cx.scratch.room.append(&mut cx.scratch.out);
            // What is for the sender alone (`error: line too long`) goes to it.
            if !self.session.take_reply_to_sender(&mut cx.scratch.out) {
                return Ok(());
            }
        }
        let sent = self
            .outbox
            .send(&mut self.stream, &mut cx.scratch.out, cx.stats)?;
        trace_write(cx.token, sent, self.pending_output());
        if sent > 0 {
            self.last_active = cx.moment.now;
        }
        Ok(())
    }

    /// Removes the socket from the poll; dropping the connection then closes it.
    pub fn deregister(&mut self, registry: &Registry) {
        let _ = registry.deregister(&mut self.stream);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An idle connection costs its slab entry and nothing on the heap; keep
    /// that entry small (the benchmark target is 256 bytes of RSS per idle
    /// connection, kernel socket aside). Sizes are for 64-bit release builds;
    /// debug builds add a few bytes of poll-registration checks.
    #[test]
    fn an_idle_connection_stays_small() {
        let size = std::mem::size_of::<Connection>();
        assert!(size <= 200, "Connection grew to {size} bytes");
        assert!(std::mem::size_of::<Session>() <= 48);
    }
}
