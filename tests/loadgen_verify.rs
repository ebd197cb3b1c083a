//! The load generator against deliberately wrong servers, open-loop timing and exit codes.
//!
//! Each server here is a few lines of blocking std code on `127.0.0.1:0` that
//! gets one thing wrong on purpose: it crosses two connections' replies, or
//! sends every reply twice. The generator must count exactly that fault. The
//! servers' sockets have read timeouts, so nothing outlives a failed test for long.

use reactord::loadgen::{self, BenchConfig, Scenario};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// Idle server sockets give up after this long.
const IDLE: Duration = Duration::from_secs(5);
/// Message size the tests use: exactly one stamp, so the servers can frame by length.
const SIZE: usize = 16;

fn listen() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

fn accept(listener: &TcpListener) -> TcpStream {
    let (stream, _) = listener.accept().unwrap();
    stream.set_read_timeout(Some(IDLE)).unwrap();
    stream
}

/// Accepts two connections and sends each message of one to the other.
fn crossing_server() -> SocketAddr {
    let (listener, addr) = listen();
    thread::spawn(move || {
        let a = accept(&listener);
        let b = accept(&listener);
        let (a_out, b_out) = (a.try_clone().unwrap(), b.try_clone().unwrap());
        thread::spawn(move || forward(a, b_out));
        forward(b, a_out);
    });
    addr
}

/// Copies `from`'s messages to `to`, one whole message at a time.
fn forward(mut from: TcpStream, mut to: TcpStream) {
    let mut message = [0u8; SIZE];
    while from.read_exact(&mut message).is_ok() {
        if to.write_all(&message).is_err() {
            return;
        }
    }
}

/// Echoes every message twice.
fn duplicating_server() -> SocketAddr {
    let (listener, addr) = listen();
    thread::spawn(move || {
        let mut stream = accept(&listener);
        let mut message = [0u8; SIZE];
        while stream.read_exact(&mut message).is_ok() {
            let twice = [message, message].concat();
            if stream.write_all(&twice).is_err() {
                return;
            }
        }
    });
    addr
}

/// Echoes every message after `delay`, one at a time (a server that cannot keep up).
fn slow_server(delay: Duration) -> SocketAddr {
    let (listener, addr) = listen();
    thread::spawn(move || {
        let mut stream = accept(&listener);
        let mut message = [0u8; SIZE];
        while stream.read_exact(&mut message).is_ok() {
            thread::sleep(delay);
            if stream.write_all(&message).is_err() {
                return;
            }
        }
    });
    addr
}

/// Echoes everything at once, on any number of connections.
fn echo_server() -> SocketAddr {
    let (listener, addr) = listen();
    thread::spawn(move || loop {
        let mut stream = accept(&listener);
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = stream.read(&mut buf) {
                if stream.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        });
    });
    addr
}

fn config(addr: SocketAddr, conns: usize) -> BenchConfig {
    let mut config = BenchConfig::new(Scenario::Echo, addr);
    (config.conns, config.size) = (conns, SIZE);
    config.duration = Duration::from_secs(3); // an upper bound: counted runs end sooner
    config.timeout = Duration::from_secs(2);
    config
}

#[test]
fn crossed_replies_are_caught_over_tcp() {
    let mut c = config(crossing_server(), 2);
    c.requests = Some(20);
    let report = loadgen::run(&c).unwrap();
    assert_eq!(report.ops, 0, "{report}");
    assert_eq!(report.verify_errors.crossed, 20, "{report}");
    assert_eq!(report.verify_errors.total, 20, "{report}");
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["verify_errors"]["crossed"], 20);
}

#[test]
fn duplicated_replies_are_caught_and_do_not_count_as_answers() {
    let mut c = config(duplicating_server(), 1);
    c.requests = Some(20);
    let report = loadgen::run(&c).unwrap();
    assert_eq!(report.ops, 20, "{report}");
    // The last reply's copy may arrive after the run ended.
    assert!(report.verify_errors.duplicate >= 19, "{report}");
    assert_eq!(report.verify_errors.crossed, 0, "{report}");
    assert_eq!(report.verify_errors.mismatch, 0, "{report}");
}

