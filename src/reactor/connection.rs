//! One TCP connection: its socket, its session, and the bytes in between.
//!
//! A connection owns only what it must keep between events: input it has read
//! but could not yet use (because its output was full) and output the kernel
//! would not yet take. Both are empty, unallocated `Vec`s while the client is
//! idle. Reading goes through the loop's one scratch buffer, and replies are
//! built in the loop's one output buffer and written at once; only the part
//! the socket refuses is copied here.
//!
//! Life of a connection:
//!
//! ```text
//! Open --(protocol closes, peer EOF, or server shutdown)--> Closing
//! Closing --(all output written; shutdown(Write) sends FIN)--> Lingering
//! Lingering --(peer EOF, or linger deadline)--> closed
//! ```
//!
//! Lingering, as nginx does it, matters: closing a socket that still has
//! unread input makes the kernel send RST, which can destroy replies the
//! client has not read yet. So after the last reply the server shuts its
//! write side and reads and discards until the client closes too.

use super::stats::Stats;
use super::token::Label;
use crate::config::Limits;
use crate::protocol::{Action, Session};
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use std::io::{self, Read, Write};
use std::mem;
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

/// How long a closing connection waits for the peer's EOF before giving up.
pub const LINGER_TIMEOUT: Duration = Duration::from_secs(5);

/// Reads per event before the connection yields to others (64 KiB each).
const READ_BUDGET: usize = 16;

/// Buffers owned by the loop and lent to whichever connection is being served.
#[derive(Debug)]
pub struct Scratch {
    /// Every read lands here first.
    pub read: Vec<u8>,
    /// Replies are built here, then written at once.
    pub out: Vec<u8>,
}

