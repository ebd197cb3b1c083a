//! Unix socket paths, attacked the way it works: another program's live
//! socket of the other type at our path, a live server whose backlog is
//! full, our file replaced while we run, and a datagram client that swaps a
//! symlink into its own path to aim our reply at someone else's socket.

mod common;

use common::*;
use reactord::config::UnixBinding;
use reactord::protocol::{Framing, Protocol};
use reactord::reactor::Reactor;
use std::io::{Read, Write};
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "reactord-hostile-unix-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn unix_config(bindings: Vec<UnixBinding>) -> reactord::config::ServerConfig {
    let mut config = config(Framing::Line);
    config.bindings.clear();
    config.unix_bindings = bindings;
    config
}

fn stream(path: &Path, protocol: Protocol) -> UnixBinding {
    UnixBinding {
        datagram: false,
        protocol,
        path: path.to_path_buf(),
    }
}

fn dgram(path: &Path, protocol: Protocol) -> UnixBinding {
    UnixBinding {
        datagram: true,
        protocol,
        path: path.to_path_buf(),
    }
}

/// A hello round trip over a Unix stream socket: the well-behaved client.
fn hello(path: &Path) {
    let mut client = UnixStream::connect(path).unwrap();
    client.set_read_timeout(Some(TIMEOUT)).unwrap();
    client.write_all(b"probe\nexit\n").unwrap();
    let mut reply = Vec::new();
    client.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, b"Welcome!\nHello, probe!\n");
}

#[test]
fn a_live_socket_of_the_other_type_is_never_deleted() {
    let dir = Scratch::new("type");
    let theirs_stream = dir.0.join("stream.sock");
    let theirs_dgram = dir.0.join("dgram.sock");
    let _listener = UnixListener::bind(&theirs_stream).unwrap();
    let _dgram = UnixDatagram::bind(&theirs_dgram).unwrap();
    // We want a datagram socket where a live stream server is, and vice versa.
    for binding in [
        dgram(&theirs_stream, Protocol::Echo),
        stream(&theirs_dgram, Protocol::Hello),
    ] {
        let err = Reactor::bind(&unix_config(vec![binding]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("left alone"), "{err}");
    }
    // Both still work for their owners.
    UnixStream::connect(&theirs_stream).expect("the stream server's file is still there");
    UnixDatagram::unbound()
        .unwrap()
        .connect(&theirs_dgram)
        .expect("the datagram server's file too");
}

#[test]
fn a_live_server_with_a_full_backlog_fails_start_up_at_once() {
    let dir = Scratch::new("backlog");
    let path = dir.0.join("busy.sock");
    let _busy = UnixListener::bind(&path).unwrap();
    // Fill its backlog (it never accepts): non-blocking connects until EAGAIN.
    let mut queued = Vec::new();
    loop {
        match mio::net::UnixStream::connect(&path) {
            Ok(client) => queued.push(client),
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(err) => panic!("filling the backlog: {err}"),
        }
        assert!(queued.len() < 10_000, "the backlog never filled");
    }
    let started = Instant::now();
    let err = Reactor::bind(&unix_config(vec![stream(&path, Protocol::Hello)]))
        .unwrap_err()
        .to_string();
    let took = started.elapsed();
    assert!(err.contains("another server is listening there"), "{err}");
    assert!(took < Duration::from_secs(2), "start-up waited {took:?}");
    assert!(path.exists());
    eprintln!(
        "FIGURE unix full backlog ({} queued): start-up refused in {took:?}",
        queued.len()
    );
}

#[test]
fn shutdown_leaves_a_socket_file_that_another_server_bound_in_our_place() {
    let dir = Scratch::new("replaced");
    let path = dir.0.join("hello.sock");
    let server = start_server(unix_config(vec![stream(&path, Protocol::Hello)]));
    hello(&path);
    // Someone unlinks our file and a second server binds the same path.
    std::fs::remove_file(&path).unwrap();
    let theirs = UnixListener::bind(&path).unwrap();
    server.stop();
    assert!(
        path.exists(),
        "our shutdown removed the other server's socket file"
    );
    drop(UnixStream::connect(&path).expect("the other server is still reachable"));
    drop(theirs);
}

#[test]
fn a_datagram_reply_does_not_follow_a_symlink_swapped_into_the_client_path() {
    let dir = Scratch::new("redirect");
    let echo = dir.0.join("echo.dgram");
    let server = start_server(unix_config(vec![
        dgram(&echo, Protocol::Echo),
        stream(&dir.0.join("hello.sock"), Protocol::Hello),
    ]));
    // The victim: another program's datagram socket at victim/c.sock.
    std::fs::create_dir_all(dir.0.join("victim")).unwrap();
    let victim = UnixDatagram::bind(dir.0.join("victim/c.sock")).unwrap();
    victim
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    // The attacker binds mine/c.sock, then makes "mine" a symlink to "victim".
    std::fs::create_dir_all(dir.0.join("mine")).unwrap();
    let attacker = UnixDatagram::bind(dir.0.join("mine/c.sock")).unwrap();
    std::fs::rename(dir.0.join("mine"), dir.0.join("mine.real")).unwrap();
    std::os::unix::fs::symlink(dir.0.join("victim"), dir.0.join("mine")).unwrap();
    attacker.send_to(b"aimed at the victim", &echo).unwrap();
    // A final-component symlink too: mine2/c.sock -> victim/c.sock.
    std::fs::create_dir_all(dir.0.join("mine2")).unwrap();
    let second = UnixDatagram::bind(dir.0.join("mine2/c.sock")).unwrap();
    std::fs::remove_file(dir.0.join("mine2/c.sock")).unwrap();
    std::os::unix::fs::symlink(dir.0.join("victim/c.sock"), dir.0.join("mine2/c.sock")).unwrap();
    second.send_to(b"aimed again", &echo).unwrap();
    let mut buf = [0u8; 64];
    assert!(
        victim.recv(&mut buf).is_err(),
        "the reply was redirected to the victim"
    );
    // A well-behaved datagram client and a stream client are still served.
    let good = UnixDatagram::bind(dir.0.join("good.dgram")).unwrap();
    good.set_read_timeout(Some(TIMEOUT)).unwrap();
    good.send_to(b"ping", &echo).unwrap();
    assert_eq!(good.recv(&mut buf).unwrap(), 4);
    hello(&dir.0.join("hello.sock"));
    let stats = server.stop();
    assert_eq!(stats.udp_dropped, 2, "{stats}");
}
