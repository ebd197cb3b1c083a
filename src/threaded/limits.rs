//! The reactor's limits, enforced the blocking way: per-source limits and the idle timer.
//!
//! A baseline that accepts a flag and ignores it is not a fair baseline, so
//! the threaded server enforces every limit the reactor does, with the same
//! meaning:
//!
//! - **Per-source limits** (`--max-conns-per-ip`, `--conn-rate-per-ip`,
//!   `--udp-budget`, `--udp-window`, `--udp-allow-low-ports`): the reactor's
//!   own `Guard`, behind a mutex shared by every accept and UDP thread. A
//!   refused connection is reset at once (SO_LINGER 0), as in the reactor.
//!   The lock is taken once per accepted connection, once when it closes, and
//!   once per UDP reply; it is never held across a system call.
//! - **The idle timeout** counts whole messages: a connection that completes
//!   no message and takes no reply for `--idle-timeout` is closed, even if it
//!   trickles a byte at a time (the slowloris). A socket read timeout alone
//!   would restart at every byte, so `IdleClock` shortens the timeout to
//!   what is left whenever a read makes no progress, and restores it after
//!   one that does. The fast path (every read completes a message) costs no
//!   extra system call.

use crate::config::Limits;
use crate::reactor::guard::Guard;
use crate::stats::Stats;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The per-source limits, shared by every thread of the server.
#[derive(Debug, Clone)]
pub(super) struct SharedGuard(Arc<Mutex<Guard>>);

impl SharedGuard {
    /// A guard enforcing the per-source parts of `limits`.
    pub(super) fn new(limits: &Limits) -> SharedGuard {
        SharedGuard(Arc::new(Mutex::new(Guard::new(limits))))
    }

    fn lock(&self) -> MutexGuard<'_, Guard> {
        // A panic while holding the lock leaves counts that are still usable.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Admits a connection from `peer`, counted until the [`Admission`] drops; `None`: refused.
    pub(super) fn admit(&self, peer: SocketAddr, stats: &mut Stats) -> Option<Admission> {
        self.lock()
            .admit(peer, Instant::now(), stats)
            .then(|| Admission {
                guard: self.clone(),
                peer,
            })
    }

    /// Whether a UDP reply of `len` bytes may go to `peer` (charged to its budget if so).
    pub(super) fn allow_reply(&self, peer: SocketAddr, len: usize, stats: &mut Stats) -> bool {
        self.lock().allow_reply(peer, len, Instant::now(), stats)
    }
}

/// One admitted connection's place in its source's count; released on drop.
#[derive(Debug)]
pub(super) struct Admission {
    guard: SharedGuard,
    peer: SocketAddr,
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.guard.lock().release(self.peer);
    }
}

/// Resets a refused connection at once: no TIME_WAIT, no half-open socket left behind.
pub(super) fn reset(stream: TcpStream) {
    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    drop(stream);
}

/// The idle timer of one connection: whole messages, not bytes, count as progress.
#[derive(Debug)]
pub(super) struct IdleClock {
    limit: Option<Duration>,
    last_progress: Instant,
    /// Whether the socket's read timeout is shorter than `limit` right now.
    shortened: bool,
}

impl IdleClock {
    /// A clock for `limit` (`None`: no idle timeout), started now.
    pub(super) fn new(limit: Option<Duration>) -> IdleClock {
        IdleClock {
            limit,
            last_progress: Instant::now(),
            shortened: false,
        }
    }

    /// After a read: `progressed` if a message completed or a reply went out.
    ///
    /// Sets the socket's read timeout to what is left of the idle period, or
    /// fails with `TimedOut` when nothing is left.
    pub(super) fn after_read(&mut self, stream: &TcpStream, progressed: bool) -> io::Result<()> {
        let Some(limit) = self.limit else {
            return Ok(());
        };
        let now = Instant::now();
        if progressed {
            self.last_progress = now;
            if self.shortened {
                self.shortened = false;
                stream.set_read_timeout(Some(limit))?;
            }
            return Ok(());
        }
        let left = limit.saturating_sub(now.duration_since(self.last_progress));
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "no whole message"));
        }
        self.shortened = true;
        stream.set_read_timeout(Some(left))
    }
}
