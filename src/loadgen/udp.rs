//! The `udp` scenario: datagram ping-pong, one datagram in flight per socket.
//!
//! Each socket is `connect`ed to the server, so the kernel drops datagrams
//! from anyone else and `send`/`recv` need no address. A datagram not answered
//! within `loss_timeout` is counted as lost and the next one is sent.
//!
//! Because a lost datagram's reply may still turn up later, every datagram
//! carries a sequence number in the first (up to 16) bytes of its body, in hex.
//! A reply that matches except for the sequence number is a *late* reply, not a
//! mismatch. Each socket has its own copy of the request and reply template,
//! restamped in place before each send: no allocation per datagram.
//!
//! An event finds its flow by token, which is the flow's index: O(1) per
//! event. Losses and due sends are checked by a scan of the flows, but only
//! once per tick, never per event.

use super::config::BenchConfig;
use super::error::ErrorKind;
use super::expect::Exchange;
use super::stats::{Shared, Stats};
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Largest datagram we could receive.
const SCRATCH: usize = 65_536;

#[derive(Debug)]
struct Flow {
    socket: UdpSocket,
    ex: Exchange,
    seq: u64,
    /// Where the sequence number sits in the reply.
    stamp: std::ops::Range<usize>,
    /// When the datagram in flight was sent.
    sent_at: Option<Instant>,
    /// When to send next, if not now (after a refusal, or a full socket buffer).
    send_at: Option<Instant>,
    /// Whether this flow has stopped for good (budget spent or deadline).
    finished: bool,
}

/// Runs `count` UDP flows in one event loop until the window closes or the budget is spent.
pub fn run(config: &BenchConfig, shared: &Shared, count: usize) -> io::Result<Stats> {
    let deadline = shared
        .window()
        .map_or_else(|| Instant::now() + config.duration, |(_, close)| close);
    let mut poll = Poll::new()?;
    let mut stats = Stats::new();
    stats.mark_cpu();
    let mut flows = open_flows(config, &poll, count)?;
    stats.connects += count as u64;
    let mut scratch = vec![0; SCRATCH];
    let mut events = Events::with_capacity(256);
    // Losses are noticed at most a quarter of the loss timeout late.
    let tick = (config.loss_timeout / 4).clamp(Duration::from_millis(1), Duration::from_millis(50));
    let mut published = (0, 0);
    let mut next_tick = Instant::now();
    loop {
        let now = Instant::now();
        if now >= deadline || shared.stopped() {
            break;
        }
        if now >= next_tick {
            next_tick = now + tick;
            for flow in &mut flows {
                flow.on_tick(config, shared, &mut stats, now);
            }
            if flows.iter().all(|f| f.finished) {
                break;
            }
            let current = (stats.ops, stats.error_total());
            shared
                .ops
                .fetch_add(current.0 - published.0, Ordering::Relaxed);
            shared
                .errors
                .fetch_add(current.1 - published.1, Ordering::Relaxed);
            published = current;
        }
        let wait = deadline.min(next_tick).saturating_duration_since(now);
        match poll.poll(&mut events, Some(wait)) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        }
        for event in events.iter() {
            if let Some(flow) = flows.get_mut(event.token().0) {
                flow.receive(config, shared, &mut scratch, &mut stats);
            }
        }
    }
    stats.unfinished += flows.iter().filter(|f| f.sent_at.is_some()).count() as u64;
    shared
        .ops
        .fetch_add(stats.ops - published.0, Ordering::Relaxed);
    shared
        .errors
        .fetch_add(stats.error_total() - published.1, Ordering::Relaxed);
    Ok(stats)
}

/// Binds and connects `count` sockets to the server, each registered with its index as token.
fn open_flows(config: &BenchConfig, poll: &Poll, count: usize) -> io::Result<Vec<Flow>> {
    let local: SocketAddr = match config.addr {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let now = Instant::now();
    (0..count)
        .map(|i| {
            let mut socket = UdpSocket::bind(local)?;
            socket.connect(config.addr)?;
            poll.registry()
                .register(&mut socket, Token(i), Interest::READABLE)?;
            Ok(Flow {
                socket,
                ex: Exchange::new(config.protocol, config.size, true),
                seq: 0,
                stamp: 0..0,
                sent_at: None,
                send_at: Some(now),
                finished: false,
            })
        })
        .collect()
}

impl Flow {
    /// Counts a loss if the datagram in flight is overdue; sends when a send is due.
    fn on_tick(&mut self, config: &BenchConfig, shared: &Shared, stats: &mut Stats, now: Instant) {
        if self
            .sent_at
            .is_some_and(|at| now.duration_since(at) > config.loss_timeout)
        {
            stats.error(ErrorKind::Lost);
            self.sent_at = None;
            self.send_at = Some(now);
        }
        if self.send_at.is_some_and(|at| at <= now) {
            self.send(config, shared, stats);
        }
    }

    fn send(&mut self, config: &BenchConfig, shared: &Shared, stats: &mut Stats) {
        self.send_at = None;
        if self.finished || shared.stopped() || !shared.take_request() {
            self.finished = true;
            return;
        }
        self.seq += 1;
        self.stamp = self.ex.stamp(self.seq);
        let now = Instant::now();
        match self.socket.send(&self.ex.request) {
            Ok(n) => {
                stats.bytes_sent += n as u64;
                self.sent_at = Some(now);
            }
            // The request was spent without a datagram; try again a little later.
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => self.retry(config, now),
            Err(err) => {
                stats.error(udp_error(&err));
                self.retry(config, now);
            }
        }
    }

    fn retry(&mut self, config: &BenchConfig, now: Instant) {
        self.send_at = Some(now + config.loss_timeout.min(Duration::from_millis(100)));
    }

    /// Reads every waiting datagram; a good reply sends the next request at once.
    fn receive(
        &mut self,
        config: &BenchConfig,
        shared: &Shared,
        scratch: &mut [u8],
        stats: &mut Stats,
    ) {
        loop {
            let len = match self.socket.recv(scratch) {
                Ok(len) => len,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    // ICMP port unreachable comes back as ECONNREFUSED on a connected socket.
                    stats.error(udp_error(&err));
                    if self.sent_at.take().is_some() {
                        self.retry(config, Instant::now());
                    }
                    continue;
                }
            };
            stats.bytes_received += len as u64;
            let reply = &scratch[..len];
            let now = Instant::now();
            let whole = len == self.ex.reply.len();
            let Some(sent) = self.sent_at else {
                // Nothing in flight: a reply to a datagram already counted as lost.
                let late = whole && self.ex.reply.matches(0, reply, self.stamp.clone());
                stats.error(if late {
                    ErrorKind::Late
                } else {
                    ErrorKind::Mismatch
                });
                continue;
            };
            if whole && self.ex.reply.matches(0, reply, 0..0) {
                if shared.measuring(now) {
                    stats.record(now.duration_since(sent));
                }
            } else if whole && self.ex.reply.matches(0, reply, self.stamp.clone()) {
                stats.error(ErrorKind::Late);
                continue; // still waiting for the reply to the datagram in flight
            } else {
                stats.error(ErrorKind::Mismatch);
            }
            self.sent_at = None;
            self.send(config, shared, stats);
        }
    }
}

fn udp_error(err: &io::Error) -> ErrorKind {
    match err.kind() {
        io::ErrorKind::ConnectionRefused => ErrorKind::Connect,
        _ => ErrorKind::Io,
    }
}
