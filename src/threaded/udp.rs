//! UDP: one thread per socket, answering each datagram in turn.

use super::limits::SharedGuard;
use super::live::Shared;
use super::{Stats, READ_BUFFER};
use crate::config::Binding;
use crate::reactor::guard::OwnSockets;
use std::io;
use std::net::UdpSocket;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// How often a UDP thread wakes to check for shutdown if the wake-up datagram is lost.
///
/// `run` sends the socket an empty datagram to end its `recv_from` at once;
/// this timeout is only the safety net, so it is not on any reply's path.
pub(super) const UDP_POLL: Duration = Duration::from_millis(500);

/// The body of a UDP thread.
///
/// `send_to` blocks if the socket's send buffer is full (the reactor drops the
/// reply instead); on loopback that does not happen in practice.
///
/// Like the reactor, it never answers one of this server's own UDP ports on
/// this host (`own`): a datagram forged from echo's own address would
/// otherwise make it answer itself forever. Then the per-source `guard`
/// (low ports, reply budget) decides, as in the reactor.
pub(super) fn serve(
    socket: UdpSocket,
    binding: Binding,
    guard: &SharedGuard,
    shared: Arc<Shared>,
    own: &OwnSockets,
) {
    let mut stats = Stats::default();
    if let Err(err) = socket.set_read_timeout(Some(UDP_POLL)) {
        log::warn!("{binding}: cannot set a read timeout, shutdown may wait for a datagram: {err}");
    }
    // 64 KiB holds any UDP payload (at most 65,507 bytes over IPv4).
    let mut buf = vec![0u8; READ_BUFFER];
    let mut out = Vec::new();
    loop {
        let received = socket.recv_from(&mut buf);
        if shared.stopping() {
            break;
        }
        let (n, peer) = match received {
            Ok(pair) => pair,
            Err(err) => {
                if !matches!(
                    err.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) {
                    log::debug!("{binding}: recv_from: {err}");
                }
                continue;
            }
        };
        stats.udp_in += 1;
        stats.bytes_in += n as u64;
        out.clear();
        if !binding
            .protocol
            .on_datagram(&buf[..n], SystemTime::now(), &mut out)
        {
            continue;
        }
        stats.messages += 1;
        if own.contains(peer) {
            stats.udp_own_port += 1;
            log::debug!("{binding}: no reply to {peer}: one of this server's own udp ports");
            continue;
        }
        if !guard.allow_reply(peer, out.len(), &mut stats) {
            continue; // a low source port, or over its budget: counted by the guard
        }
        match socket.send_to(&out, peer) {
            Ok(sent) => {
                stats.udp_out += 1;
                stats.bytes_out += sent as u64;
            }
            Err(err) => {
                stats.udp_dropped += 1;
                log::debug!(
                    "{binding}: reply of {} bytes to {peer} dropped: {err}",
                    out.len()
                );
            }
        }
    }
    shared.add(&stats);
}
