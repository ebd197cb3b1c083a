//! Unix domain sockets: stream and datagram, stale files, clean-up on shutdown.

mod common;

use common::*;
use reactord::config::UnixBinding;
use reactord::protocol::{Framing, Protocol};
use std::io::{Read, Write};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::PathBuf;

fn scratch_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("reactord-test-unix-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn unix_config(dir: &std::path::Path) -> reactord::config::ServerConfig {
    let mut config = config(Framing::Line);
    config.bindings.clear();
    config.unix_bindings = vec![
        UnixBinding {
            datagram: false,
            protocol: Protocol::Hello,
            path: dir.join("hello.sock"),
        },
        UnixBinding {
            datagram: true,
            protocol: Protocol::Echo,
            path: dir.join("echo.dgram"),
        },
    ];
    config
}

#[test]
fn stream_and_datagram_sockets_serve_like_tcp_and_udp() {
    let dir = scratch_dir("serve");
    let server = start_server(unix_config(&dir));
    let mut stream = UnixStream::connect(dir.join("hello.sock")).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream.write_all(b"unix\nexit\n").unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, b"Welcome!\nHello, unix!\n");
    drop(stream);
    // A datagram client must bind to a path to be answered.
    let client = UnixDatagram::bind(dir.join("client.dgram")).unwrap();
    client.set_read_timeout(Some(TIMEOUT)).unwrap();
    client.send_to(b"ping", dir.join("echo.dgram")).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(client.recv(&mut buf).unwrap(), 4);
    assert_eq!(&buf[..4], b"ping");
    server.stop();
    assert!(
        !dir.join("hello.sock").exists(),
        "socket files are removed on shutdown"
    );
    assert!(!dir.join("echo.dgram").exists());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_stale_socket_file_is_replaced_but_a_live_one_is_refused() {
    let dir = scratch_dir("stale");
    // A crashed run leaves its files behind: bound sockets nobody serves.
    drop(std::os::unix::net::UnixListener::bind(dir.join("hello.sock")).unwrap());
    drop(UnixDatagram::bind(dir.join("echo.dgram")).unwrap());
    let server = start_server(unix_config(&dir));
    let mut stream = UnixStream::connect(dir.join("hello.sock")).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut greeting = [0u8; 9];
    stream.read_exact(&mut greeting).unwrap();
    assert_eq!(&greeting, b"Welcome!\n");
    // While it runs, a second server must not steal its path.
    let err = reactord::reactor::Reactor::bind(&unix_config(&dir)).unwrap_err();
    assert!(
        err.to_string()
            .contains("another server is listening there"),
        "{err}"
    );
    drop(stream);
    drop(server);
    // A regular file in the way is never deleted.
    std::fs::write(dir.join("hello.sock"), b"keep me").unwrap();
    let err = reactord::reactor::Reactor::bind(&unix_config(&dir)).unwrap_err();
    assert!(err.to_string().contains("not a socket"), "{err}");
    assert_eq!(std::fs::read(dir.join("hello.sock")).unwrap(), b"keep me");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_binary_announces_unix_sockets_and_removes_them_on_sigterm() {
    let dir = scratch_dir("binary");
    let path = dir.join("t.sock");
    let spec = format!("time={}", path.display());
    let server = ServerProcess::start(&["--unix", &spec], 1);
    assert_eq!(
        server.listening[0],
        ("unix".into(), "time".into(), path.display().to_string())
    );
    let mut stream = UnixStream::connect(&path).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut four = Vec::new();
    stream.read_to_end(&mut four).unwrap();
    assert_eq!(four.len(), 4);
    drop(stream);
    server.terminate();
    let (status, _) = server.wait();
    assert!(status.success());
    assert!(!path.exists());
    let _ = std::fs::remove_dir_all(dir);
}
