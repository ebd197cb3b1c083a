//! Test helpers: start a real server on loopback port 0, talk to it with timeouts.
//!
//! Every client read has a timeout, so a bug fails a test instead of hanging it,
//! and every server started here is shut down and joined when the test ends.
#![allow(dead_code)] // Each test file uses a different subset.

pub mod bulk;
pub mod chunking;
pub mod probe;

use reactord::config::{Binding, Limits, ServerConfig, Transport};
use reactord::protocol::{Framing, Protocol};
use reactord::reactor::{Reactor, ShutdownHandle, Stats, StatsHandle};
use reactord::shards::{Shards, ShardsShutdown};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long any single client operation may take before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Whatever stops a test server: one reactor's handle, or every reactor's.
enum Stopper {
    One(ShutdownHandle),
    All(ShardsShutdown),
}

impl Stopper {
    fn shutdown(&self) {
        match self {
            Stopper::One(handle) => handle.shutdown(),
            Stopper::All(handle) => handle.shutdown(),
        }
    }
}

/// A reactor running on its own thread, shut down when dropped.
pub struct TestServer {
    bindings: Vec<Binding>,
    handle: Stopper,
    pub stats: StatsHandle,
    thread: Option<JoinHandle<io::Result<Stats>>>,
}

impl TestServer {
    /// The actual address of the `transport` socket serving `protocol`.
    pub fn addr(&self, transport: Transport, protocol: Protocol) -> SocketAddr {
        self.bindings
            .iter()
            .find(|b| b.transport == transport && b.protocol == protocol)
            .map(|b| b.addr)
            .expect("no such binding")
    }

    /// Shuts down, waits for the drain, and returns the final counters.
    pub fn stop(mut self) -> Stats {
        self.handle.shutdown();
        self.thread.take().unwrap().join().unwrap().unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.handle.shutdown();
            let _ = thread.join();
        }
    }
}

/// The built example `name` (`cargo test` builds the examples next to the
/// binary), or a failure that says how to build it.
pub fn example_path(name: &str) -> std::path::PathBuf {
    let path = std::path::Path::new(env!("CARGO_BIN_EXE_reactord"))
        .parent()
        .expect("the reactord binary lives in a directory")
        .join("examples")
        .join(name);
    assert!(
        path.exists(),
        "{} is missing: `cargo test` builds the examples; with `--test NAME` alone, \
         run `cargo build --examples` first",
        path.display()
    );
    path
}

/// The server's default bindings (every protocol but files, on TCP and, where
/// it makes sense, UDP), moved to port 0 so tests never collide.
pub fn all_bindings() -> Vec<Binding> {
    let mut bindings = Binding::defaults(false);
    for binding in &mut bindings {
        binding.addr.set_port(0);
    }
    bindings
}

/// A config serving every protocol with the given framing and default limits.
pub fn config(framing: Framing) -> ServerConfig {
    ServerConfig {
        bindings: all_bindings(),
        unix_bindings: Vec::new(),
        framing,
        limits: Limits::default(),
        files_root: None,
    }
}

/// Starts a reactor in-process.
pub fn start_server(config: ServerConfig) -> TestServer {
    let reactor = Reactor::bind(&config).expect("bind");
    let bindings = reactor.bindings();
    let handle = reactor.shutdown_handle();
    let stats = reactor.stats_handle();
    let thread = std::thread::spawn(move || reactor.run());
    TestServer {
        bindings,
        handle: Stopper::One(handle),
        stats,
        thread: Some(thread),
    }
}

/// Starts `count` reactors in-process (`--reactors count`); `stats` shows reactor 0
/// and [`TestServer::stop`] returns the sums.
pub fn start_reactors(config: ServerConfig, count: usize) -> TestServer {
    let shards = Shards::bind(&config, count, false).expect("bind");
    assert_eq!(shards.len(), count);
    let bindings = shards.bindings();
    let handle = shards.shutdown_handle();
    let stats = shards.stats_handles().remove(0);
    let thread = std::thread::spawn(move || shards.run().map(|stats| stats.total()));
    TestServer {
        bindings,
        handle: Stopper::All(handle),
        stats,
        thread: Some(thread),
    }
}

/// A TCP client with read and write timeouts.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, TIMEOUT).expect("connect");
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(TIMEOUT)).unwrap();
    stream
}

/// A UDP client with a read timeout, bound to loopback.
pub fn udp_client() -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(TIMEOUT)).unwrap();
    socket
}

/// Sends one datagram to `to` and returns the reply, which must come from `to`.
pub fn ask(socket: &UdpSocket, to: SocketAddr, datagram: &[u8]) -> Vec<u8> {
    socket.send_to(datagram, to).unwrap();
    let mut buf = vec![0; 70_000];
    let (n, from) = socket.recv_from(&mut buf).expect("reply");
    assert_eq!(from, to);
    buf.truncate(n);
    buf
}

