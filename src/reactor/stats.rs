//! A live view of the reactor's counters for other threads.

pub use crate::stats::Stats;

/// A live view of a running reactor's counters, readable from any thread.
///
/// The loop owns plain counters and copies them here once per turn (one uncontended
/// lock and a copy of a few words), so observing a server costs it next to nothing.
#[derive(Debug, Clone, Default)]
pub struct StatsHandle {
    shared: std::sync::Arc<std::sync::Mutex<Stats>>,
}

impl StatsHandle {
    /// The counters as of the loop's last turn.
    pub fn snapshot(&self) -> Stats {
        *self
            .shared
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Called by the loop once per turn.
    pub(super) fn publish(&self, stats: &Stats) {
        *self
            .shared
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = *stats;
    }
}
