//! A server under test as a child process: start it, learn its ports, stop it by its pid.
//!
//! Each run gets a fresh server, so its memory baseline and its CPU time
//! belong to that run alone. The [`ServerProcess`] guard sends SIGTERM when
//! dropped (on error paths too), waits, then kills; it reaps the child with
//! `wait4`, whose `rusage` gives the whole process's CPU time and context
//! switches, including those of threads that have already exited.

use super::error::CompareError;
use super::plan::Design;
use serde::Serialize;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a server may take to print its `listening` lines.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a server may take to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// Lines of stderr kept to explain a failed start.
const STDERR_LINES: usize = 20;

/// Where a started server listens.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    /// The TCP echo socket.
    pub tcp: SocketAddr,
    /// The UDP echo socket, if this server has one.
    pub udp: Option<SocketAddr>,
}

/// What the kernel counted for the whole server process, from `wait4`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Usage {
    /// User CPU time, seconds.
    pub user_secs: f64,
    /// System (kernel) CPU time, seconds.
    pub sys_secs: f64,
    /// Voluntary context switches (a thread blocked: read, accept, epoll_wait).
    pub voluntary_switches: u64,
    /// Involuntary context switches (a thread was preempted).
    pub involuntary_switches: u64,
    // Not ru_maxrss: Linux carries it over from the forked copy of this
    // process across exec, so it shows the load generator's RSS, not the server's.
}

/// What a run changes about how a server starts (`compare --cores`).
#[derive(Debug, Clone, Default)]
pub struct Tuning {
    /// Arguments after the design's own, e.g. `--reactors 4`.
    pub args: Vec<String>,
    /// Environment variables, e.g. `TOKIO_WORKER_THREADS=4`.
    pub env: Vec<(String, String)>,
    /// The CPUs the server may run on (`sched_setaffinity`, like `taskset`); `None`: any.
    pub cpus: Option<Vec<usize>>,
    /// Serve TCP echo only (no UDP socket to wait for), as `--one-core` does.
    pub tcp_only: bool,
}

impl Tuning {
    fn apply(&self, command: &mut Command) {
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        if let Some(cpus) = &self.cpus {
            use std::os::unix::process::CommandExt;
            let set = super::affinity::cpu_set(cpus);
            // SAFETY: sched_setaffinity is async-signal-safe and changes only the forked child.
            unsafe {
                command.pre_exec(move || super::affinity::apply(&set));
            }
        }
    }
}

/// A running server; stopped and reaped when dropped.
#[derive(Debug)]
pub struct ServerProcess {
    /// Whether to wait for a UDP `listening` line too.
    wants_udp: bool,
    child: Child,
    reaped: bool,
    /// The raw wait status, once reaped.
    exit: Option<libc::c_int>,
    stderr: Arc<Mutex<VecDeque<String>>>,
    /// The thread reading stderr: finished once the pipe closed.
    stderr_reader: Option<std::thread::JoinHandle<()>>,
}

impl ServerProcess {
    /// Starts `design` from `program` and waits for its `listening` lines.
    pub fn start(design: Design, program: &Path) -> Result<(ServerProcess, Ports), CompareError> {
        Self::start_tuned(design, program, &Tuning::default())
    }

