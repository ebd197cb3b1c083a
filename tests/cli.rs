//! The binary's command line: errors are one clear line and a non-zero exit.

mod common;

use common::*;
use std::process::Command;

fn run(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_reactord"))
        .args(args)
        .output()
        .expect("run reactord");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn assert_one_line_error(args: &[&str], culprit: &str) {
    let (code, _, stderr) = run(args);
    assert_ne!(code, 0, "{args:?} should fail");
    assert_eq!(stderr.lines().count(), 1, "one line, got {stderr:?}");
    assert!(stderr.starts_with("error: "), "{stderr:?}");
    assert!(stderr.contains(culprit), "{stderr:?} should name {culprit}");
    assert!(!stderr.contains("panicked"), "{stderr:?}");
}

#[test]
fn unknown_protocol_is_named() {
    assert_one_line_error(&["serve", "--tcp", "gopher=127.0.0.1:0"], "gopher");
}

#[test]
fn bad_address_is_named() {
    assert_one_line_error(&["--udp", "echo=127.0.0.1"], "127.0.0.1");
    assert_one_line_error(&["--tcp", "echo=nowhere:7"], "nowhere:7");
}

#[test]
fn bad_flag_is_named() {
    assert_one_line_error(&["--max-conns", "lots"], "lots");
    assert_one_line_error(&["--bogus"], "--bogus");
}

#[test]
fn out_of_range_numbers_are_one_line_errors() {
    assert_one_line_error(&["--sndbuf", "100"], "--sndbuf");
    assert_one_line_error(&["--max-line", "0"], "--max-line");
    assert_one_line_error(&["--conn-rate-per-ip", "2000000"], "2000000");
    assert_one_line_error(&["--max-conns-per-ip", "99999999999"], "99999999999");
}

#[test]
fn address_in_use_is_named() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    assert_one_line_error(&["--tcp", &format!("echo={addr}")], &addr);
}

#[test]
fn help_succeeds() {
    let (code, stdout, _) = run(&["serve", "--help"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("--max-pending"));
}

#[test]
fn listening_lines_name_every_socket_with_its_real_port() {
    let server = ServerProcess::start(
        &[
            "serve",
            "--tcp",
            "echo=127.0.0.1:0",
            "--udp",
            "hello=[::1]:0",
        ],
        2,
    );
    assert_eq!(server.listening[0].0, "tcp");
    assert_eq!(server.listening[0].1, "echo");
    assert_ne!(server.addr(0).port(), 0);
    assert_eq!(server.listening[1].0, "udp");
    assert_eq!(server.listening[1].1, "hello");
    assert!(server.addr(1).is_ipv6());
    server.terminate();
    let (status, _) = server.wait();
    assert!(status.success());
}

#[test]
fn clap_errors_keep_the_culprit_the_tip_and_the_possible_values() {
    // Clap's own text, joined into one line: nothing it said about the culprit is cut.
    assert_one_line_error(&["bench", "echo"], "<ADDR>");
    assert_one_line_error(
        &["--framin", "raw"],
        "a similar argument exists: '--framing'",
    );
    assert_one_line_error(
        &["--tpc", "echo=127.0.0.1:0"],
        "a similar argument exists: '--tcp'",
    );
    assert_one_line_error(&["--framing", "bogus"], "[possible values: line, raw]");
}

#[test]
fn serving_line_counts_unix_sockets() {
    let dir = std::env::temp_dir().join(format!("reactord-cli-serving-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("echo.sock");
    let unix = format!("echo={}", path.display());
    let server = ServerProcess::start(&["--tcp", "echo=127.0.0.1:0", "--unix", &unix], 2);
    server.terminate();
    let (status, stderr) = server.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("serving 2 sockets"), "{stderr}");
}
