//! `--proxy-protocol`: by hand, and behind a real HAProxy using `send-proxy-v2`.

mod common;
#[path = "common/tools.rs"]
mod tools;

use common::{ServerProcess, TIMEOUT};
use socket2::{Domain, Socket, Type};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};
use tools::Guarded;

/// Per-source limits for these tests; loopback is exempt unless `--limit-loopback`.
const LIMITS: [&str; 3] = ["--limit-loopback", "--max-conns-per-ip", "2"];

fn start(protocol: &str) -> ServerProcess {
    let spec = format!("{protocol}=127.0.0.1:0");
    let mut args = vec!["--proxy-protocol", "--tcp", &spec];
    args.extend(LIMITS);
    ServerProcess::start(&args, 1)
}

fn read_some(stream: &mut TcpStream) -> String {
    let mut buf = [0u8; 256];
    let n = stream.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn a_v1_header_names_the_chat_member_and_bad_headers_close() {
    let server = start("chat");
    let addr = server.addr(0);
    let mut watcher = common::connect(addr);
    watcher
        .write_all(b"PROXY TCP4 10.9.8.7 127.0.0.1 4242 7070\r\n")
        .unwrap();
    let mut other = common::connect(addr);
    // The header and the first line in one write: the line is not lost.
    other
        .write_all(b"PROXY TCP4 192.0.2.1 127.0.0.1 5555 7070\r\nhi\n")
        .unwrap();
    let mut seen = String::new();
    let deadline = Instant::now() + TIMEOUT;
    while !seen.contains("192.0.2.1:5555: hi\n") {
        assert!(Instant::now() < deadline, "{seen:?}");
        seen.push_str(&read_some(&mut watcher));
    }
    assert!(seen.contains("* 192.0.2.1:5555 joined\n"), "{seen:?}");
    let mut bad = common::connect(addr);
    bad.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(read_some(&mut bad), "", "closed without a reply");
    // LOCAL (a health check) is served with the socket's own peer.
    let mut local = common::connect(addr);
    local
        .write_all(b"\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00")
        .unwrap();
    local.write_all(b"ping\n").unwrap();
    while !seen.contains("127.0.0.1:") {
        assert!(Instant::now() < deadline, "{seen:?}");
        seen.push_str(&read_some(&mut watcher));
    }
    drop((watcher, other, bad, local));
    server.terminate();
    let (status, stderr) = server.wait();
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("proxy_header=1 "), "{stderr}");
    assert!(
        stderr.contains(
            "refused 1 connections: bad, oversized or slow PROXY header [reason=proxy_header"
        ),
        "{stderr}"
    );
}

/// Connects to `to` from the loopback address `from`.
fn connect_from(from: &str, to: SocketAddr) -> TcpStream {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket
        .bind(&format!("{from}:0").parse::<SocketAddr>().unwrap().into())
        .unwrap();
    socket.connect_timeout(&to.into(), TIMEOUT).unwrap();
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream
}

/// Waits for haproxy to accept on `port`.
fn wait_listening(port: u16) {
    let deadline = Instant::now() + TIMEOUT;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "haproxy did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn behind_haproxy_the_per_source_limit_sees_the_real_client() {
    let Some(haproxy) = tools::find("haproxy", "apt-get install haproxy") else {
        return;
    };
    let server = start("hello");
    let backend = server.addr(0);
    let front = tools::free_port(false);
    let sample = std::fs::read_to_string("deploy/haproxy/haproxy.cfg").unwrap();
    let config = sample
        .replace("bind 0.0.0.0:9999", &format!("bind 127.0.0.1:{front}"))
        .replace(
            "10.0.0.11:9999 send-proxy-v2 check check-send-proxy",
            &format!("{backend} send-proxy-v2"),
        )
        .replace("maxconn 20000", "maxconn 100");
    assert_ne!(
        config, sample,
        "the sample's addresses are where the test expects them"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("haproxy.cfg");
    std::fs::write(&path, config).unwrap();
    let _haproxy = Guarded::spawn(Command::new(haproxy).arg("-db").arg("-f").arg(&path));
    wait_listening(front);
    let front: SocketAddr = ([127, 0, 0, 1], front).into();
    // Two clients from 127.0.0.2 are served; a third from it is refused...
    let mut kept = Vec::new();
    for _ in 0..2 {
        let mut client = connect_from("127.0.0.2", front);
        assert_eq!(read_some(&mut client), "Welcome!\n");
        kept.push(client);
    }
    let mut third = connect_from("127.0.0.2", front);
    assert_eq!(read_some(&mut third), "", "refused: 127.0.0.2 holds its 2");
    // ...while 127.0.0.3, behind the same haproxy, is served.
    let mut other = connect_from("127.0.0.3", front);
    assert_eq!(read_some(&mut other), "Welcome!\n");
    other.write_all(b"Cy\n").unwrap();
    assert_eq!(read_some(&mut other), "Hello, Cy!\n");
    drop((kept, third, other));
    server.terminate();
    let (status, stderr) = server.wait();
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("refused_per_ip=1 "), "{stderr}");
    assert!(
        stderr.contains("refused 1 connections: source at --max-conns-per-ip [reason=per_source"),
        "{stderr}"
    );
}

#[test]
fn a_header_not_complete_in_5_seconds_is_refused() {
    let server = start("echo");
    let mut slow = common::connect(server.addr(0));
    slow.write_all(b"PROXY TCP4 10.0.0.1").unwrap();
    let started = Instant::now();
    assert_eq!(read_some(&mut slow), "", "closed");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(4500),
        "closed after {waited:?}, before the 5 s"
    );
    server.terminate();
    let (status, stderr) = server.wait();
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("proxy_header=1 "), "{stderr}");
}

#[test]
fn on_a_unix_listener_the_carried_address_is_the_peer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.sock");
    let spec = format!("chat={}", path.display());
    let server = ServerProcess::start(&["--proxy-protocol", "--unix", &spec], 1);
    let connect = || {
        let stream = std::os::unix::net::UnixStream::connect(&path).unwrap();
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        stream
    };
    let mut watcher = connect();
    watcher.write_all(b"PROXY UNKNOWN\r\n").unwrap();
    let mut member = connect();
    // v2, PROXY, TCP over IPv4: 203.0.113.5:77 -> 127.0.0.1:7070.
    let mut header = b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c".to_vec();
    header.extend_from_slice(&[203, 0, 113, 5, 127, 0, 0, 1, 0, 77, 0x1b, 0x9e]);
    member.write_all(&header).unwrap();
    let mut seen = String::new();
    let deadline = Instant::now() + TIMEOUT;
    while !seen.contains("* 203.0.113.5:77 joined\n") {
        assert!(Instant::now() < deadline, "{seen:?}");
        let mut buf = [0u8; 256];
        let n = watcher.read(&mut buf).unwrap();
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    drop((watcher, member));
    server.terminate();
    let (status, stderr) = server.wait();
    assert!(status.success(), "{stderr}");
}
