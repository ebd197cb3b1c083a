//! Opening, failing, retrying and closing this loop's connections.
//!
//! At most `MAX_CONNECTING` connects are in progress at once per loop, the
//! rest wait in a backlog: ten thousand simultaneous SYNs would overflow the
//! server's accept queue and measure the kernel's drops, not the server. A
//! failed connect is retried after `RETRY_DELAY`, so a dead server is not
//! spun on; other failures reopen at once (except in `hold`, which counts
//! what it lost instead).

use super::{Engine, Mode};
use crate::loadgen::conn::State;
use crate::loadgen::error::ErrorKind;
use mio::{Interest, Token};
use std::time::{Duration, Instant};

/// Connects in progress at once per loop, so a server's accept backlog is not flooded.
const MAX_CONNECTING: usize = 256;
/// Wait before reconnecting after a failed connect, so a dead server is not spun on.
const RETRY_DELAY: Duration = Duration::from_millis(100);

impl Engine<'_> {
    /// Starts connection `i` now, or queues it while too many connects are in progress.
    pub(super) fn open(&mut self, i: usize, now: Instant) {
        if self.shared.stopped() {
            return;
        }
        if self.connecting >= MAX_CONNECTING {
            self.backlog.push_back(i);
            return;
        }
        if self.mode == Mode::Churn {
            // Churn spends one request per connection, at the connect.
            if !self.shared.take_request() {
                return;
            }
            self.conns[i].remaining = 1;
        }
        let source = self.config.source(self.first + i);
        let conn = &mut self.conns[i];
        let call = Instant::now();
        let opened = conn.open(self.config.addr, source, now);
        self.stats.note_connect_call(call.elapsed());
        let registered = opened.and_then(|()| {
            let stream = conn.stream.as_mut().expect("open just set the stream");
            self.poll
                .registry()
                .register(stream, Token(i), Interest::READABLE | Interest::WRITABLE)
        });
        match registered {
            Ok(()) => self.connecting += 1,
            Err(_) => {
                self.close(i);
                self.stats.error(ErrorKind::Connect);
                self.retry_later(i, now);
            }
        }
    }

    pub(super) fn open_backlog(&mut self, now: Instant) {
        while self.connecting < MAX_CONNECTING {
            let Some(i) = self.backlog.pop_front() else {
                break;
            };
            self.open(i, now);
        }
    }

    /// Counts a failure, closes the connection and (outside `hold`) schedules a reopen.
    pub(super) fn fail(&mut self, i: usize, kind: ErrorKind, now: Instant) {
        self.stats.error(kind);
        self.close(i);
        self.open_backlog(now);
        match self.mode {
            Mode::Hold => {}
            _ if kind == ErrorKind::Connect => self.retry_later(i, now),
            _ => self.open(i, now),
        }
    }

    fn retry_later(&mut self, i: usize, now: Instant) {
        if self.mode != Mode::Hold {
            self.conns[i].retry_at = Some(now + RETRY_DELAY);
        }
    }

    /// Deregisters and drops connection `i`'s socket; returns requests left unanswered.
    pub(super) fn close(&mut self, i: usize) -> usize {
        let conn = &mut self.conns[i];
        if conn.state == State::Connecting {
            self.connecting -= 1;
        }
        if let Some(stream) = conn.stream.as_mut() {
            // Dropping the socket would deregister it too; doing it first keeps mio's rules.
            let _ = self.poll.registry().deregister(stream);
        }
        conn.close()
    }
}
