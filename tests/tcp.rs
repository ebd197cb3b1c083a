//! TCP behaviour of the reactor on loopback: echo, hello, timestamp, limits.

mod common;

use common::*;
use reactord::config::Transport::Tcp;
use reactord::protocol::{Framing, Protocol};
use regex::bytes::Regex;
use std::io::{Read, Write};
use std::net::Shutdown;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[test]
fn echo_round_trips_1_byte_and_64_kib() {
    let server = start_server(config(Framing::Line));
    let mut client = connect(server.addr(Tcp, Protocol::Echo));
    assert_eq!(round_trip(&mut client, b"x", 1), b"x");
    let big: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
    assert_eq!(round_trip(&mut client, &big, big.len()), big);
}

#[test]
fn echo_8_mib_written_while_reading() {
    let server = start_server(config(Framing::Line));
    let client = connect(server.addr(Tcp, Protocol::Echo));
    let data: Vec<u8> = (0..8 * 1024 * 1024u32)
        .map(|i| (i * 7 % 256) as u8)
        .collect();
    let mut writer = client.try_clone().unwrap();
    let to_send = data.clone();
    // Write on one thread while reading on this one, so neither side's buffers fill up.
    let sender = std::thread::spawn(move || {
        writer.write_all(&to_send).unwrap();
        writer.shutdown(Shutdown::Write).unwrap();
    });
    let mut reader = client;
    let echoed = read_to_end(&mut reader);
    sender.join().unwrap();
    assert_eq!(echoed.len(), data.len());
    assert!(echoed == data, "echoed bytes differ");
}

#[test]
fn hello_line_framing_greets_replies_and_exits() {
    let server = start_server(config(Framing::Line));
    let mut client = connect(server.addr(Tcp, Protocol::Hello));
    assert_eq!(read_line(&mut client), b"Welcome!\n");
    client.write_all(b"Ann\r\nB\xffo\n").unwrap();
    assert_eq!(read_line(&mut client), b"Hello, Ann!\n");
    assert_eq!(read_line(&mut client), b"Hello, B\xffo!\n");
    client.write_all(b"exit\n").unwrap();
    assert_eq!(
        read_to_end(&mut client),
        b"",
        "exit gets no reply, then EOF"
    );
}

#[test]
fn hello_raw_framing_speaks_like_the_seeds() {
    let server = start_server(config(Framing::Raw));
    let mut client = connect(server.addr(Tcp, Protocol::Hello));
    assert_eq!(read_exact(&mut client, 8), b"Welcome!");
    assert_eq!(round_trip(&mut client, b"Ann", 11), b"Hello, Ann!");
    client.write_all(b"exit").unwrap();
    assert_eq!(read_to_end(&mut client), b"");
}

#[test]
fn timestamp_prefixes_the_current_utc_time() {
    let server = start_server(config(Framing::Line));
    let mut client = connect(server.addr(Tcp, Protocol::Timestamp));
    client.write_all(b"hi\r\n").unwrap();
    let reply = read_line(&mut client);
    let shape = Regex::new(
        r"^\[(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ 123]\d \d\d:\d\d:\d\d \d{4}\] hi\n$",
    )
    .unwrap();
    assert!(
        shape.is_match(&reply),
        "{:?}",
        String::from_utf8_lossy(&reply)
    );
    let stamp = std::str::from_utf8(&reply[1..25]).unwrap();
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // Within 2 s of the test's clock: one of the ctime strings around now must match.
    let near: Vec<String> = (secs - 2..=secs + 2).map(ctime).collect();
    assert!(
        near.iter().any(|t| t == stamp),
        "{stamp} not within 2 s of {near:?}"
    );
}

/// The test's own ctime, via the library's formatter.
fn ctime(secs: u64) -> String {
    let mut out = Vec::new();
    reactord::protocol::ctime::write_ctime(UNIX_EPOCH + Duration::from_secs(secs), &mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn unterminated_last_line_is_answered_before_close() {
    let server = start_server(config(Framing::Line));
    let mut client = connect(server.addr(Tcp, Protocol::Hello));
    client.write_all(b"last").unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_end(&mut client), b"Welcome!\nHello, last!\n");
}

#[test]
fn line_too_long_gets_the_error_and_the_close() {
    let mut config = config(Framing::Line);
    config.limits.max_line = 100;
    let server = start_server(config);
    let mut client = connect(server.addr(Tcp, Protocol::Timestamp));
    // Far more than the limit, with no newline: the server must not wait for one.
    let _ = client.write_all(&[b'x'; 5000]);
    assert_eq!(read_to_end(&mut client), b"error: line too long\n");
}

#[test]
fn a_thousand_concurrent_connections_each_round_trip() {
    let server = start_server(config(Framing::Line));
    let addr = server.addr(Tcp, Protocol::Echo);
    let mut clients: Vec<_> = (0..1000).map(|_| connect(addr)).collect();
    for (i, client) in clients.iter_mut().enumerate() {
        client
            .write_all(format!("client {i}\n").as_bytes())
            .unwrap();
    }
    for (i, client) in clients.iter_mut().enumerate() {
        let expected = format!("client {i}\n");
        assert_eq!(read_exact(client, expected.len()), expected.as_bytes());
    }
    drop(clients);
    let stats = server.stop();
    assert_eq!(stats.connections, 1000);
}

#[test]
fn a_client_that_never_reads_is_bounded_and_does_not_slow_others() {
    let mut config = config(Framing::Line);
    config.limits.max_pending = 256 * 1024;
    let server = start_server(config);
    let addr = server.addr(Tcp, Protocol::Echo);
    let hog = connect(addr);
    hog.set_write_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut polite = connect(addr);
    let hog_thread = std::thread::spawn(move || {
        let mut hog = hog;
        let chunk = vec![b'h'; 64 * 1024];
        let mut written = 0usize;
        while written < 32 * 1024 * 1024 {
            match hog.write(&chunk) {
                Ok(n) => written += n,
                Err(_) => break, // Blocked: the server stopped reading from us.
            }
        }
        (hog, written)
    });
    for i in 0..200 {
        let line = format!("polite {i}\n");
        assert_eq!(
            round_trip(&mut polite, line.as_bytes(), line.len()),
            line.as_bytes()
        );
    }
    let (mut hog, written) = hog_thread.join().unwrap();
    assert!(
        written < 32 * 1024 * 1024,
        "the server kept reading from a client that never reads"
    );
    let stats = server.stats.snapshot();
    // Held by the server for the hog = read from it minus written back to it.
    let polite_bytes: u64 = (0..200).map(|i| format!("polite {i}\n").len() as u64).sum();
    let held = (stats.bytes_in - polite_bytes).saturating_sub(stats.bytes_out - polite_bytes);
    assert!(
        held <= 256 * 1024 + 2 * 64 * 1024,
        "server holds {held} bytes for one client"
    );
    // The hog can still collect its replies: nothing was lost.
    hog.shutdown(Shutdown::Write).unwrap();
    let mut total = 0;
    let mut buf = vec![0; 1 << 16];
    loop {
        match hog.read(&mut buf).unwrap() {
            0 => break,
            n => {
                assert!(buf[..n].iter().all(|&b| b == b'h'));
                total += n;
            }
        }
    }
    assert_eq!(total, written, "every byte written came back");
}
