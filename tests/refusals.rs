//! Refusals are visible at the default log level, one line per second per
//! reason, and a pending count is written without waiting for another refusal.

mod common;

use common::ServerProcess;
use std::io::Read;
use std::time::Duration;

/// Per-source limits for this test; loopback is exempt unless `--limit-loopback`.
const LIMITS: [&str; 3] = ["--limit-loopback", "--max-conns-per-ip", "1"];

#[test]
fn a_burst_of_refusals_is_two_lines_with_counts() {
    let mut args = vec!["--tcp", "hello=127.0.0.1:0"];
    args.extend(LIMITS);
    let server = ServerProcess::start(&args, 1);
    let addr = server.addr(0);
    let mut kept = common::connect(addr);
    assert_eq!(common::read_line(&mut kept), b"Welcome!\n");
    for _ in 0..5 {
        // Closed (reset) without a greeting; the reset may even beat `connect`'s return.
        match std::net::TcpStream::connect_timeout(&addr, common::TIMEOUT) {
            Ok(mut refused) => {
                refused.set_read_timeout(Some(common::TIMEOUT)).unwrap();
                let mut buf = [0u8; 16];
                assert!(!matches!(refused.read(&mut buf), Ok(n) if n > 0));
            }
            Err(err) => assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}"),
        }
        // Each refusal in its own loop turn, all within one second.
        std::thread::sleep(Duration::from_millis(50));
    }
    // No further refusal comes: the pending count must still be written.
    std::thread::sleep(Duration::from_millis(2500));
    drop(kept);
    server.terminate();
    let (status, stderr) = server.wait();
    assert!(status.success(), "{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| l.contains("refused ")).collect();
    assert!(lines.iter().all(|l| l.contains(" WARN ")), "{lines:?}");
    // `[2026-11-27T12:16:59Z WARN ... refused N connections: ... total T]`
    let parsed: Vec<(&str, u64)> = lines
        .iter()
        .map(|line| {
            let stamp = &line[1..21];
            let count = line
                .split("refused ")
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap();
            (stamp, count.parse().unwrap())
        })
        .collect();
    assert_eq!(parsed.iter().map(|(_, n)| n).sum::<u64>(), 5, "{lines:?}");
    assert!(
        lines
            .last()
            .unwrap()
            .contains("[reason=per_source, total 5]"),
        "{lines:?}"
    );
    assert!(
        parsed.windows(2).all(|w| w[0].0 < w[1].0),
        "at most one line a second: {lines:?}"
    );
    // Normally the first refusal is written at once and the other four, which
    // came within its second, as one pending count a second later.
    if parsed.len() == 2 {
        assert_eq!((parsed[0].1, parsed[1].1), (1, 4), "{lines:?}");
    }
}
