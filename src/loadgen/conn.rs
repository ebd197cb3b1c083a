//! One client TCP connection: its socket, where it is in the exchange, and nothing else.
//!
//! A `Conn` owns no buffers of its own. It writes its requests, each stamped
//! with the connection's id and a sequence number (see [`expect`](super::expect)),
//! through the loop's shared write buffer and checks replies against the
//! shared template, keeping only offsets: how much of the current request is
//! written, how much of the current reply has been checked, its stamp bytes,
//! and the send time of each request in flight (a ring allocated once,
//! `pipeline` long). An idle connection costs about a hundred bytes here plus
//! the kernel socket.
//!
//! Every method is non-blocking and follows mio's rule for edge-triggered
//! readiness: write until `WouldBlock` or nothing is left, and treat every
//! event as a hint (a spurious or stale event finds `WouldBlock` and does
//! nothing). Reading stops early by the *short-read rule*: on epoll and
//! kqueue, a read that returns fewer bytes than the buffer holds means the
//! socket was drained at that moment, and data arriving later raises a new
//! edge, so the `read` that would only return `WouldBlock` is skipped. The one
//! exception is an event that already reported the peer's FIN
//! (`is_read_closed`): that edge will not come again, so such a read goes on
//! until it sees the end of the stream.

use super::connect::connect;
use super::error::ErrorKind;
use super::expect::{stamp_value, verdict, Exchange, STAMP_DIGITS};
use super::stats::Stats;
use mio::net::TcpStream;
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
    /// Open-loop mode: requests of this connection's schedule already queued.
    pub scheduled: u64,
    /// This connection's id in the whole run, stamped into every request.
    id: usize,
    /// Sequence number of the next request to queue (never reset, so a reconnect goes on counting).
    next_seq: u64,
    /// The stamp bytes of the reply being read.
    stamp_seen: [u8; STAMP_DIGITS],
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
    /// Closed connection `id` of the run, to keep at most `pipeline` requests in flight.
    pub fn new(id: usize, pipeline: usize, now: Instant) -> Conn {
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
            scheduled: 0,
            id,
            next_seq: 0,
            stamp_seen: [0; STAMP_DIGITS],
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
    ///
    /// A completed connect's time is recorded in `stats.connect_latency`.
    pub fn finish_connect(
        &mut self,
        greeting: bool,
        stats: &mut Stats,
        now: Instant,
    ) -> Result<bool, ErrorKind> {
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
                stats.record_connect(now.saturating_duration_since(self.opened_at));
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
        self.next_seq += 1;
        self.unwritten += 1;
        self.remaining = self.remaining.saturating_sub(1);
    }

    /// Writes the queued requests, each stamped, through the loop's buffer `wbuf`.
    pub fn write(
        &mut self,
        ex: &Exchange,
        wbuf: &mut Vec<u8>,
        stats: &mut Stats,
    ) -> Result<(), ErrorKind> {
        let Some(stream) = &mut self.stream else {
            return Ok(());
        };
        let request_len = ex.request.len();
        while self.unwritten > 0 {
            wbuf.clear();
            for seq in self.next_seq - self.unwritten as u64..self.next_seq {
                ex.request_into(stamp_value(self.id, seq), wbuf);
            }
            match stream.write(&wbuf[self.write_off..]) {
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

    /// Reads what is available into `scratch` and checks it, reply by reply.
    ///
    /// A reply that differs is counted by kind (see [`verdict`]) and the
    /// stream goes on: replies have a known length, so the next one is still
    /// found. A bad greeting, bytes before the connect, or the server closing
    /// are errors for the caller to count and close on. Only replies that
    /// arrive while `measuring` count as operations. `read_closed`: the event
    /// said the peer sent its FIN, so the short-read rule does not apply.
    pub fn read(
        &mut self,
        ex: &Exchange,
        scratch: &mut [u8],
        stats: &mut Stats,
        (now, measuring, read_closed): (Instant, bool, bool),
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
                    self.check(&scratch[..n], ex, stats, (now, measuring))?;
                    if n < scratch.len() && !read_closed {
                        return Ok(()); // short read: drained; a new arrival raises a new edge
                    }
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
        (now, measuring): (Instant, bool),
    ) -> Result<(), ErrorKind> {
        let stamp = ex.reply_stamp();
        while !data.is_empty() {
            let greeting = self.state == State::Greeting;
            let template = match (self.state, &ex.greeting) {
                (State::Greeting, Some(greeting)) => greeting,
                // Ready: even with nothing in flight, a stray reply is judged by its stamp.
                (State::Ready, _) => &ex.reply,
                _ => return Err(ErrorKind::Mismatch), // bytes before the connect finished
            };
            let take = (template.len() - self.read_off).min(data.len());
            let chunk = &data[..take];
            let ignore = if greeting { 0..0 } else { stamp.clone() };
            if !greeting {
                self.keep_stamp(chunk, &stamp);
            }
            if !template.matches(self.read_off, chunk, ignore) {
                self.reply_bad = true;
            }
            self.read_off += take;
            data = &data[take..];
            if self.read_off < template.len() {
                continue;
            }
            self.read_off = 0;
            let bad = std::mem::take(&mut self.reply_bad);
            if greeting {
                if bad {
                    return Err(ErrorKind::Mismatch);
                }
                self.state = State::Ready;
                continue;
            }
            self.finish_reply(bad, stamp.len(), stats, (now, measuring));
        }
        Ok(())
    }

    /// Copies the part of `chunk` (at `self.read_off` in the reply) that falls in the stamp.
    fn keep_stamp(&mut self, chunk: &[u8], stamp: &std::ops::Range<usize>) {
        let from = self.read_off.max(stamp.start);
        let to = (self.read_off + chunk.len()).min(stamp.end);
        if from < to {
            self.stamp_seen[from - stamp.start..to - stamp.start]
                .copy_from_slice(&chunk[from - self.read_off..to - self.read_off]);
        }
    }

    /// Judges a whole reply: the one owed, or a counted verification error.
    fn finish_reply(
        &mut self,
        bad: bool,
        width: usize,
        stats: &mut Stats,
        (now, measuring): (Instant, bool),
    ) {
        let owed = self.next_seq - self.sent_at.len() as u64;
        let kind = if bad {
            Some(ErrorKind::Mismatch)
        } else if self.sent_at.is_empty() {
            // Nothing owed: an answered request again, or one never sent.
            verdict(&self.stamp_seen[..width], stamp_value(self.id, owed))
                .or(Some(ErrorKind::Reordered))
        } else {
            verdict(&self.stamp_seen[..width], stamp_value(self.id, owed))
        };
        match kind {
            None => {
                // Invariant: `kind` is None only when sent_at is non-empty.
                let sent = self.sent_at.pop_front().unwrap_or(now);
                self.ok_replies += 1;
                if measuring {
                    stats.record(now.saturating_duration_since(sent));
                }
            }
            // A duplicate answers nothing: the request owed is still owed.
            Some(ErrorKind::Duplicate) => stats.error(ErrorKind::Duplicate),
            Some(kind) => {
                stats.error(kind);
                self.sent_at.pop_front();
            }
        }
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
