//! What to compare: the designs and the list of cases each preset runs.

use crate::loadgen::{BenchConfig, Scenario};
use serde::Serialize;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// A server design under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Design {
    /// `reactord serve`: one thread, one mio event loop.
    Reactor,
    /// `reactord threaded`: one OS thread per connection, blocking sockets.
    Threaded,
    /// `examples/tokio_echo`: tokio's multi-threaded runtime, a task per connection
    /// (`--one-core`: its current-thread runtime).
    Tokio,
    /// `compare --baseline PATH`: another reactord build's `serve`, typically an older
    /// commit's, for a before/after comparison. Started with the same flags as the
    /// reactor, all of which reactord has accepted since before `--reactors` existed.
    Baseline,
}

/// Every server gets the same flags: echo on TCP and UDP, port 0, room for every
/// connection, and the per-source abuse controls off (every client here is one
/// loopback address opening thousands of connections at once, which is exactly
/// what those controls refuse on an open port).
const SERVER_FLAGS: [&str; 17] = [
    "--udp",
    "echo=127.0.0.1:0",
    "--tcp",
    "echo=127.0.0.1:0",
    "--max-conns",
    "15000",
    "--idle-timeout",
    "0",
    "--drain-timeout",
    "1",
    "--max-conns-per-ip",
    "0",
    "--conn-rate-per-ip",
    "0",
    "--udp-budget",
    "0",
    "-q",
];

impl Design {
    /// The name in tables and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Design::Reactor => "reactor",
            Design::Threaded => "threaded",
            Design::Tokio => "tokio",
            Design::Baseline => "baseline",
        }
    }

    /// The command-line arguments that start this design's server.
    pub fn args(self) -> Vec<&'static str> {
        match self {
            Design::Reactor | Design::Baseline => [&["serve"][..], &SERVER_FLAGS].concat(),
            Design::Threaded => [&["threaded"][..], &SERVER_FLAGS].concat(),
            Design::Tokio => vec!["127.0.0.1:0"],
        }
    }

    /// Like [`args`](Self::args), with the TCP echo binding only (`--one-core`).
    pub fn tcp_only_args(self) -> Vec<&'static str> {
        let mut args = self.args();
        if self.has_udp() {
            // SERVER_FLAGS starts with the UDP binding, right after the subcommand.
            args.drain(1..3);
        }
        args
    }

    /// Whether the server also serves UDP echo.
    pub fn has_udp(self) -> bool {
        self != Design::Tokio
    }
}

impl fmt::Display for Design {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How much to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// The full list: echo 64 B and 4 KiB at 10..10,000 connections, hold 10,000, churn, udp.
    Full,
    /// A CI smoke run: echo 64 B at 10 and 100, hold 500, churn, udp.
    Quick,
}

/// One row of the comparison: a load, run against each design.
#[derive(Debug, Clone, Serialize)]
pub struct Case {
    /// A short unique label, e.g. `echo 64 B x 100`.
    pub name: String,
    /// The load pattern.
    pub scenario: Scenario,
    /// Connections (UDP: sockets).
    pub conns: usize,
    /// Message size in bytes.
    pub size: usize,
    /// Source addresses spread over 127.0.0.1..=K.
    pub sources: usize,
    /// The shortest run this case gets, whatever `--duration` says, in seconds.
    pub min_secs: f64,
}

impl Case {
    /// The case `scenario` at `conns` connections of `size`-byte messages, named and tuned as in the presets.
    pub fn new(scenario: Scenario, conns: usize, size: usize) -> Case {
        let name = match scenario {
            Scenario::Echo => format!("echo {} x {conns}", size_label(size)),
            Scenario::Hold => format!("hold x {conns}"),
            other => format!("{} x {conns}", other.name()),
        };
        Case {
            name,
            scenario,
            conns,
            size,
            // Thousands of connections from one source address use up its ephemeral
            // ports fast. Churn too: one source address sustains only ~14,000
            // connects a second to one server port (each port waits a second in
            // TIME_WAIT before reuse), and past that each connect() searches the
            // whole port range for milliseconds while the load generator's loop
            // waits: a p99 of ~25 ms that was the client's (BENCHMARKS.md, churn).
            sources: match scenario {
                Scenario::Churn => 4,
                Scenario::Udp => 1,
                _ if conns >= 1000 => 4,
                _ => 1,
            },
            // The window opens only once all 10,000 are connected (the ramp is
            // reported apart), but at 10,000 connections each one makes few round
            // trips per second: a longer window gives every one of them a say.
            min_secs: if scenario == Scenario::Echo && conns >= 10_000 {
                10.0
            } else {
                0.0
            },
        }
    }

