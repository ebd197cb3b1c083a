//! Deadlines for idle and lingering connections, at no cost per tick.
//!
//! Each connection has at most a couple of entries in a min-heap ordered by
//! deadline. Activity does not touch the heap: a connection only stamps its
//! `last_active` time. When an entry comes due, the reactor asks the
//! connection for its real deadline; if activity pushed it later, the entry
//! is pushed back with the new deadline ("lazy re-arm"). The loop therefore
//! does work only for connections whose deadline has come, never a scan of
//! all connections, and the earliest entry sets the `poll` timeout.
//!
//! A closed connection's entries are not searched for (a binary heap cannot
//! remove from its middle cheaply); they go stale and are skipped when they
//! come due. Left alone, that is a leak: with a 300 s idle timeout, a server
//! churning 13,000 connections a second would hold four million stale
//! entries (about 94 MB). So when stale entries may outnumber live ones, the
//! reactor calls [`Timers::compact`], which keeps only the entries of live
//! connections and gives back the memory. A live connection has at most two
//! entries (idle and linger), so compacting once the heap passes four per
//! live connection costs O(1) amortized per close, and timer memory stays
//! O(live connections).
//!
//! A deadline too far away to add to the clock (an idle timeout of 2^64
//! seconds, `Duration::MAX`) is never scheduled: it means "never".

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// A due-date for the connection in slab slot `key` with `generation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    /// When to look at the connection again.
    pub deadline: Instant,
    /// Slab slot (slab keys fit in 32 bits: see `token`), kept narrow so an entry is 24 bytes.
    pub key: u32,
    /// Which occupant of the slot; a mismatch means the entry is stale.
    pub generation: u32,
}

/// Entries the heap may hold beyond four per live connection before it is compacted.
const COMPACT_SLACK: usize = 64;

/// A min-heap of connection deadlines.
#[derive(Debug, Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<Entry>>,
}

impl Timers {
    /// Adds a deadline.
    pub fn schedule(&mut self, deadline: Instant, key: usize, generation: u32) {
        debug_assert!(u32::try_from(key).is_ok(), "slab key exceeds 32 bits");
        self.heap.push(Reverse(Entry {
            deadline,
            key: key as u32,
            generation,
        }));
    }

    /// Entries held, live or stale.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// If stale entries may outnumber live ones (more than four entries per
    /// live connection), keeps only the entries for which `is_live(key,
    /// generation)` holds and releases the spare memory.
    pub fn compact(&mut self, live_connections: usize, is_live: impl Fn(usize, u32) -> bool) {
        let threshold = live_connections
            .saturating_mul(4)
            .saturating_add(COMPACT_SLACK);
        if self.heap.len() <= threshold {
            return;
        }
        self.heap
            .retain(|Reverse(entry)| is_live(entry.key as usize, entry.generation));
        self.heap.shrink_to(self.heap.len() * 2 + COMPACT_SLACK);
    }

    /// The earliest deadline, if any.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(entry)| entry.deadline)
    }

    /// Removes and returns one entry due at or before `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<Entry> {
        if self.next_deadline()? <= now {
            self.heap.pop().map(|Reverse(entry)| entry)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn pops_only_due_entries_in_deadline_order() {
        let start = Instant::now();
        let mut timers = Timers::default();
        timers.schedule(start + Duration::from_secs(3), 1, 0);
        timers.schedule(start + Duration::from_secs(1), 2, 0);
        timers.schedule(start + Duration::from_secs(2), 3, 0);
        assert_eq!(timers.next_deadline(), Some(start + Duration::from_secs(1)));
        let now = start + Duration::from_secs(2);
        assert_eq!(timers.pop_due(now).map(|e| e.key), Some(2));
        assert_eq!(timers.pop_due(now).map(|e| e.key), Some(3));
        assert_eq!(timers.pop_due(now), None);
        assert_eq!(timers.next_deadline(), Some(start + Duration::from_secs(3)));
    }

    #[test]
    fn compaction_keeps_live_entries_and_bounds_the_heap() {
        let start = Instant::now();
        let mut timers = Timers::default();
        // 10,000 connections come and go; two stay open (keys 0 and 1, generation 7).
        for n in 0..10_000u32 {
            let key = (n % 50) as usize + 2;
            timers.schedule(start + Duration::from_secs(300), key, n);
            timers.compact(2, |key, generation| key < 2 && generation == 7);
            assert!(timers.len() <= 4 * 2 + COMPACT_SLACK + 1);
        }
        timers.schedule(start + Duration::from_secs(5), 0, 7);
        timers.schedule(start + Duration::from_secs(9), 1, 7);
        for n in 0..1_000u32 {
            timers.schedule(start + Duration::from_secs(1), 3, n);
            timers.compact(2, |key, generation| key < 2 && generation == 7);
        }
        let due: Vec<usize> =
            std::iter::from_fn(|| timers.pop_due(start + Duration::from_secs(10)))
                .filter(|entry| entry.generation == 7)
                .map(|entry| entry.key as usize)
                .collect();
        assert_eq!(due, [0, 1], "live entries survive compaction, in order");
    }
}