#[test]
fn open_loop_sends_on_schedule_against_a_fast_server() {
    let mut c = config(echo_server(), 4);
    c.duration = Duration::from_secs(1);
    c.rate = Some(200.0);
    let report = loadgen::run(&c).unwrap();
    assert_eq!(report.mode, "open-loop");
    assert_eq!(report.errors_total, 0, "{report}");
    // 200 requests scheduled in the window; a loaded machine may answer a few late.
    assert!((150..=210).contains(&report.ops), "{report}");
}

#[test]
fn open_loop_charges_a_stalled_server_for_every_delayed_request() {
    // 20 requests/s against a server that takes 100 ms each: it falls behind,
    // and each request's latency counts from when it was due, so it grows.
    let mut c = config(slow_server(Duration::from_millis(100)), 1);
    c.duration = Duration::from_millis(1500);
    c.rate = Some(20.0);
    let report = loadgen::run(&c).unwrap();
    let latency = report.latency_us.expect("some replies came back");
    // Closed loop would report about 100 ms for every request; here the queue shows.
    assert!(latency.max >= 400_000, "{report}");
    assert!(latency.p50 >= 100_000, "{report}");
}

#[test]
fn the_window_opens_after_the_ramp_and_the_warmup() {
    let mut c = config(echo_server(), 5);
    c.duration = Duration::from_millis(300);
    c.warmup = Duration::from_millis(200);
    let report = loadgen::run(&c).unwrap();
    let ramp = report.ramp.expect("echo has a ramp");
    assert_eq!(ramp.connected, 5, "{report}");
    assert!(report.connect_latency_us.is_some());
    assert!(report.elapsed_secs <= 0.35, "{report}");
    assert_eq!(report.warmup_secs, 0.2);
    assert!(report.ops > 0 && report.errors_total == 0, "{report}");
}

fn bench(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_reactord"))
        .arg("bench")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_failed_run_exits_non_zero_with_a_hint_unless_errors_are_allowed() {
    let refused = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string(); // closed on drop: every connect is refused
    let line = ["echo", &refused, "--duration", "0.2", "--timeout-ms", "200"];
    let (ok, stderr) = bench(&line);
    assert!(!ok, "{stderr}");
    assert!(stderr.contains("hint: the server refused"), "{stderr}");
    assert!(stderr.contains("operation(s) failed"), "{stderr}");
    let (ok, stderr) = bench(&[&line[..], &["--allow-errors"]].concat());
    assert!(ok, "{stderr}");

    let addr = echo_server().to_string();
    let (ok, stderr) = bench(&["echo", &addr, "--duration", "0.2", "--conns", "2"]);
    assert!(ok, "{stderr}");
}

#[test]
fn flags_that_would_allocate_gigabytes_are_refused() {
    let (ok, stderr) = bench(&[
        "echo",
        "127.0.0.1:9",
        "--size",
        "16000000",
        "--pipeline",
        "1000",
    ]);
    assert!(!ok);
    assert!(stderr.contains("x --pipeline"), "{stderr}");
}

#[test]
fn loops_split_the_schedule_and_verify_their_own_connections() {
    let (tx, rx) = mpsc::channel();
    let addr = echo_server();
    thread::spawn(move || {
        let mut c = config(addr, 6);
        (c.threads, c.pipeline, c.requests) = (3, 4, Some(600));
        tx.send(loadgen::run(&c).unwrap()).unwrap();
    });
    let report = rx.recv_timeout(Duration::from_secs(20)).unwrap();
    assert_eq!(report.ops, 600, "{report}");
    assert_eq!(report.errors_total, 0, "{report}");
}
