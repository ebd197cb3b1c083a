//! Resource limits: idle timeout and the connection cap.

mod common;

use common::*;
use reactord::config::Transport::Tcp;
use reactord::protocol::{Framing, Protocol};
use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

#[test]
fn silent_connections_are_closed_after_the_idle_timeout() {
    let mut config = config(Framing::Line);
    config.limits.idle_timeout = Some(Duration::from_secs(1));
    let server = start_server(config);
    let addr = server.addr(Tcp, Protocol::Echo);
    let mut silent = connect(addr);
    let mut chatty = connect(addr);
    let started = Instant::now();
    // The chatty client keeps talking past the timeout and is not closed.
    while started.elapsed() < Duration::from_millis(1500) {
        assert_eq!(round_trip(&mut chatty, b"k", 1), b"k");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(read_to_end(&mut silent), b"", "the silent client sees EOF");
    assert_eq!(round_trip(&mut chatty, b"still here", 10), b"still here");
    drop((silent, chatty));
    assert_eq!(server.stop().idle_closed, 1);
}

#[test]
fn at_the_cap_new_clients_wait_until_one_leaves() {
    let mut config = config(Framing::Line);
    config.limits.max_conns = 2;
    let server = start_server(config);
    let addr = server.addr(Tcp, Protocol::Hello);
    let mut first = connect(addr);
    let mut second = connect(addr);
    assert_eq!(read_line(&mut first), b"Welcome!\n");
    assert_eq!(read_line(&mut second), b"Welcome!\n");
    // The third connects (the kernel's backlog takes it) but is not served yet.
    let mut third = connect(addr);
    third
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut byte = [0u8];
    let err = third.read(&mut byte).expect_err("served beyond the cap");
    assert!(
        matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "{err}"
    );
    first.write_all(b"exit\n").unwrap();
    assert_eq!(read_to_end(&mut first), b"");
    drop(first); // Closing completes the server's lingering close and frees the slot.
    third.set_read_timeout(Some(TIMEOUT)).unwrap();
    assert_eq!(read_line(&mut third), b"Welcome!\n");
    assert_eq!(round_trip(&mut second, b"two\n", 12), b"Hello, two!\n");
}
