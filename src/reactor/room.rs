//! Chat rooms: the one place where one connection's input becomes another's output.
//!
//! A chat session writes what it says into the loop's `room` buffer instead
//! of its own outbox. After the connection's turn the reactor copies those
//! bytes into the outbox of every *other* member of the same listener's room
//! and queues them to be flushed. A member whose outbox passes
//! `--max-pending` is not reading: it is dropped, and its departure notice is
//! itself delivered to the room, so one stalled reader can neither hold
//! memory nor hold the others back.

use super::{token, Reactor};
use crate::protocol::chat::Departure;
use std::mem;

/// The members of each listener's room (empty for listeners that are not chat).
#[derive(Debug)]
pub(super) struct Rooms {
    members: Vec<Vec<usize>>,
    /// Set while delivering, so that drops during delivery queue their notices
    /// for the same delivery loop instead of recursing.
    delivering: bool,
}

impl Rooms {
    /// Empty rooms for `sources` listeners.
    pub(super) fn new(sources: usize) -> Self {
        Rooms {
            members: vec![Vec::new(); sources],
            delivering: false,
        }
    }

    /// Adds the connection in slot `key` to `listener`'s room.
    pub(super) fn join(&mut self, listener: usize, key: usize) {
        self.members[listener].push(key);
    }

    /// Removes the connection in slot `key` from `listener`'s room, if it was in it.
    pub(super) fn leave(&mut self, listener: usize, key: usize) {
        let members = &mut self.members[listener];
        if let Some(position) = members.iter().position(|&member| member == key) {
            members.swap_remove(position);
        }
    }
}

impl Reactor {
    /// Delivers the loop's `room` buffer to `listener`'s room, except to `from`.
    pub(super) fn deliver_room(&mut self, listener: usize, from: Option<usize>) {
        if self.scratch.room.is_empty() || self.rooms.delivering {
            return;
        }
        self.rooms.delivering = true;
        let mut from = from;
        let mut too_slow = Vec::new();
        while !self.scratch.room.is_empty() {
            let message = mem::take(&mut self.scratch.room);
            for &key in &self.rooms.members[listener] {
                let Some(member) = self.connections.get_mut(key).filter(|_| Some(key) != from)
                else {
                    continue;
                };
                member.queue(&message);
                if member.pending_output() > self.limits.max_pending {
                    too_slow.push(key);
                } else {
                    // Flushed on its turn, later in this loop iteration.
                    self.yielded.push(token::connection(key, member.generation));
                }
            }
            // Keep the allocation for the next message.
            self.scratch.room = message;
            self.scratch.room.clear();
            from = None;
            for key in too_slow.drain(..) {
                if self.connections.contains(key) {
                    // Its departure notice lands in `room` and goes round this loop.
                    self.close(key, "not reading its chat", Departure::NotReading);
                }
            }
        }
        self.rooms.delivering = false;
    }
}
