//! Sans-IO protocol handlers: bytes in, bytes out, plus a decision.
//!
//! Nothing in this module touches a socket or reads the clock. A driver (the
//! mio reactor, the thread-per-connection baseline, a unit test) hands a
//! handler the bytes it received and the current time, and gets back the bytes
//! to send and whether to close. That contract, borrowed from quinn-proto and
//! smoltcp, is what lets one handler serve TCP and UDP, the event loop and the
//! threaded server, and be tested without a network.
//!
//! - [`Session`] is one TCP connection's protocol state: framing, the
//!   unfinished line, and whether the protocol asked to close.
//! - [`Protocol::on_datagram`] answers one UDP datagram with at most one.
//! - [`line`](mod@line) splits a stream into lines; [`ctime`] formats time.
//!
//! Output is appended to a caller-owned `Vec<u8>`, so a driver can reuse one
//! buffer for every connection and copy only what the socket would not take.

pub mod chargen;
pub mod chat;
pub mod ctime;
pub mod daytime;
pub mod discard;
pub mod echo;
pub mod files;
pub mod hello;
pub mod http;
pub mod line;
pub mod proxy;
mod session;
pub mod time;
pub mod timestamp;

pub use session::{Progress, Session};

use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

/// The services reactord speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// RFC 862: every byte back, unchanged.
    Echo,
    /// Seed 001: `[ctime] message`.
    Timestamp,
    /// Seeds 000/003: `Welcome!`, then `Hello, name!`, `exit` closes.
    Hello,
    /// RFC 863: read everything, send nothing.
    Discard,
    /// RFC 864: an endless stream of rotating ASCII lines.
    Chargen,
    /// RFC 867: the time as a line, then close.
    Daytime,
    /// RFC 868: seconds since 1900 as 4 big-endian bytes, then close.
    Time,
    /// Seed 004's downloader: name a file under `--files-root`, receive its bytes.
    Files,
    /// Seed 004's chat, multi-user: every line goes to everyone else on the listener.
    Chat,
}

impl Protocol {
    /// Every protocol, in the order the default server binds them.
    pub const ALL: [Protocol; 9] = [
        Protocol::Echo,
        Protocol::Timestamp,
        Protocol::Hello,
        Protocol::Discard,
        Protocol::Chargen,
        Protocol::Daytime,
        Protocol::Time,
        Protocol::Chat,
        Protocol::Files,
    ];

    /// The name used on the command line and in `listening` lines.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Echo => "echo",
            Protocol::Timestamp => "timestamp",
            Protocol::Hello => "hello",
            Protocol::Discard => "discard",
            Protocol::Chargen => "chargen",
            Protocol::Daytime => "daytime",
            Protocol::Time => "time",
            Protocol::Files => "files",
            Protocol::Chat => "chat",
        }
    }

    /// True for protocols that only make sense over a stream (files, chat).
    pub fn is_stream_only(self) -> bool {
        matches!(self, Protocol::Files | Protocol::Chat)
    }

    /// Answers one UDP datagram; returns false when no reply is to be sent.
    ///
    /// UDP replies never carry a line terminator: a datagram is its own frame.
    pub fn on_datagram(self, input: &[u8], now: SystemTime, out: &mut Vec<u8>) -> bool {
        match self {
            Protocol::Echo => echo::on_datagram(input, out),
            Protocol::Timestamp => timestamp::on_message(input, now, out),
            Protocol::Hello => hello::on_datagram(input, out),
            Protocol::Chargen => {
                let secs = now
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                chargen::on_datagram(secs, out)
            }
            Protocol::Daytime => daytime::write(now, out),
            Protocol::Time => time::write(now, out),
            Protocol::Discard | Protocol::Files | Protocol::Chat => return false,
        }
        true
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A protocol name that reactord does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownProtocol(pub String);

impl fmt::Display for UnknownProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let known: Vec<&str> = Protocol::ALL.iter().map(|p| p.name()).collect();
        write!(
            f,
            "unknown protocol '{}' (known: {})",
            self.0,
            known.join(", ")
        )
    }
}

impl std::error::Error for UnknownProtocol {}

impl FromStr for Protocol {
    type Err = UnknownProtocol;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Protocol::ALL
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| UnknownProtocol(name.to_string()))
    }
}

/// How a TCP byte stream is cut into messages for the line protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Framing {
    /// A message ends at `\n` (one `\r` before it is stripped); replies end with `\n`.
    #[default]
    Line,
    /// Whatever one `read` returns is one message; replies get no newline: what the servers of
    /// the classic Python socket tutorials do (`data = sock.recv(1024)`, then one reply).
    Raw,
}

/// What the driver must do after handing a session its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Keep the connection open.
    Continue,
    /// Send what has been produced, then close; further input is ignored.
    Close,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for protocol in Protocol::ALL {
            assert_eq!(protocol.name().parse::<Protocol>(), Ok(protocol));
        }
        let err = "gopher".parse::<Protocol>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown protocol 'gopher' (known: echo, timestamp, hello, discard, chargen, daytime, time, chat, files)"
        );
    }

    #[test]
    fn udp_replies_have_no_newline() {
        let now = SystemTime::UNIX_EPOCH;
        let mut out = Vec::new();
        assert!(Protocol::Hello.on_datagram(b"Bo", now, &mut out));
        assert_eq!(out, b"Hello, Bo!");
        out.clear();
        assert!(Protocol::Timestamp.on_datagram(b"", now, &mut out));
        assert_eq!(out, b"[Thu Jan  1 00:00:00 1970] ");
        out.clear();
        assert!(Protocol::Echo.on_datagram(b"", now, &mut out));
        assert!(out.is_empty());
        assert!(Protocol::Daytime.on_datagram(b"", now, &mut out));
        assert_eq!(out, b"Thu Jan  1 00:00:00 1970\r\n");
        out.clear();
        assert!(Protocol::Time.on_datagram(b"", now, &mut out));
        assert_eq!(out, 2_208_988_800u32.to_be_bytes());
        out.clear();
        assert!(Protocol::Chargen.on_datagram(b"x", now, &mut out));
        assert_eq!(out.len(), chargen::LINE_LEN);
        out.clear();
        assert!(!Protocol::Discard.on_datagram(b"x", now, &mut out));
        assert!(out.is_empty());
    }
}
