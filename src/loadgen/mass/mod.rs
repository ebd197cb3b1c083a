//! `reactord mass-hold`: the client side of `scripts/million.sh`.
//!
//! One process opens its share of a very large crowd of idle connections to
//! an echo server, verifies each with one round trip, holds them, then
//! re-verifies a random sample and closes everything. `scripts/million.sh`
//! starts as many of these as the per-process open-file limit requires (each
//! holds at most that many sockets) and adds up their reports.
//!
//! Why a separate mode rather than `bench hold`: `bench hold` keeps latency
//! state and a 50 ms tick that scans every connection, which is right for
//! ten thousand connections and wasteful for a million spread over fifty
//! processes. Here a connection costs 8 bytes in user space, a held crowd
//! sleeps in `epoll_wait` without a timeout, and the source address of each
//! connection is chosen from a slice of 127.0.0.0/8 the caller gives, bound
//! with `IP_BIND_ADDRESS_NO_PORT` so that ports are only unique per
//! destination (see [`crowd`]).
//!
//! The report is two `KEY=VALUE` lines on stdout, easy to add up in a shell:
//! `ESTABLISHED ...` once every connection is open and checked (the driving
//! script waits for it before measuring memory), then `DONE ...` after the
//! sample. With `--until-signal` the hold lasts until SIGUSR1.

pub mod args;
pub mod crowd;

pub use args::MassArgs;

use crowd::Crowd;
use signal_hook::consts::SIGUSR1;
use signal_hook_mio::v1_0::Signals;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

/// Descriptors kept free for stdio, the poll and the signal pipe.
const FD_RESERVE: u64 = 16;

/// What one `mass-hold` process does, checked.
#[derive(Debug, Clone)]
pub struct MassConfig {
    /// The echo server.
    pub addr: SocketAddr,
    /// Connections to open.
    pub conns: usize,
    /// Connection `i` comes from `first_source + i % sources`.
    pub first_source: Ipv4Addr,
    /// Number of consecutive source addresses.
    pub sources: u32,
    /// How long to hold, unless `until_signal`.
    pub hold: Duration,
    /// Hold until SIGUSR1 instead.
    pub until_signal: bool,
    /// Connections re-verified after the hold.
    pub sample: usize,
    /// Seed of the sample's choice.
    pub seed: u64,
    /// Connections opening or echoing at once.
    pub window: usize,
    /// A connect or echo unanswered this long fails.
    pub timeout: Duration,
    /// Run-wide number of this process's first connection.
    pub first_id: u64,
}

impl MassConfig {
    /// The source address of connection `i`.
    pub fn source(&self, i: usize) -> Ipv4Addr {
        let offset = (i % self.sources as usize) as u32; // < sources, a u32
        Ipv4Addr::from(u32::from(self.first_source) + offset)
    }

    /// The 8 bytes connection `i` sends in round `round` (and must get back).
    pub fn payload(&self, i: usize, round: u8) -> [u8; 8] {
        (((self.first_id + i as u64) << 1) | u64::from(round & 1)).to_be_bytes()
    }
}

/// What one process measured; printed as two `KEY=VALUE` lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MassReport {
    /// Connections asked for.
    pub conns: u64,
    /// Connects that completed.
    pub established: u64,
    /// Connections whose first echo was verified.
    pub verified: u64,
    /// Milliseconds from the first connect to the last verified echo.
    pub establish_ms: u64,
    /// Verified connections that the server closed, or wrote to, while idle.
    pub lost_while_idle: u64,
    /// Connections re-verified after the hold.
    pub sample: u64,
    /// Of those, how many echoed correctly.
    pub sample_verified: u64,
    /// Failures by cause.
    pub errors: Vec<(String, u64)>,
}

impl MassReport {
    /// The line printed once every connection is open and checked.
    pub fn established_line(&self) -> String {
        let failed: u64 = self.errors.iter().map(|(_, n)| n).sum();
        let mut line = format!(
            "ESTABLISHED conns={} established={} verified={} failed={failed} establish_ms={}",
            self.conns, self.established, self.verified, self.establish_ms
        );
        if let Some((reason, count)) = self.errors.iter().max_by_key(|(_, n)| *n) {
            line += &format!(" top_error=\"{count} x {}\"", reason.replace('"', "'"));
        }
        line
    }

    /// The line printed after the sample.
    pub fn done_line(&self, seed: u64) -> String {
        format!(
            "DONE conns={} verified={} lost_while_idle={} sample={} sample_verified={} seed={seed}",
            self.conns, self.verified, self.lost_while_idle, self.sample, self.sample_verified
        )
    }
}

