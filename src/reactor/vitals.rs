//! What one reactor shows the others, without a lock: that its loop still
//! turns, its connections per socket, and its loop health.
//!
//! With `--reactors N`, one reactor (the first) talks to systemd and serves
//! the metrics, but the others' loops can hang and their connections count
//! too. Asking a sibling by message would not work for the very case that
//! matters (a hung loop answers nothing), and a lock would put the siblings'
//! hot paths behind the scraper. So each reactor owns a [`Vitals`] that only
//! its own loop writes, with plain relaxed atomics (a single writer needs no
//! read-modify-write), and that any thread may read:
//!
//! - the **heartbeat**, the time its last turn began, written once per turn;
//! - **connections** accepted and open, per listening socket (by source
//!   index, the same on every sibling), written on accept and on close;
//! - the **loop health** figures (`metrics/health.rs`), written once per turn.
//!
//! Nothing here is written per message. The layer above hands the siblings'
//! `Vitals` to the first reactor (see `liveness.rs`); a reactor never
//! learns where its siblings run.

use super::metrics::Health;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// One reactor's liveness and figures, shared with whoever watches it.
#[derive(Debug)]
pub(super) struct Vitals {
    /// When these vitals were made: the heartbeat counts from here.
    epoch: Instant,
    /// When the loop's last turn began, in milliseconds since `epoch`.
    last_turn_millis: AtomicU64,
    /// Per source index: stream connections accepted.
    accepted: Box<[AtomicU64]>,
    /// Per source index: stream connections open now.
    open: Box<[AtomicU64]>,
    /// Turn durations and events per turn.
    pub(super) health: Health,
}

impl Vitals {
    /// Vitals for a reactor with `sources` source indices; alive as of now.
    pub(super) fn new(sources: usize) -> Vitals {
        let zeros = || (0..sources).map(|_| AtomicU64::new(0)).collect();
        Vitals {
            epoch: Instant::now(),
            last_turn_millis: AtomicU64::new(0),
            accepted: zeros(),
            open: zeros(),
            health: Health::default(),
        }
    }

    /// The owning loop begins a turn at `now`.
    pub(super) fn beat(&self, now: Instant) {
        let millis = now.saturating_duration_since(self.epoch).as_millis();
        let millis = u64::try_from(millis).unwrap_or(u64::MAX);
        self.last_turn_millis.store(millis, Ordering::Relaxed);
    }

    /// When the owning loop's last turn began (to the millisecond, rounded down).
    pub(super) fn last_turn(&self) -> Instant {
        let millis = self.last_turn_millis.load(Ordering::Relaxed);
        self.epoch + Duration::from_millis(millis)
    }

    /// A stream connection was accepted on source `index` (the owning loop only).
    pub(super) fn opened(&self, index: usize) {
        if let (Some(accepted), Some(open)) = (self.accepted.get(index), self.open.get(index)) {
            bump(accepted, 1);
            bump(open, 1);
        }
    }

    /// A stream connection of source `index` closed (the owning loop only).
    pub(super) fn closed(&self, index: usize) {
        if let Some(open) = self.open.get(index) {
            let now = open.load(Ordering::Relaxed);
            open.store(now.saturating_sub(1), Ordering::Relaxed);
        }
    }

    /// Stream connections accepted on source `index`.
    pub(super) fn accepted(&self, index: usize) -> u64 {
        self.accepted
            .get(index)
            .map_or(0, |n| n.load(Ordering::Relaxed))
    }

    /// Stream connections of source `index` open now.
    pub(super) fn open(&self, index: usize) -> u64 {
        self.open
            .get(index)
            .map_or(0, |n| n.load(Ordering::Relaxed))
    }

    /// Stream connections open now, on every source.
    pub(super) fn open_total(&self) -> u64 {
        self.open.iter().map(|n| n.load(Ordering::Relaxed)).sum()
    }
}

/// Adds `by` to a counter that only one thread writes.
fn bump(counter: &AtomicU64, by: u64) {
    counter.store(counter.load(Ordering::Relaxed) + by, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_source_and_heartbeat() {
        let vitals = Vitals::new(3);
        vitals.opened(1);
        vitals.opened(1);
        vitals.opened(2);
        vitals.closed(1);
        vitals.opened(9); // an index out of range is ignored, not a panic
        assert_eq!((vitals.accepted(1), vitals.open(1)), (2, 1));
        assert_eq!((vitals.accepted(2), vitals.open(2)), (1, 1));
        assert_eq!(vitals.open_total(), 2);
        let later = vitals.epoch + Duration::from_millis(1500);
        vitals.beat(later);
        assert_eq!(vitals.last_turn(), later);
    }
}
