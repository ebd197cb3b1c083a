//! The files root, attacked through the file system: a FIFO, a device node
//! and a socket file inside the root, a directory swapped for a symlink in a
//! loop while files are requested, and a download cut short by shutdown.
//! Every test also runs a well-behaved client beside the attack.

mod common;

use common::probe::*;
use common::*;
use reactord::config::Transport::Tcp;
use reactord::config::{Binding, Limits, ServerConfig};
use reactord::files::FilesRoot;
use reactord::protocol::{Framing, Protocol};
use reactord::threaded::ThreadedServer;
use std::ffi::CString;
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BIG: usize = 32 * 1024 * 1024;

/// A scratch tree: root/{small.txt, big.bin, d/target.txt}, outside/target.txt, root/swap -> outside.
struct Tree(PathBuf);

impl Tree {
    fn new(name: &str) -> Tree {
        let dir = std::env::temp_dir().join(format!(
            "reactord-hostile-files-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("root/d")).unwrap();
        std::fs::create_dir_all(dir.join("outside")).unwrap();
        std::fs::write(dir.join("root/small.txt"), b"hello file\n").unwrap();
        std::fs::write(dir.join("root/d/target.txt"), b"inside\n").unwrap();
        std::fs::write(dir.join("outside/target.txt"), b"SECRET\n").unwrap();
        std::os::unix::fs::symlink(dir.join("outside"), dir.join("root/swap")).unwrap();
        Tree(dir)
    }

    fn root(&self) -> PathBuf {
        self.0.join("root")
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn c_path(path: &Path) -> CString {
    CString::new(path.as_os_str().as_bytes()).unwrap()
}

fn files_server(root: &Path) -> TestServer {
    let mut config = config(Framing::Line);
    config.bindings = vec![
        Binding {
            transport: Tcp,
            protocol: Protocol::Files,
            addr: "127.0.0.1:0".parse().unwrap(),
        },
        Binding {
            transport: Tcp,
            protocol: Protocol::Hello,
            addr: "127.0.0.1:0".parse().unwrap(),
        },
    ];
    config.files_root = Some(root.to_path_buf());
    start_server(config)
}

fn fetch(addr: SocketAddr, name: &str) -> Vec<u8> {
    let mut client = connect(addr);
    client.write_all(format!("{name}\n").as_bytes()).unwrap();
    read_to_end(&mut client)
}

#[test]
fn a_fifo_a_device_node_and_a_socket_file_are_refused_without_stalling_anyone() {
    let _turn = serial();
    let tree = Tree::new("special");
    let root = tree.root();
    // SAFETY: NUL-terminated paths; the results are checked.
    assert_eq!(
        unsafe { libc::mkfifo(c_path(&root.join("fifo")).as_ptr(), 0o644) },
        0
    );
    let _socket = std::os::unix::net::UnixListener::bind(root.join("sock")).unwrap();
    let mut names = vec!["fifo", "sock"];
    // A character device like /dev/null (1, 3); making one needs CAP_MKNOD.
    let dev = c_path(&root.join("null"));
    // SAFETY: as above.
    if unsafe { libc::mknod(dev.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) } == 0 {
        names.push("null");
    } else {
        println!(
            "SKIPPED the device node case: mknod: {}",
            std::io::Error::last_os_error()
        );
    }
    std::os::unix::fs::symlink("/dev/null", root.join("devlink")).unwrap();
    names.push("devlink");
    let server = files_server(&root);
    let addr = server.addr(Tcp, Protocol::Files);
    let probe = Probe::start(server.addr(Tcp, Protocol::Hello), Duration::from_millis(10));
    for name in &names {
        for _ in 0..100 {
            let started = Instant::now();
            let reply = fetch(addr, name);
            let expected: &[u8] = if *name == "devlink" {
                b"error: symbolic links are not served\n"
            } else {
                b"error: not a regular file\n"
            };
            assert_eq!(reply, expected, "{name}");
            assert!(
                started.elapsed() < Duration::from_secs(3),
                "{name} took {:?}",
                started.elapsed()
            );
        }
    }
    assert_eq!(fetch(addr, "small.txt"), b"hello file\n");
    let latencies = probe.finish();
    latencies.assert_served(1, Duration::from_secs(3));
    eprintln!(
        "FIGURE files special nodes {names:?}, 100 requests each: all refused; probe {}",
        latencies.summary()
    );
}

/// Swaps `root/d` (a directory) and `root/swap` (a symlink to `outside`) until stopped.
fn swap_loop(root: PathBuf, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let (a, b) = (c_path(&root.join("d")), c_path(&root.join("swap")));
        let mut swaps = 0;
        while !stop.load(Ordering::Relaxed) {
            // SAFETY: NUL-terminated paths relative to nothing (absolute).
            let done = unsafe {
                libc::syscall(
                    libc::SYS_renameat2,
                    libc::AT_FDCWD,
                    a.as_ptr(),
                    libc::AT_FDCWD,
                    b.as_ptr(),
                    libc::RENAME_EXCHANGE,
                )
            };
            assert_eq!(done, 0, "renameat2: {}", std::io::Error::last_os_error());
            swaps += 1;
        }
        swaps
    })
}

#[test]
fn a_directory_swapped_for_a_symlink_in_a_loop_never_serves_a_file_outside() {
    let _turn = serial();
    let tree = Tree::new("race");
    let server = files_server(&tree.root());
    let addr = server.addr(Tcp, Protocol::Files);
    let probe = Probe::start(server.addr(Tcp, Protocol::Hello), Duration::from_millis(10));
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = swap_loop(tree.root(), stop.clone());
    let (mut inside, mut outside, mut refused) = (0, 0, 0);
    for _ in 0..2_000 {
        match fetch(addr, "d/target.txt").as_slice() {
            b"inside\n" => inside += 1,
            b"SECRET\n" => outside += 1,
            _ => refused += 1,
        }
    }
    // The fallback walk (kernels without openat2) is raced directly.
    let walk = FilesRoot::new(&tree.root()).unwrap().walking();
    let (mut walk_inside, mut walk_outside) = (0, 0);
    for _ in 0..20_000 {
        if let Ok(mut file) = walk.open(b"d/target.txt") {
            let mut text = String::new();
            file.read_to_string(&mut text).unwrap();
            if text == "SECRET\n" {
                walk_outside += 1
            } else {
                walk_inside += 1
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    let latencies = probe.finish();
    latencies.assert_served(5, Duration::from_secs(3));
    assert_eq!(outside, 0, "served a file outside the root {outside} times");
    assert_eq!(walk_outside, 0, "the walk opened a file outside the root");
    assert!(
        inside > 0 && refused > 0 && walk_inside > 0,
        "the race never ran both ways: {inside}/{refused}"
    );
    eprintln!(
        "FIGURE files swap race: {swaps} RENAME_EXCHANGE swaps; 2,000 requests: {inside} served \
         inside, {refused} refused, 0 outside; walk: {walk_inside} of 20,000 opened, 0 outside; probe {}",
        latencies.summary()
    );
}

/// Requests the big file, reads a little, lets `stop` shut the server down,
/// then reads on: the end must be a reset, not a clean end of a short file.
fn assert_cut_short_download_is_reset(addr: SocketAddr, stop: impl FnOnce() + Send + 'static) {
    let mut client = connect(addr);
    client.write_all(b"big.bin\n").unwrap();
    let mut got = read_exact(&mut client, 64 * 1024).len();
    let stopper = std::thread::spawn(stop);
    std::thread::sleep(Duration::from_millis(200));
    let mut buf = vec![0u8; 64 * 1024];
    let end = loop {
        match client.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => got += n,
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(err) => break Err(err),
        }
    };
    stopper.join().unwrap();
    assert!(
        got < BIG,
        "the whole file arrived before shutdown; the test proves nothing"
    );
    match end {
        Err(err) => assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}"),
        Ok(()) => panic!("a download cut short at {got} of {BIG} bytes ended with a clean FIN"),
    }
}

#[test]
fn a_download_cut_short_by_shutdown_ends_with_a_reset_in_both_servers() {
    let _turn = serial();
    let tree = Tree::new("cut");
    std::fs::write(tree.root().join("big.bin"), vec![7u8; BIG]).unwrap();
    let server = files_server(&tree.root());
    let addr = server.addr(Tcp, Protocol::Files);
    let probe = Probe::start(server.addr(Tcp, Protocol::Hello), Duration::from_millis(10));
    let latencies = probe.finish();
    assert_cut_short_download_is_reset(addr, move || {
        server.stop();
    });
    latencies.assert_served(1, Duration::from_secs(3));

    let config = ServerConfig {
        bindings: vec![Binding {
            transport: Tcp,
            protocol: Protocol::Files,
            addr: "127.0.0.1:0".parse().unwrap(),
        }],
        unix_bindings: Vec::new(),
        framing: Framing::Line,
        limits: Limits::default(),
        files_root: Some(tree.root()),
    };
    let threaded = ThreadedServer::bind(&config).unwrap();
    let addr = threaded.local_bindings()[0].addr;
    let handle = threaded.shutdown_handle();
    let runner = std::thread::spawn(move || threaded.run());
    // The threaded server opens files through the same code: a FIFO is refused at once there too.
    // SAFETY: a NUL-terminated path; the result is checked.
    assert_eq!(
        unsafe { libc::mkfifo(c_path(&tree.root().join("fifo")).as_ptr(), 0o644) },
        0
    );
    assert_eq!(fetch(addr, "fifo"), b"error: not a regular file\n");
    assert_cut_short_download_is_reset(addr, move || handle.shutdown());
    runner.join().unwrap();
}
