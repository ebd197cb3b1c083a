//! Running under systemd's real tools: socket activation with
//! `systemd-socket-activate`, readiness on a test `NOTIFY_SOCKET`, signals.

#[path = "common/tools.rs"]
mod tools;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::{Duration, Instant};
use tools::Guarded;

const TIMEOUT: Duration = Duration::from_secs(10);
const BINARY: &str = env!("CARGO_BIN_EXE_reactord");

/// Connects, retrying while systemd-socket-activate is still starting to listen.
fn connect(port: u16) -> TcpStream {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(stream) => {
                stream.set_read_timeout(Some(TIMEOUT)).unwrap();
                return stream;
            }
            Err(err) if Instant::now() > deadline => panic!("connect to {port}: {err}"),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn read_line(stream: &mut TcpStream) -> String {
    let mut line = Vec::new();
    let mut byte = [0u8];
    while stream.read(&mut byte).expect("read") == 1 {
        line.push(byte[0]);
        if byte[0] == b'\n' {
            break;
        }
    }
    String::from_utf8(line).unwrap()
}

/// reactord's `listening` lines on the child's stdout, once `count` have come.
fn listening_lines(child: &mut Guarded, count: usize) -> Vec<String> {
    let stdout = child.0.stdout.take().unwrap();
    let mut lines = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if line.starts_with("listening ") {
            lines.push(line);
        }
        if lines.len() == count {
            break;
        }
    }
    lines
}

#[test]
fn inherited_tcp_and_unix_sockets_are_served_by_their_fd_names() {
    let Some(activate) = tools::find("systemd-socket-activate", "apt-get install systemd") else {
        return;
    };
    let (echo, hello) = (tools::free_port(false), tools::free_port(false));
    let dir = tempfile::tempdir().unwrap();
    let daytime = dir.path().join("daytime.sock");
    let mut child = Guarded::spawn(Command::new(activate).args([
        "-l",
        &format!("127.0.0.1:{echo}"),
        "-l",
        &format!("127.0.0.1:{hello}"),
        "-l",
        daytime.to_str().unwrap(),
        "--fdname=echo:hello:daytime",
        BINARY,
    ]));
    let mut hello_client = connect(hello); // The first connection starts reactord.
    assert_eq!(read_line(&mut hello_client), "Welcome!\n");
    hello_client.write_all(b"Ann\n").unwrap();
    assert_eq!(read_line(&mut hello_client), "Hello, Ann!\n");
    let mut echo_client = connect(echo);
    echo_client.write_all(b"abc\n").unwrap();
    assert_eq!(read_line(&mut echo_client), "abc\n");
    let mut unix = std::os::unix::net::UnixStream::connect(&daytime).unwrap();
    unix.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut date = String::new();
    unix.read_to_string(&mut date).unwrap();
    assert!(
        date.len() == 26 && date.ends_with("\r\n"),
        "a ctime line: {date:?}"
    );
    drop(unix);
    let lines = listening_lines(&mut child, 3);
    let unix_line = format!("listening unix daytime {}", daytime.display());
    assert!(lines.contains(&unix_line), "{lines:?}");
    assert!(
        lines.contains(&format!("listening tcp echo 127.0.0.1:{echo}")),
        "{lines:?}"
    );
    assert!(
        lines.contains(&format!("listening tcp hello 127.0.0.1:{hello}")),
        "{lines:?}"
    );
    drop((hello_client, echo_client));
    child.signal(libc::SIGTERM);
    let (code, stderr) = child.wait();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("summary: connections=3 "), "{stderr}");
    assert!(
        daytime.exists(),
        "an inherited socket's file is systemd's, not removed"
    );
}

#[test]
fn inherited_udp_sockets_are_served() {
    let Some(activate) = tools::find("systemd-socket-activate", "apt-get install systemd") else {
        return;
    };
    let port = tools::free_port(true);
    let child = Guarded::spawn(Command::new(activate).args([
        "--datagram",
        "-l",
        &format!("127.0.0.1:{port}"),
        "--fdname=hello",
        BINARY,
    ]));
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut reply = [0u8; 64];
    let deadline = Instant::now() + TIMEOUT;
    // The first datagram starts reactord and is answered; resend until it listens.
    let n = loop {
        assert!(Instant::now() < deadline, "no UDP reply");
        client.send_to(b"Bo", ("127.0.0.1", port)).unwrap();
        if let Ok((n, _)) = client.recv_from(&mut reply) {
            break n;
        }
    };
    assert_eq!(&reply[..n], b"Hello, Bo!");
    child.signal(libc::SIGTERM);
    let (code, stderr) = child.wait();
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn a_passed_socket_without_a_protocol_name_is_a_startup_error() {
    let Some(activate) = tools::find("systemd-socket-activate", "apt-get install systemd") else {
        return;
    };
    let port = tools::free_port(false);
    let child = Guarded::spawn(Command::new(activate).args([
        "-l",
        &format!("127.0.0.1:{port}"),
        "--fdname=webserver",
        BINARY,
    ]));
    let _trigger = connect(port);
    let (code, stderr) = child.wait();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("error: passed socket fd 3 (FileDescriptorName=\"webserver\")"),
        "{stderr}"
    );
}

