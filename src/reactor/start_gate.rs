//! `READY=1` only once every reactor is serving (`--reactors N`).
//!
//! With one reactor, readiness is sent when its loop is about to poll for the
//! first time. With N, systemd must not hear `READY=1` while some reactors'
//! threads have not started yet: a client the kernel hands to such a reactor
//! (by `SO_REUSEPORT`'s hash) would wait. So the reactors share a count of
//! those not yet running; each takes one off as its loop starts, and the last
//! one wakes the first reactor (the one that talks to systemd), which then
//! sends `READY=1`. The count is touched once per reactor, never per turn.

use super::Reactor;
use mio::Waker;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The reactors of one process that have not started their loop yet.
#[derive(Debug, Clone)]
pub(super) struct StartGate {
    waiting: Arc<AtomicUsize>,
    /// The first reactor's waker: the one that sends `READY=1`.
    first: Arc<Waker>,
}

impl StartGate {
    /// This reactor's loop has started; the last one wakes the first reactor.
    pub(super) fn arrive(&self) {
        if self.waiting.fetch_sub(1, Ordering::AcqRel) == 1 {
            if let Err(err) = self.first.wake() {
                log::warn!("cannot wake the first reactor for readiness: {err}");
            }
        }
    }

    /// True once every reactor's loop has started.
    pub(super) fn open(&self) -> bool {
        self.waiting.load(Ordering::Acquire) == 0
    }
}

impl Reactor {
    /// Makes the first of `reactors` send `READY=1` only after all of them
    /// have started their loops (see the module docs). Call before running them.
    pub fn start_together(reactors: &mut [Reactor]) {
        let Some(first) = reactors.first() else {
            return;
        };
        let gate = StartGate {
            waiting: Arc::new(AtomicUsize::new(reactors.len())),
            first: first.shutdown_handle().waker(),
        };
        for reactor in reactors {
            reactor.ops.start_gate = Some(gate.clone());
        }
    }

    /// At the top of `run`: counts this loop as started, and sends `READY=1`
    /// if this is the reactor that speaks and every sibling has started.
    pub(super) fn arrive_and_announce(&mut self) {
        if let Some(gate) = &self.ops.start_gate {
            gate.arrive();
        }
        self.announce_if_all_started();
    }

    /// Sends `READY=1` once, when every reactor has started.
    pub(super) fn announce_if_all_started(&mut self) {
        if self.ops.announced {
            return;
        }
        if self
            .ops
            .start_gate
            .as_ref()
            .is_some_and(|gate| !gate.open())
        {
            return;
        }
        self.ops.announced = true;
        let sockets = self.sources.iter().flatten().count();
        self.ops.notifier.ready(sockets, std::time::Instant::now());
    }
}
