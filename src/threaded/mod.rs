//! The thread-per-connection baseline: the classic design, for comparison with the reactor.
//!
//! This is the server the socket tutorials teach (`accept`, then hand the
//! connection to a new thread that loops on `recv` and `send`), written
//! carefully so that benchmarking the reactor against it compares designs and
//! not a strawman. It uses the same sans-IO [`Session`](crate::protocol::Session)
//! and [`Protocol::on_datagram`](crate::protocol::Protocol::on_datagram), so the
//! bytes on the wire are identical; the same 64 KiB read buffer; `TCP_NODELAY`;
//! and the same limits. There are no artificial sleeps anywhere on a reply's path.
//!
//! # Threads
//!
//! - one **accept thread** per TCP listener: `accept`, wait for a place under
//!   `--max-conns`, spawn a connection thread;
//! - one **connection thread** per TCP client: blocking `read`, `on_bytes`,
//!   blocking `write_all`, until someone closes;
//! - one **UDP thread** per UDP socket: `recv_from`, `on_datagram`, `send_to`;
//! - the caller's thread, in [`ThreadedServer::run`], which waits for
//!   shutdown and then winds everything down.
//!
//! # Why threads, and what each one costs
//!
//! Blocking code is the easiest to read: the state of a conversation is just
//! where the thread is in its loop, and the kernel's scheduler does the
//! multiplexing the reactor does by hand. The price is paid per connection:
//!
//! - **a stack.** We ask for [`CONNECTION_STACK`] (64 KiB) instead of Rust's
//!   default 2 MiB. Address space is reserved up front but only touched pages
//!   use memory; the connection loop is shallow (buffers live on the heap), so
//!   64 KiB leaves a wide margin while keeping 10,000 threads to 640 MiB of
//!   address space instead of 20 GiB. Each stack also costs a guard page and
//!   two kernel memory mappings (`vm.max_map_count` caps the thread count).
//! - **a read buffer.** The reactor reads every socket into one scratch
//!   buffer; a thread must own its own, so each connection holds
//!   [`READ_BUFFER`] bytes of heap for its whole life (resident only as far
//!   as its reads have touched it).
//! - **kernel scheduling.** Every message wakes a thread: a context switch in
//!   and out, per message, where the reactor handles a batch of ready sockets
//!   per wake-up. With thousands of threads the run queue and the caches pay.
//!
//! # Limits, the blocking way
//!
//! - `--max-line`: inside the [`Session`](crate::protocol::Session), as in the reactor.
//! - `--max-pending`: `write_all` blocks until the kernel takes the replies, so
//!   a client that does not read stops its own thread from reading more. The
//!   session is still fed with `out_limit = max_pending` so no single step
//!   builds more output than that.
//! - `--max-conns`: the registry of live connections is also a counting
//!   semaphore; at the cap an accept thread waits for a connection to end.
//! - `--idle-timeout`: the socket's read and write timeouts, shortened so
//!   that only whole messages count as progress, as in the reactor (see
//!   `limits.rs`).
//! - `--max-conns-per-ip`, `--conn-rate-per-ip`, `--udp-budget`,
//!   `--udp-window`, `--udp-allow-low-ports`: the reactor's own per-source
//!   guard, shared by every thread behind a mutex (see `limits.rs`).
//! - a failed thread spawn is logged and closes that one connection.
//! - UDP: no reply to one of this server's own UDP ports on this host (the
//!   reactor's own-port rule, shared code), so a forged datagram cannot start
//!   a reflection loop; then the per-source guard above, as in the reactor.
//! - files: opened through the same [`FilesRoot`] as the reactor (beneath the
//!   root descriptor, never blocking, regular files only); a download cut
//!   short by shutdown or a read error ends with a reset, not a FIN.
//!
//! # Shutdown
//!
//! [`ShutdownHandle::shutdown`] (from any thread, e.g. the one
//! [`watch_signals`] starts) wakes `run`, which: ends each blocked `accept` by
//! connecting to its own listener, and each `recv_from` by sending its socket
//! an empty datagram; then calls `shutdown(Read)` on each stream whose thread
//! is blocked in `read`, which wakes it with end-of-file so it closes. A busy
//! thread finishes the write it is in, answers nothing more, sends FIN and
//! lingers, reading and discarding, until its client's EOF: closing a socket
//! while input still arrives makes the kernel send a reset, which destroys
//! replies not yet delivered. After `--drain-timeout`, streams still open get
//! `shutdown(Both)`. Blocking calls cannot be cancelled portably any other way.
//!
//! The price of that wake-up: a woken thread can no longer linger (every
//! `read` now returns end-of-file at once), so a client that sends again
//! after shutdown began may get a reset, and with it lose replies still in
//! the kernel. A client that has finished sending gets every reply, then EOF.
//! The reactor, which never blocks, has no such gap.

