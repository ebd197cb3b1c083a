//! daytime (RFC 867): the current time as one human-readable line, then close.
//!
//! The line uses the timestamp protocol's `ctime` format and ends in CRLF, as
//! the RFC's examples do: `Sun Nov 22 14:20:34 2026\r\n`.

use super::ctime::write_ctime;
use std::time::SystemTime;

/// Appends the daytime line.
pub fn write(now: SystemTime, out: &mut Vec<u8>) {
    write_ctime(now, out);
    out.extend_from_slice(b"\r\n");
}
