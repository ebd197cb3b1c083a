//! Sibling reactors: the same loop again, on the same sockets, for another core.
//!
//! A [`Reactor`] never learns how many siblings it has or where they run. The
//! layer above (`crate::shards`) binds one reactor, asks it for
//! [`sibling`](Reactor::sibling)s, and runs each on its own thread. A sibling
//! is a complete, independent loop: its own `Poll`, slab, timers and buffers.
//! What siblings share is settled here, when they are made:
//!
//! - **TCP listeners and UDP sockets**: each sibling binds its own socket on
//!   the first one's address with `SO_REUSEPORT` (so the first must have been
//!   bound with it), and the kernel spreads connections and datagrams over
//!   them by a hash of the client's address and port.
//! - **Unix sockets** have no `SO_REUSEPORT`. Each sibling registers a
//!   duplicate of the *same* listening descriptor in its own poll: every
//!   reactor is woken for a new connection, the first to call `accept` gets
//!   it, the others meet `WouldBlock` (a spurious event, which the loop treats
//!   as normal). Unix datagram sockets are shared the same way. Only the first
//!   reactor removes the socket files at shutdown: a sibling's list of socket
//!   files to remove (`socket_files.rs`) is empty.
//! - **Sockets passed by systemd** (`activation.rs`) are shared like Unix
//!   sockets, by duplicate descriptors, whatever their kind: systemd bound
//!   them without `SO_REUSEPORT`, so a sibling could not bind the address again.
//! - **Chat**: a room is one room whatever reactor each member landed on.
//!   Each reactor delivers a line to its own members and posts it, stored
//!   once, to its siblings' mailboxes (see `mailbox.rs`), which the layer
//!   above connects with [`Reactor::connect_siblings`].
//! - **Process-wide limits**: see `process_limits.rs`.

use super::source::{Source, StartError};
use super::Reactor;
use crate::config::ServerConfig;
use crate::net::{self, SocketOptions};
use std::io;
use std::os::fd::{AsFd, OwnedFd};

/// What a reactor knows of its siblings: only that they exist.
#[derive(Debug, Default)]
pub(super) struct SiblingState {
    /// Made by [`Reactor::sibling`], or asked for one.
    any: bool,
}

impl SiblingState {
    /// True when other reactors serve the same sockets.
    pub(super) fn any(&self) -> bool {
        self.any
    }
}

impl Source {
    /// The same socket for a sibling: a new `SO_REUSEPORT` bind for TCP and
    /// UDP, a duplicate descriptor for Unix sockets and for every socket
    /// passed by systemd (`inherited`).
    fn for_sibling(&self, send_buffer: Option<usize>, inherited: bool) -> io::Result<Source> {
        let options = SocketOptions::nonblocking(true);
        let tcp_options = options.with_send_buffer(send_buffer);
        Ok(match self {
            Source::Listener {
                socket, binding, ..
            } if inherited => Source::Listener {
                socket: mio::net::TcpListener::from_std(duplicate(socket)?.into()),
                binding: *binding,
            },
            Source::Udp {
                socket, binding, ..
            } if inherited => Source::Udp {
                socket: mio::net::UdpSocket::from_std(duplicate(socket)?.into()),
                binding: *binding,
            },
            Source::Listener { binding, .. } => Source::Listener {
                socket: mio::net::TcpListener::from_std(net::tcp_listener(
                    binding.addr,
                    tcp_options,
                )?),
                binding: *binding,
            },
            Source::Udp { binding, .. } => Source::Udp {
                socket: mio::net::UdpSocket::from_std(net::udp_socket(binding.addr, options)?),
                binding: *binding,
            },
            Source::UnixListener {
                socket, binding, ..
            } => Source::UnixListener {
                socket: mio::net::UnixListener::from_std(duplicate(socket)?.into()),
                binding: binding.clone(),
            },
            Source::UnixDatagram {
                socket, binding, ..
            } => Source::UnixDatagram {
                socket: mio::net::UnixDatagram::from_std(duplicate(socket)?.into()),
                binding: binding.clone(),
            },
        })
    }

    fn describe(&self) -> String {
        match self {
            Source::Listener { binding, .. } | Source::Udp { binding, .. } => binding.to_string(),
            Source::UnixListener { binding, .. } | Source::UnixDatagram { binding, .. } => {
                binding.to_string()
            }
        }
    }
}

/// A second descriptor for the same open socket (`dup`): same queue, same
/// non-blocking flag, registered in another poll.
fn duplicate(socket: &impl AsFd) -> io::Result<OwnedFd> {
    socket.as_fd().try_clone_to_owned()
}

impl Reactor {
    /// A sibling loop serving the same sockets, sharing the process-wide limits.
    ///
    /// `config` must be the one this reactor was bound with, and this reactor
    /// must have been bound with `reuse_port` if it serves TCP or UDP. Call
    /// before [`run`](Self::run); the sibling runs on its own thread.
    pub fn sibling(&mut self, config: &ServerConfig) -> Result<Reactor, StartError> {
        let mut sources = Vec::with_capacity(self.sources.len());
        let first_inherited = self.sources.len() - self.ops.inherited;
        for (index, source) in self.sources.iter().enumerate() {
            let inherited = index >= first_inherited;
            let copy = match source {
                Some(source) => Some(
                    source
                        .for_sibling(config.limits.sndbuf, inherited)
                        .map_err(|err| StartError::Bind {
                            what: format!("{} for another reactor", source.describe()),
                            source: err,
                        })?,
                ),
                None => None,
            };
            sources.push(copy);
        }
        // No socket files of its own: the first reactor removes them.
        let mut sibling = Reactor::with_sources(config, sources, Default::default())?;
        sibling.ops.inherited = self.ops.inherited;
        let shared = self.guard.share(self.connections.len(), &self.limits);
        sibling.guard = super::process_limits::ProcessLimits::join(shared);
        self.siblings.any = true;
        sibling.siblings = SiblingState { any: true };
        Ok(sibling)
    }
}
