//! Opening the files protocol's files, safely, inside `--files-root`.
//!
//! This is the I/O half of the files protocol, shared by every driver; the
//! sans-IO half (`protocol::files`) already refused absolute names, `..` and
//! NUL bytes. Here the name is resolved with `canonicalize`, which follows
//! every symlink, and the result must still lie under the (canonical) root:
//! a symlink inside the root that points outside it is refused like `..`.
//! Only regular files are served.
//!
//! The file is opened and later read on the event loop's thread. A read from
//! the page cache costs microseconds; a read that misses it waits for the
//! disk and stalls every client for that long. Files are read in chunks of
//! at most the loop's 64 KiB batch, one batch per time the client's socket
//! drains, so a large file costs one open descriptor and one batch of memory,
//! never its size. A server for large cold files would move reads to a
//! thread pool; reactord keeps the loop single-threaded and says so.
//!
//! A race remains between `canonicalize` and `open`: someone able to write
//! inside the root could swap a checked path for a symlink in between. The
//! final component is opened with `O_NOFOLLOW`, which closes that race for
//! the file itself; directories above it are trusted to whoever owns the root.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The directory served by the files protocol, canonicalized at start-up.
#[derive(Debug, Clone)]
pub struct FilesRoot {
    root: PathBuf,
}

impl FilesRoot {
    /// Checks that `dir` exists and is a directory.
    pub fn new(dir: &Path) -> io::Result<FilesRoot> {
        let root = dir.canonicalize()?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a directory",
            ));
        }
        Ok(FilesRoot { root })
    }

    /// The canonical directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Opens `name` (already shape-checked by the protocol) for streaming.
    ///
    /// The error is the reason sent to the client after `error: `.
    pub fn open(&self, name: &[u8]) -> Result<File, &'static str> {
        crate::protocol::files::check_name(name)?;
        let requested = self.root.join(std::ffi::OsStr::from_bytes(name));
        let resolved = requested.canonicalize().map_err(|err| reason(&err))?;
        if !resolved.starts_with(&self.root) {
            return Err("outside the files root");
        }
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&resolved)
            .map_err(|err| reason(&err))?;
        let metadata = file.metadata().map_err(|err| reason(&err))?;
        if !metadata.is_file() {
            return Err("not a regular file");
        }
        Ok(file)
    }
}

fn reason(err: &io::Error) -> &'static str {
    match err.kind() {
        io::ErrorKind::NotFound => "no such file",
        io::ErrorKind::PermissionDenied => "permission denied",
        _ if err.raw_os_error() == Some(libc::ELOOP) => "outside the files root",
        _ => "cannot read file",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn scratch_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("reactord-files-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("root/sub")).unwrap();
        std::fs::write(dir.join("root/a.txt"), b"alpha").unwrap();
        std::fs::write(dir.join("root/sub/b.txt"), b"beta").unwrap();
        std::fs::write(dir.join("secret.txt"), b"secret").unwrap();
        std::os::unix::fs::symlink(dir.join("secret.txt"), dir.join("root/escape")).unwrap();
        std::os::unix::fs::symlink(dir.join("root/a.txt"), dir.join("root/inside")).unwrap();
        dir
    }

    fn read(root: &FilesRoot, name: &str) -> Result<String, &'static str> {
        let mut text = String::new();
        root.open(name.as_bytes())?
            .read_to_string(&mut text)
            .unwrap();
        Ok(text)
    }

    #[test]
    fn serves_files_under_the_root_and_nothing_else() {
        let dir = scratch_dir("serve");
        let root = FilesRoot::new(&dir.join("root")).unwrap();
        assert_eq!(read(&root, "a.txt").as_deref(), Ok("alpha"));
        assert_eq!(read(&root, "sub/b.txt").as_deref(), Ok("beta"));
        assert_eq!(read(&root, "inside").as_deref(), Ok("alpha"));
        assert_eq!(read(&root, "escape"), Err("outside the files root"));
        assert_eq!(read(&root, "../secret.txt"), Err("'..' is not allowed"));
        assert_eq!(
            read(&root, "/etc/passwd"),
            Err("absolute paths are not allowed")
        );
        assert_eq!(read(&root, "missing"), Err("no such file"));
        assert_eq!(read(&root, "sub"), Err("not a regular file"));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_root_must_be_a_directory() {
        let dir = scratch_dir("root");
        assert!(FilesRoot::new(&dir.join("secret.txt")).is_err());
        assert!(FilesRoot::new(&dir.join("nope")).is_err());
        let _ = std::fs::remove_dir_all(dir);
    }
}