impl Scratch {
    /// Buffers with a read size of `read_size` bytes.
    pub fn new(read_size: usize) -> Self {
        Scratch {
            read: vec![0; read_size],
            out: Vec::with_capacity(read_size),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Open,
    Closing,
    Lingering,
}

/// The time at which the loop serves an event: monotonic for deadlines,
/// wall-clock for the protocols (timestamps).
#[derive(Debug, Clone, Copy)]
pub struct Moment {
    /// For deadlines and idle tracking.
    pub now: Instant,
    /// For what handlers put on the wire.
    pub wall: SystemTime,
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

/// A TCP connection and its protocol state.
#[derive(Debug)]
pub struct Connection {
    stream: TcpStream,
    /// The client's address.
    pub peer: SocketAddr,
    /// Which occupant of the slab slot this is (see `token`).
    pub generation: u32,
    session: Session,
    /// Read but not yet used: the session's output budget ran out.
    input: Vec<u8>,
    /// Produced but not yet taken by the kernel; `sent` bytes of it are gone.
    output: Vec<u8>,
    sent: usize,
    phase: Phase,
    peer_eof: bool,
    write_interest: bool,
    /// Last time a whole message arrived or reply bytes left; the idle timer counts from here.
    pub last_active: Instant,
    linger_until: Instant,
}

fn would_block(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::WouldBlock
}

impl Connection {
    /// Wraps an accepted stream.
    pub fn new(
        stream: TcpStream,
        peer: SocketAddr,
        generation: u32,
        session: Session,
        now: Instant,
    ) -> Self {
        Connection {
            stream,
            peer,
            generation,
            session,
            input: Vec::new(),
            output: Vec::new(),
            sent: 0,
            phase: Phase::Open,
            peer_eof: false,
            write_interest: false,
            last_active: now,
            linger_until: now,
        }
    }

    /// Output bytes waiting for the kernel.
    pub fn pending_output(&self) -> usize {
        self.output.len() - self.sent
    }

    /// True once the write side is shut and the connection only waits for EOF.
    pub fn is_lingering(&self) -> bool {
        self.phase == Phase::Lingering
    }

    /// When the timer should look at this connection next.
    pub fn deadline(&self, idle_timeout: Option<Duration>) -> Option<Instant> {
        match self.phase {
            Phase::Lingering => Some(self.linger_until),
            _ => idle_timeout.map(|idle| self.last_active + idle),
        }
    }

    /// Registers the socket and sends the greeting, if the protocol has one.
    pub fn open(
        &mut self,
        token: Token,
        registry: &Registry,
        scratch: &mut Scratch,
        stats: &mut Stats,
        wall: SystemTime,
    ) -> io::Result<()> {
        debug_assert!(
            scratch.out.is_empty(),
            "another source left output in the scratch buffer"
        );
        registry.register(&mut self.stream, token, Interest::READABLE)?;
        if self.session.on_connect(wall, &mut scratch.out) == Action::Close {
            self.phase = Phase::Closing;
        }
        self.send(&mut scratch.out, stats)
    }

    /// Server shutdown: produce nothing more, deliver what is pending, then close.
    pub fn begin_shutdown(&mut self) {
        if self.phase == Phase::Open {
            self.phase = Phase::Closing;
            self.input = Vec::new();
        }
    }

    /// Does all the I/O this connection can do now. Safe to call at any time:
    /// a spurious wake-up just meets `WouldBlock`.
    pub fn drive(
        &mut self,
        token: Token,
        registry: &Registry,
        scratch: &mut Scratch,
        limits: &Limits,
        stats: &mut Stats,
        moment: Moment,
    ) -> Outcome {
        let outcome = match self.serve(scratch, limits, stats, moment) {
            Ok(outcome) => outcome,
            Err(err) => {
                log::debug!("{} {}: {err}", Label(token), self.peer);
                // Replies built for a dead socket are discarded with it.
                scratch.out.clear();
                match err.kind() {
                    io::ErrorKind::ConnectionReset => Outcome::Close("reset by peer"),
                    io::ErrorKind::BrokenPipe => Outcome::Close("broken pipe"),
                    _ => Outcome::Close("socket error"),
                }
            }
        };
        if let Outcome::Close(_) = outcome {
            return outcome;
        }
        if let Err(err) = self.update_interest(token, registry) {
            log::warn!("{} {}: cannot reregister: {err}", Label(token), self.peer);
            return Outcome::Close("cannot reregister");
        }
        outcome
    }

    fn serve(
        &mut self,
        scratch: &mut Scratch,
        limits: &Limits,
        stats: &mut Stats,
        moment: Moment,
    ) -> io::Result<Outcome> {
        let Moment { now, wall } = moment;
        let mut reads = 0;
        loop {
            // What the kernel will not take now waits for a writable event.
            self.flush(stats, now)?;
            match self.phase {
                Phase::Lingering => return self.discard_input(scratch, stats, now),
                Phase::Closing if self.pending_output() == 0 => {
                    // Every reply is in the kernel: FIN after the last byte.
                    let _ = self.stream.shutdown(Shutdown::Write);
                    if self.peer_eof {
                        return Ok(Outcome::Close("done"));
                    }
                    self.phase = Phase::Lingering;
                    self.linger_until = now + LINGER_TIMEOUT;
                    continue;
                }
                Phase::Closing => return Ok(Outcome::Keep),
                Phase::Open => {}
            }
            if self.pending_output() >= limits.max_pending {
                // Backpressure: read nothing more until the client takes its replies.
                return Ok(Outcome::Keep);
            }
            if !self.input.is_empty() {
                let mut held = mem::take(&mut self.input);
                let used = self.process(&held, &mut scratch.out, limits, stats, wall)?;
                held.drain(..used);
                if self.phase == Phase::Open {
                    self.input = held;
                }
                continue;
            }
            if self.peer_eof {
                self.session.on_eof(wall, &mut scratch.out);
                self.phase = Phase::Closing;
                self.send(&mut scratch.out, stats)?;
                continue;
            }
            if reads == READ_BUDGET {
                return Ok(Outcome::Yield);
            }
            match self.stream.read(&mut scratch.read) {
                Ok(0) => self.peer_eof = true,
                Ok(n) => {
                    reads += 1;
                    stats.bytes_in += n as u64;
                    let answered = stats.messages;
                    let used =
                        self.process(&scratch.read[..n], &mut scratch.out, limits, stats, wall)?;
                    // Only a whole message is activity: a slowloris trickling a
                    // byte at a time into a line that never ends stays "idle".
                    if stats.messages > answered {
                        self.last_active = now;
                    }
                    if used < n && self.phase == Phase::Open {
                        self.input.extend_from_slice(&scratch.read[used..n]);
                    }
                }
                Err(err) if would_block(&err) => return Ok(Outcome::Keep),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
    }

    /// Hands input to the session within the output budget and sends the replies.
    fn process(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limits: &Limits,
        stats: &mut Stats,
        wall: SystemTime,
    ) -> io::Result<usize> {
        debug_assert!(
            out.is_empty(),
            "another source left output in the scratch buffer"
        );
        let budget = limits.max_pending.saturating_sub(self.pending_output());
        let progress = self.session.on_bytes(input, wall, out, budget);
        stats.messages += progress.messages;
        if progress.action == Action::Close {
            self.phase = Phase::Closing;
        }
        self.send(out, stats)?;
        Ok(progress.consumed)
    }

    /// Writes `out` now if nothing is queued before it; keeps what the kernel refuses.
    fn send(&mut self, out: &mut Vec<u8>, stats: &mut Stats) -> io::Result<()> {
        if out.is_empty() {
            return Ok(());
        }
        if self.pending_output() > 0 {
            self.output.extend_from_slice(out);
            out.clear();
            return Ok(());
        }
        let mut written = 0;
        while written < out.len() {
            match self.stream.write(&out[written..]) {
                Ok(n) => written += n,
                Err(err) if would_block(&err) => break,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => {
                    out.clear();
                    return Err(err);
                }
            }
        }
        stats.bytes_out += written as u64;
        if written < out.len() {
            self.output.clear();
            self.sent = 0;
            self.output.extend_from_slice(&out[written..]);
        }
        out.clear();
        Ok(())
    }

    /// Writes queued output until done or `WouldBlock`.
    fn flush(&mut self, stats: &mut Stats, now: Instant) -> io::Result<()> {
        while self.sent < self.output.len() {
            match self.stream.write(&self.output[self.sent..]) {
                Ok(n) => {
                    self.sent += n;
                    stats.bytes_out += n as u64;
                    self.last_active = now;
                }
                Err(err) if would_block(&err) => break,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        if self.sent == self.output.len() {
            // Drained: give the memory back, an idle connection keeps none.
            self.output = Vec::new();
            self.sent = 0;
        } else if self.sent > self.output.len() / 2 {
            // Keep the queue compact so appends do not grow it without end.
            self.output.drain(..self.sent);
            self.sent = 0;
        }
        Ok(())
    }

    /// Lingering: read and throw away until EOF (then close) or `WouldBlock`.
    fn discard_input(
        &mut self,
        scratch: &mut Scratch,
        stats: &mut Stats,
        now: Instant,
    ) -> io::Result<Outcome> {
        for _ in 0..READ_BUDGET {
            match self.stream.read(&mut scratch.read) {
                Ok(0) => return Ok(Outcome::Close("done")),
                Ok(n) => {
                    stats.bytes_in += n as u64;
                    self.last_active = now;
                }
                Err(err) if would_block(&err) => return Ok(Outcome::Keep),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        Ok(Outcome::Yield)
    }

    /// Asks for writable events only while output is queued.
    fn update_interest(&mut self, token: Token, registry: &Registry) -> io::Result<()> {
        let want_write = self.pending_output() > 0;
        if want_write != self.write_interest {
            let interest = if want_write {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            registry.reregister(&mut self.stream, token, interest)?;
            self.write_interest = want_write;
        }
        Ok(())
    }

    /// Removes the socket from the poll; dropping the connection then closes it.
    pub fn deregister(&mut self, registry: &Registry) {
        let _ = registry.deregister(&mut self.stream);
    }
}
