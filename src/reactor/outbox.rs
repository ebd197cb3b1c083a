//! A connection's unsent output, and the write-now path that avoids it.
//!
//! Replies are written to the socket the moment they exist. Only the part
//! the kernel refuses (its send buffer is full) is kept in the outbox, and
//! the connection asks for writable events until it is empty. The outbox's
//! memory is freed when it drains, so an idle connection keeps none.
//!
//! The outbox is a queue of chunks, not one byte buffer, because chat output
//! is shared: a room message is stored once as an `Arc<[u8]>` and each member
//! that still has to send it holds a [`Chunk::Shared`] slice of it plus an
//! offset into the first chunk. A paste into a room of a thousand members
//! then costs the paste once, not a thousand times. Pending chunks go out in
//! one `writev` each time the socket is writable.

use super::stats::Stats;
use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};
use std::ops::Range;
use std::sync::Arc;

/// Chunks handed to one `writev` (Linux takes up to 1024; more gains little).
const WRITEV_CHUNKS: usize = 64;
/// Shared slices shorter than this are copied: a chunk costs about this much.
const COPY_BELOW: usize = 64;
/// What one queued chunk costs besides its bytes (counted against slow readers).
pub const CHUNK_OVERHEAD: usize = std::mem::size_of::<Chunk>();

/// One piece of queued output.
#[derive(Debug)]
enum Chunk {
    /// Bytes for this connection alone.
    Owned(Vec<u8>),
    /// A slice of a message that other connections share.
    Shared(Arc<[u8]>, Range<usize>),
}

impl Chunk {
    fn bytes(&self) -> &[u8] {
        match self {
            Chunk::Owned(bytes) => bytes,
            Chunk::Shared(message, range) => &message[range.clone()],
        }
    }
}

/// Output produced for one connection but not yet taken by the kernel.
///
/// The queue is boxed and absent while empty: every connection carries an
/// outbox, and an idle one should cost 16 bytes, not a queue's worth.
#[derive(Debug, Default)]
pub struct Outbox {
    queue: Option<Box<Queue>>,
    /// Bytes the kernel has taken over the connection's life (progress, for chat).
    written: u64,
}

/// The chunks of a non-empty outbox.
#[derive(Debug, Default)]
struct Queue {
    chunks: VecDeque<Chunk>,
    /// Bytes at the front of the first chunk already written.
    sent: usize,
    /// Bytes queued and not yet written, over all chunks.
    pending: usize,
}

fn retry(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::Interrupted
}

impl Outbox {
    /// Bytes waiting for the kernel.
    pub fn pending(&self) -> usize {
        self.queue.as_ref().map_or(0, |queue| queue.pending)
    }

    /// Memory this outbox holds for its connection: pending bytes plus chunk bookkeeping.
    pub fn held(&self) -> usize {
        self.queue.as_ref().map_or(0, |queue| {
            queue.pending + queue.chunks.len() * CHUNK_OVERHEAD
        })
    }

    /// Bytes the kernel has taken from this outbox so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Queues bytes behind what is already pending, without writing.
    pub fn queue(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let queue = self.queue.get_or_insert_with(Box::default);
        queue.pending += bytes.len();
        if let Some(Chunk::Owned(last)) = queue.chunks.back_mut() {
            last.extend_from_slice(bytes);
        } else {
            queue.chunks.push_back(Chunk::Owned(bytes.to_vec()));
        }
    }

    /// Queues `message[range]`, shared with whoever else holds `message`.
    pub fn queue_shared(&mut self, message: &Arc<[u8]>, range: Range<usize>) {
        if range.len() < COPY_BELOW {
            return self.queue(&message[range]);
        }
        let queue = self.queue.get_or_insert_with(Box::default);
        queue.pending += range.len();
        queue
            .chunks
            .push_back(Chunk::Shared(Arc::clone(message), range));
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
        self.written += written as u64;
        if result.is_ok() && written < out.len() {
            self.queue(&out[written..]);
        }
        out.clear();
        result.map(|()| written)
    }

