//! `--reactors N`: one loop per thread, process-wide limits, one line per reactor at exit.
//! Chat across reactors is in tests/reactors_chat.rs; the shared helpers in
//! tests/common/reactors.rs.

mod common;
#[path = "common/reactors.rs"]
mod reactors;

use common::probe::summary_field;
use common::*;
use reactors::*;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// A connection, or `None` when the server reset it so fast that `connect` itself saw the reset.
fn connect_or_reset(addr: std::net::SocketAddr) -> Option<TcpStream> {
    match TcpStream::connect_timeout(&addr, TIMEOUT) {
        Ok(stream) => {
            stream.set_read_timeout(Some(TIMEOUT)).unwrap();
            stream.set_write_timeout(Some(TIMEOUT)).unwrap();
            Some(stream)
        }
        Err(err) if err.kind() == ErrorKind::ConnectionReset => None,
        Err(err) => panic!("connect: {err}"),
    }
}

/// Whether `stream` gets its echo back within `wait` (false on reset, EOF or silence).
fn echoes(stream: &mut TcpStream, wait: Duration) -> bool {
    stream.set_read_timeout(Some(wait)).unwrap();
    if stream.write_all(b"ping\n").is_err() {
        return false;
    }
    let mut reply = [0u8; 5];
    let ok = stream.read_exact(&mut reply).is_ok() && &reply == b"ping\n";
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    ok
}

#[test]
fn a_burst_spreads_over_reactors_and_the_lines_add_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("echo.sock");
    let unix = format!("echo={}", path.display());
    let mut args = vec![
        "--reactors",
        "4",
        "--tcp",
        "echo=127.0.0.1:0",
        "--udp",
        "echo=127.0.0.1:0",
        "--unix",
        &unix,
    ];
    args.extend(OPEN);
    let server = start(&args, 3);
    assert_eq!(
        server.listening.len(),
        3,
        "one line per binding, not per reactor"
    );
    let (tcp, udp) = (server.addr(0), server.addr(1));
    let mut streams: Vec<TcpStream> = (0..40).map(|_| connect(tcp)).collect();
    for stream in &mut streams {
        assert!(echoes(stream, TIMEOUT));
    }
    for n in 0..40 {
        let socket = udp_client();
        let datagram = format!("d{n}");
        assert_eq!(ask(&socket, udp, datagram.as_bytes()), datagram.as_bytes());
    }
    for _ in 0..10 {
        let mut stream = UnixStream::connect(&path).unwrap();
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        stream.write_all(b"unix\n").unwrap();
        let mut reply = [0u8; 5];
        stream.read_exact(&mut reply).unwrap();
        assert_eq!(&reply, b"unix\n");
    }
    drop(streams);
    server.terminate();
    let (status, stderr) = server.wait();
    assert!(status.success(), "{status}: {stderr}");
    assert!(
        !path.exists(),
        "the socket file is removed once, by reactor 0"
    );
    let lines = reactor_lines(&stderr);
    assert_eq!(lines.len(), 4, "{stderr}");
    for field in ["connections", "messages", "bytes_in", "bytes_out", "udp_in"] {
        let sum: u64 = lines.iter().map(|line| summary_field(line, field)).sum();
        assert_eq!(sum, summary_field(&stderr, field), "{field}: {stderr}");
    }
    assert_eq!(summary_field(&stderr, "connections"), 50, "TCP and Unix");
    assert_eq!(summary_field(&stderr, "udp_in"), 40);
    let busy = |field| {
        lines
            .iter()
            .filter(|line| summary_field(line, field) > 0)
            .count()
    };
    assert!(
        busy("connections") >= 2,
        "connections all on one reactor: {lines:?}"
    );
    assert!(
        busy("udp_in") >= 2,
        "datagrams all on one reactor: {lines:?}"
    );
}

#[test]
fn max_conns_holds_across_reactors() {
    let mut args = vec![
        "--reactors",
        "4",
        "--tcp",
        "echo=127.0.0.1:0",
        "--max-conns",
        "3",
    ];
    args.extend(OPEN);
    let server = start(&args, 1);
    let addr = server.addr(0);
    let mut served: Vec<TcpStream> = (0..3).map(|_| connect(addr)).collect();
    for stream in &mut served {
        assert!(echoes(stream, TIMEOUT));
    }
    // The fourth waits in a backlog, whichever reactor's it is.
    let mut waiting = connect(addr);
    assert!(
        !echoes(&mut waiting, Duration::from_millis(300)),
        "a fourth connection was served at --max-conns 3"
    );
    drop(served.pop());
    let mut reply = [0u8; 5];
    waiting
        .read_exact(&mut reply)
        .expect("served once a place was free");
    assert_eq!(&reply, b"ping\n");
    server.terminate();
    let (status, stderr) = server.wait();
    assert!(status.success(), "{status}: {stderr}");
    assert_eq!(summary_field(&stderr, "connections"), 4);
}

