//! Making one connection's socket: non-blocking, from a chosen source address.
//!
//! `reactord mass-hold` spreads its connections over many loopback source
//! addresses (127.0.0.0/8) because one source address can reach one server
//! port only about 28,000 times (the ephemeral port range). This file binds
//! each socket to its source without spending a port on the bind.

use crate::loadgen::connect::set_bind_address_no_port;
use mio::net::TcpStream;
use socket2::{Domain, Socket, Type};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

/// A non-blocking connect from `source` (port chosen at connect time) to `addr`.
///
/// `IP_BIND_ADDRESS_NO_PORT` makes `bind` take the address only; the port is
/// picked by `connect`, per destination. Without it, `bind(addr:0)` must pick a
/// port unique for the address alone, and one source could hold only about
/// 28,000 connections in all instead of 28,000 per server address and port.
pub(super) fn connect(addr: SocketAddr, source: Ipv4Addr) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(socket2::Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    set_bind_address_no_port(&socket)?;
    socket.bind(&SocketAddr::V4(SocketAddrV4::new(source, 0)).into())?;
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(err) if err.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(err) => return Err(err),
    }
    Ok(TcpStream::from_std(socket.into()))
}
