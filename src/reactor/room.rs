//! Chat rooms: the one place where one connection's input becomes another's output.
//!
//! A chat session writes what it says into the loop's `room` buffer instead
//! of its own outbox. After the connection's turn the reactor copies those
//! bytes into the outbox of every *other* member of the same listener's room
//! and queues them to be flushed. A member whose outbox passes
//! `--max-pending` is not reading: it is dropped, and its departure notice is
//! itself delivered to the room, so one stalled reader can neither hold
//! memory nor hold the others back.

use super::mailbox::Mail;
use super::{token, Reactor};
use crate::protocol::chat::Departure;
use std::mem;
use std::sync::Arc;

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
    /// Delivers the loop's `room` buffer to `listener`'s room, except to `from`,
    /// and posts it to sibling reactors, whose members are in the room too.
    pub(super) fn deliver_room(&mut self, listener: usize, from: Option<usize>) {
        self.deliver_room_from(listener, from, false);
    }

    /// Delivers a message a sibling reactor posted to this loop's members of the room.
    pub(super) fn deliver_from_sibling(&mut self, listener: usize, message: &[u8]) {
        if listener >= self.rooms.members.len() {
            return;
        }
        self.scratch.room.extend_from_slice(message);
        self.deliver_room_from(listener, None, true);
    }

    /// `remote`: the first message came from a sibling, so it is not posted back.
    fn deliver_room_from(&mut self, listener: usize, from: Option<usize>, remote: bool) {
        if self.scratch.room.is_empty() || self.rooms.delivering {
            return;
        }
        let mut remote = remote;
        self.rooms.delivering = true;
        let mut from = from;
        let mut too_slow = Vec::new();
        while !self.scratch.room.is_empty() {
            let message = mem::take(&mut self.scratch.room);
            if !remote && self.mailbox.has_siblings() {
                // Stored once for every sibling; each copies it to its own members.
                self.mailbox.post_to_siblings(&Mail::Room {
                    listener,
                    message: Arc::from(message.as_slice()),
                });
            }
            remote = false;
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
