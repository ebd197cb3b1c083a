//! What to serve and within which limits: shared by the reactor and the threaded baseline.
//!
//! A [`ServerConfig`] is plain data. The CLI builds one from flags, tests build
//! one by hand with port 0, and both servers take the same value, so a
//! comparison between them compares designs and not settings.

use crate::protocol::{Framing, Protocol};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The transport a binding listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// A TCP listener; each accepted connection gets its own session.
    Tcp,
    /// A UDP socket; each datagram is answered on its own.
    Udp,
}

impl Transport {
    /// `tcp` or `udp`, as printed in `listening` lines.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One socket to open: a protocol served over a transport at an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding {
    /// TCP or UDP.
    pub transport: Transport,
    /// What the socket speaks.
    pub protocol: Protocol,
    /// Where to bind; port 0 asks the kernel for a free port.
    pub addr: SocketAddr,
}

impl Binding {
    /// Parses the `PROTO=ADDR` form used by `--tcp` and `--udp`.
    pub fn parse(transport: Transport, spec: &str) -> Result<Binding, String> {
        let (name, addr) = spec
            .split_once('=')
            .ok_or_else(|| format!("'{spec}' is not PROTO=ADDR (e.g. echo=127.0.0.1:7007)"))?;
        let protocol = name.parse::<Protocol>().map_err(|e| e.to_string())?;
        if transport == Transport::Udp && protocol.is_stream_only() {
            return Err(format!("{protocol} works over TCP only, not UDP"));
        }
        let addr = addr.parse::<SocketAddr>().map_err(|_| {
            format!("invalid address '{addr}' in '{spec}' (expected IP:PORT, e.g. 127.0.0.1:7007 or [::1]:7007)")
        })?;
        Ok(Binding {
            transport,
            protocol,
            addr,
        })
    }

    /// The bindings served when none are given: every protocol on TCP and,
    /// where it makes sense, UDP, on loopback; files only `with_files`.
    pub fn defaults(with_files: bool) -> Vec<Binding> {
        let mut bindings = Vec::new();
        for protocol in Protocol::ALL {
            if protocol == Protocol::Files && !with_files {
                continue;
            }
            for transport in [Transport::Tcp, Transport::Udp] {
                if transport == Transport::Udp && protocol.is_stream_only() {
                    continue;
                }
                bindings.push(Binding {
                    transport,
                    protocol,
                    addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), default_port(protocol)),
                });
            }
        }
        bindings
    }
}

/// The port each protocol uses by default: 7000 plus the classic inetd port
/// where it is free (echo 7, discard 9, chargen 19, time 37), 9999 for hello
/// (the tutorials' port), and neighbours for the rest.
pub fn default_port(protocol: Protocol) -> u16 {
    match protocol {
        Protocol::Echo => 7007,
        Protocol::Discard => 7009,
        Protocol::Timestamp => 7013,
        Protocol::Daytime => 7014,
        Protocol::Chargen => 7019,
        Protocol::Files => 7020,
        Protocol::Time => 7037,
        Protocol::Chat => 7070,
        Protocol::Hello => 9999,
    }
}

impl fmt::Display for Binding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.transport, self.protocol, self.addr)
    }
}

/// A Unix domain socket to open: a protocol served at a filesystem path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixBinding {
    /// A datagram socket (`SOCK_DGRAM`) rather than a stream one.
    pub datagram: bool,
    /// What the socket speaks.
    pub protocol: Protocol,
    /// The socket file; a stale one left by a crashed run is replaced.
    pub path: PathBuf,
}

impl UnixBinding {
    /// Parses the `PROTO=PATH` form used by `--unix` and `--unixgram`.
    pub fn parse(datagram: bool, spec: &str) -> Result<UnixBinding, String> {
        let (name, path) = spec
            .split_once('=')
            .ok_or_else(|| format!("'{spec}' is not PROTO=PATH (e.g. echo=/tmp/echo.sock)"))?;
        let protocol = name.parse::<Protocol>().map_err(|e| e.to_string())?;
        if datagram && protocol.is_stream_only() {
            return Err(format!("{protocol} works over stream sockets only"));
        }
        if path.is_empty() {
            return Err(format!("empty path in '{spec}'"));
        }
        Ok(UnixBinding {
            datagram,
            protocol,
            path: PathBuf::from(path),
        })
    }

