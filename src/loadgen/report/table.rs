//! The human-readable form of a [`Report`]: an aligned two-column table.
//!
//! One figure per line, names padded to one width, large numbers grouped by
//! thousands (`1,234,567`) so that orders of magnitude can be read at a glance.
//! Only rows that mean something for this run are shown (the ramp, the hold,
//! the errors that happened).

use super::Report;
use std::fmt;

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
            (
                "mode",
                match self.target_rate {
                    Some(rate) => format!(
                        "open-loop, {} requests/s scheduled (latency from the scheduled time)",
                        grouped(rate.round() as u64)
                    ),
                    None => "closed-loop".into(),
                },
            ),
            (
                "window",
                format!(
                    "{:.2} s measured, after {:.2} s of warm-up",
                    self.elapsed_secs, self.warmup_secs
                ),
            ),
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
        if let Some(ramp) = &self.ramp {
            rows.push((
                "ramp",
                format!(
                    "{} of {} connected in {:.2} s ({} connects/s)",
                    grouped(ramp.connected),
                    grouped(self.conns as u64),
                    ramp.secs,
                    grouped(ramp.connect_rate.round() as u64)
                ),
            ));
        }
        if let Some(c) = &self.connect_latency_us {
            rows.push((
                "connect p50/p99",
                format!("{} / {} us", grouped(c.p50), grouped(c.p99)),
            ));
        }
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
        let v = &self.verify_errors;
        rows.push((
            "verify_errors",
            format!(
                "{} (mismatch {}, crossed {}, duplicate {}, reordered {})",
                v.total, v.mismatch, v.crossed, v.duplicate, v.reordered
            ),
        ));
        let cpu = &self.client_cpu;
        rows.push((
            "client cpu",
            format!(
                "{:.2} s, {:.0}% busy{}",
                cpu.cpu_secs,
                cpu.busy * 100.0,
                if cpu.bottleneck {
                    ": the load generator was the bottleneck (try --threads)"
                } else {
                    ""
                }
            ),
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

    #[test]
    fn digits_group_by_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(1234567), "1,234,567");
    }
}
