//! The two kinds of failure in a benchmark, kept apart on purpose.
//!
//! A [`BenchError`] stops the run before it starts (a bad address, zero
//! connections, more sockets than the open-file limit allows). An
//! [`ErrorKind`] is one failed operation *during* the run: it is counted in
//! the report and the run goes on, because a server that drops one connection
//! in ten thousand is a finding, not a reason to abort.

use std::fmt;
use std::io;

/// Why a benchmark could not run at all.
#[derive(Debug)]
pub enum BenchError {
    /// An argument is out of range or inconsistent with another; the text says which.
    Invalid(String),
    /// The target address did not parse or resolve.
    BadAddress(String),
    /// Setting up the run failed (creating a poll, spawning a thread).
    Setup(&'static str, io::Error),
}

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BenchError::Invalid(why) => write!(f, "invalid benchmark: {why}"),
            BenchError::BadAddress(why) => write!(f, "bad address: {why}"),
            BenchError::Setup(what, err) => write!(f, "cannot {what}: {err}"),
        }
    }
}

impl std::error::Error for BenchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BenchError::Setup(_, err) => Some(err),
            _ => None,
        }
    }
}

/// One operation that failed during a run; counted by kind, never fatal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A connect was refused or failed.
    Connect,
    /// The server reset the connection.
    Reset,
    /// The server closed the connection while a reply was owed (or during a hold).
    Closed,
    /// No progress within the timeout (connect, greeting or reply).
    Timeout,
    /// A reply differed from what the protocol promises (corrupt bytes).
    Mismatch,
    /// A well-formed reply stamped with another connection's id: the server crossed replies.
    Crossed,
    /// A reply to a request this connection already had answered: the server sent it twice.
    Duplicate,
    /// A reply that overtook the one expected first: the server reordered replies.
    Reordered,
    /// Any other socket error.
    Io,
    /// UDP: no reply within the loss timeout.
    Lost,
    /// UDP: a reply to a datagram already counted as lost.
    Late,
}

impl ErrorKind {
    /// Every kind, in report order.
    pub const ALL: [ErrorKind; 11] = [
        ErrorKind::Connect,
        ErrorKind::Reset,
        ErrorKind::Closed,
        ErrorKind::Timeout,
        ErrorKind::Mismatch,
        ErrorKind::Crossed,
        ErrorKind::Duplicate,
        ErrorKind::Reordered,
        ErrorKind::Io,
        ErrorKind::Lost,
        ErrorKind::Late,
    ];

    /// The name used in the report.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Reset => "reset",
            ErrorKind::Closed => "closed",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Mismatch => "mismatch",
            ErrorKind::Crossed => "crossed",
            ErrorKind::Duplicate => "duplicate",
            ErrorKind::Reordered => "reordered",
            ErrorKind::Io => "io",
            ErrorKind::Lost => "lost",
            ErrorKind::Late => "late",
        }
    }

    /// The position of this kind in [`ErrorKind::ALL`], for counting in an array.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Whether this kind means a reply failed verification (the server answered wrongly).
    pub fn is_verify(self) -> bool {
        matches!(
            self,
            ErrorKind::Mismatch | ErrorKind::Crossed | ErrorKind::Duplicate | ErrorKind::Reordered
        )
    }

    /// Whether this kind means the server refused, reset or closed a connection.
    pub fn is_refusal(self) -> bool {
        matches!(
            self,
            ErrorKind::Connect | ErrorKind::Reset | ErrorKind::Closed
        )
    }

    /// Classifies an I/O error on an established connection.
    pub(crate) fn of_io(err: &io::Error) -> ErrorKind {
        match err.kind() {
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe => ErrorKind::Reset,
            io::ErrorKind::TimedOut => ErrorKind::Timeout,
            _ => ErrorKind::Io,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
