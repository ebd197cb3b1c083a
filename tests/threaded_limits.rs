//! The threaded baseline enforces the reactor's limits with the same meaning:
//! per-source connection limits, UDP reply budgets, and an idle timeout that
//! counts whole messages (a client trickling bytes is still idle).

#[path = "common/threaded_server.rs"]
mod threaded_server;

use reactord::config::{Limits, Transport};
use reactord::protocol::{Framing, Protocol};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::thread;
use std::time::{Duration, Instant};
use threaded_server::{start_server, Server, READ_TIMEOUT};

/// A threaded server on loopback with one binding; dropping it shuts it down.
fn start(transport: Transport, protocol: Protocol, limits: Limits) -> (Server, SocketAddr) {
    let server = start_server(&[(transport, protocol)], Framing::Line, limits);
    let addr = server.addr(transport, protocol);
    (server, addr)
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, READ_TIMEOUT).expect("connect");
    stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    stream
}

/// A refused connection may be reset before `connect` even returns: that is
/// "not served" too, not a test failure.
fn connects_and_echoes(addr: SocketAddr) -> bool {
    match TcpStream::connect_timeout(&addr, READ_TIMEOUT) {
        Ok(mut stream) => {
            stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
            echoes(&mut stream)
        }
        Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => false,
        Err(err) => panic!("connect: {err}"),
    }
}

fn echoes(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 2];
    stream.write_all(b"hi").is_ok() && stream.read_exact(&mut buf).is_ok() && &buf == b"hi"
}

#[test]
fn connections_over_the_per_source_limit_are_reset() {
    let limits = Limits {
        max_conns_per_ip: 2,
        conn_rate_per_ip: 0,
        limit_loopback: true, // loopback is exempt by default; these tests run there
        ..Limits::default()
    };
    let (server, addr) = start(Transport::Tcp, Protocol::Echo, limits);
    let mut first = connect(addr);
    let mut second = connect(addr);
    assert!(echoes(&mut first) && echoes(&mut second));
    assert!(
        !connects_and_echoes(addr),
        "a third connection from one source was served"
    );
    drop(first);
    // The first one's place is released when its thread ends: a new one gets in.
    let deadline = Instant::now() + READ_TIMEOUT;
    while !connects_and_echoes(addr) {
        assert!(
            Instant::now() < deadline,
            "the released place never came back"
        );
        thread::sleep(Duration::from_millis(20));
    }
    drop(second);
    let stats = server.stop();
    assert!(stats.refused_per_ip >= 1, "{stats:?}");
}

#[test]
fn a_client_trickling_a_line_that_never_ends_is_idle() {
    let limits = Limits {
        idle_timeout: Some(Duration::from_millis(800)),
        ..Limits::default()
    };
    let (server, addr) = start(Transport::Tcp, Protocol::Hello, limits);
    let mut stream = connect(addr);
    let mut greeting = [0u8; 9];
    stream.read_exact(&mut greeting).unwrap();
    stream.set_nonblocking(true).unwrap();
    let start = Instant::now();
    let closed = loop {
        // One byte every 100 ms: a byte-based timer would never fire.
        if stream.write_all(b"a").is_err() {
            break true;
        }
        let mut buf = [0u8; 64];
        match stream.read(&mut buf) {
            Ok(0) => break true,
            Err(err) if err.kind() != std::io::ErrorKind::WouldBlock => break true,
            _ => {}
        }
        if start.elapsed() > Duration::from_secs(6) {
            break false;
        }
        thread::sleep(Duration::from_millis(100));
    };
    assert!(closed, "a trickling client was never closed as idle");
    assert!(
        start.elapsed() >= Duration::from_millis(700),
        "closed too early"
    );
    let stats = server.stop();
    assert_eq!(stats.idle_closed, 1, "{stats:?}");
}

#[test]
fn udp_replies_past_the_budget_are_dropped() {
    let limits = Limits {
        udp_budget: 100,
        udp_window: Duration::from_secs(60),
        limit_loopback: true,
        ..Limits::default()
    };
    let (server, addr) = start(Transport::Udp, Protocol::Echo, limits);
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = [0u8; 128];
    client.send_to(&[b'x'; 64], addr).unwrap();
    assert_eq!(client.recv(&mut buf).unwrap(), 64);
    client.send_to(&[b'y'; 64], addr).unwrap();
    assert!(
        client.recv(&mut buf).is_err(),
        "a reply past the budget came back"
    );
    let stats = server.stop();
    assert_eq!(stats.udp_over_budget, 1, "{stats:?}");
}
