use super::*;
use crate::protocol::chargen;
use crate::protocol::chat::Departure;
use proptest::prelude::*;
use std::io;
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
