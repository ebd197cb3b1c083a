//! timestamp (tutorial 001): each message M is answered with `[T] M`, T being
//! the current UTC time in C `ctime` form, e.g. `[Sat Nov 21 20:40:50 2026] hi`.

use super::ctime::write_ctime;
use std::time::SystemTime;

/// Appends the reply to one message (without any line terminator).
pub fn on_message(message: &[u8], now: SystemTime, out: &mut Vec<u8>) {
    out.push(b'[');
    write_ctime(now, out);
    out.extend_from_slice(b"] ");
    out.extend_from_slice(message);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn prefixes_the_time_and_keeps_the_bytes() {
        let mut out = Vec::new();
        on_message(
            b"\xffhi",
            UNIX_EPOCH + Duration::from_secs(1_795_293_650),
            &mut out,
        );
        assert_eq!(out, b"[Sat Nov 21 20:40:50 2026] \xffhi");
    }
}
