//! One TCP connection's protocol state, independent of how bytes travel.

use super::line::{LineFramer, LineTooLong, LINE_TOO_LONG};
use super::{echo, hello, timestamp, Action, Framing, Protocol};
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
/// [`on_bytes`](Session::on_bytes) for input, and [`on_eof`](Session::on_eof)
/// when the peer has finished sending. Replies are appended to the driver's
/// output buffer.
#[derive(Debug)]
pub struct Session {
    protocol: Protocol,
    framing: Framing,
    framer: LineFramer,
    closing: bool,
}

impl Session {
    /// A new session for `protocol`, cutting messages with `framing`, lines up to `max_line`.
    pub fn new(protocol: Protocol, framing: Framing, max_line: usize) -> Self {
        Session {
            protocol,
            framing,
            framer: LineFramer::new(max_line),
            closing: false,
        }
    }

    /// The protocol this session speaks.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Bytes held for an unfinished line (bounded by the line limit).
    pub fn buffered(&self) -> usize {
        self.framer.buffered()
    }

    /// True once the protocol has asked to close; input is then ignored.
    pub fn is_closing(&self) -> bool {
        self.closing
    }

    /// Called once when the connection is established: the greeting, if any.
    pub fn on_connect(&mut self, _now: SystemTime, out: &mut Vec<u8>) -> Action {
        if self.protocol == Protocol::Hello {
            out.extend_from_slice(hello::GREETING);
            if self.framing == Framing::Line {
                out.push(b'\n');
            }
        }
        Action::Continue
    }

    /// Answers one complete message, marking the session closing on `exit`.
    fn on_message(&mut self, message: &[u8], now: SystemTime, out: &mut Vec<u8>) -> Action {
        let action = answer(self.protocol, self.framing, message, now, out);
        self.closing |= action == Action::Close;
        action
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
        if self.closing {
            return Progress {
                consumed: input.len(),
                messages: 0,
                action: Action::Close,
            };
        }
        if self.protocol == Protocol::Echo {
            let consumed = echo::on_bytes(input, out, out_limit);
            return Progress {
                consumed,
                messages: u64::from(consumed > 0),
                action: Action::Continue,
            };
        }
        if self.framing == Framing::Raw {
            let action = self.on_message(input, now, out);
            return Progress {
                consumed: input.len(),
                messages: 1,
                action,
            };
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
                    // `line` borrows the framer, so answer through a free function.
                    if answer(self.protocol, self.framing, line, now, out) == Action::Close {
                        self.closing = true;
                        break;
                    }
                }
                Ok(None) => consumed = input.len(),
                Err(LineTooLong) => {
                    out.extend_from_slice(LINE_TOO_LONG);
                    self.closing = true;
                }
            }
            if self.closing {
                // Whatever follows an `exit` or an over-long line is ignored.
                consumed = input.len();
                break;
            }
        }
        let action = if self.closing {
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

    /// The peer will send nothing more: answer an unterminated last line, then close.
    pub fn on_eof(&mut self, now: SystemTime, out: &mut Vec<u8>) -> Action {
        if !self.closing && self.protocol != Protocol::Echo && self.framing == Framing::Line {
            if let Some(last) = self.framer.take_unterminated() {
                self.on_message(&last, now, out);
            }
        }
        self.closing = true;
        Action::Close
    }
}

