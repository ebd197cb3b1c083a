//! `-vv` (trace level) shows the loop: one echo round trip can be followed line by line.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};

/// Index of the first line at or after `from` that contains `needle`, or a failure showing the trace.
fn find_after(lines: &[&str], from: usize, needle: &str) -> usize {
    match lines[from..].iter().position(|line| line.contains(needle)) {
        Some(offset) => from + offset,
        None => panic!(
            "no {needle:?} after line {from} in the trace:\n{}",
            lines.join("\n")
        ),
    }
}

/// Runs a `-vv` echo server, lets `client` talk to it, stops it; returns its stderr.
/// stderr is read while the server runs, so a long trace never blocks it on a full pipe.
fn trace_of(client: impl FnOnce(SocketAddr)) -> String {
    let mut server = ServerProcess::start(&["--tcp", "echo=127.0.0.1:0", "-vv"], 1);
    let mut stderr = server.child.stderr.take().unwrap();
    let collector = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    client(server.addr(0));
    server.terminate();
    let deadline = Instant::now() + TIMEOUT;
    while server.child.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the server did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    collector.join().unwrap()
}

#[test]
fn one_echo_round_trip_is_traced_event_by_event() {
    let stderr = trace_of(|addr| {
        let mut client = connect(addr);
        client.write_all(b"hi\n").unwrap();
        assert_eq!(read_exact(&mut client, 3), b"hi\n");
        client.shutdown(Shutdown::Write).unwrap();
        assert!(read_to_end(&mut client).is_empty());
    });
    let lines: Vec<&str> = stderr.lines().collect();

    // The path of one round trip, in order, each line labelled with the reactor's token.
    // (Whether a `read WouldBlock` and a second event come between the echo
    // and the half-close depends on how fast the client's FIN follows.)
    let mut at = find_after(&lines, 0, "event source#0 readable=true");
    for step in [
        "conn#0.0 registered, interest READABLE",
        "conn#0.0 read 3 bytes",
        "conn#0.0 write: 3 bytes taken, 0 left",
        "conn#0.0 read 0 bytes: the peer shut its write side (half-close)",
        "conn#0.0 all output sent: shut down our write side (FIN)",
        "conn#0.0 closed (done)",
    ] {
        at = find_after(&lines, at, step);
    }
    // Microsecond timestamps: a round trip takes tens of microseconds.
    let stamped = regex::Regex::new(r"^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z TRACE ").unwrap();
    assert!(lines.iter().any(|line| stamped.is_match(line)), "{stderr}");
    // mio's own lines (raw `Token(9223372036854775808)`) stay out unless asked for.
    assert!(!stderr.contains("Token("), "{stderr}");
}

#[test]
fn a_full_kernel_buffer_shows_as_bytes_left_and_writable_interest() {
    // A client that sends 8 MiB before reading anything: the echo fills the
    // kernel's buffers, a write leaves bytes behind, the connection asks for
    // writable events, and drops that interest once the client has read all.
    const TOTAL: usize = 8 << 20;
    let stderr = trace_of(|addr| {
        let client = connect(addr);
        let mut writer = client.try_clone().unwrap();
        let sender = std::thread::spawn(move || {
            writer.write_all(&vec![b'x'; TOTAL]).unwrap();
            writer.shutdown(Shutdown::Write).unwrap();
        });
        std::thread::sleep(Duration::from_millis(300));
        let mut reader = client;
        assert_eq!(read_to_end(&mut reader).len(), TOTAL);
        sender.join().unwrap();
    });
    let lines: Vec<&str> = stderr.lines().collect();
    // Registered once for both directions (see the connection module docs):
    // a write that leaves bytes behind waits for the next writable event.
    let at = find_after(
        &lines,
        0,
        "conn#0.0 registered, interest READABLE | WRITABLE",
    );
    let left = lines[at..]
        .iter()
        .position(|l| l.contains("conn#0.0 write: ") && !l.ends_with(" 0 left"))
        .map(|offset| at + offset)
        .unwrap_or_else(|| panic!("no write left bytes behind:\n{stderr}"));
    let woken = lines[left..]
        .iter()
        .position(|l| l.contains("event conn#0.0 ") && l.contains(" writable=true"))
        .map(|offset| left + offset)
        .unwrap_or_else(|| panic!("no writable event after the short write:\n{stderr}"));
    find_after(&lines, woken, "conn#0.0 write: ");
}
