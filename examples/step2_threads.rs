//! Step 2 of docs/LEARN.md: a thread per client.
//!
//! The design of the classic Python tutorials
//! (`t = threading.Thread(target=tcplink, args=(sock, addr)); t.start()`):
//! the main thread only accepts, and each client gets a thread of its own
//! that may block as long as it likes. Clients no longer wait for each other.
//!
//! ```sh
//! cargo run --example step2_threads              # listens on 127.0.0.1:7002
//! ```
//!
//! What it costs: a thread per connection, each with its own stack (Rust's
//! default for spawned threads is 2 MiB of address space, of which the
//! touched pages become resident), a kernel task, and a context switch per
//! message. Ten thousand idle clients are ten thousand threads.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;

fn main() -> io::Result<()> {
    let Some(addr) = address("step2_threads", "127.0.0.1:7002") else {
        return Ok(());
    };
    let listener = TcpListener::bind(&addr)?;
    println!("listening {}", listener.local_addr()?);
    loop {
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            // Out of descriptors (EMFILE) and friends: this client is lost, the server is not.
            Err(err) => {
                eprintln!("accept: {err}");
                thread::sleep(std::time::Duration::from_millis(100));
                continue;
            }
        };
        let spawned = thread::Builder::new()
            .name(format!("client {peer}"))
            .spawn(move || {
                if let Err(err) = serve(stream) {
                    eprintln!("{peer}: {err}");
                }
            });
        // Out of threads (or memory for their stacks): the stream was moved
        // into the closure and is closed with it.
        if let Err(err) = spawned {
            eprintln!("{peer}: cannot start a thread: {err}");
        }
    }
}

/// Echoes every byte back until the client closes its side (as in step 1).
fn serve(mut stream: TcpStream) -> io::Result<()> {
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
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
