//! The result of a run: a [`Report`], printed as an aligned table or one JSON object.
//!
//! Rates and latencies describe the measurement window only; the ramp (opening
//! every connection) has its own figures, and the load generator's own CPU
//! use says whether the figures describe the server or the client.
//!
//! This file builds the report from the run's counters and is the JSON
//! shape (`--json` is `Report` serialized as it stands, so a field added here
//! is a field scripts can read). How a person reads it, the aligned table,
//! is the job of the `table` submodule, kept apart so that changing the layout
//! of the text cannot change the JSON that scripts depend on.

mod table;

use super::config::{BenchConfig, Scenario};
use super::error::ErrorKind;
use super::stats::Stats;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Fewer slow `connect` calls than this never earn the port-search hint.
const MIN_SLOW_CONNECTS: u64 = 20;

/// Latency percentiles of completed operations, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Slowest operation.
    pub max: u64,
    /// Arithmetic mean.
    pub mean: f64,
}

/// The phases of a run, measured by [`run`](super::run).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Phases {
    /// From the start until traffic started (every connection up, or the ramp stalled).
    pub ramp: Duration,
    /// Connections up when the ramp ended (0 when the scenario has no ramp).
    pub ramp_connected: u64,
    /// How long the measurement window was open (shorter when the budget ran out).
    pub window: Duration,
}

/// The ramp: opening every connection before traffic starts (echo and lines).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Ramp {
    /// Seconds from the start until every connection was up (or the ramp stalled).
    pub secs: f64,
    /// Connections up when the ramp ended.
    pub connected: u64,
    /// Connections opened per second during the ramp.
    pub connect_rate: f64,
}

/// Replies that came back wrong, by kind (every kind present, zeros included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct VerifyErrors {
    /// All of them.
    pub total: u64,
    /// Bytes that differ from what the protocol promises.
    pub mismatch: u64,
    /// Replies stamped with another connection's id.
    pub crossed: u64,
    /// Replies to a request already answered.
    pub duplicate: u64,
    /// Replies that overtook the one owed first.
    pub reordered: u64,
}

/// The load generator's own CPU use over the traffic (ramp left out).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ClientCpu {
    /// CPU seconds (user + system) of all load threads.
    pub cpu_secs: f64,
    /// Share of its threads' wall time the load generator was on a CPU (1.0: always busy).
    pub busy: f64,
    /// Whether the load generator, not the server, was likely the bottleneck (busy >= 0.9).
    pub bottleneck: bool,
}

/// A load thread busier than this was the bottleneck: add `--threads` or cores.
pub const BOTTLENECK_BUSY: f64 = 0.9;

/// `hold` only: how many connections were opened, verified and still good after the hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HoldReport {
    /// Connections asked for.
    pub target: u64,
    /// Connections whose connect completed.
    pub established: u64,
    /// Connections that answered one echo round trip correctly.
    pub verified: u64,
    /// Connections checked again after the idle period.
    pub sampled: u64,
    /// Sampled connections that answered correctly.
    pub sample_verified: u64,
    /// Connections lost (closed, reset) while idle.
    pub lost_while_idle: u64,
}

