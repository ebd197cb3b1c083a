//! One TCP connection's protocol state, independent of how bytes travel.
//!
//! A [`Session`] is the one object a driver (the reactor, the threaded
//! baseline, a test) talks to for a stream connection. It is split in four
//! files so that each can be read on its own:
//!
//! - this file: the state machine the driver sees. It cuts the input into
//!   messages with the line framer (or takes a raw read as one message),
//!   holds a client that sends without reading to a bounded output, and
//!   decides when the connection is done (`exit`, an over-long line, EOF).
//! - [`state`]: what a session remembers besides the framer, and how each
//!   protocol answers one complete message. Adding a line protocol means
//!   adding an arm there, not touching the framing.
//! - [`producer`]: output the session makes on its own as the socket drains
//!   (chargen's lines, a file), read in bounded batches.
//! - `tests`: byte fixtures, every-split and random-chunking tests, driven
//!   the way a reactor would drive a session.
//!
//! The framer lives in [`Session`] and everything else in [`State`] for a
//! borrowing reason: a line borrowed from the framer's buffer can then be
//! answered while the rest of the session is mutably borrowed.

mod producer;
mod state;
#[cfg(test)]
mod tests;

use super::chat::{self, Departure};
use super::line::{LineFramer, LineTooLong, LINE_TOO_LONG};
use super::{chargen, daytime, echo, hello, time, Action, Framing, Protocol};
use producer::{read_into, Producer};
use state::State;
use std::io::Read;
use std::mem;
use std::time::SystemTime;

/// How far one call to [`Session::on_bytes`] got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes of the input that were used; the driver keeps the rest for later.
    pub consumed: usize,
    /// Messages answered (lines, raw chunks, or echo chunks).
    pub messages: u64,
    /// Whether to keep the connection.
    pub action: Action,
}

/// The protocol state of one TCP connection.
///
/// A driver calls [`on_connect`](Session::on_connect) once, then
/// [`on_bytes`](Session::on_bytes) for input, [`on_eof`](Session::on_eof)
/// when the peer has finished sending and [`on_close`](Session::on_close)
/// when the connection goes. Replies are appended to the driver's output
/// buffer. Two protocols need more of the driver:
///
/// - streaming (chargen, files): while [`wants_to_produce`](Session::wants_to_produce),
///   the driver calls [`poll_output`](Session::poll_output) each time the
///   socket has taken everything, so the server never buffers more than one batch;
/// - files: after a request, [`take_file_request`](Session::take_file_request)
///   gives the name; the driver opens it and calls [`start_stream`](Session::start_stream)
///   or [`refuse`](Session::refuse);
/// - chat: when [`is_broadcast`](Session::is_broadcast), every byte the session
///   outputs is for the *other* members of the room, and the driver delivers it.
#[derive(Debug)]
pub struct Session {
    framer: LineFramer,
    state: State,
}

impl Session {
    /// A new session for `protocol`, cutting messages with `framing`, lines up to `max_line`.
    pub fn new(protocol: Protocol, framing: Framing, max_line: usize) -> Self {
        Session {
            framer: LineFramer::new(max_line),
            state: State {
                protocol,
                framing,
                closing: false,
                file_requested: false,
                error_for_sender: false,
                extra: None,
            },
        }
    }

    /// Names the peer, as chat shows it to the room (`127.0.0.1:5555`).
    /// Only chat keeps the name; other protocols never show it.
    pub fn with_peer(mut self, peer: impl Into<String>) -> Self {
        if self.state.protocol == Protocol::Chat {
            self.state.extra().peer = peer.into();
        }
        self
    }

    /// The protocol this session speaks.
    pub fn protocol(&self) -> Protocol {
        self.state.protocol
    }

    /// Bytes held for an unfinished line (bounded by the line limit).
    pub fn buffered(&self) -> usize {
        self.framer.buffered()
    }

    /// True once the protocol has asked to close; input is then ignored.
    pub fn is_closing(&self) -> bool {
        self.state.closing
    }

