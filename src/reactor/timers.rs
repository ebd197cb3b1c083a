//! Deadlines for idle and lingering connections, at no cost per tick.
//!
//! Each connection has at most a couple of entries in a min-heap ordered by
//! deadline. Activity does not touch the heap: a connection only stamps its
//! `last_active` time. When an entry comes due, the reactor asks the
//! connection for its real deadline; if activity pushed it later, the entry
//! is pushed back with the new deadline ("lazy re-arm"). The loop therefore
//! does work only for connections whose deadline has come, never a scan of
//! all connections, and the earliest entry sets the `poll` timeout.

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
}
