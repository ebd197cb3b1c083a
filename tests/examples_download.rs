//! The file-download and HTTP clients in `examples/`, run as child processes
//! against real servers on port 0 (tests/examples.rs explains where the
//! example binaries come from). Every child is waited for with a deadline and
//! killed by its own id if it overstays.

mod common;
#[path = "common/example_runs.rs"]
mod example_runs;

use common::*;
use example_runs::*;
use reactord::config::{Binding, Transport};
use reactord::protocol::{Framing, Protocol};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;

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
