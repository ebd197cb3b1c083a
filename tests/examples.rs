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
use reactord::config::{Binding, Transport};
use reactord::protocol::{Framing, Protocol};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
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

/// A running example, killed (by its own id) and reaped if a test fails before it exits.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Runs `command` with `stdin` piped in, within `TIMEOUT`; returns its output.
fn run(mut command: Command, stdin: &[u8]) -> Output {
    let mut child = Running(
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn example"),
    );
    let child = &mut child.0;
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin).unwrap();
    drop(input); // end of input
    let stdout = reader(child.stdout.take().unwrap());
    let stderr = reader(child.stderr.take().unwrap());
    let status = wait(child, TIMEOUT);
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

/// A fresh, empty temporary directory for one test.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "reactord-test-examples-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
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

fn files_server(root: &Path, framing: Framing) -> TestServer {
    let mut config = config(framing);
    config.bindings.push(Binding {
        transport: Transport::Tcp,
        protocol: Protocol::Files,
        addr: "127.0.0.1:0".parse().unwrap(),
    });
    config.files_root = Some(root.to_path_buf());
    start_server(config)
}

#[test]
fn download_saves_small_and_large_files_and_leaves_nothing_on_a_refusal() {
    let dir = temp_dir("download");
    let (root, out) = (dir.join("root"), dir.join("out"));
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    let big: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(root.join("small.txt"), b"hello file\n").unwrap();
    std::fs::write(root.join("big.bin"), &big).unwrap();
    let server = files_server(&root, Framing::Line);
    let addr = server.addr(Transport::Tcp, Protocol::Files).to_string();

    for (name, content) in [("small.txt", &b"hello file\n"[..]), ("big.bin", &big)] {
        let mut command = example("download");
        // --dir chooses where the file goes; the working directory is left alone.
        command
            .args(["--addr", &addr, name, "--dir"])
            .arg(&out)
            .current_dir(&dir);
        let result = run(command, b"");
        assert!(result.status.success(), "{}", text(&result.stderr));
        let saved = std::fs::read(out.join(format!("download_{name}"))).unwrap();
        assert!(saved == content, "{name}: {} bytes saved", saved.len());
        assert!(!dir.join(format!("download_{name}")).exists());
        let stdout = text(&result.stdout);
        assert!(
            stdout.contains(&format!("saved {} bytes", content.len())),
            "{stdout}"
        );
    }

    let mut command = example("download");
    let prefix = format!("{}/got_", out.display());
    command.args(["--addr", &addr, "--prefix", &prefix, "missing.txt"]);
    let result = run(command, b"");
    assert!(!result.status.success());
    assert!(
        text(&result.stderr).contains("error: no such file"),
        "{}",
        text(&result.stderr)
    );
    assert!(!out.join("got_missing.txt").exists());

    // A raw-framing server takes one read as the name: --raw leaves out the newline.
    let raw = files_server(&root, Framing::Raw);
    let raw_addr = raw.addr(Transport::Tcp, Protocol::Files).to_string();
    let mut command = example("download");
    command.args([
        "--addr",
        &raw_addr,
        "--raw",
        "--prefix",
        &prefix,
        "small.txt",
    ]);
    let result = run(command, b"");
    assert!(result.status.success(), "{}", text(&result.stderr));
    assert_eq!(
        std::fs::read(out.join("got_small.txt")).unwrap(),
        b"hello file\n"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// A one-shot HTTP/1.1 server: reads the request head, sends `response`, closes.
fn http_server(response: &'static [u8]) -> (SocketAddr, std::thread::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let thread = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        let mut request = Vec::new();
        let mut byte = [0u8];
        while !request.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap() == 1 {
            request.push(byte[0]);
        }
        stream.write_all(response).unwrap();
        request // dropping the stream closes the connection
    });
    (addr, thread)
}

#[test]
fn http_get_prints_the_header_and_saves_the_body_byte_for_byte() {
    // The body holds a blank line and non-UTF-8 bytes: only the first \r\n\r\n splits.
    const BODY: &[u8] = b"<p>one</p>\r\n\r\n<p>two</p>\xff\x00";
    const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 26\r\n\
        Connection: close\r\n\r\n<p>one</p>\r\n\r\n<p>two</p>\xff\x00";
    let (addr, server) = http_server(RESPONSE);
    let dir = temp_dir("http");
    let mut command = example("http_get");
    command
        .arg(format!("http://{addr}/page?x=1"))
        .current_dir(&dir);
    let out = run(command, b"");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 26\r\nConnection: close\n"
    );
    assert_eq!(std::fs::read(dir.join("page.html")).unwrap(), BODY);
    assert!(
        !text(&out.stderr).contains("note:"),
        "{}",
        text(&out.stderr)
    );

    let request = text(&server.join().unwrap());
    assert!(
        request.starts_with("GET /page?x=1 HTTP/1.1\r\n"),
        "{request}"
    );
    assert!(
        request.contains(&format!("\r\nHost: {addr}\r\n")),
        "{request}"
    );
    assert!(request.contains("\r\nConnection: close\r\n"), "{request}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn http_get_refuses_https_and_reports_a_refused_connection() {
    let mut command = example("http_get");
    command.arg("https://127.0.0.1/");
    let out = run(command, b"");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("https:// needs TLS"),
        "{}",
        text(&out.stderr)
    );

    let mut command = example("http_get");
    command.arg(format!("http://{}/", closed_port()));
    let out = run(command, b"");
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("cannot connect to") && !err.contains("panicked"),
        "{err}"
    );
}
