//! One TCP connection's protocol state, independent of how bytes travel.

use super::chat::{self, Departure};
use super::line::{LineFramer, LineTooLong, LINE_TOO_LONG};
use super::{chargen, daytime, echo, files, hello, time, timestamp, Action, Framing, Protocol};
use std::fmt;
use std::io::{self, Read};
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

/// Output a session produces on its own as the socket drains, rather than in reply to input.
enum Producer {
    /// chargen's endless lines; the next line's rotation.
    Chargen { next: usize },
    /// A file (or any reader the driver opened) streamed in bounded chunks.
    Reader(Box<dyn Read + Send>),
}

impl fmt::Debug for Producer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Producer::Chargen { next } => write!(f, "Chargen {{ next: {next} }}"),
            Producer::Reader(_) => f.write_str("Reader"),
        }
    }
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

/// Everything but the framer, so a line borrowed from the framer can be
/// answered while the rest of the session is mutably borrowed.
#[derive(Debug)]
struct State {
    protocol: Protocol,
    framing: Framing,
    closing: bool,
    file_requested: bool,
    /// chat: a line was too long; the error is for the sender, not the room.
    error_for_sender: bool,
    /// What only chat, chargen and files need, boxed: tens of thousands of
    /// idle echo sessions should not each carry room for it.
    extra: Option<Box<Extra>>,
}