    /// True when this session's output is for the rest of its room, not for its own peer.
    pub fn is_broadcast(&self) -> bool {
        self.state.protocol == Protocol::Chat
    }

    /// For a broadcasting session (chat): appends what is for the sender
    /// alone, not the room (the `error: line too long` before it closes).
    /// Returns whether it appended anything.
    pub fn take_reply_to_sender(&mut self, out: &mut Vec<u8>) -> bool {
        if !mem::take(&mut self.state.error_for_sender) {
            return false;
        }
        out.extend_from_slice(LINE_TOO_LONG);
        true
    }

    /// Called once when the connection is established: a greeting, the time, a join notice.
    pub fn on_connect(&mut self, now: SystemTime, out: &mut Vec<u8>) -> Action {
        let state = &mut self.state;
        match state.protocol {
            Protocol::Hello => {
                out.extend_from_slice(hello::GREETING);
                state.terminate(out);
            }
            Protocol::Daytime | Protocol::Time => {
                if state.protocol == Protocol::Daytime {
                    daytime::write(now, out);
                } else {
                    time::write(now, out);
                }
                state.closing = true;
                return Action::Close;
            }
            Protocol::Chargen => state.extra().producer = Some(Producer::Chargen { next: 0 }),
            Protocol::Chat => {
                chat::joined(state.peer(), out);
                state.terminate(out);
            }
            Protocol::Echo | Protocol::Timestamp | Protocol::Discard | Protocol::Files => {}
        }
        Action::Continue
    }

    /// Handles received bytes, appending replies to `out`.
    ///
    /// Stops early, with `consumed < input.len()`, once `out` has reached
    /// `out_limit` bytes: the driver sends what it has and offers the rest
    /// again later. That is how a client that sends without reading is held to
    /// a bounded amount of output. In raw framing the input is one message and
    /// is always used whole.
    pub fn on_bytes(
        &mut self,
        input: &[u8],
        now: SystemTime,
        out: &mut Vec<u8>,
        out_limit: usize,
    ) -> Progress {
        let state = &mut self.state;
        let whole = |messages, action| Progress {
            consumed: input.len(),
            messages,
            action,
        };
        if state.closing {
            return whole(0, Action::Close);
        }
        match state.protocol {
            Protocol::Echo => {
                let consumed = echo::on_bytes(input, out, out_limit);
                return Progress {
                    consumed,
                    messages: u64::from(consumed > 0),
                    action: Action::Continue,
                };
            }
            // Input is read and thrown away (chargen ignores it too, per RFC 864).
            Protocol::Discard => return whole(1, Action::Continue),
            Protocol::Chargen | Protocol::Daytime | Protocol::Time => {
                return whole(0, Action::Continue)
            }
            // One request per connection; anything after it is ignored.
            Protocol::Files if state.file_requested => return whole(0, Action::Continue),
            Protocol::Timestamp | Protocol::Hello | Protocol::Files | Protocol::Chat => {}
        }
        if state.framing == Framing::Raw {
            let action = state.on_message(input, now, out);
            return whole(1, action);
        }
        self.on_lines(input, now, out, out_limit)
    }

    fn on_lines(
        &mut self,
        input: &[u8],
        now: SystemTime,
        out: &mut Vec<u8>,
        out_limit: usize,
    ) -> Progress {
        let mut consumed = 0;
        let mut messages = 0;
        while consumed < input.len() && out.len() < out_limit {
            match self.framer.next_line(&input[consumed..]) {
                Ok(Some((line, used))) => {
                    consumed += used;
                    messages += 1;
                    self.state.on_message(line, now, out);
                }
                Ok(None) => consumed = input.len(),
                Err(LineTooLong) => {
                    if self.is_broadcast() {
                        // `out` is the room's: the error waits for take_reply_to_sender.
                        self.state.error_for_sender = true;
                    } else {
                        out.extend_from_slice(LINE_TOO_LONG);
                    }
                    self.state.closing = true;
                }
            }
            if self.state.closing || self.state.file_requested {
                // Whatever follows an `exit`, an over-long line or a file name is ignored.
                consumed = input.len();
                break;
            }
        }
        let action = if self.state.closing {
            Action::Close
        } else {
            Action::Continue
        };
        Progress {
            consumed,
            messages,
            action,
        }
    }

