//! Abuse controls: what one source address may take from the server.
//!
//! - **TCP, per source:** at most `max_conns_per_ip` connections open at once,
//!   and new connections at most `conn_rate_per_ip` per second (a token bucket
//!   holding one second's worth, so short bursts pass). A refused connection is
//!   reset at once (SO_LINGER 0: no TIME_WAIT left behind) and counted.
//! - **UDP, per source:** no reply to ports below 1024 unless allowed (an
//!   echo reply aimed at a chargen or another echo server is the classic
//!   reflection loop that inetd's `check_loop` breaks), and at most
//!   `udp_budget` reply bytes per `udp_window`, so the server cannot be used
//!   to amplify a flood of spoofed requests at a victim. Each reply costs at
//!   least its IP and UDP headers (28 bytes over IPv4, 48 over IPv6), so
//!   empty replies are not free. Replies past either rule are dropped and counted.
//! - **UDP, our own ports:** no reply to a source that is one of this
//!   server's UDP ports on an address of this host (see `own.rs`): a spoofed
//!   datagram from the server's own address would otherwise start a loop.
//!
//! **Loopback is exempt by default.** Every client on 127.0.0.0/8 or `::1`
//! is this machine: the limits protect an open port from strangers, and on
//! loopback they would only break local tests and benchmarks (1,000
//! connections from one benchmark would meet 744 resets). `--limit-loopback`
//! (`Limits::limit_loopback`) applies them to loopback too. The low-port UDP
//! rule is not a per-source limit: it holds for every source.
//!
//! **No source takes every slot.** The per-source connection cap is at most a
//! quarter of `--max-conns` ([`Limits::effective_max_conns_per_ip`]): with a
//! low open-file limit, `--max-conns` can fall below `--max-conns-per-ip`, and
//! one address could otherwise hold every slot until its connections idle out.
//!
//! A source is an IPv4 address, or an IPv6 /64 (one subscriber usually owns a
//! whole /64, so counting single IPv6 addresses would be no limit at all).
//!
//! Memory stays bounded whatever the attacker does. Open-connection counts
//! exist only for sources with open connections (at most `--max-conns`). Rate
//! buckets live in a fixed-size table that evicts its oldest entry: a flood
//! of spoofed sources cannot grow it, at the price that an evicted source
//! starts afresh. UDP budgets live in a fixed-size table that never forgets a
//! source over budget before its window ends (see `budget.rs`).
//!
//! Refusals are logged at debug level, at most one line per second, with the
//! number of refusals not logged since.

mod budget;
mod own;

pub use own::OwnSockets;

use super::stats::Stats;
use crate::config::Limits;
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// Entries in each of the rate and UDP budget tables (a few hundred KiB at most).
pub const TABLE_SIZE: usize = 4096;
/// At most one refusal is logged per this long.
const LOG_EVERY: Duration = Duration::from_secs(1);

/// The unit limits are counted in: an IPv4 address or an IPv6 /64, as one number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Source(u128);

impl Source {
    /// The source `ip` belongs to; IPv4-mapped IPv6 addresses count as IPv4.
    pub fn of(ip: IpAddr) -> Source {
        let v6 = match ip {
            IpAddr::V4(v4) => return Source(u128::from(v4.to_ipv6_mapped())),
            IpAddr::V6(v6) => v6,
        };
        match v6.to_ipv4_mapped() {
            Some(v4) => Source(u128::from(v4.to_ipv6_mapped())),
            None => Source(u128::from(v6) & !(u128::from(u64::MAX))),
        }
    }
}

/// A map of at most `capacity` entries that forgets the oldest inserted first.
#[derive(Debug)]
pub struct BoundedTable<K, V> {
    map: HashMap<K, V>,
    order: VecDeque<K>,
    capacity: usize,
}

impl<K: Copy + Eq + Hash, V> BoundedTable<K, V> {
    /// An empty table that will hold at most `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        BoundedTable {
            map: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// The entry for `key`, made with `make` (evicting the oldest entry if full).
    pub fn entry(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        if !self.map.contains_key(&key) {
            while self.map.len() >= self.capacity {
                match self.order.pop_front() {
                    Some(oldest) => self.map.remove(&oldest),
                    None => break,
                };
            }
            self.order.push_back(key);
        }
        self.map.entry(key).or_insert_with(make)
    }
}

/// Whether `ip` is this machine's loopback: 127.0.0.0/8, `::1`, or IPv4-mapped 127.0.0.0/8.
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// New connections a source may still open now, refilled at the configured rate.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Says "refused" in the debug log at most once per [`LOG_EVERY`].
#[derive(Debug, Default)]
struct LogLimiter {
    last: Option<Instant>,
    suppressed: u64,
}

impl LogLimiter {
    fn refused(&mut self, now: Instant, what: std::fmt::Arguments<'_>) {
        if self
            .last
            .is_some_and(|at| now.duration_since(at) < LOG_EVERY)
        {
            self.suppressed += 1;
            return;
        }
        log::debug!(
            "{what} (refusals not logged in the last second: {})",
            self.suppressed
        );
        self.last = Some(now);
        self.suppressed = 0;
    }
}

