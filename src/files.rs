//! Opening the files protocol's files, safely, inside `--files-root`.
//!
//! This is the I/O half of the files protocol, shared by every driver; the
//! sans-IO half (`protocol::files`) already refused absolute names, `..` and
//! NUL bytes. What is left are the attacks that go through the file system
//! itself, and each has its own defence here:
//!
//! - **Escaping by symlink, or by a race.** A path check followed by `open()`
//!   is a race: someone who can write inside the root swaps a checked
//!   directory for a symlink in between (a `renameat2(RENAME_EXCHANGE)` loop
//!   won 2-21% of requests against the old code). So nothing is checked by
//!   path. The root directory is opened once, at start-up, and every name is
//!   resolved *beneath that descriptor* by the kernel, in one step:
//!   `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)` (Linux 5.6+) fails
//!   with `EXDEV` the moment resolution would leave the root, whatever is
//!   renamed meanwhile. Where `openat2` does not exist (`ENOSYS`) the name is
//!   walked one component at a time with `openat(O_NOFOLLOW)`, each relative
//!   to the directory descriptor before it, so no component can be a symlink.
//! - **A symlink as the file itself** is never followed (`O_NOFOLLOW`):
//!   symlinks are not served. With `openat2`, a symlinked *directory* is
//!   followed while it stays beneath the root; the fallback walk follows none.
//! - **A FIFO or a device node** would block `open()` until a writer appears
//!   (freezing the whole event loop) or hand out a terminal. Every open uses
//!   `O_NONBLOCK | O_NOCTTY`, so no open can block, and the file is `fstat`ed
//!   before a byte is read: anything but a regular file is refused. A socket
//!   file cannot be opened at all (`ENXIO`). Opening a device node still runs
//!   that device's open routine; only root can make one inside the root.
//! - **What is not guarded:** a *hard link* inside the root to a file
//!   outside it is the same file as far as the kernel is concerned, and is
//!   served (hard links to files one cannot read cannot be made by
//!   unprivileged users on systems with `fs.protected_hardlinks = 1`, the
//!   default). Bind mounts inside the root are served too (`RESOLVE_BENEATH`
//!   allows crossing mount points beneath the root).
//!
//! The file is opened and later read on the event loop's thread. A read from
//! the page cache costs microseconds; a read that misses it waits for the
//! disk and stalls every client for that long. Files are read in chunks of
//! at most the loop's 64 KiB batch, one batch per time the client's socket
//! drains, so a large file costs one open descriptor and one batch of memory,
//! never its size. A server for large cold files would move reads to a
//! thread pool; reactord keeps the loop single-threaded and says so.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Flags of the final open: read only, never block, never follow a symlink,
/// never become our controlling terminal.
const FILE_FLAGS: libc::c_int =
    libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_NOCTTY | libc::O_CLOEXEC;

/// Flags of each directory on the fallback walk: a handle to look names up
/// in (no read permission needed), never a symlink.
#[cfg(target_os = "linux")]
const DIR_FLAGS: libc::c_int =
    libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
#[cfg(not(target_os = "linux"))]
const DIR_FLAGS: libc::c_int =
    libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;

/// Times `openat2` is retried when the kernel reports a concurrent rename (`EAGAIN`).
const OPENAT2_RETRIES: usize = 4;

/// How names are resolved beneath the root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resolver {
    /// One `openat2(RESOLVE_BENEATH)` call (Linux 5.6+).
    Openat2,
    /// A component-by-component `openat(O_NOFOLLOW)` walk.
    Walk,
}

/// The directory served by the files protocol, opened once at start-up.
#[derive(Debug)]
pub struct FilesRoot {
    root: PathBuf,
    /// Every name is resolved beneath this descriptor, never by path.
    dir: File,
    resolver: Resolver,
}

impl FilesRoot {
    /// Opens `dir`, which must be a directory, and picks how names will be resolved.
    pub fn new(dir: &Path) -> io::Result<FilesRoot> {
        let root = dir.canonicalize()?;
        let handle = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(&root)
            .map_err(|err| match err.raw_os_error() {
                Some(libc::ENOTDIR) => {
                    io::Error::new(io::ErrorKind::InvalidInput, "not a directory")
                }
                _ => err,
            })?;
        let mut files = FilesRoot {
            root,
            dir: handle,
            resolver: Resolver::Openat2,
        };
        // Probe once: `.` beneath the root exists on every kernel that has openat2.
        if open_beneath(files.dir.as_raw_fd(), b".", Resolver::Openat2)
            .is_err_and(|err| err.raw_os_error() == Some(libc::ENOSYS))
        {
            log::info!("openat2 is not available: files are resolved one component at a time");
            files.resolver = Resolver::Walk;
        }
        Ok(files)
    }

