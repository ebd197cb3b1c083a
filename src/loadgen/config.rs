//! What to run: a [`BenchConfig`] is plain data, built by `bench` flags or by hand.
//!
//! `compare` builds these directly, so every check on the values lives in
//! [`BenchConfig::validate`], which [`run`](super::run) calls first: a bad
//! configuration is a clear [`BenchError`], never a panic in a worker thread.

use super::error::BenchError;
use crate::protocol::Protocol;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// The load patterns the generator knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// TCP echo ping-pong: `pipeline` messages of `size` bytes in flight per connection.
    Echo,
    /// TCP line protocol (hello or timestamp): greeting, then lines checked by shape.
    ///
    /// The server must use line framing (its default): replies are found by length.
    Lines,
    /// Open `conns` connections, verify each once, hold them idle, verify a sample, close.
    Hold,
    /// Connect, one echo round trip, close; `conns` of these in parallel.
    Churn,
    /// UDP datagram ping-pong, one datagram in flight per socket.
    Udp,
}

impl Scenario {
    /// The name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Echo => "echo",
            Scenario::Lines => "lines",
            Scenario::Hold => "hold",
            Scenario::Churn => "churn",
            Scenario::Udp => "udp",
        }
    }
}

/// Everything one benchmark run needs.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// The load pattern.
    pub scenario: Scenario,
    /// The server under test.
    pub addr: SocketAddr,
    /// The protocol the server speaks at `addr` (echo for echo, hold and churn).
    pub protocol: Protocol,
    /// Connections (TCP) or sockets (UDP), split among the threads.
    pub conns: usize,
    /// Bytes per message, not counting the newline that line protocols add.
    pub size: usize,
    /// Messages in flight per connection (echo and lines).
    pub pipeline: usize,
    /// Event loops, each an OS thread with its own `mio::Poll`.
    pub threads: usize,
    /// How long the measurement window stays open (for `hold`: how long to hold the connections idle).
    pub duration: Duration,
    /// Traffic before the window opens, not measured (after the ramp: every connection is up).
    pub warmup: Duration,
    /// Open-loop mode (echo, lines): requests per second in all, on a schedule; `None`: closed loop.
    pub rate: Option<f64>,
    /// Stop after this many operations in all, if reached before `duration`.
    pub requests: Option<u64>,
    /// Spread source addresses over 127.0.0.1 ..= 127.0.0.K (1: let the kernel choose).
    pub sources: usize,
    /// `hold`: connections verified again after the idle period.
    pub sample: usize,
    /// A connect, greeting or reply that makes no progress for this long is a timeout.
    pub timeout: Duration,
    /// `udp`: a datagram not answered within this long is counted as lost.
    pub loss_timeout: Duration,
    /// Show progress on stderr (only when it is a terminal and the run is longer than 2 s).
    pub progress: bool,
}

impl BenchConfig {
    /// A configuration with the defaults for `scenario` against `addr`.
    pub fn new(scenario: Scenario, addr: SocketAddr) -> BenchConfig {
        BenchConfig {
            scenario,
            addr,
            protocol: match scenario {
                Scenario::Lines => Protocol::Hello,
                _ => Protocol::Echo,
            },
            conns: match scenario {
                Scenario::Hold => 100,
                Scenario::Udp => 1,
                _ => 10,
            },
            size: match scenario {
                Scenario::Echo | Scenario::Udp => 64,
                _ => 16,
            },
            pipeline: 1,
            threads: 1,
            duration: Duration::from_secs(5),
            warmup: Duration::ZERO,
            rate: None,
            requests: None,
            sources: 1,
            sample: 100,
            timeout: Duration::from_secs(5),
            loss_timeout: Duration::from_millis(200),
            progress: false,
        }
    }

