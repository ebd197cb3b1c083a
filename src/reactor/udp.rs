//! Serving a UDP socket: one datagram in, at most one datagram out.
//!
//! UDP keeps no per-client state here, so there is nothing to buffer: a
//! reply the kernel will not take right now (`WouldBlock`) is dropped and
//! counted rather than queued, which keeps memory flat under any flood.
//! Errors that an earlier send left on the socket, such as `ECONNREFUSED`
//! after an ICMP "port unreachable", belong to some past client, so they are
//! logged at debug and the socket goes on serving.

use super::connection::{Moment, Outcome, Scratch};
use super::guard::Guard;
use super::stats::Stats;
use crate::protocol::Protocol;
use mio::net::UdpSocket;
use std::io;

/// Datagrams served per event before the socket yields to other sources.
const DATAGRAM_BUDGET: usize = 256;

/// Receives and answers datagrams until `WouldBlock` or the budget is spent.
///
/// A reply the [`Guard`] refuses (low source port, source over its byte
/// budget) is dropped and counted, like one the kernel would not take.
pub fn serve_datagrams(
    socket: &UdpSocket,
    protocol: Protocol,
    scratch: &mut Scratch,
    guard: &mut Guard,
    stats: &mut Stats,
    moment: Moment,
) -> Outcome {
    let Moment { now, wall } = moment;
    for _ in 0..DATAGRAM_BUDGET {
        let (len, peer) = match socket.recv_from(&mut scratch.read) {
            Ok(received) => received,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Outcome::Keep,
            Err(err) => {
                // ECONNREFUSED and friends: a report about an earlier send. Keep going.
                log::debug!("udp {protocol}: {err}");
                continue;
            }
        };
        stats.udp_in += 1;
        stats.messages += 1;
        stats.bytes_in += len as u64;
        if !protocol.on_datagram(&scratch.read[..len], wall, &mut scratch.out) {
            continue;
        }
        if !guard.allow_reply(peer, scratch.out.len(), now, stats) {
            // The scratch buffer is shared with every connection: leave it empty.
            scratch.out.clear();
            continue;
        }
        match socket.send_to(&scratch.out, peer) {
            Ok(sent) => {
                stats.udp_out += 1;
                stats.bytes_out += sent as u64;
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => stats.udp_dropped += 1,
            Err(err) => {
                stats.udp_dropped += 1;
                log::debug!("udp {protocol}: reply to {peer} failed: {err}");
            }
        }
        // The scratch buffer is shared with every connection: leave it empty.
        scratch.out.clear();
    }
    Outcome::Yield
}