    /// `unix` or `unixgram`, as printed in `listening` lines.
    pub fn kind(&self) -> &'static str {
        if self.datagram {
            "unixgram"
        } else {
            "unix"
        }
    }
}

impl fmt::Display for UnixBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}",
            self.kind(),
            self.protocol,
            self.path.display()
        )
    }
}

/// The resource limits that keep one client from hurting the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest line accepted in line framing, without its terminator.
    pub max_line: usize,
    /// Output buffered for one connection above which the server stops reading from it.
    pub max_pending: usize,
    /// Connections served at once; at the cap new clients wait in the listen backlog.
    pub max_conns: usize,
    /// Silent connections are closed after this long; `None` disables the timer.
    pub idle_timeout: Option<Duration>,
    /// How long shutdown waits for pending replies to reach their clients.
    pub drain_timeout: Duration,
    /// Connections one source (IPv4 address, IPv6 /64) may hold open at once; 0: no limit.
    pub max_conns_per_ip: usize,
    /// New connections one source may open per second (bursts of one second's worth); 0: no limit.
    pub conn_rate_per_ip: u32,
    /// Whether UDP replies may go to source ports below 1024 (reflection loops).
    pub udp_allow_low_ports: bool,
    /// UDP reply bytes one source may receive per `udp_window`; 0: no limit.
    pub udp_budget: u64,
    /// The window over which `udp_budget` is counted.
    pub udp_window: Duration,
    /// Whether loopback clients (127.0.0.0/8, `::1`, v4-mapped loopback) are
    /// held to the per-source limits too. Off by default: on loopback every
    /// client is this machine, and the limits would only break local tests
    /// and benchmarks. Unix socket clients are never limited per source.
    pub limit_loopback: bool,
    /// `SO_SNDBUF` asked for on listeners and accepted stream sockets, in
    /// bytes (Linux doubles it for bookkeeping); `None` leaves the kernel's
    /// autotuning, which grows a send buffer to about 4 MiB per connection.
    pub sndbuf: Option<usize>,
    /// Bytes one connection may read, produce or discard per turn of the
    /// loop before it yields to the others: the fairness knob (see
    /// [`DEFAULT_TURN_BYTES`]). Not a command-line flag; `benches/fairness.rs`
    /// measures it.
    pub turn_bytes: usize,
}

/// `turn_bytes` unless configured. A quiet client's request waits for at
/// most a few such budgets of its busy neighbours' work; chosen by
/// measurement (`cargo bench --bench fairness`, docs/RELIABILITY.md): the
/// most bulk throughput with a sub-millisecond median for the quiet client.
pub const DEFAULT_TURN_BYTES: usize = 64 * 1024;

/// `SO_SNDBUF` unless configured: the kernel memory one connection's unsent
/// output may hold. Chosen by measurement, see docs/RELIABILITY.md.
pub const DEFAULT_SNDBUF: usize = 128 * 1024;

/// How far away a deadline that "never" comes is put: about 34 years.
const NEVER: Duration = Duration::from_secs(1 << 30);

/// `now + after`, or about 34 years from now when `after` is larger or the
/// sum would overflow the clock: a huge timeout means "never", not a panic.
pub fn saturating_deadline(now: Instant, after: Duration) -> Instant {
    now.checked_add(after.min(NEVER)).unwrap_or(now)
}