/// Reads exactly `n` bytes.
pub fn read_exact(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    stream.read_exact(&mut buf).expect("read_exact");
    buf
}

/// Reads until EOF.
pub fn read_to_end(stream: &mut TcpStream) -> Vec<u8> {
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).expect("read_to_end");
    buf
}

/// Reads one `\n`-terminated line (byte by byte; fine for tests).
pub fn read_line(stream: &mut TcpStream) -> Vec<u8> {
    let mut line = Vec::new();
    let mut byte = [0u8];
    loop {
        stream.read_exact(&mut byte).expect("read_line");
        line.push(byte[0]);
        if byte[0] == b'\n' {
            return line;
        }
    }
}

/// Sends `data` and reads back `expected_len` bytes.
pub fn round_trip(stream: &mut TcpStream, data: &[u8], expected_len: usize) -> Vec<u8> {
    stream.write_all(data).expect("write");
    read_exact(stream, expected_len)
}

/// Polls `read` until its value has not changed for `quiet`, and returns that value;
/// panics if it is still moving after `TIMEOUT`. A test that needs "the server has
/// stopped doing X" waits for that condition instead of sleeping a fixed time,
/// which a loaded machine can outrun.
pub fn wait_until_steady(mut read: impl FnMut() -> u64, quiet: Duration) -> u64 {
    let deadline = Instant::now() + TIMEOUT;
    let mut value = read();
    let mut since = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(20));
        let now = read();
        if now != value {
            value = now;
            since = Instant::now();
        } else if since.elapsed() >= quiet {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "still changing after {TIMEOUT:?} (now {value})"
        );
    }
}

/// Retries `attempt` every 20 ms until it returns `Some`, or panics with `what`
/// after `TIMEOUT`: for a state the server reaches soon but not at once.
pub fn eventually<T>(what: &str, mut attempt: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(value) = attempt() {
            return value;
        }
        assert!(Instant::now() < deadline, "{what}: not within {TIMEOUT:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The built `reactord` binary, started with `args`, its `listening` lines read.
pub struct ServerProcess {
    pub child: Child,
    pub stdout: ChildStdout,
    /// `(kind, protocol, address)` from each `listening` line.
    pub listening: Vec<(String, String, String)>,
}

impl ServerProcess {
    /// Starts the binary and waits for `expected` listening lines.
    pub fn start(args: &[&str], expected: usize) -> ServerProcess {
        Self::start_limited(args, expected, None)
    }

    /// Like [`start`](Self::start), with the child's open-file limit (soft and hard) set to `nofile`.
    pub fn start_limited(args: &[&str], expected: usize, nofile: Option<u64>) -> ServerProcess {
        let mut command = Command::new(env!("CARGO_BIN_EXE_reactord"));
        if let Some(limit) = nofile {
            use std::os::unix::process::CommandExt;
            let rlim = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            // SAFETY: setrlimit is async-signal-safe and touches only the forked child.
            unsafe {
                command.pre_exec(move || {
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &rlim) == 0 {
                        Ok(())
                    } else {
                        Err(io::Error::last_os_error())
                    }
                });
            }
        }
        let mut child = command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn reactord");
        // Own the child from here on: if an assertion below fails, Drop still kills it.
        let stdout = child.stdout.take().unwrap();
        let mut process = ServerProcess {
            child,
            stdout,
            listening: Vec::new(),
        };
        let mut text = Vec::new();
        let deadline = Instant::now() + TIMEOUT;
        while text.iter().filter(|&&b| b == b'\n').count() < expected {
            assert!(Instant::now() < deadline, "no listening lines in time");
            let mut byte = [0u8];
            if process.stdout.read(&mut byte).unwrap() == 0 {
                let mut err = String::new();
                if let Some(mut stderr) = process.child.stderr.take() {
                    let _ = process.child.kill();
                    let _ = stderr.read_to_string(&mut err);
                }
                panic!("reactord exited early: {err}");
            }
            text.push(byte[0]);
        }
        process.listening = String::from_utf8(text)
            .unwrap()
            .lines()
            .map(|line| {
                let parts: Vec<&str> = line.split(' ').collect();
                assert_eq!(parts.len(), 4, "bad line {line:?}");
                assert_eq!(parts[0], "listening");
                (
                    parts[1].to_string(),
                    parts[2].to_string(),
                    parts[3].to_string(),
                )
            })
            .collect();
        process
    }

    /// The address of the `index`th listening line, for TCP and UDP sockets.
    pub fn addr(&self, index: usize) -> SocketAddr {
        self.listening[index].2.parse().expect("an IP:PORT address")
    }

    /// Sends SIGTERM to this child, by its own id.
    pub fn terminate(&self) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) with a pid we spawned and still own (not yet reaped).
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }

    /// Waits for exit (killing it after `TIMEOUT`); returns the status and stderr.
    pub fn wait(mut self) -> (std::process::ExitStatus, String) {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut err = String::new();
                self.child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut err)
                    .unwrap();
                return (status, err);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
