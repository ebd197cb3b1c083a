//! Real external tools for the deployment tests: found on PATH or skipped with a reason.
#![allow(dead_code)] // Each test file uses a different subset.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The tool's path, or `None` after printing why the test is skipped.
pub fn find(tool: &str, install: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(tool))
            .find(|path| path.is_file())
    });
    if found.is_none() {
        eprintln!("SKIPPED: {tool} is not installed ({install}; .ci/run installs it)");
    }
    found
}

/// True when python3 can import prometheus_client; prints why not otherwise.
pub fn has_prometheus_parser() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import prometheus_client.parser"])
        .status()
        .is_ok_and(|status| status.success());
    if !ok {
        eprintln!("SKIPPED: python3 with prometheus_client is not installed (pip install prometheus_client; .ci/run installs it)");
    }
    ok
}

/// A child process killed (by its own pid) and reaped when dropped, also on failure.
pub struct Guarded(pub Child);

impl Guarded {
    /// Spawns `command` with piped stdout and stderr.
    pub fn spawn(command: &mut Command) -> Guarded {
        Guarded(
            command
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn"),
        )
    }

    /// Sends `signal` to this child.
    pub fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill(2) on a pid we spawned and have not reaped.
        unsafe {
            libc::kill(self.0.id() as libc::pid_t, signal);
        }
    }

    /// Waits up to 10 s for exit; returns the exit code and stderr.
    pub fn wait(mut self) -> (Option<i32>, String) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "process did not exit in time");
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut err = String::new();
        if let Some(mut stderr) = self.0.stderr.take() {
            let _ = stderr.read_to_string(&mut err);
        }
        (status.code(), err)
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port(udp: bool) -> u16 {
    if udp {
        std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    } else {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }
}
