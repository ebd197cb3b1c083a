//! What the threads share: the stop flag, the registry of live connections
//! (which doubles as the `--max-conns` semaphore) and the running totals.

use super::Stats;
use slab::Slab;
use std::fmt;
use std::io::{self, Read};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// How long to wait for threads to notice a hard `shutdown(Both)` after the drain timeout.
const ABORT_GRACE: Duration = Duration::from_secs(1);

/// State shared by the accept, UDP and connection threads and by `run`.
pub(super) struct Shared {
    /// Set once, by [`ShutdownHandle::shutdown`]; read lock-free on every hot path.
    stopping: AtomicBool,
    /// Streams being served, keyed by connection number (printed as `#3`).
    ///
    /// The entries are `Arc` clones of the streams the connection threads read
    /// and write, so `run` can `shutdown` a blocked socket from outside without
    /// `try_clone`, which would cost a second file descriptor per connection.
    /// Its length is the number of connections counted against `max_conns`.
    live: Mutex<Slab<Arc<LiveStream>>>,
    /// Signalled when a connection ends and when shutdown begins.
    changed: Condvar,
    /// Connections served at once, at most.
    max_conns: usize,
    /// Counters added by each thread as it finishes.
    totals: Mutex<Stats>,
}

impl Shared {
    pub(super) fn new(max_conns: usize) -> Self {
        Shared {
            stopping: AtomicBool::new(false),
            live: Mutex::new(Slab::new()),
            changed: Condvar::new(),
            max_conns: max_conns.max(1),
            totals: Mutex::new(Stats::default()),
        }
    }

