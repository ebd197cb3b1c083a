//! Batched UDP on Linux: many datagrams per `recvmmsg`, their replies in one `sendmmsg`.
//!
//! ## Why batch
//! A 64-byte datagram costs the server almost nothing to answer; what it pays
//! for is crossing into the kernel: one `recvfrom` to take the datagram, one
//! `sendto` for the reply, and a last `recvfrom` that says `EAGAIN`. TCP can
//! take many messages in one `recv` because a stream has no boundaries; UDP
//! cannot, because each `recvfrom` returns exactly one datagram. `recvmmsg`
//! takes every datagram already queued (up to [`SLOTS`]) in one call, and
//! `sendmmsg` hands all their replies back in one call: under load, two
//! syscalls answer a whole batch.
//!
//! ## What does not change
//! Only the crossing is shared. Each datagram is still counted, answered by
//! its protocol, and checked by the guard (low source ports, our own ports,
//! the per-source byte budget) on its own, in arrival order; a reply the guard
//! refuses is left out of the batch. The guard is asked about the whole batch
//! in one go, so when `--reactors N` share it, its lock is taken once per
//! batch rather than once per datagram. A reply the kernel will not take
//! (`EAGAIN`: the send buffer is full) is dropped and counted, never queued,
//! as in the one-at-a-time path (`udp.rs`), so memory stays flat under a
//! flood.
//!
//! ## Memory
//! [`SLOTS`] receive buffers of 64 KiB (the largest datagram fits, so nothing
//! is ever truncated), allocated on the first datagram as zeroed pages that
//! the kernel maps only when a datagram is written into them: a loop that
//! sees 64-byte datagrams keeps one page per slot resident, the worst case is
//! 1 MiB. The replies of one batch share one buffer, at most [`SLOTS`] times
//! the largest reply. Both are per reactor, allocated once, never per datagram.
//!
//! ## The unsafe part
//! `recvmmsg` and `sendmmsg` take arrays of message headers holding raw
//! pointers into these buffers. The headers are built on the stack for each
//! call, pointing at buffers that outlive it, and the kernel writes no more
//! than the lengths it is given. That is all the unsafe code here does.

use super::connection::Outcome;
use super::stats::Stats;
use super::udp::DATAGRAM_BUDGET;
use crate::protocol::Protocol;
use socket2::SockAddr;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::time::SystemTime;

/// Datagrams taken per `recvmmsg` (and replies sent per `sendmmsg`).
///
/// Past 16 the syscall saving flattens out (each call already serves 16
/// datagrams) while the buffers keep growing.
pub const SLOTS: usize = 16;
/// Each slot holds the largest possible datagram.
const SLOT_SIZE: usize = 64 * 1024;

/// One reply waiting in [`DatagramBatch::replies`]: to the sender of `slot`.
#[derive(Debug, Clone, Copy)]
pub struct Reply {
    /// Who gets it (the datagram's sender).
    pub peer: SocketAddr,
    slot: usize,
    start: usize,
    end: usize,
}

impl Reply {
    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.end - self.start
    }
}

/// The buffers of one reactor's batched UDP path, lent to whichever UDP
/// socket is being served; empty between turns.
#[derive(Default)]
pub struct DatagramBatch {
    /// `SLOTS` slots of `SLOT_SIZE` bytes; empty until the first datagram.
    buffers: Vec<u8>,
    /// Who sent each slot's datagram, as the kernel wrote it.
    senders: Vec<libc::sockaddr_storage>,
    sender_lens: [libc::socklen_t; SLOTS],
    /// Each slot's datagram length.
    lens: [usize; SLOTS],
    /// The replies of this batch, back to back.
    replies: Vec<u8>,
    /// Where each reply sits in `replies`, in arrival order.
    queued: Vec<Reply>,
}

impl fmt::Debug for DatagramBatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatagramBatch")
            .field("allocated", &!self.buffers.is_empty())
            .field("queued", &self.queued.len())
            .finish()
    }
}

