//! The command line: `reactord [serve] [--tcp PROTO=ADDR]... [--udp PROTO=ADDR]... [limits]`.
//!
//! Parsing only: turning flags into a [`ServerConfig`] and a log level. The
//! binary in `main.rs` decides what to run.

use crate::config::{Binding, Limits, ServerConfig, Transport, UnixBinding, DEFAULT_SNDBUF};
use crate::protocol::Framing;
use clap::builder::TypedValueParser as _;
use clap::{Args, Parser, Subcommand};
use std::time::Duration;

/// `--max-conns-per-ip` unless given: generous for people, small for a botnet's share.
pub const DEFAULT_MAX_CONNS_PER_IP: usize = 256;
/// `--conn-rate-per-ip` unless given, in new connections per second.
pub const DEFAULT_CONN_RATE_PER_IP: u32 = 100;
/// `--udp-budget` unless given: 1 MiB of replies per source per window.
pub const DEFAULT_UDP_BUDGET: u64 = 1 << 20;
/// `--udp-window` unless given, in seconds.
pub const DEFAULT_UDP_WINDOW: u64 = 600;
/// The largest `--max-line`: a line is buffered whole, so this is memory per connection.
const MAX_LINE_LIMIT: i64 = 16 << 20;
/// The largest `--max-pending`.
const MAX_PENDING_LIMIT: i64 = 1 << 30;
/// The largest `--conn-rate-per-ip`.
const MAX_CONN_RATE_LIMIT: i64 = 1_000_000;
/// The smallest non-zero `--sndbuf` (Linux raises smaller values to about this anyway).
const MIN_SNDBUF: u64 = 4096;
/// The largest `--sndbuf`.
const MAX_SNDBUF: u64 = 64 << 20;

/// One thread, one mio event loop: echo, timestamp, hello, the inetd services, files and chat over TCP, UDP and Unix sockets.
#[derive(Debug, Parser)]
#[command(name = "reactord", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// What to run; with none, `serve` with the arguments given here.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Arguments of `serve`, accepted without the word `serve`.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve with the event loop (the default).
    Serve(ServeArgs),
    /// Serve with one OS thread per connection (the baseline).
    Threaded(ServeArgs),
    /// Load a server with a verifying, non-blocking load generator.
    Bench(crate::loadgen::BenchArgs),
    /// Open, verify and hold many idle echo connections from a slice of 127.0.0.0/8 (scripts/million.sh).
    MassHold(crate::loadgen::mass::MassArgs),
    /// Run the reactor and the threaded baseline through the same loads, side by side.
    Compare(crate::compare::CompareArgs),
}

