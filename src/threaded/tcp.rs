//! TCP: one accept thread per listener, one thread per connection.

use super::limits::{self, Admission, IdleClock, SharedGuard};
use super::live::{LiveStream, Shared, Slot};
use super::{Stats, CONNECTION_STACK, LINGER_TIMEOUT, READ_BUFFER};
use crate::config::{Binding, Limits};
use crate::files::FilesRoot;
use crate::protocol::{Action, Framing, Session};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, SystemTime};

/// Pause after `accept` fails for lack of descriptors, so the thread does not spin.
const FD_EXHAUSTED_PAUSE: Duration = Duration::from_millis(10);

/// `EMFILE` and `ENFILE`: the same numbers on Linux, the BSDs and macOS.
const EMFILE: i32 = 24;
const ENFILE: i32 = 23;

/// What every connection accepted on one listener is served with.
#[derive(Debug, Clone)]
pub(super) struct Service {
    pub(super) binding: Binding,
    pub(super) framing: Framing,
    pub(super) limits: Limits,
    /// Where the files protocol reads, if it is served.
    pub(super) files: Option<Arc<FilesRoot>>,
    /// The per-source limits, shared by every listener.
    pub(super) guard: SharedGuard,
}

/// The body of an accept thread: accept, wait for room under `max_conns`, spawn.
///
/// Accepting before waiting for room keeps several listeners fair: a thread
/// that waited first would hold a place while blocked in `accept` for a client
/// that may never come. The cost is one accepted but not yet served
/// connection per listener at the cap; it sees no greeting until a place frees.
pub(super) fn accept_loop(listener: TcpListener, service: Service, shared: Arc<Shared>) {
    let mut stats = Stats::default();
    loop {
        let accepted = listener.accept();
        if shared.stopping() {
            // `run` connects to us to end a blocked `accept`; that stream is dropped here.
            break;
        }
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(err) => {
                on_accept_error(&service.binding, &err, &mut stats);
                continue;
            }
        };
        let Some(admission) = service.guard.admit(peer, &mut stats) else {
            limits::reset(stream);
            continue;
        };
        let stream = Arc::new(LiveStream::new(stream));
        let Some(key) = shared.admit(&stream) else {
            break;
        };
        stats.connections += 1;
        let slot = Slot {
            shared: Arc::clone(&shared),
            key,
        };
        let connection = Connection {
            live: stream,
            peer,
            service: service.clone(),
            slot,
            _admission: admission,
        };
        let spawned = thread::Builder::new()
            .name(format!("conn#{key}"))
            .stack_size(CONNECTION_STACK)
            .spawn(move || connection.run());
        if let Err(err) = spawned {
            // The closure was dropped: its stream is closed and its slot released.
            log::error!(
                "{} #{key} {peer}: cannot spawn a thread, closing: {err}",
                service.binding
            );
            stats.spawn_failed += 1;
        }
    }
    shared.add(&stats);
}

fn on_accept_error(binding: &Binding, err: &io::Error, stats: &mut Stats) {
    match err.raw_os_error() {
        Some(EMFILE | ENFILE) => {
            stats.accept_fd_exhausted += 1;
            log::warn!("{binding}: accept: {err}");
            thread::sleep(FD_EXHAUSTED_PAUSE);
        }
        // ECONNABORTED and the like: that client gave up; the next may not.
        _ => log::debug!("{binding}: accept: {err}"),
    }
}

/// One accepted connection and everything its thread needs.
struct Connection {
    /// Shared with the registry, which may `shutdown` it from `run`.
    live: Arc<LiveStream>,
    peer: SocketAddr,
    service: Service,
    /// Released when the connection (or the unspawned closure holding it) is dropped.
    slot: Slot,
    /// Its source's place under the per-source limits, released likewise.
    _admission: Admission,
}

impl Connection {
    fn stream(&self) -> &TcpStream {
        &self.live.stream
    }

    /// The body of a connection thread.
    fn run(self) {
        let mut stats = Stats::default();
        let key = self.slot.key;
        log::debug!("{} #{key} {}: connected", self.service.binding, self.peer);
        let reason = match self.serve(&mut stats) {
            Ok(reason) => reason,
            Err(err) if is_timeout(&err) => {
                stats.idle_closed += 1;
                "idle timeout"
            }
            Err(err) => {
                log::debug!("{} #{key} {}: {err}", self.service.binding, self.peer);
                "socket error"
            }
        };
        log::debug!(
            "{} #{key} {}: closed ({reason}; {} bytes in, {} out)",
            self.service.binding,
            self.peer,
            stats.bytes_in,
            stats.bytes_out
        );
        self.slot.shared.add(&stats);
    }

