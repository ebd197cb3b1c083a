//! The batched path against real sockets on loopback: order, refusals, the largest datagram.

use super::*;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// A non-blocking server socket and a client connected to it.
fn client_of(server: &UdpSocket) -> UdpSocket {
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    client.connect(server.local_addr().unwrap()).unwrap();
    client
}

fn server() -> UdpSocket {
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    server.set_nonblocking(true).unwrap();
    server
}

/// Serves `server` until `count` datagrams came in (at most 5 s).
fn serve_until(
    server: &UdpSocket,
    count: u64,
    mut allow: impl FnMut(SocketAddr, usize) -> bool,
) -> (DatagramBatch, Stats) {
    let (mut batch, mut stats) = (DatagramBatch::default(), Stats::default());
    let deadline = Instant::now() + Duration::from_secs(5);
    while stats.udp_in < count && Instant::now() < deadline {
        let _ = serve(
            server.as_raw_fd(),
            Protocol::Echo,
            &mut batch,
            |replies, _| replies.retain(|reply| allow(reply.peer, reply.len())),
            &mut stats,
            SystemTime::now(),
        );
    }
    (batch, stats)
}

fn recv(client: &UdpSocket) -> Vec<u8> {
    let mut buf = vec![0u8; 70_000];
    let n = client.recv(&mut buf).unwrap();
    buf.truncate(n);
    buf
}

#[test]
fn a_batch_is_answered_in_order_each_reply_to_its_sender() {
    let server = server();
    let (first, second) = (client_of(&server), client_of(&server));
    for i in 0..20 {
        first.send(format!("first {i}").as_bytes()).unwrap();
        second.send(format!("second {i}").as_bytes()).unwrap();
    }
    let (batch, stats) = serve_until(&server, 40, |_, _| true);
    for i in 0..20 {
        assert_eq!(recv(&first), format!("first {i}").as_bytes());
        assert_eq!(recv(&second), format!("second {i}").as_bytes());
    }
    assert_eq!(
        (stats.udp_in, stats.udp_out, stats.udp_dropped),
        (40, 40, 0)
    );
    assert!(batch.queued.is_empty() && batch.replies.is_empty());
}

#[test]
fn a_refused_reply_is_left_out_and_the_rest_are_sent() {
    let server = server();
    let client = client_of(&server);
    for body in ["keep 1", "refuse this", "keep 2"] {
        client.send(body.as_bytes()).unwrap();
    }
    let mut asked = 0;
    let (_, stats) = serve_until(&server, 3, |sender, len| {
        assert_eq!(sender, client.local_addr().unwrap());
        asked += 1;
        len != "refuse this".len()
    });
    assert_eq!(recv(&client), b"keep 1");
    assert_eq!(recv(&client), b"keep 2", "the refused reply is not sent");
    assert_eq!((asked, stats.udp_out), (3, 2));
}

#[test]
fn the_largest_datagram_is_echoed_whole() {
    let server = server();
    let client = client_of(&server);
    let big: Vec<u8> = (0..65_507u32).map(|i| (i % 251) as u8).collect();
    client.send(&big).unwrap();
    client.send(b"after").unwrap();
    let (_, stats) = serve_until(&server, 2, |_, _| true);
    assert_eq!(recv(&client), big);
    assert_eq!(recv(&client), b"after");
    assert_eq!(stats.bytes_out, 65_507 + 5);
}

#[test]
fn an_empty_socket_says_keep_and_allocates_once() {
    let server = server();
    let (mut batch, mut stats) = (DatagramBatch::default(), Stats::default());
    for _ in 0..2 {
        let outcome = serve(
            server.as_raw_fd(),
            Protocol::Echo,
            &mut batch,
            |_, _| {},
            &mut stats,
            SystemTime::now(),
        );
        assert!(outcome == Outcome::Keep);
    }
    assert_eq!(batch.buffers.len(), SLOTS * SLOT_SIZE);
    assert_eq!(stats.udp_in, 0);
}
