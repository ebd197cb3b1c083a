//! Clients that leave badly or half-way: RST in the middle of a large reply,
//! and half-close (the client shuts its sending side and waits for the rest).

mod common;

use common::probe::*;
use common::*;
use reactord::config::Transport::Tcp;
use reactord::protocol::{Framing, Protocol};
use std::io::{ErrorKind, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

const RESETS: usize = 50;

/// Writes up to `cap` bytes without reading, until the server pushes back.
fn write_unread(stream: &mut TcpStream, data: &[u8], cap: usize) -> usize {
    stream.set_nonblocking(true).unwrap();
    let mut written = 0;
    let mut stalled_since = Instant::now();
    while written < cap && stalled_since.elapsed() < Duration::from_millis(100) {
        match stream.write(&data[..data.len().min(cap - written)]) {
            Ok(n) => {
                written += n;
                stalled_since = Instant::now();
            }
            Err(err) if err.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(err) => panic!("write: {err}"),
        }
    }
    written
}

#[test]
fn resets_in_the_middle_of_large_replies_free_everything() {
    let _turn = serial();
    let mut config = config(Framing::Line);
    config.limits.max_pending = 64 * 1024;
    let server = start_server(config);
    let probe = Probe::start(server.addr(Tcp, Protocol::Hello), Duration::from_millis(20));
    std::thread::sleep(Duration::from_millis(100));
    let pid = std::process::id();
    let baseline = fd_count(pid);
    let echo_data = vec![b'e'; 64 * 1024];
    let lines = b"name\n".repeat(20_000);
    let mut written = 0;
    for i in 0..RESETS {
        let (protocol, data) = if i % 2 == 0 {
            (Protocol::Echo, &echo_data[..])
        } else {
            // 100 KB of lines; 1.1 MB of `Hello, name!` replies.
            (Protocol::Hello, &lines[..])
        };
        // Small client buffers: the replies back up into the server, not the client's kernel.
        let mut stream = connect_with_buffers(server.addr(Tcp, protocol), 16 * 1024);
        written += write_unread(&mut stream, data, 512 << 10);
        reset(stream);
    }
    // Every server-side socket of the reset clients is closed: back to the baseline.
    let deadline = Instant::now() + Duration::from_secs(5);
    while fd_count(pid) > baseline {
        assert!(
            Instant::now() < deadline,
            "{} descriptors leaked",
            fd_count(pid) - baseline
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut fresh = connect(server.addr(Tcp, Protocol::Echo));
    assert_eq!(round_trip(&mut fresh, b"after", 5), b"after");
    drop(fresh);
    let latencies = probe.finish();
    latencies.assert_served(10, Duration::from_secs(3));
    let stats = server.stop();
    assert_eq!(
        stats.drain_aborted, 0,
        "a reset connection outlived its client"
    );
    eprintln!(
        "FIGURE resets: {RESETS} clients reset mid-reply after writing {} KiB; descriptors back \
         to baseline; probe {}",
        written >> 10,
        latencies.summary()
    );
}

#[test]
fn half_close_gets_every_reply_then_eof() {
    let _turn = serial();
    let server = start_server(config(Framing::Line));

    // hello: 1,000 lines, then FIN; the replies all come, then EOF.
    let mut client = connect(server.addr(Tcp, Protocol::Hello));
    let mut script = Vec::new();
    let mut expected = b"Welcome!\n".to_vec();
    for i in 0..1000 {
        script.extend_from_slice(format!("n{i}\n").as_bytes());
        expected.extend_from_slice(format!("Hello, n{i}!\n").as_bytes());
    }
    client.write_all(&script).unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    assert!(read_to_end(&mut client) == expected, "hello replies differ");

    // timestamp: an unterminated last line is still answered at FIN.
    let mut client = connect(server.addr(Tcp, Protocol::Timestamp));
    client.write_all(b"first\nlast").unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let text = String::from_utf8(read_to_end(&mut client)).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text:?}");
    assert!(lines[0].ends_with("] first") && lines[1].ends_with("] last"));

    // echo: 4 MiB written then FIN, read concurrently: all of it back, then EOF.
    let client = connect(server.addr(Tcp, Protocol::Echo));
    let data: Vec<u8> = (0..4 << 20).map(|i: u32| (i % 241) as u8).collect();
    let mut writer = client.try_clone().unwrap();
    let sent = data.clone();
    let sender = std::thread::spawn(move || {
        writer.write_all(&sent).unwrap();
        writer.shutdown(Shutdown::Write).unwrap();
    });
    let mut reader = client;
    let echoed = read_to_end(&mut reader);
    sender.join().unwrap();
    assert!(echoed == data, "echo after half-close differs");
    let stats = server.stop();
    assert_eq!(stats.drain_aborted, 0);
}
