//! A connection's unsent output, and the write-now path that avoids it.
//!
//! Replies are written to the socket the moment they exist. Only the part
//! the kernel refuses (its send buffer is full) is copied into the outbox,
//! and the connection asks for writable events until it is empty. The
//! outbox's memory is freed when it drains, so an idle connection keeps none.

use super::stats::Stats;
use std::io::{self, Write};

/// Output produced for one connection but not yet taken by the kernel.
#[derive(Debug, Default)]
pub struct Outbox {
    buf: Vec<u8>,
    /// Bytes at the front of `buf` already written.
    sent: usize,
}

fn retry(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::Interrupted
}

impl Outbox {
    /// Bytes waiting for the kernel.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.sent
    }

    /// Queues bytes behind what is already pending, without writing.
    pub fn queue(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Writes `out` now if nothing is queued before it and keeps what the
    /// kernel refuses; empties `out` either way. Returns bytes written.
    pub fn send(
        &mut self,
        socket: &mut impl Write,
        out: &mut Vec<u8>,
        stats: &mut Stats,
    ) -> io::Result<usize> {
        if self.pending() > 0 {
            self.queue(out);
            out.clear();
            return Ok(0);
        }
        let mut written = 0;
        let result = loop {
            if written == out.len() {
                break Ok(());
            }
            match socket.write(&out[written..]) {
                Ok(n) => written += n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break Ok(()),
                Err(err) if retry(&err) => {}
                Err(err) => break Err(err),
            }
        };
        stats.bytes_out += written as u64;
        if result.is_ok() && written < out.len() {
            self.buf.clear();
            self.sent = 0;
            self.buf.extend_from_slice(&out[written..]);
        }
        out.clear();
        result.map(|()| written)
    }

    /// Writes pending bytes until done or `WouldBlock`. Returns bytes written.
    pub fn flush(&mut self, socket: &mut impl Write, stats: &mut Stats) -> io::Result<usize> {
        let mut written = 0;
        while self.sent < self.buf.len() {
            match socket.write(&self.buf[self.sent..]) {
                Ok(n) => {
                    self.sent += n;
                    written += n;
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) if retry(&err) => {}
                Err(err) => return Err(err),
            }
        }
        stats.bytes_out += written as u64;
        if self.sent == self.buf.len() {
            // Drained: give the memory back.
            self.buf = Vec::new();
            self.sent = 0;
        } else if self.sent > self.buf.len() / 2 {
            // Keep the queue compact so appends do not grow it without end.
            self.buf.drain(..self.sent);
            self.sent = 0;
        }
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket that takes at most `room` bytes, then would block.
    struct Tight {
        taken: Vec<u8>,
        room: usize,
    }

    impl Write for Tight {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.room);
            self.room -= n;
            self.taken.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn keeps_only_what_the_socket_refuses_and_preserves_order() {
        let mut socket = Tight {
            taken: Vec::new(),
            room: 3,
        };
        let mut outbox = Outbox::default();
        let mut stats = Stats::default();
        let mut out = b"hello".to_vec();
        assert_eq!(outbox.send(&mut socket, &mut out, &mut stats).unwrap(), 3);
        assert!(out.is_empty());
        assert_eq!(outbox.pending(), 2);
        out.extend_from_slice(b" world");
        outbox.send(&mut socket, &mut out, &mut stats).unwrap();
        assert_eq!(outbox.pending(), 8);
        socket.room = 100;
        outbox.flush(&mut socket, &mut stats).unwrap();
        assert_eq!(outbox.pending(), 0);
        assert_eq!(socket.taken, b"hello world");
        assert_eq!(stats.bytes_out, 11);
    }
}
