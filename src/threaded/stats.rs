//! Counters each thread keeps privately and adds to the totals when it ends.

use std::fmt;

/// What the threaded server did, for the shutdown summary and for tests.
///
/// The same counters, in the same `key=value` summary, as the reactor's, plus
/// `spawn_failed`, which only a thread-per-connection server can meet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// TCP connections accepted and admitted under `max_conns`.
    pub connections: u64,
    /// TCP connections closed because they were silent (or did not read) too long.
    pub idle_closed: u64,
    /// TCP connections still open when the drain timeout ran out.
    pub drain_aborted: u64,
    /// Bytes received over TCP and UDP.
    pub bytes_in: u64,
    /// Bytes sent over TCP and UDP.
    pub bytes_out: u64,
    /// Messages answered: lines, raw chunks, echo reads, datagrams.
    pub messages: u64,
    /// UDP datagrams received.
    pub udp_in: u64,
    /// UDP replies sent.
    pub udp_out: u64,
    /// UDP replies the kernel refused to send (for example, too large for a datagram).
    pub udp_dropped: u64,
    /// Times `accept` failed for lack of file descriptors (EMFILE/ENFILE).
    pub accept_fd_exhausted: u64,
    /// Connections closed unserved because no thread could be spawned for them.
    pub spawn_failed: u64,
}

impl Stats {
    /// Adds `other` to these counters.
    pub fn add(&mut self, other: &Stats) {
        self.connections += other.connections;
        self.idle_closed += other.idle_closed;
        self.drain_aborted += other.drain_aborted;
        self.bytes_in += other.bytes_in;
        self.bytes_out += other.bytes_out;
        self.messages += other.messages;
        self.udp_in += other.udp_in;
        self.udp_out += other.udp_out;
        self.udp_dropped += other.udp_dropped;
        self.accept_fd_exhausted += other.accept_fd_exhausted;
        self.spawn_failed += other.spawn_failed;
    }
}

impl fmt::Display for Stats {
    /// One `key=value` line, stable for scripts.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "connections={} idle_closed={} drain_aborted={} bytes_in={} bytes_out={} \
             messages={} udp_in={} udp_out={} udp_dropped={} accept_fd_exhausted={} \
             spawn_failed={}",
            self.connections,
            self.idle_closed,
            self.drain_aborted,
            self.bytes_in,
            self.bytes_out,
            self.messages,
            self.udp_in,
            self.udp_out,
            self.udp_dropped,
            self.accept_fd_exhausted,
            self.spawn_failed,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_and_prints_every_counter() {
        let one = Stats {
            connections: 1,
            bytes_in: 5,
            spawn_failed: 1,
            ..Stats::default()
        };
        let mut total = one;
        total.add(&one);
        assert_eq!(
            total.to_string(),
            "connections=2 idle_closed=0 drain_aborted=0 bytes_in=10 bytes_out=0 messages=0 \
             udp_in=0 udp_out=0 udp_dropped=0 accept_fd_exhausted=0 spawn_failed=2"
        );
    }
}