mod limits;
mod live;
mod tcp;
mod udp;

pub use crate::stats::Stats;
pub use live::ShutdownHandle;

use crate::config::{Binding, Limits, ServerConfig, Transport};
use crate::files::FilesRoot;
use crate::net::{self, SocketOptions};
use crate::protocol::{Framing, Protocol};
use crate::reactor::guard::OwnSockets;
use live::Shared;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Stack size of a connection thread (see "Why threads" above).
pub const CONNECTION_STACK: usize = 64 * 1024;

/// Bytes read per `read`/`recv_from`: the reactor's scratch buffer size.
pub const READ_BUFFER: usize = 64 * 1024;

/// How long a closed connection reads and discards input while waiting for the peer's EOF.
pub const LINGER_TIMEOUT: Duration = Duration::from_secs(5);

/// How long `run` waits for its own wake-up connection to a listener.
const WAKE_TIMEOUT: Duration = Duration::from_secs(1);

/// A binding that could not be opened.
#[derive(Debug)]
pub struct BindError {
    /// The binding, as configured.
    pub binding: Binding,
    /// Why the kernel refused it.
    pub source: io::Error,
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot bind {}: {}", self.binding, self.source)
    }
}

impl std::error::Error for BindError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// An opened socket and the binding it serves, with the port resolved.
#[derive(Debug)]
enum Socket {
    Tcp(TcpListener),
    Udp(UdpSocket),
}

/// The thread-per-connection server: bound, not yet serving.
#[derive(Debug)]
pub struct ThreadedServer {
    sockets: Vec<(Binding, Socket)>,
    framing: Framing,
    limits: Limits,
    files: Option<Arc<FilesRoot>>,
    shutdown: ShutdownHandle,
}

impl ThreadedServer {
    /// Opens every binding of `config`, in order; fails on the first that cannot be opened.
    ///
    /// The baseline serves TCP and UDP; it refuses chat (a room shared
    /// between threads is a different design from the one it stands for)
    /// and files without a root.
    pub fn bind(config: &ServerConfig) -> Result<ThreadedServer, BindError> {
        let mut sockets = Vec::with_capacity(config.bindings.len());
        let files_binding = config
            .bindings
            .iter()
            .find(|b| b.protocol == Protocol::Files);
        let files = match (files_binding, &config.files_root) {
            (Some(&binding), Some(dir)) => Some(Arc::new(
                FilesRoot::new(dir).map_err(|source| BindError { binding, source })?,
            )),
            _ => None,
        };
        for &binding in &config.bindings {
            let fail = |source| BindError { binding, source };
            let unsupported =
                |why: &str| fail(io::Error::new(io::ErrorKind::Unsupported, why.to_string()));
            if binding.protocol == Protocol::Chat {
                return Err(unsupported("the threaded baseline does not serve chat"));
            }
            if binding.protocol == Protocol::Files && files.is_none() {
                return Err(unsupported("the files protocol needs --files-root DIR"));
            }
            let (socket, addr) = match binding.transport {
                Transport::Tcp => {
                    // Same backlog and options as the reactor: a fair baseline.
                    let options =
                        SocketOptions::blocking(false).with_send_buffer(config.limits.sndbuf);
                    let listener = net::tcp_listener(binding.addr, options).map_err(fail)?;
                    let addr = listener.local_addr().map_err(fail)?;
                    (Socket::Tcp(listener), addr)
                }
                Transport::Udp => {
                    let socket = net::udp_socket(binding.addr, SocketOptions::blocking(false))
                        .map_err(fail)?;
                    let addr = socket.local_addr().map_err(fail)?;
                    (Socket::Udp(socket), addr)
                }
            };
            sockets.push((Binding { addr, ..binding }, socket));
        }
        Ok(ThreadedServer {
            sockets,
            framing: config.framing,
            limits: config.limits,
            files,
            shutdown: ShutdownHandle {
                shared: Arc::new(Shared::new(config.limits.max_conns)),
            },
        })
    }

    /// The bindings as opened: port 0 replaced by the port the kernel chose.
    pub fn local_bindings(&self) -> Vec<Binding> {
        self.sockets.iter().map(|(binding, _)| *binding).collect()
    }

