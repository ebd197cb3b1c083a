//! Slow and stalled clients: slowloris tricklers, idle squatters, and clients
//! that write megabytes without ever reading. Each attack runs beside a
//! well-behaved client that must keep getting correct replies.
//!
//! Run with `--nocapture` to see the figures quoted in docs/RELIABILITY.md.

mod common;

use common::probe::*;
use common::*;
use reactord::config::Transport::Tcp;
use reactord::protocol::{Framing, Protocol};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

const SLOWLORIS: usize = 1000;
const IDLE: usize = 1000;
const NON_READERS: usize = 100;
const MAX_PENDING: usize = 64 * 1024;
/// One read of the reactor: the most input a stalled connection can hold besides its output.
const READ_SIZE: usize = 64 * 1024;
/// Each non-reader stops after this much, if the server has not pushed back first.
const NON_READER_CAP: usize = 8 * 1024 * 1024;
/// The non-readers' own socket buffers: small, so that the server, not the
/// client's kernel, is what has to hold the line.
const CLIENT_BUFFER: usize = 16 * 1024;

#[test]
fn slowloris_and_idle_squatters_are_reaped_while_others_are_served() {
    let _turn = serial();
    let mut config = config(Framing::Line);
    config.limits.idle_timeout = Some(Duration::from_secs(2));
    // Room for all 2,001 at once (Limits::default() caps at 1,024).
    config.limits.max_conns = 4096;
    let server = start_server(config);
    let probe = Probe::start(server.addr(Tcp, Protocol::Hello), Duration::from_millis(20));
    let started = Instant::now();
    let idle: Vec<TcpStream> = (0..IDLE)
        .map(|_| connect(server.addr(Tcp, Protocol::Echo)))
        .collect();
    let mut tricklers: Vec<TcpStream> = (0..SLOWLORIS)
        .map(|_| connect(server.addr(Tcp, Protocol::Timestamp)))
        .collect();
    let connected = started.elapsed();
    // Trickle one byte per connection every 500 ms, never a whole line, for 5 s.
    // Bytes that complete no message are not activity: the idle timer reaps
    // the tricklers at 2 s like the squatters, and later writes may fail.
    let mut all_reaped = None;
    let trickle_until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < trickle_until {
        for stream in &mut tricklers {
            let _ = stream.write_all(b"a");
        }
        if all_reaped.is_none() && server.stats.snapshot().idle_closed == (IDLE + SLOWLORIS) as u64
        {
            all_reaped = Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let all_reaped = all_reaped.expect("the tricklers were not reaped while trickling");
    for mut stream in idle.into_iter().chain(tricklers) {
        // EOF, or a reset if a trickled byte arrived after the close.
        let mut rest = Vec::new();
        match stream.read_to_end(&mut rest) {
            Ok(_) => assert_eq!(rest, b"", "no reply to half a line"),
            Err(err) => assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}"),
        }
    }
    let latencies = probe.finish();
    latencies.assert_served(50, Duration::from_secs(3));
    let stats = server.stop();
    assert_eq!(stats.idle_closed, (IDLE + SLOWLORIS) as u64);
    eprintln!(
        "FIGURE slowloris: {SLOWLORIS} tricklers + {IDLE} idle connected in {connected:?}; \
         all reaped by {all_reaped:?} (idle timeout 2 s) while the tricklers kept trickling; \
         probe {}; summary {stats}",
        latencies.summary()
    );
}

/// 100 clients each write up to 16 MiB to echo and never read, until the server pushes back.
fn non_readers(addr: SocketAddr) -> Vec<(TcpStream, usize)> {
    let mut attackers: Vec<(TcpStream, usize)> = (0..NON_READERS)
        .map(|_| {
            let stream = connect_with_buffers(addr, CLIENT_BUFFER);
            stream.set_nonblocking(true).unwrap();
            (stream, 0)
        })
        .collect();
    let chunk: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
    let mut last_progress = Instant::now();
    while last_progress.elapsed() < Duration::from_millis(500) {
        for (stream, written) in &mut attackers {
            if *written >= NON_READER_CAP {
                continue;
            }
            let offset = *written % 251;
            let room = (NON_READER_CAP - *written).min(chunk.len() - offset);
            match stream.write(&chunk[offset..offset + room]) {
                Ok(n) => {
                    *written += n;
                    last_progress = Instant::now();
                }
                Err(err) if err.kind() == ErrorKind::WouldBlock => {}
                Err(err) => panic!("non-reader write: {err}"),
            }
        }
    }
    attackers
}

/// Reads back every byte a non-reader wrote and checks it: nothing lost, nothing corrupted.
fn drain_and_verify(attackers: Vec<(TcpStream, usize)>) -> usize {
    let mut total = 0;
    for (mut stream, written) in attackers {
        stream.set_nonblocking(false).unwrap();
        stream.shutdown(Shutdown::Write).unwrap();
        let mut echoed = Vec::with_capacity(written);
        stream.read_to_end(&mut echoed).expect("read back");
        assert_eq!(echoed.len(), written, "bytes lost");
        let expected: Vec<u8> = (0..written).map(|i| (i % 251) as u8).collect();
        assert!(echoed == expected, "echo corrupted");
        total += written;
    }
    total
}

#[test]
fn non_readers_are_held_to_max_pending_each() {
    let _turn = serial();
    let mut config = config(Framing::Line);
    config.limits.max_pending = MAX_PENDING;
    let server = start_server(config);
    let probe = Probe::start(server.addr(Tcp, Protocol::Hello), Duration::from_millis(20));
    let attackers = non_readers(server.addr(Tcp, Protocol::Echo));
    let written: usize = attackers.iter().map(|(_, n)| n).sum();
    // The kernel's autotuned buffers on the server side may swallow a whole
    // 8 MiB for some connections; most must have met the server's pushback.
    let pushed_back = attackers
        .iter()
        .filter(|(_, n)| *n < NON_READER_CAP)
        .count();
    assert!(
        pushed_back >= NON_READERS / 2,
        "only {pushed_back} non-readers met pushback"
    );
    std::thread::sleep(Duration::from_millis(300));
    let stats = server.stats.snapshot();
    let held = stats.bytes_in - stats.bytes_out;
    let bound = (NON_READERS * (MAX_PENDING + READ_SIZE)) as u64;
    assert!(held <= bound, "server holds {held} bytes, bound {bound}");
    let latencies = probe.finish();
    latencies.assert_served(20, Duration::from_secs(3));
    let verified = drain_and_verify(attackers);
    assert_eq!(verified, written);
    eprintln!(
        "FIGURE non-readers in-process: {NON_READERS} conns wrote {} MiB unread, {pushed_back} \
         met pushback; server held {held} bytes (bound {bound}); probe {}",
        written >> 20,
        latencies.summary()
    );
}

#[test]
fn non_readers_keep_the_server_process_rss_bounded() {
    let _turn = serial();
    let server = ServerProcess::start(
        &[
            "--tcp",
            "echo=127.0.0.1:0",
            "--tcp",
            "hello=127.0.0.1:0",
            "--max-pending",
            &MAX_PENDING.to_string(),
            // 101 connections from one address at once: past the binary's default rate.
            "--conn-rate-per-ip",
            "0",
        ],
        2,
    );
    let pid = server.child.id();
    let (echo, hello) = (server.addr(0), server.addr(1));
    let before = rss_kib(pid);
    let probe = Probe::start(hello, Duration::from_millis(20));
    let attackers = non_readers(echo);
    let written: usize = attackers.iter().map(|(_, n)| n).sum();
    std::thread::sleep(Duration::from_millis(300));
    let during = rss_kib(pid);
    // Output and held input per connection, with room for Vec doubling, plus allocator slack.
    let bound_kib = (NON_READERS * 2 * (MAX_PENDING + READ_SIZE)) as u64 / 1024 + 16 * 1024;
    assert!(
        during.saturating_sub(before) <= bound_kib,
        "RSS grew from {before} KiB to {during} KiB under {} MiB of unread echo",
        written >> 20
    );
    let latencies = probe.finish();
    latencies.assert_served(20, Duration::from_secs(3));
    drain_and_verify(attackers);
    let after = rss_kib(pid);
    server.terminate();
    let (status, stderr) = server.wait();
    assert!(status.success(), "{stderr}");
    eprintln!(
        "FIGURE non-readers child: {NON_READERS} conns wrote {} MiB unread; RSS {before} KiB before, \
         {during} KiB during (bound +{bound_kib} KiB), {after} KiB after; probe {}",
        written >> 20,
        latencies.summary()
    );
}
