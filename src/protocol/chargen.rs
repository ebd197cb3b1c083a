//! chargen (RFC 864): an endless stream of rotating lines of printable ASCII.
//!
//! Each line holds 72 characters from the 95 printable ones (`' '` to `'~'`),
//! starting one character later than the line before, and ends in CRLF:
//!
//! ```text
//! !"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\]^_`abcdefgh
//! "#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\]^_`abcdefghi
//! ```
//!
//! Over TCP the stream never ends, which makes chargen the lesson in writing
//! to a slow reader: the driver asks for more only when the socket has taken
//! what it had, so the server never buffers more than one batch however slow
//! the client. Over UDP each datagram is answered with one such line.

/// Characters per line, before the CRLF.
pub const LINE_WIDTH: usize = 72;
/// A line with its CRLF.
pub const LINE_LEN: usize = LINE_WIDTH + 2;
const FIRST: u8 = b' ';
const PRINTABLE: usize = 95;

/// One whole period of the stream: the 95 lines, each starting one
/// character later, with their CRLFs (7,030 bytes, built at compile time).
/// Producing output is then a few `memcpy`s of this, not a computation per
/// byte: chargen is the bulk stream the fairness tests and benches push.
const PERIOD: [u8; PRINTABLE * LINE_LEN] = {
    let mut period = [0u8; PRINTABLE * LINE_LEN];
    let mut line = 0;
    while line < PRINTABLE {
        let mut i = 0;
        while i < LINE_WIDTH {
            period[line * LINE_LEN + i] = FIRST + ((line + i) % PRINTABLE) as u8;
            i += 1;
        }
        period[line * LINE_LEN + LINE_WIDTH] = b'\r';
        period[line * LINE_LEN + LINE_WIDTH + 1] = b'\n';
        line += 1;
    }
    period
};

/// Appends the line that starts at printable character `offset` (mod 95).
pub fn write_line(offset: usize, out: &mut Vec<u8>) {
    let start = (offset % PRINTABLE) * LINE_LEN;
    out.extend_from_slice(&PERIOD[start..start + LINE_LEN]);
}

/// Appends whole lines, starting at `*next`, until `out` holds at least `out_limit` bytes.
pub fn fill(next: &mut usize, out: &mut Vec<u8>, out_limit: usize) {
    while out.len() < out_limit {
        let first = *next % PRINTABLE;
        let wanted = (out_limit - out.len()).div_ceil(LINE_LEN);
        let lines = wanted.min(PRINTABLE - first);
        out.extend_from_slice(&PERIOD[first * LINE_LEN..(first + lines) * LINE_LEN]);
        *next = (first + lines) % PRINTABLE;
    }
}

/// The UDP answer: one line, its rotation taken from the time so that
/// successive datagrams differ without any per-client state.
pub fn on_datagram(unix_seconds: u64, out: &mut Vec<u8>) {
    write_line((unix_seconds % PRINTABLE as u64) as usize, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_rotate_by_one_and_end_in_crlf() {
        let mut out = Vec::new();
        let mut next = 0;
        fill(&mut next, &mut out, 1);
        fill(&mut next, &mut out, 2 * LINE_LEN);
        assert_eq!(out.len(), 2 * LINE_LEN);
        assert_eq!(&out[..3], b" !\"");
        assert_eq!(&out[LINE_LEN..LINE_LEN + 3], b"!\"#");
        assert_eq!(&out[LINE_LEN - 2..LINE_LEN], b"\r\n");
        assert!(out
            .iter()
            .all(|&b| (b' '..=b'~').contains(&b) || b == b'\r' || b == b'\n'));
    }

    #[test]
    fn fill_matches_line_by_line_across_the_period() {
        let (mut next, mut filled) = (90, Vec::new());
        fill(&mut next, &mut filled, 300 * LINE_LEN + 1);
        let mut expected = Vec::new();
        for line in 90..90 + 301 {
            write_line(line, &mut expected);
        }
        assert_eq!(filled, expected);
        assert_eq!(next, (90 + 301) % PRINTABLE);
    }

    #[test]
    fn the_rotation_wraps_after_95_lines() {
        let (mut first, mut wrapped) = (Vec::new(), Vec::new());
        write_line(0, &mut first);
        write_line(95, &mut wrapped);
        assert_eq!(first, wrapped);
    }
}