    /// A handle that stops this server from any thread.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.clone()
    }

    /// Serves until [`ShutdownHandle::shutdown`] is called, then drains and returns the totals.
    ///
    /// If a listener's thread cannot be started, that is logged as an error
    /// and the server shuts down at once.
    pub fn run(self) -> Stats {
        let shared = Arc::clone(&self.shutdown.shared);
        let guard = limits::SharedGuard::new(&self.limits);
        let mut threads = Vec::with_capacity(self.sockets.len());
        // No UDP reply ever goes to one of our own UDP ports on this host (reflection loops).
        let own = Arc::new(OwnSockets::new(
            self.sockets
                .iter()
                .filter(|(binding, _)| binding.transport == Transport::Udp)
                .map(|(binding, _)| binding.addr),
        ));
        for (binding, socket) in self.sockets {
            let service = tcp::Service {
                binding,
                framing: self.framing,
                limits: self.limits,
                files: self.files.clone(),
                guard: guard.clone(),
            };
            match spawn_listener(service, socket, &shared, &own) {
                Ok(handle) => threads.push((binding, handle)),
                Err(err) => {
                    log::error!("{binding}: cannot start its thread: {err}");
                    shared.stop();
                }
            }
        }
        shared.wait_for_stop();
        log::info!(
            "shutting down: no new connections, draining for up to {:?}",
            self.limits.drain_timeout
        );
        for (binding, handle) in threads {
            wake(&binding);
            if handle.join().is_err() {
                log::error!("{binding}: its thread panicked");
            }
        }
        let aborted = shared.drain(self.limits.drain_timeout);
        let mut totals = shared.totals();
        totals.drain_aborted += aborted;
        totals
    }
}

/// Starts the thread that serves one listener or UDP socket.
fn spawn_listener(
    service: tcp::Service,
    socket: Socket,
    shared: &Arc<Shared>,
    own: &Arc<OwnSockets>,
) -> io::Result<JoinHandle<()>> {
    let shared = Arc::clone(shared);
    let binding = service.binding;
    let builder =
        thread::Builder::new().name(format!("{} {}", binding.transport, binding.protocol));
    match socket {
        Socket::Tcp(listener) => builder.spawn(move || tcp::accept_loop(listener, service, shared)),
        Socket::Udp(socket) => {
            let own = Arc::clone(own);
            builder.spawn(move || udp::serve(socket, binding, &service.guard, shared, &own))
        }
    }
}

/// Ends a listener thread's blocking `accept` or `recv_from` by giving it something to receive.
fn wake(binding: &Binding) {
    let addr = reachable(binding.addr);
    let result = match binding.transport {
        Transport::Tcp => TcpStream::connect_timeout(&addr, WAKE_TIMEOUT).map(drop),
        Transport::Udp => {
            let any: SocketAddr = if addr.is_ipv4() {
                (Ipv4Addr::UNSPECIFIED, 0).into()
            } else {
                (Ipv6Addr::UNSPECIFIED, 0).into()
            };
            UdpSocket::bind(any).and_then(|socket| socket.send_to(&[], addr).map(drop))
        }
    };
    if let Err(err) = result {
        // UDP still stops within `UDP_POLL`; a TCP accept thread waits for the next client.
        log::warn!("{binding}: cannot wake its thread: {err}");
    }
}

/// A wildcard address (`0.0.0.0`, `::`) is not a destination; its loopback twin is.
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => (Ipv4Addr::LOCALHOST, addr.port()).into(),
        IpAddr::V6(ip) if ip.is_unspecified() => (Ipv6Addr::LOCALHOST, addr.port()).into(),
        _ => addr,
    }
}

/// Calls `handle.shutdown()` on the first SIGINT or SIGTERM; a second one exits at once.
///
/// The signals are caught by `signal-hook`'s self-pipe and delivered to an
/// ordinary thread, so the handler itself does nothing unsafe. The second
/// signal is for a user whose drain is taking too long: exit status 130.
pub fn watch_signals(handle: ShutdownHandle) -> io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    use signal_hook::iterator::Signals;
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                let name = signal_hook::low_level::signal_name(signal).unwrap_or("signal");
                if handle.is_shutting_down() {
                    log::warn!("{name} again: exiting without waiting for the drain");
                    std::process::exit(130);
                }
                log::info!("{name}: shutting down");
                handle.shutdown();
            }
        })?;
    Ok(())
}
