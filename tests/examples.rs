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
//! Every child is waited for with a deadline and killed by its own id if it
//! overstays, so a hung example fails its test instead of hanging it.

mod common;

use common::*;
use reactord::config::Transport;
use reactord::protocol::{Framing, Protocol};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The built example `name`, or a failure that says how to build it.
fn example(name: &str) -> Command {
    let path = Path::new(env!("CARGO_BIN_EXE_reactord"))
        .parent()
        .expect("the reactord binary lives in a directory")
        .join("examples")
        .join(name);
    assert!(
        path.exists(),
        "{} is missing: `cargo test` builds the examples; with `--test examples` alone, \
         run `cargo build --examples` first",
        path.display()
    );
    Command::new(path)
}

/// Runs `command` with `stdin` piped in, within `TIMEOUT`; returns its output.
fn run(mut command: Command, stdin: &[u8]) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn example");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin).unwrap();
    drop(input); // end of input
    let stdout = reader(child.stdout.take().unwrap());
    let stderr = reader(child.stderr.take().unwrap());
    let status = wait(&mut child, TIMEOUT);
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// Collects a pipe on its own thread, so a chatty child never blocks on a full pipe.
fn reader(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

/// Waits for `child` to exit; past `limit` kills it (by its own id) and fails.
fn wait(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("example {} did not exit within {limit:?}", child.id());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A loopback port with nothing listening on it (bound, then released).
fn closed_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

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
