//! The systemd watchdog with `--reactors 2`: pings continue while both loops
//! turn (even idle), and stop, naming the reactor, when one of them hangs;
//! `STATUS=` counts the connections of both.
//!
//! The hang is made by the hidden test hook `--test-stall-reactor K:SECS`
//! (reactor K sleeps inside its loop SECS seconds after start). The
//! notifications are read on a test `NOTIFY_SOCKET`, as systemd would.

#[path = "common/tools.rs"]
mod tools;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::{Duration, Instant};
use tools::Guarded;

const BINARY: &str = env!("CARGO_BIN_EXE_reactord");

/// A notify socket and reactord with two idle reactors reporting to it;
/// returns the socket, the child and the echo address.
fn start(
    dir: &tempfile::TempDir,
    watchdog_usec: &str,
    extra: &[&str],
) -> (UnixDatagram, Guarded, SocketAddr) {
    let path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut child = Guarded::spawn(
        Command::new(BINARY)
            .args(["--reactors", "2", "--tcp", "echo=127.0.0.1:0"])
            .args(extra)
            .env("NOTIFY_SOCKET", &path)
            .env("WATCHDOG_USEC", watchdog_usec),
    );
    let stdout = child.0.stdout.take().unwrap();
    let first = BufReader::new(stdout).lines().next().unwrap().unwrap();
    // `listening tcp echo 127.0.0.1:PORT`
    let echo = first.split_whitespace().nth(3).unwrap().parse().unwrap();
    let ready = notification(&socket).expect("READY=1");
    assert!(ready.starts_with("READY=1\n"), "{ready:?}");
    (socket, child, echo)
}

/// The next notify datagram, or `None` when the read timeout passes first.
fn notification(socket: &UnixDatagram) -> Option<String> {
    let mut buf = [0u8; 1024];
    let n = socket.recv(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

#[test]
fn idle_sibling_reactors_keep_the_watchdog_pinging_and_status_counts_both() {
    let dir = tempfile::tempdir().unwrap();
    // A 4 s period: pings every 2 s, an idle loop turns every second, and a
    // loop is stuck after 2 s without a turn: a second of slack for a loaded
    // machine's scheduler.
    let (socket, child, echo) = start(&dir, "4000000", &[]);
    // Held open, from as many source ports: SO_REUSEPORT puts some on each
    // reactor (all on one: odds 2 in 2^16), and STATUS= counts them all.
    const OPEN: usize = 16;
    let _clients: Vec<TcpStream> = (0..OPEN)
        .map(|_| {
            let mut client = TcpStream::connect_timeout(&echo, Duration::from_secs(10)).unwrap();
            client
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            client.write_all(b"hi").unwrap();
            let mut reply = [0u8; 2];
            client.read_exact(&mut reply).unwrap();
            client
        })
        .collect();
    // Three pings and the 5-second status line, which counts both reactors'.
    let (mut pings, mut counted) = (0, false);
    while pings < 3 || !counted {
        let message = notification(&socket).expect("a message within 20 s");
        assert!(!message.contains("stuck"), "{message:?}");
        pings += usize::from(message == "WATCHDOG=1\n");
        if message.starts_with("STATUS=") {
            assert_eq!(message, format!("STATUS={OPEN} connections\n"));
            counted = true;
        }
    }
    child.signal(libc::SIGTERM);
    let (code, stderr) = child.wait();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("stuck"), "{stderr}");
}

#[test]
fn a_hung_sibling_reactor_stops_the_pings_and_is_named() {
    let dir = tempfile::tempdir().unwrap();
    // A 3 s period: pings every 1.5 s; reactor 1 hangs 4 s after start.
    let (socket, child, _) = start(&dir, "3000000", &["--test-stall-reactor", "1:4"]);
    let mut pings_before = 0;
    let stuck = loop {
        let message = notification(&socket).expect("a message within 20 s");
        if message.contains("stuck") {
            break message;
        }
        pings_before += usize::from(message == "WATCHDOG=1\n");
    };
    assert!(pings_before >= 1, "pings came while both loops turned");
    assert!(
        stuck.starts_with("STATUS=reactor 1 stuck: no loop turn for "),
        "{stuck:?}"
    );
    // Longer than the period without a single ping: systemd would restart it.
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let quiet_until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < quiet_until {
        if let Some(message) = notification(&socket) {
            assert_ne!(message, "WATCHDOG=1\n", "a ping while reactor 1 hangs");
        }
    }
    child.signal(libc::SIGKILL);
    let (_, stderr) = child.wait();
    assert_eq!(
        stderr
            .matches("reactor 1 is stuck: its loop has not turned for")
            .count(),
        1,
        "logged once: {stderr}"
    );
    assert!(stderr.contains("watchdog pings stop"), "{stderr}");
}
