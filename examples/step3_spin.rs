//! Step 3 of docs/LEARN.md: non-blocking sockets without a poller, and why that spins.
//!
//! One thread again, but no call may block: the listener and every client
//! are set non-blocking, so `accept` and `read` return `WouldBlock` at once
//! when there is nothing to do. The loop simply tries every socket, over and
//! over. It serves many clients on one thread, and it never sleeps: with
//! nothing to do it burns a whole core asking "anything yet?" millions of
//! times a second. What is missing is a way to *wait* for the first of many
//! sockets to become ready: that is `poll`/`epoll`, step 4.
//!
//! ```sh
//! cargo run --example step3_spin                 # listens on 127.0.0.1:7003
//! ```

use std::io::{self, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};

fn main() -> io::Result<()> {
    let Some(addr) = address("step3_spin", "127.0.0.1:7003") else {
        return Ok(());
    };
    let listener = TcpListener::bind(&addr)?;
    listener.set_nonblocking(true)?;
    println!("listening {}", listener.local_addr()?);
    let mut clients: Vec<TcpStream> = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(true)?;
                clients.push(stream);
            }
            Err(err) if err.kind() == ErrorKind::WouldBlock => {}
            Err(err) => eprintln!("accept: {err}"),
        }
        // Try every client; keep those that are still open.
        clients.retain_mut(|stream| match stream.read(&mut buf) {
            Ok(0) => false,
            // A shortcut this step takes: a non-blocking write_all fails with
            // WouldBlock when the kernel's buffer is full, and the client is
            // dropped. Step 6 keeps the rest instead.
            Ok(n) => stream.write_all(&buf[..n]).is_ok(),
            Err(err) if err.kind() == ErrorKind::WouldBlock => true,
            Err(err) if err.kind() == ErrorKind::Interrupted => true,
            Err(_) => false,
        });
    }
}

/// The address from the command line (or `default`); `None` after printing `--help`.
fn address(name: &str, default: &str) -> Option<String> {
    let arg = std::env::args().nth(1);
    if matches!(arg.as_deref(), Some("--help" | "-h")) {
        println!("usage: {name} [ADDR]   (default {default}; port 0 picks a free port)");
        println!("An echo server; see docs/LEARN.md. Prints `listening ADDR` on stdout.");
        return None;
    }
    Some(arg.unwrap_or_else(|| default.to_string()))
}