/// Receives one notify datagram as text.
fn notification(socket: &UnixDatagram) -> String {
    let mut buf = [0u8; 1024];
    let n = socket.recv(&mut buf).expect("a notify message");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn readiness_watchdog_and_stopping_reach_the_notify_socket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    socket.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut child = Guarded::spawn(
        Command::new(BINARY)
            .args(["--tcp", "echo=127.0.0.1:0"])
            .env("NOTIFY_SOCKET", &path)
            .env("WATCHDOG_USEC", "400000"),
    );
    let lines = listening_lines(&mut child, 1);
    let ready = notification(&socket);
    assert!(
        ready.starts_with("READY=1\nSTATUS=serving 1 sockets"),
        "{ready:?} after {lines:?}"
    );
    // Half of the 400 ms watchdog period: pings keep coming while the loop is idle.
    let started = Instant::now();
    for _ in 0..3 {
        assert_eq!(notification(&socket), "WATCHDOG=1\n");
    }
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "pings come at half the period, not faster"
    );
    child.signal(libc::SIGTERM);
    let stopping = loop {
        let message = notification(&socket);
        if message != "WATCHDOG=1\n" {
            break message;
        }
    };
    assert!(stopping.starts_with("STOPPING=1\n"), "{stopping:?}");
    let (code, stderr) = child.wait();
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn sigusr1_logs_counters_sighup_is_ignored_and_socket_files_go() {
    signals_and_socket_files("1");
}

#[test]
fn with_two_reactors_sigusr1_logs_the_sums_and_socket_files_go() {
    signals_and_socket_files("2");
}

fn signals_and_socket_files(reactors: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("echo.sock");
    let mut child = Guarded::spawn(
        Command::new(BINARY)
            .args(["--reactors", reactors, "--unix"])
            .arg(format!("echo={}", path.display())),
    );
    listening_lines(&mut child, 1);
    let mut client = std::os::unix::net::UnixStream::connect(&path).unwrap();
    client.set_read_timeout(Some(TIMEOUT)).unwrap();
    client.write_all(b"ping").unwrap();
    let mut reply = [0u8; 4];
    client.read_exact(&mut reply).unwrap();
    // With several reactors, SIGUSR1 reads the counters each publishes at the
    // end of its turn, a moment after the reply went out.
    std::thread::sleep(Duration::from_millis(300));
    for signal in [libc::SIGHUP, libc::SIGUSR1] {
        child.signal(signal);
    }
    std::thread::sleep(Duration::from_millis(300));
    client.write_all(b"pong").unwrap();
    client.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"pong", "still serving after SIGHUP and SIGUSR1");
    drop(client);
    child.signal(libc::SIGTERM);
    let (code, stderr) = child.wait();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("SIGHUP: ignored"), "{stderr}");
    let counters = stderr
        .lines()
        .find(|l| l.contains("counters: "))
        .expect(&stderr);
    assert!(
        counters.contains("counters: connections=1 idle_closed=0"),
        "{counters}"
    );
    assert!(counters.contains(" bytes_in=4 "), "{counters}");
    assert!(!path.exists(), "the socket file is removed");
}

#[test]
fn the_shipped_units_pass_systemd_analyze_verify_without_a_warning() {
    let Some(analyze) = tools::find("systemd-analyze", "apt-get install systemd") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let service = std::fs::read_to_string("deploy/systemd/reactord.service").unwrap();
    // Verify checks that ExecStart exists: point it at the binary just built.
    let service = service.replace("/usr/local/bin/reactord", BINARY);
    std::fs::write(dir.path().join("reactord.service"), service).unwrap();
    let mut units = vec![dir.path().join("reactord.service")];
    for socket in ["reactord.socket", "reactord-hello.socket"] {
        let to = dir.path().join(socket);
        std::fs::copy(format!("deploy/systemd/{socket}"), &to).unwrap();
        units.push(to);
    }
    let output = Command::new(analyze)
        .arg("verify")
        .args(&units)
        .output()
        .unwrap();
    let complaints = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && complaints.trim().is_empty(),
        "{complaints}"
    );
}

#[test]
fn two_reactors_serve_an_inherited_socket_and_notify_once_both_run() {
    let Some(activate) = tools::find("systemd-socket-activate", "apt-get install systemd") else {
        return;
    };
    let echo = tools::free_port(false);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    socket.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut child = Guarded::spawn(
        Command::new(activate)
            .args(["-l", &format!("127.0.0.1:{echo}"), "--fdname=echo"])
            .args(["-E", &format!("NOTIFY_SOCKET={}", path.display())])
            .args([BINARY, "--reactors", "2"]),
    );
    let mut first = connect(echo); // The first connection starts reactord.
    first.write_all(b"one\n").unwrap();
    assert_eq!(read_line(&mut first), "one\n");
    let ready = notification(&socket);
    assert!(ready.starts_with("READY=1\n"), "{ready:?}");
    // Both reactors hold a duplicate of the one passed socket: every client is served.
    const CLIENTS: usize = 8;
    for k in 0..CLIENTS {
        let mut client = connect(echo);
        client.write_all(format!("{k}\n").as_bytes()).unwrap();
        assert_eq!(read_line(&mut client), format!("{k}\n"));
    }
    drop(first);
    assert!(listening_lines(&mut child, 1)[0].contains(&format!("127.0.0.1:{echo}")));
    child.signal(libc::SIGTERM);
    let stopping = notification(&socket);
    assert!(stopping.starts_with("STOPPING=1\n"), "{stopping:?}");
    let (code, stderr) = child.wait();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("reactor 1: "), "{stderr}");
    let served = CLIENTS + 1;
    assert!(
        stderr.contains(&format!("summary: connections={served} ")),
        "{stderr}"
    );
}
