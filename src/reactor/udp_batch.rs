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
    // A UDP socket only hears from IP addresses; a sender that is none gets no answer.
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
            Ok(0) => {
                // Not expected for a non-empty batch; never spin on it.
                stats.udp_dropped += (batch.queued.len() - next) as u64;
                break;
            }
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
mod tests;
