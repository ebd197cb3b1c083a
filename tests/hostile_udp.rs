//! UDP reflection, attacked the way it works: a spoofed datagram whose source
//! is one of our own UDP sockets (sent from a raw socket, as root), loops
//! between two servers, and a flood of new sources trying to reset a victim's
//! budget. Each test also checks that a well-behaved client is still answered.

mod common;

use common::probe::*;
use common::*;
use reactord::config::Binding;
use reactord::config::Transport::{Tcp, Udp};
use reactord::protocol::{Framing, Protocol};
use reactord::reactor::Stats;
use socket2::{Domain, Socket, Type};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

/// Sends one UDP datagram with a forged source port from a raw socket.
/// `None` (with the reason printed) where raw sockets are not allowed.
fn spoof(from: SocketAddrV4, to: SocketAddrV4, payload: &[u8]) -> Option<()> {
    let raw = match Socket::new(Domain::IPV4, Type::RAW, Some(socket2::Protocol::UDP)) {
        Ok(raw) => raw,
        Err(err) => {
            println!("SKIPPED: cannot open a raw socket to forge a source ({err}); needs root or CAP_NET_RAW");
            return None;
        }
    };
    // The kernel writes the IP header with the bound source address; we write UDP's.
    raw.bind(&SocketAddr::V4(SocketAddrV4::new(*from.ip(), 0)).into())
        .expect("bind the raw socket to the forged source address");
    let mut datagram = Vec::with_capacity(8 + payload.len());
    datagram.extend_from_slice(&from.port().to_be_bytes());
    datagram.extend_from_slice(&to.port().to_be_bytes());
    datagram.extend_from_slice(&(8 + payload.len() as u16).to_be_bytes());
    datagram.extend_from_slice(&[0, 0]); // no checksum: optional over IPv4
    datagram.extend_from_slice(payload);
    raw.send_to(
        &datagram,
        &SocketAddr::V4(SocketAddrV4::new(*to.ip(), 0)).into(),
    )
    .expect("send the forged datagram");
    Some(())
}

fn v4(addr: SocketAddr) -> SocketAddrV4 {
    match addr {
        SocketAddr::V4(v4) => v4,
        SocketAddr::V6(_) => panic!("IPv4 expected"),
    }
}

/// Waits until the server's UDP counters stop moving (the loop, if any, has ended)
/// or `limit` passes; returns the last reading.
fn settled(server: &TestServer, limit: Duration) -> Stats {
    let deadline = Instant::now() + limit;
    let mut last = server.stats.snapshot();
    loop {
        std::thread::sleep(Duration::from_millis(250));
        let now = server.stats.snapshot();
        if (now.udp_in, now.udp_out) == (last.udp_in, last.udp_out) || Instant::now() > deadline {
            return now;
        }
        last = now;
    }
}

/// A UDP echo server (and a TCP hello for the probe) with the given budget.
fn echo_server(udp_addr: SocketAddr, budget: u64) -> TestServer {
    let mut config = config(Framing::Line);
    config.bindings = vec![
        Binding {
            transport: Udp,
            protocol: Protocol::Echo,
            addr: udp_addr,
        },
        Binding {
            transport: Tcp,
            protocol: Protocol::Hello,
            addr: "127.0.0.1:0".parse().unwrap(),
        },
    ];
    config.limits.udp_budget = budget;
    // The forged and flooding sources here are loopback addresses standing in
    // for remote ones: loopback is exempt from the budget unless asked.
    config.limits.limit_loopback = true;
    start_server(config)
}

