//! Graceful shutdown: stop accepting, deliver what was produced, then close.
//!
//! A shutdown starts on SIGINT/SIGTERM (delivered through signal-hook's
//! self-pipe as an ordinary mio event, so no code runs inside a signal
//! handler) or from another thread through a [`ShutdownHandle`], which sets a
//! flag and wakes the poll. Then:
//!
//! 1. listeners and UDP sockets are closed: no new clients, no new datagrams;
//! 2. every connection stops reading and enters `Closing`: replies already
//!    produced are written out, then the write side is shut (the client sees
//!    EOF after the last byte), and the connection lingers until the client
//!    closes too;
//! 3. the loop ends when no connection is left or `--drain-timeout` has passed,
//!    and the summary is logged. A second signal cuts the drain short.

use super::{token, Reactor, Stats};
use mio::{Interest, Waker};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};
use signal_hook_mio::v1_0::Signals;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// The signals reactord handles, for one reactor and for `--reactors N` alike.
pub const HANDLED_SIGNALS: [i32; 4] = [SIGINT, SIGTERM, SIGUSR1, SIGHUP];

/// What a handled signal asks of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalRequest {
    /// SIGUSR1: log the counters.
    Counters,
    /// SIGHUP: nothing to reload; logged and ignored.
    Ignore,
    /// SIGINT or SIGTERM (named): shut down gracefully.
    Stop(&'static str),
}

impl SignalRequest {
    /// The request `signal` makes; SIGHUP's is logged here, being the same everywhere.
    pub fn of(signal: i32) -> SignalRequest {
        match signal {
            SIGUSR1 => SignalRequest::Counters,
            SIGHUP => {
                log::info!("received SIGHUP: ignored (reactord has nothing to reload; restart to change settings)");
                SignalRequest::Ignore
            }
            SIGINT => SignalRequest::Stop("SIGINT"),
            _ => SignalRequest::Stop("SIGTERM"),
        }
    }
}

/// Asks a running reactor to shut down gracefully; cheap to clone, usable from any thread.
#[derive(Debug, Clone)]
pub struct ShutdownHandle {
    waker: Arc<Waker>,
    requested: Arc<AtomicBool>,
}

impl ShutdownHandle {
    /// Starts a graceful shutdown, as SIGTERM would.
    pub fn shutdown(&self) {
        self.requested.store(true, Ordering::Release);
        if let Err(err) = self.waker.wake() {
            log::error!("cannot wake the event loop for shutdown: {err}");
        }
    }

    /// The reactor's waker, to wake it for something other than a shutdown.
    pub(super) fn waker(&self) -> Arc<Waker> {
        Arc::clone(&self.waker)
    }
}

/// The reactor's shutdown bookkeeping.
pub(super) struct ShutdownState {
    handle: ShutdownHandle,
    signals: Option<Signals>,
    drain_deadline: Option<Instant>,
}

impl std::fmt::Debug for ShutdownState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShutdownState")
            .field("signals", &self.signals.is_some())
            .field("drain_deadline", &self.drain_deadline)
            .finish()
    }
}

impl ShutdownState {
    pub(super) fn new(waker: Arc<Waker>, requested: Arc<AtomicBool>) -> Self {
        ShutdownState {
            handle: ShutdownHandle { waker, requested },
            signals: None,
            drain_deadline: None,
        }
    }

    /// When draining must end, once a shutdown has begun.
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.drain_deadline
    }

    /// True when a shutdown has begun and is complete or out of time.
    pub(super) fn drained(&self, now: Instant, open_connections: usize) -> bool {
        self.drain_deadline
            .is_some_and(|deadline| open_connections == 0 || now >= deadline)
    }
}

impl Reactor {
    /// A handle that shuts this reactor down from another thread.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.handle.clone()
    }

    /// Shuts down gracefully on SIGINT and SIGTERM; logs the counters on
    /// SIGUSR1; logs and otherwise ignores SIGHUP (nothing is reloaded).
    ///
    /// Signal dispositions are process-wide, so call this for one reactor per process.
    pub fn watch_signals(&mut self) -> io::Result<()> {
        let mut signals = Signals::new(HANDLED_SIGNALS)?;
        self.poll
            .registry()
            .register(&mut signals, token::SIGNALS, Interest::READABLE)?;
        self.shutdown.signals = Some(signals);
        Ok(())
    }

    pub(super) fn handle_wake(&mut self, now: Instant) {
        if self.shutdown.handle.requested.swap(false, Ordering::AcqRel) {
            log::info!("shutdown requested");
            self.begin_shutdown(now);
        }
    }

    pub(super) fn handle_signals(&mut self, now: Instant) {
        let received: Vec<i32> = match &mut self.shutdown.signals {
            Some(signals) => signals.pending().collect(),
            None => return,
        };
        for signal in received {
            match SignalRequest::of(signal) {
                SignalRequest::Counters => log::info!("counters: {}", self.stats),
                SignalRequest::Ignore => {}
                SignalRequest::Stop(name) => {
                    log::info!("received {name}");
                    self.begin_shutdown(now);
                }
            }
        }
    }

    fn begin_shutdown(&mut self, now: Instant) {
        if self.shutdown.drain_deadline.is_some() {
            log::warn!(
                "second shutdown request: closing {} connections now",
                self.connections.len()
            );
            self.shutdown.drain_deadline = Some(now);
            return;
        }
        let drain = self.limits.drain_timeout;
        self.ops
            .notifier
            .stopping(self.ops.liveness.open_connections());
        self.close_handshakes();
        log::info!(
            "shutting down: not accepting; delivering pending replies to {} connections (at most {drain:?})",
            self.connections.len()
        );
        for source in self.sources.iter_mut() {
            // Dropping a listener or UDP socket closes it; deregistering first keeps the poll tidy.
            if let Some(mut source) = source.take() {
                let _ = source.deregister(self.poll.registry());
            }
        }
        self.ops.socket_files.remove_all();
        // A huge drain timeout waits as long as it takes (no overflow panic).
        self.shutdown.drain_deadline = Some(crate::config::saturating_deadline(now, drain));
        for (key, conn) in self.connections.iter_mut() {
            conn.begin_shutdown();
            super::posted::post_connection(conn, key, &mut self.yielded);
        }
    }

    /// Closes what is left and logs the summary.
    pub(super) fn finish(mut self) -> Stats {
        // Connections that only wait for the client's EOF lost nothing; those with
        // output still queued are the ones the drain timeout cut short.
        let cut_short: Vec<usize> = self
            .connections
            .iter()
            .map(|(_, conn)| conn.pending_output())
            .filter(|&unsent| unsent > 0)
            .collect();
        if !cut_short.is_empty() {
            let unsent: usize = cut_short.iter().sum();
            log::warn!(
                "drain timeout: {} connections closed with {unsent} bytes unsent",
                cut_short.len()
            );
            self.stats.drain_aborted = cut_short.len() as u64;
        }
        for mut conn in self.connections.drain() {
            conn.deregister(self.poll.registry());
            // Siblings may still be draining: give back what this one counted.
            if let super::connection::Peer::Inet(addr) = conn.peer {
                self.guard.release(addr);
            }
            self.guard.unreserve();
        }
        // Only the reactor that bound them lists socket files (a sibling's
        // list is empty), and each is removed only if the path still names it.
        self.ops.socket_files.remove_all();
        if self.siblings.any() {
            // The layer that started the siblings logs the sum, and a line per reactor.
            log::debug!("this reactor: {}", self.stats);
        } else {
            log::info!("summary: {}", self.stats);
        }
        self.published.publish(&self.stats);
        self.stats
    }
}
