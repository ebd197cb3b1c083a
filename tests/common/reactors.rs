//! Helpers for the `--reactors N` tests (tests/reactors*.rs): start a real
//! `reactord serve` process, and read its per-reactor lines at exit.
#![allow(dead_code)] // Each test file uses a different subset.

use crate::common::ServerProcess;

/// The `reactor K: ...` lines, each rewritten to parse with `summary_field`.
pub fn reactor_lines(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|line| line.split_once("] reactor ").map(|(_, rest)| rest))
        .map(|rest| format!("summary: {rest}"))
        .collect()
}

/// The limits switched off, so that one loopback address may load the server.
pub const OPEN: [&str; 6] = [
    "--max-conns-per-ip",
    "0",
    "--conn-rate-per-ip",
    "0",
    "--udp-budget",
    "0",
];

/// `reactord serve` with `extra`, once it printed `lines` listening lines.
pub fn start(extra: &[&str], lines: usize) -> ServerProcess {
    let args: Vec<&str> = ["serve"].iter().chain(extra).copied().collect();
    ServerProcess::start(&args, lines)
}
