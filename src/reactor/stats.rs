//! Counters the loop keeps and prints as its shutdown summary.

use std::fmt;

/// What a server did, for the shutdown summary and for tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// TCP connections accepted.
    pub connections: u64,
    /// TCP connections closed because they were silent too long.
    pub idle_closed: u64,
    /// TCP connections whose replies were not all delivered when the drain timeout ran out.
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
    /// UDP replies dropped because the socket's send buffer was full.
    pub udp_dropped: u64,
    /// Times `accept` failed for lack of file descriptors (EMFILE/ENFILE).
    pub accept_fd_exhausted: u64,
    /// Connections refused because their source was at `--max-conns-per-ip`.
    pub refused_per_ip: u64,
    /// Connections refused because their source was over `--conn-rate-per-ip`.
    pub refused_rate: u64,
    /// UDP replies not sent because the source port was below 1024.
    pub udp_low_port: u64,
    /// UDP replies not sent because the source had spent its `--udp-budget`.
    pub udp_over_budget: u64,
}

impl fmt::Display for Stats {
    /// One `key=value` line, stable for scripts: new fields are only ever appended.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "connections={} idle_closed={} drain_aborted={} bytes_in={} bytes_out={} \
             messages={} udp_in={} udp_out={} udp_dropped={} accept_fd_exhausted={} \
             refused_per_ip={} refused_rate={} udp_low_port={} udp_over_budget={}",
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
            self.refused_per_ip,
            self.refused_rate,
            self.udp_low_port,
            self.udp_over_budget,
        )
    }
}

/// A live view of a running reactor's counters, readable from any thread.
///
/// The loop owns plain counters and copies them here once per turn (one uncontended
/// lock and a copy of a few words), so observing a server costs it next to nothing.
#[derive(Debug, Clone, Default)]
pub struct StatsHandle {
    shared: std::sync::Arc<std::sync::Mutex<Stats>>,
}

impl StatsHandle {
    /// The counters as of the loop's last turn.
    pub fn snapshot(&self) -> Stats {
        *self
            .shared
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Called by the loop once per turn.
    pub(super) fn publish(&self, stats: &Stats) {
        *self
            .shared
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = *stats;
    }
}
