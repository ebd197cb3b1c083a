//! The loop's own health: how long its turns take and how much work each has.
//!
//! A turn is everything between two `poll` calls: serving the events of one
//! batch and the sources that yielded. Its duration is the latency every
//! client of the loop pays on top of its own work, so it is kept as a
//! histogram; the sum of turn durations is the time spent outside `poll`
//! (the loop's CPU time, roughly), and events per turn show batching.
//!
//! The figures are atomics written by their own loop alone, once per turn
//! (never per message), so that the reactor serving the metrics can read its
//! siblings' (`--reactors N`) without a lock and without asking them. With a
//! single writer, a relaxed load and store is all a bump needs.
//! [`LoopFigures`] is a copy that can be summed over reactors: the buckets
//! are the same on every reactor, so adding them bucket by bucket gives the
//! process's histogram exactly.

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Finite turn-duration buckets: 10 µs to about 1.3 s, doubling.
const BUCKETS: usize = 18;

/// The upper bound of finite bucket `index`, in seconds.
fn bucket_bound(index: usize) -> f64 {
    10e-6 * f64::from(1u32 << index)
}

/// Adds `by` to a counter that only this thread writes.
fn bump(counter: &AtomicU64, by: u64) {
    counter.store(counter.load(Ordering::Relaxed) + by, Ordering::Relaxed);
}

/// Figures about one loop, readable from any thread.
#[derive(Debug, Default)]
pub(in crate::reactor) struct Health {
    /// Turns per bucket (not cumulative); the last is `+Inf`.
    buckets: [AtomicU64; BUCKETS + 1],
    /// Turns taken.
    turns: AtomicU64,
    /// Readiness events served.
    events: AtomicU64,
    /// Time spent outside `poll` (the sum of turn durations), in nanoseconds.
    busy_nanos: AtomicU64,
    /// The largest batch of events one `poll` returned.
    max_events: AtomicU64,
}

impl Health {
    /// Records one turn that took `spent` and served `events` events (the
    /// owning loop only).
    pub(in crate::reactor) fn record(&self, spent: Duration, events: usize) {
        let seconds = spent.as_secs_f64();
        let bucket = (0..BUCKETS)
            .find(|&index| seconds <= bucket_bound(index))
            .unwrap_or(BUCKETS);
        bump(&self.buckets[bucket], 1);
        bump(&self.turns, 1);
        bump(&self.events, events as u64);
        bump(
            &self.busy_nanos,
            u64::try_from(spent.as_nanos()).unwrap_or(u64::MAX),
        );
        if events as u64 > self.max_events.load(Ordering::Relaxed) {
            self.max_events.store(events as u64, Ordering::Relaxed);
        }
    }

    /// A copy of the figures as of the owning loop's last turn.
    pub(in crate::reactor) fn snapshot(&self) -> LoopFigures {
        LoopFigures {
            buckets: self.buckets.each_ref().map(|b| b.load(Ordering::Relaxed)),
            turns: self.turns.load(Ordering::Relaxed),
            events: self.events.load(Ordering::Relaxed),
            busy: Duration::from_nanos(self.busy_nanos.load(Ordering::Relaxed)),
            max_events: self.max_events.load(Ordering::Relaxed),
        }
    }
}

/// A copy of [`Health`], for one reactor or summed over several.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(in crate::reactor) struct LoopFigures {
    buckets: [u64; BUCKETS + 1],
    /// Turns taken.
    pub(in crate::reactor) turns: u64,
    /// Readiness events served.
    pub(in crate::reactor) events: u64,
    /// Time spent outside `poll`.
    pub(in crate::reactor) busy: Duration,
    /// The largest batch of events one `poll` returned.
    pub(in crate::reactor) max_events: u64,
}

impl LoopFigures {
    /// Adds another loop's figures: sums, and the larger of the two largest batches.
    pub(in crate::reactor) fn add(&mut self, other: &LoopFigures) {
        for (mine, theirs) in self.buckets.iter_mut().zip(other.buckets) {
            *mine += theirs;
        }
        self.turns += other.turns;
        self.events += other.events;
        self.busy += other.busy;
        self.max_events = self.max_events.max(other.max_events);
    }
}

/// The turn-duration histogram of [`LoopFigures`], encoded as Prometheus
/// expects (`_bucket{le=...}` cumulative, `_sum`, `_count`).
#[derive(Debug)]
pub(in crate::reactor) struct TurnHistogram(pub(in crate::reactor) LoopFigures);

impl EncodeMetric for TurnHistogram {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> Result<(), std::fmt::Error> {
        let figures = &self.0;
        let buckets: Vec<(f64, u64)> = figures
            .buckets
            .iter()
            .enumerate()
            .map(|(index, &count)| {
                let bound = if index < BUCKETS {
                    bucket_bound(index)
                } else {
                    f64::INFINITY
                };
                (bound, count)
            })
            .collect();
        let count = figures.buckets.iter().sum();
        let sum = figures.busy.as_secs_f64();
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turns_land_in_their_bucket_and_sum_over_loops() {
        let (one, two) = (Health::default(), Health::default());
        one.record(Duration::from_micros(5), 3);
        one.record(Duration::from_micros(15), 1);
        two.record(Duration::from_secs(10), 7);
        let mut total = one.snapshot();
        total.add(&two.snapshot());
        assert_eq!(total.turns, 3);
        assert_eq!(total.events, 11);
        assert_eq!(total.max_events, 7);
        assert_eq!(total.buckets[0], 1, "5 µs <= 10 µs");
        assert_eq!(total.buckets[1], 1, "15 µs <= 20 µs");
        assert_eq!(total.buckets[BUCKETS], 1, "10 s only fits +Inf");
        assert_eq!(total.busy, Duration::from_micros(10_000_020));
    }
}
