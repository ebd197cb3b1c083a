//! The result of a run: a [`Report`], printed as an aligned table or one JSON object.

use super::config::BenchConfig;
use super::error::ErrorKind;
use super::stats::Stats;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

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
    /// Wall-clock time of the run, in seconds.
    pub elapsed_secs: f64,
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
    /// Requests unanswered when the run ended (not errors: the clock ran out).
    pub unfinished: u64,
    /// Latency of completed operations, in microseconds (`null` when none completed).
    pub latency_us: Option<Latency>,
    /// Failed operations by kind (every kind present, zeros included).
    pub errors: BTreeMap<&'static str, u64>,
    /// Sum of `errors`.
    pub errors_total: u64,
    /// `hold` only.
    pub hold: Option<HoldReport>,
}

impl Report {
    /// Builds the report from merged counters and the run's wall-clock time.
    pub fn new(
        config: &BenchConfig,
        stats: &Stats,
        elapsed: Duration,
        hold: Option<HoldReport>,
    ) -> Report {
        let secs = elapsed.as_secs_f64().max(1e-9);
        let h = &stats.latency;
        let latency = (!h.is_empty()).then(|| Latency {
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            mean: h.mean(),
        });
        Report {
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
            unfinished: stats.unfinished,
            latency_us: latency,
            errors: ErrorKind::ALL
                .iter()
                .map(|kind| (kind.name(), stats.errors[kind.index()]))
                .collect(),
            errors_total: stats.error_total(),
            hold,
        }
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

/// Groups digits by thousands: 1234567 -> `1,234,567`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl fmt::Display for Report {
    /// An aligned two-column table, one figure per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rows: Vec<(&str, String)> = vec![
            ("scenario", format!("{} ({})", self.scenario, self.protocol)),
            ("target", self.target.clone()),
            (
                "load",
                format!(
                    "{} conns x {} in flight, {} B, {} thread(s)",
                    self.conns, self.pipeline, self.size, self.threads
                ),
            ),
            ("elapsed", format!("{:.2} s", self.elapsed_secs)),
            ("operations", grouped(self.ops)),
            (
                "rate",
                format!("{} ops/s", grouped(self.rate.round() as u64)),
            ),
            (
                "throughput",
                format!(
                    "{} B/s received",
                    grouped(self.throughput_bytes_per_sec.round() as u64)
                ),
            ),
            ("connects", grouped(self.connects)),
            ("unfinished", grouped(self.unfinished)),
        ];
        match &self.latency_us {
            Some(l) => {
                for (name, value) in [
                    ("latency p50", l.p50),
                    ("latency p90", l.p90),
                    ("latency p99", l.p99),
                    ("latency p99.9", l.p999),
                    ("latency max", l.max),
                ] {
                    rows.push((name, format!("{} us", grouped(value))));
                }
            }
            None => rows.push(("latency", "no operation completed".into())),
        }
        if let Some(h) = &self.hold {
            rows.push((
                "held",
                format!("{} established / {} asked", h.established, h.target),
            ));
            rows.push((
                "verified",
                format!(
                    "{} before, {} of {} sampled after",
                    h.verified, h.sample_verified, h.sampled
                ),
            ));
            rows.push(("lost while idle", grouped(h.lost_while_idle)));
        }
        let errors: Vec<String> = self
            .errors
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(kind, n)| format!("{kind} {}", grouped(*n)))
            .collect();
        rows.push((
            "errors",
            if errors.is_empty() {
                "none".into()
            } else {
                errors.join(", ")
            },
        ));
        let width = rows.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
        for (name, value) in rows {
            writeln!(f, "{name:<width$}  {value}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loadgen::config::Scenario;

    #[test]
    fn digits_group_by_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(1234567), "1,234,567");
    }

    #[test]
    fn json_has_every_error_kind_and_the_table_aligns() {
        let config = BenchConfig::new(Scenario::Echo, "127.0.0.1:7".parse().unwrap());
        let mut stats = Stats::new();
        stats.record(Duration::from_micros(50));
        stats.error(ErrorKind::Mismatch);
        let report = Report::new(&config, &stats, Duration::from_secs(1), None);
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["ops"], 1);
        assert_eq!(json["errors"]["mismatch"], 1);
        assert_eq!(json["errors"]["reset"], 0);
        assert_eq!(json["latency_us"]["p50"], 50);
        let table = report.to_string();
        assert!(table.contains("errors         mismatch 1"), "{table}");
    }
}
