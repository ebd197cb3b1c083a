//! A connected stream socket: TCP, or a Unix domain stream socket.
//!
//! The loop treats both alike (read, write, shut down one direction); only
//! accepting and naming the peer differ. An enum keeps that difference in one
//! place without boxing every connection.

use mio::event::Source;
use mio::net::{TcpStream, UnixStream};
use mio::{Interest, Registry, Token};
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::time::Duration;

/// A stream connection of either family.
#[derive(Debug)]
pub enum Stream {
    /// TCP over IPv4 or IPv6.
    Tcp(TcpStream),
    /// A Unix domain stream socket.
    Unix(UnixStream),
}

impl Stream {
    /// Shuts down one or both directions.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            Stream::Tcp(stream) => stream.shutdown(how),
            Stream::Unix(stream) => stream.shutdown(how),
        }
    }

    /// Makes the coming close a reset (TCP `SO_LINGER` 0) instead of a FIN, so
    /// the client sees an error and not a clean end of a truncated stream.
    ///
    /// A Unix stream socket has no reset: its peer sees end-of-file either way.
    pub fn abort_on_close(&self) {
        if let Stream::Tcp(stream) = self {
            if let Err(err) = socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO)) {
                log::debug!("cannot set SO_LINGER 0: {err}");
            }
        }
    }

    /// Bytes the kernel still holds in this socket's send queue (`SIOCOUTQ`):
    /// for TCP, written but not yet acknowledged by the peer. Chat counts them
    /// when it judges whether a member is reading (see `room.rs`).
    pub fn unsent_in_kernel(&self) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        let fd = match self {
            Stream::Tcp(stream) => stream.as_raw_fd(),
            Stream::Unix(stream) => stream.as_raw_fd(),
        };
        let mut queued: libc::c_int = 0;
        // SAFETY: `fd` is this stream's open socket for the duration of the
        // call, and SIOCOUTQ (TIOCOUTQ) writes one c_int through the pointer.
        let rc = unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut queued) };
        if rc == -1 {
            return Err(io::Error::last_os_error());
        }
        Ok(usize::try_from(queued).unwrap_or(0))
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(stream) => stream.read(buf),
            Stream::Unix(stream) => stream.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(stream) => stream.write(buf),
            Stream::Unix(stream) => stream.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Tcp(stream) => stream.write_vectored(bufs),
            Stream::Unix(stream) => stream.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Source for Stream {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        match self {
            Stream::Tcp(stream) => stream.register(registry, token, interests),
            Stream::Unix(stream) => stream.register(registry, token, interests),
        }
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        match self {
            Stream::Tcp(stream) => stream.reregister(registry, token, interests),
            Stream::Unix(stream) => stream.reregister(registry, token, interests),
        }
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        match self {
            Stream::Tcp(stream) => stream.deregister(registry),
            Stream::Unix(stream) => stream.deregister(registry),
        }
    }
}
