//! Soak load for a running reactord: mixed protocols, churn, and a few
//! misbehaving clients, while sampling the server's memory and descriptors.
//!
//! `scripts/soak.sh` builds and starts the release server and runs this; on
//! its own:
//!
//! ```sh
//! cargo run --release --example soak -- --listening FILE --pid PID --minutes 10
//! ```
//!
//! `FILE` holds the server's `listening ...` lines; it must serve TCP echo,
//! hello and timestamp and UDP echo (more is fine). Exits non-zero if any
//! reply was wrong, or if memory kept climbing after the warm-up.

use socket2::SockRef;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(10);
const SAMPLE_EVERY: Duration = Duration::from_secs(5);
const CHURNERS: usize = 8;
const SQUATTERS: usize = 50;

#[derive(Default)]
struct Counters {
    ok: AtomicU64,
    errors: AtomicU64,
    udp_lost: AtomicU64,
    connections: AtomicU64,
}

struct Targets {
    echo: SocketAddr,
    hello: SocketAddr,
    timestamp: SocketAddr,
    udp_echo: SocketAddr,
}

fn find(lines: &str, transport: &str, protocol: &str) -> SocketAddr {
    lines
        .lines()
        .find_map(|l| {
            let p: Vec<&str> = l.split(' ').collect();
            (p.len() == 4 && p[1] == transport && p[2] == protocol).then(|| p[3].parse().ok())?
        })
        .unwrap_or_else(|| panic!("no 'listening {transport} {protocol}' line"))
}

/// A tiny xorshift generator: deterministic per thread, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, TIMEOUT)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    Ok(stream)
}

fn read_line(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut line = Vec::new();
    let mut byte = [0u8];
    while line.last() != Some(&b'\n') {
        stream.read_exact(&mut byte)?;
        line.push(byte[0]);
    }
    Ok(line)
}

/// One short conversation, checked byte for byte; Err on any wrong or missing reply.
fn converse(t: &Targets, rng: &mut Rng, c: &Counters) -> Result<(), String> {
    let kind = rng.below(3);
    let addr = [t.echo, t.hello, t.timestamp][kind as usize];
    let mut s = connect(addr).map_err(|e| format!("connect: {e}"))?;
    c.connections.fetch_add(1, Relaxed);
    let io = |e: std::io::Error| format!("{addr}: {e}");
    if kind == 1 && read_line(&mut s).map_err(io)? != b"Welcome!\n" {
        return Err("bad greeting".into());
    }
    for _ in 0..1 + rng.below(20) {
        let word = format!("w{}", rng.next());
        if kind == 0 {
            let payload = word.repeat(1 + rng.below(2000) as usize).into_bytes();
            s.write_all(&payload).map_err(io)?;
            let mut back = vec![0; payload.len()];
            s.read_exact(&mut back).map_err(io)?;
            if back != payload {
                return Err("echo differs".into());
            }
        } else {
            s.write_all(format!("{word}\n").as_bytes()).map_err(io)?;
            let line = read_line(&mut s).map_err(io)?;
            let good = if kind == 1 {
                line == format!("Hello, {word}!\n").as_bytes()
            } else {
                line.starts_with(b"[") && line.ends_with(format!("] {word}\n").as_bytes())
            };
            if !good {
                return Err(format!("bad reply {:?}", String::from_utf8_lossy(&line)));
            }
        }
        c.ok.fetch_add(1, Relaxed);
    }
    match rng.below(4) {
        0 => {
            // Half-close: nothing more may come but EOF.
            s.shutdown(Shutdown::Write).map_err(io)?;
            let mut rest = Vec::new();
            s.read_to_end(&mut rest).map_err(io)?;
            if !rest.is_empty() {
                return Err(format!("{} bytes after half-close", rest.len()));
            }
        }
        1 => {
            let _ = SockRef::from(&s).set_linger(Some(Duration::ZERO));
        }
        _ => {}
    }
    Ok(())
}

fn churn(t: Arc<Targets>, c: Arc<Counters>, stop: Arc<AtomicBool>, seed: u64) {
    let mut rng = Rng(seed | 1);
    while !stop.load(Relaxed) {
        if let Err(problem) = converse(&t, &mut rng, &c) {
            eprintln!("soak: verification error: {problem}");
            c.errors.fetch_add(1, Relaxed);
        }
    }
}

