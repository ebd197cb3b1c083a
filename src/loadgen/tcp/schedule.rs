//! Open-loop mode (`--rate`): when each request of this loop is due.
//!
//! A closed-loop client sends a request when the last one is answered, so a
//! server that stalls also stalls the client, and the requests the stall kept
//! from being sent are never timed: the figures look better than what users
//! would see (coordinated omission). An open-loop client keeps to a schedule
//! whatever the server does, and times every request from when it was due.

use super::{Engine, FOREVER};
use std::time::{Duration, Instant};

/// Open-loop mode: when each of this loop's requests is due.
#[derive(Debug)]
pub(super) struct Schedule {
    /// Requests per second for this loop (its share of `--rate`).
    pub(super) per_sec: f64,
    /// When request 0 is due: the start of traffic.
    pub(super) t0: Option<Instant>,
    /// The next request of the loop's schedule not yet handed to its connection.
    pub(super) cursor: u64,
}

impl Schedule {
    /// When request `k` of this loop is due (far in the future before traffic starts).
    pub(super) fn due(&self, k: u64) -> Instant {
        match self.t0 {
            Some(t0) => t0 + Duration::from_secs_f64(k as f64 / self.per_sec),
            None => Instant::now() + FOREVER,
        }
    }
}

impl Engine<'_> {
    /// Open-loop mode: hands every request now due to its connection, in schedule order.
    pub(super) fn send_due(&mut self, now: Instant) {
        let count = self.conns.len() as u64;
        loop {
            let Some(schedule) = &mut self.schedule else {
                return;
            };
            if schedule.due(schedule.cursor) > now {
                return;
            }
            let i = (schedule.cursor % count) as usize;
            schedule.cursor += 1;
            // `fill` sends every due request of connection `i`, this one included.
            self.fill(i, now);
            self.flush(i);
        }
    }
}