/// Runs `mass-hold` with these flags: open, verify, report, hold, sample, report, close.
pub fn main(args: &MassArgs) -> Result<(), Box<dyn std::error::Error>> {
    let config = args.config()?;
    check_fd_limit(config.conns)?;
    let mut crowd = Crowd::new(&config)?;
    // Registered before the connections open, so a SIGUSR1 sent early is not lost.
    let mut signals = Signals::new([SIGUSR1])?;
    crowd.watch(&mut signals)?;

    let started = Instant::now();
    crowd.establish()?;
    let mut report = MassReport {
        conns: config.conns as u64,
        established: crowd.established,
        verified: crowd.verified(1) as u64,
        establish_ms: started.elapsed().as_millis() as u64,
        ..MassReport::default()
    };
    report.errors = crowd.errors.iter().map(|(k, v)| (k.clone(), *v)).collect();
    say(&report.established_line())?;
    for (reason, count) in &report.errors {
        eprintln!("mass-hold: {count} x {reason}");
    }

    let end = (!config.until_signal).then(|| Instant::now() + config.hold);
    crowd.hold(end)?;
    let held: Vec<usize> = crowd.held().collect();
    report.lost_while_idle = report.verified - held.len() as u64;
    let picked = pick(&held, config.sample, config.seed);
    crowd.reverify(&picked)?;
    report.sample = picked.len() as u64;
    report.sample_verified = crowd.verified(2) as u64;
    say(&report.done_line(config.seed))?;
    for (reason, count) in &crowd.errors {
        let before = report
            .errors
            .iter()
            .find(|(r, _)| r == reason)
            .map_or(0, |(_, n)| *n);
        if *count > before {
            eprintln!(
                "mass-hold: while holding or sampling: {} x {reason}",
                count - before
            );
        }
    }
    crowd.close_all();
    Ok(())
}

/// Prints one report line and flushes it at once: a script is waiting for it.
fn say(line: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()
}

/// `want` distinct items of `from`, chosen at random with `seed` (a partial Fisher-Yates shuffle).
pub fn pick(from: &[usize], want: usize, seed: u64) -> Vec<usize> {
    let mut pool = from.to_vec();
    let want = want.min(pool.len());
    let mut state = seed;
    for k in 0..want {
        let j = k + (splitmix64(&mut state) % (pool.len() - k) as u64) as usize;
        pool.swap(k, j);
    }
    pool.truncate(want);
    pool
}

/// SplitMix64: a tiny, well-mixed generator; enough to pick a sample.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Raises the open-file soft limit to the hard limit and checks `conns` fit under it.
fn check_fd_limit(conns: usize) -> Result<(), crate::loadgen::BenchError> {
    let limit = rlimit::increase_nofile_limit(u64::MAX)
        .map_err(|err| crate::loadgen::BenchError::Setup("raise the open-file limit", err))?;
    let needed = conns as u64 + FD_RESERVE;
    if needed > limit {
        return Err(crate::loadgen::BenchError::Invalid(format!(
            "--conns {conns} needs about {needed} file descriptors; this process may open {limit}: \
             split the crowd over more processes"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> MassConfig {
        MassConfig {
            addr: "127.0.0.1:9".parse().unwrap(),
            conns: 10,
            first_source: Ipv4Addr::new(127, 1, 0, 254),
            sources: 3,
            hold: Duration::ZERO,
            until_signal: false,
            sample: 1,
            seed: 1,
            window: 1,
            timeout: Duration::from_secs(1),
            first_id: 1000,
        }
    }

    #[test]
    fn sources_cycle_and_carry_over_octets() {
        let c = config();
        let got: Vec<Ipv4Addr> = (0..4).map(|i| c.source(i)).collect();
        assert_eq!(got[0], Ipv4Addr::new(127, 1, 0, 254));
        assert_eq!(got[2], Ipv4Addr::new(127, 1, 1, 0));
        assert_eq!(got[3], got[0]);
    }

    #[test]
    fn payloads_differ_by_connection_and_round() {
        let c = config();
        assert_ne!(c.payload(0, 0), c.payload(1, 0));
        assert_ne!(c.payload(0, 0), c.payload(0, 1));
        assert_eq!(c.payload(0, 1), ((1000u64 << 1) | 1).to_be_bytes());
    }

    #[test]
    fn a_pick_is_distinct_members_and_follows_the_seed() {
        let from: Vec<usize> = (100..200).collect();
        let mut a = pick(&from, 30, 7);
        assert_eq!(a, pick(&from, 30, 7));
        assert_ne!(a, pick(&from, 30, 8));
        a.sort_unstable();
        a.dedup();
        assert_eq!(a.len(), 30);
        assert!(a.iter().all(|x| from.contains(x)));
        assert_eq!(pick(&from, 500, 1).len(), 100);
        assert!(pick(&[], 5, 1).is_empty());
    }

    #[test]
    fn report_lines_carry_every_count() {
        let report = MassReport {
            conns: 5,
            established: 5,
            verified: 4,
            establish_ms: 12,
            lost_while_idle: 1,
            sample: 3,
            sample_verified: 3,
            errors: vec![("echo differs".into(), 1)],
        };
        assert_eq!(
            report.established_line(),
            "ESTABLISHED conns=5 established=5 verified=4 failed=1 establish_ms=12 top_error=\"1 x echo differs\""
        );
        assert_eq!(
            report.done_line(9),
            "DONE conns=5 verified=4 lost_while_idle=1 sample=3 sample_verified=3 seed=9"
        );
    }
}
