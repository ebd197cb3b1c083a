//! SIGTERM with replies pending: every byte already produced still arrives.

mod common;

use common::*;
use std::io::{Read, Write};
use std::time::Duration;

#[test]
fn sigterm_delivers_pending_replies_then_eof_and_exits_zero() {
    let server = ServerProcess::start(
        &[
            "serve",
            "--tcp",
            "echo=127.0.0.1:0",
            "--max-pending",
            "1048576",
        ],
        1,
    );
    let addr = server.addr(0);
    let mut client = connect(addr);
    client
        .set_write_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    // Write without reading until the server pushes back: replies pile up server-side.
    let pattern: Vec<u8> = (0..64 * 1024u32).map(|i| (i % 253) as u8).collect();
    let mut written = 0usize;
    while written < 64 * 1024 * 1024 {
        match client.write(&pattern) {
            Ok(n) => written += n,
            Err(_) => break,
        }
    }
    assert!(written < 64 * 1024 * 1024, "server never pushed back");
    server.terminate();
    // Now read everything: the replies, then EOF.
    let mut received = 0usize;
    let mut buf = vec![0; 1 << 16];
    loop {
        let n = client.read(&mut buf).expect("read after SIGTERM");
        if n == 0 {
            break;
        }
        for (i, byte) in buf[..n].iter().enumerate() {
            assert_eq!(
                *byte,
                pattern[(received + i) % pattern.len()],
                "corrupt at {}",
                received + i
            );
        }
        received += n;
    }
    drop(client);
    let (status, stderr) = server.wait();
    assert!(status.success(), "exit status {status:?}: {stderr}");
    let summary = stderr
        .lines()
        .find(|l| l.contains("summary:"))
        .expect("summary line");
    let bytes_out: usize = summary
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("bytes_out="))
        .and_then(|v| v.parse().ok())
        .expect("bytes_out in summary");
    assert!(
        received > 1024 * 1024,
        "only {received} bytes were pending?"
    );
    assert_eq!(
        received, bytes_out,
        "the client got every byte the server sent, and the server sent all it produced"
    );
    assert!(summary.contains("drain_aborted=0"), "{summary}");
}