    /// Like [`start`](Self::start), with extra arguments, environment and CPU affinity.
    pub fn start_tuned(
        design: Design,
        program: &Path,
        tuning: &Tuning,
    ) -> Result<(ServerProcess, Ports), CompareError> {
        let mut command = Command::new(program);
        tuning.apply(&mut command);
        let args = if tuning.tcp_only {
            design.tcp_only_args()
        } else {
            design.args()
        };
        command
            .args(args)
            .args(&tuning.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .map_err(|err| CompareError::Spawn(design.to_string(), err))?;
        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        let stderr_reader = child
            .stderr
            .take()
            .map(|pipe| keep_tail(pipe, Arc::clone(&stderr)));
        let lines = child.stdout.take().map(forward_lines);
        let mut server = ServerProcess {
            wants_udp: design.has_udp() && !tuning.tcp_only,
            child,
            reaped: false,
            exit: None,
            stderr,
            stderr_reader,
        };
        let ports = match lines {
            Some(lines) => server.read_ports(&lines),
            None => Err("no stdout pipe".to_string()),
        };
        match ports {
            Ok(ports) => Ok((server, ports)),
            Err(why) => {
                server.stop();
                Err(CompareError::NoListening {
                    design: design.to_string(),
                    why,
                    stderr: server.stderr_tail(),
                })
            }
        }
    }

    /// The child's process id, for `/proc`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Reads `listening` lines until every socket `design` opens is known.
    fn read_ports(&mut self, lines: &mpsc::Receiver<String>) -> Result<Ports, String> {
        let deadline = Instant::now() + START_TIMEOUT;
        let (mut tcp, mut udp) = (None, None);
        while tcp.is_none() || (self.wants_udp && udp.is_none()) {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match lines.recv_timeout(left) {
                Ok(line) => line,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(format!("no listening line within {START_TIMEOUT:?}"))
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    // Give the exit status a moment to be there.
                    for _ in 0..100 {
                        if self.try_reap().is_some() {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    return Err(match self.exit {
                        Some(status) => format!("it exited with {}", describe(status)),
                        None => "it closed its stdout".to_string(),
                    });
                }
            };
            match parse_listening(&line) {
                Some(("tcp", addr)) => tcp = Some(addr),
                Some(("udp", addr)) => udp = Some(addr),
                _ => {}
            }
        }
        Ok(Ports {
            tcp: tcp.ok_or("no tcp line")?,
            udp,
        })
    }

    /// The last lines the server wrote to stderr.
    ///
    /// Once the server has exited, waits (up to a second) for the reader to
    /// reach the end of the pipe, so its last words are not lost to a race.
    pub fn stderr_tail(&self) -> String {
        if self.reaped {
            if let Some(reader) = &self.stderr_reader {
                let deadline = Instant::now() + Duration::from_secs(1);
                while !reader.is_finished() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
        let lines = self.stderr.lock().map(|l| l.clone()).unwrap_or_default();
        lines.into_iter().collect::<Vec<_>>().join("\n")
    }

    /// SIGTERM, wait up to 5 s, then SIGKILL; returns what the kernel counted.
    pub fn stop(&mut self) -> Option<Usage> {
        if self.reaped {
            return None;
        }
        if let Some(usage) = self.try_reap() {
            return Some(usage); // It had already exited.
        }
        if self.reaped {
            return None;
        }
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) with our own child's pid, which is not reaped yet and so not reused.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if let Some(usage) = self.try_reap() {
                return Some(usage);
            }
            if self.reaped {
                return None;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                return self.reap_blocking();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn try_reap(&mut self) -> Option<Usage> {
        self.wait4(libc::WNOHANG)
    }

    fn reap_blocking(&mut self) -> Option<Usage> {
        self.wait4(0)
    }

    /// `wait4(2)` on the child: `Some` once it has exited and been reaped.
    fn wait4(&mut self, flags: libc::c_int) -> Option<Usage> {
        let pid = self.child.id() as libc::pid_t;
        let mut status: libc::c_int = 0;
        // SAFETY: an all-zero rusage is a valid value; wait4 only writes into it.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: our own child's pid and pointers to two live locals.
        let got = unsafe { libc::wait4(pid, &mut status, flags, &mut usage) };
        if got == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD) {
            self.reaped = true; // Someone else reaped it; never signal that pid again.
            return None;
        }
        if got != pid {
            return None;
        }
        self.reaped = true;
        self.exit = Some(status);
        let secs = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
        Some(Usage {
            user_secs: secs(usage.ru_utime),
            sys_secs: secs(usage.ru_stime),
            voluntary_switches: usage.ru_nvcsw as u64,
            involuntary_switches: usage.ru_nivcsw as u64,
        })
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A wait status in words: `exit status 1`, `signal 9`.
fn describe(status: libc::c_int) -> String {
    if libc::WIFEXITED(status) {
        format!("exit status {}", libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        format!("signal {}", libc::WTERMSIG(status))
    } else {
        format!("wait status {status}")
    }
}

/// `listening tcp echo 127.0.0.1:40000` -> `("tcp", addr)`; only echo sockets count.
pub fn parse_listening(line: &str) -> Option<(&str, SocketAddr)> {
    let mut words = line.split_whitespace();
    if words.next()? != "listening" {
        return None;
    }
    let transport = words.next()?;
    if words.next()? != "echo" {
        return None;
    }
    Some((transport, words.next()?.parse().ok()?))
}

/// Sends each stdout line to the returned channel from a reader thread.
fn forward_lines(pipe: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

/// Keeps the last [`STDERR_LINES`] lines of stderr, reading until the pipe closes.
fn keep_tail(
    pipe: impl Read + Send + 'static,
    tail: Arc<Mutex<VecDeque<String>>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if let Ok(mut tail) = tail.lock() {
                if tail.len() == STDERR_LINES {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_lines_parse() {
        let addr: SocketAddr = "127.0.0.1:4000".parse().unwrap();
        assert_eq!(
            parse_listening("listening tcp echo 127.0.0.1:4000"),
            Some(("tcp", addr))
        );
        assert_eq!(parse_listening("listening tcp hello 127.0.0.1:4000"), None);
        assert_eq!(parse_listening("INFO something"), None);
        assert_eq!(parse_listening("listening udp echo nope"), None);
    }
}
