//! The thread-per-connection server over loopback, in-process, on port 0.
//!
//! Every client read has a timeout and every server is stopped through
//! [`Server::stop`], which itself waits at most [`STOP_WITHIN`], so a bug fails
//! a test instead of hanging it.

use reactord::config::{Binding, Limits, ServerConfig, Transport};
use reactord::protocol::{Framing, Protocol};
use reactord::threaded::{ShutdownHandle, Stats, ThreadedServer};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Longest any client read may wait.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest `run` may take to return after `shutdown`, drain included.
const STOP_WITHIN: Duration = Duration::from_secs(10);

struct Server {
    bindings: Vec<Binding>,
    handle: ShutdownHandle,
    stats: mpsc::Receiver<Stats>,
}

impl Server {
    fn addr(&self, transport: Transport, protocol: Protocol) -> SocketAddr {
        self.bindings
            .iter()
            .find(|b| b.transport == transport && b.protocol == protocol)
            .map(|b| b.addr)
            .expect("binding was configured")
    }

    fn stop(self) -> Stats {
        self.handle.shutdown();
        self.stats
            .recv_timeout(STOP_WITHIN)
            .expect("run returns after shutdown")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A failed assertion must not leave threads serving behind.
        self.handle.shutdown();
    }
}

fn start_server(specs: &[(Transport, Protocol)], framing: Framing, limits: Limits) -> Server {
    let _ = env_logger::builder().is_test(true).try_init();
    let bindings = specs
        .iter()
        .map(|&(transport, protocol)| Binding {
            transport,
            protocol,
            addr: "127.0.0.1:0".parse().unwrap(),
        })
        .collect();
    let config = ServerConfig {
        bindings,
        unix_bindings: Vec::new(),
        files_root: None,
        framing,
        limits,
    };
    let server = ThreadedServer::bind(&config).expect("bind on port 0");
    let bindings = server.local_bindings();
    let handle = server.shutdown_handle();
    let (tx, stats) = mpsc::channel();
    thread::spawn(move || {
        // The receiver may be gone (a failed test): nothing to report to.
        let _ = tx.send(server.run());
    });
    Server {
        bindings,
        handle,
        stats,
    }
}

fn tcp(protocol: Protocol) -> Server {
    start_server(
        &[(Transport::Tcp, protocol)],
        Framing::Line,
        Limits::default(),
    )
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, READ_TIMEOUT).expect("connect");
    stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(READ_TIMEOUT)).unwrap();
    stream
}

fn read_exactly(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    stream
        .read_exact(&mut buf)
        .expect("reply within the timeout");
    buf
}

/// Reads until EOF, failing on a reset or a timeout.
fn read_to_eof(stream: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    stream
        .read_to_end(&mut all)
        .expect("clean EOF within the timeout");
    all
}

#[test]
fn echo_one_byte_and_local_bindings_have_real_ports() {
    let server = tcp(Protocol::Echo);
    let addr = server.addr(Transport::Tcp, Protocol::Echo);
    assert_ne!(addr.port(), 0);
    let mut client = connect(addr);
    client.write_all(b"x").unwrap();
    assert_eq!(read_exactly(&mut client, 1), b"x");
    drop(client);
    let stats = server.stop();
    assert_eq!(stats.connections, 1);
    assert_eq!((stats.bytes_in, stats.bytes_out), (1, 1));
    assert_eq!(stats.drain_aborted, 0);
}

#[test]
fn echo_64_kib_written_while_reading() {
    let server = tcp(Protocol::Echo);
    let mut client = connect(server.addr(Transport::Tcp, Protocol::Echo));
    let sent: Vec<u8> = (0..64 * 1024).map(|i| (i * 7 % 251) as u8).collect();
    let mut writer = client.try_clone().unwrap();
    let payload = sent.clone();
    let writing = thread::spawn(move || writer.write_all(&payload));
    assert_eq!(read_exactly(&mut client, sent.len()), sent);
    writing.join().unwrap().unwrap();
    client.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(read_to_eof(&mut client).is_empty());
    let stats = server.stop();
    assert_eq!(stats.bytes_out, sent.len() as u64);
}

#[test]
fn udp_answers_every_protocol_and_the_empty_datagram() {
    let specs = [Protocol::Echo, Protocol::Timestamp, Protocol::Hello].map(|p| (Transport::Udp, p));
    let server = start_server(&specs, Framing::Line, Limits::default());
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    let ask = |protocol, message: &[u8]| {
        client
            .send_to(message, server.addr(Transport::Udp, protocol))
            .unwrap();
        let mut buf = [0; 1024];
        let (n, _) = client
            .recv_from(&mut buf)
            .expect("reply within the timeout");
        buf[..n].to_vec()
    };
    assert_eq!(ask(Protocol::Echo, b"ping"), b"ping");
    assert_eq!(ask(Protocol::Echo, b""), b"");
    assert_eq!(ask(Protocol::Hello, b"exit"), b"Hello, exit!");
    let stamp = String::from_utf8(ask(Protocol::Timestamp, b"hi")).unwrap();
    assert!(
        timestamp_reply().is_match(&format!("{stamp}\n")),
        "{stamp:?}"
    );
    let stats = server.stop();
    assert_eq!((stats.udp_in, stats.udp_out, stats.udp_dropped), (4, 4, 0));
}

