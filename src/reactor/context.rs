//! What the loop lends a connection while serving it: buffers, limits, counters, the time.

use super::stats::Stats;
use crate::config::Limits;
use crate::files::FilesRoot;
use mio::{Registry, Token};
use std::time::{Instant, SystemTime};

/// Buffers owned by the loop and lent to whichever source is being served.
///
/// Each must be empty again when the source's turn ends: they are shared.
#[derive(Debug)]
pub struct Scratch {
    /// Every read lands here first.
    pub read: Vec<u8>,
    /// Replies are built here, then written at once.
    pub out: Vec<u8>,
    /// Chat messages for the other members of the room; the reactor delivers them.
    pub room: Vec<u8>,
    /// The batched UDP path's buffers (Linux), allocated on the first datagram.
    #[cfg(target_os = "linux")]
    pub datagrams: super::udp_batch::DatagramBatch,
}

impl Scratch {
    /// Buffers with a read size of `read_size` bytes.
    pub fn new(read_size: usize) -> Self {
        Scratch {
            read: vec![0; read_size],
            out: Vec::with_capacity(read_size),
            room: Vec::new(),
            #[cfg(target_os = "linux")]
            datagrams: super::udp_batch::DatagramBatch::default(),
        }
    }
}

/// The time at which the loop serves an event: monotonic for deadlines,
/// wall-clock for the protocols (timestamps).
#[derive(Debug, Clone, Copy)]
pub struct Moment {
    /// For deadlines and idle tracking.
    pub now: Instant,
    /// For what handlers put on the wire.
    pub wall: SystemTime,
}

/// Everything a connection may use during its turn.
#[derive(Debug)]
pub struct Context<'a> {
    /// To change the connection's interest.
    pub registry: &'a Registry,
    /// The loop's shared buffers.
    pub scratch: &'a mut Scratch,
    /// The server's limits.
    pub limits: &'a Limits,
    /// The server's counters.
    pub stats: &'a mut Stats,
    /// Where the files protocol may read, if anywhere.
    pub files: Option<&'a FilesRoot>,
    /// When this turn happens.
    pub moment: Moment,
    /// The token of the connection being served, for its trace lines (`conn#3.17`).
    pub token: Token,
    /// Bytes a chat member may still say this turn: 0 while its room waits
    /// for a slow member (see `room.rs`).
    pub room_allowance: usize,
}
