//! The load generator against tiny in-process servers that count what they see.
//!
//! Each test server is a few lines of blocking std code on `127.0.0.1:0`, a
//! thread per connection, with read timeouts so nothing outlives a failed test
//! for long. Durations and counts are tiny; no test asserts a speed.

use clap::Parser;
use reactord::cli::{Cli, Command};
use reactord::loadgen::{self, BenchConfig, ErrorKind, Report, Scenario};
use reactord::protocol::ctime::write_ctime;
use reactord::protocol::Protocol;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, SystemTime};

/// Idle client sockets on the test servers give up after this long.
const IDLE: Duration = Duration::from_secs(5);

/// What a test server saw.
#[derive(Debug, Default)]
struct Counts {
    accepted: AtomicU64,
    bytes: AtomicU64,
    messages: AtomicU64,
}

/// A running test server; dropping it stops the accept loop.
struct Server {
    addr: SocketAddr,
    counts: Arc<Counts>,
    stop: Arc<AtomicBool>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(100));
        // wakes accept()
    }
}

/// Starts a TCP server running `serve` on each connection in its own thread.
fn start_server(serve: fn(TcpStream, &Counts)) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let counts = Arc::new(Counts::default());
    let stop = Arc::new(AtomicBool::new(false));
    let (c, s) = (counts.clone(), stop.clone());
    thread::spawn(move || {
        for stream in listener.incoming() {
            if s.load(Ordering::Relaxed) {
                break;
            }
            let Ok(stream) = stream else { continue };
            c.accepted.fetch_add(1, Ordering::Relaxed);
            stream.set_read_timeout(Some(IDLE)).unwrap();
            let c = c.clone();
            thread::spawn(move || serve(stream, &c));
        }
    });
    Server { addr, counts, stop }
}

fn echo(mut stream: TcpStream, counts: &Counts) {
    let mut buf = [0u8; 4096];
    while let Ok(n @ 1..) = stream.read(&mut buf) {
        counts.bytes.fetch_add(n as u64, Ordering::Relaxed);
        if stream.write_all(&buf[..n]).is_err() {
            return;
        }
    }
}

/// Echoes, but flips the first byte of every third 16-byte message.
fn corrupting_echo(mut stream: TcpStream, counts: &Counts) {
    let mut buf = [0u8; 4096];
    let mut offset = 0u64;
    while let Ok(n @ 1..) = stream.read(&mut buf) {
        for byte in &mut buf[..n] {
            if offset.is_multiple_of(48) {
                *byte ^= 0x20;
                counts.messages.fetch_add(1, Ordering::Relaxed);
            }
            offset += 1;
        }
        if stream.write_all(&buf[..n]).is_err() {
            return;
        }
    }
}

/// Accepts and reads, never answers.
fn silent(mut stream: TcpStream, _: &Counts) {
    let mut buf = [0u8; 4096];
    while let Ok(1..) = stream.read(&mut buf) {}
}

fn hello(stream: TcpStream, counts: &Counts) {
    let mut writer = stream.try_clone().unwrap();
    if writer.write_all(b"Welcome!\n").is_err() {
        return;
    }
    for line in BufReader::new(stream).lines() {
        let Ok(line) = line else { return };
        counts.messages.fetch_add(1, Ordering::Relaxed);
        if writer
            .write_all(format!("Hello, {line}!\n").as_bytes())
            .is_err()
        {
            return;
        }
    }
}

fn timestamp(stream: TcpStream, counts: &Counts) {
    let mut writer = stream.try_clone().unwrap();
    for line in BufReader::new(stream).lines() {
        let Ok(line) = line else { return };
        counts.messages.fetch_add(1, Ordering::Relaxed);
        let mut reply = b"[".to_vec();
        write_ctime(SystemTime::now(), &mut reply);
        reply.extend_from_slice(format!("] {line}\n").as_bytes());
        if writer.write_all(&reply).is_err() {
            return;
        }
    }
}

/// A UDP server answering each datagram with `answer`; it stops after `IDLE` without traffic.
fn start_udp(answer: fn(&[u8]) -> Vec<u8>) -> (SocketAddr, Arc<Counts>) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(IDLE)).unwrap();
    let addr = socket.local_addr().unwrap();
    let counts = Arc::new(Counts::default());
    let c = counts.clone();
    thread::spawn(move || {
        let mut buf = [0u8; 65_536];
        while let Ok((n, peer)) = socket.recv_from(&mut buf) {
            c.messages.fetch_add(1, Ordering::Relaxed);
            let _ = socket.send_to(&answer(&buf[..n]), peer);
        }
    });
    (addr, counts)
}