impl Limits {
    /// The per-source connection limit actually enforced: `max_conns_per_ip`,
    /// but never more than a quarter of `max_conns` (at least 1), so one
    /// address can never take every slot; 0 stays "no limit".
    pub fn effective_max_conns_per_ip(&self) -> usize {
        if self.max_conns_per_ip == 0 {
            return 0;
        }
        self.max_conns_per_ip.min((self.max_conns / 4).max(1))
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line: 8192,
            max_pending: 256 * 1024,
            max_conns: 1024,
            idle_timeout: Some(Duration::from_secs(300)),
            drain_timeout: Duration::from_secs(5),
            // Off in the library (tests, benchmarks from one address); the CLI
            // turns them on with the defaults in `cli/mod.rs`.
            max_conns_per_ip: 0,
            conn_rate_per_ip: 0,
            udp_allow_low_ports: false,
            udp_budget: 0,
            udp_window: Duration::from_secs(600),
            limit_loopback: false,
            sndbuf: Some(DEFAULT_SNDBUF),
            turn_bytes: DEFAULT_TURN_BYTES,
        }
    }
}

/// Everything a server needs to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// The TCP and UDP sockets to open.
    pub bindings: Vec<Binding>,
    /// The Unix domain sockets to open.
    pub unix_bindings: Vec<UnixBinding>,
    /// How TCP streams of the line protocols are cut into messages.
    pub framing: Framing,
    /// Resource limits.
    pub limits: Limits,
    /// The directory the files protocol serves from; required when it is bound.
    pub files_root: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proto_equals_addr() {
        let b = Binding::parse(Transport::Udp, "hello=[::1]:0").unwrap();
        assert_eq!(b.protocol, Protocol::Hello);
        assert_eq!(b.addr, "[::1]:0".parse().unwrap());
        assert_eq!(b.to_string(), "udp hello [::1]:0");
    }

    #[test]
    fn names_the_culprit() {
        let err = Binding::parse(Transport::Tcp, "echo").unwrap_err();
        assert!(err.contains("'echo' is not PROTO=ADDR"), "{err}");
        let err = Binding::parse(Transport::Tcp, "ech=127.0.0.1:1").unwrap_err();
        assert!(err.contains("unknown protocol 'ech'"), "{err}");
        let err = Binding::parse(Transport::Tcp, "echo=localhost").unwrap_err();
        assert!(err.contains("invalid address 'localhost'"), "{err}");
    }

    #[test]
    fn defaults_cover_every_protocol_where_it_makes_sense() {
        let all = Binding::defaults(false);
        // 7 protocols on TCP and UDP, chat on TCP only, files not without a root.
        assert_eq!(all.len(), 15);
        assert!(all.iter().all(|b| b.addr.ip().is_loopback()));
        assert_eq!(all[4].to_string(), "tcp hello 127.0.0.1:9999");
        let with_files = Binding::defaults(true);
        assert_eq!(with_files.len(), 16);
        assert_eq!(with_files[15].to_string(), "tcp files 127.0.0.1:7020");
    }

    #[test]
    fn parses_unix_bindings() {
        let b = UnixBinding::parse(true, "time=/tmp/t.sock").unwrap();
        assert_eq!(b.to_string(), "unixgram time /tmp/t.sock");
        assert!(UnixBinding::parse(true, "chat=/tmp/c.sock").is_err());
        assert!(UnixBinding::parse(false, "chat=").is_err());
    }

    #[test]
    fn huge_timeouts_mean_never_not_a_panic() {
        let now = Instant::now();
        let far = saturating_deadline(now, Duration::MAX);
        assert!(far >= now + Duration::from_secs(30 * 365 * 86_400));
        assert_eq!(
            saturating_deadline(now, Duration::from_secs(5)),
            now + Duration::from_secs(5)
        );
    }

    #[test]
    fn one_source_never_takes_more_than_a_quarter_of_the_slots() {
        let limits = |max_conns, max_conns_per_ip| Limits {
            max_conns,
            max_conns_per_ip,
            ..Limits::default()
        };
        assert_eq!(limits(1024, 256).effective_max_conns_per_ip(), 256);
        assert_eq!(limits(100, 256).effective_max_conns_per_ip(), 25);
        assert_eq!(limits(3, 256).effective_max_conns_per_ip(), 1);
        assert_eq!(limits(100, 0).effective_max_conns_per_ip(), 0);
    }

    #[test]
    fn stream_only_protocols_refuse_udp() {
        let err = Binding::parse(Transport::Udp, "chat=127.0.0.1:0").unwrap_err();
        assert_eq!(err, "chat works over TCP only, not UDP");
    }
}
