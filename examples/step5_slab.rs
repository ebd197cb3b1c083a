//! Step 5 of docs/LEARN.md: a slab and tokens with generations.
//!
//! Step 4's `HashMap` hashed every lookup and its token counter only grew.
//! A [`Slab`] is a `Vec` with a free list: `insert` returns the index of a
//! free slot (reusing closed ones), lookups are an index. The slot number
//! becomes the token, so an event leads straight to its connection.
//!
//! Reuse has a trap. Events come in batches; if an event early in a batch
//! closes connection 3 and an accept later in the same batch puts a new
//! client in slot 3, a later event of the batch for the *old* connection 3
//! would reach the new client. So a token carries a generation as well: slot
//! in the low 32 bits, a counter bumped on every accept above them. An
//! event whose generation does not match the slot's occupant is stale and is
//! dropped, with a line on stderr so you can see it happen.
//!
//! ```sh
//! cargo run --example step5_slab                 # listens on 127.0.0.1:7005
//! cargo run --example step5_slab -- 127.0.0.1:7005 100   # MAX: exercise 5.1
//! ```

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use slab::Slab;
use std::io::{self, ErrorKind, Read, Write};

const LISTENER: Token = Token(usize::MAX);

struct Connection {
    stream: TcpStream,
    generation: u32,
}

fn token(key: usize, generation: u32) -> Token {
    Token((generation as usize) << 32 | key)
}

fn main() -> io::Result<()> {
    let Some((addr, max)) = arguments() else {
        return Ok(());
    };
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let mut listener = TcpListener::bind(addr.parse().map_err(io::Error::other)?)?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    println!("listening {}", listener.local_addr()?);
    eprintln!("MAX {max:?}: not enforced yet (exercise 5.1)");
    let mut connections: Slab<Connection> = Slab::new();
    let mut next_generation: u32 = 0;
    let mut buf = [0u8; 4096];
    loop {
        poll.poll(&mut events, None)?;
        for event in events.iter() {
            if event.token() == LISTENER {
                loop {
                    let (mut stream, peer) = match listener.accept() {
                        Ok(accepted) => accepted,
                        Err(err) if err.kind() == ErrorKind::WouldBlock => break,
                        Err(err) => {
                            eprintln!("accept: {err}");
                            break;
                        }
                    };
                    let entry = connections.vacant_entry();
                    let generation = next_generation;
                    next_generation = next_generation.wrapping_add(1) & 0x7fff_ffff;
                    let token = token(entry.key(), generation);
                    poll.registry()
                        .register(&mut stream, token, Interest::READABLE)?;
                    eprintln!("conn#{}.{generation} opened: {peer}", entry.key());
                    entry.insert(Connection { stream, generation });
                }
                continue;
            }
            let (key, generation) = (
                event.token().0 & 0xffff_ffff,
                (event.token().0 >> 32) as u32,
            );
            let Some(conn) = connections
                .get_mut(key)
                .filter(|c| c.generation == generation)
            else {
                eprintln!("stale event for conn#{key}.{generation}: dropped");
                continue;
            };
            if !drain(&mut conn.stream, &mut buf) {
                connections.remove(key);
                eprintln!("conn#{key}.{generation} closed");
            }
        }
    }
}

/// Reads until `WouldBlock`, echoing each read (step 4's shortcut on writes remains).
fn drain(stream: &mut TcpStream, buf: &mut [u8]) -> bool {
    loop {
        match stream.read(buf) {
            Ok(0) => return false,
            Ok(n) => {
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

/// `[ADDR] [MAX]` from the command line; `None` after printing `--help`.
fn arguments() -> Option<(String, Option<usize>)> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!(
            "usage: step5_slab [ADDR] [MAX]   (default 127.0.0.1:7005; port 0 picks a free port)"
        );
        println!("An echo server; see docs/LEARN.md. MAX: connections at once (exercise 5.1).");
        return None;
    }
    let addr = args
        .first()
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:7005".into());
    let max = args
        .get(1)
        .map(|m| m.parse().unwrap_or_else(|_| panic_free_exit(m)));
    Some((addr, max))
}

fn panic_free_exit(bad: &str) -> usize {
    eprintln!("step5_slab: MAX must be a number, not {bad:?}");
    std::process::exit(2)
}
