//! The watchdog across reactors: pinging systemd only while every loop turns.
//!
//! systemd's watchdog (`WatchdogSec=`) restarts a service that stops sending
//! `WATCHDOG=1`. With one reactor the ping comes from the loop itself, so a
//! hung loop stops pinging. With `--reactors N` only the first reactor talks
//! to systemd; if the ping were all it checked, a hang in another reactor
//! would leave its clients unserved and the service "healthy". So:
//!
//! - every reactor writes its heartbeat (`vitals.rs`: an atomic, once per
//!   turn, no lock) and, when a watchdog is on, bounds its poll timeout so
//!   that even an idle loop turns at least every quarter of the watchdog
//!   period (`turn_at_least_every`): a loop asleep in `epoll_wait` is alive;
//! - at each ping (half the period) the first reactor reads every sibling's
//!   heartbeat; a sibling whose last turn began more than half a period ago
//!   is **stuck** (twice its idle interval: a quarter period of slack for
//!   scheduling and a long turn). Then the ping is not sent, the stuck
//!   reactor and since when go to `STATUS=` and, once, to the error log, and
//!   systemd restarts the service at most one period later. Should the loop
//!   turn again before that, pings resume and a warning says so.
//!
//! The layer above (`crate::shards`) wires this, as it wires the shared
//! limits: [`Reactor::watch_together`] hands the siblings' vitals to the
//! first reactor, [`Reactor::turn_at_least_every`] sets the idle bound.

use super::vitals::Vitals;
use super::Reactor;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A sibling reactor whose loop has not turned for too long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stuck {
    /// Its index (`reactor K` in the logs and thread names).
    pub(super) reactor: usize,
    /// When its last turn began.
    pub(super) since: Instant,
}

impl Stuck {
    /// The `STATUS=` line that names it.
    pub(super) fn status(&self, now: Instant) -> String {
        let age = now.saturating_duration_since(self.since).as_secs_f64();
        format!(
            "STATUS=reactor {} stuck: no loop turn for {age:.1} s; watchdog pings stopped",
            self.reactor
        )
    }
}

/// A reactor's own heartbeat and, on the first reactor, its siblings'.
#[derive(Debug)]
pub(super) struct Liveness {
    /// This reactor's vitals; the first reactor reads its siblings'.
    pub(super) own: Arc<Vitals>,
    /// With a watchdog on: the longest an idle loop sleeps in `poll`.
    turn_every: Option<Duration>,
    /// The siblings' vitals with their reactor index (the first reactor only).
    pub(super) siblings: Vec<(usize, Arc<Vitals>)>,
    /// The sibling last found stuck, until it turns again.
    stuck: Option<Stuck>,
    /// Test hook: when to stall this loop, and for how long.
    stall: Option<(Instant, Duration)>,
}

impl Liveness {
    /// Liveness for a reactor with `sources` source indices.
    pub(super) fn new(sources: usize) -> Self {
        Liveness {
            own: Arc::new(Vitals::new(sources)),
            turn_every: None,
            siblings: Vec::new(),
            stuck: None,
            stall: None,
        }
    }

    /// The loop begins a turn at `now` (and, test hook only, may stall here).
    pub(super) fn beat(&mut self, now: Instant) {
        self.own.beat(now);
        if let Some((_, length)) = self.stall.filter(|&(at, _)| at <= now) {
            self.stall = None;
            log::warn!("stalling this loop for {length:?}, as --test-stall-reactor asked");
            std::thread::sleep(length);
        }
    }

    /// The next time the loop must turn even if nothing happens.
    pub(super) fn deadline(&self) -> Option<Instant> {
        let beat = self.turn_every.map(|every| self.own.last_turn() + every);
        let stall = self.stall.map(|(at, _)| at);
        beat.into_iter().chain(stall).min()
    }

    /// Stream connections open now, on this reactor and its siblings.
    pub(super) fn open_connections(&self) -> u64 {
        let siblings: u64 = self.siblings.iter().map(|(_, v)| v.open_total()).sum();
        self.own.open_total() + siblings
    }

