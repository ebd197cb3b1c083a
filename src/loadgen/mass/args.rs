//! The `reactord mass-hold` command line, checked into a [`MassConfig`].

use super::MassConfig;
use crate::loadgen::BenchError;
use clap::Args;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

/// `reactord mass-hold [OPTIONS] ADDR`: open, verify and hold many idle echo connections.
#[derive(Debug, Clone, Args)]
pub struct MassArgs {
    /// The echo server, an IPv4 address and port such as 127.0.0.1:7007.
    #[arg(value_name = "ADDR")]
    pub addr: SocketAddr,
    /// Connections to open and hold.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub conns: usize,
    /// First source address; connection i binds source `first + i % sources`.
    #[arg(long, value_name = "IPV4", default_value = "127.0.0.1")]
    pub first_source: Ipv4Addr,
    /// How many consecutive source addresses to spread the connections over.
    #[arg(long, value_name = "K", default_value_t = 1)]
    pub sources: u32,
    /// Seconds to hold the connections idle before re-verifying the sample.
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    pub hold: f64,
    /// Hold until SIGUSR1 arrives instead of for --hold seconds (for scripts driving many clients).
    #[arg(long)]
    pub until_signal: bool,
    /// Connections re-verified after the hold, picked at random among those still open.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub sample: usize,
    /// Seed of the sample's random choice [default: from the clock and pid, printed in the report].
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Connections being opened or verified at once.
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub window: usize,
    /// A connect or echo unanswered this long fails, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    pub timeout_ms: u64,
    /// Number of this process's first connection in the whole run, so payloads are unique across clients.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub first_id: u64,
}

impl MassArgs {
    /// The configuration these flags describe, checked.
    pub fn config(&self) -> Result<MassConfig, BenchError> {
        let invalid = |text: String| Err(BenchError::Invalid(text));
        if self.conns == 0 || self.conns > u32::MAX as usize {
            return invalid(format!("--conns {} is not between 1 and 2^32", self.conns));
        }
        if !self.addr.is_ipv4() {
            return invalid(format!(
                "{} is not IPv4: sources are IPv4 addresses",
                self.addr
            ));
        }
        if self.sources == 0 {
            return invalid("--sources must be at least 1".into());
        }
        if u32::from(self.first_source)
            .checked_add(self.sources - 1)
            .is_none()
        {
            return invalid(format!(
                "--sources {} from {} does not fit in IPv4",
                self.sources, self.first_source
            ));
        }
        let last = Ipv4Addr::from(u32::from(self.first_source) + (self.sources - 1));
        if self.addr.ip().is_loopback() && !(self.first_source.is_loopback() && last.is_loopback())
        {
            return invalid(format!(
                "sources {}..={last} leave 127.0.0.0/8, which a loopback server cannot answer",
                self.first_source
            ));
        }
        if !(self.hold.is_finite() && (0.0..=86_400.0).contains(&self.hold)) {
            return invalid(format!("--hold {} is not 0 to 86400 seconds", self.hold));
        }
        if self.window == 0 || self.timeout_ms == 0 {
            return invalid("--window and --timeout-ms must be at least 1".into());
        }
        Ok(MassConfig {
            addr: self.addr,
            conns: self.conns,
            first_source: self.first_source,
            sources: self.sources,
            hold: Duration::from_secs_f64(self.hold),
            until_signal: self.until_signal,
            sample: self.sample,
            seed: self.seed.unwrap_or_else(clock_seed),
            window: self.window,
            timeout: Duration::from_millis(self.timeout_ms),
            first_id: self.first_id,
        })
    }
}

/// A seed that differs from run to run and from process to process.
fn clock_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ (u64::from(std::process::id()) << 32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: MassArgs,
    }

    fn config(line: &[&str]) -> Result<MassConfig, String> {
        let wrapper =
            Wrapper::try_parse_from(std::iter::once("mass-hold").chain(line.iter().copied()))
                .map_err(|e| e.to_string())?;
        wrapper.args.config().map_err(|e| e.to_string())
    }

    #[test]
    fn flags_land_in_the_config() {
        let c = config(&[
            "127.0.0.1:9",
            "--conns",
            "5",
            "--first-source",
            "127.1.0.0",
            "--sources",
            "3",
            "--seed",
            "7",
            "--hold",
            "1.5",
        ])
        .unwrap();
        assert_eq!((c.conns, c.sources, c.seed), (5, 3, 7));
        assert_eq!(c.first_source, Ipv4Addr::new(127, 1, 0, 0));
        assert_eq!(c.hold, Duration::from_millis(1500));
    }

    #[test]
    fn bad_input_is_a_clear_message() {
        let err = |line: &[&str]| config(line).unwrap_err();
        assert!(err(&["127.0.0.1:9", "--conns", "0"]).contains("--conns 0"));
        assert!(err(&["[::1]:9"]).contains("not IPv4"));
        assert!(err(&[
            "127.0.0.1:9",
            "--first-source",
            "127.255.255.255",
            "--sources",
            "2"
        ])
        .contains("leave 127.0.0.0/8"));
        assert!(err(&[
            "127.0.0.1:9",
            "--first-source",
            "255.255.255.255",
            "--sources",
            "2"
        ])
        .contains("does not fit"));
        assert!(err(&["127.0.0.1:9", "--hold=-1"]).contains("--hold"));
        assert!(err(&["127.0.0.1:9", "--sources", "0"]).contains("at least 1"));
        assert!(err(&["127.0.0.1:9", "--window", "0"]).contains("--window"));
        assert!(config(&["nowhere:9"]).is_err());
    }
}