/// Waits (boundedly) until the server has received `datagrams`; returns what it has.
fn caught_up(server: &TestServer, datagrams: u64) -> u64 {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let received = server.stats.snapshot().udp_in;
        if received >= datagrams || Instant::now() > deadline {
            return received;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A UDP client at 127.0.0.1 is still answered, promptly.
fn assert_still_answered(target: SocketAddr) -> Duration {
    let client = udp_client();
    let started = Instant::now();
    assert_eq!(ask(&client, target, b"still here"), b"still here");
    started.elapsed()
}

#[test]
fn one_datagram_forged_from_our_own_port_costs_one_datagram() {
    let _turn = serial();
    // No budget at all (the benchmark setting): only the own-port rule stands in the way.
    let server = start_server(config(Framing::Line));
    let echo = v4(server.addr(Udp, Protocol::Echo));
    let chargen = v4(server.addr(Udp, Protocol::Chargen));
    let probe = Probe::start(server.addr(Tcp, Protocol::Hello), Duration::from_millis(20));
    // echo <-> itself with an empty datagram (1.24M replies in 4 s before),
    // and echo <-> chargen on the same server.
    if spoof(echo, echo, b"").is_none() || spoof(chargen, echo, b"x").is_none() {
        return;
    }
    let stats = settled(&server, Duration::from_secs(5));
    let rtt = assert_still_answered(echo.into());
    let latencies = probe.finish();
    latencies.assert_served(5, Duration::from_secs(3));
    assert_eq!(stats.udp_own_port, 2, "{stats}");
    assert_eq!(stats.udp_out, 0, "no reply went to our own ports: {stats}");
    assert_eq!(stats.udp_in, 2, "{stats}");
    eprintln!(
        "FIGURE own-port loop: 2 forged datagrams (echo->echo empty, chargen->echo), \
         server received {}, sent {}, refused {} (udp_own_port); udp probe {rtt:?}; probe {}",
        stats.udp_in,
        stats.udp_out,
        stats.udp_own_port,
        latencies.summary()
    );
}

#[test]
fn two_servers_on_the_same_port_do_not_bounce_a_forged_datagram() {
    let _turn = serial();
    let a = echo_server("127.0.0.1:0".parse().unwrap(), 0);
    let a_addr = v4(a.addr(Udp, Protocol::Echo));
    let b = echo_server(
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), a_addr.port()),
        0,
    );
    let b_addr = v4(b.addr(Udp, Protocol::Echo));
    let probe = Probe::start(a.addr(Tcp, Protocol::Hello), Duration::from_millis(20));
    if spoof(b_addr, a_addr, b"").is_none() {
        return;
    }
    let (sa, sb) = (
        settled(&a, Duration::from_secs(5)),
        settled(&b, Duration::from_secs(5)),
    );
    assert_still_answered(a_addr.into());
    probe.finish().assert_served(5, Duration::from_secs(3));
    assert_eq!((sa.udp_in, sa.udp_out, sa.udp_own_port), (1, 0, 1), "{sa}");
    assert_eq!(sb.udp_in, 0, "{sb}");
    eprintln!(
        "FIGURE two servers, one port, 127.0.0.1 and 127.0.0.2: 1 forged datagram, 0 replies"
    );
}

#[test]
fn a_loop_between_two_servers_on_different_ports_ends_at_the_budget_even_with_empty_datagrams() {
    let _turn = serial();
    const BUDGET: u64 = 64 * 1024;
    let a = echo_server("127.0.0.1:0".parse().unwrap(), BUDGET);
    let b = echo_server("127.0.0.2:0".parse().unwrap(), BUDGET);
    let (a_addr, b_addr) = (
        v4(a.addr(Udp, Protocol::Echo)),
        v4(b.addr(Udp, Protocol::Echo)),
    );
    let probe = Probe::start(a.addr(Tcp, Protocol::Hello), Duration::from_millis(20));
    let started = Instant::now();
    if spoof(b_addr, a_addr, b"").is_none() {
        return;
    }
    let (sa, sb) = (
        settled(&a, Duration::from_secs(20)),
        settled(&b, Duration::from_secs(20)),
    );
    let lasted = started.elapsed();
    probe.finish().assert_served(5, Duration::from_secs(3));
    // An empty reply costs its 28 header bytes: the loop ends after BUDGET / 28 each way.
    let most = BUDGET / 28 + 1;
    assert!(sa.udp_out <= most && sb.udp_out <= most, "{sa} / {sb}");
    assert!(
        sa.udp_over_budget + sb.udp_over_budget >= 1,
        "the budget ended it: {sa} / {sb}"
    );
    // The client at 127.0.0.1 asking server a is charged at a, not at b: still answered.
    assert_still_answered(a_addr.into());
    eprintln!(
        "FIGURE loop between two servers on different ports, --udp-budget {BUDGET}: ended after \
         {} + {} empty replies (at most {most} each), settled within {lasted:?}",
        sa.udp_out, sb.udp_out
    );
}