    /// The sibling stuck as of the last [`check`](Self::check), if any.
    pub(super) fn stuck(&self) -> Option<Stuck> {
        self.stuck
    }

    /// Finds a sibling whose last turn began more than `limit` before `now`
    /// (the one stuck longest), and logs when that changes.
    pub(super) fn check(&mut self, now: Instant, limit: Duration) -> Option<Stuck> {
        let found = self
            .siblings
            .iter()
            .map(|(reactor, vitals)| Stuck {
                reactor: *reactor,
                since: vitals.last_turn(),
            })
            .filter(|stuck| now.saturating_duration_since(stuck.since) > limit)
            .min_by_key(|stuck| stuck.since);
        match (self.stuck, found) {
            (Some(old), None) => log::warn!(
                "reactor {} turns again after {:.1} s; watchdog pings resume",
                old.reactor,
                now.saturating_duration_since(old.since).as_secs_f64()
            ),
            (old, Some(new)) if old.map(|o| o.reactor) != Some(new.reactor) => log_stuck(new, now),
            _ => {}
        }
        self.stuck = found;
        found
    }
}

/// One error line: which reactor, for how long, and since when (Unix time).
fn log_stuck(stuck: Stuck, now: Instant) {
    let age = now.saturating_duration_since(stuck.since);
    let since = SystemTime::now()
        .checked_sub(age)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0.0, |t| t.as_secs_f64());
    log::error!(
        "reactor {} is stuck: its loop has not turned for {:.1} s (since Unix time {since:.3}); \
         watchdog pings stop so that systemd restarts the service",
        stuck.reactor,
        age.as_secs_f64()
    );
}

impl Reactor {
    /// Lets the first of `reactors` watch the others' heartbeats (for the
    /// watchdog) and read their connection and loop figures (for the metrics
    /// and `STATUS=`). Call before running them.
    pub fn watch_together(reactors: &mut [Reactor]) {
        let Some((first, siblings)) = reactors.split_first_mut() else {
            return;
        };
        first.ops.liveness.siblings = siblings
            .iter()
            .enumerate()
            .map(|(k, sibling)| (k + 1, Arc::clone(&sibling.ops.liveness.own)))
            .collect();
    }

    /// The idle bound the watchdog needs of every reactor: a quarter of
    /// `WATCHDOG_USEC`, when this reactor talks to systemd and it is set.
    pub fn watchdog_turn_interval(&self) -> Option<Duration> {
        self.ops.notifier.ping_interval().map(|half| half / 2)
    }

    /// Wakes the loop at least every `every`, even with nothing to do, so
    /// that its heartbeat shows it alive (see the module docs).
    pub fn turn_at_least_every(&mut self, every: Duration) {
        self.ops.liveness.turn_every = Some(every);
    }

    /// Test hook (`--test-stall-reactor`): `after` the call, this loop sleeps
    /// inside a turn for `length`, like a hung loop. Never use it in service.
    #[doc(hidden)]
    pub fn stall_for_tests(&mut self, after: Duration, length: Duration) {
        self.ops.liveness.stall = Some((Instant::now() + after, length));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sibling_without_a_recent_turn_is_stuck_until_it_turns() {
        let mut first = Liveness::new(1);
        let sibling = Arc::new(Vitals::new(1));
        first.siblings.push((1, Arc::clone(&sibling)));
        let start = sibling.last_turn();
        let limit = Duration::from_secs(2);
        sibling.beat(start + Duration::from_secs(1));
        assert_eq!(first.check(start + Duration::from_secs(3), limit), None);
        let stuck = first.check(start + Duration::from_secs(4), limit);
        assert_eq!(
            stuck,
            Some(Stuck {
                reactor: 1,
                since: start + Duration::from_secs(1)
            })
        );
        assert!(stuck
            .unwrap()
            .status(start + Duration::from_secs(4))
            .contains("reactor 1 stuck"));
        sibling.beat(start + Duration::from_secs(5));
        assert_eq!(first.check(start + Duration::from_secs(5), limit), None);
        assert_eq!(first.stuck(), None);
    }
}
