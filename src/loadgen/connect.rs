//! Making a client socket: a non-blocking connect, optionally from a chosen
//! source address, with the source port left to `connect`.
//!
//! Every connection of `reactord bench` is opened here (and `mass-hold`
//! binds its sources the same way). The one subtlety is the source port. A
//! connection from one address to one server port needs a port of its own,
//! and churn spends them fast: every connection the client closes keeps its
//! port in TIME_WAIT, reusable for the same server only a second later
//! (`net.ipv4.tcp_tw_reuse_delay`). Past about 14,000 connects a second from
//! one address, `connect` has to search the whole port range (milliseconds,
//! with the load generator's loop waiting); spreading over several source
//! addresses (`--sources`) is the way out, and only works if `bind` does not
//! pick the port itself: see [`set_bind_address_no_port`].

use mio::net::TcpStream;
use socket2::{Domain, Socket, Type};
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

/// A non-blocking TCP connect, optionally from the address of `source`.
///
/// Binding to `127.0.0.K` before connecting gives each source address its
/// own range of ephemeral ports, which is how one client exceeds the ~28,000
/// connections a single source address allows towards one server port, and
/// how churn gets past the ~14,000 connects a second that one source address
/// sustains once its ports are in TIME_WAIT (see BENCHMARKS.md, "churn").
/// The port is left to `connect` ([`set_bind_address_no_port`]).
pub fn connect(addr: SocketAddr, source: Option<SocketAddr>) -> io::Result<TcpStream> {
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_nonblocking(true)?;
    socket.set_nodelay(true)?;
    if let Some(source) = source {
        set_bind_address_no_port(&socket)?;
        socket.bind(&source.into())?;
    }
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(err) if err.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(err) => return Err(err),
    }
    Ok(TcpStream::from_std(socket.into()))
}

/// Sets `IP_BIND_ADDRESS_NO_PORT` (Linux 4.2 and later), which socket2 does not wrap:
/// `bind` then takes the address only, and `connect` picks the port.
///
/// The difference matters for churn. `bind(addr:0)` does not know the
/// destination yet, so it must pick a port no socket on that address holds,
/// TIME_WAIT included: after a minute of churn few are left, and the search
/// for one slowed churn to ~200 connects a second. `connect` picks a port
/// whose four-tuple is unused, and may reuse one in TIME_WAIT
/// (`net.ipv4.tcp_tw_reuse`), exactly as for an unbound socket.
pub fn set_bind_address_no_port(socket: &Socket) -> io::Result<()> {
    let one: libc::c_int = 1;
    // SAFETY: the descriptor is open (owned by `socket`), and the option value is
    // a live c_int whose exact size is passed along with it.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `IP_BIND_ADDRESS_NO_PORT` value on `socket`'s descriptor.
    fn bind_address_no_port(fd: std::os::fd::RawFd) -> libc::c_int {
        let mut value: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: the descriptor is open for the caller's lifetime; value and len are live and sized.
        let rc = unsafe {
            libc::getsockopt(
                fd,
                libc::IPPROTO_IP,
                libc::IP_BIND_ADDRESS_NO_PORT,
                (&mut value as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        assert_eq!(rc, 0, "getsockopt: {}", io::Error::last_os_error());
        value
    }

    #[test]
    fn a_source_address_leaves_the_port_to_connect() {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        set_bind_address_no_port(&socket).unwrap();
        let source: SocketAddr = "127.0.0.1:0".parse().unwrap();
        socket.bind(&source.into()).unwrap();
        // A plain bind to port 0 picks a port here, TIME_WAIT-free for the address alone.
        let bound = socket.local_addr().unwrap().as_socket().unwrap();
        assert_eq!(bound.port(), 0, "bind picked a port");
    }

    #[test]
    fn connects_from_a_source_address_pick_their_port_at_connect() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let server = listener.local_addr().unwrap();
        let stream = connect(server, Some("127.0.0.1:0".parse().unwrap())).unwrap();
        assert_eq!(bind_address_no_port(stream.as_raw_fd()), 1);
        assert_ne!(stream.local_addr().unwrap().port(), 0);
        let plain = connect(server, None).unwrap();
        assert_eq!(bind_address_no_port(plain.as_raw_fd()), 0);
    }
}
