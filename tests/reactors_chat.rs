//! `--reactors N` and chat: one room spanning every reactor's members.

mod common;
#[path = "common/reactors.rs"]
mod reactors;

use common::probe::summary_field;
use common::*;
use reactors::*;
use std::io::Write;
use std::net::TcpStream;

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