impl DatagramBatch {
    /// Allocates the slots on first use: a reactor that serves no UDP never pays for them.
    fn ensure_allocated(&mut self) {
        if self.buffers.is_empty() {
            // vec![0; n] asks the allocator for zeroed memory: fresh pages, mapped on first write.
            self.buffers = vec![0; SLOTS * SLOT_SIZE];
            // SAFETY: sockaddr_storage is plain data; all zeroes is a valid (AF_UNSPEC) value.
            self.senders = vec![unsafe { std::mem::zeroed() }; SLOTS];
        }
    }

    /// The datagram in `slot` and its sender.
    fn datagram(&self, slot: usize) -> (&[u8], Option<SocketAddr>) {
        let start = slot * SLOT_SIZE;
        // SAFETY: the kernel wrote a sockaddr of `sender_lens[slot]` bytes into this storage.
        let sender = unsafe { SockAddr::new(self.senders[slot], self.sender_lens[slot]) };
        (
            &self.buffers[start..start + self.lens[slot]],
            sender.as_socket(),
        )
    }
}

/// Serves a UDP socket by batches until `WouldBlock` or [`DATAGRAM_BUDGET`]
/// datagrams were taken. `judge` is the guard: it keeps, in order, the
/// replies of a batch that may go, and sees the whole batch at once, so a
/// guard shared by several reactors is locked once per batch.
pub fn serve(
    fd: RawFd,
    protocol: Protocol,
    batch: &mut DatagramBatch,
    mut judge: impl FnMut(&mut Vec<Reply>, &mut Stats),
    stats: &mut Stats,
    wall: SystemTime,
) -> Outcome {
    batch.ensure_allocated();
    let mut taken = 0;
    while taken < DATAGRAM_BUDGET {
        let received = match receive(fd, batch) {
            Ok(received) => received,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Outcome::Keep,
            Err(err) => {
                // ECONNREFUSED and friends: a report about an earlier send. Keep going.
                log::debug!("{protocol} datagram socket: {err}");
                taken += 1;
                continue;
            }
        };
        taken += received;
        for slot in 0..received {
            answer(slot, protocol, batch, stats, wall);
        }
        judge(&mut batch.queued, stats);
        send_replies(fd, protocol, batch, stats);
    }
    Outcome::Yield
}

/// Counts the datagram in `slot` and queues its reply, if it gets one.
fn answer(
    slot: usize,
    protocol: Protocol,
    batch: &mut DatagramBatch,
    stats: &mut Stats,
    wall: SystemTime,
) {
    let len = batch.lens[slot];
    stats.udp_in += 1;
    stats.messages += 1;
    stats.bytes_in += len as u64;
    let mut replies = std::mem::take(&mut batch.replies);
    let start = replies.len();
    let (datagram, sender) = batch.datagram(slot);
    // Not an IP sender cannot happen on a UDP socket; there is no one to answer.
    match sender {
        Some(peer) if protocol.on_datagram(datagram, wall, &mut replies) => {
            let end = replies.len();
            batch.queued.push(Reply {
                peer,
                slot,
                start,
                end,
            });
        }
        _ => replies.truncate(start),
    }
    batch.replies = replies;
}

/// Sends every queued reply, as few `sendmmsg` calls as the kernel allows,
/// then empties the batch. What the kernel refuses is dropped and counted.
fn send_replies(fd: RawFd, protocol: Protocol, batch: &mut DatagramBatch, stats: &mut Stats) {
    let mut next = 0;
    while next < batch.queued.len() {
        match send(fd, batch, next) {
            Ok(sent) => {
                for reply in &batch.queued[next..next + sent] {
                    stats.udp_out += 1;
                    stats.bytes_out += reply.len() as u64;
                }
                next += sent;
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                // The send buffer is full: the rest of the batch would fail alike.
                stats.udp_dropped += (batch.queued.len() - next) as u64;
                break;
            }
            Err(err) => {
                // This reply failed (sendmmsg reports an error only for the first
                // message of a call); drop it and go on with the next.
                stats.udp_dropped += 1;
                let peer = batch.queued[next].peer;
                log::debug!("{protocol} datagram socket: reply to {peer} failed: {err}");
                next += 1;
            }
        }
    }
    batch.queued.clear();
    batch.replies.clear();
}