fn config(scenario: Scenario, addr: SocketAddr) -> BenchConfig {
    let mut config = BenchConfig::new(scenario, addr);
    config.duration = Duration::from_secs(3); // an upper bound: counted runs end sooner
    config.timeout = Duration::from_secs(2);
    config
}

fn assert_clean(report: &Report) {
    assert_eq!(report.errors_total, 0, "{report}");
    assert_eq!(report.unfinished, 0, "{report}");
}

#[test]
fn echo_counts_match_the_server() {
    let server = start_server(echo);
    let mut c = config(Scenario::Echo, server.addr);
    (c.conns, c.size, c.requests, c.threads) = (4, 32, Some(200), 2);
    let report = loadgen::run(&c).unwrap();
    assert_clean(&report);
    assert_eq!(report.ops, 200);
    assert_eq!(server.counts.bytes.load(Ordering::Relaxed), 200 * 32);
    assert_eq!(report.bytes_received, 200 * 32);
    assert_eq!(report.connects, 4);
    let latency = report.latency_us.unwrap();
    assert!(latency.p50 <= latency.p99 && latency.p99 <= latency.max);
}

#[test]
fn pipelined_echo_counts_match_the_server() {
    let server = start_server(echo);
    let mut c = config(Scenario::Echo, server.addr);
    (c.conns, c.size, c.pipeline, c.requests) = (3, 10, 8, Some(300));
    let report = loadgen::run(&c).unwrap();
    assert_clean(&report);
    assert_eq!(report.ops, 300);
    assert_eq!(server.counts.bytes.load(Ordering::Relaxed), 300 * 10);
}

#[test]
fn corrupted_replies_are_counted_as_mismatches() {
    let server = start_server(corrupting_echo);
    let mut c = config(Scenario::Echo, server.addr);
    (c.conns, c.size, c.requests) = (1, 16, Some(30));
    let report = loadgen::run(&c).unwrap();
    assert_eq!(server.counts.messages.load(Ordering::Relaxed), 10);
    assert_eq!(report.errors_of(ErrorKind::Mismatch), 10, "{report}");
    assert_eq!(report.ops, 20);
    assert_eq!(report.errors_total, 10);
}

#[test]
fn hello_lines_read_the_greeting_and_check_replies() {
    let server = start_server(hello);
    let mut c = config(Scenario::Lines, server.addr);
    (c.conns, c.size, c.requests) = (3, 12, Some(60));
    let report = loadgen::run(&c).unwrap();
    assert_clean(&report);
    assert_eq!(report.ops, 60);
    assert_eq!(server.counts.messages.load(Ordering::Relaxed), 60);
    // Greetings and replies: 9 + (7 + 12 + 2) bytes per line.
    assert_eq!(report.bytes_received, 3 * 9 + 60 * 21);
}

#[test]
fn timestamp_lines_are_checked_by_shape() {
    let server = start_server(timestamp);
    let mut c = config(Scenario::Lines, server.addr);
    (c.conns, c.protocol, c.requests) = (2, Protocol::Timestamp, Some(40));
    let report = loadgen::run(&c).unwrap();
    assert_clean(&report);
    assert_eq!(report.ops, 40);
    assert_eq!(server.counts.messages.load(Ordering::Relaxed), 40);
}

#[test]
fn a_timestamp_client_rejects_hello_replies() {
    let server = start_server(hello);
    let mut c = config(Scenario::Lines, server.addr);
    (c.conns, c.protocol, c.requests) = (1, Protocol::Timestamp, Some(5));
    c.duration = Duration::from_millis(300);
    let report = loadgen::run(&c).unwrap();
    assert_eq!(report.ops, 0, "{report}");
    assert!(report.errors_of(ErrorKind::Mismatch) >= 1, "{report}");
}

#[test]
fn json_parses_with_every_figure() {
    let server = start_server(echo);
    let mut c = config(Scenario::Echo, server.addr);
    (c.conns, c.requests) = (2, Some(20));
    let report = loadgen::run(&c).unwrap();
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["scenario"], "echo");
    assert_eq!(json["ops"], 20);
    assert_eq!(json["errors"]["mismatch"], 0);
    for key in ["p50", "p90", "p99", "p999", "max"] {
        assert!(json["latency_us"][key].is_u64(), "{key} in {json}");
    }
    assert!(json["rate"].as_f64().unwrap() > 0.0);
}

