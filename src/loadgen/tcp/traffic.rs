//! What a ready connection does: finish its connect, read and check replies,
//! queue the requests its mode allows, and write them.
//!
//! Each step only tries non-blocking operations and stops at `WouldBlock`,
//! which is what makes an event left over from a connection's previous socket
//! harmless (see the `tcp` module docs). A connection's requests are built in one
//! buffer and sent with one `write`, so a pipeline of N requests costs one
//! system call, not N.

use super::{Engine, Mode};
use crate::loadgen::conn::State;
use mio::event::Event;
use std::sync::atomic::Ordering;
use std::time::Instant;

impl Engine<'_> {
    pub(super) fn handle(&mut self, event: &Event) {
        let i = event.token().0;
        if i >= self.conns.len() || self.conns[i].state == State::Closed {
            return; // stale: the connection was closed earlier in this batch
        }
        let now = Instant::now();
        if self.conns[i].state == State::Connecting {
            let greeting = self.ex.greeting.is_some();
            match self.conns[i].finish_connect(greeting, &mut self.stats, now) {
                Ok(false) => return,
                Ok(true) => {
                    self.connecting -= 1;
                    self.stats.connects += 1;
                    if self.stats.connects <= self.conns.len() as u64 {
                        // The ramp counts first connects; reconnects come later.
                        self.shared.established.fetch_add(1, Ordering::Relaxed);
                    }
                    self.open_backlog(now);
                }
                Err(kind) => return self.fail(i, kind, now),
            }
        }
        let measuring = self.shared.measuring(now);
        let Engine {
            conns,
            ex,
            scratch,
            stats,
            ..
        } = self;
        let read_closed = event.is_read_closed();
        if let Err(kind) = conns[i].read(ex, scratch, stats, (now, measuring, read_closed)) {
            return self.fail(i, kind, now);
        }
        self.after_reply(i, now);
        self.flush(i);
    }

    /// Decides what a connection does after reading: queue what its mode allows, or
    /// (churn, after its one reply) close and reopen.
    fn after_reply(&mut self, i: usize, now: Instant) {
        let conn = &self.conns[i];
        match self.mode {
            Mode::Churn if conn.state == State::Ready && conn.remaining == 0 && !conn.waiting() => {
                self.close(i);
                self.open(i, now);
            }
            _ => self.fill(i, now),
        }
    }

    /// Queues requests until the pipeline is full, the phase's quota is sent or the budget is spent.
    ///
    /// Open loop: only requests already due, each timed from when it was due.
    pub(super) fn fill(&mut self, i: usize, now: Instant) {
        let count = self.conns.len() as u64;
        let conn = &mut self.conns[i];
        if conn.state != State::Ready || self.shared.stopped() || !self.traffic {
            return;
        }
        while conn.remaining > 0 && conn.sent_at.len() < self.config.pipeline {
            let due = self
                .schedule
                .as_ref()
                .map(|s| s.due(conn.scheduled * count + i as u64));
            if due.is_some_and(|due| due > now) {
                break;
            }
            if self.mode == Mode::Stream && !self.shared.take_request() {
                conn.remaining = 0;
                break;
            }
            // Churn times the whole connect + round trip; the others the round trip.
            let at = match (self.mode, due) {
                (Mode::Churn, _) => conn.opened_at,
                (_, Some(due)) => due,
                _ => now,
            };
            conn.scheduled += u64::from(due.is_some());
            conn.enqueue(at, now);
        }
    }

    pub(super) fn flush(&mut self, i: usize) {
        let Engine {
            conns,
            ex,
            wbuf,
            stats,
            ..
        } = self;
        if let Err(kind) = conns[i].write(ex, wbuf, stats) {
            self.fail(i, kind, Instant::now());
        }
    }
}
