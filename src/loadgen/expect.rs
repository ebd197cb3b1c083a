//! What to send and what must come back, built once per run.
//!
//! An [`Exchange`] holds one request and a [`Reply`] template. Because every
//! connection sends the same bytes, one `Exchange` per event loop serves all
//! of them: a connection keeps only offsets into these buffers, so the hot
//! path neither allocates nor copies. (The price: a server that swapped two
//! connections' replies would go unnoticed. UDP stamps a sequence number into
//! each datagram, where a late reply is otherwise indistinguishable.)
//!
//! Replies are checked as they arrive, chunk by chunk, against the template:
//! every byte must be equal, except inside a timestamp's `ctime` field, where
//! each byte must have the right *shape* (`Www Mmm dd hh:mm:ss yyyy`). The
//! server's clock is its own business; the format is ours to check.

use crate::protocol::Protocol;
use std::ops::Range;

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
    /// Where the message body starts inside the reply (for stamping UDP sequence numbers).
    body_in_reply: usize,
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
        }
    }

    /// Writes `seq` into the first bytes of the body, in request and reply alike.
    ///
    /// Returns the range of the reply that holds the stamp. Lower-case hex
    /// digits keep the body a valid `hello` name.
    pub fn stamp(&mut self, seq: u64) -> Range<usize> {
        let width = self.request.len().min(16);
        let reply_at = self.body_in_reply;
        for i in 0..width {
            let nibble = (seq >> (4 * (width - 1 - i))) & 0xf;
            let digit = b"0123456789abcdef"[nibble as usize];
            self.request[i] = digit;
            self.reply.bytes[reply_at + i] = digit;
        }
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
    fn short_bodies_stamp_fewer_digits() {
        let mut x = Exchange::new(Protocol::Echo, 2, true);
        assert_eq!(x.stamp(0x1234), 0..2);
        assert_eq!(x.request, b"34");
    }
}
