//! Step 1 of docs/LEARN.md: a blocking echo server, one client at a time.
//!
//! This is the server of the classic Python socket tutorials
//! (`s.bind(...); s.listen(5); while True: sock, addr = s.accept(); ...`)
//! without their thread: accept a client, echo until it hangs up, then
//! accept the next. Every call blocks: `accept` until someone connects,
//! `read` until bytes arrive, `write_all` until the kernel took them all.
//!
//! ```sh
//! cargo run --example step1_blocking            # listens on 127.0.0.1:7001
//! cargo run --example step1_blocking -- 127.0.0.1:0
//! ```
//!
//! What breaks: while one client is connected, a second one is accepted by
//! the kernel (it waits in the listen backlog) but never served.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};

fn main() -> io::Result<()> {
    let Some(addr) = address("step1_blocking", "127.0.0.1:7001") else {
        return Ok(());
    };
    let listener = TcpListener::bind(&addr)?;
    println!("listening {}", listener.local_addr()?);
    loop {
        // Blocks until a client connects.
        let (stream, peer) = listener.accept()?;
        eprintln!("{peer} connected");
        // One client's error is its own: log it and go back to accepting.
        if let Err(err) = serve(stream) {
            eprintln!("{peer}: {err}");
        }
        eprintln!("{peer} gone");
    }
}

/// Echoes every byte back until the client closes its side.
fn serve(mut stream: TcpStream) -> io::Result<()> {
    let mut buf = [0u8; 4096];
    loop {
        // Blocks until bytes arrive; 0 means the client closed its side.
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        // Blocks until the kernel took every byte.
        stream.write_all(&buf[..n])?;
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
