//! The thread-per-connection server over loopback, in-process, on port 0:
//! `--max-conns`, the idle timeout, graceful shutdown and its drain timeout,
//! and binding errors. What each protocol answers is in tests/threaded.rs.
//!
//! Every client read has a timeout and every server is stopped through
//! `Server::stop`, which itself waits at most `STOP_WITHIN`, so a bug fails
//! a test instead of hanging it.

#[path = "common/threaded_server.rs"]
mod threaded_server;

use reactord::config::{Binding, Limits, ServerConfig, Transport};
use reactord::protocol::{Framing, Protocol};
use reactord::threaded::ThreadedServer;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};
use threaded_server::*;

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
