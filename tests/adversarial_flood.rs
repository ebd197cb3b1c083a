//! Floods of connections: past `--max-conns`, and past the process's
//! open-file limit (accept fails with EMFILE). The server must neither crash
//! nor spin, must keep serving the clients it has, and must serve the waiting
//! ones as soon as others leave. The per-source limits are off here: every
//! client comes from 127.0.0.1 (adversarial_guard.rs tests those limits).

mod common;

use common::probe::*;
use common::*;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

const FLOOD: usize = 500;
/// A spinning loop would use the whole observation window; an idle one next to nothing.
const OBSERVE: Duration = Duration::from_secs(3);
const CPU_BOUND: Duration = Duration::from_millis(500);

/// Whether the hello greeting has arrived on `stream`, without waiting.
fn greeted(stream: &mut TcpStream) -> bool {
    stream.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 64];
    let got = match stream.read(&mut buf) {
        Ok(n) => {
            assert_eq!(&buf[..n], b"Welcome!\n", "greeting");
            true
        }
        Err(err) if err.kind() == ErrorKind::WouldBlock => false,
        Err(err) => panic!("flood client: {err}"),
    };
    stream.set_nonblocking(false).unwrap();
    got
}

/// Says `exit` and waits for the server's EOF: the polite way out.
fn leave(mut stream: TcpStream) {
    stream.write_all(b"exit\n").unwrap();
    assert_eq!(read_to_end(&mut stream), b"");
}

/// CPU time the child uses while it sits at its limit for [`OBSERVE`].
fn cpu_while_idle_at_limit(pid: u32) -> Duration {
    let before = cpu_time(pid);
    std::thread::sleep(OBSERVE);
    cpu_time(pid) - before
}

fn flood(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    (0..n).map(|_| connect(addr)).collect()
}

#[test]
fn a_flood_past_max_conns_waits_without_spinning_and_is_served_later() {
    let _turn = serial();
    let server = ServerProcess::start(
        &[
            "--tcp",
            "hello=127.0.0.1:0",
            "--max-conns",
            "50",
            "--max-conns-per-ip",
            "0",
            "--conn-rate-per-ip",
            "0",
        ],
        1,
    );
    let pid = server.child.id();
    let addr = server.addr(0);
    let probe = Probe::start(addr, Duration::from_millis(20));
    let mut served = flood(addr, 49);
    for stream in &mut served {
        assert_eq!(read_line(stream), b"Welcome!\n");
    }
    let mut waiting = flood(addr, FLOOD);
    let cpu = cpu_while_idle_at_limit(pid);
    assert!(cpu < CPU_BOUND, "the server used {cpu:?} of CPU at the cap");
    assert!(!waiting.iter_mut().any(greeted), "served beyond the cap");
    let latencies = probe.finish();
    latencies.assert_served(20, Duration::from_secs(3));
    served.into_iter().for_each(leave);
    // As slots free up, the waiting clients are served in turn, every one of them.
    for stream in waiting.drain(..) {
        let mut stream = stream;
        assert_eq!(read_line(&mut stream), b"Welcome!\n");
        leave(stream);
    }
    server.terminate();
    let (status, stderr) = server.wait();
    assert!(status.success(), "{stderr}");
    assert_eq!(summary_field(&stderr, "connections"), 1 + 49 + FLOOD as u64);
    eprintln!(
        "FIGURE max-conns flood: cap 50, {FLOOD} waiting in the backlog; server CPU {cpu:?} \
         in {OBSERVE:?} at the cap; probe {}",
        latencies.summary()
    );
}

#[test]
fn descriptor_exhaustion_backs_off_and_recovers() {
    let _turn = serial();
    const NOFILE: u64 = 64;
    let server = ServerProcess::start_limited(
        &[
            "--tcp",
            "hello=127.0.0.1:0",
            "--max-conns",
            "10000",
            "--max-conns-per-ip",
            "0",
            "--conn-rate-per-ip",
            "0",
        ],
        1,
        Some(NOFILE),
    );
    let pid = server.child.id();
    let addr = server.addr(0);
    let probe = Probe::start(addr, Duration::from_millis(20));
    let clients = flood(addr, 200);
    // At least: descriptors inherited before the limit was set may sit above it.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while (fd_count(pid) as u64) < NOFILE {
        assert!(
            std::time::Instant::now() < deadline,
            "the server is not at its limit: {} open",
            fd_count(pid)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(200));
    let cpu = cpu_while_idle_at_limit(pid);
    assert!(
        cpu < CPU_BOUND,
        "the server used {cpu:?} of CPU out of descriptors"
    );
    let (mut served, mut waiting) = (Vec::new(), Vec::new());
    for mut stream in clients {
        if greeted(&mut stream) {
            served.push(stream);
        } else {
            waiting.push(stream);
        }
    }
    let held = served.len();
    assert!(held > 0 && !waiting.is_empty(), "{held} served");
    let latencies = probe.finish();
    latencies.assert_served(20, Duration::from_secs(3));
    // Free descriptors: each client waiting in the backlog is served as one frees up.
    served.into_iter().for_each(leave);
    for mut stream in waiting {
        assert_eq!(read_line(&mut stream), b"Welcome!\n");
        leave(stream);
    }
    server.terminate();
    let (status, stderr) = server.wait();
    assert!(status.success(), "{stderr}");
    let exhausted = summary_field(&stderr, "accept_fd_exhausted");
    assert!(exhausted > 0, "{stderr}");
    eprintln!(
        "FIGURE fd exhaustion: RLIMIT_NOFILE {NOFILE}, 200 clients, {held} held at once; \
         CPU {cpu:?} in {OBSERVE:?} out of descriptors; accept_fd_exhausted={exhausted}; probe {}",
        latencies.summary()
    );
}
