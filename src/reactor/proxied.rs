//! `--proxy-protocol`: waiting for each connection's PROXY header.
//!
//! Behind a load balancer every connection comes from the balancer; the
//! PROXY header it sends first names the real client. Until that header is
//! complete a connection is a *handshake*, kept here and not yet a
//! [`Connection`](super::connection::Connection): no protocol greeting is
//! sent, no limit is charged to the balancer's address.
//!
//! The header is read with `MSG_PEEK`, so nothing is consumed until
//! [`crate::protocol::proxy::parse`] says how long it is; then exactly those
//! bytes are read, and whatever the client sent after them stays in the
//! kernel for the session to read as usual. A header that is malformed,
//! longer than the spec allows, or not complete within [`HEADER_TIMEOUT`]
//! closes the connection and counts as a `proxy_header` refusal. Handshakes
//! count against `--max-conns` like connections, so they cannot pile up.

use super::connection::Peer;
use super::stream::Stream;
use super::{token, Reactor};
use crate::protocol::proxy::{self, Origin, Parse};
use mio::Interest;
use slab::Slab;
use std::collections::VecDeque;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant, SystemTime};

/// A header not complete this long after the connection was accepted is refused.
pub(super) const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug)]
struct Pending {
    stream: Stream,
    socket_peer: Peer,
    listener: usize,
    serial: u64,
}

/// Connections accepted whose PROXY header is not complete yet.
#[derive(Debug, Default)]
pub(super) struct Handshakes {
    pending: Slab<Pending>,
    /// Deadlines in the order they fall (all are accept time + HEADER_TIMEOUT).
    deadlines: VecDeque<(Instant, usize, u64)>,
    next_serial: u64,
}

impl Handshakes {
    /// How many are waiting for their header.
    pub(super) fn len(&self) -> usize {
        self.pending.len()
    }

    /// When the oldest handshake times out.
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.deadlines.front().map(|(at, _, _)| *at)
    }
}

/// Looks at the bytes queued on `stream` without consuming them.
fn peek(stream: &Stream, buf: &mut [u8]) -> io::Result<usize> {
    let fd = match stream {
        Stream::Tcp(tcp) => tcp.as_raw_fd(),
        Stream::Unix(unix) => unix.as_raw_fd(),
    };
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes and `fd` is an
    // open socket owned by `stream`, which outlives this call.
    let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_PEEK) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

impl Reactor {
    /// Holds a freshly accepted stream until its PROXY header arrives.
    pub(super) fn begin_handshake(
        &mut self,
        mut stream: Stream,
        peer: Peer,
        listener: usize,
        now: Instant,
        wall: SystemTime,
    ) {
        let handshakes = &mut self.ops.handshakes;
        let key = handshakes.pending.vacant_key();
        let interest = Interest::READABLE;
        if let Err(err) =
            self.poll
                .registry()
                .register(&mut stream, token::handshake(key), interest)
        {
            log::debug!("{peer}: cannot register for the PROXY header: {err}");
            self.guard.unreserve();
            return;
        }
        let serial = handshakes.next_serial;
        handshakes.next_serial += 1;
        handshakes.pending.insert(Pending {
            stream,
            socket_peer: peer,
            listener,
            serial,
        });
        handshakes
            .deadlines
            .push_back((now + HEADER_TIMEOUT, key, serial));
        // The header often arrives with the handshake's first segment.
        self.handle_handshake(key, now, wall);
    }

    /// Reads what there is of a header; admits, refuses, or waits for more.
    pub(super) fn handle_handshake(&mut self, key: usize, now: Instant, wall: SystemTime) {
        let Some(pending) = self.ops.handshakes.pending.get_mut(key) else {
            return; // Stale event for a handshake already finished.
        };
        let mut header = [0u8; proxy::MAX_HEADER];
        let seen = match peek(&pending.stream, &mut header) {
            Ok(0) => return self.refuse_handshake(key, "closed before its PROXY header"),
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => return,
            Err(err) => return self.drop_handshake(key, &err.to_string()),
        };
        let (length, origin) = match proxy::parse(&header[..seen]) {
            Parse::Incomplete => return,
            Parse::Invalid(err) => return self.refuse_handshake(key, &err.to_string()),
            Parse::Done { length, origin } => (length, origin),
        };
        let mut pending = self.ops.handshakes.pending.remove(key);
        let _ = self.poll.registry().deregister(&mut pending.stream);
        // The peeked bytes are queued, so this read returns all `length` of them.
        if pending.stream.read_exact(&mut header[..length]).is_err() {
            self.stats.proxy_header += 1;
            self.guard.unreserve();
            return;
        }
        let peer = match origin {
            Origin::Client(addr) => Peer::Inet(addr),
            Origin::Local => pending.socket_peer,
        };
        log::debug!(
            "{} carries {peer} (via {})",
            token::Label(token::handshake(key)),
            pending.socket_peer
        );
        self.admit_stream(pending.stream, peer, pending.listener, now, wall);
    }

    /// Closes handshakes whose header did not come in time.
    pub(super) fn expire_handshakes(&mut self, now: Instant) {
        while let Some(&(at, key, serial)) = self.ops.handshakes.deadlines.front() {
            if at > now {
                break;
            }
            self.ops.handshakes.deadlines.pop_front();
            let live = self
                .ops
                .handshakes
                .pending
                .get(key)
                .is_some_and(|p| p.serial == serial);
            if live {
                self.refuse_handshake(key, "PROXY header not complete within 5 s");
            }
        }
    }

    /// Closes every handshake (shutdown: they have been sent nothing).
    pub(super) fn close_handshakes(&mut self) {
        for mut pending in self.ops.handshakes.pending.drain() {
            let _ = self.poll.registry().deregister(&mut pending.stream);
            self.guard.unreserve();
        }
        self.ops.handshakes.deadlines.clear();
    }

    fn refuse_handshake(&mut self, key: usize, why: &str) {
        self.stats.proxy_header += 1;
        self.drop_handshake(key, why);
    }

    fn drop_handshake(&mut self, key: usize, why: &str) {
        let mut pending = self.ops.handshakes.pending.remove(key);
        let _ = self.poll.registry().deregister(&mut pending.stream);
        self.guard.unreserve();
        log::debug!(
            "{} from {} closed: {why}",
            token::Label(token::handshake(key)),
            pending.socket_peer
        );
        self.resume_accepting_if_paused();
    }
}
