//! What the loop's two per-connection bounds cost and buy, measured on loopback.
//!
//! `cargo bench --bench fairness` prints two tables:
//!
//! 1. **Turn budget** (`Limits::turn_bytes`): 200 chargen streams read as
//!    fast as two client threads can, beside a hello client doing a round
//!    trip every 5 ms. For each budget: the probe's p50 / p99 / max and the
//!    bulk throughput. The default is picked from this table.
//! 2. **Send buffer** (`Limits::sndbuf`, `--sndbuf`): 100 chargen clients that
//!    never read; the kernel's TCP memory (`/proc/net/sockstat`, both ends
//!    of every connection, since both are on this machine) before and after,
//!    and the bytes the server managed to hand to the kernel per client; then
//!    the throughput of one chargen stream read flat out.
//!
//! Not a test: it asserts nothing and takes about a minute. Run it on a quiet
//! machine; the figures in docs/RELIABILITY.md came from here.

#[path = "../tests/common/bulk.rs"]
mod bulk;

use bulk::read_flat_out;
use reactord::config::{Binding, Limits, ServerConfig, Transport};
use reactord::protocol::{Framing, Protocol};
use reactord::reactor::{Reactor, ShutdownHandle};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const RUN: Duration = Duration::from_secs(3);
/// One read's buffer in the bulk readers.
const READ_BUFFER: usize = 256 * 1024;