/// One `recvmmsg`: fills slots `0..n` and returns `n` (at least 1).
fn receive(fd: RawFd, batch: &mut DatagramBatch) -> io::Result<usize> {
    // SAFETY: zeroed iovec and mmsghdr are valid (null pointers, zero lengths).
    let mut iovecs: [libc::iovec; SLOTS] = unsafe { std::mem::zeroed() };
    let mut headers: [libc::mmsghdr; SLOTS] = unsafe { std::mem::zeroed() };
    let buffers = batch.buffers.as_mut_ptr();
    for (slot, (iovec, header)) in iovecs.iter_mut().zip(headers.iter_mut()).enumerate() {
        // SAFETY: slot * SLOT_SIZE + SLOT_SIZE <= buffers.len() (SLOTS slots allocated).
        iovec.iov_base = unsafe { buffers.add(slot * SLOT_SIZE) }.cast();
        iovec.iov_len = SLOT_SIZE;
        header.msg_hdr.msg_iov = iovec;
        header.msg_hdr.msg_iovlen = 1;
        header.msg_hdr.msg_name = std::ptr::from_mut(&mut batch.senders[slot]).cast();
        header.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as u32;
    }
    // SAFETY: every header points at live buffers of the lengths it states; the
    // socket is non-blocking, so the call returns at once; no timeout is passed.
    let received = unsafe {
        libc::recvmmsg(
            fd,
            headers.as_mut_ptr(),
            SLOTS as u32,
            0,
            std::ptr::null_mut(),
        )
    };
    if received < 0 {
        return Err(io::Error::last_os_error());
    }
    let received = received as usize;
    for (slot, header) in headers.iter().enumerate().take(received) {
        batch.lens[slot] = header.msg_len as usize;
        batch.sender_lens[slot] = header.msg_hdr.msg_namelen;
    }
    Ok(received)
}

