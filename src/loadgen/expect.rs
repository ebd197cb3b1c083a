//! What to send and what must come back, built once per run.
//!
//! An [`Exchange`] holds one request and a [`Reply`] template, shared by every
//! connection of an event loop. What differs between requests is a *stamp*:
//! the first (up to 16) bytes of each body are lower-case hex digits naming
//! the sending connection (the high 8 digits) and the request's sequence
//! number on it (the low 8). The server echoes the body back, so each reply
//! names the request it answers, and [`verdict`] tells a correct reply from
//! one meant for another connection (`crossed`), one sent twice
//! (`duplicate`) or one that overtook an earlier reply (`reordered`): errors
//! a shared template alone would let pass over TCP. A connection keeps only
//! offsets and the stamp bytes of the reply being read, so the hot path
//! neither allocates nor copies more than the 16 stamp bytes. Bodies shorter
//! than 16 bytes carry fewer digits: the low ones, so the sequence number
//! first (below 9 digits the connection id is not checked).
//!
//! Replies are checked as they arrive, chunk by chunk, against the template:
//! every byte must be equal, except inside a timestamp's `ctime` field, where
//! each byte must have the right *shape* (`Www Mmm dd hh:mm:ss yyyy`). The
//! server's clock is its own business; the format is ours to check.

use super::error::ErrorKind;
use crate::protocol::Protocol;
use std::ops::Range;

/// Most hex digits a stamp has: 8 for the connection id, 8 for the sequence number.
pub const STAMP_DIGITS: usize = 16;

/// The stamp of request `seq` on connection `conn`: id in the high 32 bits, sequence in the low.
pub fn stamp_value(conn: usize, seq: u64) -> u64 {
    ((conn as u64) << 32) | (seq & 0xffff_ffff)
}

/// Writes the low `dst.len()` hex digits of `value` into `dst`, most significant first.
fn write_hex(value: u64, dst: &mut [u8]) {
    let width = dst.len();
    for (i, byte) in dst.iter_mut().enumerate() {
        let nibble = (value >> (4 * (width - 1 - i))) & 0xf;
        *byte = b"0123456789abcdef"[nibble as usize];
    }
}

/// Judges a reply's stamp `got` against the stamp `expected` of the reply owed next.
///
/// `None`: it is the reply owed. Otherwise the kind of error: not hex at all
/// is a `mismatch`; another connection's id is `crossed`; an earlier
/// sequence number (already answered) is a `duplicate`; a later one is
/// `reordered`. Sequence numbers compare modulo the digits present, so a
/// short stamp that wraps is judged by the nearer distance.
pub fn verdict(got: &[u8], expected: u64) -> Option<ErrorKind> {
    let width = got.len().min(STAMP_DIGITS);
    let mut value = 0u64;
    for &byte in &got[..width] {
        let digit = match byte {
            b'0'..=b'9' => byte - b'0',
            b'a'..=b'f' => byte - b'a' + 10,
            _ => return Some(ErrorKind::Mismatch), // we only ever send lower-case hex
        };
        value = (value << 4) | u64::from(digit);
    }
    let bits = 4 * width as u32;
    let mask = if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let expected = expected & mask;
    if value == expected {
        return None;
    }
    let seq_bits = bits.min(32);
    if bits > 32 && (value >> 32) != (expected >> 32) {
        return Some(ErrorKind::Crossed);
    }
    let seq_mask = (1u64 << seq_bits) - 1;
    let ahead = value.wrapping_sub(expected) & seq_mask;
    Some(if ahead < (1u64 << (seq_bits - 1)) {
        ErrorKind::Reordered
    } else {
        ErrorKind::Duplicate
    })
}

/// `ctime` as a pattern: `A` upper-case letter, `a` lower-case, `d` digit,
/// `_` digit or space (the day of month is padded with a space), others literal.
const CTIME_SHAPE: &[u8; 24] = b"Aaa Aaa _d dd:dd:dd dddd";

/// The bytes a reply must have, with an optional `ctime` field checked by shape.
#[derive(Debug, Clone)]
pub struct Reply {
    bytes: Vec<u8>,
    /// Where a `ctime` field starts, if the reply has one.
    ctime_at: Option<usize>,
}

