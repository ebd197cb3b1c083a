//! UDP: one thread per socket, answering each datagram in turn.

use super::limits::SharedGuard;
use super::live::Shared;
use super::{Stats, READ_BUFFER};
use crate::config::Binding;
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
pub(super) fn serve(socket: UdpSocket, binding: Binding, guard: &SharedGuard, shared: Arc<Shared>) {
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