    /// Writes pending bytes until done or `WouldBlock`. Returns bytes written.
    pub fn flush(&mut self, socket: &mut impl Write, stats: &mut Stats) -> io::Result<usize> {
        let Some(queue) = self.queue.as_mut() else {
            return Ok(0);
        };
        let mut written = 0;
        let result = loop {
            if queue.pending == 0 {
                break Ok(());
            }
            match queue.write_some(socket) {
                Ok(n) => {
                    written += n;
                    queue.advance(n);
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break Ok(()),
                Err(err) if retry(&err) => {}
                Err(err) => break Err(err),
            }
        };
        stats.bytes_out += written as u64;
        self.written += written as u64;
        if queue.pending == 0 {
            // Drained: give the memory back.
            self.queue = None;
        }
        result.map(|()| written)
    }
}

impl Queue {
    /// One `writev` of the first chunks, the first from its unsent offset.
    fn write_some(&self, socket: &mut impl Write) -> io::Result<usize> {
        let mut slices = [IoSlice::new(&[]); WRITEV_CHUNKS];
        let mut count = 0;
        for (index, chunk) in self.chunks.iter().take(WRITEV_CHUNKS).enumerate() {
            let bytes = chunk.bytes();
            slices[index] = IoSlice::new(if index == 0 {
                &bytes[self.sent..]
            } else {
                bytes
            });
            count += 1;
        }
        socket.write_vectored(&slices[..count])
    }

    /// Forgets `n` written bytes from the front.
    fn advance(&mut self, mut n: usize) {
        self.pending -= n;
        while n > 0 {
            let Some(front) = self.chunks.front_mut() else {
                break;
            };
            let left = front.bytes().len() - self.sent;
            if n < left {
                self.sent += n;
                if let Chunk::Owned(bytes) = front {
                    // Keep a partly sent buffer compact so appends do not grow it without end.
                    if self.sent > bytes.len() / 2 {
                        bytes.drain(..self.sent);
                        self.sent = 0;
                    }
                }
                return;
            }
            n -= left;
            self.sent = 0;
            self.chunks.pop_front();
        }
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

    fn tight(room: usize) -> Tight {
        Tight {
            taken: Vec::new(),
            room,
        }
    }

    #[test]
    fn keeps_only_what_the_socket_refuses_and_preserves_order() {
        let mut socket = tight(3);
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
        assert_eq!(outbox.written(), 11);
    }

    #[test]
    fn shared_messages_are_held_by_reference_and_sent_in_order_byte_by_byte() {
        let message: Arc<[u8]> = Arc::from(vec![b'm'; 1000].into_boxed_slice());
        let mut outboxes: Vec<Outbox> = (0..3).map(|_| Outbox::default()).collect();
        for outbox in &mut outboxes {
            outbox.queue(b"own ");
            outbox.queue_shared(&message, 100..1000);
            outbox.queue_shared(&message, 0..10); // short: copied
        }
        assert_eq!(Arc::strong_count(&message), 4, "one reference per member");
        let mut stats = Stats::default();
        for (step, outbox) in outboxes.iter_mut().enumerate() {
            let mut socket = tight(0);
            // Every split point: a byte at a time for the first, larger steps for the others.
            while outbox.pending() > 0 {
                socket.room = 1 + step * 97;
                outbox.flush(&mut socket, &mut stats).unwrap();
            }
            let mut expected = b"own ".to_vec();
            expected.extend_from_slice(&message[100..1000]);
            expected.extend_from_slice(&message[0..10]);
            assert_eq!(socket.taken, expected);
            assert_eq!(outbox.held(), 0);
        }
        assert_eq!(
            Arc::strong_count(&message),
            1,
            "sent chunks release the message"
        );
    }
}
