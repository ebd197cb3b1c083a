use super::*;
use std::io::Read;
use std::os::unix::fs::symlink;

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("reactord-files-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("root/sub")).unwrap();
    std::fs::write(dir.join("root/a.txt"), b"alpha").unwrap();
    std::fs::write(dir.join("root/sub/b.txt"), b"beta").unwrap();
    std::fs::write(dir.join("secret.txt"), b"secret").unwrap();
    symlink(dir.join("secret.txt"), dir.join("root/escape")).unwrap();
    symlink(dir.join("root/a.txt"), dir.join("root/inside")).unwrap();
    symlink("sub", dir.join("root/linkdir")).unwrap();
    symlink("..", dir.join("root/up")).unwrap();
    dir
}

fn read(root: &FilesRoot, name: &str) -> Result<String, &'static str> {
    let mut text = String::new();
    root.open(name.as_bytes())?
        .read_to_string(&mut text)
        .unwrap();
    Ok(text)
}

fn both(dir: &Path) -> [FilesRoot; 2] {
    let root = dir.join("root");
    [
        FilesRoot::new(&root).unwrap(),
        FilesRoot::new(&root).unwrap().walking(),
    ]
}

#[test]
fn serves_regular_files_under_the_root_and_nothing_else() {
    let dir = scratch_dir("serve");
    for root in both(&dir) {
        assert_eq!(read(&root, "a.txt").as_deref(), Ok("alpha"));
        assert_eq!(read(&root, "sub/b.txt").as_deref(), Ok("beta"));
        assert_eq!(read(&root, "./sub//b.txt").as_deref(), Ok("beta"));
        assert_eq!(read(&root, "inside"), Err("symbolic links are not served"));
        assert!(read(&root, "escape").is_err());
        assert!(read(&root, "up/secret.txt").is_err(), "{:?}", root.resolver);
        assert_eq!(read(&root, "../secret.txt"), Err("'..' is not allowed"));
        assert_eq!(
            read(&root, "/etc/passwd"),
            Err("absolute paths are not allowed")
        );
        assert_eq!(read(&root, "missing"), Err("no such file"));
        assert_eq!(read(&root, "a.txt/x"), Err("no such file"));
        assert_eq!(read(&root, "sub"), Err("not a regular file"));
        assert_eq!(read(&root, "."), Err("not a regular file"));
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn openat2_follows_a_symlinked_directory_only_while_it_stays_beneath() {
    let dir = scratch_dir("dirlink");
    let [openat2, walk] = both(&dir);
    if openat2.resolver == Resolver::Openat2 {
        assert_eq!(read(&openat2, "linkdir/b.txt").as_deref(), Ok("beta"));
        assert_eq!(
            read(&openat2, "up/secret.txt"),
            Err("outside the files root")
        );
    } else {
        println!("skipped the openat2 half: this kernel has no openat2 (ENOSYS)");
    }
    assert!(read(&walk, "linkdir/b.txt").is_err());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn fifos_and_sockets_are_refused_without_blocking() {
    let dir = scratch_dir("special");
    let fifo = CString::new(dir.join("root/fifo").as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    let _socket = std::os::unix::net::UnixListener::bind(dir.join("root/sock")).unwrap();
    for root in both(&dir) {
        // Without O_NONBLOCK this open would wait for a writer forever.
        assert_eq!(read(&root, "fifo"), Err("not a regular file"));
        assert_eq!(read(&root, "sock"), Err("not a regular file"));
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_hard_link_to_an_outside_file_is_served_as_documented() {
    let dir = scratch_dir("hardlink");
    std::fs::hard_link(dir.join("secret.txt"), dir.join("root/hard")).unwrap();
    for root in both(&dir) {
        assert_eq!(read(&root, "hard").as_deref(), Ok("secret"));
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_root_must_be_a_directory() {
    let dir = scratch_dir("root");
    assert!(FilesRoot::new(&dir.join("secret.txt")).is_err());
    assert!(FilesRoot::new(&dir.join("nope")).is_err());
    let _ = std::fs::remove_dir_all(dir);
}