    /// The peer will send nothing more: answer an unterminated last line.
    ///
    /// Returns `Close` unless the session still has output of its own to
    /// stream (a file being sent, chargen), which goes on until it ends or
    /// the peer stops reading.
    pub fn on_eof(&mut self, now: SystemTime, out: &mut Vec<u8>) -> Action {
        let line_protocol = !matches!(
            self.state.protocol,
            Protocol::Echo
                | Protocol::Discard
                | Protocol::Chargen
                | Protocol::Daytime
                | Protocol::Time
        );
        let pending_request = self.state.file_requested;
        if !self.state.closing
            && !pending_request
            && line_protocol
            && self.state.framing == Framing::Line
        {
            if let Some(last) = self.framer.take_unterminated() {
                self.state.on_message(&last, now, out);
            }
        }
        if self.state.closing || !(self.state.file_requested || self.state.has_producer()) {
            self.state.closing = true;
            return Action::Close;
        }
        Action::Continue
    }

    /// The connection is going away: chat tells the room.
    pub fn on_close(&mut self, departure: Departure, out: &mut Vec<u8>) {
        if self.state.protocol == Protocol::Chat {
            chat::departed(self.state.peer(), departure, out);
            self.state.terminate(out);
        }
        self.state.closing = true;
        if let Some(extra) = &mut self.state.extra {
            extra.producer = None;
        }
    }

    /// True while the session has output of its own to stream.
    pub fn wants_to_produce(&self) -> bool {
        self.state.has_producer() && !self.state.closing
    }

    /// Appends streamed output until `out` holds at least `out_limit` bytes
    /// (a file may end sooner: then `Close`).
    pub fn poll_output(&mut self, out: &mut Vec<u8>, out_limit: usize) -> Action {
        let state = &mut self.state;
        let more = match state
            .extra
            .as_mut()
            .and_then(|extra| extra.producer.as_mut())
        {
            None => true,
            Some(Producer::Chargen { next }) => {
                chargen::fill(next, out, out_limit);
                true
            }
            // A read error cannot be reported in the middle of a byte stream:
            // it ends the connection, and `stream_cut_short` tells the driver
            // to end it with a reset rather than a FIN that would look complete.
            Some(Producer::Reader(reader)) => match read_into(reader, out, out_limit) {
                Ok(more) => more,
                Err(_) => {
                    state.extra().read_failed = true;
                    false
                }
            },
        };
        if !more {
            state.extra().producer = None;
            state.closing = true;
            return Action::Close;
        }
        Action::Continue
    }

    /// True when a file stream has not reached its end: it failed to read,
    /// or it is still going while the connection is being closed (shutdown).
    ///
    /// The driver ends such a connection with a reset (`SO_LINGER` 0), not a
    /// FIN: a FIN after a truncated file is indistinguishable from the whole file.
    pub fn stream_cut_short(&self) -> bool {
        self.state.extra.as_ref().is_some_and(|extra| {
            extra.read_failed || matches!(extra.producer, Some(Producer::Reader(_)))
        })
    }

    /// The file name the client asked for, once, for the driver to open.
    pub fn take_file_request(&mut self) -> Option<Vec<u8>> {
        self.state
            .extra
            .as_mut()
            .and_then(|extra| extra.file_request.take())
    }

    /// Streams `reader` (the requested file) to the client, then closes.
    pub fn start_stream(&mut self, reader: Box<dyn Read + Send>) {
        self.state.extra().producer = Some(Producer::Reader(reader));
    }

    /// Refuses the request with `error: <reason>` and closes.
    pub fn refuse(&mut self, reason: &str, out: &mut Vec<u8>) {
        self.state.refuse(reason, out);
    }
}