#[test]
fn hello_line_framing_greets_answers_and_exits() {
    let server = tcp(Protocol::Hello);
    let mut client = connect(server.addr(Transport::Tcp, Protocol::Hello));
    assert_eq!(read_exactly(&mut client, 9), b"Welcome!\n");
    client.write_all(b"Ann\r\nBo\n").unwrap();
    assert_eq!(read_exactly(&mut client, 23), b"Hello, Ann!\nHello, Bo!\n");
    client.write_all(b"exit\nignored\n").unwrap();
    assert!(read_to_eof(&mut client).is_empty());
    // The server lingers until our EOF (or the drain timeout) before it closes.
    drop(client);
    let stats = server.stop();
    assert_eq!((stats.messages, stats.drain_aborted), (3, 0));
}

#[test]
fn hello_raw_framing_is_the_seeds_protocol() {
    let server = start_server(
        &[(Transport::Tcp, Protocol::Hello)],
        Framing::Raw,
        Limits::default(),
    );
    let mut client = connect(server.addr(Transport::Tcp, Protocol::Hello));
    assert_eq!(read_exactly(&mut client, 8), b"Welcome!");
    client.write_all(b"Ann").unwrap();
    assert_eq!(read_exactly(&mut client, 11), b"Hello, Ann!");
    client.write_all(b"exit").unwrap();
    assert!(read_to_eof(&mut client).is_empty());
}

fn timestamp_reply() -> regex::Regex {
    regex::Regex::new(
        r"^\[(Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} [ 1-3]\d \d\d:\d\d:\d\d \d{4}\] hi\n$",
    )
    .unwrap()
}

#[test]
fn timestamp_replies_in_ctime_format() {
    let server = tcp(Protocol::Timestamp);
    let mut client = connect(server.addr(Transport::Tcp, Protocol::Timestamp));
    client.write_all(b"hi\n").unwrap();
    let reply = String::from_utf8(read_exactly(&mut client, 30)).unwrap();
    assert!(timestamp_reply().is_match(&reply), "{reply:?}");
}

#[test]
fn an_over_long_line_gets_the_error_then_eof() {
    let limits = Limits {
        max_line: 4,
        ..Limits::default()
    };
    let server = start_server(
        &[(Transport::Tcp, Protocol::Timestamp)],
        Framing::Line,
        limits,
    );
    let mut client = connect(server.addr(Transport::Tcp, Protocol::Timestamp));
    client.write_all(b"toolong\nmore\n").unwrap();
    assert_eq!(read_to_eof(&mut client), b"error: line too long\n");
}

#[test]
fn a_tiny_max_pending_still_answers_every_line_in_order() {
    let limits = Limits {
        max_pending: 8,
        ..Limits::default()
    };
    let server = start_server(&[(Transport::Tcp, Protocol::Hello)], Framing::Line, limits);
    let mut client = connect(server.addr(Transport::Tcp, Protocol::Hello));
    let names: Vec<String> = (0..2000).map(|i| format!("n{i}")).collect();
    let request: String = names.iter().map(|n| format!("{n}\n")).collect();
    let expected: String = names.iter().map(|n| format!("Hello, {n}!\n")).collect();
    client.write_all(request.as_bytes()).unwrap();
    client.shutdown(std::net::Shutdown::Write).unwrap();
    let got = read_to_eof(&mut client);
    assert_eq!(
        String::from_utf8(got).unwrap(),
        format!("Welcome!\n{expected}")
    );
    drop(client);
    assert_eq!(server.stop().messages, 2000);
}

#[test]
fn the_client_over_max_conns_is_served_only_after_one_leaves() {
    let limits = Limits {
        max_conns: 2,
        ..Limits::default()
    };
    let server = start_server(&[(Transport::Tcp, Protocol::Echo)], Framing::Line, limits);
    let addr = server.addr(Transport::Tcp, Protocol::Echo);
    let mut first = connect(addr);
    let mut second = connect(addr);
    for client in [&mut first, &mut second] {
        client.write_all(b"a").unwrap();
        assert_eq!(read_exactly(client, 1), b"a");
    }
    let mut third = connect(addr);
    third.write_all(b"c").unwrap();
    third
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let err = third.read(&mut [0; 1]).expect_err("not served at the cap");
    assert!(matches!(
        err.kind(),
        ErrorKind::WouldBlock | ErrorKind::TimedOut
    ));
    drop(first);
    third.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    assert_eq!(read_exactly(&mut third, 1), b"c");
    drop((second, third));
    let stats = server.stop();
    assert_eq!((stats.connections, stats.drain_aborted), (3, 0));
}

