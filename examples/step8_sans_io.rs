//! Step 8 of docs/LEARN.md: sans-IO handlers, the protocol leaves the loop.
//!
//! Until now the protocol (echo) was a `write_all` inside the read loop.
//! Real protocols have state (a half-received line, a greeting, `exit`) and
//! mixing that state with sockets makes both hard to test. A *sans-IO*
//! handler takes bytes in and appends bytes out, and never sees a socket, a
//! clock or a thread. The loop moves bytes; the handler decides. The same
//! handler could be driven by a blocking server, a test, or a fuzzer; here
//! its tests (at the bottom) run without any network.
//!
//! The protocol is the tutorials' "hello" server, line framed: `Welcome!\n`
//! on connect, `Hello, NAME!\n` for each line, and the line `exit` closes.
//!
//! ```sh
//! cargo run --example step8_sans_io              # listens on 127.0.0.1:7008
//! cargo test --example step8_sans_io             # the handler's tests, no sockets
//! ```

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use slab::Slab;
use std::io::{self, ErrorKind, Read, Write};

const LISTENER: Token = Token(usize::MAX);

/// What the handler wants done after an input.
#[derive(Debug, PartialEq)]
enum Action {
    Keep,
    Close,
}

/// The hello protocol's state for one connection: only the unfinished line.
#[derive(Default)]
struct Hello {
    line: Vec<u8>,
}

impl Hello {
    fn on_connect(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"Welcome!\n");
    }

    /// Consumes all of `input`; replies go to `out`.
    fn on_bytes(&mut self, input: &[u8], out: &mut Vec<u8>) -> Action {
        for &byte in input {
            if byte != b'\n' {
                self.line.push(byte); // exercise 8.1: bound this
                continue;
            }
            let line = std::mem::take(&mut self.line);
            let name = line.strip_suffix(b"\r").unwrap_or(&line);
            if name == b"exit" {
                return Action::Close;
            }
            out.extend_from_slice(b"Hello, ");
            out.extend_from_slice(name);
            out.extend_from_slice(b"!\n");
        }
        Action::Keep
    }
}

fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7008".into());
    if addr == "--help" || addr == "-h" {
        println!(
            "usage: step8_sans_io [ADDR]   (default 127.0.0.1:7008; port 0 picks a free port)"
        );
        println!("The hello protocol, sans-IO, on a mio loop; see docs/LEARN.md.");
        return Ok(());
    }
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let mut listener = TcpListener::bind(addr.parse().map_err(io::Error::other)?)?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    println!("listening {}", listener.local_addr()?);
    let mut connections: Slab<(TcpStream, Hello)> = Slab::new();
    let (mut buf, mut out) = ([0u8; 4096], Vec::new());
    loop {
        poll.poll(&mut events, None)?;
        for event in events.iter() {
            if event.token() == LISTENER {
                while let Ok((mut stream, _)) = listener.accept() {
                    let mut hello = Hello::default();
                    hello.on_connect(&mut out);
                    let entry = connections.vacant_entry();
                    poll.registry().register(
                        &mut stream,
                        Token(entry.key()),
                        Interest::READABLE,
                    )?;
                    // Steps 4-7's shortcut: a reply the kernel will not take closes the client.
                    if stream.write_all(&out).is_ok() {
                        entry.insert((stream, hello));
                    }
                    out.clear();
                }
                continue;
            }
            let key = event.token().0;
            let Some((stream, hello)) = connections.get_mut(key) else {
                continue;
            };
            // The driver: bytes from the socket to the handler, replies back.
            let open = loop {
                let action = match stream.read(&mut buf) {
                    Ok(0) => break false,
                    Ok(n) => hello.on_bytes(&buf[..n], &mut out),
                    Err(err) if err.kind() == ErrorKind::WouldBlock => break true,
                    Err(err) if err.kind() == ErrorKind::Interrupted => continue,
                    Err(_) => break false,
                };
                let written = stream.write_all(&out);
                out.clear();
                if written.is_err() || action == Action::Close {
                    break false;
                }
            };
            if !open {
                connections.remove(key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&[u8]]) -> (Vec<u8>, Action) {
        let (mut hello, mut out) = (Hello::default(), Vec::new());
        hello.on_connect(&mut out);
        let mut action = Action::Keep;
        for chunk in chunks {
            action = hello.on_bytes(chunk, &mut out);
        }
        (out, action)
    }

    #[test]
    fn greets_answers_and_closes_on_exit() {
        let (out, action) = run(&[b"Ann\nBo\r\nexit\n"]);
        assert_eq!(out, b"Welcome!\nHello, Ann!\nHello, Bo!\n");
        assert_eq!(action, Action::Close);
    }

    #[test]
    fn every_split_of_the_input_gives_the_same_output() {
        let input = b"Ann\nBo\r\nLi\n";
        let (whole, _) = run(&[input]);
        for cut in 0..=input.len() {
            assert_eq!(
                run(&[&input[..cut], &input[cut..]]).0,
                whole,
                "cut at {cut}"
            );
        }
    }
}
