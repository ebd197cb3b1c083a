//! Tools for the adversarial tests: a well-behaved client that measures its
//! round trips while an attack runs, clients bound to other loopback source
//! addresses, and readings of a process's memory, CPU time and descriptors
//! from /proc.

use socket2::{Domain, SockRef, Socket, Type};
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Heavy tests in one binary take turns: two floods at once on 2 cores prove nothing.
pub fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A TCP client whose connection comes from `source` (any address in 127.0.0.0/8).
pub fn connect_from(source: IpAddr, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.bind(&SocketAddr::new(source, 0).into())?;
    socket.connect_timeout(&addr.into(), super::TIMEOUT)?;
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(super::TIMEOUT))?;
    stream.set_write_timeout(Some(super::TIMEOUT))?;
    Ok(stream)
}

/// A TCP client whose socket buffers are set to `bytes` before connecting (which also
/// stops the kernel from growing them).
pub fn connect_with_buffers(addr: SocketAddr, bytes: usize) -> TcpStream {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(bytes).unwrap();
    socket.set_send_buffer_size(bytes).unwrap();
    socket
        .connect_timeout(&addr.into(), super::TIMEOUT)
        .expect("connect");
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(super::TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(super::TIMEOUT)).unwrap();
    stream
}

/// Closes `stream` with SO_LINGER 0: the kernel sends RST instead of FIN.
pub fn reset(stream: TcpStream) {
    SockRef::from(&stream)
        .set_linger(Some(Duration::ZERO))
        .expect("SO_LINGER 0");
    drop(stream);
}

/// A well-behaved hello client doing one round trip every `every`, on its own thread.
///
/// Every reply is checked byte for byte; [`Probe::finish`] returns the latencies.
pub struct Probe {
    stop: Arc<AtomicBool>,
    trips: Arc<AtomicUsize>,
    thread: Option<JoinHandle<Vec<Duration>>>,
}

impl Probe {
    /// Connects to a hello server at `addr`, waits for the greeting, and starts the round trips.
    pub fn start(addr: SocketAddr, every: Duration) -> Probe {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let trips = Arc::new(AtomicUsize::new(0));
        let counter = trips.clone();
        let mut client = super::connect(addr);
        assert_eq!(super::read_line(&mut client), b"Welcome!\n");
        let thread = std::thread::spawn(move || {
            let mut latencies = Vec::new();
            let mut n = 0u64;
            // At least one round trip, however short the attack.
            while n == 0 || !flag.load(Ordering::Acquire) {
                let name = format!("probe{n}");
                let expected = format!("Hello, {name}!\n");
                let started = Instant::now();
                client.write_all(format!("{name}\n").as_bytes()).unwrap();
                let reply = super::read_exact(&mut client, expected.len());
                latencies.push(started.elapsed());
                assert_eq!(reply, expected.as_bytes(), "probe reply corrupted");
                n += 1;
                counter.fetch_add(1, Ordering::Release);
                std::thread::sleep(every);
            }
            latencies
        });
        Probe {
            stop,
            trips,
            thread: Some(thread),
        }
    }

    /// Waits (up to `TIMEOUT`) until the probe has made `n` round trips: for a test
    /// that must show the probe served while an attack lasts, however slow the machine.
    pub fn wait_for_trips(&self, n: usize) {
        super::eventually("probe round trips", || {
            (self.trips.load(Ordering::Acquire) >= n).then_some(())
        });
    }

    /// Stops the probe and returns its round-trip times (panics if a reply was wrong).
    pub fn finish(mut self) -> Latencies {
        self.stop.store(true, Ordering::Release);
        let latencies = self.thread.take().unwrap().join().expect("probe failed");
        Latencies(latencies)
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// Round-trip times of a probe.
pub struct Latencies(pub Vec<Duration>);

impl Latencies {
    /// The `p`-th percentile (0..=100).
    pub fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.0.clone();
        sorted.sort_unstable();
        let rank = ((p / 100.0) * (sorted.len().saturating_sub(1)) as f64).round() as usize;
        sorted.get(rank).copied().unwrap_or_default()
    }

    /// Asserts that the probe ran and that no round trip took longer than `bound`.
    ///
    /// Never a speed claim: `bound` is a generous sanity limit on a noisy machine.
    pub fn assert_served(&self, min_trips: usize, bound: Duration) {
        assert!(
            self.0.len() >= min_trips,
            "the well-behaved client made only {} round trips",
            self.0.len()
        );
        let worst = self.percentile(100.0);
        assert!(worst < bound, "a round trip took {worst:?}");
    }

    /// One line for the figures in docs/RELIABILITY.md (shown with `--nocapture`).
    pub fn summary(&self) -> String {
        format!(
            "{} round trips, p50 {:?}, p99 {:?}, max {:?}",
            self.0.len(),
            self.percentile(50.0),
            self.percentile(99.0),
            self.percentile(100.0)
        )
    }
}

/// Resident memory of `pid` in KiB (VmRSS in /proc/<pid>/status).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .expect("VmRSS")
}

/// CPU time (user + system) `pid` has used so far, from /proc/<pid>/stat.
pub fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // The command name may hold spaces; fields are counted after its closing ')'.
    let after = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat(5); `after` starts at field 3.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_millis(ticks * 1000 / hz)
}

/// Open descriptors of `pid`.
pub fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fd dir")
        .count()
}

/// The value of `key=` in the shutdown summary line of `stderr`.
pub fn summary_field(stderr: &str, key: &str) -> u64 {
    let summary = stderr
        .lines()
        .find(|l| l.contains("summary:"))
        .unwrap_or_else(|| panic!("no summary line in: {stderr}"));
    let prefix = format!("{key}=");
    summary
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix(prefix.as_str()))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {summary}"))
}

/// Reads what arrives within `wait` without blocking longer; `None` on EOF.
pub fn read_some(stream: &mut TcpStream, wait: Duration) -> Option<Vec<u8>> {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut buf = vec![0; 4096];
    let got = match stream.read(&mut buf) {
        Ok(0) => None,
        Ok(n) => Some(buf[..n].to_vec()),
        Err(_) => Some(Vec::new()),
    };
    stream.set_read_timeout(Some(super::TIMEOUT)).unwrap();
    got
}
