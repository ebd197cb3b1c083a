//! UDP behaviour of the reactor on loopback.

mod common;

use common::*;
use reactord::config::Transport::Udp;
use reactord::protocol::{Framing, Protocol};

#[test]
fn echo_returns_each_datagram_even_an_empty_one() {
    let server = start_server(config(Framing::Line));
    let addr = server.addr(Udp, Protocol::Echo);
    let client = udp_client();
    assert_eq!(ask(&client, addr, b"ping"), b"ping");
    assert_eq!(ask(&client, addr, b""), b"");
    let big: Vec<u8> = (0..65_507u32).map(|i| i as u8).collect();
    assert_eq!(ask(&client, addr, &big), big);
}

#[test]
fn hello_and_timestamp_answer_without_newlines() {
    // Line framing applies to TCP only: datagrams are their own frames.
    let server = start_server(config(Framing::Line));
    let client = udp_client();
    assert_eq!(
        ask(&client, server.addr(Udp, Protocol::Hello), b"exit"),
        b"Hello, exit!"
    );
    let stamped = ask(&client, server.addr(Udp, Protocol::Timestamp), b"m");
    assert_eq!(
        stamped.len(),
        1 + 24 + 2 + 1,
        "{:?}",
        String::from_utf8_lossy(&stamped)
    );
    assert!(stamped.starts_with(b"[") && stamped.ends_with(b"] m"));
}

#[test]
fn a_refused_earlier_reply_does_not_stop_the_socket() {
    let server = start_server(config(Framing::Line));
    let addr = server.addr(Udp, Protocol::Echo);
    // A client that sends and vanishes: the server's reply bounces (ICMP port unreachable).
    let gone = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    gone.send_to(b"bye", addr).unwrap();
    drop(gone);
    let client = udp_client();
    for i in 0..10u8 {
        assert_eq!(ask(&client, addr, &[i]), [i]);
    }
    let stats = server.stop();
    assert_eq!(stats.udp_in, 11);
}

#[test]
fn udp_replies_never_leak_into_tcp_connections() {
    // The loop shares one output buffer between all sources; a datagram's reply
    // must not linger there and reach the next TCP client.
    let server = start_server(config(Framing::Raw));
    let client = udp_client();
    assert_eq!(
        ask(&client, server.addr(Udp, Protocol::Hello), b"Li"),
        b"Hello, Li!"
    );
    let tcp = server.addr(reactord::config::Transport::Tcp, Protocol::Echo);
    let mut stream = connect(tcp);
    assert_eq!(round_trip(&mut stream, b"mine", 4), b"mine");
}
