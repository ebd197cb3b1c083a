//! The PROXY protocol header (HAProxy's spec, v1 text and v2 binary), sans-IO.
//!
//! A load balancer in front of reactord opens its own connection to us, so the
//! socket's peer is the balancer, not the client. With the PROXY protocol the
//! balancer starts every connection with one header naming the real client;
//! that address is what the per-source limits, the logs and chat should see.
//!
//! This module decides *how long* the header is and whether it can still
//! become valid (every prefix of a valid header is [`Parse::Incomplete`]; a
//! byte that no valid header can have is [`Parse::Invalid`] at once), and
//! hands exactly the header's bytes to the `ppp` crate for the field parsing.
//! Measuring first is what lets the reactor *peek* at the socket and then
//! consume exactly the header, leaving the client's own bytes in the kernel.

use std::net::SocketAddr;

/// The v2 signature: 12 bytes no text protocol can begin with.
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// The fixed part of a v2 header: signature, version/command, family, length.
const V2_FIXED: usize = 16;
/// The v1 header begins with these bytes.
const V1_PREFIX: &[u8; 6] = b"PROXY ";
/// The spec's longest v1 header, `\r\n` included.
pub const V1_MAX: usize = 107;
/// The longest v2 header accepted (the spec allows 64 KiB of TLVs; HAProxy
/// sends a few dozen bytes, a few hundred with TLS details). Larger is refused.
pub const V2_MAX: usize = 1024;
/// How many bytes a reader needs to look at to decide: the largest header.
pub const MAX_HEADER: usize = V2_MAX;

/// What a complete header says about the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A proxied connection from this client address.
    Client(SocketAddr),
    /// `LOCAL` (v2) or `UNKNOWN` (v1), or an address family without an IP
    /// (a Unix client): a health check or the balancer itself; use the socket's peer.
    Local,
}

/// The outcome of looking at the first bytes of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parse {
    /// Every byte so far fits a valid header: wait for more.
    Incomplete,
    /// A whole header of `length` bytes; the client's own bytes follow it.
    Done {
        /// Header bytes to consume.
        length: usize,
        /// Whom the connection is from.
        origin: Origin,
    },
    /// No valid header begins with these bytes.
    Invalid(HeaderError),
}

/// Why a header was refused; each has a fixed message for the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderError {
    /// The bytes begin with neither signature.
    NotProxy,
    /// Longer than [`V1_MAX`] or [`V2_MAX`].
    TooLong,
    /// The right length, but a field is wrong (version, address, port, ...).
    Malformed,
}

impl std::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HeaderError::NotProxy => "not a PROXY protocol header",
            HeaderError::TooLong => "PROXY header too long",
            HeaderError::Malformed => "malformed PROXY header",
        })
    }
}

/// Looks at the first bytes received on a connection.
pub fn parse(input: &[u8]) -> Parse {
    let seen = input.len().min(V2_SIGNATURE.len());
    if input[..seen] == V2_SIGNATURE[..seen] {
        return if seen < V2_SIGNATURE.len() {
            Parse::Incomplete
        } else {
            parse_v2(input)
        };
    }
    let seen = input.len().min(V1_PREFIX.len());
    if input[..seen] == V1_PREFIX[..seen] {
        return parse_v1(input);
    }
    Parse::Invalid(HeaderError::NotProxy)
}

fn parse_v1(input: &[u8]) -> Parse {
    let window = &input[..input.len().min(V1_MAX)];
    let Some(cr) = window.iter().position(|&b| b == b'\r') else {
        return if input.len() >= V1_MAX {
            Parse::Invalid(HeaderError::TooLong)
        } else {
            Parse::Incomplete
        };
    };
    if cr + 1 >= input.len() {
        return Parse::Incomplete; // The `\n` has not arrived yet.
    }
    let length = cr + 2;
    match ppp::v1::Header::try_from(&input[..length]) {
        Ok(header) => Parse::Done {
            length,
            origin: match header.addresses {
                ppp::v1::Addresses::Tcp4(ip) => {
                    Origin::Client(SocketAddr::from((ip.source_address, ip.source_port)))
                }
                ppp::v1::Addresses::Tcp6(ip) => {
                    Origin::Client(SocketAddr::from((ip.source_address, ip.source_port)))
                }
                ppp::v1::Addresses::Unknown => Origin::Local,
            },
        },
        Err(_) => Parse::Invalid(HeaderError::Malformed),
    }
}

