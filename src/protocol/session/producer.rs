//! Output a session produces on its own, rather than in reply to input.
//!
//! chargen sends an endless stream and the files protocol sends a whole file,
//! but neither may be produced in one go: a slow reader would make the server
//! buffer it all. So a producer is asked for one batch at a time, by
//! [`Session::poll_output`](super::Session::poll_output), only when the socket
//! has taken everything before: the server never holds more than one batch
//! per connection, whatever the file's size or the client's speed.

use std::fmt;
use std::io::{self, Read};

/// Output a session produces on its own as the socket drains, rather than in reply to input.
pub(super) enum Producer {
    /// chargen's endless lines; the next line's rotation.
    Chargen { next: usize },
    /// A file (or any reader the driver opened) streamed in bounded chunks.
    Reader(Box<dyn Read + Send>),
}

impl fmt::Debug for Producer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Producer::Chargen { next } => write!(f, "Chargen {{ next: {next} }}"),
            Producer::Reader(_) => f.write_str("Reader"),
        }
    }
}

/// Reads from `reader` until `out` holds `out_limit` bytes; `Ok(false)` at end of input.
pub(super) fn read_into(
    reader: &mut dyn Read,
    out: &mut Vec<u8>,
    out_limit: usize,
) -> io::Result<bool> {
    while out.len() < out_limit {
        let filled = out.len();
        out.resize(out_limit, 0);
        let result = reader.read(&mut out[filled..]);
        out.truncate(filled + *result.as_ref().unwrap_or(&0));
        match result {
            Ok(0) => return Ok(false),
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(true)
}