impl Reply {
    /// A reply that must equal `bytes` exactly.
    pub fn exact(bytes: Vec<u8>) -> Reply {
        Reply {
            bytes,
            ctime_at: None,
        }
    }

    /// Length of a whole reply.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether a reply is empty (never, for the protocols we speak).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Whether `chunk`, found at `offset` in a reply, is what the template allows.
    ///
    /// Bytes inside `ignore` are not checked at all (a UDP sequence stamp).
    pub fn matches(&self, offset: usize, chunk: &[u8], ignore: Range<usize>) -> bool {
        let Some(expected) = self.bytes.get(offset..offset + chunk.len()) else {
            return false;
        };
        let ctime = self.ctime_at.map_or(0..0, |at| at..at + CTIME_SHAPE.len());
        if ctime.is_empty() && ignore.is_empty() {
            return expected == chunk; // the common case: one memcmp
        }
        chunk
            .iter()
            .zip(expected)
            .enumerate()
            .all(|(i, (&got, &want))| {
                let at = offset + i;
                if ignore.contains(&at) {
                    true
                } else if ctime.contains(&at) {
                    fits_shape(CTIME_SHAPE[at - ctime.start], got)
                } else {
                    got == want
                }
            })
    }
}

fn fits_shape(shape: u8, got: u8) -> bool {
    match shape {
        b'A' => got.is_ascii_uppercase(),
        b'a' => got.is_ascii_lowercase(),
        b'd' => got.is_ascii_digit(),
        b'_' => got.is_ascii_digit() || got == b' ',
        literal => got == literal,
    }
}

/// One request, the reply it must get, and the greeting (if any) on connect.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The bytes of one request, as written to the socket.
    pub request: Vec<u8>,
    /// The reply template for one request.
    pub reply: Reply,
    /// What the server sends first on a new TCP connection.
    pub greeting: Option<Reply>,
    /// Where the message body starts inside the reply (where its stamp is).
    body_in_reply: usize,
    /// Bytes in the body (the request without its newline).
    body_len: usize,
}

impl Exchange {
    /// The exchange for `protocol` with a body of `size` bytes, over TCP or UDP.
    ///
    /// `protocol` is one of [`SUPPORTED`](super::config::SUPPORTED); any other gets echo's.
    ///
    /// TCP line protocols end each request and reply with `\n`; UDP datagrams
    /// are their own frames. The body is lower-case letters, so it is a valid
    /// name for `hello` and never the word `exit`.
    pub fn new(protocol: Protocol, size: usize, udp: bool) -> Exchange {
        let body: Vec<u8> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
        let newline: &[u8] = if udp || protocol == Protocol::Echo {
            b""
        } else {
            b"\n"
        };
        // Not a `match`: the server grows protocols the generator does not
        // speak, and `BenchConfig::validate` has already refused those.
        let (prefix, suffix): (Vec<u8>, &[u8]) = if protocol == Protocol::Hello {
            (b"Hello, ".to_vec(), b"!")
        } else if protocol == Protocol::Timestamp {
            ([b"[".as_slice(), CTIME_SHAPE, b"] "].concat(), b"")
        } else {
            (Vec::new(), b"")
        };
        let reply = [prefix.as_slice(), &body, suffix, newline].concat();
        Exchange {
            request: [body.as_slice(), newline].concat(),
            reply: Reply {
                bytes: reply,
                ctime_at: (protocol == Protocol::Timestamp).then_some(1),
            },
            greeting: (protocol == Protocol::Hello && !udp)
                .then(|| Reply::exact(b"Welcome!\n".to_vec())),
            body_in_reply: prefix.len(),
            body_len: size,
        }
    }

    /// Hex digits in each stamp: the body's length, at most [`STAMP_DIGITS`].
    pub fn stamp_width(&self) -> usize {
        self.body_len.min(STAMP_DIGITS)
    }

    /// Where the stamp sits inside a reply.
    pub fn reply_stamp(&self) -> Range<usize> {
        self.body_in_reply..self.body_in_reply + self.stamp_width()
    }