    /// True once shutdown has begun.
    ///
    /// `SeqCst` here and in [`LiveStream::read`] is what makes `drain` safe:
    /// see there.
    pub(super) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Begins shutdown and wakes every thread waiting on the registry.
    pub(super) fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Taking the lock orders the store before any waiter's re-check: no lost wake-up.
        let _live = self.lock_live();
        self.changed.notify_all();
    }

    /// Blocks until [`stop`](Self::stop) has been called.
    pub(super) fn wait_for_stop(&self) {
        let mut live = self.lock_live();
        while !self.stopping() {
            live = self
                .changed
                .wait(live)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Registers `stream`, first waiting while `max_conns` are being served.
    ///
    /// Returns the connection's key, or `None` when shutdown began meanwhile.
    pub(super) fn admit(&self, stream: &Arc<LiveStream>) -> Option<usize> {
        let mut live = self.lock_live();
        while live.len() >= self.max_conns && !self.stopping() {
            live = self
                .changed
                .wait(live)
                .unwrap_or_else(PoisonError::into_inner);
        }
        if self.stopping() {
            return None;
        }
        Some(live.insert(Arc::clone(stream)))
    }

    /// Unregisters connection `key`, freeing its place under `max_conns`.
    pub(super) fn release(&self, key: usize) {
        let mut live = self.lock_live();
        live.try_remove(key);
        // Both an accept thread waiting for room and `drain` waiting for zero may care.
        self.changed.notify_all();
    }

    /// Adds one thread's counters to the totals.
    pub(super) fn add(&self, stats: &Stats) {
        self.totals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .add(stats);
    }

    /// The totals so far.
    pub(super) fn totals(&self) -> Stats {
        *self.totals.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Ends every connection: first politely, then, after `timeout`, by force.
    ///
    /// Call after [`stop`](Self::stop). A thread blocked in `read` has nothing
    /// pending: `shutdown(Read)` wakes it with end-of-file and it closes. A
    /// busy thread is left alone: it sees `stopping` after its current write,
    /// sends FIN and lingers until its client's EOF, so the replies in the
    /// kernel are not destroyed by a reset. A thread still blocked (a client
    /// not reading, or not closing) when the timeout runs out gets
    /// `shutdown(Both)`, which fails its write or read. Returns how many had
    /// to be aborted.
    pub(super) fn drain(&self, timeout: Duration) -> u64 {
        // A huge timeout waits as long as it takes (no overflow panic).
        let deadline = crate::config::saturating_deadline(Instant::now(), timeout);
        let mut live = self.lock_live();
        for (_, entry) in live.iter() {
            if entry.reading.load(Ordering::SeqCst) {
                let _ = entry.stream.shutdown(Shutdown::Read);
            }
        }
        live = self.wait_until_empty(live, deadline);
        let aborted = live.len() as u64;
        if aborted > 0 {
            log::warn!("drain timeout: aborting {aborted} connection(s) with undelivered replies");
            for (_, entry) in live.iter() {
                let _ = entry.stream.shutdown(Shutdown::Both);
            }
            live = self.wait_until_empty(live, Instant::now() + ABORT_GRACE);
            if !live.is_empty() {
                log::warn!("{} connection thread(s) did not finish", live.len());
            }
        }
        aborted
    }

    fn wait_until_empty<'a>(
        &self,
        mut live: MutexGuard<'a, Slab<Arc<LiveStream>>>,
        deadline: Instant,
    ) -> MutexGuard<'a, Slab<Arc<LiveStream>>> {
        while !live.is_empty() {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            live = self
                .changed
                .wait_timeout(live, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        live
    }

    /// The registry; a panic elsewhere cannot leave the slab half-updated, so poison is ignored.
    fn lock_live(&self) -> MutexGuard<'_, Slab<Arc<LiveStream>>> {
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A connection's socket, shared by its thread and the registry.
pub(super) struct LiveStream {
    /// The socket; `&TcpStream` implements `Read` and `Write`, so sharing needs no lock.
    pub(super) stream: TcpStream,
    /// True while the thread is in (or about to enter) [`read`](Self::read).
    reading: AtomicBool,
}

impl LiveStream {
    pub(super) fn new(stream: TcpStream) -> Self {
        LiveStream {
            stream,
            reading: AtomicBool::new(false),
        }
    }

    /// Reads like [`Read::read`], or returns `Ok(None)` without reading once shutdown has begun.
    ///
    /// The thread announces `reading` and then checks `stopping`; `drain`
    /// sets `stopping` (in `stop`) and then checks `reading`. With `SeqCst`
    /// on all four, at least one side sees the other's store: either the
    /// thread does not block, or `drain` shuts its read down. No thread can
    /// slip into a `read` that nobody will wake.
    pub(super) fn read(&self, buf: &mut [u8], shared: &Shared) -> io::Result<Option<usize>> {
        self.reading.store(true, Ordering::SeqCst);
        let result = if shared.stopping() {
            Ok(None)
        } else {
            (&self.stream).read(buf).map(Some)
        };
        self.reading.store(false, Ordering::SeqCst);
        result
    }
}

/// A place under `max_conns`, given back when dropped: when the connection
/// thread ends, or when the thread could not be spawned at all.
pub(super) struct Slot {
    pub(super) shared: Arc<Shared>,
    pub(super) key: usize,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.shared.release(self.key);
    }
}

/// Stops a [`ThreadedServer`](super::ThreadedServer) from any thread.
///
/// Cloneable and cheap. It takes a mutex, so call it from an ordinary thread
/// (such as the one [`watch_signals`](super::watch_signals) starts), never
/// from inside a signal handler.
#[derive(Clone)]
pub struct ShutdownHandle {
    pub(super) shared: Arc<Shared>,
}

impl ShutdownHandle {
    /// Begins graceful shutdown: stop accepting, deliver pending replies, close. Idempotent.
    pub fn shutdown(&self) {
        self.shared.stop();
    }

    /// True once [`shutdown`](Self::shutdown) has been called.
    pub fn is_shutting_down(&self) -> bool {
        self.shared.stopping()
    }
}

impl fmt::Debug for ShutdownHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownHandle")
            .field("stopping", &self.shared.stopping())
            .finish()
    }
}
