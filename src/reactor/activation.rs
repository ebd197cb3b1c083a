//! Socket activation: serving sockets that systemd opened for us.
//!
//! With a `.socket` unit, systemd binds the ports (the privileged ones too,
//! before the service even runs) and starts reactord with the sockets as
//! descriptors 3, 4, ... announced by `LISTEN_FDS`, `LISTEN_PID` and
//! `LISTEN_FDNAMES` (the `sd-notify` crate reads them). Each socket's
//! `FileDescriptorName=` must be exactly a protocol name (`echo`, `hello`,
//! ...): that is the only way to know what a passed socket should speak. A
//! socket without one, or with a name that is no protocol, is a start-up
//! error naming it: guessing would serve the wrong protocol on a public port.
//!
//! Inherited sockets are served like bound ones and replace the defaults, as
//! explicit `--tcp`/`--udp` flags do. Their Unix socket files belong to
//! systemd, so reactord never removes them.

use super::source::{Source, StartError};
use super::{bind, socket_files, Reactor};
use crate::config::{Binding, ServerConfig, Transport, UnixBinding};
use crate::protocol::Protocol;
use socket2::{Socket, Type};
use std::os::fd::{FromRawFd, RawFd};
use std::path::PathBuf;

/// A socket passed by the service manager, ready to be served.
#[derive(Debug)]
pub struct Inherited(pub(super) Source);

/// Takes the sockets passed in `LISTEN_FDS`; empty when there are none.
///
/// Call it once per process: each descriptor is taken over by the returned
/// value, so a second call would make two owners of one descriptor.
pub fn take_from_env() -> Result<Vec<Inherited>, String> {
    let passed =
        sd_notify::listen_fds_with_names().map_err(|err| format!("socket activation: {err}"))?;
    passed.map(|(fd, name)| adopt(fd, &name)).collect()
}

impl Reactor {
    /// Like [`bind_with`](Self::bind_with), also serving sockets passed by
    /// systemd (see [`take_from_env`]).
    pub fn bind_adopting(
        config: &ServerConfig,
        reuse_port: bool,
        inherited: Vec<Inherited>,
    ) -> Result<Reactor, StartError> {
        // Declared first, so that a failed start removes the files it bound.
        let mut socket_files = socket_files::SocketFiles::default();
        let mut sources = bind::open_sources(config, reuse_port, &mut socket_files)?;
        let passed = inherited.len();
        sources.extend(inherited.into_iter().map(|inherited| inherited.0));
        let sources = sources.into_iter().map(Some).collect();
        let mut reactor = Reactor::with_sources(config, sources, socket_files)?;
        reactor.ops.inherited = passed;
        Ok(reactor)
    }
}

fn adopt(fd: RawFd, name: &str) -> Result<Inherited, String> {
    // SAFETY: `fd` is one of the descriptors systemd passed to this very
    // process (sd-notify checked LISTEN_PID), nothing else in the process owns
    // it, and `take_from_env` runs once, so this Socket is its only owner.
    let socket = unsafe { Socket::from_raw_fd(fd) };
    let what = format!("passed socket fd {fd} (FileDescriptorName={name:?})");
    let protocol = name.parse::<Protocol>().map_err(|_| {
        format!("{what}: the name must be a protocol (echo, timestamp, hello, discard, chargen, daytime, time, files, chat)")
    })?;
    let failed = |err: std::io::Error| format!("{what}: {err}");
    let datagram = match socket.r#type().map_err(failed)? {
        Type::STREAM => false,
        Type::DGRAM => true,
        _ => return Err(format!("{what}: neither a stream nor a datagram socket")),
    };
    if datagram && protocol.is_stream_only() {
        return Err(format!("{what}: {protocol} works over stream sockets only"));
    }
    if !datagram && !socket.is_listener().map_err(failed)? {
        return Err(format!(
            "{what}: a stream socket that is not listening (set Accept=no)"
        ));
    }
    socket.set_nonblocking(true).map_err(failed)?;
    let local = socket.local_addr().map_err(failed)?;
    let source = if let Some(addr) = local.as_socket() {
        let transport = if datagram {
            Transport::Udp
        } else {
            Transport::Tcp
        };
        let binding = Binding {
            transport,
            protocol,
            addr,
        };
        if datagram {
            let socket = mio::net::UdpSocket::from_std(socket.into());
            Source::Udp { socket, binding }
        } else {
            let socket = mio::net::TcpListener::from_std(socket.into());
            Source::Listener { socket, binding }
        }
    } else {
        let path = match (local.as_pathname(), local.as_abstract_namespace()) {
            (Some(path), _) => path.to_path_buf(),
            (None, Some(name)) => PathBuf::from(format!("@{}", String::from_utf8_lossy(name))),
            (None, None) => PathBuf::from("(unnamed)"),
        };
        let binding = UnixBinding {
            datagram,
            protocol,
            path,
        };
        if datagram {
            let socket = mio::net::UnixDatagram::from_std(socket.into());
            Source::UnixDatagram { socket, binding }
        } else {
            let socket = mio::net::UnixListener::from_std(socket.into());
            Source::UnixListener { socket, binding }
        }
    };
    Ok(Inherited(source))
}