    /// Appends one request stamped with `value` (see [`stamp_value`]) to `out`.
    pub fn request_into(&self, value: u64, out: &mut Vec<u8>) {
        let at = out.len();
        out.extend_from_slice(&self.request);
        write_hex(value, &mut out[at..at + self.stamp_width()]);
    }

    /// Writes `seq` into the first bytes of the body, in request and reply alike (UDP).
    ///
    /// Returns the range of the reply that holds the stamp. Lower-case hex
    /// digits keep the body a valid `hello` name.
    pub fn stamp(&mut self, seq: u64) -> Range<usize> {
        let width = self.stamp_width();
        let reply_at = self.body_in_reply;
        write_hex(seq, &mut self.request[..width]);
        write_hex(seq, &mut self.reply.bytes[reply_at..reply_at + width]);
        reply_at..reply_at + width
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: Range<usize> = 0..0;

    #[test]
    fn hello_over_tcp_has_greeting_and_newlines() {
        let x = Exchange::new(Protocol::Hello, 3, false);
        assert_eq!(x.request, b"abc\n");
        assert!(x.reply.matches(0, b"Hello, abc!\n", NONE));
        assert!(!x.reply.matches(0, b"Hello, abd!\n", NONE));
        assert!(x.greeting.unwrap().matches(0, b"Welcome!\n", NONE));
    }

    #[test]
    fn timestamp_checks_the_shape_in_any_split() {
        let x = Exchange::new(Protocol::Timestamp, 2, false);
        let good = b"[Sun Nov  1 00:00:00 2026] ab\n";
        let bad = b"[Sun Nov  1 00:00:0x 2026] ab\n";
        for cut in 0..=good.len() {
            assert!(x.reply.matches(0, &good[..cut], NONE));
            assert!(x.reply.matches(cut, &good[cut..], NONE));
        }
        assert!(!x.reply.matches(0, bad, NONE));
        assert!(!x
            .reply
            .matches(0, b"[Sun Nov  1 00:00:00 2026] ab\n\n", NONE));
    }

    #[test]
    fn udp_stamps_request_and_reply_alike() {
        let mut x = Exchange::new(Protocol::Hello, 20, true);
        let stamp = x.stamp(0x1f);
        assert_eq!(&x.request[..17], b"000000000000001fq");
        assert!(x
            .reply
            .matches(0, &[b"Hello, ", x.request.as_slice(), b"!"].concat(), NONE));
        // An older datagram's reply differs only inside the stamp.
        let old = [
            b"Hello, 000000000000001e".as_slice(),
            &x.request[16..],
            b"!",
        ]
        .concat();
        assert!(!x.reply.matches(0, &old, NONE));
        assert!(x.reply.matches(0, &old, stamp));
    }

    #[test]
    fn verdicts_name_the_server_fault() {
        let ex = Exchange::new(Protocol::Echo, 32, false);
        let mut out = Vec::new();
        ex.request_into(stamp_value(7, 41), &mut out);
        assert_eq!(&out[..16], b"0000000700000029");
        let got = |conn, seq| {
            let mut buf = Vec::new();
            ex.request_into(stamp_value(conn, seq), &mut buf);
            verdict(&buf[..16], stamp_value(7, 41))
        };
        assert_eq!(got(7, 41), None);
        assert_eq!(got(8, 41), Some(ErrorKind::Crossed));
        assert_eq!(got(7, 40), Some(ErrorKind::Duplicate));
        assert_eq!(got(7, 42), Some(ErrorKind::Reordered));
        assert_eq!(verdict(b"000000070000002x", 0), Some(ErrorKind::Mismatch));
        // Four digits: the sequence number's low 16 bits, wrapping.
        assert_eq!(verdict(b"ffff", 0x1_0000), Some(ErrorKind::Duplicate));
        assert_eq!(verdict(b"0000", 0x1_0000), None);
    }

    #[test]
    fn short_bodies_stamp_fewer_digits() {
        let mut x = Exchange::new(Protocol::Echo, 2, true);
        assert_eq!(x.stamp(0x1234), 0..2);
        assert_eq!(x.request, b"34");
    }
}
