//! Paired rounds: the arithmetic behind `compare --one-core`.
//!
//! On a shared or busy machine the speed available to a benchmark drifts
//! over minutes. Comparing one design's median with another's, each taken
//! over runs minutes apart, mixes that drift into the ratio. Pairing removes
//! most of it: every round runs each design once, back to back, and the
//! ratio is taken *within* the round, where both saw nearly the same
//! machine. The result is the median of those per-round ratios, with their
//! lowest and highest, and a verdict against the issue's target.
//!
//! Ratios here are always reactor ÷ other, for the rate as for the CPU time
//! per operation, as the targets are stated: a rate ratio above 1 and a CPU
//! ratio below 1 favour the reactor.

use super::pinned::PinnedRun;
use super::plan::Design;
use super::spread::Stat;
use serde::Serialize;
use std::collections::BTreeMap;

/// One round: every design once, back to back.
#[derive(Debug, Clone, Serialize)]
pub struct Round {
    /// Design names in the order they ran.
    pub order: Vec<&'static str>,
    /// Each design's run, by name.
    pub runs: BTreeMap<&'static str, PinnedRun>,
}

/// The order of round `round` (from 0): the reactor in the middle, right next
/// to each partner, and the partners swapping sides every round, so neither
/// always runs first on a machine that is warming up or getting busier.
pub fn order(round: usize, partners: &[Design]) -> Vec<Design> {
    let mut order = Vec::with_capacity(partners.len() + 1);
    order.extend(partners.first());
    order.push(Design::Reactor);
    order.extend(partners.iter().skip(1));
    if round % 2 == 1 {
        order.reverse();
    }
    order
}

/// `a / b` when both are finite and `b` is positive.
fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if a.is_finite() && b.is_finite() && b > 0.0 => Some(a / b),
        _ => None,
    }
}

/// The reactor against one partner, round by round.
#[derive(Debug, Clone, Serialize)]
pub struct PairedRatios {
    /// The partner's design name.
    pub partner: &'static str,
    /// Per round: reactor rate ÷ partner rate (`None` where either completed nothing).
    pub rate: Vec<Option<f64>>,
    /// Per round: reactor CPU µs per op ÷ partner's.
    pub cpu_per_op: Vec<Option<f64>>,
    /// The rate ratios' median, lowest and highest.
    pub rate_stat: Option<Stat>,
    /// The CPU ratios' median, lowest and highest.
    pub cpu_stat: Option<Stat>,
}

/// Pairs the reactor with `partner` in every round where both ran.
pub fn ratios(rounds: &[Round], partner: &'static str) -> PairedRatios {
    let pairs: Vec<(&PinnedRun, &PinnedRun)> = rounds
        .iter()
        .filter_map(|r| Some((r.runs.get(Design::Reactor.name())?, r.runs.get(partner)?)))
        .collect();
    let rate: Vec<Option<f64>> = pairs
        .iter()
        .map(|(r, p)| ratio((r.ops > 0).then_some(r.rate), (p.ops > 0).then_some(p.rate)))
        .collect();
    let cpu_per_op: Vec<Option<f64>> = pairs
        .iter()
        .map(|(r, p)| ratio(r.cpu_us_per_op(), p.cpu_us_per_op()))
        .collect();
    PairedRatios {
        partner,
        rate_stat: Stat::of(rate.iter().flatten().copied()),
        cpu_stat: Stat::of(cpu_per_op.iter().flatten().copied()),
        rate,
        cpu_per_op,
    }
}

/// One design's figures over all rounds.
#[derive(Debug, Clone, Serialize)]
pub struct DesignSummary {
    /// Operations per second.
    pub rate: Option<Stat>,
    /// Server CPU µs per operation.
    pub cpu_us_per_op: Option<Stat>,
    /// The load generator's busiest round against this design.
    pub client_share_max: f64,
    /// Rounds in which the load generator was the bottleneck.
    pub client_bound_rounds: usize,
    /// Errors over all rounds.
    pub errors: u64,
}

/// `design`'s figures over every round it ran in; `None` if it never ran.
pub fn summarize(rounds: &[Round], design: &str) -> Option<DesignSummary> {
    let runs: Vec<&PinnedRun> = rounds.iter().filter_map(|r| r.runs.get(design)).collect();
    if runs.is_empty() {
        return None;
    }
    Some(DesignSummary {
        rate: Stat::of(runs.iter().filter(|r| r.ops > 0).map(|r| r.rate)),
        cpu_us_per_op: Stat::of(runs.iter().filter_map(|r| r.cpu_us_per_op())),
        client_share_max: runs.iter().map(|r| r.client_share).fold(0.0, f64::max),
        client_bound_rounds: runs.iter().filter(|r| r.client_bound()).count(),
        errors: runs.iter().map(|r| r.errors).sum(),
    })
}

/// Which side of its bound a ratio must fall on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum Bound {
    /// The ratio must be at least this.
    AtLeast(f64),
    /// The ratio must be at most this.
    AtMost(f64),
}

/// A target from the issue, stated on a median paired ratio.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Target {
    /// `rate ratio`, `CPU per op ratio`.
    pub name: &'static str,
    /// What the median ratio must do.
    pub bound: Bound,
}

/// At least 1.10x tokio current-thread's rate on one core.
pub const RATE_TARGET: Target = Target {
    name: "rate ratio",
    bound: Bound::AtLeast(1.10),
};

/// At most 0.9x tokio current-thread's server CPU per operation on one core.
pub const CPU_TARGET: Target = Target {
    name: "CPU per op ratio",
    bound: Bound::AtMost(0.90),
};