/// Flags shared by every server: bindings, framing, limits, logging.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Serve PROTO over TCP at ADDR, e.g. echo=127.0.0.1:7007 (repeatable; disables the defaults).
    #[arg(long = "tcp", value_name = "PROTO=ADDR", value_parser = parse_tcp)]
    pub tcp: Vec<Binding>,
    /// Serve PROTO over UDP at ADDR, e.g. `hello=[::1]:9999` (repeatable; disables the defaults).
    #[arg(long = "udp", value_name = "PROTO=ADDR", value_parser = parse_udp)]
    pub udp: Vec<Binding>,
    /// Serve PROTO on a Unix stream socket at PATH, e.g. echo=/tmp/echo.sock (repeatable; disables the defaults).
    #[arg(long = "unix", value_name = "PROTO=PATH", value_parser = parse_unix)]
    pub unix: Vec<UnixBinding>,
    /// Serve PROTO on a Unix datagram socket at PATH (repeatable; disables the defaults).
    #[arg(long = "unixgram", value_name = "PROTO=PATH", value_parser = parse_unixgram)]
    pub unixgram: Vec<UnixBinding>,
    /// Serve the default bindings on ADDR instead of 127.0.0.1, same ports (repeatable: `--host 0.0.0.0 --host ::`).
    #[arg(long, value_name = "ADDR")]
    pub host: Vec<std::net::IpAddr>,
    /// Serve Prometheus metrics on `GET /metrics` at ADDR, e.g. 127.0.0.1:9898 (from the same event loop).
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<std::net::SocketAddr>,
    /// Every TCP and Unix stream connection must begin with a PROXY v1/v2 header (behind HAProxy and the like).
    #[arg(long)]
    pub proxy_protocol: bool,
    /// How stream sockets of the line protocols (timestamp, hello, chat, files) are cut into messages.
    #[arg(long, value_enum, default_value_t = Framing::Line)]
    pub framing: Framing,
    /// Longest line in line framing, in bytes (1 to 16 MiB); longer ones get `error: line too long`.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_line,
          value_parser = clap::value_parser!(u32).range(1..=MAX_LINE_LIMIT).map(|v| v as usize))]
    pub max_line: usize,
    /// Output buffered per connection above which the server stops reading from it (1 to 1 GiB).
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_pending,
          value_parser = clap::value_parser!(u32).range(1..=MAX_PENDING_LIMIT).map(|v| v as usize))]
    pub max_pending: usize,
    /// Connections served at once [default: open-file limit, raised to the hard limit, less a reserve].
    #[arg(long, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..).map(|v| v as usize))]
    pub max_conns: Option<usize>,
    /// Directory the files protocol serves; required to serve files (and enables it by default).
    #[arg(long, value_name = "DIR")]
    pub files_root: Option<std::path::PathBuf>,
    /// Close connections that complete no message and take no reply for this many seconds; 0 disables
    /// (so does any value too large to add to the clock: huge means never).
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub idle_timeout: u64,
    /// On SIGINT/SIGTERM, wait at most this many seconds for pending replies to be delivered.
    #[arg(long, value_name = "SECS", default_value_t = 5.0, value_parser = parse_seconds)]
    pub drain_timeout: f64,
    /// Connections one source (IPv4 address, IPv6 /64) may hold open, at most a quarter of
    /// --max-conns; 0: no limit. Loopback clients are exempt unless --limit-loopback.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_CONNS_PER_IP,
          value_parser = clap::value_parser!(u32).map(|v| v as usize))]
    pub max_conns_per_ip: usize,
    /// New connections one source may open per second (bursts of one second's worth), up to
    /// 1000000; 0: no limit. Loopback clients are exempt unless --limit-loopback.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_CONN_RATE_PER_IP,
          value_parser = clap::value_parser!(u32).range(0..=MAX_CONN_RATE_LIMIT))]
    pub conn_rate_per_ip: u32,
    /// Hold loopback clients (127.0.0.0/8, ::1) to the per-source limits and the UDP budget too.
    #[arg(long)]
    pub limit_loopback: bool,
    /// SO_SNDBUF of listeners and accepted stream sockets (the kernel memory one
    /// connection's unsent output may hold; Linux doubles it), 4096 to 64 MiB; 0: kernel autotuning.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_SNDBUF as u64,
          value_parser = parse_sndbuf)]
    pub sndbuf: u64,
    /// Also answer UDP datagrams from source ports below 1024 (off: breaks echo/chargen reflection loops).
    #[arg(long)]
    pub udp_allow_low_ports: bool,
    /// UDP reply bytes one source may receive per --udp-window; further replies are dropped; 0: no limit.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_UDP_BUDGET)]
    pub udp_budget: u64,
    /// The window of --udp-budget, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_UDP_WINDOW,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub udp_window: u64,
    /// Event loops to run, each on its own thread with its own sockets: a number, or `auto` (one per core).
    #[arg(long, value_name = "N|auto", default_value = "1", value_parser = parse_reactors)]
    pub reactors: ReactorCount,
    /// Set SO_REUSEPORT on TCP and UDP sockets, so several reactord processes can serve the same ports.
    #[arg(long)]
    pub reuse_port: bool,
    /// More logging: -v debug (connections), -vv trace (every readiness event). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Less logging: -q warnings only, -qq errors only, -qqq nothing.
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub quiet: u8,
}

/// How many reactors `--reactors` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReactorCount {
    /// Exactly this many (at least 1).
    Fixed(usize),
    /// One per core this process may run on.
    Auto,
}

impl ReactorCount {
    /// The number to run, `cores` being what `auto` means here.
    pub fn resolve(self, cores: usize) -> usize {
        match self {
            ReactorCount::Fixed(n) => n,
            ReactorCount::Auto => cores.max(1),
        }
    }
}

/// The most reactors `--reactors` accepts: far more than any machine's cores,
/// few enough that a typo cannot start a million threads.
pub const MAX_REACTORS: usize = 1024;

fn parse_reactors(text: &str) -> Result<ReactorCount, String> {
    if text == "auto" {
        return Ok(ReactorCount::Auto);
    }
    match text.parse::<usize>() {
        Ok(n) if (1..=MAX_REACTORS).contains(&n) => Ok(ReactorCount::Fixed(n)),
        _ => Err(format!(
            "'{text}' is not a number of reactors from 1 to {MAX_REACTORS}, or auto"
        )),
    }
}

