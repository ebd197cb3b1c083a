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

/// The printable characters, then the first [`LINE_WIDTH`] of them again:
/// every line is one slice of this, so producing output is a `memcpy`, not
/// a computation per byte (chargen is the bulk stream the fairness tests use).
const RING: [u8; PRINTABLE + LINE_WIDTH] = {
    let mut ring = [0u8; PRINTABLE + LINE_WIDTH];
    let mut i = 0;
    while i < ring.len() {
        ring[i] = FIRST + (i % PRINTABLE) as u8;
        i += 1;
    }
    ring
};

/// Appends the line that starts at printable character `offset` (mod 95).
pub fn write_line(offset: usize, out: &mut Vec<u8>) {
    let start = offset % PRINTABLE;
    out.extend_from_slice(&RING[start..start + LINE_WIDTH]);
    out.extend_from_slice(b"\r\n");
}

/// Appends whole lines, starting at `*next`, until `out` holds at least `out_limit` bytes.
pub fn fill(next: &mut usize, out: &mut Vec<u8>, out_limit: usize) {
    while out.len() < out_limit {
        write_line(*next, out);
        *next = (*next + 1) % PRINTABLE;
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
    fn the_rotation_wraps_after_95_lines() {
        let (mut first, mut wrapped) = (Vec::new(), Vec::new());
        write_line(0, &mut first);
        write_line(95, &mut wrapped);
        assert_eq!(first, wrapped);
    }
}
