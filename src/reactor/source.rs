//! The sockets the loop listens on, and what can go wrong opening them.

use crate::config::{Binding, UnixBinding};
use crate::protocol::Protocol;
use mio::event::Source as _;
use mio::net::{TcpListener, UdpSocket, UnixDatagram, UnixListener};
use mio::{Interest, Registry, Token};
use std::fmt;
use std::io;

/// A listening or datagram socket, with what it was bound as.
#[derive(Debug)]
pub(super) enum Source {
    Listener {
        socket: TcpListener,
        binding: Binding,
    },
    Udp {
        socket: UdpSocket,
        binding: Binding,
    },
    UnixListener {
        socket: UnixListener,
        binding: UnixBinding,
    },
    UnixDatagram {
        socket: UnixDatagram,
        binding: UnixBinding,
    },
}

impl Source {
    /// What the socket speaks.
    pub(super) fn protocol(&self) -> Protocol {
        match self {
            Source::Listener { binding, .. } | Source::Udp { binding, .. } => binding.protocol,
            Source::UnixListener { binding, .. } | Source::UnixDatagram { binding, .. } => {
                binding.protocol
            }
        }
    }

    /// The address of a UDP socket (for the guard's own-port rule).
    pub(super) fn udp_addr(&self) -> Option<std::net::SocketAddr> {
        match self {
            Source::Udp { binding, .. } => Some(binding.addr),
            _ => None,
        }
    }

    /// True for sockets that accept connections.
    pub(super) fn is_listener(&self) -> bool {
        matches!(self, Source::Listener { .. } | Source::UnixListener { .. })
    }

    /// Registers for readable events under `token`.
    pub(super) fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        let interest = Interest::READABLE;
        match self {
            Source::Listener { socket, .. } => socket.register(registry, token, interest),
            Source::Udp { socket, .. } => socket.register(registry, token, interest),
            Source::UnixListener { socket, .. } => socket.register(registry, token, interest),
            Source::UnixDatagram { socket, .. } => socket.register(registry, token, interest),
        }
    }

    /// Removes the socket from the poll.
    pub(super) fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        match self {
            Source::Listener { socket, .. } => socket.deregister(registry),
            Source::Udp { socket, .. } => socket.deregister(registry),
            Source::UnixListener { socket, .. } => socket.deregister(registry),
            Source::UnixDatagram { socket, .. } => socket.deregister(registry),
        }
    }
}

/// Starting the reactor failed.
#[derive(Debug)]
pub enum StartError {
    /// The poll instance or its waker could not be created.
    Poll(io::Error),
    /// A socket could not be bound (address in use, permission, ...).
    Bind {
        /// What was being bound, e.g. `tcp echo 127.0.0.1:7007`.
        what: String,
        /// Why it failed.
        source: io::Error,
    },
    /// The configuration cannot be served (e.g. files without a root).
    Config(String),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Poll(err) => write!(f, "cannot create the event loop: {err}"),
            StartError::Bind { what, source } => write!(f, "cannot bind {what}: {source}"),
            StartError::Config(problem) => f.write_str(problem),
        }
    }
}

impl std::error::Error for StartError {}
