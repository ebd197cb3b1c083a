//! Helpers for the thread-per-connection server's tests (tests/threaded*.rs):
//! start a `ThreadedServer` on loopback port 0 in-process, talk to it with
//! timeouts, and stop it through [`Server::stop`], which itself waits at most
//! [`STOP_WITHIN`], so a bug fails a test instead of hanging it.
#![allow(dead_code)] // Each test file uses a different subset.

use reactord::config::{Binding, Limits, ServerConfig, Transport};
use reactord::protocol::{Framing, Protocol};
use reactord::threaded::{ShutdownHandle, Stats, ThreadedServer};
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// Longest any client read may wait.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest `run` may take to return after `shutdown`, drain included.
pub const STOP_WITHIN: Duration = Duration::from_secs(10);

pub struct Server {
    pub bindings: Vec<Binding>,
    pub handle: ShutdownHandle,
    pub stats: mpsc::Receiver<Stats>,
}

impl Server {
    pub fn addr(&self, transport: Transport, protocol: Protocol) -> SocketAddr {
        self.bindings
            .iter()
            .find(|b| b.transport == transport && b.protocol == protocol)
            .map(|b| b.addr)
            .expect("binding was configured")
    }

    pub fn stop(self) -> Stats {
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

pub fn start_server(specs: &[(Transport, Protocol)], framing: Framing, limits: Limits) -> Server {
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

pub fn tcp(protocol: Protocol) -> Server {
    start_server(
        &[(Transport::Tcp, protocol)],
        Framing::Line,
        Limits::default(),
    )
}

pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, READ_TIMEOUT).expect("connect");
    stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(READ_TIMEOUT)).unwrap();
    stream
}

pub fn read_exactly(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    stream
        .read_exact(&mut buf)
        .expect("reply within the timeout");
    buf
}

/// Reads until EOF, failing on a reset or a timeout.
pub fn read_to_eof(stream: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    stream
        .read_to_end(&mut all)
        .expect("clean EOF within the timeout");
    all
}

/// Matches a timestamp reply to `hi`.
pub fn timestamp_reply() -> regex::Regex {
    regex::Regex::new(
        r"^\[(Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} [ 1-3]\d \d\d:\d\d:\d\d \d{4}\] hi\n$",
    )
    .unwrap()
}