#[test]
fn a_flood_of_new_sources_does_not_reset_a_victim_over_budget() {
    let _turn = serial();
    const BUDGET: u64 = 4096;
    const FLOOD: u32 = 4_200;
    let server = echo_server("127.0.0.1:0".parse().unwrap(), BUDGET);
    let target = server.addr(Udp, Protocol::Echo);
    let victim = UdpSocket::bind("127.0.0.2:0").unwrap();
    victim
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 256];
    let mut answered = 0;
    loop {
        victim.send_to(&[b'v'; 100], target).unwrap();
        if victim.recv_from(&mut buf).is_err() {
            break;
        }
        answered += 1;
        assert!(answered <= 64, "the budget never ran out");
    }
    // 4,200 other sources, one datagram each (FIFO eviction forgot the victim after 4,096).
    let mut sent = 0;
    for n in 0..FLOOD {
        let source = Ipv4Addr::new(127, 1, (n / 250) as u8, (n % 250 + 1) as u8);
        if let Ok(socket) = UdpSocket::bind((source, 0)) {
            let _ = socket.send_to(b"f", target);
            sent += 1;
            if sent % 50 == 0 {
                // Let the server keep up: a flood datagram dropped by the kernel proves nothing.
                caught_up(&server, answered + 1 + u64::from(sent));
            }
        }
    }
    let received = caught_up(&server, answered + 1 + u64::from(sent));
    victim.send_to(&[b'v'; 100], target).unwrap();
    assert!(
        victim.recv_from(&mut buf).is_err(),
        "the flood reset the victim's budget"
    );
    let rtt = assert_still_answered(target);
    let stats = server.stop();
    assert_eq!(sent, FLOOD, "every flood source could be bound");
    assert!(
        received > u64::from(FLOOD),
        "the server saw only {received} datagrams: {stats}"
    );
    eprintln!(
        "FIGURE budget eviction: victim answered {answered} times then refused; after {sent} \
         datagrams from {sent} other sources still refused; a client at 127.0.0.1 answered in {rtt:?}; {stats}"
    );
}

#[test]
fn the_threaded_baseline_does_not_answer_its_own_port_either() {
    let _turn = serial();
    let config = reactord::config::ServerConfig {
        bindings: vec![Binding {
            transport: Udp,
            protocol: Protocol::Echo,
            addr: "127.0.0.1:0".parse().unwrap(),
        }],
        unix_bindings: Vec::new(),
        framing: Framing::Line,
        limits: reactord::config::Limits::default(),
        files_root: None,
    };
    let server = reactord::threaded::ThreadedServer::bind(&config).unwrap();
    let echo = v4(server.local_bindings()[0].addr);
    let handle = server.shutdown_handle();
    let runner = std::thread::spawn(move || server.run());
    let forged = spoof(echo, echo, b"");
    std::thread::sleep(Duration::from_millis(500));
    let rtt = forged.map(|()| assert_still_answered(echo.into()));
    handle.shutdown();
    let stats = runner.join().unwrap();
    if forged.is_none() {
        return;
    }
    assert_eq!((stats.udp_out, stats.udp_own_port), (1, 1), "{stats}");
    eprintln!(
        "FIGURE threaded own-port loop: 1 forged datagram, 0 replies to it; probe {rtt:?}; {stats}"
    );
}
