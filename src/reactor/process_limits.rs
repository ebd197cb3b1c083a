//! Limits that count for the whole process, however many reactors serve it.
//!
//! `--max-conns` and the per-source limits (`--max-conns-per-ip`,
//! `--conn-rate-per-ip`, `--udp-budget`) promise totals for the process. A
//! lone reactor keeps them in plain fields, exactly as before: the slab's
//! length is the connection count and the [`Guard`] is its own.
//!
//! Sibling reactors (see [`Reactor::sibling`](super::Reactor::sibling)) share
//! one [`Guard`] behind a mutex and one atomic count of open connections.
//! Both are touched when a connection is accepted or closed and when UDP
//! replies are about to be sent (once per batch of up to 16 on Linux, see
//! `udp_batch.rs`), never for a TCP message: the per-message path of every
//! reactor stays free of locks and shared counters.

use super::guard::Guard;
use super::stats::Stats;
use crate::config::Limits;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// The state siblings share.
#[derive(Debug)]
pub(super) struct Shared {
    guard: Mutex<Guard>,
    /// Connections open (or reserved for an `accept` in progress) in all reactors.
    open: AtomicUsize,
}

/// A reactor's view of the process-wide limits.
// One per reactor, so the size difference costs nothing; `Alone` stays unboxed as before.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(super) enum ProcessLimits {
    /// The only reactor: its own guard, and its slab length is the count.
    Alone(Guard),
    /// One of several reactors.
    Shared(Arc<Shared>),
}

impl ProcessLimits {
    pub(super) fn new(limits: &Limits) -> Self {
        ProcessLimits::Alone(Guard::new(limits))
    }

    /// A lone reactor's limits, kept by `guard`.
    pub(super) fn alone(guard: Guard) -> Self {
        ProcessLimits::Alone(guard)
    }

    /// Turns a lone reactor's limits into shared ones (keeping what they
    /// counted) and returns them for a sibling; already shared ones are simply cloned.
    pub(super) fn share(&mut self, open_now: usize, limits: &Limits) -> Arc<Shared> {
        if let ProcessLimits::Shared(shared) = self {
            return Arc::clone(shared);
        }
        let alone = std::mem::replace(self, ProcessLimits::new(limits));
        let ProcessLimits::Alone(guard) = alone else {
            unreachable!("checked above");
        };
        let shared = Arc::new(Shared {
            guard: Mutex::new(guard),
            open: AtomicUsize::new(open_now),
        });
        *self = ProcessLimits::Shared(Arc::clone(&shared));
        shared
    }

    fn locked(shared: &Shared) -> MutexGuard<'_, Guard> {
        // A reactor that panicked holding the lock left counts, not broken invariants.
        shared
            .guard
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Reserves a place under `max` before an `accept`; `local_open` is this reactor's count.
    pub(super) fn reserve(&self, local_open: usize, max: usize) -> bool {
        match self {
            ProcessLimits::Alone(_) => local_open < max,
            ProcessLimits::Shared(shared) => shared
                .open
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                    (open < max).then_some(open + 1)
                })
                .is_ok(),
        }
    }

    /// Gives back a place from [`reserve`](Self::reserve): the accept found
    /// nobody, the client was refused, or the connection closed.
    pub(super) fn unreserve(&self) {
        if let ProcessLimits::Shared(shared) = self {
            shared.open.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Whether a reactor that stopped at the cap may accept again.
    pub(super) fn below(&self, local_open: usize, max: usize) -> bool {
        match self {
            ProcessLimits::Alone(_) => local_open < max,
            ProcessLimits::Shared(shared) => shared.open.load(Ordering::Acquire) < max,
        }
    }

    /// True when siblings share the limits: a sibling's close does not wake
    /// this reactor, so a pause at the cap must be retried on a timer.
    pub(super) fn is_shared(&self) -> bool {
        matches!(self, ProcessLimits::Shared(_))
    }

    /// See [`Guard::admit`].
    pub(super) fn admit(&mut self, peer: SocketAddr, now: Instant, stats: &mut Stats) -> bool {
        match self {
            ProcessLimits::Alone(guard) => guard.admit(peer, now, stats),
            ProcessLimits::Shared(shared) => Self::locked(shared).admit(peer, now, stats),
        }
    }

    /// See [`Guard::release`].
    pub(super) fn release(&mut self, peer: SocketAddr) {
        match self {
            ProcessLimits::Alone(guard) => guard.release(peer),
            ProcessLimits::Shared(shared) => Self::locked(shared).release(peer),
        }
    }

    /// Runs `judge` with the guard, locked once for all of it when shared:
    /// a batch of datagrams takes the lock once, not once per reply.
    #[cfg(target_os = "linux")]
    pub(super) fn with_guard<R>(&mut self, judge: impl FnOnce(&mut Guard) -> R) -> R {
        match self {
            ProcessLimits::Alone(guard) => judge(guard),
            ProcessLimits::Shared(shared) => judge(&mut Self::locked(shared)),
        }
    }

    /// See [`Guard::allow_reply`].
    #[cfg_attr(target_os = "linux", allow(dead_code))]
    pub(super) fn allow_reply(
        &mut self,
        peer: SocketAddr,
        len: usize,
        now: Instant,
        stats: &mut Stats,
    ) -> bool {
        match self {
            ProcessLimits::Alone(guard) => guard.allow_reply(peer, len, now, stats),
            ProcessLimits::Shared(shared) => {
                Self::locked(shared).allow_reply(peer, len, now, stats)
            }
        }
    }
}

impl ProcessLimits {
    /// Joins limits already shared by a sibling.
    pub(super) fn join(shared: Arc<Shared>) -> Self {
        ProcessLimits::Shared(shared)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_reservations_count_across_siblings() {
        let limits = Limits {
            max_conns_per_ip: 1,
            ..Limits::default()
        };
        let mut first = ProcessLimits::new(&limits);
        assert!(first.reserve(1, 2), "alone: the slab length decides");
        let shared = first.share(1, &limits);
        let second = ProcessLimits::join(shared);
        assert!(
            second.reserve(0, 2),
            "one open in the first, one place left"
        );
        assert!(!first.reserve(0, 2), "the process is at 2");
        assert!(!first.below(0, 2));
        second.unreserve();
        assert!(first.below(0, 2));
    }

    #[test]
    fn the_per_source_count_is_one_for_all_siblings() {
        let limits = Limits {
            max_conns_per_ip: 1,
            ..Limits::default()
        };
        let mut first = ProcessLimits::new(&limits);
        let mut second = ProcessLimits::join(first.share(0, &limits));
        let (peer, now, mut stats) = (
            "192.0.2.1:5000".parse().unwrap(),
            Instant::now(),
            Stats::default(),
        );
        assert!(first.admit(peer, now, &mut stats));
        assert!(!second.admit(peer, now, &mut stats));
        assert_eq!(stats.refused_per_ip, 1);
        first.release(peer);
        assert!(second.admit(peer, now, &mut stats));
    }
}
