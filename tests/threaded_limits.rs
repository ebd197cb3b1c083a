//! The threaded baseline enforces the reactor's limits with the same meaning:
//! per-source connection limits, UDP reply budgets, and an idle timeout that
//! counts whole messages (a client trickling bytes is still idle).

use reactord::config::{Binding, Limits, ServerConfig, Transport};
use reactord::protocol::{Framing, Protocol};
use reactord::threaded::{ShutdownHandle, Stats, ThreadedServer};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Longest any client read may wait.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// A threaded server on loopback; dropping it shuts it down.
struct Server {
    bindings: Vec<Binding>,
    handle: ShutdownHandle,
    stats: mpsc::Receiver<Stats>,
}

impl Server {
    fn start(transport: Transport, protocol: Protocol, limits: Limits) -> Server {
        let config = ServerConfig {
            bindings: vec![Binding {
                transport,
                protocol,
                addr: "127.0.0.1:0".parse().unwrap(),
            }],
            unix_bindings: Vec::new(),
            files_root: None,
            framing: Framing::Line,
            limits,
        };
        let server = ThreadedServer::bind(&config).expect("bind on port 0");
        let bindings = server.local_bindings();
        let handle = server.shutdown_handle();
        let (tx, stats) = mpsc::channel();
        thread::spawn(move || {
            // A test that already failed has dropped the receiver: nothing to tell.
            let _ = tx.send(server.run());
        });
        Server {
            bindings,
            handle,
            stats,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.bindings[0].addr
    }

    fn stop(self) -> Stats {
        self.handle.shutdown();
        self.stats
            .recv_timeout(Duration::from_secs(10))
            .expect("run returns after shutdown")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
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
    let server = Server::start(Transport::Tcp, Protocol::Echo, limits);
    let mut first = connect(server.addr());
    let mut second = connect(server.addr());
    assert!(echoes(&mut first) && echoes(&mut second));
    assert!(
        !connects_and_echoes(server.addr()),
        "a third connection from one source was served"
    );
    drop(first);
    // The first one's place is released when its thread ends: a new one gets in.
    let deadline = Instant::now() + READ_TIMEOUT;
    while !connects_and_echoes(server.addr()) {
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
    let server = Server::start(Transport::Tcp, Protocol::Hello, limits);
    let mut stream = connect(server.addr());
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
    let server = Server::start(Transport::Udp, Protocol::Echo, limits);
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = [0u8; 128];
    client.send_to(&[b'x'; 64], server.addr()).unwrap();
    assert_eq!(client.recv(&mut buf).unwrap(), 64);
    client.send_to(&[b'y'; 64], server.addr()).unwrap();
    assert!(
        client.recv(&mut buf).is_err(),
        "a reply past the budget came back"
    );
    let stats = server.stop();
    assert_eq!(stats.udp_over_budget, 1, "{stats:?}");
}
