//! The `bench` command line, turned into a [`BenchConfig`].
//!
//! Kept here rather than in `cli/` so the load generator is one module that
//! `cli/` only names. Flags that do not apply to a scenario are accepted and
//! ignored, so one command line can be reused across scenarios.

use super::config::{BenchConfig, Scenario};
use super::error::BenchError;
use crate::protocol::Protocol;
use clap::Args;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

/// `reactord bench <SCENARIO> [OPTIONS] ADDR`: load a server and verify every reply.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// The load pattern.
    #[arg(value_enum)]
    pub scenario: Scenario,
    /// The server, e.g. 127.0.0.1:7007 or localhost:7007.
    #[arg(value_name = "ADDR")]
    pub addr: String,
    /// Connections (UDP: sockets) [default: hold 100, udp 1, others 10].
    #[arg(long, value_name = "N")]
    pub conns: Option<usize>,
    /// Message body in bytes, newline not counted [default: echo and udp 64, others 16].
    #[arg(long, value_name = "BYTES")]
    pub size: Option<usize>,
    /// Requests in flight per connection (echo, lines).
    #[arg(long, value_name = "K", default_value_t = 1)]
    pub pipeline: usize,
    /// Event loops, one OS thread each; connections are split among them.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub threads: usize,
    /// Seconds of the measurement window, which opens once every connection is up and the warm-up is over (hold: seconds to hold the connections idle).
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    pub duration: f64,
    /// Seconds of traffic after the ramp that are not measured.
    #[arg(long, value_name = "SECS", default_value_t = 0.0)]
    pub warmup: f64,
    /// Open loop (echo, lines): this many requests per second in all, latency from each one's scheduled time.
    #[arg(long, value_name = "R")]
    pub rate: Option<f64>,
    /// Exit 0 even when operations failed (for attack scenarios, where failures are the point).
    #[arg(long)]
    pub allow_errors: bool,
    /// Stop after this many requests in all (echo, lines, churn, udp).
    #[arg(long, value_name = "N")]
    pub requests: Option<u64>,
    /// The server's protocol: hello or timestamp for lines; any for udp [default: lines hello, others echo].
    #[arg(long, value_name = "PROTO")]
    pub protocol: Option<Protocol>,
    /// Spread source addresses over 127.0.0.1..=127.0.0.K (more than ~28k connections, or churn past ~14k connects/s, need K > 1).
    #[arg(long, value_name = "K", default_value_t = 1)]
    pub sources: usize,
    /// hold: connections verified again after the idle period.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub sample: usize,
    /// A connect, greeting or reply stalled this long is a timeout, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    pub timeout_ms: u64,
    /// udp: a datagram unanswered this long is lost, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 200)]
    pub loss_timeout_ms: u64,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
}

impl BenchArgs {
    /// The configuration these flags describe, checked.
    pub fn config(&self) -> Result<BenchConfig, BenchError> {
        let addr = resolve(&self.addr)?;
        let mut config = BenchConfig::new(self.scenario, addr);
        if let Some(conns) = self.conns {
            config.conns = conns;
        }
        if let Some(size) = self.size {
            config.size = size;
        }
        if let Some(protocol) = self.protocol {
            config.protocol = protocol;
        }
        if !(self.duration.is_finite() && self.duration > 0.0 && self.duration <= 86_400.0) {
            return Err(BenchError::Invalid(format!(
                "--duration {} is not a number of seconds above 0 and at most 86400",
                self.duration
            )));
        }
        if !(self.warmup.is_finite() && (0.0..=3600.0).contains(&self.warmup)) {
            return Err(BenchError::Invalid(format!(
                "--warmup {} is not a number of seconds from 0 to 3600",
                self.warmup
            )));
        }
        config.warmup = Duration::from_secs_f64(self.warmup);
        config.rate = self.rate;
        config.pipeline = self.pipeline;
        config.threads = self.threads;
        config.duration = Duration::from_secs_f64(self.duration);
        config.requests = self.requests;
        config.sources = self.sources;
        config.sample = self.sample;
        config.timeout = Duration::from_millis(self.timeout_ms);
        config.loss_timeout = Duration::from_millis(self.loss_timeout_ms);
        // JSON goes to stdout; the progress line to stderr, so both can be on.
        config.progress = true;
        config.validate()?;
        Ok(config)
    }
}

/// Parses `ADDR` as an address, or resolves `host:port`, preferring the first answer.
fn resolve(text: &str) -> Result<SocketAddr, BenchError> {
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    let mut addrs = text
        .to_socket_addrs()
        .map_err(|err| BenchError::BadAddress(format!("'{text}': {err} (expected HOST:PORT)")))?;
    addrs
        .next()
        .ok_or_else(|| BenchError::BadAddress(format!("'{text}' resolves to no address")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: BenchArgs,
    }

    fn config(line: &[&str]) -> Result<BenchConfig, String> {
        let wrapper = Wrapper::try_parse_from(std::iter::once("bench").chain(line.iter().copied()))
            .map_err(|e| e.to_string())?;
        wrapper.args.config().map_err(|e| e.to_string())
    }

    #[test]
    fn flags_land_in_the_config() {
        let c = config(&[
            "lines",
            "127.0.0.1:9",
            "--protocol",
            "timestamp",
            "--conns",
            "3",
            "--requests",
            "7",
        ])
        .unwrap();
        assert_eq!(c.scenario, Scenario::Lines);
        assert_eq!(c.protocol, Protocol::Timestamp);
        assert_eq!((c.conns, c.requests), (3, Some(7)));
        assert_eq!(c.size, 16);
    }

    #[test]
    fn bad_input_is_a_clear_message() {
        assert!(config(&["echo", "nowhere"])
            .unwrap_err()
            .contains("bad address: 'nowhere'"));
        assert!(config(&["echo", "127.0.0.1:9", "--conns", "0"])
            .unwrap_err()
            .contains("--conns must be at least 1"));
        assert!(config(&["echo", "127.0.0.1:9", "--size", "0"])
            .unwrap_err()
            .contains("--size"));
        assert!(config(&["echo", "127.0.0.1:9", "--duration", "0"])
            .unwrap_err()
            .contains("--duration"));
        assert!(config(&["echo", "127.0.0.1:9", "--protocol", "gopher"])
            .unwrap_err()
            .contains("unknown protocol"));
        assert!(config(&["flood", "127.0.0.1:9"]).is_err());
    }
}
