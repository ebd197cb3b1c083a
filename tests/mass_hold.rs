//! `reactord mass-hold` verifies what it claims: an echo that is wrong, missing
//! or cut short is a failure, never a verified connection.

mod common;

use common::*;
use std::process::Command;

/// Runs mass-hold against `addr` with a short hold; returns (exit code, stdout, stderr).
fn mass_hold(addr: &str, timeout_ms: &str) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_reactord"))
        .args([
            "mass-hold",
            addr,
            "--conns",
            "40",
            "--hold",
            "0.3",
            "--sample",
            "10",
        ])
        .args([
            "--timeout-ms",
            timeout_ms,
            "--first-source",
            "127.3.0.1",
            "--sources",
            "2",
        ])
        .output()
        .expect("run reactord mass-hold");
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).unwrap();
    (
        output.status.code().unwrap_or(-1),
        text(output.stdout),
        text(output.stderr),
    )
}

fn server(protocol: &str) -> ServerProcess {
    let tcp = format!("{protocol}=127.0.0.1:0");
    ServerProcess::start(
        &[
            "serve",
            "--tcp",
            &tcp,
            "--max-conns-per-ip",
            "0",
            "--conn-rate-per-ip",
            "0",
        ],
        1,
    )
}

#[test]
fn an_echo_server_passes_every_check() {
    let echo = server("echo");
    let (code, out, err) = mass_hold(&echo.addr(0).to_string(), "30000");
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("ESTABLISHED conns=40 established=40 verified=40 failed=0"),
        "{out}"
    );
    assert!(
        out.contains("DONE conns=40 verified=40 lost_while_idle=0 sample=10 sample_verified=10"),
        "{out}"
    );
}

#[test]
fn a_server_that_answers_nothing_verifies_nothing() {
    let discard = server("discard");
    let (_, out, _) = mass_hold(&discard.addr(0).to_string(), "1000");
    assert!(out.contains("established=40 verified=0 failed=40"), "{out}");
    assert!(out.contains("echo: not done within 1s"), "{out}");
    assert!(out.contains("sample=0 sample_verified=0"), "{out}");
}

#[test]
fn a_wrong_reply_is_a_failure() {
    // hello greets every connection with "Welcome!\n": not the 8 bytes sent.
    let hello = server("hello");
    let (_, out, _) = mass_hold(&hello.addr(0).to_string(), "1000");
    assert!(out.contains("verified=0 failed=40"), "{out}");
    assert!(out.contains("echo differs from what was sent"), "{out}");
}

#[test]
fn a_server_that_closes_at_once_is_a_failure() {
    // daytime sends its line and closes: a wrong reply, then the close.
    let daytime = server("daytime");
    let (_, out, _) = mass_hold(&daytime.addr(0).to_string(), "1000");
    assert!(out.contains("verified=0 failed=40"), "{out}");
}

#[test]
fn no_server_is_a_counted_connect_failure() {
    let echo = server("echo");
    let addr = echo.addr(0);
    drop(echo); // its port is closed now
    let (_, out, _) = mass_hold(&addr.to_string(), "1000");
    assert!(out.contains("established=0 verified=0 failed=40"), "{out}");
    assert!(out.contains("connect: Connection refused"), "{out}");
}

#[test]
fn bad_flags_are_refused_with_a_message() {
    let output = Command::new(env!("CARGO_BIN_EXE_reactord"))
        .args(["mass-hold", "127.0.0.1:9", "--sources", "0"])
        .output()
        .expect("run reactord mass-hold");
    assert_eq!(output.status.code(), Some(1));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("error: invalid benchmark: --sources must be at least 1"),
        "{err}"
    );
}
