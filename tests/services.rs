//! The classic inetd services over TCP, UDP and IPv6: discard, chargen, daytime, time.

mod common;

use common::*;
use reactord::config::Transport::{Tcp, Udp};
use reactord::protocol::{Framing, Protocol};
use std::io::{Read, Write};
use std::net::Shutdown;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn now_since_1900() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        + 2_208_988_800
}

#[test]
fn discard_replies_nothing_on_tcp_or_udp() {
    let server = start_server(config(Framing::Line));
    let mut client = connect(server.addr(Tcp, Protocol::Discard));
    client.write_all(&vec![b'z'; 1 << 20]).unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_end(&mut client), b"");
    let udp = udp_client();
    udp.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    udp.send_to(b"x", server.addr(Udp, Protocol::Discard))
        .unwrap();
    assert!(
        udp.recv_from(&mut [0; 16]).is_err(),
        "discard must not answer"
    );
    let stats = server.stop();
    assert!(stats.bytes_in >= 1 << 20);
}

#[test]
fn chargen_streams_rotating_lines_to_a_slow_reader_within_the_cap() {
    let mut config = config(Framing::Line);
    config.limits.max_pending = 64 * 1024;
    let config_sndbuf = config.limits.sndbuf.expect("the default caps SO_SNDBUF");
    let server = start_server(config);
    let mut client = connect(server.addr(Tcp, Protocol::Chargen));
    let first = read_exact(&mut client, 2 * 74);
    let expected: Vec<u8> = (b' '..b' ' + 72).collect();
    assert_eq!(&first[..72], &expected[..]);
    assert_eq!(&first[72..74], b"\r\n");
    assert_eq!(&first[74..77], b"!\"#");
    // Stop reading: the server must stop writing once the kernel buffers are full,
    // not keep pushing. Wait until the byte count holds still (a loaded machine may
    // take a while to get there), then check what went out fits those buffers.
    let held = wait_until_steady(
        || server.stats.snapshot().bytes_out,
        Duration::from_millis(300),
    );
    let unread = held as usize - first.len();
    // Both figures as the kernel reports them (twice what was asked, for bookkeeping).
    let client_rcvbuf = socket2::SockRef::from(&client).recv_buffer_size().unwrap();
    let server_sndbuf = 2 * config_sndbuf;
    // Linux checks a buffer's limit before queueing, so each side may overshoot
    // it by about one loopback segment (64 KiB).
    let bound = client_rcvbuf + server_sndbuf + 2 * 64 * 1024;
    assert!(
        unread <= bound,
        "{unread} bytes in flight, more than the {client_rcvbuf} + {server_sndbuf} bytes of \
         kernel buffers and slack"
    );
    eprintln!(
        "FIGURE chargen to a stopped reader: {unread} bytes in flight, kernel buffers \
         {client_rcvbuf} + {server_sndbuf}"
    );
    // Reading resumes the stream, still in rotation.
    let more = read_exact(&mut client, 74 * 95);
    assert!(more.chunks(74).all(|line| line.ends_with(b"\r\n")));
}

#[test]
fn chargen_udp_answers_one_line() {
    let server = start_server(config(Framing::Line));
    let udp = udp_client();
    udp.send_to(b"", server.addr(Udp, Protocol::Chargen))
        .unwrap();
    let mut buf = [0u8; 1024];
    let (n, _) = udp.recv_from(&mut buf).unwrap();
    assert_eq!(n, 74);
    assert!(buf[..72].iter().all(|b| (b' '..=b'~').contains(b)));
}

#[test]
fn daytime_sends_one_crlf_line_and_closes() {
    let server = start_server(config(Framing::Line));
    let mut client = connect(server.addr(Tcp, Protocol::Daytime));
    let line = read_to_end(&mut client);
    assert_eq!(line.len(), 26, "{line:?}");
    assert!(line.ends_with(b"\r\n"));
    let udp = udp_client();
    udp.send_to(b"anything", server.addr(Udp, Protocol::Daytime))
        .unwrap();
    let mut buf = [0u8; 64];
    let (n, _) = udp.recv_from(&mut buf).unwrap();
    assert_eq!(n, 26);
}

#[test]
fn time_sends_four_big_endian_bytes_since_1900() {
    let server = start_server(config(Framing::Raw));
    let mut client = connect(server.addr(Tcp, Protocol::Time));
    let bytes = read_to_end(&mut client);
    assert_eq!(bytes.len(), 4);
    let value = u32::from_be_bytes(bytes.try_into().unwrap()) as i64;
    assert!((value - now_since_1900().rem_euclid(1 << 32)).abs() <= 2);
    let udp = udp_client();
    udp.send_to(b"", server.addr(Udp, Protocol::Time)).unwrap();
    let mut buf = [0u8; 16];
    let (n, _) = udp.recv_from(&mut buf).unwrap();
    assert_eq!(n, 4, "an empty datagram is answered too");
}

#[test]
fn every_protocol_works_over_ipv6() {
    let mut config = config(Framing::Line);
    for binding in &mut config.bindings {
        binding.addr = "[::1]:0".parse().unwrap();
    }
    let server = start_server(config);
    let mut hello = connect(server.addr(Tcp, Protocol::Hello));
    assert_eq!(read_line(&mut hello), b"Welcome!\n");
    assert_eq!(round_trip(&mut hello, b"six\n", 12), b"Hello, six!\n");
    let udp = std::net::UdpSocket::bind("[::1]:0").unwrap();
    udp.set_read_timeout(Some(TIMEOUT)).unwrap();
    udp.send_to(b"v6", server.addr(Udp, Protocol::Echo))
        .unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(udp.recv_from(&mut buf).unwrap().0, 2);
    let mut time = connect(server.addr(Tcp, Protocol::Time));
    let mut four = Vec::new();
    time.read_to_end(&mut four).unwrap();
    assert_eq!(four.len(), 4);
}
