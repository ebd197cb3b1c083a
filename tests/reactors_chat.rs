//! `--reactors N` and chat: one room spanning every reactor's members, and
//! the members each reactor drops for not reading counted as one server.

mod common;
#[path = "common/reactors.rs"]
mod reactors;

use common::probe::{connect_with_buffers, summary_field};
use common::*;
use reactors::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

/// Reads lines until `n` chat lines (not `* ` notices) arrived; returns them.
fn chat_lines(stream: &mut TcpStream, n: usize) -> Vec<String> {
    let mut lines = Vec::new();
    while lines.len() < n {
        let line = String::from_utf8(read_line(stream)).unwrap();
        if !line.starts_with("* ") {
            lines.push(line);
        }
    }
    lines
}

#[test]
fn a_chat_room_spans_reactors_and_keeps_each_senders_order() {
    const MEMBERS: usize = 12;
    const LINES: usize = 20;
    let mut args = vec!["--reactors", "4", "--tcp", "chat=127.0.0.1:0"];
    args.extend(OPEN);
    let server = start(&args, 1);
    let addr = server.addr(0);
    let mut members: Vec<(TcpStream, String)> = Vec::new();
    for i in 0..MEMBERS {
        let stream = connect(addr);
        let name = stream.local_addr().unwrap().to_string();
        members.push((stream, name.clone()));
        if i > 0 {
            // Once the first member hears of it, the new one sits in its reactor's room.
            let heard = String::from_utf8(read_line(&mut members[0].0)).unwrap();
            assert_eq!(heard, format!("* {name} joined\n"));
        }
    }
    for (i, (stream, _)) in members.iter_mut().enumerate() {
        let text: String = (0..LINES).map(|k| format!("m{i} {k}\n")).collect();
        stream.write_all(text.as_bytes()).unwrap();
    }
    for (i, (stream, _)) in members.iter_mut().enumerate() {
        let lines = chat_lines(stream, (MEMBERS - 1) * LINES);
        let mut next = [0; MEMBERS];
        for line in lines {
            let (_, said) = line.split_once(": ").expect("name: text");
            let (sender, k) = said.trim_end().split_once(' ').unwrap();
            let sender: usize = sender[1..].parse().unwrap();
            assert_ne!(sender, i, "a member got its own line back");
            assert_eq!(
                k.parse::<usize>().unwrap(),
                next[sender],
                "member {i}: {line}"
            );
            next[sender] += 1;
        }
    }
    drop(members);
    server.terminate();
    let (status, stderr) = server.wait();
    assert!(status.success(), "{status}: {stderr}");
    let lines = reactor_lines(&stderr);
    let busy = lines
        .iter()
        .filter(|line| summary_field(line, "connections") > 0)
        .count();
    assert!(busy >= 2, "every member on one reactor: {lines:?}");
}

/// The value of the unlabelled metric `name` on the `--metrics` page at `addr`.
fn scrape(addr: SocketAddr, name: &str) -> Option<u64> {
    let mut stream = connect(addr);
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut page = String::new();
    stream.read_to_string(&mut page).unwrap();
    page.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn members_dropped_on_every_reactor_add_up_in_the_summary_and_metrics() {
    const SLEEPERS: usize = 6;
    const LINES: usize = 2000;
    let mut args = vec![
        "--reactors",
        "2",
        "--max-pending",
        "65536",
        "--tcp",
        "chat=127.0.0.1:0",
        "--metrics",
        "127.0.0.1:0",
    ];
    args.extend(OPEN);
    let server = start(&args, 2);
    let (chat, metrics) = (server.addr(0), server.addr(1));
    let reader = connect(chat);
    // Six never-reading members: the kernel's hash puts them on both reactors
    // but for odds of 1 in 32; the totals below hold either way.
    let sleepers: Vec<TcpStream> = (0..SLEEPERS)
        .map(|_| connect_with_buffers(chat, 16 * 1024))
        .collect();
    let mut talker = connect(chat);
    let talker_name = talker.local_addr().unwrap().to_string();
    // The sleepers may hold the room for two 3 s windows before they go: more
    // than one TIMEOUT on a loaded machine, so reads here may wait longer.
    reader.set_read_timeout(Some(3 * TIMEOUT)).unwrap();
    let mut buffered = BufReader::new(reader.try_clone().unwrap());
    let mut line = String::new();
    while line != format!("* {talker_name} joined\n") {
        line.clear();
        buffered
            .read_line(&mut line)
            .expect("the talker's join notice");
    }
    // 2 MB to every member: far past the soft limit of the sleepers' buffers.
    let writer = thread::spawn(move || {
        let text = format!("{}\n", "z".repeat(1000));
        for _ in 0..LINES {
            talker.write_all(text.as_bytes()).unwrap();
        }
        talker
    });
    let (mut lines, mut notices) = (0, 0);
    while lines < LINES || notices < SLEEPERS {
        line.clear();
        buffered.read_line(&mut line).expect("read");
        if line.ends_with(" dropped (not reading)\n") {
            notices += 1;
        } else if line.starts_with(&talker_name) {
            lines += 1;
        }
    }
    let talker = writer.join().unwrap();
    // A sibling publishes its counters at the end of its turn: a moment later.
    let deadline = Instant::now() + TIMEOUT;
    let mut counted = None;
    while counted != Some(SLEEPERS as u64) && Instant::now() < deadline {
        counted = scrape(metrics, "reactord_chat_dropped_total");
        thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        counted,
        Some(SLEEPERS as u64),
        "reactord_chat_dropped_total"
    );
    drop((sleepers, talker, buffered, reader));
    server.terminate();
    let (status, stderr) = server.wait();
    assert!(status.success(), "{status}: {stderr}");
    assert_eq!(
        summary_field(&stderr, "chat_dropped"),
        SLEEPERS as u64,
        "{stderr}"
    );
}
