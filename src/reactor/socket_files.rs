//! Unix socket files this process created, removed on every exit that runs code.
//!
//! A Unix socket's file outlives the socket: a server that exits without
//! removing it leaves a file that makes the next start think the address is
//! taken. The files are removed when a shutdown closes the listeners, and
//! again (if still there) when this value is dropped: after the summary, when
//! `poll` fails, when start-up fails half-way, and while a panic unwinds.
//! Files passed in by systemd are systemd's and are never listed here.

use std::io;
use std::path::PathBuf;

/// The socket files to remove.
#[derive(Debug, Default)]
pub(super) struct SocketFiles {
    paths: Vec<PathBuf>,
}

impl SocketFiles {
    /// Remembers a socket file that this process just bound.
    pub(super) fn add(&mut self, path: PathBuf) {
        self.paths.push(path);
    }

    /// Removes every file remembered; a second call does nothing.
    pub(super) fn remove_all(&mut self) {
        for path in self.paths.drain(..) {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                Err(err) => log::warn!("cannot remove {}: {err}", path.display()),
            }
        }
    }
}

impl Drop for SocketFiles {
    fn drop(&mut self) {
        self.remove_all();
    }
}