#[test]
fn hold_establishes_and_verifies_fifty_connections() {
    let server = start_server(echo);
    let mut c = config(Scenario::Hold, server.addr);
    (c.conns, c.sample, c.threads, c.sources) = (50, 10, 2, 3);
    c.duration = Duration::from_millis(300);
    let report = loadgen::run(&c).unwrap();
    let hold = report.hold.unwrap();
    assert_eq!((hold.target, hold.established, hold.verified), (50, 50, 50));
    assert_eq!(
        (hold.sampled, hold.sample_verified, hold.lost_while_idle),
        (10, 10, 0)
    );
    assert_eq!(report.ops, 60);
    assert_eq!(server.counts.accepted.load(Ordering::Relaxed), 50);
    assert_eq!(report.errors_total, 0, "{report}");
}

#[test]
fn churn_opens_one_connection_per_round_trip() {
    let server = start_server(echo);
    let mut c = config(Scenario::Churn, server.addr);
    (c.conns, c.requests) = (4, Some(40));
    let report = loadgen::run(&c).unwrap();
    assert_clean(&report);
    assert_eq!(report.ops, 40);
    assert_eq!(report.connects, 40);
    assert_eq!(server.counts.accepted.load(Ordering::Relaxed), 40);
}

#[test]
fn udp_ping_pong_completes() {
    let (addr, counts) = start_udp(<[u8]>::to_vec);
    let mut c = config(Scenario::Udp, addr);
    (c.conns, c.size, c.requests) = (2, 40, Some(50));
    let report = loadgen::run(&c).unwrap();
    assert_clean(&report);
    assert_eq!(report.ops, 50);
    assert_eq!(counts.messages.load(Ordering::Relaxed), 50);
}

#[test]
fn udp_without_a_server_counts_failures_and_ends() {
    let addr = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap(); // closed on drop
    let mut c = config(Scenario::Udp, addr);
    c.duration = Duration::from_millis(300);
    c.loss_timeout = Duration::from_millis(50);
    let report = loadgen::run(&c).unwrap();
    assert_eq!(report.ops, 0);
    assert!(report.errors_total >= 1, "{report}");
}

#[test]
fn refused_connects_are_counted_not_fatal() {
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap(); // closed on drop
    let mut c = config(Scenario::Echo, addr);
    c.duration = Duration::from_millis(300);
    let report = loadgen::run(&c).unwrap();
    assert_eq!(report.ops, 0);
    assert!(report.errors_of(ErrorKind::Connect) >= 10, "{report}");
}

#[test]
fn a_silent_server_times_out() {
    let server = start_server(silent);
    let mut c = config(Scenario::Echo, server.addr);
    c.conns = 2;
    c.duration = Duration::from_millis(600);
    c.timeout = Duration::from_millis(150);
    let report = loadgen::run(&c).unwrap();
    assert_eq!(report.ops, 0);
    assert!(report.errors_of(ErrorKind::Timeout) >= 2, "{report}");
}

#[test]
fn bad_configurations_are_errors_not_panics() {
    let mut c = config(Scenario::Echo, "127.0.0.1:9".parse().unwrap());
    c.conns = 0;
    assert!(loadgen::run(&c)
        .unwrap_err()
        .to_string()
        .contains("--conns"));
    c.conns = 1_000_000;
    assert!(loadgen::run(&c)
        .unwrap_err()
        .to_string()
        .contains("file descriptors"));
}

#[test]
fn udp_checks_hello_replies_and_catches_bad_ones() {
    let (addr, counts) = start_udp(|m| [b"Hello, ", m, b"!"].concat());
    let mut c = config(Scenario::Udp, addr);
    (c.protocol, c.requests) = (Protocol::Hello, Some(20));
    let report = loadgen::run(&c).unwrap();
    assert_clean(&report);
    assert_eq!(
        (report.ops, counts.messages.load(Ordering::Relaxed)),
        (20, 20)
    );

    let (addr, _) = start_udp(|m| [b"Hello, ", m, b"?"].concat());
    c.addr = addr;
    let report = loadgen::run(&c).unwrap();
    assert_eq!((report.ops, report.errors_of(ErrorKind::Mismatch)), (0, 20));
}

#[test]
fn the_command_line_reaches_the_config() {
    let cli = Cli::try_parse_from([
        "reactord",
        "bench",
        "udp",
        "--conns",
        "3",
        "127.0.0.1:7",
        "--loss-timeout-ms",
        "50",
    ])
    .unwrap();
    let Some(Command::Bench(args)) = &cli.command else {
        panic!("not a bench command: {cli:?}");
    };
    let config = args.config().unwrap();
    assert_eq!(config.scenario, Scenario::Udp);
    assert_eq!(
        (config.conns, config.loss_timeout),
        (3, Duration::from_millis(50))
    );
}