/// Everything one run measured. Serializes to the `--json` object.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The scenario's name.
    pub scenario: &'static str,
    /// The protocol spoken.
    pub protocol: &'static str,
    /// The server's address.
    pub target: String,
    /// Event-loop threads.
    pub threads: usize,
    /// Connections (TCP) or sockets (UDP).
    pub conns: usize,
    /// Message body size in bytes.
    pub size: usize,
    /// Messages in flight per connection.
    pub pipeline: usize,
    /// `closed-loop` (a request goes out when the last is answered) or `open-loop` (`--rate`).
    pub mode: &'static str,
    /// Open loop: the requests per second asked for.
    pub target_rate: Option<f64>,
    /// Seconds of warm-up (traffic not counted) before the window.
    pub warmup_secs: f64,
    /// Seconds the measurement window was open: the time `rate` is over.
    pub elapsed_secs: f64,
    /// The ramp (echo and lines only).
    pub ramp: Option<Ramp>,
    /// Time of each completed connect, in microseconds (`null` when none completed).
    pub connect_latency_us: Option<Latency>,
    /// Operations completed and verified.
    pub ops: u64,
    /// Operations per second.
    pub rate: f64,
    /// Reply bytes received per second.
    pub throughput_bytes_per_sec: f64,
    /// Bytes written.
    pub bytes_sent: u64,
    /// Bytes read.
    pub bytes_received: u64,
    /// Connections (or sockets) opened successfully.
    pub connects: u64,
    /// `connect` calls that took 1 ms or more in this machine's kernel (a port search).
    pub slow_connect_calls: u64,
    /// Requests unanswered when the run ended (not errors: the clock ran out).
    pub unfinished: u64,
    /// Latency of completed operations, in microseconds (`null` when none completed).
    pub latency_us: Option<Latency>,
    /// Failed operations by kind (every kind present, zeros included).
    pub errors: BTreeMap<&'static str, u64>,
    /// Sum of `errors`.
    pub errors_total: u64,
    /// Replies that failed verification, by kind (a subset of `errors`).
    pub verify_errors: VerifyErrors,
    /// The load generator's own CPU use.
    pub client_cpu: ClientCpu,
    /// `hold` only.
    pub hold: Option<HoldReport>,
}

impl Report {
    /// Builds the report from merged counters and the run's wall-clock time.
    pub fn new(
        config: &BenchConfig,
        stats: &Stats,
        phases: Phases,
        hold: Option<HoldReport>,
    ) -> Report {
        let elapsed = phases.window;
        let secs = elapsed.as_secs_f64().max(1e-9);
        let ramped = matches!(config.scenario, Scenario::Echo | Scenario::Lines);
        let ramp_secs = phases.ramp.as_secs_f64();
        let busy = stats.cpu.as_secs_f64() / stats.wall.as_secs_f64().max(1e-9);
        let of = |kind: ErrorKind| stats.errors[kind.index()];
        Report {
            mode: if config.rate.is_some() {
                "open-loop"
            } else {
                "closed-loop"
            },
            target_rate: config.rate,
            warmup_secs: config.warmup.as_secs_f64(),
            ramp: ramped.then(|| Ramp {
                secs: ramp_secs,
                connected: phases.ramp_connected,
                connect_rate: phases.ramp_connected as f64 / ramp_secs.max(1e-9),
            }),
            connect_latency_us: percentiles(&stats.connect_latency),
            verify_errors: VerifyErrors {
                total: stats.verify_total(),
                mismatch: of(ErrorKind::Mismatch),
                crossed: of(ErrorKind::Crossed),
                duplicate: of(ErrorKind::Duplicate),
                reordered: of(ErrorKind::Reordered),
            },
            client_cpu: ClientCpu {
                cpu_secs: stats.cpu.as_secs_f64(),
                busy,
                bottleneck: busy >= BOTTLENECK_BUSY,
            },
            scenario: config.scenario.name(),
            protocol: config.protocol.name(),
            target: config.addr.to_string(),
            threads: config.threads.min(config.conns), // never more loops than connections
            conns: config.conns,
            size: config.size,
            pipeline: config.pipeline,
            elapsed_secs: elapsed.as_secs_f64(),
            ops: stats.ops,
            rate: stats.ops as f64 / secs,
            throughput_bytes_per_sec: stats.bytes_received as f64 / secs,
            bytes_sent: stats.bytes_sent,
            bytes_received: stats.bytes_received,
            connects: stats.connects,
            slow_connect_calls: stats.slow_connect_calls,
            unfinished: stats.unfinished,
            latency_us: percentiles(&stats.latency),
            errors: ErrorKind::ALL
                .iter()
                .map(|kind| (kind.name(), stats.errors[kind.index()]))
                .collect(),
            errors_total: stats.error_total(),
            hold,
        }
    }

    /// One line naming the likely cause when the server refused, reset or
    /// closed connections, or when this client's own `connect` calls were slow.
    pub fn hint(&self) -> Option<String> {
        let refused: u64 = ErrorKind::ALL
            .iter()
            .filter(|kind| kind.is_refusal())
            .map(|&kind| self.errors_of(kind))
            .sum();
        let refusals = (refused > 0).then(|| {
            format!(
                "the server refused, reset or closed {refused} connection(s): per-source limits? \
                 see reactord's --max-conns-per-ip and --conn-rate-per-ip (0: no limit), \
                 or the server's listen backlog"
            )
        });
        refusals.or_else(|| self.port_search_hint())
    }