/// Per-session state of the less common protocols.
#[derive(Debug, Default)]
struct Extra {
    /// How chat shows this member.
    peer: String,
    /// Output of the session's own: chargen's lines or a file.
    producer: Option<Producer>,
    /// A file name waiting for the driver to open it.
    file_request: Option<Vec<u8>>,
    /// The file stream ended on a read error, not at its end.
    read_failed: bool,
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

/// Reads from `reader` until `out` holds `out_limit` bytes; `Ok(false)` at end of input.
fn read_into(reader: &mut dyn Read, out: &mut Vec<u8>, out_limit: usize) -> io::Result<bool> {
    while out.len() < out_limit {
        let filled = out.len();
        out.resize(out_limit, 0);
        let result = reader.read(&mut out[filled..]);
        out.truncate(filled + *result.as_ref().unwrap_or(&0));
        match result {
            Ok(0) => return Ok(false),
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(true)
}

impl State {
    fn extra(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }

    fn peer(&self) -> &str {
        self.extra.as_ref().map_or("", |extra| &extra.peer)
    }

    fn has_producer(&self) -> bool {
        self.extra
            .as_ref()
            .is_some_and(|extra| extra.producer.is_some())
    }

    fn terminate(&self, out: &mut Vec<u8>) {
        if self.framing == Framing::Line {
            out.push(b'\n');
        }
    }

    fn refuse(&mut self, reason: &str, out: &mut Vec<u8>) {
        out.extend_from_slice(b"error: ");
        out.extend_from_slice(reason.as_bytes());
        self.terminate(out);
        self.closing = true;
    }

    /// Answers one complete message (a line, or a raw read).
    fn on_message(&mut self, message: &[u8], now: SystemTime, out: &mut Vec<u8>) -> Action {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::chargen;
    use crate::protocol::chat::Departure;
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
    fn hello_raw_framing_is_the_tutorials_protocol() {
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

    #[test]
    fn daytime_and_time_speak_once_on_connect_then_close() {
        let mut out = Vec::new();
        let mut daytime = Session::new(Protocol::Daytime, Framing::Line, 16);
        assert_eq!(daytime.on_connect(now(), &mut out), Action::Close);
        assert_eq!(out, b"Sat Nov 21 20:40:50 2026\r\n");
        out.clear();
        let mut time = Session::new(Protocol::Time, Framing::Raw, 16);
        assert_eq!(time.on_connect(now(), &mut out), Action::Close);
        assert_eq!(out, 4_004_282_450u32.to_be_bytes());
    }

    #[test]
    fn discard_swallows_everything() {
        let got = drive(
            Protocol::Discard,
            Framing::Line,
            &[b"a\nb", b"c\n"],
            1 << 20,
        );
        assert!(got.is_empty());
    }

    #[test]
    fn chargen_produces_only_when_asked_and_ignores_input() {
        let mut session = Session::new(Protocol::Chargen, Framing::Line, 16);
        let mut out = Vec::new();
        session.on_connect(now(), &mut out);
        assert!(out.is_empty());
        assert!(session.wants_to_produce());
        assert_eq!(
            session
                .on_bytes(b"ignored\n", now(), &mut out, 100)
                .consumed,
            8
        );
        assert!(out.is_empty());
        assert_eq!(session.poll_output(&mut out, 100), Action::Continue);
        assert_eq!(out.len(), 2 * chargen::LINE_LEN);
        // A half-closed client may still read: the stream goes on.
        assert_eq!(session.on_eof(now(), &mut out), Action::Continue);
        assert!(session.wants_to_produce());
    }

    #[test]
    fn chat_messages_and_notices_name_the_peer() {
        let mut session = Session::new(Protocol::Chat, Framing::Line, 16).with_peer("10.0.0.1:5");
        assert!(session.is_broadcast());
        let mut out = Vec::new();
        session.on_connect(now(), &mut out);
        session.on_bytes(b"hi\r\nthere\n", now(), &mut out, 1 << 20);
        session.on_close(Departure::NotReading, &mut out);
        assert_eq!(
            out,
            b"* 10.0.0.1:5 joined\n10.0.0.1:5: hi\n10.0.0.1:5: there\n* 10.0.0.1:5 dropped (not reading)\n"
        );
    }

    #[test]
    fn a_chat_line_too_long_is_for_the_sender_not_the_room() {
        let mut session = Session::new(Protocol::Chat, Framing::Line, 4).with_peer("10.0.0.1:5");
        let mut room = Vec::new();
        let progress = session.on_bytes(b"ok\nfar too long\n", now(), &mut room, 1 << 20);
        assert_eq!(progress.action, Action::Close);
        assert_eq!(
            room, b"10.0.0.1:5: ok\n",
            "the room hears only the good line"
        );
        let mut own = Vec::new();
        assert!(session.take_reply_to_sender(&mut own));
        assert_eq!(own, LINE_TOO_LONG);
        assert!(!session.take_reply_to_sender(&mut own), "said once");
    }

    #[test]
    fn files_asks_the_driver_once_then_streams_what_it_is_given() {
        let mut session = Session::new(Protocol::Files, Framing::Line, 64);
        let mut out = Vec::new();
        let progress = session.on_bytes(b"dir/a.txt\nsecond\n", now(), &mut out, 1 << 20);
        assert_eq!(progress.consumed, 17);
        assert_eq!(session.take_file_request(), Some(b"dir/a.txt".to_vec()));
        assert_eq!(session.take_file_request(), None);
        session.start_stream(Box::new(std::io::Cursor::new(vec![7u8; 10])));
        assert_eq!(session.on_eof(now(), &mut out), Action::Continue);
        assert_eq!(session.poll_output(&mut out, 4), Action::Continue);
        assert_eq!(out, [7u8; 4]);
        assert_eq!(session.poll_output(&mut out, 100), Action::Close);
        assert_eq!(out, [7u8; 10]);
    }

    /// A reader that gives some bytes, then fails (a disk error mid-file).
    struct FailsAfter(usize);

    impl Read for FailsAfter {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0 == 0 {
                return Err(io::Error::other("EIO"));
            }
            let n = self.0.min(buf.len());
            self.0 -= n;
            buf[..n].fill(1);
            Ok(n)
        }
    }

    #[test]
    fn a_file_stream_that_fails_or_is_interrupted_is_cut_short_one_that_ends_is_not() {
        let mut out = Vec::new();
        let mut whole = Session::new(Protocol::Files, Framing::Line, 64);
        whole.start_stream(Box::new(std::io::Cursor::new(vec![7u8; 10])));
        assert!(whole.stream_cut_short(), "not yet at its end");
        assert_eq!(whole.poll_output(&mut out, 100), Action::Close);
        assert!(!whole.stream_cut_short());
        let mut failing = Session::new(Protocol::Files, Framing::Line, 64);
        failing.start_stream(Box::new(FailsAfter(5)));
        out.clear();
        assert_eq!(failing.poll_output(&mut out, 100), Action::Close);
        assert!(failing.stream_cut_short());
        let chargen = Session::new(Protocol::Chargen, Framing::Line, 64);
        assert!(
            !chargen.stream_cut_short(),
            "chargen never ends: never cut short"
        );
    }

    #[test]
    fn files_refuses_bad_names_itself_and_driver_refusals_are_one_line() {
        let got = drive(
            Protocol::Files,
            Framing::Line,
            &[b"../etc/passwd\n"],
            1 << 20,
        );
        assert_eq!(got, b"error: '..' is not allowed\n");
        let mut session = Session::new(Protocol::Files, Framing::Raw, 64);
        let mut out = Vec::new();
        session.on_bytes(b"missing", now(), &mut out, 1 << 20);
        assert_eq!(session.take_file_request(), Some(b"missing".to_vec()));
        session.refuse("no such file", &mut out);
        assert_eq!(out, b"error: no such file");
        assert!(session.is_closing());
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