    /// Greets, then reads, answers and writes until someone closes; returns why.
    fn serve(&self, stats: &mut Stats) -> io::Result<&'static str> {
        let limits = &self.service.limits;
        self.stream().set_nodelay(true)?;
        // A blocked read or write that outlasts the idle timeout fails with
        // WouldBlock/TimedOut: that is the whole idle timer of this design.
        self.stream().set_read_timeout(limits.idle_timeout)?;
        self.stream().set_write_timeout(limits.idle_timeout)?;
        let binding = &self.service.binding;
        let mut session = Session::new(binding.protocol, self.service.framing, limits.max_line);
        // Per thread: a thread cannot share the reactor's single scratch buffer.
        let mut buf = vec![0u8; READ_BUFFER];
        let mut out = Vec::new();
        let mut idle = IdleClock::new(limits.idle_timeout);
        let greeted = session.on_connect(SystemTime::now(), &mut out);
        self.send(&mut out, stats)?;
        if greeted == Action::Close || self.produce(&mut session, &mut out, stats)? == Action::Close
        {
            return self.close(&mut buf, stats, "protocol closed");
        }
        loop {
            let n = match self.live.read(&mut buf, &self.slot.shared) {
                Ok(Some(n)) => n,
                // Shutdown began while we were answering: linger, since the
                // client may still be sending and a reset would destroy replies.
                Ok(None) => return self.close(&mut buf, stats, "server shutdown"),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            };
            stats.bytes_in += n as u64;
            if self.slot.shared.stopping() {
                // `drain`'s shutdown(Read), or input that came too late: produce nothing more.
                return self.close(&mut buf, stats, "server shutdown");
            }
            let now = SystemTime::now();
            if n == 0 {
                // A file asked for just before EOF is still sent.
                if session.on_eof(now, &mut out) == Action::Continue {
                    self.send(&mut out, stats)?;
                    self.produce(&mut session, &mut out, stats)?;
                }
                self.send(&mut out, stats)?;
                let _ = self.stream().shutdown(Shutdown::Write);
                return Ok("peer closed");
            }
            let before = (stats.messages, stats.bytes_out);
            let fed = self.feed(&mut session, &buf[..n], now, &mut out, stats)?;
            if fed == Action::Close || self.produce(&mut session, &mut out, stats)? == Action::Close
            {
                let reason = if session.is_closing() {
                    "protocol closed"
                } else {
                    "server shutdown"
                };
                return self.close(&mut buf, stats, reason);
            }
            idle.after_read(self.stream(), before != (stats.messages, stats.bytes_out))?;
        }
    }

    /// Hands `input` to the session in steps of at most `max_pending` bytes of output.
    fn feed(
        &self,
        session: &mut Session,
        mut input: &[u8],
        now: SystemTime,
        out: &mut Vec<u8>,
        stats: &mut Stats,
    ) -> io::Result<Action> {
        loop {
            // `out` is empty here, so the session always makes progress.
            let progress = session.on_bytes(input, now, out, self.service.limits.max_pending);
            stats.messages += progress.messages;
            input = &input[progress.consumed..];
            self.send(out, stats)?;
            if progress.action == Action::Close {
                return Ok(Action::Close);
            }
            if input.is_empty() {
                // Shutdown, if it has begun, is seen at the next read.
                return Ok(Action::Continue);
            }
            if self.slot.shared.stopping() {
                // Requests left unanswered: produce nothing more.
                return Ok(Action::Close);
            }
        }
    }

    /// Streams what the session produces on its own (a requested file, chargen)
    /// with blocking writes: the thread simply waits while the client is slow.
    fn produce(
        &self,
        session: &mut Session,
        out: &mut Vec<u8>,
        stats: &mut Stats,
    ) -> io::Result<Action> {
        if let Some(name) = session.take_file_request() {
            let opened = match &self.service.files {
                Some(root) => root.open(&name),
                None => Err("files are not served here"),
            };
            match opened {
                Ok(file) => session.start_stream(Box::new(file)),
                Err(reason) => {
                    session.refuse(reason, out);
                    self.send(out, stats)?;
                    return Ok(Action::Close);
                }
            }
        }
        let batch = READ_BUFFER.min(self.service.limits.max_pending);
        while session.wants_to_produce() {
            if self.slot.shared.stopping() {
                return self.end_stream(session);
            }
            let action = session.poll_output(out, batch);
            self.send(out, stats)?;
            if action == Action::Close {
                return self.end_stream(session);
            }
        }
        Ok(Action::Continue)
    }

    /// The stream ended. If a file did not reach its end (a read error, a
    /// shutdown mid-file), the connection is reset (`SO_LINGER` 0) rather
    /// than closed with a FIN that would make the truncated file look complete.
    fn end_stream(&self, session: &Session) -> io::Result<Action> {
        if session.stream_cut_short() {
            let _ = socket2::SockRef::from(self.stream()).set_linger(Some(Duration::ZERO));
            return Err(io::Error::other("file stream cut short: reset"));
        }
        Ok(Action::Close)
    }

    /// Writes all of `out`, blocking until the kernel has taken it, then clears it.
    fn send(&self, out: &mut Vec<u8>, stats: &mut Stats) -> io::Result<()> {
        if !out.is_empty() {
            self.stream().write_all(out)?;
            stats.bytes_out += out.len() as u64;
            out.clear();
        }
        Ok(())
    }

    /// Every reply is in the kernel: send FIN, then read and discard until the peer's EOF.
    ///
    /// Closing a socket with unread input makes the kernel send RST and throw
    /// away replies not yet delivered; lingering (as the reactor does) avoids
    /// that. During shutdown, `drain` ends a linger that outlasts the drain timeout.
    fn close(
        &self,
        buf: &mut [u8],
        stats: &mut Stats,
        reason: &'static str,
    ) -> io::Result<&'static str> {
        let _ = self.stream().shutdown(Shutdown::Write);
        self.stream().set_read_timeout(Some(LINGER_TIMEOUT))?;
        loop {
            match self.stream().read(buf) {
                Ok(0) => return Ok(reason),
                Ok(n) => stats.bytes_in += n as u64,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                // Linger timeout or reset: nothing more can be saved.
                Err(_) => return Ok(reason),
            }
        }
    }
}

/// How a socket timeout shows up: `WouldBlock` on Unix, `TimedOut` on Windows.
fn is_timeout(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}