    /// Checks every value and every combination; the message names the culprit.
    pub fn validate(&self) -> Result<(), BenchError> {
        let invalid = |why: String| Err(BenchError::Invalid(why));
        for (name, value) in [
            ("--conns", self.conns),
            ("--size", self.size),
            ("--pipeline", self.pipeline),
            ("--threads", self.threads),
            ("--sources", self.sources),
        ] {
            if value == 0 {
                return invalid(format!("{name} must be at least 1"));
            }
        }
        if self.size > MAX_SIZE {
            return invalid(format!("--size {} is above {MAX_SIZE} bytes", self.size));
        }
        if self.pipeline > MAX_PIPELINE {
            return invalid(format!(
                "--pipeline {} is above {MAX_PIPELINE}",
                self.pipeline
            ));
        }
        if self.size.saturating_add(1).saturating_mul(self.pipeline) > MAX_IN_FLIGHT_BYTES {
            return invalid(format!(
                "--size {} x --pipeline {} is above {} MiB in flight per connection",
                self.size,
                self.pipeline,
                MAX_IN_FLIGHT_BYTES >> 20
            ));
        }
        if let Some(rate) = self.rate {
            if !(rate.is_finite() && rate > 0.0 && rate <= MAX_RATE) {
                return invalid(format!(
                    "--rate {rate} is not a number of requests per second above 0 and at most {MAX_RATE}"
                ));
            }
            if !matches!(self.scenario, Scenario::Echo | Scenario::Lines) {
                return invalid("--rate applies to echo and lines only".into());
            }
        }
        if self.threads > MAX_THREADS {
            return invalid(format!("--threads {} is above {MAX_THREADS}", self.threads));
        }
        if self.requests == Some(0) {
            return invalid("--requests must be at least 1".into());
        }
        if self.duration.is_zero() || self.timeout.is_zero() || self.loss_timeout.is_zero() {
            return invalid("--duration and the timeouts must be above zero".into());
        }
        if self.addr.port() == 0 {
            return invalid(format!("{}: port 0 cannot be connected to", self.addr));
        }
        if !SUPPORTED.contains(&self.protocol) {
            let names: Vec<&str> = SUPPORTED.iter().map(|p| p.name()).collect();
            return invalid(format!(
                "bench speaks {}, not {}",
                names.join(", "),
                self.protocol
            ));
        }
        match (self.scenario, self.protocol) {
            (Scenario::Lines, Protocol::Echo) => {
                return invalid("lines needs --protocol hello or timestamp".into())
            }
            (Scenario::Echo | Scenario::Hold | Scenario::Churn, p) if p != Protocol::Echo => {
                return invalid(format!(
                    "{} speaks echo only, not {p}",
                    self.scenario.name()
                ))
            }
            _ => {}
        }
        if self.scenario == Scenario::Udp && self.size > MAX_DATAGRAM {
            return invalid(format!("udp --size is at most {MAX_DATAGRAM} bytes"));
        }
        if self.sources > 1 {
            if self.sources > 254 {
                return invalid("--sources is at most 254 (127.0.0.1 ..= 127.0.0.254)".into());
            }
            if !matches!(self.addr.ip(), IpAddr::V4(ip) if ip.is_loopback()) {
                return invalid("--sources above 1 needs an IPv4 loopback target".into());
            }
            if self.scenario == Scenario::Udp {
                return invalid("--sources applies to TCP scenarios only".into());
            }
        }
        Ok(())
    }

    /// The source address for the `index`-th connection, if sources are spread.
    pub(crate) fn source(&self, index: usize) -> Option<SocketAddr> {
        (self.sources > 1).then(|| {
            let host = 1 + (index % self.sources) as u8;
            SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, host)), 0)
        })
    }
}

/// The protocols the generator can check replies of.
pub const SUPPORTED: [Protocol; 3] = [Protocol::Echo, Protocol::Hello, Protocol::Timestamp];

/// Largest message: big enough for any benchmark, small enough to catch a typo.
pub const MAX_SIZE: usize = 16 << 20;
/// Largest UDP payload we send (fits an IPv4 datagram with room for a reply prefix).
pub const MAX_DATAGRAM: usize = 65_000;
/// Most messages in flight per connection.
pub const MAX_PIPELINE: usize = 1024;
/// Most request bytes one connection may have in flight (size x pipeline): each
/// loop builds a connection's requests in one buffer this large at most.
pub const MAX_IN_FLIGHT_BYTES: usize = 64 << 20;
/// Highest `--rate`, in requests per second.
pub const MAX_RATE: f64 = 100_000_000.0;
/// Most event-loop threads.
pub const MAX_THREADS: usize = 256;

#[cfg(test)]
mod tests {
    use super::*;

    fn config(scenario: Scenario) -> BenchConfig {
        BenchConfig::new(scenario, "127.0.0.1:7".parse().unwrap())
    }

    #[test]
    fn defaults_are_valid() {
        for scenario in [
            Scenario::Echo,
            Scenario::Lines,
            Scenario::Hold,
            Scenario::Churn,
            Scenario::Udp,
        ] {
            config(scenario).validate().unwrap();
        }
    }

    #[test]
    fn zeros_and_mismatched_protocols_are_named() {
        let mut c = config(Scenario::Echo);
        c.conns = 0;
        assert!(c.validate().unwrap_err().to_string().contains("--conns"));
        let mut c = config(Scenario::Lines);
        c.protocol = Protocol::Echo;
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("hello or timestamp"));
        let mut c = config(Scenario::Hold);
        c.addr = "[::1]:7".parse().unwrap();
        c.sources = 4;
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("IPv4 loopback"));
    }

    #[test]
    fn size_times_pipeline_and_rate_are_bounded() {
        let mut c = config(Scenario::Echo);
        c.size = MAX_SIZE;
        c.pipeline = MAX_PIPELINE;
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("x --pipeline"));
        c.pipeline = 3;
        c.validate().unwrap();
        c.rate = Some(f64::NAN);
        assert!(c.validate().unwrap_err().to_string().contains("--rate"));
        c.rate = Some(1000.0);
        c.validate().unwrap();
        let mut c = config(Scenario::Hold);
        c.rate = Some(1000.0);
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("echo and lines"));
    }

    #[test]
    fn sources_cycle_over_loopback_hosts() {
        let mut c = config(Scenario::Hold);
        assert_eq!(c.source(5), None);
        c.sources = 3;
        assert_eq!(c.source(0), Some("127.0.0.1:0".parse().unwrap()));
        assert_eq!(c.source(4), Some("127.0.0.2:0".parse().unwrap()));
    }
}