fn parse_tcp(spec: &str) -> Result<Binding, String> {
    Binding::parse(Transport::Tcp, spec)
}

fn parse_udp(spec: &str) -> Result<Binding, String> {
    Binding::parse(Transport::Udp, spec)
}

fn parse_unix(spec: &str) -> Result<UnixBinding, String> {
    UnixBinding::parse(false, spec)
}

fn parse_unixgram(spec: &str) -> Result<UnixBinding, String> {
    UnixBinding::parse(true, spec)
}

fn parse_sndbuf(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(bytes) if bytes == 0 || (MIN_SNDBUF..=MAX_SNDBUF).contains(&bytes) => Ok(bytes),
        _ => Err(format!(
            "'{text}' is not 0 or a number of bytes from {MIN_SNDBUF} to {MAX_SNDBUF}"
        )),
    }
}

fn parse_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(secs) if secs.is_finite() && (0.0..=86_400.0).contains(&secs) => Ok(secs),
        _ => Err(format!(
            "'{text}' is not a number of seconds from 0 to 86400"
        )),
    }
}

impl ServeArgs {
    /// The log level these flags ask for.
    pub fn log_level(&self) -> log::LevelFilter {
        use log::LevelFilter::*;
        match (self.verbose, self.quiet) {
            (0, 0) => Info,
            (1, _) => Debug,
            (v, _) if v >= 2 => Trace,
            (_, 1) => Warn,
            (_, 2) => Error,
            _ => Off,
        }
    }

    /// True when `--tcp`, `--udp`, `--unix` or `--unixgram` replace the defaults.
    pub fn has_explicit_bindings(&self) -> bool {
        !(self.tcp.is_empty()
            && self.udp.is_empty()
            && self.unix.is_empty()
            && self.unixgram.is_empty())
    }

    /// The server configuration, with `max_conns_default` when `--max-conns` is absent.
    pub fn config(&self, max_conns_default: usize) -> ServerConfig {
        let mut bindings: Vec<Binding> = self.tcp.iter().chain(&self.udp).copied().collect();
        let unix_bindings: Vec<UnixBinding> =
            self.unix.iter().chain(&self.unixgram).cloned().collect();
        if !self.has_explicit_bindings() {
            bindings = Binding::defaults(self.files_root.is_some());
            if !self.host.is_empty() {
                bindings = self
                    .host
                    .iter()
                    .flat_map(|&ip| {
                        bindings.iter().map(move |b| Binding {
                            addr: std::net::SocketAddr::new(ip, b.addr.port()),
                            ..*b
                        })
                    })
                    .collect();
            }
        }
        ServerConfig {
            bindings,
            unix_bindings,
            framing: self.framing,
            limits: Limits {
                max_line: self.max_line,
                max_pending: self.max_pending,
                max_conns: self.max_conns.unwrap_or(max_conns_default),
                idle_timeout: (self.idle_timeout > 0)
                    .then(|| Duration::from_secs(self.idle_timeout)),
                drain_timeout: Duration::from_secs_f64(self.drain_timeout),
                max_conns_per_ip: self.max_conns_per_ip,
                conn_rate_per_ip: self.conn_rate_per_ip,
                udp_allow_low_ports: self.udp_allow_low_ports,
                udp_budget: self.udp_budget,
                udp_window: Duration::from_secs(self.udp_window),
                limit_loopback: self.limit_loopback,
                sndbuf: (self.sndbuf > 0).then_some(self.sndbuf as usize),
                ..Limits::default()
            },
            files_root: self.files_root.clone(),
        }
    }
}

impl Cli {
    /// The server arguments, whether given after `serve`, after `threaded`, or on their own.
    pub fn serve_args(&self) -> Option<&ServeArgs> {
        match &self.command {
            None => Some(&self.serve),
            Some(Command::Serve(args) | Command::Threaded(args)) => Some(args),
            Some(Command::Bench(_) | Command::MassHold(_) | Command::Compare(_)) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("reactord").chain(args.iter().copied()))
    }

    #[test]
    fn no_arguments_serves_the_defaults() {
        for args in [&[][..], &["serve"][..]] {
            let cli = parse(args).unwrap();
            let config = cli.serve_args().unwrap().config(100);
            assert_eq!(config.bindings, Binding::defaults(false));
            assert_eq!(config.limits.max_conns, 100);
            assert_eq!(config.limits.idle_timeout, Some(Duration::from_secs(300)));
            // The binary guards an open port by default, unlike the library's Limits::default().
            assert_eq!(config.limits.max_conns_per_ip, DEFAULT_MAX_CONNS_PER_IP);
            assert_eq!(config.limits.conn_rate_per_ip, DEFAULT_CONN_RATE_PER_IP);
            assert!(!config.limits.udp_allow_low_ports);
            assert_eq!(config.limits.udp_budget, 1 << 20);
            assert_eq!(config.limits.udp_window, Duration::from_secs(600));
        }
    }

