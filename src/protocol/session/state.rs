//! What a session remembers besides its framer, and how each protocol answers one message.
//!
//! [`Session`](super::Session) finds the messages; this file says what each
//! protocol replies to one: timestamp stamps it, hello greets or closes on
//! `exit`, chat shows it to the room under the sender's name, files checks
//! a name and asks the driver to open it. The byte-stream protocols (echo,
//! discard, chargen, daytime, time) never reach [`State::on_message`]: they
//! have no messages, only bytes, and `Session` answers them directly.
//!
//! State that only a few protocols need is kept in a boxed [`Extra`], so that
//! tens of thousands of idle echo sessions stay small.

use super::producer::Producer;
use crate::protocol::{chat, files, hello, timestamp, Action, Framing, Protocol};
use std::time::SystemTime;

/// Everything but the framer, so a line borrowed from the framer can be
/// answered while the rest of the session is mutably borrowed.
#[derive(Debug)]
pub(super) struct State {
    /// The protocol this session speaks.
    pub(super) protocol: Protocol,
    /// How messages are cut: lines, or each read whole.
    pub(super) framing: Framing,
    /// The protocol asked to close; input is ignored from now on.
    pub(super) closing: bool,
    /// files: a name was accepted; the driver opens it and nothing more is read.
    pub(super) file_requested: bool,
    /// chat: a line was too long; the error is for the sender, not the room.
    pub(super) error_for_sender: bool,
    /// What only chat, chargen and files need, boxed: tens of thousands of
    /// idle echo sessions should not each carry room for it.
    pub(super) extra: Option<Box<Extra>>,
}

/// Per-session state of the less common protocols.
#[derive(Debug, Default)]
pub(super) struct Extra {
    /// How chat shows this member.
    pub(super) peer: String,
    /// Output of the session's own: chargen's lines or a file.
    pub(super) producer: Option<Producer>,
    /// A file name waiting for the driver to open it.
    pub(super) file_request: Option<Vec<u8>>,
    /// The file stream ended on a read error, not at its end.
    pub(super) read_failed: bool,
}

impl State {
    pub(super) fn extra(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }

    pub(super) fn peer(&self) -> &str {
        self.extra.as_ref().map_or("", |extra| &extra.peer)
    }

    pub(super) fn has_producer(&self) -> bool {
        self.extra
            .as_ref()
            .is_some_and(|extra| extra.producer.is_some())
    }

    pub(super) fn terminate(&self, out: &mut Vec<u8>) {
        if self.framing == Framing::Line {
            out.push(b'\n');
        }
    }

    pub(super) fn refuse(&mut self, reason: &str, out: &mut Vec<u8>) {
        out.extend_from_slice(b"error: ");
        out.extend_from_slice(reason.as_bytes());
        self.terminate(out);
        self.closing = true;
    }

    /// Answers one complete message (a line, or a raw read).
    pub(super) fn on_message(
        &mut self,
        message: &[u8],
        now: SystemTime,
        out: &mut Vec<u8>,
    ) -> Action {
        match self.protocol {
            Protocol::Timestamp => timestamp::on_message(message, now, out),
            Protocol::Hello => {
                if hello::on_message(message, out) == hello::Verdict::Exit {
                    self.closing = true;
                    return Action::Close;
                }
            }
            Protocol::Chat => chat::message(self.peer(), message, out),
            Protocol::Files => {
                // In raw framing a client may still end the name with a newline.
                let name = message.strip_suffix(b"\n").unwrap_or(message);
                let name = name.strip_suffix(b"\r").unwrap_or(name);
                match files::check_name(name) {
                    Ok(()) => {
                        self.file_requested = true;
                        self.extra().file_request = Some(name.to_vec());
                    }
                    Err(reason) => self.refuse(reason, out),
                }
                return if self.closing {
                    Action::Close
                } else {
                    Action::Continue
                };
            }
            // Framing-free protocols never get here.
            Protocol::Echo
            | Protocol::Discard
            | Protocol::Chargen
            | Protocol::Daytime
            | Protocol::Time => return Action::Continue,
        }
        self.terminate(out);
        Action::Continue
    }
}
