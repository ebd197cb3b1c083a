//! Chat rooms across reactors: a room is one room whatever loop each member landed on.
//!
//! Each reactor keeps the seats of *its own* members only (see `room.rs`).
//! When a reactor turns its room's batch into a message (`fanout.rs`), it
//! delivers it to its own members and posts the same `Arc<[u8]>` to every
//! sibling's mailbox (`mailbox.rs`): one allocation for the whole process,
//! whatever the number of reactors and members. A sibling delivers it here,
//! on its own thread, to every one of its members (none of them said it), and
//! judges them by the same slow-reader rule as its own messages.
//!
//! Order: what one member says reaches every other member in the order said,
//! because each batch is posted in order and each mailbox is a FIFO drained
//! in order. Lines of two members on different reactors may interleave
//! differently for different readers.
//!
//! Backpressure is per reactor: a slow member holds back the senders of its
//! own reactor (the gate in `fanout.rs`); senders on other reactors keep
//! sending, and the slow member is judged, and dropped if it does not read,
//! by its own reactor's rule, which bounds what is held for it.

use super::posted::post_connection;
use super::Reactor;
use std::sync::Arc;

impl Reactor {
    /// Delivers a message a sibling reactor posted to every local member of `listener`'s room.
    pub(super) fn deliver_from_sibling(&mut self, listener: usize, message: &Arc<[u8]>) {
        if message.is_empty() {
            return;
        }
        let gate = self.rooms.rule.gate;
        let Some(room) = self.rooms.rooms.get_mut(listener) else {
            return;
        };
        for seat in room.seats.iter_mut() {
            let Some(conn) = self
                .connections
                .get_mut(seat.key)
                .filter(|conn| conn.generation == seat.generation)
            else {
                continue;
            };
            conn.queue_shared(message, 0..message.len());
            // Output only grows here, so the gate can only close.
            if conn.pending_output() > gate {
                seat.set_over_gate(true, &mut room.over_gate);
            }
            post_connection(conn, seat.key, &mut self.yielded);
        }
    }
}
