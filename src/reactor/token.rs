//! The token space: which source a readiness event belongs to.
//!
//! mio hands back, with every event, the `Token` (a `usize`) given at
//! registration. reactord splits that number into disjoint ranges so that a
//! listener, a UDP socket, the signal pipe, the waker and a connection can
//! never be mistaken for one another:
//!
//! ```text
//! 0                  the waker (shutdown requested from another thread)
//! 1                  the signal pipe (SIGINT, SIGTERM)
//! 2 .. 2^32          listeners and UDP sockets, by their index
//! bit 63 set         a connection: slab key in bits 0..32, generation in bits 32..63
//! bit 62 set         the metrics endpoint: 0 its listener, 1 + key its connections
//! bit 61 set         a connection still sending its PROXY header, by key
//! ```
//!
//! The generation is what makes a stale event harmless. A connection closed
//! early in a batch of events frees its slab slot; a connection accepted later
//! in the same batch may reuse that slot. An event still queued for the old
//! connection carries the old generation, does not match, and is dropped
//! instead of reaching the new client (redis' `ae.c` re-checks for the same
//! reason).

use mio::Token;

#[cfg(not(target_pointer_width = "64"))]
compile_error!("reactord packs slab keys and generations into a 64-bit mio::Token");

/// The waker's token.
pub const WAKER: Token = Token(0);
/// The signal pipe's token.
pub const SIGNALS: Token = Token(1);
const FIRST_SOURCE: usize = 2;
const CONNECTION_BIT: usize = 1 << 63;
const METRICS_BIT: usize = 1 << 62;
const HANDSHAKE_BIT: usize = 1 << 61;
const KEY_BITS: u32 = 32;
const KEY_MASK: usize = (1 << KEY_BITS) - 1;
/// Generations wrap within 31 bits.
pub const GENERATION_MASK: u32 = (1 << 31) - 1;

/// What an event's token refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The cross-thread waker.
    Waker,
    /// The signal pipe.
    Signals,
    /// A listener or UDP socket, by index.
    Source(usize),
    /// The metrics endpoint: `None` its listener, `Some(key)` one of its connections.
    Metrics(Option<usize>),
    /// A connection whose PROXY header has not arrived yet, by key.
    Handshake(usize),
    /// A connection, by slab key and generation.
    Connection {
        /// Slot in the slab.
        key: usize,
        /// Which occupant of that slot.
        generation: u32,
    },
}

/// The token of source number `index`.
pub fn source(index: usize) -> Token {
    debug_assert!(index < KEY_MASK);
    Token(FIRST_SOURCE + index)
}

/// The token of the connection in slab slot `key` with `generation`.
pub fn connection(key: usize, generation: u32) -> Token {
    debug_assert!(key <= KEY_MASK, "slab key exceeds 32 bits");
    let generation = (generation & GENERATION_MASK) as usize;
    Token(CONNECTION_BIT | generation << KEY_BITS | key)
}

/// The token of the metrics listener (`None`) or metrics connection `key`.
pub fn metrics(key: Option<usize>) -> Token {
    Token(METRICS_BIT | key.map_or(0, |key| key + 1))
}

/// The token of pending PROXY handshake `key`.
pub fn handshake(key: usize) -> Token {
    Token(HANDSHAKE_BIT | key)
}

/// Decodes a token.
pub fn target(token: Token) -> Target {
    let Token(raw) = token;
    if raw & CONNECTION_BIT != 0 {
        Target::Connection {
            key: raw & KEY_MASK,
            generation: ((raw & !CONNECTION_BIT) >> KEY_BITS) as u32,
        }
    } else if raw & METRICS_BIT != 0 {
        Target::Metrics((raw & !METRICS_BIT).checked_sub(1))
    } else if raw & HANDSHAKE_BIT != 0 {
        Target::Handshake(raw & !HANDSHAKE_BIT)
    } else if token == WAKER {
        Target::Waker
    } else if token == SIGNALS {
        Target::Signals
    } else {
        Target::Source(raw - FIRST_SOURCE)
    }
}

/// Prints a token the way logs show it: `conn#3.17` (slot 3, generation 17),
/// `source#0`, `waker`, `signals`.
#[derive(Debug, Clone, Copy)]
pub struct Label(pub Token);

impl std::fmt::Display for Label {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match target(self.0) {
            Target::Waker => f.write_str("waker"),
            Target::Signals => f.write_str("signals"),
            Target::Source(index) => write!(f, "source#{index}"),
            Target::Metrics(None) => f.write_str("metrics"),
            Target::Metrics(Some(key)) => write!(f, "metrics#{key}"),
            Target::Handshake(key) => write!(f, "proxy#{key}"),
            Target::Connection { key, generation } => write!(f, "conn#{key}.{generation}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_never_overlap_and_round_trip() {
        assert_eq!(target(WAKER), Target::Waker);
        assert_eq!(target(SIGNALS), Target::Signals);
        assert_eq!(target(source(0)), Target::Source(0));
        assert_eq!(target(source(7)), Target::Source(7));
        assert_eq!(target(metrics(None)), Target::Metrics(None));
        assert_eq!(target(metrics(Some(0))), Target::Metrics(Some(0)));
        assert_eq!(target(handshake(9)), Target::Handshake(9));
        for (key, generation) in [(0, 0), (0, 1), (5, GENERATION_MASK), (u32::MAX as usize, 3)] {
            assert_eq!(
                target(connection(key, generation)),
                Target::Connection { key, generation }
            );
        }
    }

    #[test]
    fn labels_are_short() {
        assert_eq!(Label(connection(3, 17)).to_string(), "conn#3.17");
        assert_eq!(Label(source(2)).to_string(), "source#2");
    }

    #[test]
    fn a_reused_slot_gets_a_different_token() {
        assert_ne!(connection(3, 1), connection(3, 2));
        // Wrapping keeps within the mask rather than spilling into the flag bit.
        assert_eq!(connection(3, GENERATION_MASK + 1), connection(3, 0));
    }
}
