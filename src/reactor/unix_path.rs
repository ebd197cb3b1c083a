//! Unix socket paths: whose file is this, may it be removed, where may a reply go.
//!
//! A socket file is a name in a shared directory, and other programs (or
//! other users) can put things there, so every step that acts on a path
//! first establishes *which* file it is:
//!
//! - **Stale or live?** A crashed run leaves its socket file behind. Only
//!   `ECONNREFUSED` proves nobody listens there; any other failure (the
//!   socket is of the other type, `EPROTOTYPE`; we may not connect, `EACCES`)
//!   says nothing, so the file is left alone and start-up fails with the
//!   reason. The probe is non-blocking: a live server whose backlog is full
//!   answers `EAGAIN` at once and counts as live (an `AF_UNIX` connect never
//!   waits when non-blocking, so no timeout is needed). The file removed is
//!   the one probed: its device and inode are checked again just before.
//! - **Ours at shutdown?** The device and inode of the file are recorded
//!   right after `bind`; at shutdown the file is removed only if the path
//!   still names that file. If someone unlinked it and another server bound
//!   the same path, that server's file stays.
//! - **Where does a datagram reply go?** A Unix datagram client is answered
//!   at the path its socket is bound to, and that path is resolved again at
//!   send time, so a client could swap a symlink in after its datagram
//!   arrived and aim the reply at another program's socket. The path is
//!   therefore opened with `O_PATH` and no symlink anywhere in it
//!   (`openat2(RESOLVE_NO_SYMLINKS)`; where that is missing, only the last
//!   component is checked), must be a socket, and the reply is sent through
//!   `/proc/self/fd/N`, the very inode that was checked. Clients bound at a
//!   path that contains a symlink are not answered (counted in `udp_dropped`).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Which file a path named: device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    /// The file `path` names now (without following a final symlink).
    pub(super) fn of(path: &Path) -> io::Result<FileId> {
        let metadata = std::fs::symlink_metadata(path)?;
        Ok(FileId {
            dev: metadata.dev(),
            ino: metadata.ino(),
        })
    }
}

/// Removes a socket file nobody serves any more; refuses to touch anything else.
pub(super) fn remove_stale(path: &Path, datagram: bool) -> io::Result<()> {
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(err),
    };
    if !metadata.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "the path exists and is not a socket",
        ));
    }
    let probed = FileId {
        dev: metadata.dev(),
        ino: metadata.ino(),
    };
    match probe(path, datagram) {
        Ok(()) => {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                "another server is listening there",
            ))
        }
        Err(err) if err.raw_os_error() == Some(libc::ECONNREFUSED) => {}
        Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                "another server is listening there (its backlog is full)",
            ))
        }
        Err(err) => {
            return Err(io::Error::new(
                err.kind(),
                format!("cannot tell whether the socket there is in use ({err}); left alone"),
            ))
        }
    }
    if FileId::of(path)? != probed {
        return Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            "the socket file was replaced while being checked; left alone",
        ));
    }
    log::info!("removing stale socket file {}", path.display());
    std::fs::remove_file(path)
}

/// Connects to `path` without ever blocking: `Ok` means someone serves it.
fn probe(path: &Path, datagram: bool) -> io::Result<()> {
    if datagram {
        // A datagram connect only records the peer; it never waits.
        std::os::unix::net::UnixDatagram::unbound()?.connect(path)
    } else {
        // mio connects non-blocking: a full backlog is EAGAIN, not a wait.
        mio::net::UnixStream::connect(path).map(drop)
    }
}

/// Removes `path` at shutdown if it still names the socket file we bound.
pub(super) fn remove_if_ours(path: &Path, bound: Option<FileId>) {
    let now = FileId::of(path);
    match (bound, now) {
        (Some(bound), Ok(now)) if bound == now => {
            if let Err(err) = std::fs::remove_file(path) {
                log::warn!("cannot remove {}: {err}", path.display());
            }
        }
        (_, Err(err)) if err.kind() == io::ErrorKind::NotFound => {}
        (_, Err(err)) => log::warn!("cannot check {}: {err}", path.display()),
        _ => log::warn!(
            "{} is no longer the socket file this server bound: left alone",
            path.display()
        ),
    }
}

/// A client's socket, pinned: send to [`ReplyTarget::path`] to reach exactly it.
#[derive(Debug)]
pub(super) struct ReplyTarget {
    _pinned: Option<OwnedFd>,
    path: PathBuf,
}

impl ReplyTarget {
    /// Where to send the reply.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }
}

/// Resolves a datagram client's path once, refusing symlinks and non-sockets.
pub(super) fn reply_target(client: &Path) -> io::Result<ReplyTarget> {
    let name = CString::new(client.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let fd = open_path(&name)?;
    // SAFETY: an all-zero `stat` is a valid value to be overwritten by fstat.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is open and `stat` is a valid out-pointer.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut stat) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if stat.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the client's path is not a socket",
        ));
    }
    let via_fd = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
    if via_fd.exists() {
        return Ok(ReplyTarget {
            path: via_fd,
            _pinned: Some(fd),
        });
    }
    // No /proc: the path was checked a moment ago, which is the best left.
    Ok(ReplyTarget {
        path: client.to_path_buf(),
        _pinned: None,
    })
}

/// `O_PATH` open of `name` with no symlink followed anywhere (openat2 where it exists).
fn open_path(name: &CString) -> io::Result<OwnedFd> {
    const FLAGS: libc::c_int = libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: open_how is plain integers; zero is its default.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = FLAGS as u64;
    how.resolve = libc::RESOLVE_NO_SYMLINKS;
    // SAFETY: `name` is NUL-terminated and `how` outlives the call.
    let mut fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            libc::AT_FDCWD,
            name.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    } as libc::c_int;
    if fd < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
        // SAFETY: as above; the last component is still never followed.
        fd = unsafe { libc::open(name.as_ptr(), FLAGS) };
    }
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a descriptor the kernel just gave us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