/// Per-source limits on TCP connections and UDP replies.
#[derive(Debug)]
pub struct Guard {
    limits: Limits,
    open: HashMap<Source, usize>,
    buckets: BoundedTable<Source, Bucket>,
    budgets: budget::Budgets,
    /// Our own UDP ports: never answered (reflection loops).
    own: OwnSockets,
    log: LogLimiter,
}

impl Guard {
    /// A guard enforcing the per-source parts of `limits`.
    pub fn new(limits: &Limits) -> Self {
        Guard {
            limits: *limits,
            open: HashMap::new(),
            buckets: BoundedTable::new(TABLE_SIZE),
            budgets: budget::Budgets::new(TABLE_SIZE),
            own: OwnSockets::default(),
            log: LogLimiter::default(),
        }
    }

    /// Tells the guard which UDP sockets are ours (this reactor's, and any sibling's).
    pub fn set_own_sockets(&mut self, own: OwnSockets) {
        self.own = own;
    }

    /// Whether the per-source limits skip `ip` (loopback, unless `limit_loopback`).
    fn exempt(&self, ip: IpAddr) -> bool {
        !self.limits.limit_loopback && is_loopback(ip)
    }

    /// Whether a connection from `peer` may be served; if so it is counted until [`release`](Self::release).
    pub fn admit(&mut self, peer: SocketAddr, now: Instant, stats: &mut Stats) -> bool {
        if self.exempt(peer.ip()) {
            return true;
        }
        let source = Source::of(peer.ip());
        let rate = f64::from(self.limits.conn_rate_per_ip);
        if rate > 0.0 {
            let bucket = self.buckets.entry(source, || Bucket {
                tokens: rate,
                updated: now,
            });
            let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
            bucket.tokens = (bucket.tokens + elapsed * rate).min(rate.max(1.0));
            bucket.updated = now;
            if bucket.tokens < 1.0 {
                stats.refused_rate += 1;
                let limit = self.limits.conn_rate_per_ip;
                self.log.refused(
                    now,
                    format_args!("refused {peer}: over --conn-rate-per-ip {limit}"),
                );
                return false;
            }
            bucket.tokens -= 1.0;
        }
        let open = self.open.entry(source).or_insert(0);
        let limit = self.limits.effective_max_conns_per_ip();
        if limit > 0 && *open >= limit {
            stats.refused_per_ip += 1;
            self.log.refused(
                now,
                format_args!(
                    "refused {peer}: at {limit} connections per source \
                     (--max-conns-per-ip, at most --max-conns / 4)"
                ),
            );
            return false;
        }
        *open += 1;
        true
    }

    /// A connection admitted from `peer` has closed.
    pub fn release(&mut self, peer: SocketAddr) {
        if self.exempt(peer.ip()) {
            return; // Never counted by `admit`.
        }
        let source = Source::of(peer.ip());
        if let Some(open) = self.open.get_mut(&source) {
            *open -= 1;
            if *open == 0 {
                self.open.remove(&source);
            }
        }
    }

    /// Whether a UDP reply of `len` bytes may go to `peer`; if so it is charged to its budget.
    pub fn allow_reply(
        &mut self,
        peer: SocketAddr,
        len: usize,
        now: Instant,
        stats: &mut Stats,
    ) -> bool {
        if peer.port() < 1024 && !self.limits.udp_allow_low_ports {
            stats.udp_low_port += 1;
            self.log.refused(
                now,
                format_args!("no udp reply to {peer}: source port below 1024"),
            );
            return false;
        }
        if self.own.contains(peer) {
            stats.udp_own_port += 1;
            self.log.refused(
                now,
                format_args!("no udp reply to {peer}: one of this server's own udp ports"),
            );
            return false;
        }
        let limit = self.limits.udp_budget;
        if limit == 0 || self.exempt(peer.ip()) {
            return true;
        }
        let window = self.limits.udp_window;
        let cost = len as u64 + udp_overhead(peer);
        match self
            .budgets
            .charge(Source::of(peer.ip()), cost, limit, window, now)
        {
            budget::Verdict::Allowed => true,
            verdict => {
                stats.udp_over_budget += 1;
                let why = if verdict == budget::Verdict::TableFull {
                    "budget table full of sources over budget"
                } else {
                    "over --udp-budget"
                };
                self.log.refused(
                    now,
                    format_args!("no udp reply to {peer}: {why} {limit} per {window:?}"),
                );
                false
            }
        }
    }

    /// Sources with open connections, rate buckets, UDP budgets: for tests of the bounds.
    #[cfg(test)]
    pub fn table_sizes(&self) -> (usize, usize, usize) {
        (self.open.len(), self.buckets.map.len(), self.budgets.len())
    }
}

/// Bytes a reply costs on the wire beyond its payload: IP and UDP headers.
fn udp_overhead(peer: SocketAddr) -> u64 {
    match peer.ip().to_canonical() {
        IpAddr::V4(_) => 20 + 8,
        IpAddr::V6(_) => 40 + 8,
    }
}

#[cfg(test)]
mod tests;
