//! The thread-per-connection server over loopback, in-process, on port 0:
//! what each protocol answers. Starting, stopping and limits are in
//! tests/threaded_lifecycle.rs; the helpers in tests/common/threaded_server.rs.
//!
//! Every client read has a timeout and every server is stopped through
//! `Server::stop`, which itself waits at most `STOP_WITHIN`, so a bug fails
//! a test instead of hanging it.

#[path = "common/threaded_server.rs"]
mod threaded_server;

use reactord::config::{Limits, Transport};
use reactord::protocol::{Framing, Protocol};
use std::io::Write;
use std::net::UdpSocket;
use std::thread;
use threaded_server::*;

#[test]
fn echo_one_byte_and_local_bindings_have_real_ports() {
    let server = tcp(Protocol::Echo);
    let addr = server.addr(Transport::Tcp, Protocol::Echo);
    assert_ne!(addr.port(), 0);
    let mut client = connect(addr);
    client.write_all(b"x").unwrap();
    assert_eq!(read_exactly(&mut client, 1), b"x");
    drop(client);
    let stats = server.stop();
    assert_eq!(stats.connections, 1);
    assert_eq!((stats.bytes_in, stats.bytes_out), (1, 1));
    assert_eq!(stats.drain_aborted, 0);
}

#[test]
fn echo_64_kib_written_while_reading() {
    let server = tcp(Protocol::Echo);
    let mut client = connect(server.addr(Transport::Tcp, Protocol::Echo));
    let sent: Vec<u8> = (0..64 * 1024).map(|i| (i * 7 % 251) as u8).collect();
    let mut writer = client.try_clone().unwrap();
    let payload = sent.clone();
    let writing = thread::spawn(move || writer.write_all(&payload));
    assert_eq!(read_exactly(&mut client, sent.len()), sent);
    writing.join().unwrap().unwrap();
    client.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(read_to_eof(&mut client).is_empty());
    let stats = server.stop();
    assert_eq!(stats.bytes_out, sent.len() as u64);
}

#[test]
fn udp_answers_every_protocol_and_the_empty_datagram() {
    let specs = [Protocol::Echo, Protocol::Timestamp, Protocol::Hello].map(|p| (Transport::Udp, p));
    let server = start_server(&specs, Framing::Line, Limits::default());
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    let ask = |protocol, message: &[u8]| {
        client
            .send_to(message, server.addr(Transport::Udp, protocol))
            .unwrap();
        let mut buf = [0; 1024];
        let (n, _) = client
            .recv_from(&mut buf)
            .expect("reply within the timeout");
        buf[..n].to_vec()
    };
    assert_eq!(ask(Protocol::Echo, b"ping"), b"ping");
    assert_eq!(ask(Protocol::Echo, b""), b"");
    assert_eq!(ask(Protocol::Hello, b"exit"), b"Hello, exit!");
    let stamp = String::from_utf8(ask(Protocol::Timestamp, b"hi")).unwrap();
    assert!(
        timestamp_reply().is_match(&format!("{stamp}\n")),
        "{stamp:?}"
    );
    let stats = server.stop();
    assert_eq!((stats.udp_in, stats.udp_out, stats.udp_dropped), (4, 4, 0));
}

#[test]
fn hello_line_framing_greets_answers_and_exits() {
    let server = tcp(Protocol::Hello);
    let mut client = connect(server.addr(Transport::Tcp, Protocol::Hello));
    assert_eq!(read_exactly(&mut client, 9), b"Welcome!\n");
    client.write_all(b"Ann\r\nBo\n").unwrap();
    assert_eq!(read_exactly(&mut client, 23), b"Hello, Ann!\nHello, Bo!\n");
    client.write_all(b"exit\nignored\n").unwrap();
    assert!(read_to_eof(&mut client).is_empty());
    // The server lingers until our EOF (or the drain timeout) before it closes.
    drop(client);
    let stats = server.stop();
    assert_eq!((stats.messages, stats.drain_aborted), (3, 0));
}

#[test]
fn hello_raw_framing_is_the_seeds_protocol() {
    let server = start_server(
        &[(Transport::Tcp, Protocol::Hello)],
        Framing::Raw,
        Limits::default(),
    );
    let mut client = connect(server.addr(Transport::Tcp, Protocol::Hello));
    assert_eq!(read_exactly(&mut client, 8), b"Welcome!");
    client.write_all(b"Ann").unwrap();
    assert_eq!(read_exactly(&mut client, 11), b"Hello, Ann!");
    client.write_all(b"exit").unwrap();
    assert!(read_to_eof(&mut client).is_empty());
}

#[test]
fn timestamp_replies_in_ctime_format() {
    let server = tcp(Protocol::Timestamp);
    let mut client = connect(server.addr(Transport::Tcp, Protocol::Timestamp));
    client.write_all(b"hi\n").unwrap();
    let reply = String::from_utf8(read_exactly(&mut client, 30)).unwrap();
    assert!(timestamp_reply().is_match(&reply), "{reply:?}");
}

#[test]
fn an_over_long_line_gets_the_error_then_eof() {
    let limits = Limits {
        max_line: 4,
        ..Limits::default()
    };
    let server = start_server(
        &[(Transport::Tcp, Protocol::Timestamp)],
        Framing::Line,
        limits,
    );
    let mut client = connect(server.addr(Transport::Tcp, Protocol::Timestamp));
    client.write_all(b"toolong\nmore\n").unwrap();
    assert_eq!(read_to_eof(&mut client), b"error: line too long\n");
}

#[test]
fn a_tiny_max_pending_still_answers_every_line_in_order() {
    let limits = Limits {
        max_pending: 8,
        ..Limits::default()
    };
    let server = start_server(&[(Transport::Tcp, Protocol::Hello)], Framing::Line, limits);
    let mut client = connect(server.addr(Transport::Tcp, Protocol::Hello));
    let names: Vec<String> = (0..2000).map(|i| format!("n{i}")).collect();
    let request: String = names.iter().map(|n| format!("{n}\n")).collect();
    let expected: String = names.iter().map(|n| format!("Hello, {n}!\n")).collect();
    client.write_all(request.as_bytes()).unwrap();
    client.shutdown(std::net::Shutdown::Write).unwrap();
    let got = read_to_eof(&mut client);
    assert_eq!(
        String::from_utf8(got).unwrap(),
        format!("Welcome!\n{expected}")
    );
    drop(client);
    assert_eq!(server.stop().messages, 2000);
}
