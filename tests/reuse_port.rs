//! `--reuse-port`: several reactord processes serve one port, the kernel spreading the clients.

mod common;

use common::probe::summary_field;
use common::*;
use std::net::SocketAddr;

/// Connections opened against the shared port: enough that the kernel's hash
/// sends some to each of two listeners (all 48 on one: a chance of 2^-47).
const CLIENTS: usize = 48;

fn start(tcp: &str, udp: &str) -> ServerProcess {
    ServerProcess::start(
        &[
            "serve",
            "--reuse-port",
            "--tcp",
            tcp,
            "--udp",
            udp,
            "--max-conns-per-ip",
            "0",
            "--conn-rate-per-ip",
            "0",
        ],
        2,
    )
}

#[test]
fn two_processes_with_reuse_port_both_serve_one_port() {
    let first = start("echo=127.0.0.1:0", "echo=127.0.0.1:0");
    let (tcp, udp): (SocketAddr, SocketAddr) = (first.addr(0), first.addr(1));
    let second = start(&format!("echo={tcp}"), &format!("echo={udp}"));
    assert_eq!(second.addr(0), tcp);
    assert_eq!(second.addr(1), udp);

    for n in 0..CLIENTS {
        let mut stream = connect(tcp);
        let line = format!("client {n}\n");
        assert_eq!(
            round_trip(&mut stream, line.as_bytes(), line.len()),
            line.as_bytes()
        );
        let socket = udp_client();
        assert_eq!(ask(&socket, udp, line.as_bytes()), line.as_bytes());
    }

    let mut totals = (0, 0);
    for server in [first, second] {
        server.terminate();
        let (status, stderr) = server.wait();
        assert!(status.success(), "{status}: {stderr}");
        let (connections, datagrams) = (
            summary_field(&stderr, "connections"),
            summary_field(&stderr, "udp_in"),
        );
        assert!(connections > 0, "one process got no connection: {stderr}");
        assert!(datagrams > 0, "one process got no datagram: {stderr}");
        totals = (totals.0 + connections, totals.1 + datagrams);
    }
    assert_eq!(totals, (CLIENTS as u64, CLIENTS as u64));
}

#[test]
fn without_reuse_port_the_second_process_is_refused() {
    let first = start("echo=127.0.0.1:0", "echo=127.0.0.1:0");
    let tcp = first.addr(0);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_reactord"))
        .args(["serve", "--tcp", &format!("echo={tcp}")])
        .output()
        .expect("run reactord");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&tcp.to_string()), "{stderr}");
}

#[test]
fn the_threaded_baseline_refuses_reuse_port() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_reactord"))
        .args(["threaded", "--reuse-port", "--tcp", "echo=127.0.0.1:0"])
        .output()
        .expect("run reactord");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--reuse-port"), "{stderr}");
}
