//! The reactor's side of chat rooms: collecting what members say, delivering
//! each turn's batch as one shared message, judging slow members, and the
//! backpressure gate. The data and the rule live in `room.rs`; the design is
//! explained there.

use super::connection::Connection;
use super::posted::post_connection;
use super::room::{Origin, Verdict, NO_SEAT};
use super::{token, Reactor};
use crate::protocol::chat::Departure;
use std::cmp::Reverse;
use std::mem;
use std::sync::Arc;
use std::time::Instant;

/// A finished batch's buffer is kept for the next one up to this size.
const KEEP_BATCH_CAPACITY: usize = 64 * 1024;

impl Reactor {
    /// Bytes a member of `listener`'s room may still say this turn: none
    /// while a member is past the gate, else what is left of the batch's share.
    pub(super) fn room_allowance(&self, listener: usize) -> usize {
        let room = &self.rooms.rooms[listener];
        if room.over_gate > 0 {
            return 0;
        }
        self.limits.max_pending.saturating_sub(room.batch.len())
    }

    /// Moves what a turn said (the loop's `room` buffer) into its room's
    /// batch; `from` said it (`None` for a departure notice: everyone hears it).
    pub(super) fn collect_room(&mut self, listener: usize, from: Option<usize>) {
        if self.scratch.room.is_empty() {
            return;
        }
        let Some(room) = self.rooms.rooms.get_mut(listener) else {
            self.scratch.room.clear();
            return;
        };
        let start = room.batch.len();
        room.batch.append(&mut self.scratch.room);
        if let Some(key) = from {
            let range = start..room.batch.len();
            match room.origins.last_mut() {
                Some(last) if last.key == key && last.range.end == start => {
                    last.range.end = range.end
                }
                _ => room.origins.push(Origin { key, range }),
            }
        }
    }

    /// Delivers every room's batch: one shared message each, every member posted once.
    pub(super) fn deliver_rooms(&mut self) {
        for listener in 0..self.rooms.rooms.len() {
            if !self.rooms.rooms[listener].batch.is_empty() {
                self.deliver_batch(listener);
            }
        }
    }

    fn deliver_batch(&mut self, listener: usize) {
        let gate = self.rooms.rule.gate;
        let room = &mut self.rooms.rooms[listener];
        let message: Arc<[u8]> = Arc::from(room.batch.as_slice());
        // The same message, not a copy, for the members on sibling reactors (room_mail.rs).
        self.mailbox.post_room(listener, &message);
        room.batch.clear();
        room.batch.shrink_to(KEEP_BATCH_CAPACITY);
        let mut origins = mem::take(&mut room.origins);
        // Stable: one member's ranges stay in order.
        origins.sort_by_key(|origin| origin.key);
        for seat in room.seats.iter_mut() {
            let joined_at = mem::replace(&mut seat.joined_at, 0);
            let Some(conn) = self
                .connections
                .get_mut(seat.key)
                .filter(|conn| conn.generation == seat.generation)
            else {
                continue;
            };
            let first = origins.partition_point(|origin| origin.key < seat.key);
            let own = origins[first..]
                .iter()
                .take_while(|origin| origin.key == seat.key);
            queue_all_but_own(conn, &message, joined_at, own);
            seat.set_over_gate(conn.pending_output() > gate, &mut room.over_gate);
            // Flushed once this turn, however many messages it got.
            post_connection(conn, seat.key, &mut self.yielded);
        }
        origins.clear();
        room.origins = origins;
        if room.over_gate == 0 {
            self.post_waiting(listener);
        }
    }

    /// After a member's turn (a write was tried): judge it, update the gate,
    /// and note it as a waiting sender if the room held it back.
    pub(super) fn judge_member(&mut self, key: usize, now: Instant) {
        let Some(conn) = self.connections.get(key).filter(|c| c.seat != NO_SEAT) else {
            return;
        };
        let (pending, held) = (conn.pending_output(), conn.held_output());
        // Kernel bytes count only once the kernel refused some: see room.rs.
        let backlog = match pending {
            0 => 0,
            _ => held + conn.unsent_in_kernel(),
        };
        let (listener, generation) = (conn.listener, conn.generation);
        let (written, may_read) = (conn.written(), conn.may_read());
        let rule = self.rooms.rule;
        let room = &mut self.rooms.rooms[listener];
        let seat = &mut room.seats[conn.seat as usize];
        let verdict = rule.judge(&mut seat.behind, held, backlog, written, now);
        let opened = seat.set_over_gate(pending > rule.gate, &mut room.over_gate);
        let held_back = room.over_gate > 0 || room.batch.len() >= self.limits.max_pending;
        if may_read && held_back && !seat.waiting {
            seat.waiting = true;
            room.waiting.push((key, generation));
        }
        match verdict {
            Verdict::NotReading => {
                log::info!(
                    "{} chat member {} not reading: {backlog} bytes behind; dropped",
                    token::Label(token::connection(key, generation)),
                    self.connections[key].peer
                );
                self.stats.chat_dropped += 1;
                self.close(key, "not reading its chat", Departure::NotReading);
            }
            Verdict::Behind {
                check_at,
                fresh: true,
            } => self.rooms.checks.push(Reverse((check_at, key, generation))),
            Verdict::Behind { .. } | Verdict::Reading => {}
        }
        if opened {
            self.post_waiting(listener);
        }
    }

    /// Takes the member in `seat` out of `listener`'s room in O(1).
    pub(super) fn leave_room(&mut self, listener: usize, seat: u32) {
        if seat == NO_SEAT {
            return;
        }
        let room = &mut self.rooms.rooms[listener];
        let gone = room.seats.swap_remove(seat as usize);
        if let Some(moved) = room.seats.get(seat as usize) {
            if let Some(conn) = self.connections.get_mut(moved.key) {
                conn.seat = seat;
            }
        }
        if gone.over_gate {
            room.over_gate -= 1;
            if room.over_gate == 0 {
                self.post_waiting(listener);
            }
        }
    }

    /// Posts members whose soft-limit window has ended, so they are judged
    /// even if they never become writable again (a member that stopped reading).
    pub(super) fn check_rooms(&mut self, now: Instant) {
        while let Some(&Reverse((at, key, generation))) = self.rooms.checks.peek() {
            if at > now {
                break;
            }
            self.rooms.checks.pop();
            if let Some(conn) = self
                .connections
                .get_mut(key)
                .filter(|c| c.generation == generation)
            {
                post_connection(conn, key, &mut self.yielded);
            }
        }
    }

    /// The gate opened: serve again the senders it held back.
    fn post_waiting(&mut self, listener: usize) {
        let room = &mut self.rooms.rooms[listener];
        for (key, generation) in mem::take(&mut room.waiting) {
            if let Some(conn) = self
                .connections
                .get_mut(key)
                .filter(|c| c.generation == generation)
            {
                if let Some(seat) = room.seats.get_mut(conn.seat as usize) {
                    seat.waiting = false;
                }
                post_connection(conn, key, &mut self.yielded);
            }
        }
    }
}

/// Queues `message` from `joined_at` on, leaving out the member's own ranges.
fn queue_all_but_own<'a>(
    conn: &mut Connection,
    message: &Arc<[u8]>,
    joined_at: usize,
    own: impl Iterator<Item = &'a Origin>,
) {
    let mut at = joined_at;
    for origin in own {
        if origin.range.start > at {
            conn.queue_shared(message, at..origin.range.start);
        }
        at = at.max(origin.range.end);
    }
    if at < message.len() {
        conn.queue_shared(message, at..message.len());
    }
}
