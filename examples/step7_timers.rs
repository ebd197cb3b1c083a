//! Step 7 of docs/LEARN.md: idle timeouts without a thread.
//!
//! A client that connects and says nothing holds its slot forever. The fix
//! needs no timer thread: `poll` takes a timeout, so the loop sleeps until
//! the next event *or* the next deadline, whichever comes first. Deadlines
//! wait in a min-heap (`BinaryHeap` of `Reverse`). They are re-armed lazily:
//! activity only updates `last_active`; when an old deadline comes due, the
//! loop looks at the connection, closes it if it really was idle, and
//! otherwise schedules its new deadline. A busy connection costs one heap
//! entry, not one heap operation per message.
//!
//! ```sh
//! cargo run --example step7_timers               # 127.0.0.1:7017, idle timeout 10 s
//! cargo run --example step7_timers -- 127.0.0.1:7017 2000   # idle timeout 2000 ms
//! ```

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use slab::Slab;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, ErrorKind, Read, Write};
use std::time::{Duration, Instant};

const LISTENER: Token = Token(usize::MAX);

struct Connection {
    stream: TcpStream,
    generation: u32,
    last_active: Instant,
}

fn main() -> io::Result<()> {
    let Some((addr, idle)) = arguments() else {
        return Ok(());
    };
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let mut listener = TcpListener::bind(addr.parse().map_err(io::Error::other)?)?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    println!("listening {}", listener.local_addr()?);
    let mut connections: Slab<Connection> = Slab::new();
    // (deadline, slot, generation): the generation tells a timer of a closed
    // connection from one of the new occupant of its slot, as tokens do.
    let mut timers: BinaryHeap<Reverse<(Instant, usize, u32)>> = BinaryHeap::new();
    let mut generation = 0u32;
    let mut buf = [0u8; 4096];
    loop {
        let now = Instant::now();
        while let Some(&Reverse((deadline, key, gen))) = timers.peek() {
            if deadline > now {
                break;
            }
            timers.pop();
            let Some(conn) = connections.get(key).filter(|c| c.generation == gen) else {
                continue; // closed already: a stale timer
            };
            let due = conn.last_active + idle;
            if due <= now {
                eprintln!("conn#{key}.{gen}: idle timeout");
                connections.remove(key); // exercise 7.1: say goodbye first
            } else {
                timers.push(Reverse((due, key, gen))); // active since: re-arm lazily
            }
        }
        // Sleep until the next event or the next deadline.
        let timeout = timers
            .peek()
            .map(|Reverse((at, ..))| at.saturating_duration_since(now));
        poll.poll(&mut events, timeout)?;
        let now = Instant::now();
        for event in events.iter() {
            if event.token() == LISTENER {
                while let Ok((mut stream, _)) = listener.accept() {
                    let entry = connections.vacant_entry();
                    generation = generation.wrapping_add(1);
                    poll.registry().register(
                        &mut stream,
                        Token(entry.key()),
                        Interest::READABLE,
                    )?;
                    timers.push(Reverse((now + idle, entry.key(), generation)));
                    entry.insert(Connection {
                        stream,
                        generation,
                        last_active: now,
                    });
                }
                continue;
            }
            let key = event.token().0;
            let Some(conn) = connections.get_mut(key) else {
                continue;
            };
            if !drain(conn, &mut buf, now) {
                connections.remove(key);
            }
        }
    }
}

/// Step 4's read-until-`WouldBlock` echo (step 6's outbox left out to keep
/// this short), noting activity. False when the connection is done.
fn drain(conn: &mut Connection, buf: &mut [u8], now: Instant) -> bool {
    loop {
        match conn.stream.read(buf) {
            Ok(0) => return false,
            Ok(n) => {
                conn.last_active = now;
                if conn.stream.write_all(&buf[..n]).is_err() {
                    return false;
                }
            }
            Err(err) if err.kind() == ErrorKind::WouldBlock => return true,
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
}

/// `[ADDR] [IDLE_MS]` from the command line; `None` after printing `--help`.
fn arguments() -> Option<(String, Duration)> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("usage: step7_timers [ADDR] [IDLE_MS]   (default 127.0.0.1:7017, 10000 ms)");
        println!("An echo server that closes idle clients; see docs/LEARN.md.");
        return None;
    }
    let addr = args
        .first()
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:7017".into());
    let idle = match args.get(1).map(|ms| ms.parse()) {
        None => 10_000,
        Some(Ok(ms)) => ms,
        Some(Err(_)) => {
            eprintln!("step7_timers: IDLE_MS must be a number of milliseconds");
            std::process::exit(2)
        }
    };
    Some((addr, Duration::from_millis(idle)))
}
