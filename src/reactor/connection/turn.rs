//! One turn of an open connection: flush, read, hand bytes to the session, write.
//!
//! A turn is a loop that keeps going while there is something useful to do
//! and stops at the first of:
//!
//! - **nothing left**: the socket is drained and the session has nothing of
//!   its own to say (`Keep`: wait for the next event);
//! - **backpressure**: the output waiting for this client reached
//!   `--max-pending`, so reading more would only grow memory (`Keep`: the
//!   writable event that drains it brings the connection back);
//! - **the turn's budget**: this connection moved `turn_bytes` already and
//!   has more, so it steps aside for the others (`Yield`: served again
//!   after them, once per loop iteration; see `posted.rs`).
//!
//! Input that the session could not take (its output budget ran out) is kept
//! in the connection's own small buffer and offered first next time; every
//! other read goes through the loop's one shared scratch buffer.

use super::closing::Step;
use super::{would_block, Connection, Outcome, Phase};
use crate::protocol::Action;
use crate::reactor::context::Context;
use crate::reactor::token::Label;
use std::io::{self, Read};
use std::mem;

/// What this turn has done so far.
#[derive(Default)]
struct TurnState {
    /// Bytes read or produced (for the turn's budget).
    moved: usize,
    /// A read met `WouldBlock`, or the short-read rule said the socket is empty.
    read_drained: bool,
}

impl Connection {
    /// Serves until there is nothing to do, the output is full, or the turn is used up.
    pub(super) fn serve(&mut self, cx: &mut Context<'_>) -> io::Result<Outcome> {
        let mut turn = TurnState::default();
        loop {
            self.flush(cx)?;
            match self.closing_step(cx)? {
                Some(Step::Again) => continue,
                Some(Step::Done(outcome)) => return Ok(outcome),
                None => {}
            }
            if self.budget(cx) == 0 {
                // Backpressure: read nothing more until the output drains. For
                // chat: until the room has delivered this turn's lines (then
                // serve it again), or until the room's slowest member catches
                // up (the room posts it then; see `room.rs`).
                let delivered_soon = self.session.is_broadcast() && !cx.scratch.room.is_empty();
                return Ok(if delivered_soon {
                    Outcome::Yield
                } else {
                    Outcome::Keep
                });
            }
            if let Some(name) = self.session.take_file_request() {
                self.open_file(&name, cx);
                self.emit(cx)?;
                continue;
            }
            if !self.input.is_empty() {
                let mut held = mem::take(&mut self.input);
                let used = self.process(&held, cx)?;
                held.drain(..used);
                if self.phase == Phase::Open {
                    self.input = held;
                }
                continue;
            }
            if self.peer_eof && !self.eof_delivered {
                self.eof_delivered = true;
                if self.session.on_eof(cx.moment.wall, &mut cx.scratch.out) == Action::Close {
                    self.phase = Phase::Closing;
                }
                self.emit(cx)?;
                continue;
            }
            let more_to_read = !self.peer_eof && !turn.read_drained && self.may_read;
            let can_produce = self.session.wants_to_produce() && self.pending_output() == 0;
            if turn.moved >= cx.limits.turn_bytes && (more_to_read || can_produce) {
                return Ok(Outcome::Yield);
            }
            if more_to_read {
                self.read_once(cx, &mut turn)?;
                continue;
            }
            // Input is drained: stream output of the session's own (chargen, a
            // file), one batch each time the socket has taken everything.
            if can_produce {
                let batch = cx.limits.max_pending.min(cx.limits.turn_bytes).max(1);
                if self.session.poll_output(&mut cx.scratch.out, batch) == Action::Close {
                    self.phase = Phase::Closing;
                }
                turn.moved += cx.scratch.out.len().max(1);
                self.emit(cx)?;
                continue;
            }
            return Ok(Outcome::Keep);
        }
    }

    /// One `read` into the scratch buffer, and the session's answer to it.
    fn read_once(&mut self, cx: &mut Context<'_>, turn: &mut TurnState) -> io::Result<()> {
        match self.stream.read(&mut cx.scratch.read) {
            Ok(0) => {
                log::trace!(
                    "{} read 0 bytes: the peer shut its write side (half-close)",
                    Label(cx.token)
                );
                self.peer_eof = true
            }
            Ok(n) => {
                log::trace!("{} read {n} bytes", Label(cx.token));
                turn.moved += n;
                // The short-read rule (module docs): drained, unless a FIN is pending.
                if n < cx.scratch.read.len() && !self.read_closed {
                    turn.read_drained = true;
                    self.may_read = false;
                }
                cx.stats.bytes_in += n as u64;
                let answered = cx.stats.messages;
                let read = mem::take(&mut cx.scratch.read);
                let used = self.process(&read[..n], cx);
                cx.scratch.read = read;
                let used = used?;
                // Only a whole message is activity: a slowloris trickling a
                // byte at a time into a line that never ends stays "idle".
                if cx.stats.messages > answered {
                    self.last_active = cx.moment.now;
                }
                if used < n && self.phase == Phase::Open {
                    self.input.extend_from_slice(&cx.scratch.read[used..n]);
                }
            }
            Err(err) if would_block(&err) => {
                log::trace!("{} read WouldBlock: drained", Label(cx.token));
                turn.read_drained = true;
                self.may_read = false;
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
        Ok(())
    }

    /// How many more output bytes this connection may produce now.
    fn budget(&self, cx: &Context<'_>) -> usize {
        if self.session.is_broadcast() {
            return cx.room_allowance.saturating_sub(cx.scratch.room.len());
        }
        cx.limits.max_pending.saturating_sub(self.pending_output())
    }

    /// Hands input to the session within the output budget and emits the replies.
    fn process(&mut self, input: &[u8], cx: &mut Context<'_>) -> io::Result<usize> {
        debug_assert!(
            cx.scratch.out.is_empty(),
            "another source left output in the scratch buffer"
        );
        let budget = self.budget(cx);
        let progress = self
            .session
            .on_bytes(input, cx.moment.wall, &mut cx.scratch.out, budget);
        cx.stats.messages += progress.messages;
        if progress.action == Action::Close {
            self.phase = Phase::Closing;
        }
        self.emit(cx)?;
        Ok(progress.consumed)
    }

    /// Opens the requested file under the files root, or refuses with a reason.
    fn open_file(&mut self, name: &[u8], cx: &mut Context<'_>) {
        let opened = match cx.files {
            Some(root) => root.open(name),
            None => Err("files are not served here"),
        };
        match opened {
            Ok(file) => {
                log::debug!("{}: sending {:?}", self.peer, String::from_utf8_lossy(name));
                self.session.start_stream(Box::new(file));
            }
            Err(reason) => {
                log::debug!(
                    "{}: refused {:?}: {reason}",
                    self.peer,
                    String::from_utf8_lossy(name)
                );
                self.session.refuse(reason, &mut cx.scratch.out);
                self.phase = Phase::Closing;
            }
        }
    }
}
