//! One client TCP connection: its socket, where it is in the exchange, and nothing else.
//!
//! A `Conn` owns no buffers of its own. It writes from the loop's shared
//! request batch and checks replies against the shared template, keeping only
//! offsets: how much of the current request is written, how much of the
//! current reply has been checked, and the send time of each request in
//! flight (a ring allocated once, `pipeline` long). An idle connection costs a
//! few dozen bytes here plus the kernel socket.
//!
//! Every method is non-blocking and follows mio's rule for edge-triggered
//! readiness: read until `WouldBlock`, write until `WouldBlock` or nothing is
//! left, and treat every event as a hint (a spurious or stale event finds
//! `WouldBlock` and does nothing).

use super::error::ErrorKind;
use super::expect::Exchange;
use super::stats::Stats;
use mio::net::TcpStream;
use socket2::{Domain, Socket, Type};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::Instant;

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// No socket: not opened yet, failed, or closed on purpose.
    Closed,
    /// A non-blocking connect is in progress.
    Connecting,
    /// Connected; waiting for the protocol's greeting.
    Greeting,
    /// Connected and free to send.
    Ready,
}

/// One client connection.
#[derive(Debug)]
pub struct Conn {
    /// The socket, while there is one.
    pub stream: Option<TcpStream>,
    /// Where the connection is in its life.
    pub state: State,
    /// When the current connect started.
    pub opened_at: Instant,
    /// When bytes last arrived, or the connection last started waiting for some.
    pub last_progress: Instant,
    /// Send time of each request written or queued and not yet answered, oldest first.
    pub sent_at: VecDeque<Instant>,
    /// Requests still to send in the current phase (`u64::MAX`: no limit).
    pub remaining: u64,
    /// Replies that matched, over the connection's whole life (reconnects included).
    pub ok_replies: u64,
    /// Whether a connect ever completed.
    pub established: bool,
    /// When to try connecting again after a failure.
    pub retry_at: Option<Instant>,
    /// Requests queued whose bytes are not all written yet.
    unwritten: usize,
    /// Bytes of the first unwritten request already written.
    write_off: usize,
    /// Bytes of the current reply (or greeting) already checked.
    read_off: usize,
    /// Whether the current reply has already differed from the template.
    reply_bad: bool,
}

impl Conn {
    /// A closed connection that will keep at most `pipeline` requests in flight.
    pub fn new(pipeline: usize, now: Instant) -> Conn {
        Conn {
            stream: None,
            state: State::Closed,
            opened_at: now,
            last_progress: now,
            sent_at: VecDeque::with_capacity(pipeline),
            remaining: 0,
            ok_replies: 0,
            established: false,
            retry_at: None,
            unwritten: 0,
            write_off: 0,
            read_off: 0,
            reply_bad: false,
        }
    }

    /// Starts a non-blocking connect, from `source` if given; the socket is not registered yet.
    pub fn open(
        &mut self,
        addr: SocketAddr,
        source: Option<SocketAddr>,
        now: Instant,
    ) -> io::Result<()> {
        self.stream = Some(connect(addr, source)?);
        self.state = State::Connecting;
        self.opened_at = now;
        self.last_progress = now;
        self.sent_at.clear();
        self.unwritten = 0;
        self.write_off = 0;
        self.read_off = 0;
        self.reply_bad = false;
        self.retry_at = None;
        Ok(())
    }

    /// Checks whether the connect finished: `Ok(true)` connected, `Ok(false)` not yet.
    pub fn finish_connect(&mut self, greeting: bool, now: Instant) -> Result<bool, ErrorKind> {
        let Some(stream) = &self.stream else {
            return Ok(false);
        };
        match stream.take_error() {
            Ok(None) => {}
            Ok(Some(_)) | Err(_) => return Err(ErrorKind::Connect),
        }
        match stream.peer_addr() {
            Ok(_) => {
                self.state = if greeting {
                    State::Greeting
                } else {
                    State::Ready
                };
                self.established = true;
                self.last_progress = now;
                Ok(true)
            }
            // A spurious event: the handshake is still under way.
            Err(err) if err.kind() == io::ErrorKind::NotConnected => Ok(false),
            Err(_) => Err(ErrorKind::Connect),
        }
    }

    /// Queues one request, timed from `at` (normally now; for churn, the connect start).
    pub fn enqueue(&mut self, at: Instant, now: Instant) {
        if self.sent_at.is_empty() {
            self.last_progress = now;
        }
        self.sent_at.push_back(at);
        self.unwritten += 1;
        self.remaining = self.remaining.saturating_sub(1);
    }