impl Target {
    /// Whether `ratio` meets the target (the exact value, not the rounded one shown).
    pub fn met(&self, ratio: f64) -> bool {
        match self.bound {
            Bound::AtLeast(bound) => ratio >= bound,
            Bound::AtMost(bound) => ratio <= bound,
        }
    }

    /// `rate ratio 1.12 (target ≥ 1.10): met`; `not measured` without a ratio;
    /// pairs that spread more than [`NOISY`](super::spread::NOISY) say so after the verdict.
    pub fn line(&self, ratio: Option<&Stat>) -> String {
        let target = match self.bound {
            Bound::AtLeast(bound) => format!("≥ {bound:.2}"),
            Bound::AtMost(bound) => format!("≤ {bound:.2}"),
        };
        match ratio {
            Some(stat) => {
                let verdict = if self.met(stat.median) {
                    "met"
                } else {
                    "missed"
                };
                let mut line = format!(
                    "{} {:.2} (target {target}): {verdict}",
                    self.name, stat.median
                );
                if stat.noisy() {
                    // A verdict from pairs this far apart is not one to quote.
                    line += &format!(" (noisy: the pairs spread {:.2}–{:.2})", stat.min, stat.max);
                }
                line
            }
            None => format!("{} - (target {target}): not measured", self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(rate: f64, cpu_secs: f64) -> PinnedRun {
        PinnedRun {
            server_pid: 1,
            ops: (rate * 2.0) as u64,
            rate,
            server_cpu_secs: cpu_secs,
            client_share: 0.5,
            errors: 0,
        }
    }

    fn round(reactor: PinnedRun, tokio: PinnedRun) -> Round {
        Round {
            order: vec!["reactor", "tokio"],
            runs: [("reactor", reactor), ("tokio", tokio)].into(),
        }
    }

    #[test]
    fn the_reactor_sits_between_partners_that_swap_sides() {
        use Design::*;
        assert_eq!(order(0, &[Tokio]), [Tokio, Reactor]);
        assert_eq!(order(1, &[Tokio]), [Reactor, Tokio]);
        assert_eq!(order(2, &[Tokio, Baseline]), [Tokio, Reactor, Baseline]);
        assert_eq!(order(3, &[Tokio, Baseline]), [Baseline, Reactor, Tokio]);
    }

    #[test]
    fn ratios_are_taken_within_each_round_then_their_median() {
        // The machine halves its speed after two rounds: the medians of each design
        // would say 1.5 (1200 / 800); every pair says 1.2.
        let rounds = [
            round(run(1200.0, 1.0), run(1000.0, 1.25)),
            round(run(1200.0, 1.0), run(1000.0, 1.25)),
            round(run(600.0, 0.5), run(500.0, 0.625)),
            round(run(600.0, 1.0), run(400.0, 1.0)),
        ];
        let paired = ratios(&rounds, "tokio");
        assert_eq!(paired.rate.len(), 4);
        let rate = paired.rate_stat.unwrap();
        assert!((rate.median - 1.2).abs() < 1e-12, "{rate:?}");
        assert_eq!((rate.min, rate.max, rate.rounds), (1.2, 1.5, 4));
        // CPU per op: 1.0 s / 2400 ops against 1.25 s / 2000 ops: 0.6667 each, last 0.6667 too.
        let cpu = paired.cpu_stat.unwrap();
        assert!((cpu.median - 2.0 / 3.0).abs() < 1e-9, "{cpu:?}");
        let tokio = summarize(&rounds, "tokio").unwrap();
        assert_eq!(tokio.rate.unwrap().median, 750.0);
        assert!(summarize(&rounds, "baseline").is_none());
    }

    #[test]
    fn a_round_where_a_design_did_nothing_is_left_out_not_divided_by_zero() {
        let mut idle = run(0.0, 1.0);
        idle.ops = 0;
        let rounds = [
            round(run(1100.0, 1.0), idle),
            round(run(1100.0, 1.0), run(1000.0, 1.0)),
        ];
        let paired = ratios(&rounds, "tokio");
        assert_eq!(paired.rate[0], None);
        assert_eq!(paired.rate_stat.unwrap().rounds, 1);
        assert!(ratios(&rounds, "baseline").rate_stat.is_none());
    }

    #[test]
    fn targets_say_met_or_missed_in_the_issues_words() {
        let stat = |median| Stat {
            median,
            min: median,
            max: median,
            rounds: 1,
        };
        assert_eq!(
            RATE_TARGET.line(Some(&stat(1.126))),
            "rate ratio 1.13 (target ≥ 1.10): met"
        );
        assert_eq!(
            RATE_TARGET.line(Some(&stat(1.05))),
            "rate ratio 1.05 (target ≥ 1.10): missed"
        );
        assert_eq!(
            CPU_TARGET.line(Some(&stat(0.85))),
            "CPU per op ratio 0.85 (target ≤ 0.90): met"
        );
        assert_eq!(
            CPU_TARGET.line(Some(&stat(0.95))),
            "CPU per op ratio 0.95 (target ≤ 0.90): missed"
        );
        assert!(CPU_TARGET.met(0.90) && RATE_TARGET.met(1.10));
        let noisy = Stat::of([0.92, 1.11, 4.79]).unwrap();
        assert_eq!(
            RATE_TARGET.line(Some(&noisy)),
            "rate ratio 1.11 (target ≥ 1.10): met (noisy: the pairs spread 0.92–4.79)"
        );
        assert_eq!(
            RATE_TARGET.line(None),
            "rate ratio - (target ≥ 1.10): not measured"
        );
    }
}
