//! time (RFC 868): four bytes, the big-endian count of seconds since
//! 1900-01-01 00:00 UTC, then close.
//!
//! The count is taken modulo 2^32, as the wire format only has 32 bits: it
//! wraps on 2036-02-07 and keeps working after, as RFC 868 clients expect
//! (they assume the era nearest their own clock).

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds from 1900-01-01 to 1970-01-01 (70 years, 17 of them leap years).
pub const SECONDS_1900_TO_1970: i64 = 2_208_988_800;

/// The RFC 868 value for `now`.
pub fn seconds_since_1900(now: SystemTime) -> u32 {
    let unix = match now.duration_since(UNIX_EPOCH) {
        Ok(after) => after.as_secs() as i64,
        Err(before) => -(before.duration().as_secs() as i64),
    };
    (unix + SECONDS_1900_TO_1970).rem_euclid(1 << 32) as u32
}

/// Appends the four bytes for `now`.
pub fn write(now: SystemTime, out: &mut Vec<u8>) {
    out.extend_from_slice(&seconds_since_1900(now).to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn known_values() {
        assert_eq!(seconds_since_1900(UNIX_EPOCH), 2_208_988_800);
        // 2026-11-21 20:40:50 UTC.
        let now = UNIX_EPOCH + Duration::from_secs(1_795_293_650);
        assert_eq!(seconds_since_1900(now), 4_004_282_450);
        let mut out = Vec::new();
        write(now, &mut out);
        assert_eq!(out, 4_004_282_450u32.to_be_bytes());
    }

    #[test]
    fn wraps_in_2036_and_keeps_counting() {
        // 2036-02-07 06:28:16 UTC is 2^32 seconds after 1900.
        let wrap = UNIX_EPOCH + Duration::from_secs((1u64 << 32) - 2_208_988_800);
        assert_eq!(seconds_since_1900(wrap), 0);
        assert_eq!(seconds_since_1900(wrap + Duration::from_secs(5)), 5);
    }
}