/// One `sendmmsg` of the queued replies from `first` on (at most [`SLOTS`]);
/// returns how many the kernel took.
fn send(fd: RawFd, batch: &mut DatagramBatch, first: usize) -> io::Result<usize> {
    // SAFETY: zeroed iovec and mmsghdr are valid (null pointers, zero lengths).
    let mut iovecs: [libc::iovec; SLOTS] = unsafe { std::mem::zeroed() };
    let mut headers: [libc::mmsghdr; SLOTS] = unsafe { std::mem::zeroed() };
    let pending = &batch.queued[first..];
    let count = pending.len().min(SLOTS);
    let replies = batch.replies.as_mut_ptr();
    for ((reply, iovec), header) in pending.iter().zip(&mut iovecs).zip(&mut headers) {
        // SAFETY: start..end lies within `replies`, which is not touched during the call.
        iovec.iov_base = unsafe { replies.add(reply.start) }.cast();
        iovec.iov_len = reply.len();
        header.msg_hdr.msg_iov = iovec;
        header.msg_hdr.msg_iovlen = 1;
        header.msg_hdr.msg_name = std::ptr::from_mut(&mut batch.senders[reply.slot]).cast();
        header.msg_hdr.msg_namelen = batch.sender_lens[reply.slot];
    }
    // SAFETY: the first `count` headers point at live replies and sender addresses.
    let sent = unsafe { libc::sendmmsg(fd, headers.as_mut_ptr(), count as u32, 0) };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(sent as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;
    use std::time::{Duration, Instant};

    /// A non-blocking server socket and a client connected to it.
    fn client_of(server: &UdpSocket) -> UdpSocket {
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        client.connect(server.local_addr().unwrap()).unwrap();
        client
    }

    fn server() -> UdpSocket {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        server.set_nonblocking(true).unwrap();
        server
    }

    /// Serves `server` until `count` datagrams came in (at most 5 s).
    fn serve_until(
        server: &UdpSocket,
        count: u64,
        mut allow: impl FnMut(SocketAddr, usize) -> bool,
    ) -> (DatagramBatch, Stats) {
        let (mut batch, mut stats) = (DatagramBatch::default(), Stats::default());
        let deadline = Instant::now() + Duration::from_secs(5);
        while stats.udp_in < count && Instant::now() < deadline {
            let _ = serve(
                server.as_raw_fd(),
                Protocol::Echo,
                &mut batch,
                |replies, _| replies.retain(|reply| allow(reply.peer, reply.len())),
                &mut stats,
                SystemTime::now(),
            );
        }
        (batch, stats)
    }

    fn recv(client: &UdpSocket) -> Vec<u8> {
        let mut buf = vec![0u8; 70_000];
        let n = client.recv(&mut buf).unwrap();
        buf.truncate(n);
        buf
    }

    #[test]
    fn a_batch_is_answered_in_order_each_reply_to_its_sender() {
        let server = server();
        let (first, second) = (client_of(&server), client_of(&server));
        for i in 0..20 {
            first.send(format!("first {i}").as_bytes()).unwrap();
            second.send(format!("second {i}").as_bytes()).unwrap();
        }
        let (batch, stats) = serve_until(&server, 40, |_, _| true);
        for i in 0..20 {
            assert_eq!(recv(&first), format!("first {i}").as_bytes());
            assert_eq!(recv(&second), format!("second {i}").as_bytes());
        }
        assert_eq!(
            (stats.udp_in, stats.udp_out, stats.udp_dropped),
            (40, 40, 0)
        );
        assert!(batch.queued.is_empty() && batch.replies.is_empty());
    }

    #[test]
    fn a_refused_reply_is_left_out_and_the_rest_are_sent() {
        let server = server();
        let client = client_of(&server);
        for body in ["keep 1", "refuse this", "keep 2"] {
            client.send(body.as_bytes()).unwrap();
        }
        let mut asked = 0;
        let (_, stats) = serve_until(&server, 3, |sender, len| {
            assert_eq!(sender, client.local_addr().unwrap());
            asked += 1;
            len != "refuse this".len()
        });
        assert_eq!(recv(&client), b"keep 1");
        assert_eq!(recv(&client), b"keep 2", "the refused reply is not sent");
        assert_eq!((asked, stats.udp_out), (3, 2));
    }

    #[test]
    fn the_largest_datagram_is_echoed_whole() {
        let server = server();
        let client = client_of(&server);
        let big: Vec<u8> = (0..65_507u32).map(|i| (i % 251) as u8).collect();
        client.send(&big).unwrap();
        client.send(b"after").unwrap();
        let (_, stats) = serve_until(&server, 2, |_, _| true);
        assert_eq!(recv(&client), big);
        assert_eq!(recv(&client), b"after");
        assert_eq!(stats.bytes_out, 65_507 + 5);
    }

    #[test]
    fn an_empty_socket_says_keep_and_allocates_once() {
        let server = server();
        let (mut batch, mut stats) = (DatagramBatch::default(), Stats::default());
        for _ in 0..2 {
            let outcome = serve(
                server.as_raw_fd(),
                Protocol::Echo,
                &mut batch,
                |_, _| {},
                &mut stats,
                SystemTime::now(),
            );
            assert!(outcome == Outcome::Keep);
        }
        assert_eq!(batch.buffers.len(), SLOTS * SLOT_SIZE);
        assert_eq!(stats.udp_in, 0);
    }
}