#[test]
fn max_conns_per_ip_holds_across_reactors() {
    let server = start(
        &[
            "--reactors",
            "4",
            "--tcp",
            "echo=127.0.0.1:0",
            "--max-conns-per-ip",
            "5",
            "--conn-rate-per-ip",
            "0",
            // Loopback clients are exempt from the per-source limits unless asked.
            "--limit-loopback",
        ],
        1,
    );
    let addr = server.addr(0);
    let mut streams: Vec<Option<TcpStream>> = (0..12).map(|_| connect_or_reset(addr)).collect();
    let served = streams
        .iter_mut()
        .flatten()
        .map(|stream| echoes(stream, TIMEOUT))
        .filter(|&served| served)
        .count();
    assert_eq!(
        served, 5,
        "the per-source cap is one count for all reactors"
    );
    drop(streams);
    server.terminate();
    let (status, stderr) = server.wait();
    assert!(status.success(), "{status}: {stderr}");
    assert_eq!(summary_field(&stderr, "refused_per_ip"), 7);
}

#[test]
fn one_reactor_prints_no_reactor_lines() {
    let mut args = vec!["--tcp", "echo=127.0.0.1:0"];
    args.extend(OPEN);
    let server = start(&args, 1);
    let mut stream = connect(server.addr(0));
    assert!(echoes(&mut stream, TIMEOUT));
    drop(stream);
    server.terminate();
    let (status, stderr) = server.wait();
    assert!(status.success(), "{status}: {stderr}");
    assert!(reactor_lines(&stderr).is_empty(), "{stderr}");
    assert_eq!(summary_field(&stderr, "connections"), 1);
}

#[test]
fn bad_reactor_counts_are_one_line_errors() {
    for (args, culprit) in [
        (&["serve", "--reactors", "0"][..], "'0'"),
        (&["serve", "--reactors", "many"][..], "'many'"),
        (&["serve", "--reactors", "100000"][..], "'100000'"),
        (
            &["threaded", "--reactors", "2", "--tcp", "echo=127.0.0.1:0"][..],
            "--reactors",
        ),
    ] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_reactord"))
            .args(args)
            .output()
            .expect("run reactord");
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(culprit), "{args:?}: {stderr}");
    }
}

#[test]
fn a_refused_client_sees_a_reset_not_a_hang() {
    // With the per-source cap at 1, the second client is reset by whichever reactor took it.
    let server = start(
        &[
            "--reactors",
            "2",
            "--tcp",
            "echo=127.0.0.1:0",
            "--max-conns-per-ip",
            "1",
            "--limit-loopback",
        ],
        1,
    );
    let mut first = connect(server.addr(0));
    assert!(echoes(&mut first, TIMEOUT));
    let Some(mut second) = connect_or_reset(server.addr(0)) else {
        return; // Reset before connect even returned.
    };
    let _ = second.write_all(b"ping\n");
    let mut buf = [0u8; 8];
    match second.read(&mut buf) {
        Ok(0) => {}
        Err(err) => assert_ne!(err.kind(), ErrorKind::WouldBlock, "{err}"),
        Ok(n) => panic!("a refused client got {n} bytes"),
    }
}

#[test]
fn auto_runs_one_reactor_per_core() {
    let mut args = vec!["--reactors", "auto", "--tcp", "echo=127.0.0.1:0"];
    args.extend(OPEN);
    let server = start(&args, 1);
    let mut stream = connect(server.addr(0));
    assert!(echoes(&mut stream, TIMEOUT));
    drop(stream);
    server.terminate();
    let (status, stderr) = server.wait();
    assert!(status.success(), "{status}: {stderr}");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let expected = if cores > 1 { cores } else { 0 };
    assert_eq!(reactor_lines(&stderr).len(), expected, "{stderr}");
}

/// Sends 16 datagrams of 20 bytes from 4 sockets of one address against `reactors`
/// loops with a 200-byte `--udp-budget`; returns (replies received, udp_over_budget).
fn udp_budget_run(reactors: usize) -> (u64, u64) {
    let reactors = reactors.to_string();
    let server = start(
        &[
            "--reactors",
            &reactors,
            "--udp",
            "echo=127.0.0.1:0",
            "--udp-budget",
            "200",
            "--limit-loopback",
        ],
        1,
    );
    let addr = server.addr(0);
    let sockets: Vec<std::net::UdpSocket> = (0..4).map(|_| udp_client()).collect();
    for socket in &sockets {
        socket
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        for _ in 0..4 {
            socket.send_to(b"twenty bytes, exact\n", addr).unwrap();
        }
    }
    let mut replies = 0;
    let mut buf = [0u8; 64];
    for socket in &sockets {
        while socket.recv_from(&mut buf).is_ok() {
            replies += 1;
        }
    }
    server.terminate();
    let (status, stderr) = server.wait();
    assert!(status.success(), "{status}: {stderr}");
    assert_eq!(summary_field(&stderr, "udp_in"), 16, "{stderr}");
    (replies, summary_field(&stderr, "udp_over_budget"))
}

#[test]
fn the_udp_budget_is_one_budget_for_all_reactors() {
    let (alone, refused_alone) = udp_budget_run(1);
    assert!(
        refused_alone > 0,
        "the budget must bind for the test to mean anything"
    );
    let (four, refused_four) = udp_budget_run(4);
    assert_eq!(
        (four, refused_four),
        (alone, refused_alone),
        "4 reactors answered a different share of one source's datagrams than 1"
    );
}
