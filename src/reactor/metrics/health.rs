//! The loop's own health: how long its turns take and how much work each has.
//!
//! A turn is everything between two `poll` calls: serving the events of one
//! batch and the sources that yielded. Its duration is the latency every
//! client of the loop pays on top of its own work, so it is kept as a
//! histogram; the sum of turn durations is the time spent outside `poll`
//! (the loop's CPU time, roughly), and events per turn show batching.

use prometheus_client::metrics::histogram::Histogram;
use std::time::Duration;

/// Turn-duration bucket bounds in seconds: 10 µs to about 1.3 s, doubling.
fn turn_buckets() -> impl Iterator<Item = f64> {
    prometheus_client::metrics::histogram::exponential_buckets(10e-6, 2.0, 18)
}

/// Figures about the loop itself.
#[derive(Debug)]
pub(in crate::reactor) struct Health {
    /// Seconds per turn.
    pub(super) turn_seconds: Histogram,
    /// Turns taken.
    pub(super) turns: u64,
    /// Readiness events served.
    pub(super) events: u64,
    /// Time spent outside `poll` (the sum of turn durations).
    pub(super) busy: Duration,
    /// The largest batch of events one `poll` returned.
    pub(super) max_events: usize,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            turn_seconds: Histogram::new(turn_buckets()),
            turns: 0,
            events: 0,
            busy: Duration::ZERO,
            max_events: 0,
        }
    }
}

impl Health {
    /// Records one turn that took `spent` and served `events` events.
    pub(in crate::reactor) fn record(&mut self, spent: Duration, events: usize) {
        self.turn_seconds.observe(spent.as_secs_f64());
        self.turns += 1;
        self.events += events as u64;
        self.busy += spent;
        self.max_events = self.max_events.max(events);
    }
}
