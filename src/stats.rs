//! The counters both servers keep and print as their shutdown summary.

use std::fmt;

/// What a server did, for the shutdown summary and for tests.
///
/// One type for both servers, so their summaries can be compared field by
/// field; a counter a design cannot meet stays 0 (the threaded baseline has no
/// per-source limits, the reactor spawns no threads).
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
    /// Connections closed unserved because no thread could be spawned for them
    /// (the threaded baseline only; always 0 for the reactor).
    pub spawn_failed: u64,
    /// UDP replies not sent because the source was one of the server's own
    /// UDP ports on this host (a reflection loop).
    pub udp_own_port: u64,
    /// Connections closed because their PROXY header was malformed, too long or too slow.
    pub proxy_header: u64,
    /// Times accepting paused because `--max-conns` connections were open.
    pub max_conns_reached: u64,
    /// Chat members dropped by the slow-reader rule for not reading (the
    /// reactor only: the threaded baseline serves no chat).
    pub chat_dropped: u64,
}

impl Stats {
    /// Adds `other` to these counters (the threaded server sums its threads' counts).
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
        self.refused_per_ip += other.refused_per_ip;
        self.refused_rate += other.refused_rate;
        self.udp_low_port += other.udp_low_port;
        self.udp_over_budget += other.udp_over_budget;
        self.spawn_failed += other.spawn_failed;
        self.udp_own_port += other.udp_own_port;
        self.proxy_header += other.proxy_header;
        self.max_conns_reached += other.max_conns_reached;
        self.chat_dropped += other.chat_dropped;
    }
}

impl fmt::Display for Stats {
    /// One `key=value` line, stable for scripts: new fields are only ever appended.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "connections={} idle_closed={} drain_aborted={} bytes_in={} bytes_out={} \
             messages={} udp_in={} udp_out={} udp_dropped={} accept_fd_exhausted={} \
             refused_per_ip={} refused_rate={} udp_low_port={} udp_over_budget={} \
             spawn_failed={} udp_own_port={} proxy_header={} max_conns_reached={} chat_dropped={}",
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
            self.spawn_failed,
            self.udp_own_port,
            self.proxy_header,
            self.max_conns_reached,
            self.chat_dropped,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_and_prints_every_counter_in_a_fixed_order() {
        let one = Stats {
            connections: 1,
            bytes_in: 5,
            spawn_failed: 1,
            chat_dropped: 3,
            ..Stats::default()
        };
        let mut total = one;
        total.add(&one);
        assert_eq!(
            total.to_string(),
            "connections=2 idle_closed=0 drain_aborted=0 bytes_in=10 bytes_out=0 messages=0 \
             udp_in=0 udp_out=0 udp_dropped=0 accept_fd_exhausted=0 refused_per_ip=0 \
             refused_rate=0 udp_low_port=0 udp_over_budget=0 spawn_failed=2 udp_own_port=0 \
             proxy_header=0 max_conns_reached=0 chat_dropped=6"
        );
    }
}
