//! files (tutorial 004's downloader): the client names a file, the server streams it and closes.
//!
//! The handler checks the *shape* of the name here, without touching the
//! disk: it must be relative, non-empty, free of NUL bytes and free of `..`
//! components. The driver then resolves it inside `--files-root` (see
//! `crate::files`), which also refuses symlinks leading outside the root,
//! and hands the session a reader to stream from. A refusal is one line,
//! `error: <reason>`, and a close.

/// Why a requested name is refused before any file is looked at.
pub fn check_name(name: &[u8]) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("empty file name");
    }
    if name.contains(&0) {
        return Err("invalid file name");
    }
    if name.starts_with(b"/") {
        return Err("absolute paths are not allowed");
    }
    if name.split(|&b| b == b'/').any(|part| part == b"..") {
        return Err("'..' is not allowed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_names_pass() {
        assert_eq!(check_name(b"a.txt"), Ok(()));
        assert_eq!(check_name(b"dir/b.bin"), Ok(()));
        assert_eq!(check_name(b"..hidden"), Ok(()));
        assert!(check_name(b"").is_err());
        assert!(check_name(b"/etc/passwd").is_err());
        assert!(check_name(b"../x").is_err());
        assert!(check_name(b"a/../../x").is_err());
        assert!(check_name(b"a/..").is_err());
        assert!(check_name(b"a\0b").is_err());
    }
}
