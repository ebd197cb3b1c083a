//! Opening listening and datagram sockets: one function for every server design.
//!
//! A comparison between the reactor, the threaded baseline and the tokio
//! example is fair only if they listen the same way. std's and mio's
//! `TcpListener::bind` ask for a listen backlog of 128; a burst of a few
//! hundred connects overflows it, the kernel drops the SYNs and each of those
//! clients waits a second or more for its retransmission, which a benchmark
//! then counts against whichever server had the smaller backlog. So every
//! server in this crate (and `examples/tokio_echo.rs`) binds through
//! [`tcp_listener`] and [`udp_socket`], with the same [`LISTEN_BACKLOG`] and the
//! same [`SocketOptions`].
//!
//! # `SO_REUSEPORT`
//!
//! With [`SocketOptions::reuse_port`], several sockets may bind the same
//! address and port, and Linux spreads new connections (and datagrams, by
//! their source address and port) over them by a hash. That is how several
//! reactors in one process (`--reactors N`), or several reactord processes
//! (`--reuse-port`), serve one port, each with its own accept queue. Its cost:
//! when one of those listeners closes, the connections still waiting in *its*
//! accept queue are reset, unless `net.ipv4.tcp_migrate_req = 1` (Linux 5.14+)
//! lets the kernel move them to a sibling. Every socket on the port must set
//! the option, and (a kernel rule against port hijacking) belong to the same
//! user.

use socket2::{Domain, Socket, Type};
use std::io;
use std::net::{SocketAddr, TcpListener, UdpSocket};

/// The listen backlog asked for; Linux caps it at `net.core.somaxconn` (4096 by default).
///
/// This is where clients wait while the server is at `--max-conns`, out of
/// descriptors, or simply busy.
pub const LISTEN_BACKLOG: i32 = 4096;

/// Socket options shared by every listener and datagram socket a server opens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SocketOptions {
    /// Set `SO_REUSEPORT`, so that other sockets (other reactors, other
    /// processes) may bind the same address and share its traffic.
    pub reuse_port: bool,
    /// Leave the socket in non-blocking mode (for an event loop); blocking otherwise.
    pub nonblocking: bool,
    /// `SO_SNDBUF` for TCP listeners (`Limits::sndbuf`, `--sndbuf`): Linux
    /// copies a listener's send buffer size, and the lock that stops its
    /// autotuning, to every connection it accepts, so the cap costs no
    /// system call per connection. `None` leaves the kernel's autotuning.
    pub send_buffer: Option<usize>,
}

impl SocketOptions {
    /// Options for an event loop: non-blocking, with `SO_REUSEPORT` as given.
    pub fn nonblocking(reuse_port: bool) -> SocketOptions {
        SocketOptions {
            reuse_port,
            nonblocking: true,
            ..SocketOptions::default()
        }
    }

    /// Options for blocking threads: blocking, with `SO_REUSEPORT` as given.
    pub fn blocking(reuse_port: bool) -> SocketOptions {
        SocketOptions {
            reuse_port,
            nonblocking: false,
            ..SocketOptions::default()
        }
    }

    /// The same options with `SO_SNDBUF` set to `bytes` on TCP listeners (`None`: autotuned).
    pub fn with_send_buffer(self, bytes: Option<usize>) -> SocketOptions {
        SocketOptions {
            send_buffer: bytes,
            ..self
        }
    }
}

/// A socket of `kind`, bound to `addr`, with `options` set.
///
/// Port 0 with `SO_REUSEPORT` is bound *first* and given the option after:
/// asked for "any port" by a socket that already has `SO_REUSEPORT`, Linux
/// may hand out a port that another process's `SO_REUSEPORT` socket holds
/// (measured: 142 of 3,000 UDP binds here), and the two unrelated servers
/// would then share their clients. Bound plainly, the port is one nobody
/// uses; the option set before `listen` (TCP) or before a sibling binds
/// (UDP) still lets this process's other sockets join it.
fn bound_socket(addr: SocketAddr, kind: Type, options: SocketOptions) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), kind, None)?;
    if kind == Type::STREAM {
        // A restarted server must not wait for old connections' TIME_WAIT.
        socket.set_reuse_address(true)?;
        if let Some(bytes) = options.send_buffer {
            socket.set_send_buffer_size(bytes)?;
        }
    }
    let any_port = addr.port() == 0;
    if options.reuse_port && !any_port {
        socket.set_reuse_port(true)?;
    }
    socket.bind(&addr.into())?;
    if options.reuse_port && any_port {
        socket.set_reuse_port(true)?;
    }
    socket.set_nonblocking(options.nonblocking)?;
    Ok(socket)
}

/// Binds a TCP listener at `addr` with [`LISTEN_BACKLOG`] and `SO_REUSEADDR`.
pub fn tcp_listener(addr: SocketAddr, options: SocketOptions) -> io::Result<TcpListener> {
    let socket = bound_socket(addr, Type::STREAM, options)?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket.into())
}

/// Binds a UDP socket at `addr`.
pub fn udp_socket(addr: SocketAddr, options: SocketOptions) -> io::Result<UdpSocket> {
    Ok(bound_socket(addr, Type::DGRAM, options)?.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loopback() -> SocketAddr {
        "127.0.0.1:0".parse().unwrap()
    }

    #[test]
    fn a_second_bind_needs_reuse_port_on_both() {
        let first = tcp_listener(loopback(), SocketOptions::blocking(true)).unwrap();
        let addr = first.local_addr().unwrap();
        let second = tcp_listener(addr, SocketOptions::blocking(true)).unwrap();
        assert_eq!(second.local_addr().unwrap(), addr);
        let err = tcp_listener(addr, SocketOptions::blocking(false)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);

        let plain = tcp_listener(loopback(), SocketOptions::blocking(false)).unwrap();
        let taken = plain.local_addr().unwrap();
        assert!(tcp_listener(taken, SocketOptions::blocking(true)).is_err());
    }

    #[test]
    fn udp_shares_a_port_with_reuse_port() {
        let first = udp_socket(loopback(), SocketOptions::nonblocking(true)).unwrap();
        let addr = first.local_addr().unwrap();
        let second = udp_socket(addr, SocketOptions::nonblocking(true)).unwrap();
        assert_eq!(second.local_addr().unwrap(), addr);
        assert!(udp_socket(addr, SocketOptions::nonblocking(false)).is_err());
    }

    #[test]
    fn any_port_with_reuse_port_is_never_someone_elses() {
        // Other "processes": sockets holding ports with SO_REUSEPORT.
        let others: Vec<UdpSocket> = (0..3000)
            .map(|_| udp_socket(loopback(), SocketOptions::nonblocking(true)).unwrap())
            .collect();
        let taken: std::collections::HashSet<u16> = others
            .iter()
            .map(|s| s.local_addr().unwrap().port())
            .collect();
        assert_eq!(taken.len(), others.len(), "two of them share a port");
        let sibling = udp_socket(
            others[0].local_addr().unwrap(),
            SocketOptions::nonblocking(true),
        );
        assert!(
            sibling.is_ok(),
            "a sibling can still join an any-port socket"
        );
    }

    #[test]
    fn blocking_is_as_asked() {
        let listener = tcp_listener(loopback(), SocketOptions::nonblocking(false)).unwrap();
        let err = listener.accept().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    }
}
