//! Posted connections: the loop's list of what to serve again this turn.
//!
//! Sources land on the `yielded` list when they used their turn's budget,
//! when a chat room gave them output, or when shutdown begins. A flag on the
//! connection (nginx's `ev->posted`, redis's pending-write list) says "already
//! on the list", so posting twice is a no-op: a chat member that gets a
//! thousand messages in one turn is served once, with one `writev`.
//!
//! At most `POSTED_PER_TURN` are served per turn; the rest wait for the next
//! turn, after a poll that does not sleep. A room of 5,000 members gets a
//! message to all of them over several turns, and a client beside it waits
//! for a few hundred `writev`s, not for 5,000.
//!
//! Readiness is tracked next to it: a connection remembers whether a read
//! may return data (a readable event came since its last `WouldBlock`), so a
//! connection served only to flush output does not make a `read` that can
//! only answer `EAGAIN`.

use super::connection::Connection;
use super::token::{self, Target};
use super::Reactor;
use mio::event::Event;
use mio::Token;
use std::mem;
use std::time::{Instant, SystemTime};

/// Posted sources served per turn before the loop polls again.
///
/// Serving only a few before polling again is what keeps a quiet client fast
/// beside many busy ones: its event is looked at after at most this many turn
/// budgets. 16 is what `benches/fairness.rs` measured (docs/RELIABILITY.md).
const POSTED_PER_TURN: usize = 16;

/// Puts the connection in slot `key` on the list unless it already is.
pub(super) fn post_connection(conn: &mut Connection, key: usize, yielded: &mut Vec<Token>) {
    if !conn.posted {
        conn.posted = true;
        yielded.push(token::connection(key, conn.generation));
    }
}

impl Reactor {
    /// Serves `token` again this turn, at most once however often it is posted.
    pub(super) fn post(&mut self, token: Token) {
        match token::target(token) {
            Target::Connection { key, generation } => {
                if let Some(conn) = self
                    .connections
                    .get_mut(key)
                    .filter(|c| c.generation == generation)
                {
                    post_connection(conn, key, &mut self.yielded);
                }
            }
            // A handful of sources: a scan is cheaper than a flag per source.
            _ if self.yielded.contains(&token) => {}
            _ => self.yielded.push(token),
        }
    }

    /// Notes what an event says about reading, before the event is dispatched.
    pub(super) fn note_readiness(&mut self, event: &Event) {
        if !(event.is_readable() || event.is_read_closed() || event.is_error()) {
            return;
        }
        if let Target::Connection { key, generation } = token::target(event.token()) {
            if let Some(conn) = self
                .connections
                .get_mut(key)
                .filter(|c| c.generation == generation)
            {
                if event.is_read_closed() {
                    conn.mark_read_closed();
                } else {
                    conn.mark_readable();
                }
            }
        }
    }

    /// Serves what was posted so far, each once, up to `POSTED_PER_TURN`;
    /// the rest stay first in line for the next turn.
    pub(super) fn serve_posted(&mut self, now: Instant, wall: SystemTime) {
        let mut batch = mem::take(&mut self.yielded);
        if batch.len() > POSTED_PER_TURN {
            self.yielded = batch.split_off(POSTED_PER_TURN);
        }
        for token in batch {
            if let Target::Connection { key, generation } = token::target(token) {
                match self
                    .connections
                    .get_mut(key)
                    .filter(|c| c.generation == generation)
                {
                    Some(conn) => conn.posted = false,
                    // Closed since it was posted.
                    None => continue,
                }
            }
            log::trace!("serving {} again", token::Label(token));
            self.dispatch(token, now, wall);
        }
    }
}