fn udp(t: Arc<Targets>, c: Arc<Counters>, stop: Arc<AtomicBool>) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let mut rng = Rng(0x5eed);
    let mut buf = vec![0; 65_536];
    while !stop.load(Relaxed) {
        let datagram = format!("u{}", rng.next()).repeat(1 + rng.below(100) as usize);
        let _ = socket.send_to(datagram.as_bytes(), t.udp_echo);
        match socket.recv_from(&mut buf) {
            Ok((n, _)) if buf[..n] == *datagram.as_bytes() => {
                c.ok.fetch_add(1, Relaxed);
            }
            // A late reply to an earlier, timed-out datagram is not an error.
            Ok((n, _)) if buf[..n].starts_with(b"u") => {}
            Ok(_) => {
                eprintln!("soak: verification error: wrong udp reply");
                c.errors.fetch_add(1, Relaxed);
            }
            Err(_) => {
                c.udp_lost.fetch_add(1, Relaxed);
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Misbehaving clients: non-readers, a trickler and idle squatters, renewed every 20 s.
fn misbehave(t: Arc<Targets>, stop: Arc<AtomicBool>) {
    let chunk = vec![b'n'; 64 * 1024];
    while !stop.load(Relaxed) {
        let mut held: Vec<TcpStream> = Vec::new();
        for _ in 0..5 {
            if let Ok(mut s) = connect(t.echo) {
                s.set_nonblocking(true).unwrap();
                for _ in 0..256 {
                    match s.write(&chunk) {
                        Ok(_) => {}
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(_) => break,
                    }
                }
                held.push(s);
            }
        }
        held.extend((0..SQUATTERS).filter_map(|_| connect(t.hello).ok()));
        let mut trickler = connect(t.timestamp).ok();
        for _ in 0..20 {
            if stop.load(Relaxed) {
                break;
            }
            if let Some(s) = &mut trickler {
                let _ = s.write_all(b"t");
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        for s in held {
            let _ = SockRef::from(&s).set_linger(Some(Duration::ZERO));
        }
    }
}

fn proc_value(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: soak --listening FILE --pid PID [--minutes N]\n\n\
                 Loads a running reactord (its stdout `listening` lines saved in FILE, its\n\
                 process id PID) for N minutes (default 10) and reports its memory and descriptors.";
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{usage}");
        return;
    }
    let fail = |what: &str| -> ! {
        eprintln!("soak: {what}\n{usage}");
        std::process::exit(2)
    };
    let listening =
        arg(&args, "--listening").unwrap_or_else(|| fail("--listening FILE is required"));
    let lines = std::fs::read_to_string(&listening)
        .unwrap_or_else(|e| fail(&format!("cannot read {listening}: {e}")));
    let pid: u32 = match arg(&args, "--pid").map(|p| p.parse()) {
        Some(Ok(pid)) => pid,
        _ => fail("--pid PID (a number) is required"),
    };
    let minutes: f64 = match arg(&args, "--minutes").map(|m| m.parse()) {
        None => 10.0,
        Some(Ok(m)) => m,
        Some(Err(_)) => fail("--minutes takes a number"),
    };
    let targets = Arc::new(Targets {
        echo: find(&lines, "tcp", "echo"),
        hello: find(&lines, "tcp", "hello"),
        timestamp: find(&lines, "tcp", "timestamp"),
        udp_echo: find(&lines, "udp", "echo"),
    });
    let counters = Arc::new(Counters::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for i in 0..CHURNERS {
        let (t, c, s) = (targets.clone(), counters.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            churn(t, c, s, 0x9e37_79b9 * (i as u64 + 1))
        }));
    }
    let (t, c, s) = (targets.clone(), counters.clone(), stop.clone());
    threads.push(std::thread::spawn(move || udp(t, c, s)));
    let (t, s) = (targets.clone(), stop.clone());
    threads.push(std::thread::spawn(move || misbehave(t, s)));

    let started = Instant::now();
    let duration = Duration::from_secs_f64(minutes * 60.0);
    let warmup = duration.mul_f64(0.2).min(Duration::from_secs(60));
    let mut samples: Vec<(Duration, u64)> = Vec::new();
    println!("time_s rss_kib fds replies_ok errors udp_lost connections");
    while started.elapsed() < duration {
        std::thread::sleep(SAMPLE_EVERY.min(duration.saturating_sub(started.elapsed())));
        let (rss, fds) = (proc_value(pid, "VmRSS:"), fd_count(pid));
        println!(
            "{:.0} {rss} {fds} {} {} {} {}",
            started.elapsed().as_secs_f64(),
            counters.ok.load(Relaxed),
            counters.errors.load(Relaxed),
            counters.udp_lost.load(Relaxed),
            counters.connections.load(Relaxed)
        );
        samples.push((started.elapsed(), rss));
    }
    stop.store(true, Relaxed);
    for thread in threads {
        let _ = thread.join();
    }
    // Climbing: the last third's peak above the first post-warm-up third's by 10% + 2 MiB.
    let settled: Vec<u64> = samples
        .iter()
        .filter(|(at, _)| *at >= warmup)
        .map(|&(_, rss)| rss)
        .collect();
    let third = (settled.len() / 3).max(1);
    let early = settled.iter().take(third).max().copied().unwrap_or(0);
    let late = settled.iter().rev().take(third).max().copied().unwrap_or(0);
    let climbing = late > early + early / 10 + 2048;
    let errors = counters.errors.load(Relaxed);
    let verdict = if errors == 0 && !climbing {
        "PASS"
    } else {
        "FAIL"
    };
    println!(
        "soak: {verdict} minutes={minutes} replies_ok={} errors={errors} udp_lost={} connections={} \
         rss_after_warmup_kib={early} rss_end_kib={late} max_fds={}",
        counters.ok.load(Relaxed),
        counters.udp_lost.load(Relaxed),
        counters.connections.load(Relaxed),
        fd_count(pid)
    );
    std::process::exit(i32::from(verdict != "PASS"));
}
