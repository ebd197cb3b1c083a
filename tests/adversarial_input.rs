//! Bad input: over-long lines, bytes that are not text, stray `\r`, the
//! largest and the smallest datagrams, and a burst of 100,000 datagrams.

mod common;

use common::probe::*;
use common::*;
use reactord::config::Transport::{Tcp, Udp};
use reactord::protocol::{Framing, Protocol};
use std::io::Write;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

/// The largest UDP payload over IPv4.
const MAX_DATAGRAM: usize = 65_507;
const BURST: usize = 100_000;

#[test]
fn odd_bytes_pass_through_and_over_long_lines_are_refused() {
    let _turn = serial();
    let server = start_server(config(Framing::Line));
    let probe = Probe::start(server.addr(Tcp, Protocol::Hello), Duration::from_millis(20));
    let mut hello = connect(server.addr(Tcp, Protocol::Hello));
    assert_eq!(read_line(&mut hello), b"Welcome!\n");
    // NUL, invalid UTF-8, a `\r` inside a line, and a `\r` alone.
    for (line, reply) in [
        (&b"A\0B\n"[..], &b"Hello, A\0B!\n"[..]),
        (b"\xff\xfe\xc0\x80\n", b"Hello, \xff\xfe\xc0\x80!\n"),
        (b"a\rb\r\n", b"Hello, a\rb!\n"),
        (b"\r\n", b"Hello, !\n"),
        (b"\r\r\n", b"Hello, \r!\n"),
    ] {
        assert_eq!(round_trip(&mut hello, line, reply.len()), reply);
    }
    // `\r` without `\n` never ends a line: only the next `\n` does.
    hello.write_all(b"no\rend\r").unwrap();
    assert_eq!(round_trip(&mut hello, b"\n", 15), b"Hello, no\rend!\n");

    // A line longer than --max-line (8192), sent whole or in pieces, or never ending.
    for pieces in [1, 100] {
        let mut client = connect(server.addr(Tcp, Protocol::Timestamp));
        let long = vec![b'x'; 8193];
        for chunk in long.chunks(long.len().div_ceil(pieces)) {
            client.write_all(chunk).unwrap();
        }
        client.write_all(b"\nnever answered\n").unwrap();
        assert_eq!(read_to_end(&mut client), b"error: line too long\n");
    }
    let mut endless = connect(server.addr(Tcp, Protocol::Hello));
    assert_eq!(read_line(&mut endless), b"Welcome!\n");
    let megabyte = vec![b'y'; 1 << 20];
    // The server refuses the line and closes: the write may fail part-way, which is fine.
    let _ = endless.write_all(&megabyte);
    assert_eq!(read_to_end(&mut endless), b"error: line too long\n");
    let latencies = probe.finish();
    latencies.assert_served(1, Duration::from_secs(3));
    assert_eq!(server.stop().drain_aborted, 0);
}

#[test]
fn largest_and_empty_datagrams() {
    let _turn = serial();
    let server = start_server(config(Framing::Line));
    let client = udp_client();
    let big: Vec<u8> = (0..MAX_DATAGRAM).map(|i| (i % 256) as u8).collect();
    assert_eq!(ask(&client, server.addr(Udp, Protocol::Echo), &big), big);
    assert_eq!(ask(&client, server.addr(Udp, Protocol::Echo), b""), b"");
    assert_eq!(
        ask(&client, server.addr(Udp, Protocol::Hello), b""),
        b"Hello, !"
    );
    let stamped = ask(&client, server.addr(Udp, Protocol::Timestamp), b"");
    assert!(stamped.starts_with(b"[") && stamped.ends_with(b"] "));
    // hello's and timestamp's replies to the largest datagram cannot fit in one:
    // they are dropped and counted, and the socket goes on serving.
    for protocol in [Protocol::Hello, Protocol::Timestamp] {
        client.send_to(&big, server.addr(Udp, protocol)).unwrap();
        let reply = ask(&client, server.addr(Udp, protocol), b"ok");
        assert!(String::from_utf8_lossy(&reply).contains("ok"), "{reply:?}");
    }
    let stats = server.stop();
    assert_eq!(stats.udp_dropped, 2, "{stats}");
    assert_eq!(stats.udp_in, stats.udp_out + stats.udp_dropped, "{stats}");
}

#[test]
fn a_burst_of_100_000_datagrams_leaves_everyone_else_served() {
    let _turn = serial();
    let server = start_server(config(Framing::Line));
    let probe = Probe::start(server.addr(Tcp, Protocol::Hello), Duration::from_millis(20));
    let target = server.addr(Udp, Protocol::Echo);
    let started = Instant::now();
    // The attacker never reads its replies.
    let attacker = UdpSocket::bind("127.0.0.1:0").unwrap();
    let payload = [b'z'; 64];
    let mut sent = 0;
    for _ in 0..BURST {
        // A full send buffer (ENOBUFS/EAGAIN) just means the burst outran the kernel.
        if attacker.send_to(&payload, target).is_ok() {
            sent += 1;
        }
    }
    let burst_time = started.elapsed();
    // A well-behaved UDP client is answered; datagrams may be lost under the flood, so retry.
    let client = udp_client();
    client
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut answered = 0;
    // Every try carries its own payload, so a late reply to an earlier round is
    // recognised and skipped instead of being read as the answer to this one.
    let mut sent_earlier: Vec<String> = Vec::new();
    for round in 0..20 {
        let mut this_round: Vec<String> = Vec::new();
        'tries: for attempt in 0..25 {
            let message = format!("ok{round}.{attempt}");
            client.send_to(message.as_bytes(), target).unwrap();
            this_round.push(message);
            let mut buf = [0u8; 64];
            while let Ok((n, from)) = client.recv_from(&mut buf) {
                assert_eq!(from, target);
                let reply = String::from_utf8_lossy(&buf[..n]).into_owned();
                if this_round.contains(&reply) {
                    answered += 1;
                    break 'tries;
                }
                assert!(sent_earlier.contains(&reply), "not an echo: {reply:?}");
            }
        }
        sent_earlier.append(&mut this_round);
    }
    assert_eq!(answered, 20, "the well-behaved UDP client went unanswered");
    let latencies = probe.finish();
    latencies.assert_served(5, Duration::from_secs(3));
    let stats = server.stop();
    // Every datagram that reached the server was answered or counted as dropped.
    assert_eq!(stats.udp_in, stats.udp_out + stats.udp_dropped, "{stats}");
    eprintln!(
        "FIGURE udp burst: {sent} of {BURST} datagrams sent in {burst_time:?}; server received \
         {}, replied {}, dropped {}; probe {}",
        stats.udp_in,
        stats.udp_out,
        stats.udp_dropped,
        latencies.summary()
    );
}