    /// The same root, resolved by the fallback walk: for tests of that path.
    #[doc(hidden)]
    pub fn walking(mut self) -> FilesRoot {
        self.resolver = Resolver::Walk;
        self
    }

    /// The canonical directory (for messages; files are never opened by this path).
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Opens `name` (already shape-checked by the protocol) for streaming.
    ///
    /// Returns only regular files. The error is the reason sent to the
    /// client after `error: `.
    pub fn open(&self, name: &[u8]) -> Result<File, &'static str> {
        crate::protocol::files::check_name(name)?;
        let file =
            open_beneath(self.dir.as_raw_fd(), name, self.resolver).map_err(|err| reason(&err))?;
        // fstat, on the descriptor: what was opened, not what the path names now.
        let metadata = file.metadata().map_err(|err| reason(&err))?;
        if !metadata.is_file() {
            return Err("not a regular file");
        }
        Ok(file)
    }
}

/// Opens `name` relative to the directory `dir` without ever leaving it.
fn open_beneath(dir: RawFd, name: &[u8], resolver: Resolver) -> io::Result<File> {
    match resolver {
        #[cfg(target_os = "linux")]
        Resolver::Openat2 => {
            let path = c_name(name)?;
            for _ in 0..OPENAT2_RETRIES {
                match openat2(dir, &path) {
                    Err(err) if err.raw_os_error() == Some(libc::EAGAIN) => continue,
                    result => return result,
                }
            }
            Err(io::Error::from_raw_os_error(libc::EAGAIN))
        }
        #[cfg(not(target_os = "linux"))]
        Resolver::Openat2 => Err(io::Error::from_raw_os_error(libc::ENOSYS)),
        Resolver::Walk => walk(dir, name),
    }
}

#[cfg(target_os = "linux")]
fn openat2(dir: RawFd, path: &CString) -> io::Result<File> {
    // SAFETY: open_how is a plain C struct of integers; all-zero is its documented default.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = FILE_FLAGS as u64;
    how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: `path` is NUL-terminated and `how` lives across the call; the
    // kernel reads exactly `size_of::<open_how>()` bytes from it.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir,
            path.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    owned(fd as libc::c_int)
}

/// The fallback: `openat(O_NOFOLLOW)` one component at a time. The name
/// holds no `..` (the protocol refused it), so the walk only goes down.
fn walk(dir: RawFd, name: &[u8]) -> io::Result<File> {
    let parts: Vec<&[u8]> = name
        .split(|&b| b == b'/')
        .filter(|part| !part.is_empty() && *part != b".")
        .collect();
    let Some((last, dirs)) = parts.split_last() else {
        return openat(dir, b".", FILE_FLAGS);
    };
    let mut current: Option<File> = None;
    for part in dirs {
        let at = current.as_ref().map_or(dir, |file| file.as_raw_fd());
        current = Some(openat(at, part, DIR_FLAGS)?);
    }
    let at = current.as_ref().map_or(dir, |file| file.as_raw_fd());
    openat(at, last, FILE_FLAGS)
}

fn openat(dir: RawFd, name: &[u8], flags: libc::c_int) -> io::Result<File> {
    let path = c_name(name)?;
    // SAFETY: `path` is NUL-terminated; the result is checked before use.
    owned(unsafe { libc::openat(dir, path.as_ptr(), flags) })
}

fn c_name(name: &[u8]) -> io::Result<CString> {
    CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn owned(fd: libc::c_int) -> io::Result<File> {
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor to us; nobody else owns it.
    Ok(unsafe { File::from_raw_fd(fd) })
}

fn reason(err: &io::Error) -> &'static str {
    match err.raw_os_error() {
        Some(libc::ENOENT | libc::ENOTDIR) => "no such file",
        Some(libc::EACCES | libc::EPERM) => "permission denied",
        Some(libc::EXDEV) => "outside the files root",
        Some(libc::ELOOP) => "symbolic links are not served",
        // A socket file (ENXIO), a device without a driver (ENODEV).
        Some(libc::ENXIO | libc::ENODEV) => "not a regular file",
        Some(libc::EAGAIN) => "busy, try again",
        _ => "cannot read file",
    }
}

#[cfg(test)]
mod tests;