    /// The designs this case runs against: tokio serves TCP echo only; a baseline
    /// build serves everything the reactor does.
    pub fn designs(&self, tokio: bool, baseline: bool) -> Vec<Design> {
        let mut designs = vec![Design::Reactor, Design::Threaded];
        if tokio && self.scenario == Scenario::Echo {
            designs.push(Design::Tokio);
        }
        if baseline {
            designs.push(Design::Baseline);
        }
        designs
    }

    /// The load generator's configuration for this case against `addr`.
    pub fn config(&self, addr: SocketAddr, duration: Duration, threads: usize) -> BenchConfig {
        let mut config = BenchConfig::new(self.scenario, addr);
        config.conns = self.conns;
        config.size = self.size;
        config.sources = self.sources;
        config.duration = duration.max(Duration::from_secs_f64(self.min_secs));
        config.threads = threads;
        config.sample = self.conns.min(1000);
        config
    }
}

/// `64 B`, `4 KiB`.
pub fn size_label(size: usize) -> String {
    if size >= 1024 && size.is_multiple_of(1024) {
        format!("{} KiB", size / 1024)
    } else {
        format!("{size} B")
    }
}

/// The cases of a preset, in the order they run.
pub fn cases(preset: Preset) -> Vec<Case> {
    let mut cases = Vec::new();
    match preset {
        Preset::Full => {
            // Churn first: every connection it closes stays in TIME_WAIT on the
            // client side for a minute, and so do the 10,000-connection cases';
            // churn is the case that needs fresh ephemeral ports.
            cases.push(Case::new(Scenario::Churn, 10, 16));
            cases.push(Case::new(Scenario::Udp, 10, 64));
            for size in [64, 4096] {
                for conns in [10, 100, 1000, 10_000] {
                    cases.push(Case::new(Scenario::Echo, conns, size));
                }
            }
            cases.push(Case::new(Scenario::Hold, 10_000, 16));
        }
        Preset::Quick => {
            cases.push(Case::new(Scenario::Echo, 10, 64));
            cases.push(Case::new(Scenario::Echo, 100, 64));
            cases.push(Case::new(Scenario::Hold, 500, 16));
            cases.push(Case::new(Scenario::Churn, 10, 16));
            cases.push(Case::new(Scenario::Udp, 10, 64));
        }
    }
    cases
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_case_config_is_valid() {
        let addr = "127.0.0.1:7".parse().unwrap();
        for preset in [Preset::Full, Preset::Quick] {
            for case in cases(preset) {
                case.config(addr, Duration::from_secs(1), 1)
                    .validate()
                    .unwrap_or_else(|err| panic!("{}: {err}", case.name));
            }
        }
    }

    #[test]
    fn names_are_unique_and_tokio_joins_echo_only() {
        let all = cases(Preset::Full);
        let mut names: Vec<_> = all.iter().map(|c| c.name.clone()).collect();
        names.dedup();
        assert_eq!(names.len(), all.len());
        assert_eq!(all[0].name, "churn x 10");
        assert_eq!(all[2].name, "echo 64 B x 10");
        assert_eq!(all[9].name, "echo 4 KiB x 10000");
        assert_eq!(all[2].designs(true, false).len(), 3);
        assert_eq!(all[0].designs(true, false).len(), 2);
        assert_eq!(all[0].designs(true, true)[2], Design::Baseline);
        assert_eq!(all[2].designs(false, true).len(), 3);
    }

    #[test]
    fn churn_and_the_big_cases_spread_over_source_addresses() {
        assert_eq!(Case::new(Scenario::Churn, 10, 16).sources, 4);
        assert_eq!(Case::new(Scenario::Echo, 10_000, 64).sources, 4);
        assert_eq!(Case::new(Scenario::Echo, 100, 64).sources, 1);
        assert_eq!(Case::new(Scenario::Udp, 1000, 64).sources, 1);
    }

    #[test]
    fn servers_get_the_same_flags() {
        assert_eq!(Design::Reactor.args()[1..], Design::Threaded.args()[1..]);
        assert_eq!(Design::Reactor.args(), Design::Baseline.args());
    }

    #[test]
    fn tcp_only_drops_the_udp_binding_and_nothing_else() {
        let full = Design::Reactor.args();
        let tcp = Design::Reactor.tcp_only_args();
        assert_eq!(tcp.len(), full.len() - 2);
        assert!(!tcp.contains(&"--udp"));
        assert_eq!(&tcp[..3], ["serve", "--tcp", "echo=127.0.0.1:0"]);
        assert_eq!(Design::Tokio.tcp_only_args(), Design::Tokio.args());
    }
}
