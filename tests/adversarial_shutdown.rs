//! SIGTERM while 1,000 clients are mid-conversation: every reply produced
//! before the signal arrives whole, then EOF, and the process exits 0.

mod common;

use common::probe::*;
use common::*;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CLIENTS: usize = 1000;
const THREADS: usize = 4;
/// Lines a client keeps in flight.
const WINDOW: u64 = 4;

/// One client of the conversation, driven without blocking.
struct Talker {
    id: usize,
    stream: TcpStream,
    sent: u64,
    answered: u64,
    unsent: Vec<u8>,
    received: Vec<u8>,
    greeted: bool,
    can_write: bool,
    eof: bool,
}

#[derive(Default)]
struct Tally {
    bytes: AtomicU64,
    replies: AtomicU64,
    /// Clients that have had at least 3 replies.
    warmed: AtomicUsize,
}

impl Talker {
    fn new(id: usize, addr: SocketAddr) -> Talker {
        let stream = connect(addr);
        stream.set_nonblocking(true).unwrap();
        Talker {
            id,
            stream,
            sent: 0,
            answered: 0,
            unsent: Vec::new(),
            received: Vec::new(),
            greeted: false,
            can_write: true,
            eof: false,
        }
    }

    /// Sends and reads what it can; returns whether anything moved.
    fn step(&mut self, tally: &Tally) -> bool {
        let mut moved = false;
        if self.can_write && self.unsent.is_empty() && self.sent - self.answered < WINDOW {
            self.unsent = format!("c{}-{}\n", self.id, self.sent).into_bytes();
            self.sent += 1;
        }
        if self.can_write && !self.unsent.is_empty() {
            match self.stream.write(&self.unsent) {
                Ok(n) => {
                    self.unsent.drain(..n);
                    moved = true;
                }
                Err(err) if err.kind() == ErrorKind::WouldBlock => {}
                // The server has closed its reading side for good: keep reading.
                Err(_) => self.can_write = false,
            }
        }
        let mut buf = [0u8; 4096];
        match self.stream.read(&mut buf) {
            Ok(0) => {
                self.eof = true;
                moved = true;
            }
            Ok(n) => {
                tally.bytes.fetch_add(n as u64, Ordering::Relaxed);
                self.received.extend_from_slice(&buf[..n]);
                self.check_lines(tally);
                moved = true;
            }
            Err(err) if err.kind() == ErrorKind::WouldBlock => {}
            Err(err) => panic!("client {}: {err} (a reply was lost)", self.id),
        }
        moved
    }

    /// Every complete line must be the next expected reply, in order.
    fn check_lines(&mut self, tally: &Tally) {
        while let Some(end) = self.received.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.received.drain(..=end).collect();
            if !self.greeted {
                assert_eq!(line, b"Welcome!\n");
                self.greeted = true;
                continue;
            }
            let expected = format!("Hello, c{}-{}!\n", self.id, self.answered);
            assert_eq!(line, expected.as_bytes(), "client {}", self.id);
            self.answered += 1;
            tally.replies.fetch_add(1, Ordering::Relaxed);
            if self.answered == 3 {
                tally.warmed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Talks until every client has seen EOF; each must end on a whole reply.
fn converse(mut talkers: Vec<Talker>, tally: Arc<Tally>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while talkers.iter().any(|t| !t.eof) {
        assert!(Instant::now() < deadline, "clients never saw EOF");
        let mut moved = false;
        for talker in talkers.iter_mut().filter(|t| !t.eof) {
            moved |= talker.step(&tally);
        }
        if !moved {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    for talker in &talkers {
        assert!(
            talker.received.is_empty(),
            "client {} got half a reply before EOF",
            talker.id
        );
    }
}

#[test]
fn sigterm_mid_conversation_loses_nothing() {
    sigterm_mid_conversation(1);
}

#[test]
fn sigterm_mid_conversation_with_4_reactors_loses_nothing() {
    let stderr = sigterm_mid_conversation(4);
    let lines = reactor_lines(&stderr);
    assert_eq!(lines.len(), 4, "one line per reactor: {stderr}");
    for field in ["connections", "messages", "bytes_in", "bytes_out"] {
        let sum: u64 = lines.iter().map(|line| summary_field(line, field)).sum();
        assert_eq!(sum, summary_field(&stderr, field), "{field}: {stderr}");
    }
    let busy = lines
        .iter()
        .filter(|line| summary_field(line, "connections") > 0)
        .count();
    assert!(busy >= 2, "the burst landed on one reactor: {lines:?}");
}

/// The `reactor K: ...` lines, each rewritten to parse with [`summary_field`].
fn reactor_lines(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|line| line.split_once("] reactor ").map(|(_, rest)| rest))
        .map(|rest| format!("summary: {rest}"))
        .collect()
}

/// Runs the conversation against `reactors` loops; returns the server's stderr.
fn sigterm_mid_conversation(reactors: usize) -> String {
    let reactors = reactors.to_string();
    let server = ServerProcess::start(
        &[
            "--tcp",
            "hello=127.0.0.1:0",
            "--max-conns-per-ip",
            "0",
            "--conn-rate-per-ip",
            "0",
            "--reactors",
            &reactors,
        ],
        1,
    );
    let addr = server.addr(0);
    let tally = Arc::new(Tally::default());
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let tally = tally.clone();
            let talkers: Vec<Talker> = (t * CLIENTS / THREADS..(t + 1) * CLIENTS / THREADS)
                .map(|id| Talker::new(id, addr))
                .collect();
            std::thread::spawn(move || converse(talkers, tally))
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while tally.warmed.load(Ordering::Relaxed) < CLIENTS {
        assert!(
            Instant::now() < deadline,
            "the conversation never got going"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let replies_at_signal = tally.replies.load(Ordering::Relaxed);
    server.terminate();
    for thread in threads {
        thread.join().expect("a client failed");
    }
    let (status, stderr) = server.wait();
    assert!(status.success(), "exit {status:?}: {stderr}");
    let received = tally.bytes.load(Ordering::Relaxed);
    let replies = tally.replies.load(Ordering::Relaxed);
    assert_eq!(
        received,
        summary_field(&stderr, "bytes_out"),
        "the clients got every byte the server sent"
    );
    assert_eq!(
        replies,
        summary_field(&stderr, "messages"),
        "every line the server answered reached its client"
    );
    assert_eq!(summary_field(&stderr, "drain_aborted"), 0);
    eprintln!(
        "FIGURE shutdown under load, {reactors} reactors: {CLIENTS} clients, {replies_at_signal} replies before SIGTERM, \
         {replies} in all, {received} bytes received = bytes_out, exit 0"
    );
    stderr
}
