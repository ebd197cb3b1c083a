//! The clients in `examples/`, run as child processes against real servers on port 0.
//!
//! Where the example binaries come from: `cargo test` builds every example
//! (as a plain binary, since examples default to `test = false`) before it
//! runs any test, into `target/<profile>/examples/NAME`, next to the
//! `target/<profile>/reactord` that `CARGO_BIN_EXE_reactord` names. Cargo
//! offers no `CARGO_BIN_EXE_` variable for examples, so `example()` derives
//! the path from that one. A run limited to this file (`cargo test --test
//! examples`) does not build examples: run `cargo build --examples` first.
//!
//! The download and HTTP clients are in tests/examples_download.rs; the
//! helpers that run a child in tests/common/example_runs.rs.
//!
//! Every child is waited for with a deadline and killed by its own id if it
//! overstays, so a hung example fails its test instead of hanging it.

mod common;
#[path = "common/example_runs.rs"]
mod example_runs;

use common::*;
use example_runs::*;
use reactord::config::Transport;
use reactord::protocol::{Framing, Protocol};
use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::sync::mpsc;

#[test]
fn hello_client_greets_three_names_in_line_and_raw_framing() {
    for (framing, flags) in [(Framing::Line, &[][..]), (Framing::Raw, &["--raw"][..])] {
        let server = start_server(config(framing));
        let addr = server.addr(Transport::Tcp, Protocol::Hello).to_string();
        let mut command = example("hello_client");
        command.args(["--addr", &addr]).args(flags);
        let out = run(command, b"");
        assert!(out.status.success(), "{framing:?}: {}", text(&out.stderr));
        assert_eq!(
            text(&out.stdout),
            "Welcome!\nHello, Li!\nHello, Cheng!\nHello, victor!\n",
            "{framing:?}"
        );
    }
}

#[test]
fn hello_client_takes_names_and_reports_a_refused_connection() {
    let server = start_server(config(Framing::Line));
    let addr = server.addr(Transport::Tcp, Protocol::Hello).to_string();
    let mut command = example("hello_client");
    command.args(["--addr", &addr, "Ann", "Bo"]);
    let out = run(command, b"");
    assert_eq!(text(&out.stdout), "Welcome!\nHello, Ann!\nHello, Bo!\n");

    let mut command = example("hello_client");
    command.args(["--addr", &closed_port().to_string()]);
    let out = run(command, b"");
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("cannot connect to") && !err.contains("panicked"),
        "{err}"
    );
}

#[test]
fn timestamp_client_answers_each_stdin_line_until_an_empty_one_over_tcp_and_udp() {
    let server = start_server(config(Framing::Line));
    for transport in [Transport::Tcp, Transport::Udp] {
        let addr = server.addr(transport, Protocol::Timestamp).to_string();
        let mut command = example("timestamp_client");
        command.args(["--addr", &addr]);
        if transport == Transport::Udp {
            command.arg("--udp");
        }
        let out = run(command, b"hello\nworld\n\nnever sent\n");
        assert!(out.status.success(), "{}", text(&out.stderr));
        let stdout = text(&out.stdout);
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), 2, "{transport:?}: {stdout}");
        for (line, word) in lines.iter().zip(["hello", "world"]) {
            assert!(line.starts_with("Server: ["), "{line}");
            assert!(line.ends_with(&format!("] {word}")), "{line}");
        }
    }
}

#[test]
fn udp_chat_sends_piped_lines_and_prints_the_echoes_until_terminated() {
    let server = start_server(config(Framing::Line));
    let peer = server.addr(Transport::Udp, Protocol::Echo).to_string();
    let mut running = Running(
        example("udp_chat")
            .args(["--peer", &peer])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn udp_chat"),
    );
    let child = &mut running.0;
    // Lines arrive one by one through a channel, so each wait has a deadline.
    let (tx, rx) = mpsc::channel();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    std::thread::spawn(move || {
        stdout
            .lines()
            .map_while(Result::ok)
            .try_for_each(|l| tx.send(l))
    });
    let banner = rx.recv_timeout(TIMEOUT).expect("udp_chat banner");
    assert!(banner.starts_with("udp_chat on 127.0.0.1:"), "{banner}");

    // Stdin stays open: the chat must send while it also waits to receive.
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"one\n").unwrap();
    let first = rx.recv_timeout(TIMEOUT).expect("first echo");
    stdin.write_all(b"two\r\nthree").unwrap();
    drop(stdin); // end of input: the unterminated "three" is sent too
    let mut got = vec![first];
    got.push(rx.recv_timeout(TIMEOUT).expect("second echo"));
    got.push(rx.recv_timeout(TIMEOUT).expect("third echo"));
    for (line, word) in got.iter().zip(["one", "two", "three"]) {
        assert_eq!(line, &format!("{peer}: {word}"));
    }

    // Still running after end of input; SIGTERM, by its own id, ends it cleanly.
    assert!(
        child.try_wait().unwrap().is_none(),
        "udp_chat quit at end of input"
    );
    // SAFETY: kill(2) on a child we spawned and have not reaped.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let status = wait(child, TIMEOUT);
    assert!(status.success(), "{status:?}");
}

#[test]
fn udp_chat_reads_a_regular_file_on_stdin_whole() {
    let server = start_server(config(Framing::Line));
    let peer = server.addr(Transport::Udp, Protocol::Echo).to_string();
    let dir = temp_dir("chat-file");
    std::fs::write(dir.join("input.txt"), b"from a file\n").unwrap();
    let mut running = Running(
        example("udp_chat")
            .args(["--peer", &peer])
            .stdin(std::fs::File::open(dir.join("input.txt")).unwrap())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn udp_chat"),
    );
    let child = &mut running.0;
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        while stdout.read_line(&mut line).unwrap_or(0) > 0 {
            let _ = tx.send(std::mem::take(&mut line));
        }
    });
    rx.recv_timeout(TIMEOUT).expect("banner");
    let echo = rx.recv_timeout(TIMEOUT).expect("echo of the file's line");
    assert_eq!(echo, format!("{peer}: from a file\n"));
    // SAFETY: kill(2) on a child we spawned and have not reaped.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert!(wait(child, TIMEOUT).success());
    let _ = std::fs::remove_dir_all(dir);
}