/// Answers one complete message for `protocol`, terminating the reply per `framing`.
fn answer(
    protocol: Protocol,
    framing: Framing,
    message: &[u8],
    now: SystemTime,
    out: &mut Vec<u8>,
) -> Action {
    match protocol {
        Protocol::Echo => echo::on_datagram(message, out),
        Protocol::Timestamp => timestamp::on_message(message, now, out),
        Protocol::Hello => {
            if hello::on_message(message, out) == hello::Verdict::Exit {
                return Action::Close;
            }
        }
    }
    if framing == Framing::Line {
        out.push(b'\n');
    }
    Action::Continue
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_795_293_650)
    }

    /// Drives a session like a reactor would: chunks in order, leftovers offered again, then EOF.
    fn drive(protocol: Protocol, framing: Framing, chunks: &[&[u8]], out_limit: usize) -> Vec<u8> {
        let mut session = Session::new(protocol, framing, 16);
        let mut out = Vec::new();
        let mut sent = Vec::new();
        session.on_connect(now(), &mut out);
        for chunk in chunks {
            let mut rest: &[u8] = chunk;
            while !rest.is_empty() {
                let progress = session.on_bytes(rest, now(), &mut out, out_limit);
                rest = &rest[progress.consumed..];
                // The "socket" takes everything, freeing the budget.
                sent.append(&mut out);
                if progress.action == Action::Close {
                    return sent;
                }
            }
        }
        session.on_eof(now(), &mut out);
        sent.append(&mut out);
        sent
    }

    const STAMP: &str = "[Sat Nov 21 20:40:50 2026] ";

    #[test]
    fn hello_line_framing() {
        let got = drive(
            Protocol::Hello,
            Framing::Line,
            &[b"Ann\r\nBo\nexit\nignored\n"],
            1 << 20,
        );
        assert_eq!(got, b"Welcome!\nHello, Ann!\nHello, Bo!\n");
    }

    #[test]
    fn hello_raw_framing_is_the_seeds_protocol() {
        let got = drive(
            Protocol::Hello,
            Framing::Raw,
            &[b"Ann", b"Bo\n", b"exit", b"x"],
            1 << 20,
        );
        assert_eq!(got, b"Welcome!Hello, Ann!Hello, Bo\n!");
    }

    #[test]
    fn timestamp_answers_each_line_and_the_unterminated_last_one() {
        let got = drive(Protocol::Timestamp, Framing::Line, &[b"a\nb"], 1 << 20);
        assert_eq!(got, format!("{STAMP}a\n{STAMP}b\n").as_bytes());
    }

    #[test]
    fn line_too_long_gets_the_error_then_close() {
        let long = [b'x'; 17];
        let got = drive(
            Protocol::Timestamp,
            Framing::Line,
            &[b"ok\n", &long, b"\nmore\n"],
            1 << 20,
        );
        assert_eq!(got, format!("{STAMP}ok\nerror: line too long\n").as_bytes());
    }

    #[test]
    fn a_small_budget_stops_early_without_losing_lines() {
        let mut session = Session::new(Protocol::Hello, Framing::Line, 16);
        let mut out = Vec::new();
        let progress = session.on_bytes(b"a\nb\nc\n", now(), &mut out, 1);
        assert_eq!(progress.consumed, 2);
        assert_eq!(progress.messages, 1);
        assert_eq!(out, b"Hello, a!\n");
    }

    #[test]
    fn echo_ignores_framing_and_eof_adds_nothing() {
        let got = drive(Protocol::Echo, Framing::Line, &[b"no newline\r"], 3);
        assert_eq!(got, b"no newline\r");
    }

    /// Every way of cutting `input` in two gives the same bytes as not cutting it.
    fn assert_every_split_is_equal(protocol: Protocol, input: &[u8]) {
        let whole = drive(protocol, Framing::Line, &[input], 1 << 20);
        for cut in 0..=input.len() {
            let (a, b) = input.split_at(cut);
            assert_eq!(
                drive(protocol, Framing::Line, &[a, b], 1 << 20),
                whole,
                "cut at {cut}"
            );
            assert_eq!(
                drive(protocol, Framing::Line, &[a, b], 7),
                whole,
                "cut at {cut}, small budget"
            );
        }
    }

    #[test]
    fn splitting_at_every_byte_boundary_changes_nothing() {
        let script: &[u8] = b"Ann\r\n\xff\x00\nBo\rb\n\nexit\nafter\n";
        for protocol in Protocol::ALL {
            assert_every_split_is_equal(protocol, script);
        }
        assert_every_split_is_equal(
            Protocol::Timestamp,
            b"short\nthis line is far too long\nx\n",
        );
    }

    proptest! {
        #[test]
        fn random_chunking_matches_the_unchunked_output(
            input in proptest::collection::vec(
                prop_oneof![Just(b'\n'), Just(b'\r'), any::<u8>()], 0..200),
            cuts in proptest::collection::vec(0usize..200, 0..12),
            budget in 1usize..64,
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(input.len())).collect();
            cuts.sort_unstable();
            let mut chunks: Vec<&[u8]> = Vec::new();
            let mut start = 0;
            for cut in cuts.into_iter().chain([input.len()]) {
                chunks.push(&input[start..cut]);
                start = cut;
            }
            for protocol in Protocol::ALL {
                let whole = drive(protocol, Framing::Line, &[&input], 1 << 20);
                prop_assert_eq!(&drive(protocol, Framing::Line, &chunks, budget), &whole);
            }
        }
    }
}