fn parse_v2(input: &[u8]) -> Parse {
    if input.len() < V2_FIXED {
        return Parse::Incomplete;
    }
    let length = V2_FIXED + usize::from(u16::from_be_bytes([input[14], input[15]]));
    if length > V2_MAX {
        return Parse::Invalid(HeaderError::TooLong);
    }
    if input.len() < length {
        return Parse::Incomplete;
    }
    let Ok(header) = ppp::v2::Header::try_from(&input[..length]) else {
        return Parse::Invalid(HeaderError::Malformed);
    };
    let origin = match (header.command, header.addresses) {
        (ppp::v2::Command::Local, _) => Origin::Local,
        (ppp::v2::Command::Proxy, ppp::v2::Addresses::IPv4(ip)) => {
            Origin::Client(SocketAddr::from((ip.source_address, ip.source_port)))
        }
        (ppp::v2::Command::Proxy, ppp::v2::Addresses::IPv6(ip)) => {
            Origin::Client(SocketAddr::from((ip.source_address, ip.source_port)))
        }
        (ppp::v2::Command::Proxy, _) => Origin::Local,
    };
    Parse::Done { length, origin }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2(command: u8, family: u8, addresses: &[u8]) -> Vec<u8> {
        let mut header = V2_SIGNATURE.to_vec();
        header.push(0x20 | command);
        header.push(family);
        header.extend_from_slice(&(addresses.len() as u16).to_be_bytes());
        header.extend_from_slice(addresses);
        header
    }

    fn v2_tcp4() -> Vec<u8> {
        // 10.1.2.3:4000 -> 127.0.0.1:7007
        v2(
            1,
            0x11,
            &[10, 1, 2, 3, 127, 0, 0, 1, 0x0f, 0xa0, 0x1b, 0x5f],
        )
    }

    /// Every strict prefix of a valid header is Incomplete, and the whole is Done.
    fn assert_every_prefix(header: &[u8], origin: Origin) {
        for end in 0..header.len() {
            assert_eq!(parse(&header[..end]), Parse::Incomplete, "prefix {end}");
        }
        let mut with_data = header.to_vec();
        with_data.extend_from_slice(b"hello\n");
        let done = Parse::Done {
            length: header.len(),
            origin,
        };
        assert_eq!(parse(header), done);
        assert_eq!(
            parse(&with_data),
            done,
            "the client's bytes are not consumed"
        );
    }

    #[test]
    fn v1_tcp4_and_tcp6_and_unknown() {
        assert_every_prefix(
            b"PROXY TCP4 192.168.0.9 127.0.0.1 56324 7007\r\n",
            Origin::Client("192.168.0.9:56324".parse().unwrap()),
        );
        assert_every_prefix(
            b"PROXY TCP6 2001:db8::1 ::1 4000 7007\r\n",
            Origin::Client("[2001:db8::1]:4000".parse().unwrap()),
        );
        assert_every_prefix(b"PROXY UNKNOWN\r\n", Origin::Local);
    }

    #[test]
    fn v2_proxy_local_and_ipv6() {
        assert_every_prefix(&v2_tcp4(), Origin::Client("10.1.2.3:4000".parse().unwrap()));
        assert_every_prefix(&v2(0, 0x00, &[]), Origin::Local);
        let mut six = Vec::new();
        six.extend_from_slice(
            &"2001:db8::7"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
        );
        six.extend_from_slice(&std::net::Ipv6Addr::LOCALHOST.octets());
        six.extend_from_slice(&[0x13, 0x88, 0x1b, 0x5f]);
        assert_every_prefix(
            &v2(1, 0x21, &six),
            Origin::Client("[2001:db8::7]:5000".parse().unwrap()),
        );
    }

    #[test]
    fn anything_else_is_refused_at_its_first_wrong_byte() {
        assert_eq!(parse(b"G"), Parse::Invalid(HeaderError::NotProxy));
        assert_eq!(
            parse(b"GET / HTTP/1.1\r\n"),
            Parse::Invalid(HeaderError::NotProxy)
        );
        assert_eq!(parse(b"PROXZ"), Parse::Invalid(HeaderError::NotProxy));
        assert_eq!(
            parse(b"\r\n\r\n\0\r\nQUIX"),
            Parse::Invalid(HeaderError::NotProxy)
        );
    }

    #[test]
    fn malformed_and_oversized_headers_are_refused() {
        let bad = [
            &b"PROXY TCP4 999.1.1.1 127.0.0.1 1 2\r\n"[..],
            b"PROXY TCP4 1.1.1.1 127.0.0.1 70000 2\r\n",
            b"PROXY TCP5 1.1.1.1 127.0.0.1 1 2\r\n",
            b"PROXY TCP4 1.1.1.1\r\n",
        ];
        for header in bad {
            assert_eq!(
                parse(header),
                Parse::Invalid(HeaderError::Malformed),
                "{header:?}"
            );
        }
        let mut long = b"PROXY TCP4 ".to_vec();
        long.resize(V1_MAX, b'1');
        assert_eq!(parse(&long), Parse::Invalid(HeaderError::TooLong));
        let mut huge = v2(1, 0x11, &[0; 12]);
        huge[14..16].copy_from_slice(&(V2_MAX as u16).to_be_bytes());
        assert_eq!(parse(&huge), Parse::Invalid(HeaderError::TooLong));
        let mut wrong_version = v2_tcp4();
        wrong_version[12] = 0x31;
        assert_eq!(
            parse(&wrong_version),
            Parse::Invalid(HeaderError::Malformed)
        );
        // Addresses too short for their family.
        assert_eq!(
            parse(&v2(1, 0x11, &[1, 2, 3])),
            Parse::Invalid(HeaderError::Malformed)
        );
    }
}
