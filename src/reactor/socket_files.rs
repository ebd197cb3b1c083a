//! Unix socket files this process created, removed on every exit that runs code.
//!
//! A Unix socket's file outlives the socket: a server that exits without
//! removing it leaves a file that makes the next start think the address is
//! taken. The files are removed when a shutdown closes the listeners, and
//! again (if still there) when this value is dropped: after the summary, when
//! `poll` fails, when start-up fails half-way, and while a panic unwinds.
//! Files passed in by systemd are systemd's and are never listed here. A file
//! is removed only if its path still names the file bound (device and inode,
//! see `unix_path`): another server's file at the same path stays.

use super::unix_path::{self, FileId};
use std::path::PathBuf;

/// The socket files to remove.
#[derive(Debug, Default)]
pub(super) struct SocketFiles {
    files: Vec<(PathBuf, Option<FileId>)>,
}

impl SocketFiles {
    /// Remembers a socket file that this process just bound, and which file it was.
    pub(super) fn add(&mut self, path: PathBuf, bound: Option<FileId>) {
        self.files.push((path, bound));
    }

    /// Removes every file remembered; a second call does nothing.
    pub(super) fn remove_all(&mut self) {
        for (path, bound) in self.files.drain(..) {
            unix_path::remove_if_ours(&path, bound);
        }
    }
}

impl Drop for SocketFiles {
    fn drop(&mut self) {
        self.remove_all();
    }
}
