//! Serving a UDP socket: one datagram in, at most one datagram out.
//!
//! UDP keeps no per-client state here, so there is nothing to buffer: a
//! reply the kernel will not take right now (`WouldBlock`) is dropped and
//! counted rather than queued, which keeps memory flat under any flood.
//! Errors that an earlier send left on the socket, such as `ECONNREFUSED`
//! after an ICMP "port unreachable", belong to some past client, so they are
//! logged at debug and the socket goes on serving.
//!
//! On Linux a UDP socket is served by batches (`udp_batch.rs`: `recvmmsg`
//! and `sendmmsg`, the same rules per datagram); Unix datagram sockets, and
//! UDP elsewhere, take one datagram per `recvfrom` here.

use super::connection::Outcome;
use super::context::Scratch;
use super::process_limits::ProcessLimits;
use super::stats::Stats;
use crate::protocol::Protocol;
use mio::net::{UdpSocket, UnixDatagram};
use std::fmt::Debug;
use std::io;
use std::time::Instant;
use std::time::SystemTime;

/// Datagrams served per event before the socket yields to other sources.
pub const DATAGRAM_BUDGET: usize = 256;

/// Serves a UDP socket.
///
/// A reply the guard refuses (low source port, source over its byte
/// budget) is dropped and counted, like one the kernel would not take.
#[allow(clippy::too_many_arguments)]
pub fn serve_udp(
    socket: &UdpSocket,
    protocol: Protocol,
    scratch: &mut Scratch,
    guard: &mut ProcessLimits,
    stats: &mut Stats,
    now: Instant,
    wall: SystemTime,
) -> Outcome {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        super::udp_batch::serve(
            socket.as_raw_fd(),
            protocol,
            &mut scratch.datagrams,
            // Locked once per batch when reactors share the guard.
            |replies, stats| {
                guard.with_guard(|guard| {
                    replies.retain(|reply| guard.allow_reply(reply.peer, reply.len(), now, stats))
                })
            },
            stats,
            wall,
        )
    }
    #[cfg(not(target_os = "linux"))]
    serve(
        |buf| socket.recv_from(buf),
        |reply, peer| socket.send_to(reply, *peer),
        |peer, len, stats| guard.allow_reply(*peer, len, now, stats),
        protocol,
        scratch,
        stats,
        wall,
    )
}

/// Serves a Unix datagram socket. A client that did not bind its socket to a
/// path has no address to answer; its datagrams are read and counted as dropped replies.
pub fn serve_unixgram(
    socket: &UnixDatagram,
    protocol: Protocol,
    scratch: &mut Scratch,
    stats: &mut Stats,
    wall: SystemTime,
) -> Outcome {
    serve(
        |buf| socket.recv_from(buf),
        |reply, peer: &std::os::unix::net::SocketAddr| match peer.as_pathname() {
            // Resolved once, symlinks refused, sent to the very inode checked.
            Some(path) => super::unix_path::reply_target(path)
                .and_then(|target| socket.send_to(reply, target.path())),
            None => Err(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                "unnamed client socket",
            )),
        },
        // Local clients only: no per-source guard.
        |_, _, _| true,
        protocol,
        scratch,
        stats,
        wall,
    )
}

/// Receives and answers datagrams until `WouldBlock` or the budget is spent.
fn serve<P: Debug>(
    mut recv: impl FnMut(&mut [u8]) -> io::Result<(usize, P)>,
    mut send: impl FnMut(&[u8], &P) -> io::Result<usize>,
    mut allow: impl FnMut(&P, usize, &mut Stats) -> bool,
    protocol: Protocol,
    scratch: &mut Scratch,
    stats: &mut Stats,
    wall: SystemTime,
) -> Outcome {
    for _ in 0..DATAGRAM_BUDGET {
        let (len, peer) = match recv(&mut scratch.read) {
            Ok(received) => received,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Outcome::Keep,
            Err(err) => {
                // ECONNREFUSED and friends: a report about an earlier send. Keep going.
                log::debug!("{protocol} datagram socket: {err}");
                continue;
            }
        };
        stats.udp_in += 1;
        stats.messages += 1;
        stats.bytes_in += len as u64;
        if !protocol.on_datagram(&scratch.read[..len], wall, &mut scratch.out) {
            continue;
        }
        if !allow(&peer, scratch.out.len(), stats) {
            // The scratch buffer is shared with every connection: leave it empty.
            scratch.out.clear();
            continue;
        }
        match send(&scratch.out, &peer) {
            Ok(sent) => {
                stats.udp_out += 1;
                stats.bytes_out += sent as u64;
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => stats.udp_dropped += 1,
            Err(err) => {
                stats.udp_dropped += 1;
                log::debug!("{protocol} datagram socket: reply to {peer:?} failed: {err}");
            }
        }
        // The scratch buffer is shared with every connection: leave it empty.
        scratch.out.clear();
    }
    Outcome::Yield
}
