//! Step 4 of docs/LEARN.md: one `mio::Poll`, a listener and connections in a `HashMap`.
//!
//! Step 3 asked every socket "anything yet?" in a loop. Here the kernel is
//! asked once, for all of them: `poll.poll(&mut events, None)` sleeps until
//! at least one registered socket is ready and says which, by the `Token`
//! it was registered with. The thread uses no CPU while nothing happens.
//!
//! mio's readiness is *edge-triggered*: an event means "this socket became
//! ready", and no new event comes until it has been not-ready again. So on
//! every event we read (and accept) until `WouldBlock`; stopping early would
//! leave bytes in the kernel with no event coming to tell us about them.
//!
//! ```sh
//! cargo run --example step4_poll                 # listens on 127.0.0.1:7004
//! ```
//!
//! Left out for now: writes that the kernel will not take (a write that
//! meets `WouldBlock` closes the client: step 6), reuse of tokens (step 5).

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use std::collections::HashMap;
use std::io::{self, ErrorKind, Read, Write};

const LISTENER: Token = Token(0);

fn main() -> io::Result<()> {
    let Some(addr) = address("step4_poll", "127.0.0.1:7004") else {
        return Ok(());
    };
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let mut listener = TcpListener::bind(addr.parse().map_err(io::Error::other)?)?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    println!("listening {}", listener.local_addr()?);
    let mut connections: HashMap<Token, TcpStream> = HashMap::new();
    // Every connection gets the next number; numbers are never reused.
    let mut next_token = 1;
    let mut buf = [0u8; 4096];
    loop {
        poll.poll(&mut events, None)?; // sleeps until something is ready
        for event in events.iter() {
            if event.token() == LISTENER {
                // Accept until WouldBlock: the backlog may hold several clients.
                loop {
                    match listener.accept() {
                        Ok((mut stream, _)) => {
                            let token = Token(next_token);
                            next_token += 1;
                            poll.registry()
                                .register(&mut stream, token, Interest::READABLE)?;
                            connections.insert(token, stream);
                        }
                        Err(err) if err.kind() == ErrorKind::WouldBlock => break,
                        Err(err) => {
                            eprintln!("accept: {err}");
                            break;
                        }
                    }
                }
                continue;
            }
            // An event for a connection closed earlier in this batch: ignore it.
            let Some(stream) = connections.get_mut(&event.token()) else {
                continue;
            };
            if !drain(stream, &mut buf) {
                connections.remove(&event.token()); // dropping the stream closes it
            }
        }
    }
}

/// Reads until `WouldBlock`, echoing each read. False when the connection is done.
fn drain(stream: &mut TcpStream, buf: &mut [u8]) -> bool {
    loop {
        match stream.read(buf) {
            Ok(0) => return false,
            Ok(n) => {
                // The shortcut of this step: a full kernel buffer (WouldBlock
                // inside write_all) is treated as an error and closes the client.
                if let Err(err) = stream.write_all(&buf[..n]) {
                    eprintln!("write: {err}: closing");
                    return false;
                }
            }
            Err(err) if err.kind() == ErrorKind::WouldBlock => return true,
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
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
