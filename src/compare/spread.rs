//! The spread of a design's rounds: median, lowest and highest, and whether to trust them.
//!
//! A figure without its spread invites more confidence than a shared, noisy
//! machine deserves. Every cell of `compare`'s tables is the median of the
//! rounds with its spread; a spread above [`NOISY`] flags the cell and the case.

use serde::Serialize;

/// Spread ((max - min) / median) above which a figure is flagged as noisy.
pub const NOISY: f64 = 0.25;

/// The median, lowest and highest of one figure over a design's rounds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Stat {
    /// The median (the mean of the middle two for an even count).
    pub median: f64,
    /// The lowest round.
    pub min: f64,
    /// The highest round.
    pub max: f64,
    /// Rounds measured.
    pub rounds: usize,
}

impl Stat {
    /// The statistic of `values`, ignoring non-finite ones; `None` when none are left.
    pub fn of(values: impl IntoIterator<Item = f64>) -> Option<Stat> {
        let mut v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Stat {
            median,
            min: v[0],
            max: v[n - 1],
            rounds: n,
        })
    }

    /// (max - min) / median: 0 for one round or identical rounds.
    pub fn spread(&self) -> f64 {
        if self.median > 0.0 {
            (self.max - self.min) / self.median
        } else {
            0.0
        }
    }

    /// Whether the rounds spread more than [`NOISY`].
    pub fn noisy(&self) -> bool {
        self.spread() > NOISY
    }

    /// `35.2k ±3%`: the median, then half the min-max range as a share of it; `!` when noisy.
    pub fn cell(&self, format: impl Fn(f64) -> String) -> String {
        let mut cell = format(self.median);
        if self.rounds > 1 {
            cell += &format!(" ±{:.0}%", self.spread() * 50.0);
        }
        if self.noisy() {
            cell += " !";
        }
        cell
    }
}

/// `35200` -> `35.2k`, `1234567` -> `1.23M`, small numbers as they are.
pub fn si(value: f64) -> String {
    match value.abs() {
        v if v >= 1e6 => format!("{:.2}M", value / 1e6),
        v if v >= 1e4 => format!("{:.1}k", value / 1e3),
        v if v >= 100.0 => format!("{value:.0}"),
        v if v >= 10.0 => format!("{value:.1}"),
        _ => format!("{value:.2}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_min_max_and_the_noise_flag() {
        let s = Stat::of([30.0, 10.0, 20.0]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.rounds), (20.0, 10.0, 30.0, 3));
        assert!(s.noisy());
        assert_eq!(s.cell(si), "20.0 ±50% !");
        let s = Stat::of([100.0, 110.0, f64::NAN, 105.0, 95.0]).unwrap();
        assert_eq!(s.median, 102.5);
        assert!(!s.noisy());
        assert_eq!(Stat::of([5.0]).unwrap().cell(si), "5.00");
        assert!(Stat::of([f64::NAN]).is_none());
        assert_eq!(si(35_200.0), "35.2k");
        assert_eq!(si(1_234_567.0), "1.23M");
    }
}