#[test]
fn silent_connections_are_closed_after_the_idle_timeout() {
    let limits = Limits {
        idle_timeout: Some(Duration::from_millis(200)),
        ..Limits::default()
    };
    let server = start_server(&[(Transport::Tcp, Protocol::Hello)], Framing::Line, limits);
    let mut client = connect(server.addr(Transport::Tcp, Protocol::Hello));
    let started = Instant::now();
    assert_eq!(read_to_eof(&mut client), b"Welcome!\n");
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(server.stop().idle_closed, 1);
}

#[test]
fn shutdown_delivers_pending_replies_then_eof() {
    let specs = [
        (Transport::Tcp, Protocol::Hello),
        (Transport::Tcp, Protocol::Timestamp),
    ];
    let server = start_server(&specs, Framing::Line, Limits::default());
    let mut idle = connect(server.addr(Transport::Tcp, Protocol::Hello));
    assert_eq!(read_exactly(&mut idle, 9), b"Welcome!\n");
    // 200,000 requests, none of the 6 MB of replies read yet: more than the
    // kernel buffers hold, so the server thread is blocked writing replies.
    let lines = 200_000;
    let mut busy = connect(server.addr(Transport::Tcp, Protocol::Timestamp));
    busy.write_all(&b"hi\n".repeat(lines)).unwrap();
    // Shut down only once the server has answered something (not after a fixed
    // sleep, which a loaded machine can outrun): the first reply line.
    let mut replies = Vec::new();
    while replies.last() != Some(&b'\n') {
        replies.extend(read_exactly(&mut busy, 1));
    }
    let handle = server.handle.clone();
    let stopping = thread::spawn(move || server.stop());
    while !handle.is_shutting_down() {
        thread::yield_now();
    }
    assert!(read_to_eof(&mut idle).is_empty());
    replies.extend(read_to_eof(&mut busy));
    let replies = String::from_utf8(replies).unwrap();
    // The server stops answering at shutdown, but what it answered arrives whole.
    let answered = replies.lines().count();
    assert!(answered > 0 && answered < lines, "{answered} replies");
    let pattern = timestamp_reply();
    for line in replies.split_inclusive('\n') {
        assert!(pattern.is_match(line), "{line:?}");
    }
    // The server lingers for our EOF before closing, so that no reset destroys replies.
    drop(busy);
    let stats = stopping.join().unwrap();
    assert_eq!(stats.drain_aborted, 0);
    assert_eq!(stats.messages, answered as u64);
}

#[test]
fn the_drain_timeout_aborts_a_client_that_never_reads() {
    // A 16 MiB line gets a 16 MiB reply in one `write_all`: more than the
    // kernel buffers hold while the client reads nothing (receive buffers
    // grow only as the application reads), so the server thread is stuck in
    // that write when shutdown comes.
    let line_len = 16 << 20;
    let limits = Limits {
        max_line: line_len,
        drain_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let server = start_server(
        &[(Transport::Tcp, Protocol::Timestamp)],
        Framing::Line,
        limits,
    );
    let mut client = connect(server.addr(Transport::Tcp, Protocol::Timestamp));
    let mut line = vec![b'z'; line_len];
    line.push(b'\n');
    client.write_all(&line).unwrap();
    thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let stats = server.stop();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(stats.drain_aborted, 1);
    assert!(stats.bytes_out < line.len() as u64, "{stats}");
}

#[test]
fn wildcard_bindings_shut_down_promptly() {
    let config = ServerConfig {
        bindings: vec![
            Binding::parse(Transport::Tcp, "echo=0.0.0.0:0").unwrap(),
            Binding::parse(Transport::Udp, "echo=0.0.0.0:0").unwrap(),
        ],
        framing: Framing::Line,
        limits: Limits::default(),
        unix_bindings: Vec::new(),
        files_root: None,
    };
    let server = ThreadedServer::bind(&config).unwrap();
    let handle = server.shutdown_handle();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        // The receiver may be gone (a failed test): nothing to report to.
        let _ = tx.send(server.run());
    });
    thread::sleep(Duration::from_millis(50));
    let started = Instant::now();
    handle.shutdown();
    rx.recv_timeout(STOP_WITHIN).expect("run returns");
    // The UDP thread was woken by a datagram, not by its 500 ms poll.
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_taken_port_is_an_error_naming_the_binding() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let config = ServerConfig {
        bindings: vec![Binding {
            transport: Transport::Tcp,
            protocol: Protocol::Echo,
            addr,
        }],
        framing: Framing::Line,
        limits: Limits::default(),
        unix_bindings: Vec::new(),
        files_root: None,
    };
    let err = ThreadedServer::bind(&config).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("cannot bind tcp echo {addr}: ")),
        "{err}"
    );
}
