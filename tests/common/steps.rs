//! Helpers for tests/learn.rs: start a step of docs/LEARN.md
//! (`examples/step*.rs`) as a child process on `127.0.0.1:0`, killed by its
//! own id when its guard drops, and talk to it over loopback.
#![allow(dead_code)] // Each test uses a different subset.

use crate::common::{read_exact, TIMEOUT};
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use crate::common::example_path;

/// A running step, killed by its own id when dropped.
pub struct Step {
    pub child: Child,
    pub addr: SocketAddr,
    pub stderr: Arc<Mutex<String>>,
}

impl Step {
    /// Starts `name` on port 0 with `extra` arguments and reads its `listening` line.
    pub fn start(name: &str, extra: &[&str]) -> Step {
        let mut child = Command::new(example_path(name))
            .arg("127.0.0.1:0")
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the step");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (pipe, text) = (child.stderr.take().unwrap(), stderr.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut text = text.lock().unwrap();
                text.push_str(&line);
                text.push('\n');
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut step = Step {
            child,
            addr: "0.0.0.0:0".parse().unwrap(),
            stderr,
        };
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .expect("read the listening line");
        let addr = line.trim().strip_prefix("listening ");
        step.addr = addr
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("{name}: expected `listening ADDR`, got {line:?}"));
        step
    }

    /// Waits until stderr contains `needle`; false after `TIMEOUT`.
    pub fn stderr_shows(&self, needle: &str) -> bool {
        let deadline = Instant::now() + TIMEOUT;
        while Instant::now() < deadline {
            if self.stderr.lock().unwrap().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `data` and expects it back.
pub fn echo(stream: &mut TcpStream, data: &[u8]) {
    stream.write_all(data).unwrap();
    assert_eq!(read_exact(stream, data.len()), data);
}

/// True when nothing arrives within `wait` (the connection stays open).
pub fn silent_for(stream: &mut TcpStream, wait: Duration) -> bool {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut byte = [0u8; 1];
    let silent = matches!(stream.read(&mut byte),
        Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut));
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    silent
}

/// Sends `total` bytes from another thread while this one reads; returns
/// what came back before EOF or `total`.
pub fn flood(stream: TcpStream, total: usize) -> Vec<u8> {
    let mut writer = stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let data: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
        let _ = writer.write_all(&data);
    });
    let mut reader = stream;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    while got.len() < total {
        match reader.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let _ = reader.shutdown(Shutdown::Both);
    sender.join().unwrap();
    got
}

/// True when `data` is what [`flood`] sends.
pub fn is_pattern(data: &[u8]) -> bool {
    data.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8)
}
