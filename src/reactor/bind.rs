//! Opening the sockets a [`ServerConfig`] asks for, before the loop starts.
//!
//! Binding happens up front so that every error (address in use, a bad
//! path, a missing `--files-root`) is reported before anything is served.
//! Unix socket files need care: a crashed run leaves its socket file behind,
//! and `bind` then fails with "address in use" although nobody listens. A
//! file that refuses connections is such a leftover and is replaced; one
//! that accepts them belongs to a live server and is an error; anything else
//! is left alone (see `unix_path.rs`).

use super::source::{Source, StartError};
use super::unix_path::FileId;
use crate::config::{ServerConfig, Transport};
use crate::net::{self, SocketOptions};
use crate::protocol::Protocol;
use mio::net::{TcpListener, UdpSocket, UnixDatagram, UnixListener};

/// Opens every socket of `config`, in order: TCP/UDP first, then Unix.
///
/// TCP and UDP sockets are bound through [`crate::net`], non-blocking, with
/// `SO_REUSEPORT` when `reuse_port`.
pub(super) fn open_sources(
    config: &ServerConfig,
    reuse_port: bool,
    socket_files: &mut super::socket_files::SocketFiles,
) -> Result<Vec<Source>, StartError> {
    let options = SocketOptions::nonblocking(reuse_port);
    // Accepted TCP sockets inherit the listener's send buffer size.
    let tcp_options = options.with_send_buffer(config.limits.sndbuf);
    let needs_root = config
        .bindings
        .iter()
        .map(|b| b.protocol)
        .chain(config.unix_bindings.iter().map(|b| b.protocol));
    if needs_root.into_iter().any(|p| p == Protocol::Files) && config.files_root.is_none() {
        return Err(StartError::Config(
            "the files protocol needs --files-root DIR".into(),
        ));
    }
    let mut sources = Vec::new();
    for binding in &config.bindings {
        let failed = |source| StartError::Bind {
            what: binding.to_string(),
            source,
        };
        let source = match binding.transport {
            Transport::Tcp => {
                let socket = net::tcp_listener(binding.addr, tcp_options).map_err(failed)?;
                let socket = TcpListener::from_std(socket);
                let addr = socket.local_addr().map_err(failed)?;
                let binding = crate::config::Binding { addr, ..*binding };
                Source::Listener { socket, binding }
            }
            Transport::Udp => {
                let socket = net::udp_socket(binding.addr, options).map_err(failed)?;
                let socket = UdpSocket::from_std(socket);
                let addr = socket.local_addr().map_err(failed)?;
                let binding = crate::config::Binding { addr, ..*binding };
                Source::Udp { socket, binding }
            }
        };
        sources.push(source);
    }
    for binding in &config.unix_bindings {
        let failed = |source| StartError::Bind {
            what: binding.to_string(),
            source,
        };
        super::unix_path::remove_stale(&binding.path, binding.datagram).map_err(failed)?;
        let source = if binding.datagram {
            let socket = UnixDatagram::bind(&binding.path).map_err(failed)?;
            socket_files.add(binding.path.clone(), FileId::of(&binding.path).ok());
            Source::UnixDatagram {
                socket,
                binding: binding.clone(),
            }
        } else {
            let socket = UnixListener::bind(&binding.path).map_err(failed)?;
            socket_files.add(binding.path.clone(), FileId::of(&binding.path).ok());
            Source::UnixListener {
                socket,
                binding: binding.clone(),
            }
        };
        sources.push(source);
    }
    Ok(sources)
}
