//! Refusals made visible at the default log level, without flooding the log.
//!
//! A server that silently resets hundreds of connections looks healthy to its
//! operator. Every refusal is counted in [`Stats`]; once per loop turn this
//! module compares those counters with what it last reported and, for each
//! reason that grew, writes one `warn` line with the word `refused`, the
//! reason, and the count since the previous line for that reason. A reason is
//! reported at most once per [`EVERY`]; a count left pending (no refusal came
//! afterwards to trigger a line) is written when its second is up, because
//! [`Refusals::deadline`] becomes part of the poll timeout.
//!
//! Reading the counters instead of hooking every refusal site keeps this in
//! one place: the guard, the acceptor and the UDP path only count.

use super::Stats;
use std::time::{Duration, Instant};

/// At most one line per reason per this long.
pub(super) const EVERY: Duration = Duration::from_secs(1);

/// A reason's metric label, its counter, and what an operator should read.
type Reason = (&'static str, fn(&Stats) -> u64, &'static str);

/// Every refusal reason.
const REASONS: [Reason; 8] = [
    (
        "per_source",
        |s| s.refused_per_ip,
        "connections: source at --max-conns-per-ip",
    ),
    (
        "rate",
        |s| s.refused_rate,
        "connections: source over --conn-rate-per-ip",
    ),
    (
        "max_conns",
        |s| s.max_conns_reached,
        "times: at --max-conns, accepting paused (new clients wait in the backlog)",
    ),
    (
        "fd_exhausted",
        |s| s.accept_fd_exhausted,
        "accepts: out of file descriptors (EMFILE/ENFILE)",
    ),
    (
        "udp_low_port",
        |s| s.udp_low_port,
        "UDP replies: source port below 1024 (--udp-allow-low-ports)",
    ),
    (
        "udp_budget",
        |s| s.udp_over_budget,
        "UDP replies: source over --udp-budget",
    ),
    (
        "udp_own_port",
        |s| s.udp_own_port,
        "UDP replies: source is one of this server's own UDP ports (a reflection loop)",
    ),
    (
        "proxy_header",
        |s| s.proxy_header,
        "connections: bad, oversized or slow PROXY header",
    ),
];

/// The metric label and counter of every refusal reason, for the metrics endpoint.
pub(super) fn by_reason(stats: &Stats) -> impl Iterator<Item = (&'static str, u64)> + '_ {
    REASONS
        .iter()
        .map(move |(label, count, _)| (*label, count(stats)))
}

/// What was last reported per reason.
#[derive(Debug, Default)]
pub(super) struct Refusals {
    reported: [u64; REASONS.len()],
    last_line: [Option<Instant>; REASONS.len()],
}

impl Refusals {
    /// Writes a line for each reason whose count grew and whose second is up.
    pub(super) fn report(&mut self, stats: &Stats, now: Instant) {
        for (index, (label, count, what)) in REASONS.iter().enumerate() {
            let total = count(stats);
            let new = total.saturating_sub(self.reported[index]);
            if new == 0 {
                continue;
            }
            if self.last_line[index].is_some_and(|at| now.duration_since(at) < EVERY) {
                continue; // Pending: `deadline` brings the loop back for it.
            }
            log::warn!("refused {new} {what} [reason={label}, total {total}]");
            self.reported[index] = total;
            self.last_line[index] = Some(now);
        }
    }

    /// When a pending count is due to be written, if one is pending.
    pub(super) fn deadline(&self, stats: &Stats) -> Option<Instant> {
        REASONS
            .iter()
            .enumerate()
            .filter(|(index, (_, count, _))| count(stats) > self.reported[*index])
            .filter_map(|(index, _)| self.last_line[index].map(|at| at + EVERY))
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_second_and_pending_counts_come_due() {
        let start = Instant::now();
        let mut refusals = Refusals::default();
        let mut stats = Stats {
            refused_rate: 3,
            ..Stats::default()
        };
        refusals.report(&stats, start);
        assert_eq!(
            refusals.reported[1], 3,
            "the first refusal is written at once"
        );
        assert_eq!(refusals.deadline(&stats), None);
        stats.refused_rate = 10;
        refusals.report(&stats, start + Duration::from_millis(10));
        assert_eq!(refusals.reported[1], 3, "held back within the second");
        assert_eq!(refusals.deadline(&stats), Some(start + EVERY));
        refusals.report(&stats, start + EVERY);
        assert_eq!(refusals.reported[1], 10);
        assert_eq!(refusals.deadline(&stats), None);
    }

    #[test]
    fn every_reason_has_a_label() {
        let labels: Vec<_> = by_reason(&Stats::default()).map(|(l, _)| l).collect();
        assert!(labels.contains(&"proxy_header") && labels.contains(&"per_source"));
    }
}
