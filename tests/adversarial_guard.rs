//! The per-source abuse controls: connections per address, connection rate,
//! and the UDP reflection/amplification guard. Attackers come from other
//! loopback addresses (127.0.0.2 and up); the well-behaved clients from
//! 127.0.0.1 must not notice them.

mod common;

use common::probe::*;
use common::*;
use reactord::config::Transport::{Tcp, Udp};
use reactord::protocol::{Framing, Protocol};
use std::io::{ErrorKind, Read};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

fn loopback(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// Whether the server greeted this hello client (true) or refused it at once (false).
fn greeted_or_refused(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 16];
    match stream.read(&mut buf) {
        Ok(0) => false,
        Ok(n) => {
            assert_eq!(&buf[..n], b"Welcome!\n");
            true
        }
        Err(err) if err.kind() == ErrorKind::ConnectionReset => false,
        Err(err) => panic!("neither greeted nor refused: {err}"),
    }
}

#[test]
fn max_conns_per_ip_refuses_the_excess_from_one_source_only() {
    let _turn = serial();
    let server = ServerProcess::start(
        &[
            "--tcp",
            "hello=127.0.0.1:0",
            "--max-conns-per-ip",
            "10",
            "--conn-rate-per-ip",
            "0",
            // The attack comes from loopback, exempt unless asked.
            "--limit-loopback",
        ],
        1,
    );
    let addr = server.addr(0);
    let probe = Probe::start(addr, Duration::from_millis(20));
    let mut attackers: Vec<TcpStream> = (0..50)
        .filter_map(|_| match connect_from(loopback(2), addr) {
            Ok(stream) => Some(stream),
            Err(err) if err.kind() == ErrorKind::ConnectionReset => None,
            Err(err) => panic!("connect: {err}"),
        })
        .collect();
    let served = attackers
        .iter_mut()
        .map(greeted_or_refused)
        .filter(|&greeted| greeted)
        .count();
    assert_eq!(served, 10);
    // Another address is not affected by 127.0.0.2's count.
    let mut other = connect_from(loopback(3), addr).unwrap();
    assert!(greeted_or_refused(&mut other));
    // The probe is served while 127.0.0.2 holds its 10 (it would be without a wait,
    // but a loaded machine may not have given it the time yet).
    probe.wait_for_trips(5);
    // Once 127.0.0.2 lets go, it may connect again.
    // The server notices the closes in its own time: retry (bounded) until it has.
    // Each refused retry is counted like any other refusal.
    drop(attackers);
    let mut refused_retries = 0;
    eventually("127.0.0.2 served again after letting go", || {
        let greeted = match connect_from(loopback(2), addr) {
            Ok(mut again) => greeted_or_refused(&mut again),
            Err(err) if err.kind() == ErrorKind::ConnectionReset => false,
            Err(err) => panic!("connect: {err}"),
        };
        refused_retries += u64::from(!greeted);
        greeted.then_some(())
    });
    let latencies = probe.finish();
    latencies.assert_served(5, Duration::from_secs(3));
    server.terminate();
    let (status, stderr) = server.wait();
    assert!(status.success(), "{stderr}");
    assert_eq!(
        summary_field(&stderr, "refused_per_ip"),
        40 + refused_retries
    );
    eprintln!(
        "FIGURE max-conns-per-ip 10: 50 from one address, 10 served, 40 refused and counted; probe {}",
        latencies.summary()
    );
}