/// A reactor on its own thread serving chargen and hello; shut down on drop.
struct Server {
    chargen: SocketAddr,
    hello: SocketAddr,
    stats: reactord::reactor::StatsHandle,
    handle: ShutdownHandle,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn start(limits: Limits) -> Server {
        let binding = |protocol| Binding {
            transport: Transport::Tcp,
            protocol,
            addr: "127.0.0.1:0".parse().unwrap(),
        };
        let config = ServerConfig {
            bindings: vec![binding(Protocol::Chargen), binding(Protocol::Hello)],
            unix_bindings: Vec::new(),
            framing: Framing::Line,
            limits,
            files_root: None,
        };
        let reactor = Reactor::bind(&config).expect("bind");
        let bound = reactor.bindings();
        let (handle, stats) = (reactor.shutdown_handle(), reactor.stats_handle());
        let thread = std::thread::spawn(move || {
            reactor.run().expect("reactor");
        });
        Server {
            chargen: bound[0].addr,
            hello: bound[1].addr,
            stats,
            handle,
            thread: Some(thread),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.handle.shutdown();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Bulk readers on `streams` chargen connections, in `threads` client threads.
fn bulk(
    addr: SocketAddr,
    streams: usize,
    threads: usize,
) -> (Arc<AtomicBool>, Arc<AtomicU64>, Vec<JoinHandle<()>>) {
    let stop = Arc::new(AtomicBool::new(false));
    let total = Arc::new(AtomicU64::new(0));
    let readers = (0..threads)
        .map(|_| {
            let conns = (0..streams / threads)
                .map(|_| TcpStream::connect(addr).unwrap())
                .collect();
            let (stop, total) = (stop.clone(), total.clone());
            // A stream the server closes ends that reader (the rest of the run measures without it).
            std::thread::spawn(move || {
                read_flat_out(conns, stop, total, READ_BUFFER);
            })
        })
        .collect();
    (stop, total, readers)
}

/// Hello round trips every `every` for `run`; sorted latencies.
fn probe(addr: SocketAddr, every: Duration, run: Duration) -> Vec<Duration> {
    let mut client = TcpStream::connect(addr).unwrap();
    client.set_nodelay(true).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 64];
    let n = client.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"Welcome!\n");
    let mut latencies = Vec::new();
    let end = Instant::now() + run;
    while Instant::now() < end {
        let started = Instant::now();
        client.write_all(b"probe\n").unwrap();
        let mut got = 0;
        while got < b"Hello, probe!\n".len() {
            got += client.read(&mut buf[got..]).unwrap();
        }
        latencies.push(started.elapsed());
        std::thread::sleep(every);
    }
    latencies.sort_unstable();
    latencies
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * (sorted.len().saturating_sub(1)) as f64).round() as usize;
    sorted.get(rank).copied().unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn turn_budgets() {
    println!(
        "turn budget: 200 chargen streams read flat out + hello probe every 5 ms, {RUN:?} each"
    );
    println!("| turn_bytes | probe p50 | p99 | max | round trips | bulk MB/s |");
    println!("|---|---|---|---|---|---|");
    for turn_bytes in [4 << 10, 16 << 10, 32 << 10, 64 << 10, 256 << 10, 1 << 20] {
        let server = Server::start(Limits {
            turn_bytes,
            ..Limits::default()
        });
        let (stop, total, readers) = bulk(server.chargen, 200, 2);
        std::thread::sleep(Duration::from_millis(500));
        let before = total.load(Ordering::Relaxed);
        let started = Instant::now();
        let latencies = probe(server.hello, Duration::from_millis(5), RUN);
        let rate =
            (total.load(Ordering::Relaxed) - before) as f64 / started.elapsed().as_secs_f64();
        stop.store(true, Ordering::Release);
        readers.into_iter().for_each(|r| r.join().unwrap());
        println!(
            "| {} KiB | {:.2} ms | {:.2} ms | {:.2} ms | {} | {:.0} |",
            turn_bytes >> 10,
            ms(percentile(&latencies, 50.0)),
            ms(percentile(&latencies, 99.0)),
            ms(percentile(&latencies, 100.0)),
            latencies.len(),
            rate / 1e6
        );
    }
}

/// TCP memory in KiB, from the `TCP: ... mem N` pages of /proc/net/sockstat.
fn tcp_mem_kib() -> u64 {
    let text = std::fs::read_to_string("/proc/net/sockstat").unwrap_or_default();
    let pages: u64 = text
        .lines()
        .find(|l| l.starts_with("TCP:"))
        .and_then(|l| l.split_whitespace().skip_while(|w| *w != "mem").nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    pages * 4
}

fn send_buffers() {
    println!("send buffer: 100 chargen clients that never read (default client buffers)");
    println!(
        "| sndbuf | kernel TCP memory | per client | server wrote per client | one stream MB/s |"
    );
    println!("|---|---|---|---|---|");
    for sndbuf in [None, Some(64 << 10), Some(128 << 10), Some(256 << 10)] {
        let server = Server::start(Limits {
            sndbuf,
            ..Limits::default()
        });
        std::thread::sleep(Duration::from_millis(300));
        let before = tcp_mem_kib();
        let idle: Vec<TcpStream> = (0..100)
            .map(|_| TcpStream::connect(server.chargen).unwrap())
            .collect();
        std::thread::sleep(Duration::from_secs(2));
        let during = tcp_mem_kib();
        let written = server.stats.snapshot().bytes_out / 100;
        drop(idle);
        std::thread::sleep(Duration::from_millis(500));
        let (stop, total, readers) = bulk(server.chargen, 1, 1);
        std::thread::sleep(Duration::from_millis(300));
        let start = total.load(Ordering::Relaxed);
        std::thread::sleep(Duration::from_secs(2));
        let rate = (total.load(Ordering::Relaxed) - start) as f64 / 2.0;
        stop.store(true, Ordering::Release);
        readers.into_iter().for_each(|r| r.join().unwrap());
        let label = sndbuf.map_or("autotuned".to_string(), |b| format!("{} KiB", b >> 10));
        println!(
            "| {label} | {} -> {} MiB | {} KiB | {} KiB | {:.0} |",
            before >> 10,
            during >> 10,
            during.saturating_sub(before) / 100,
            written >> 10,
            rate / 1e6
        );
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument picks one table.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let wants = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    println!(
        "cores: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    if wants("turn") {
        turn_budgets();
    }
    if wants("sndbuf") {
        send_buffers();
    }
}
