//! The C `ctime` time format, as Python's `time.ctime()` prints it in UTC.
//!
//! `Sat Nov 21 20:40:50 2026`: weekday, month, day of month padded with a
//! space to two columns, 24-hour time, four-digit year. The timestamp protocol
//! puts this between brackets in front of every message.
//!
//! The handler never reads the clock: the driver passes `now` in, which keeps
//! the protocol deterministic and testable. The conversion from seconds to a
//! civil date is Howard Hinnant's `civil_from_days`, which is exact for every
//! day of the proleptic Gregorian calendar and needs no tables, so a twenty-line
//! function serves instead of a date-time dependency.
//!
//! Formatting happens at most once per second per thread: every message in
//! the same second gets the same text, so the last second's 24 bytes are kept
//! in a thread-local memo and copied. The memo only remembers what `now`
//! already determines, so the output still depends on `now` alone (no clock
//! read, no shared state between threads): the reactor's one thread formats
//! once a second however many timestamps it sends.

use std::cell::Cell;
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

/// Length of a `ctime` text for years 1000..=9999 (the only ones memoized).
const CTIME_LEN: usize = 24;

thread_local! {
    /// The last second formatted on this thread, and its text.
    static LAST: Cell<Option<(i64, [u8; CTIME_LEN])>> = const { Cell::new(None) };
}

const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Seconds since the Unix epoch, negative before it.
fn unix_seconds(now: SystemTime) -> i64 {
    match now.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => {
            let d = before.duration();
            // Round towards negative infinity so 0.5 s before the epoch is 23:59:59.
            let whole = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            if d.subsec_nanos() > 0 {
                -whole - 1
            } else {
                -whole
            }
        }
    }
}

/// Converts days since 1970-01-01 into (year, month 1..=12, day 1..=31).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, 0..=146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of year from March 1st
    let mp = (5 * doy + 2) / 153; // month from March, 0..=11
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Appends `now` in `ctime` form (24 bytes for years 1000..=9999) to `out`.
pub fn write_ctime(now: SystemTime, out: &mut Vec<u8>) {
    let secs = unix_seconds(now);
    if let Some((last, text)) = LAST.get() {
        if last == secs {
            out.extend_from_slice(&text);
            return;
        }
    }
    let start = out.len();
    format_ctime(secs, out);
    if let Ok(text) = <[u8; CTIME_LEN]>::try_from(&out[start..]) {
        LAST.set(Some((secs, text)));
    }
}

/// Formats `secs` since the epoch in `ctime` form, appended to `out`.
fn format_ctime(secs: i64, out: &mut Vec<u8>) {
    let days = secs.div_euclid(86_400);
    let second_of_day = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let weekday = WEEKDAYS[days.rem_euclid(7) as usize];
    let month_name = MONTHS[(month - 1) as usize];
    // Writing into a Vec cannot fail.
    let _ = write!(
        out,
        "{weekday} {month_name} {day:>2} {:02}:{:02}:{:02} {year}",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64) -> String {
        let mut out = Vec::new();
        write_ctime(UNIX_EPOCH + Duration::from_secs(secs), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_memo_never_serves_another_second() {
        // Alternate between seconds so every call after the first could hit a stale memo.
        for secs in [0, 0, 1, 1, 0, 86_399, 86_400, 86_400] {
            let mut fresh = Vec::new();
            format_ctime(secs as i64, &mut fresh);
            assert_eq!(at(secs).as_bytes(), fresh.as_slice(), "at {secs}");
        }
        // Half a second later is the same second, and the same text.
        let mut a = Vec::new();
        write_ctime(UNIX_EPOCH + Duration::from_millis(10_100), &mut a);
        write_ctime(UNIX_EPOCH + Duration::from_millis(10_900), &mut a);
        assert_eq!(&a[..24], &a[24..]);
    }

    #[test]
    fn epoch() {
        assert_eq!(at(0), "Thu Jan  1 00:00:00 1970");
    }

    #[test]
    fn issue_example_and_space_padded_day() {
        // date -u -d @1795293650
        assert_eq!(at(1_795_293_650), "Sat Nov 21 20:40:50 2026");
        // 2026-11-01 00:00:00 UTC was a Sunday.
        assert_eq!(at(1_793_491_200), "Sun Nov  1 00:00:00 2026");
    }

    #[test]
    fn leap_days_and_century_rules() {
        assert_eq!(at(951_782_400), "Tue Feb 29 00:00:00 2000");
        assert_eq!(at(1_709_164_800), "Thu Feb 29 00:00:00 2024");
        assert_eq!(at(4_107_542_399), "Sun Feb 28 23:59:59 2100");
        assert_eq!(at(4_107_542_400), "Mon Mar  1 00:00:00 2100");
        // Past the 32-bit time_t limit.
        assert_eq!(at(2_147_483_648), "Tue Jan 19 03:14:08 2038");
    }

    #[test]
    fn before_the_epoch() {
        let mut out = Vec::new();
        write_ctime(UNIX_EPOCH - Duration::from_millis(500), &mut out);
        assert_eq!(out, b"Wed Dec 31 23:59:59 1969");
    }

    #[test]
    fn every_day_for_ten_years_round_trips_through_day_numbers() {
        // civil_from_days must be strictly increasing and consistent with month lengths.
        let mut previous = civil_from_days(-1);
        for days in 0..3_653 {
            let current = civil_from_days(days);
            let next_day_same_month =
                current.0 == previous.0 && current.1 == previous.1 && current.2 == previous.2 + 1;
            let new_month = current.2 == 1 && (current.1 == previous.1 % 12 + 1);
            assert!(
                next_day_same_month || new_month,
                "{previous:?} -> {current:?}"
            );
            previous = current;
        }
    }
}