    #[test]
    fn explicit_bindings_replace_the_defaults() {
        let cli = parse(&[
            "serve",
            "--udp",
            "echo=127.0.0.1:0",
            "--idle-timeout",
            "0",
            "--framing",
            "raw",
        ])
        .unwrap();
        let config = cli.serve_args().unwrap().config(100);
        assert_eq!(config.bindings.len(), 1);
        assert_eq!(config.framing, Framing::Raw);
        assert_eq!(config.limits.idle_timeout, None);
    }

    #[test]
    fn host_moves_the_defaults_and_only_the_defaults() {
        let cli = parse(&["--host", "0.0.0.0", "--host", "::"]).unwrap();
        let config = cli.serve_args().unwrap().config(100);
        let defaults = Binding::defaults(false);
        assert_eq!(config.bindings.len(), 2 * defaults.len());
        assert_eq!(config.bindings[0].to_string(), "tcp echo 0.0.0.0:7007");
        assert_eq!(
            config.bindings[defaults.len()].to_string(),
            "tcp echo [::]:7007"
        );
        let cli = parse(&["--host", "0.0.0.0", "--tcp", "echo=127.0.0.1:0"]).unwrap();
        let config = cli.serve_args().unwrap().config(100);
        assert_eq!(config.bindings.len(), 1);
        assert!(config.bindings[0].addr.ip().is_loopback());
        assert!(parse(&["--host", "localhost"]).is_err());
    }

    #[test]
    fn threaded_takes_the_same_flags() {
        let cli = parse(&["threaded", "--tcp", "hello=127.0.0.1:0", "--max-conns", "3"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Threaded(_))));
        let config = cli.serve_args().unwrap().config(100);
        assert_eq!(config.bindings.len(), 1);
        assert_eq!(config.limits.max_conns, 3);
    }

    #[test]
    fn bad_values_are_errors_naming_the_culprit() {
        let err = parse(&["--tcp", "nope=127.0.0.1:1"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown protocol 'nope'"), "{err}");
        assert!(parse(&["--max-line", "0"]).is_err());
        assert!(parse(&["--drain-timeout", "-1"]).is_err());
        assert!(parse(&["-v", "-q"]).is_err());
    }

    #[test]
    fn every_number_is_range_checked_at_parse_time() {
        for (flag, bad) in [
            ("--max-line", "0"),
            ("--max-line", "16777217"),
            ("--max-pending", "1073741825"),
            ("--max-conns", "0"),
            ("--max-conns-per-ip", "4294967296"),
            ("--conn-rate-per-ip", "1000001"),
            ("--udp-window", "0"),
            ("--sndbuf", "100"),
            ("--sndbuf", "67108865"),
            ("--drain-timeout", "86401"),
            ("--idle-timeout", "-1"),
            ("--udp-budget", "18446744073709551616"),
        ] {
            let err = parse(&[flag, bad]).expect_err(flag).to_string();
            assert!(err.contains(bad), "{flag} {bad}: {err}");
        }
        let ok = |args: &[&str]| parse(args).unwrap().serve_args().unwrap().config(100);
        assert_eq!(ok(&["--sndbuf", "0"]).limits.sndbuf, None);
        assert_eq!(ok(&["--sndbuf", "65536"]).limits.sndbuf, Some(65536));
        assert_eq!(ok(&[]).limits.sndbuf, Some(DEFAULT_SNDBUF));
        // Huge idle timeouts are accepted: they mean "never" (see the reactor's timers).
        let huge = ok(&["--idle-timeout", "18446744073709551615"]);
        assert_eq!(
            huge.limits.idle_timeout,
            Some(Duration::from_secs(u64::MAX))
        );
        assert!(!ok(&[]).limits.limit_loopback);
        assert!(ok(&["--limit-loopback"]).limits.limit_loopback);
    }

    #[test]
    fn verbosity_maps_onto_levels() {
        let level = |args: &[&str]| parse(args).unwrap().serve_args().unwrap().log_level();
        assert_eq!(level(&[]), log::LevelFilter::Info);
        assert_eq!(level(&["-vv"]), log::LevelFilter::Trace);
        assert_eq!(level(&["-qqq"]), log::LevelFilter::Off);
    }
}
