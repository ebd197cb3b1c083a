//! What to serve and within which limits: shared by the reactor and the threaded baseline.
//!
//! A [`ServerConfig`] is plain data. The CLI builds one from flags, tests build
//! one by hand with port 0, and both servers take the same value, so a
//! comparison between them compares designs and not settings.

use crate::protocol::{Framing, Protocol};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

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
        let addr = addr.parse::<SocketAddr>().map_err(|_| {
            format!("invalid address '{addr}' in '{spec}' (expected IP:PORT, e.g. 127.0.0.1:7007 or [::1]:7007)")
        })?;
        Ok(Binding {
            transport,
            protocol,
            addr,
        })
    }

    /// The bindings served when none are given: every protocol on TCP and UDP, on loopback.
    pub fn defaults() -> Vec<Binding> {
        let mut bindings = Vec::new();
        for protocol in Protocol::ALL {
            for transport in [Transport::Tcp, Transport::Udp] {
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

/// The port each protocol uses by default (7007 echo, 7013 timestamp, 9999 hello: the seeds' port).
pub fn default_port(protocol: Protocol) -> u16 {
    match protocol {
        Protocol::Echo => 7007,
        Protocol::Timestamp => 7013,
        Protocol::Hello => 9999,
    }
}

impl fmt::Display for Binding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.transport, self.protocol, self.addr)
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
            // turns them on with the defaults in `cli.rs`.
            max_conns_per_ip: 0,
            conn_rate_per_ip: 0,
            udp_allow_low_ports: false,
            udp_budget: 0,
            udp_window: Duration::from_secs(600),
        }
    }
}

/// Everything a server needs to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// The sockets to open.
    pub bindings: Vec<Binding>,
    /// How TCP streams of the line protocols are cut into messages.
    pub framing: Framing,
    /// Resource limits.
    pub limits: Limits,
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
    fn defaults_cover_every_protocol_on_both_transports() {
        let all = Binding::defaults();
        assert_eq!(all.len(), 6);
        assert!(all.iter().all(|b| b.addr.ip().is_loopback()));
        assert_eq!(all[4].to_string(), "tcp hello 127.0.0.1:9999");
    }
}
