//! A server's memory and thread count, read from `/proc/PID/status` every 100 ms.
//!
//! One sampler thread per run, stopped when the load ends. It keeps only the
//! peaks: a run's memory story is "how much did it need at most".

use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the sampler looks: often enough to see a 1 s run's peak, cheap enough not to matter.
pub const PERIOD: Duration = Duration::from_millis(100);

/// One look at `/proc/PID/status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ProcStatus {
    /// Resident set size (VmRSS) in KiB.
    pub rss_kib: u64,
    /// Threads in the process.
    pub threads: u64,
}

/// Parses the `VmRSS:` and `Threads:` lines of a `/proc/PID/status` text.
pub fn parse_status(text: &str) -> Option<ProcStatus> {
    let field = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
    };
    Some(ProcStatus {
        rss_kib: field("VmRSS:")?,
        threads: field("Threads:")?,
    })
}

/// Reads process `pid`'s status now; `None` once it is gone.
pub fn read_status(pid: u32) -> Option<ProcStatus> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status(&text)
}

/// The peaks a sampler saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Peaks {
    /// Highest VmRSS seen, KiB.
    pub rss_kib: u64,
    /// Most threads seen.
    pub threads: u64,
    /// Samples taken.
    pub samples: u64,
}

impl Peaks {
    fn add(&mut self, status: ProcStatus) {
        self.rss_kib = self.rss_kib.max(status.rss_kib);
        self.threads = self.threads.max(status.threads);
        self.samples += 1;
    }
}

/// A thread sampling one process until [`Sampler::finish`].
#[derive(Debug)]
pub struct Sampler {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Peaks>>,
}

impl Sampler {
    /// Starts sampling `pid` every [`PERIOD`].
    pub fn start(pid: u32) -> std::io::Result<Sampler> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name(format!("sample-{pid}"))
            .spawn(move || {
                let mut peaks = Peaks::default();
                while !flag.load(Ordering::Relaxed) {
                    match read_status(pid) {
                        Some(status) => peaks.add(status),
                        None => break,
                    }
                    std::thread::sleep(PERIOD);
                }
                // One last look, so a run shorter than a period still has its end state.
                if let Some(status) = read_status(pid) {
                    peaks.add(status);
                }
                peaks
            })?;
        Ok(Sampler {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops sampling and returns the peaks.
    pub fn finish(mut self) -> Peaks {
        self.stop_thread()
    }

    fn stop_thread(&mut self) -> Peaks {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .and_then(|thread| thread.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields_parse() {
        let text = "Name:\treactord\nVmPeak:\t  9000 kB\nVmRSS:\t    4242 kB\nThreads:\t3\n";
        assert_eq!(
            parse_status(text),
            Some(ProcStatus {
                rss_kib: 4242,
                threads: 3
            })
        );
        assert_eq!(parse_status("Name:\tx\n"), None);
    }

    #[test]
    fn samples_this_process() {
        let sampler = Sampler::start(std::process::id()).unwrap();
        std::thread::sleep(PERIOD * 2);
        let peaks = sampler.finish();
        assert!(peaks.samples >= 2, "{peaks:?}");
        assert!(peaks.rss_kib > 0 && peaks.threads >= 2, "{peaks:?}");
    }
}
