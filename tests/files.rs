//! The files protocol: names in, bytes out, nothing outside the root.

mod common;

use common::*;
use reactord::config::{Binding, Transport};
use reactord::protocol::{Framing, Protocol};
use std::io::Write;
use std::path::PathBuf;

/// A fresh directory tree: root/{small.txt, big.bin, sub/, escape -> ../secret}.
fn tree(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("reactord-test-files-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("root/sub")).unwrap();
    std::fs::write(dir.join("root/small.txt"), b"hello file\n").unwrap();
    let big: Vec<u8> = (0..5 * 1024 * 1024u32).map(|i| (i % 241) as u8).collect();
    std::fs::write(dir.join("root/big.bin"), big).unwrap();
    std::fs::write(dir.join("secret"), b"do not serve").unwrap();
    std::os::unix::fs::symlink(dir.join("secret"), dir.join("root/escape")).unwrap();
    dir
}

fn files_server(dir: &std::path::Path, framing: Framing) -> TestServer {
    let mut config = config(framing);
    config.bindings.push(Binding {
        transport: Transport::Tcp,
        protocol: Protocol::Files,
        addr: "127.0.0.1:0".parse().unwrap(),
    });
    config.files_root = Some(dir.join("root"));
    start_server(config)
}

fn fetch(server: &TestServer, request: &[u8]) -> Vec<u8> {
    let mut client = connect(server.addr(Transport::Tcp, Protocol::Files));
    client.write_all(request).unwrap();
    read_to_end(&mut client)
}

#[test]
fn serves_small_and_large_files_whole() {
    let dir = tree("serve");
    let server = files_server(&dir, Framing::Line);
    assert_eq!(fetch(&server, b"small.txt\n"), b"hello file\n");
    let big = fetch(&server, b"big.bin\r\n");
    assert_eq!(big.len(), 5 * 1024 * 1024);
    assert!(big.iter().enumerate().all(|(i, &b)| b == (i % 241) as u8));
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn refuses_everything_outside_the_root_with_one_error_line() {
    let dir = tree("refuse");
    let server = files_server(&dir, Framing::Line);
    for (request, reply) in [
        (&b"../secret\n"[..], &b"error: '..' is not allowed\n"[..]),
        (b"/etc/passwd\n", b"error: absolute paths are not allowed\n"),
        (b"escape\n", b"error: symbolic links are not served\n"),
        (b"missing\n", b"error: no such file\n"),
        (b"sub\n", b"error: not a regular file\n"),
        (b"\n", b"error: empty file name\n"),
    ] {
        assert_eq!(
            fetch(&server, request),
            reply,
            "{}",
            String::from_utf8_lossy(request)
        );
    }
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn raw_framing_takes_one_read_as_the_name_like_the_seed_client() {
    let dir = tree("raw");
    let server = files_server(&dir, Framing::Raw);
    assert_eq!(fetch(&server, b"small.txt"), b"hello file\n");
    assert_eq!(fetch(&server, b"nope"), b"error: no such file");
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_binary_refuses_to_serve_files_without_a_root() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_reactord"))
        .args(["--tcp", "files=127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.trim(),
        "error: the files protocol needs --files-root DIR"
    );
}