#[test]
fn conn_rate_per_ip_refuses_a_connect_storm() {
    let _turn = serial();
    let server = ServerProcess::start(
        &[
            "--tcp",
            "hello=127.0.0.1:0",
            "--conn-rate-per-ip",
            "20",
            "--max-conns-per-ip",
            "0",
            "--limit-loopback",
        ],
        1,
    );
    let addr = server.addr(0);
    let probe = Probe::start(addr, Duration::from_millis(20));
    let started = Instant::now();
    let mut served = 0;
    for _ in 0..200 {
        // The reset of a refusal can beat connect() itself to the finish.
        match connect_from(loopback(4), addr) {
            Ok(mut stream) => served += usize::from(greeted_or_refused(&mut stream)),
            Err(err) if err.kind() == ErrorKind::ConnectionReset => {}
            Err(err) => panic!("connect: {err}"),
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    // A burst of 20, plus 20 per second of the storm.
    let allowed = 20 + (20.0 * elapsed).ceil() as usize;
    assert!(
        served >= 20 && served <= allowed,
        "{served} served in {elapsed} s"
    );
    std::thread::sleep(Duration::from_millis(200));
    let mut later = connect_from(loopback(4), addr).unwrap();
    assert!(greeted_or_refused(&mut later), "the bucket refills");
    let latencies = probe.finish();
    latencies.assert_served(5, Duration::from_secs(3));
    server.terminate();
    let (status, stderr) = server.wait();
    assert!(status.success(), "{stderr}");
    let refused = summary_field(&stderr, "refused_rate");
    assert_eq!(refused, 200 - served as u64);
    eprintln!(
        "FIGURE conn-rate-per-ip 20: 200 connects in {elapsed:.2} s from one address, {served} \
         served, {refused} refused and counted; probe {}",
        latencies.summary()
    );
}

#[test]
fn udp_replies_are_capped_per_source_and_never_sent_to_low_ports() {
    let _turn = serial();
    const BUDGET: u64 = 64 * 1024;
    const BURST: usize = 100_000;
    let mut config = config(Framing::Line);
    config.limits.udp_budget = BUDGET;
    config.limits.limit_loopback = true;
    let server = start_server(config);
    let target = server.addr(Udp, Protocol::Echo);
    let probe = Probe::start(server.addr(Tcp, Protocol::Hello), Duration::from_millis(20));
    // The "victim" whose address a flood of requests carries: 127.0.0.2.
    let victim = UdpSocket::bind(SocketAddr::new(loopback(2), 0)).unwrap();
    victim.set_nonblocking(true).unwrap();
    let payload = [b'v'; 64];
    let mut received = 0u64;
    let mut buf = [0u8; 128];
    for _ in 0..BURST {
        let _ = victim.send_to(&payload, target);
        while let Ok((n, _)) = victim.recv_from(&mut buf) {
            received += n as u64;
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    while let Ok((n, _)) = victim.recv_from(&mut buf) {
        received += n as u64;
    }
    assert!(received <= BUDGET, "the victim got {received} bytes");
    // A client at another address still has its whole budget.
    let client = udp_client();
    client.send_to(b"still here", target).unwrap();
    let mut reply = [0u8; 32];
    let (n, _) = client.recv_from(&mut reply).expect("reply");
    assert_eq!(&reply[..n], b"still here");
    // A source port below 1024 gets nothing (binding one needs privileges; skip without).
    let low = (1000..1023).find_map(|port| UdpSocket::bind((loopback(5), port)).ok());
    if let Some(low) = &low {
        low.send_to(b"loop?", target).unwrap();
        low.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        assert!(low.recv_from(&mut reply).is_err(), "answered a low port");
    } else {
        eprintln!("cannot bind a port below 1024 here: low-port case skipped");
    }
    let latencies = probe.finish();
    latencies.assert_served(5, Duration::from_secs(3));
    let stats = server.stop();
    assert_eq!(stats.udp_low_port, u64::from(low.is_some()), "{stats}");
    assert!(stats.udp_over_budget > 0, "{stats}");
    assert_eq!(
        stats.udp_in,
        stats.udp_out
            + stats.udp_dropped
            + stats.udp_over_budget
            + stats.udp_low_port
            + stats.udp_own_port,
        "every datagram is answered or counted: {stats}"
    );
    eprintln!(
        "FIGURE udp budget {BUDGET}: {BURST} x 64 B requests from one source, server received {}, \
         victim got {received} B, {} replies over budget dropped and counted, {} to a low port; \
         probe {}",
        stats.udp_in,
        stats.udp_over_budget,
        stats.udp_low_port,
        latencies.summary()
    );
}
