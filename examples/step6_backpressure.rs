//! Step 6 of docs/LEARN.md: output the kernel will not take.
//!
//! A `write` on a non-blocking socket takes what fits in the kernel's send
//! buffer and returns `WouldBlock` for the rest. Steps 3 to 5 gave up on
//! such clients. Here each connection keeps the unsent rest in its own
//! buffer (an *outbox*) and asks for writable events only while that buffer
//! is not empty: asking always would wake the loop for every idle socket.
//!
//! And if the client sends faster than it reads? The outbox would grow
//! without end. So above `MAX_PENDING` the connection is simply not read:
//! the client's bytes stay in the kernel, its window fills, and TCP flow
//! control stops the sender. That is *backpressure*: memory per client is
//! bounded by the server, not by the client's behaviour.
//!
//! ```sh
//! cargo run --example step6_backpressure         # listens on 127.0.0.1:7006
//! ```

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use slab::Slab;
use std::io::{self, ErrorKind, Read, Write};

const LISTENER: Token = Token(usize::MAX);
/// Unsent output above which a connection is not read from.
const MAX_PENDING: usize = 256 * 1024;
/// The kernel's send buffer per connection (`SO_SNDBUF`), kept small on purpose.
const SEND_BUFFER: usize = 64 * 1024;

struct Connection {
    stream: TcpStream,
    /// Output the kernel has not taken yet.
    outbox: Vec<u8>,
    write_interest: bool,
}

fn main() -> io::Result<()> {
    let Some(addr) = address("step6_backpressure", "127.0.0.1:7006") else {
        return Ok(());
    };
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let mut listener = TcpListener::bind(addr.parse().map_err(io::Error::other)?)?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    println!("listening {}", listener.local_addr()?);
    // (Step 5's generations are left out here to keep the new part visible.)
    let mut connections: Slab<Connection> = Slab::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        poll.poll(&mut events, None)?;
        for event in events.iter() {
            if event.token() == LISTENER {
                while let Ok((mut stream, _)) = listener.accept() {
                    // Loopback buffers megabytes; a small send buffer makes the
                    // kernel say WouldBlock soon, as a slow network would.
                    let _ = socket2::SockRef::from(&stream).set_send_buffer_size(SEND_BUFFER);
                    let entry = connections.vacant_entry();
                    poll.registry().register(
                        &mut stream,
                        Token(entry.key()),
                        Interest::READABLE,
                    )?;
                    entry.insert(Connection {
                        stream,
                        outbox: Vec::new(),
                        write_interest: false,
                    });
                }
                continue;
            }
            let key = event.token().0;
            let Some(conn) = connections.get_mut(key) else {
                continue;
            };
            let open = drive(conn, &mut buf).unwrap_or(false);
            if !open || update_interest(conn, &poll, Token(key)).is_err() {
                connections.remove(key);
            }
        }
    }
}

/// Flushes, then reads and echoes until `WouldBlock` or the outbox is full.
/// Safe to call on any event, readable or writable. False: close it.
fn drive(conn: &mut Connection, buf: &mut [u8]) -> io::Result<bool> {
    flush(conn)?;
    while conn.outbox.len() < MAX_PENDING {
        match conn.stream.read(buf) {
            // Exercise 6.1: this drops whatever is still in the outbox.
            Ok(0) => return Ok(false),
            Ok(n) => {
                conn.outbox.extend_from_slice(&buf[..n]);
                flush(conn)?;
            }
            Err(err) if err.kind() == ErrorKind::WouldBlock => break,
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(true)
}

/// Writes the outbox until it is empty or the kernel says `WouldBlock`.
fn flush(conn: &mut Connection) -> io::Result<()> {
    let mut sent = 0;
    while sent < conn.outbox.len() {
        match conn.stream.write(&conn.outbox[sent..]) {
            Ok(n) => sent += n,
            Err(err) if err.kind() == ErrorKind::WouldBlock => break,
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    conn.outbox.drain(..sent);
    Ok(())
}

/// Writable interest only while output waits; reregister only on a change.
fn update_interest(conn: &mut Connection, poll: &Poll, token: Token) -> io::Result<()> {
    let want_write = !conn.outbox.is_empty();
    if want_write != conn.write_interest {
        let interest = if want_write {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        poll.registry()
            .reregister(&mut conn.stream, token, interest)?;
        conn.write_interest = want_write;
    }
    Ok(())
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
