//! The command line: `reactord [serve] [--tcp PROTO=ADDR]... [--udp PROTO=ADDR]... [limits]`.
//!
//! Parsing only: turning flags into a [`ServerConfig`] and a log level. The
//! binary in `main.rs` decides what to run.
//!
//! This file declares the flags (clap reads the doc comment of each field as
//! its `--help` text) and turns them into a [`ServerConfig`]. The parsers of
//! single values (`PROTO=ADDR`, `--sndbuf`, `--reactors N|auto`) live in the
//! `values` submodule: each checks its range when the command line is
//! parsed, so a bad number is an error that names the flag, never a panic
//! or a silent clamp later.

#[cfg(test)]
mod tests;
mod values;

pub use values::{ReactorCount, MAX_REACTORS};

use crate::config::{Binding, Limits, ServerConfig, UnixBinding, DEFAULT_SNDBUF};
use crate::protocol::Framing;
use clap::builder::TypedValueParser as _;
use clap::{Args, Parser, Subcommand};
use std::time::Duration;
use values::{
    parse_reactors, parse_seconds, parse_sndbuf, parse_stall, parse_tcp, parse_udp, parse_unix,
    parse_unixgram,
};

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
    /// Test hook, hidden from --help: `K:SECS` makes reactor K's loop hang
    /// SECS seconds after start (for an hour), so that tests can check that
    /// the systemd watchdog notices a hung sibling reactor. Never in service.
    #[arg(long, hide = true, value_name = "K:SECS", value_parser = parse_stall)]
    pub test_stall_reactor: Option<(usize, u64)>,
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
