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

use super::MassConfig;
use crate::loadgen::conn::set_bind_address_no_port;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use socket2::{Domain, SockRef, Socket, Type};
use std::collections::{BTreeMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
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

    /// Starts connection `i`'s connect; a failure here (no address, no descriptor) is counted.
    fn open(&mut self, i: usize) {
        let source = self.config.source(i);
        let opened = connect(self.config.addr, source).and_then(|mut stream| {
            self.poll.registry().register(
                &mut stream,
                Token(i),
                Interest::READABLE | Interest::WRITABLE,
            )?;
            Ok(stream)
        });
        match opened {
            Ok(stream) => {
                let slot = &mut self.slots[i];
                slot.stream = Some(stream);
                slot.phase = Phase::Connecting;
                self.in_flight += 1;
                self.pending
                    .push_back((i, Instant::now() + self.config.timeout));
            }
            Err(err) => {
                self.slots[i].phase = Phase::Failed;
                self.count(format!("connect from {source}: {err}"));
            }
        }
    }

    /// Reacts to readiness of connection `i`; stale and spurious events do nothing.
    fn handle(&mut self, i: usize) {
        let result = match self.slots[i].phase {
            Phase::Connecting => self.finish_connect(i),
            Phase::Echoing => self.write(i).and_then(|()| self.read(i)),
            Phase::Held => self.read(i),
            Phase::New | Phase::Failed => Ok(()),
        };
        if let Err(reason) = result {
            self.fail(i, reason);
        }
    }

    fn finish_connect(&mut self, i: usize) -> Result<(), String> {
        let Some(stream) = &self.slots[i].stream else {
            return Ok(());
        };
        if let Ok(Some(err)) | Err(err) = stream.take_error() {
            return Err(format!("connect: {err}"));
        }
        match stream.peer_addr() {
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::NotConnected => return Ok(()), // still going
            Err(err) => return Err(format!("connect: {err}")),
        }
        self.established += 1;
        // Still in flight under the connect's deadline: connect and first echo share one timeout.
        self.begin_echo(i);
        // Bytes that came with the connect's readiness raise no new edge: read them now.
        self.read(i)
    }

    /// Starts the next round trip on connection `i` (already counted in flight) and writes.
    fn begin_echo(&mut self, i: usize) {
        let slot = &mut self.slots[i];
        slot.phase = Phase::Echoing;
        slot.written = 0;
        slot.matched = 0;
        if let Err(reason) = self.write(i) {
            self.fail(i, reason);
        }
    }

    fn write(&mut self, i: usize) -> Result<(), String> {
        let payload = self.config.payload(i, self.slots[i].rounds);
        let slot = &mut self.slots[i];
        let Some(stream) = &mut slot.stream else {
            return Ok(());
        };
        while slot.written < PAYLOAD {
            match stream.write(&payload[usize::from(slot.written)..]) {
                Ok(n) => slot.written += n as u8, // n <= PAYLOAD
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(format!("send: {err}")),
            }
        }
        Ok(())
    }

    /// Reads and checks echoed bytes; completing the payload verifies the round.
    fn read(&mut self, i: usize) -> Result<(), String> {
        let payload = self.config.payload(i, self.slots[i].rounds);
        let slot = &mut self.slots[i];
        let Some(stream) = &mut slot.stream else {
            return Ok(());
        };
        let mut buf = [0u8; 64];
        loop {
            let n = match stream.read(&mut buf) {
                Ok(0) if slot.phase == Phase::Held => {
                    return Err("closed by the server while idle".into())
                }
                Ok(0) => return Err("closed by the server before the echo".into()),
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(format!("receive: {err}")),
            };
            if slot.phase != Phase::Echoing {
                return Err("bytes while idle, which nobody asked for".into());
            }
            let from = usize::from(slot.matched);
            let take = n.min(payload.len() - from);
            if buf[..take] != payload[from..from + take] {
                return Err("echo differs from what was sent".into());
            }
            if take < n {
                return Err("more bytes back than were sent".into());
            }
            slot.matched += n as u8; // n == take <= PAYLOAD - matched
            if slot.matched == PAYLOAD && slot.written == PAYLOAD {
                slot.rounds += 1;
                slot.phase = Phase::Held;
                self.in_flight -= 1;
            }
        }
    }

    /// Counts `reason` and drops connection `i`'s socket.
    fn fail(&mut self, i: usize, reason: String) {
        let slot = &mut self.slots[i];
        if matches!(slot.phase, Phase::Connecting | Phase::Echoing) {
            self.in_flight -= 1;
        }
        slot.phase = Phase::Failed;
        if let Some(mut stream) = slot.stream.take() {
            let _ = self.poll.registry().deregister(&mut stream);
        }
        self.count(reason);
    }

    fn count(&mut self, reason: String) {
        *self.errors.entry(reason).or_insert(0) += 1;
    }
}

/// A non-blocking connect from `source` (port chosen at connect time) to `addr`.
///
/// `IP_BIND_ADDRESS_NO_PORT` makes `bind` take the address only; the port is
/// picked by `connect`, per destination. Without it, `bind(addr:0)` must pick a
/// port unique for the address alone, and one source could hold only about
/// 28,000 connections in all instead of 28,000 per server address and port.
fn connect(addr: SocketAddr, source: Ipv4Addr) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(socket2::Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    set_bind_address_no_port(&socket)?;
    socket.bind(&SocketAddr::V4(SocketAddrV4::new(source, 0)).into())?;
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(err) if err.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(err) => return Err(err),
    }
    Ok(TcpStream::from_std(socket.into()))
}
