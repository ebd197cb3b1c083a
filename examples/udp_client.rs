//! An interactive UDP client: each line you type is one datagram.
//!
//! The numbered tutorials (000 to 004) are the classic Python socket
//! tutorials this project grew from: the README's "Where the protocols come
//! from" lists them and quotes their server.
//!
//! ```text
//! cargo run --example udp_client                      # hello on 127.0.0.1:9999 (the tutorials' port)
//! cargo run --example udp_client -- 127.0.0.1:7007    # echo
//! cargo run --example udp_client -- 127.0.0.1:7013    # timestamp
//! ```
//!
//! What you see, against `reactord` (or `reactord threaded`) on its defaults:
//!
//! - no greeting: UDP has no connection, so there is no moment to greet;
//! - each line you type is sent as one datagram, without its newline (a
//!   datagram is its own frame), and the one-datagram reply is printed:
//!   `Hello, Ann!`, `[Sun Nov 22 14:03:07 2026] hi`, or your line back;
//! - an empty line is an empty datagram: echo answers with an empty one;
//! - `exit` is just a name here (`Hello, exit!`): there is nothing to close;
//! - if nothing comes back within 2 seconds you see `no reply within 2s`.
//!   UDP may lose datagrams and the client cannot tell why: no server, a
//!   dropped request, or a dropped reply all look the same. (On loopback the
//!   kernel does report "connection refused" when no one listens.)

use clap::Parser;
use std::error::Error;
use std::io::{self, BufRead, ErrorKind};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::Duration;

/// How long to wait for each reply.
const REPLY_TIMEOUT: Duration = Duration::from_secs(2);

/// Send each line you type as a datagram to a reactord UDP service and print the reply.
#[derive(Debug, Parser)]
struct Args {
    /// Server address: hello is on 9999, echo on 7007, timestamp on 7013.
    #[arg(default_value = "127.0.0.1:9999")]
    addr: SocketAddr,
}

fn main() {
    let args = Args::parse();
    if let Err(err) = run(&args) {
        eprintln!("udp_client: {err}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    // Port 0: the kernel picks our port; the server replies to it.
    let local: SocketAddr = if args.addr.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local)?;
    // `connect` on UDP sends nothing; it fixes the peer, so `recv` accepts only
    // its datagrams and an ICMP "port unreachable" becomes an error we can show.
    socket.connect(args.addr)?;
    socket.set_read_timeout(Some(REPLY_TIMEOUT))?;
    eprintln!("sending to {}; type lines, Ctrl-D to quit", args.addr);

    let mut buf = vec![0u8; 64 * 1024];
    for line in io::stdin().lock().split(b'\n') {
        let mut line = line?;
        if line.ends_with(b"\r") {
            line.pop();
        }
        if let Err(err) = socket.send(&line) {
            eprintln!("cannot send: {err}");
            continue;
        }
        match socket.recv(&mut buf) {
            Ok(n) => println!("{}", String::from_utf8_lossy(&buf[..n])),
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                println!("no reply within 2s");
            }
            Err(err) if err.kind() == ErrorKind::ConnectionRefused => {
                println!("no server at {} (connection refused)", args.addr);
            }
            Err(err) => println!("error: {err}"),
        }
    }
    Ok(())
}