    /// Churn from one source address past ~14,000 connects a second: more
    /// than 1 in 1,000 `connect` calls searched for a port (see BENCHMARKS.md).
    /// A handful of slow calls is a busy machine preempting the client, not a
    /// port search: a ramp of 1,000 connections on a loaded machine has a few.
    fn port_search_hint(&self) -> Option<String> {
        let slow = self.slow_connect_calls;
        (slow >= MIN_SLOW_CONNECTS && slow * 1000 >= self.connects).then(|| {
            format!(
                "{slow} of {} connect() calls took over 1 ms in this client's kernel, most \
                 likely searching for a free source port (the recent ones wait in TIME_WAIT): \
                 then the rate and the latency tail are the client's; on loopback, --sources 4 \
                 spreads the connections over 4 source addresses",
                self.connects
            )
        })
    }

    /// Failed operations of one kind.
    pub fn errors_of(&self, kind: ErrorKind) -> u64 {
        self.errors.get(kind.name()).copied().unwrap_or(0)
    }

    /// The report as one line of JSON.
    pub fn to_json(&self) -> String {
        // Every field is a number, string, map with string keys or option: cannot fail.
        serde_json::to_string(self).expect("a Report always serializes")
    }
}

/// The percentiles of a histogram, `None` when it is empty.
fn percentiles(h: &Histogram<u64>) -> Option<Latency> {
    (!h.is_empty()).then(|| Latency {
        p50: h.value_at_quantile(0.50),
        p90: h.value_at_quantile(0.90),
        p99: h.value_at_quantile(0.99),
        p999: h.value_at_quantile(0.999),
        max: h.max(),
        mean: h.mean(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_has_every_error_kind_and_the_table_aligns() {
        let config = BenchConfig::new(Scenario::Echo, "127.0.0.1:7".parse().unwrap());
        let mut stats = Stats::new();
        stats.record(Duration::from_micros(50));
        stats.error(ErrorKind::Mismatch);
        let phases = Phases {
            ramp: Duration::from_millis(500),
            ramp_connected: 10,
            window: Duration::from_secs(1),
        };
        let report = Report::new(&config, &stats, phases, None);
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["ops"], 1);
        assert_eq!(json["errors"]["mismatch"], 1);
        assert_eq!(json["errors"]["reset"], 0);
        assert_eq!(json["latency_us"]["p50"], 50);
        let table = report.to_string();
        assert!(table.contains("errors         mismatch 1"), "{table}");
        assert_eq!(json["verify_errors"]["total"], 1);
        assert_eq!(json["ramp"]["connect_rate"], 20.0);
        assert!(
            table.contains("10 of 10 connected in 0.50 s (20 connects/s)"),
            "{table}"
        );
        assert!(report.hint().is_none());
    }

    #[test]
    fn slow_connect_calls_earn_a_hint_that_names_the_client() {
        let config = BenchConfig::new(Scenario::Churn, "127.0.0.1:7".parse().unwrap());
        let phases = Phases {
            ramp: Duration::ZERO,
            ramp_connected: 0,
            window: Duration::from_secs(1),
        };
        let mut stats = Stats::new();
        stats.connects = 20_000;
        stats.note_connect_call(Duration::from_micros(900));
        for _ in 0..18 {
            stats.note_connect_call(Duration::from_millis(1));
        }
        assert!(Report::new(&config, &stats, phases, None).hint().is_none());
        stats.note_connect_call(Duration::from_millis(30));
        assert!(
            Report::new(&config, &stats, phases, None).hint().is_none(),
            "19 slow calls: a busy machine, not a port search"
        );
        stats.note_connect_call(Duration::from_millis(2));
        let report = Report::new(&config, &stats, phases, None);
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["slow_connect_calls"], 20);
        let hint = report.hint().expect("20 slow calls in 20,000 connects");
        assert!(hint.contains("20 of 20000 connect() calls"), "{hint}");
        assert!(hint.contains("--sources"), "{hint}");
    }
}
