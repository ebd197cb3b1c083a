//! The UDP reply budget table: bytes charged per source, evicted so that a
//! flood of new sources cannot wipe out the budget of a source under attack.
//!
//! The table holds at most `capacity` sources. When a new source arrives at
//! a full table, something must be forgotten, and what is forgotten decides
//! whether the budget means anything:
//!
//! - evicting the *oldest inserted* (the first version) let 4,200 datagrams
//!   from other sources reset a victim that had spent its budget, so a
//!   spoofing attacker could reflect another budget at it every 4,200 packets;
//! - so an entry that went **over budget is kept until its window ends**
//!   (once a reply is refused, the source is protected; smaller replies that
//!   still fit are sent): it is the record that stops the reflection, and
//!   forgetting it is the attack;
//! - among the others, the **least recently charged** goes first (a source
//!   still being answered stays), and an over-budget entry whose window has
//!   ended goes before any of them;
//! - if every entry is over budget in its window, the newcomer is refused
//!   (fail closed). Getting there takes `capacity` sources each sent a whole
//!   budget of replies, i.e. capacity x budget bytes (4 GiB at the defaults).

use super::Source;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// What the table says about one reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Charged; send it.
    Allowed,
    /// The source has spent its budget for this window.
    OverBudget,
    /// A new source, and every entry is protected (over budget in its window).
    TableFull,
}

#[derive(Debug)]
struct Entry {
    window_start: Instant,
    bytes: u64,
    /// Position in `charged`, or (with `window_start`) in `over`.
    stamp: u64,
    /// A reply was refused in this window: kept until the window ends.
    over: bool,
}

/// Reply bytes per source in the current window, in a table of bounded size.
#[derive(Debug)]
pub struct Budgets {
    entries: HashMap<Source, Entry>,
    /// Sources under budget, least recently charged first.
    charged: BTreeMap<u64, Source>,
    /// Sources refused in their window (over budget), earliest window first.
    over: BTreeMap<(Instant, u64), Source>,
    capacity: usize,
    clock: u64,
}

impl Budgets {
    /// An empty table of at most `capacity` sources.
    pub fn new(capacity: usize) -> Self {
        Budgets {
            entries: HashMap::new(),
            charged: BTreeMap::new(),
            over: BTreeMap::new(),
            capacity: capacity.max(1),
            clock: 0,
        }
    }

    /// Sources in the table.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Charges `cost` bytes to `source` if that stays within `limit` per `window`.
    pub fn charge(
        &mut self,
        source: Source,
        cost: u64,
        limit: u64,
        window: Duration,
        now: Instant,
    ) -> Verdict {
        self.clock += 1;
        let stamp = self.clock;
        if !self.entries.contains_key(&source) {
            if self.entries.len() >= self.capacity && !self.evict_one(window, now) {
                return Verdict::TableFull;
            }
            self.entries.insert(
                source,
                Entry {
                    window_start: now,
                    bytes: 0,
                    stamp,
                    over: false,
                },
            );
            self.charged.insert(stamp, source);
        }
        let Some(entry) = self.entries.get_mut(&source) else {
            unreachable!("inserted above");
        };
        if now.saturating_duration_since(entry.window_start) >= window {
            if entry.over {
                self.over.remove(&(entry.window_start, entry.stamp));
                self.charged.insert(entry.stamp, source);
                entry.over = false;
            }
            entry.window_start = now;
            entry.bytes = 0;
        }
        if entry.bytes.saturating_add(cost) > limit {
            if !entry.over {
                self.charged.remove(&entry.stamp);
                entry.over = true;
                entry.stamp = stamp;
                self.over.insert((entry.window_start, stamp), source);
            }
            return Verdict::OverBudget;
        }
        entry.bytes += cost;
        if !entry.over {
            self.charged.remove(&entry.stamp);
            entry.stamp = stamp;
            self.charged.insert(stamp, source);
        }
        Verdict::Allowed
    }

    /// Makes room for one entry; false when every entry is protected.
    fn evict_one(&mut self, window: Duration, now: Instant) -> bool {
        let expired = self
            .over
            .first_key_value()
            .filter(|((start, _), _)| now.saturating_duration_since(*start) >= window)
            .map(|(&key, &source)| (key, source));
        if let Some((key, source)) = expired {
            self.over.remove(&key);
            self.entries.remove(&source);
            return true;
        }
        match self.charged.pop_first() {
            Some((_, source)) => {
                self.entries.remove(&source);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(n: u32) -> Source {
        Source::of(std::net::Ipv4Addr::from(0x0a00_0000 + n).into())
    }

    const WINDOW: Duration = Duration::from_secs(10);

    #[test]
    fn a_flood_of_new_sources_does_not_reset_a_source_over_budget() {
        let mut table = Budgets::new(16);
        let now = Instant::now();
        let victim = source(0);
        assert_eq!(table.charge(victim, 60, 100, WINDOW, now), Verdict::Allowed);
        assert_eq!(
            table.charge(victim, 60, 100, WINDOW, now),
            Verdict::OverBudget
        );
        for n in 1..1000 {
            table.charge(source(n), 10, 100, WINDOW, now);
            assert!(table.len() <= 16);
        }
        // Not forgotten: 60 bytes are still charged, so 41 more do not fit.
        assert_eq!(
            table.charge(victim, 41, 100, WINDOW, now),
            Verdict::OverBudget
        );
        assert_eq!(table.charge(victim, 40, 100, WINDOW, now), Verdict::Allowed);
        // Its window ends: it is answered again.
        let later = now + WINDOW;
        assert_eq!(
            table.charge(victim, 1, 100, WINDOW, later),
            Verdict::Allowed
        );
    }

    #[test]
    fn the_least_recently_charged_goes_first_and_a_full_protected_table_fails_closed() {
        let mut table = Budgets::new(3);
        let now = Instant::now();
        table.charge(source(1), 10, 100, WINDOW, now);
        table.charge(source(2), 10, 100, WINDOW, now);
        table.charge(source(3), 10, 100, WINDOW, now);
        table.charge(source(1), 10, 100, WINDOW, now);
        // source(2) is the least recently charged: the newcomer replaces it.
        table.charge(source(4), 10, 100, WINDOW, now);
        assert!(table.entries.contains_key(&source(1)));
        assert!(!table.entries.contains_key(&source(2)));
        for n in [1, 3, 4] {
            assert_eq!(
                table.charge(source(n), 500, 100, WINDOW, now),
                Verdict::OverBudget
            );
        }
        assert_eq!(
            table.charge(source(5), 1, 100, WINDOW, now),
            Verdict::TableFull
        );
        // Once a protected window ends, its entry makes room.
        let later = now + WINDOW;
        assert_eq!(
            table.charge(source(5), 1, 100, WINDOW, later),
            Verdict::Allowed
        );
        assert_eq!(table.len(), 3);
    }
}