    /// Writes queued requests from `batch` (the request repeated `pipeline` times).
    pub fn write(
        &mut self,
        batch: &[u8],
        request_len: usize,
        stats: &mut Stats,
    ) -> Result<(), ErrorKind> {
        let Some(stream) = &mut self.stream else {
            return Ok(());
        };
        while self.unwritten > 0 {
            let end = self.unwritten * request_len;
            match stream.write(&batch[self.write_off..end]) {
                Ok(0) => return Err(ErrorKind::Closed),
                Ok(n) => {
                    stats.bytes_sent += n as u64;
                    let done = self.write_off + n;
                    self.unwritten -= done / request_len;
                    self.write_off = done % request_len;
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(ErrorKind::of_io(&err)),
            }
        }
        Ok(())
    }

    /// Reads everything available into `scratch` and checks it, reply by reply.
    ///
    /// A reply that differs is counted as a mismatch and the stream goes on:
    /// replies have a known length, so the next one is still found. Bytes
    /// nobody asked for, a bad greeting, or the server closing are errors for
    /// the caller to count and close on.
    pub fn read(
        &mut self,
        ex: &Exchange,
        scratch: &mut [u8],
        stats: &mut Stats,
        now: Instant,
    ) -> Result<(), ErrorKind> {
        loop {
            let Some(stream) = &mut self.stream else {
                return Ok(());
            };
            match stream.read(scratch) {
                Ok(0) => return Err(ErrorKind::Closed),
                Ok(n) => {
                    stats.bytes_received += n as u64;
                    self.last_progress = now;
                    self.check(&scratch[..n], ex, stats, now)?;
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(ErrorKind::of_io(&err)),
            }
        }
    }

    fn check(
        &mut self,
        mut data: &[u8],
        ex: &Exchange,
        stats: &mut Stats,
        now: Instant,
    ) -> Result<(), ErrorKind> {
        while !data.is_empty() {
            let template = match (self.state, &ex.greeting) {
                (State::Greeting, Some(greeting)) => greeting,
                (State::Ready, _) if !self.sent_at.is_empty() => &ex.reply,
                _ => return Err(ErrorKind::Mismatch), // bytes nobody asked for
            };
            let take = (template.len() - self.read_off).min(data.len());
            if !template.matches(self.read_off, &data[..take], 0..0) {
                self.reply_bad = true;
            }
            self.read_off += take;
            data = &data[take..];
            if self.read_off < template.len() {
                continue;
            }
            self.read_off = 0;
            let bad = std::mem::take(&mut self.reply_bad);
            if self.state == State::Greeting {
                if bad {
                    return Err(ErrorKind::Mismatch);
                }
                self.state = State::Ready;
                continue;
            }
            // Invariant: the template was the reply only because sent_at was non-empty.
            let sent = self.sent_at.pop_front().unwrap_or(now);
            if bad {
                stats.error(ErrorKind::Mismatch);
            } else {
                stats.record(now.saturating_duration_since(sent));
                self.ok_replies += 1;
            }
        }
        Ok(())
    }

    /// Whether a request is in flight or a greeting is owed.
    pub fn waiting(&self) -> bool {
        self.state == State::Greeting || !self.sent_at.is_empty()
    }

    /// Whether the reply (or greeting) being read has already differed from its template.
    ///
    /// A wrong reply is counted when its last byte arrives; this lets a timeout
    /// or the end of the run count one that never completes as a mismatch.
    pub fn partial_mismatch(&self) -> bool {
        self.reply_bad
    }

    /// Forgets the socket (the caller has deregistered it); returns requests left unanswered.
    pub fn close(&mut self) -> usize {
        self.stream = None;
        self.state = State::Closed;
        let unanswered = self.sent_at.len();
        self.sent_at.clear();
        self.unwritten = 0;
        unanswered
    }
}

/// A non-blocking TCP connect, optionally bound to `source` first.
///
/// Binding to `127.0.0.K:0` before connecting gives each source address its
/// own range of ephemeral ports, which is how one client exceeds the ~28,000
/// connections a single source address allows towards one server port.
fn connect(addr: SocketAddr, source: Option<SocketAddr>) -> io::Result<TcpStream> {
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_nonblocking(true)?;
    socket.set_nodelay(true)?;
    if let Some(source) = source {
        socket.bind(&source.into())?;
    }
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(err) if err.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(err) => return Err(err),
    }
    Ok(TcpStream::from_std(socket.into()))
}
