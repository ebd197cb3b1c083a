//! `udp_chat`: tutorial 004's UDP chat (`udp聊天器`), without its menu.
//!
//! The numbered tutorials (000 to 004) are the classic Python socket
//! tutorials this project grew from: the README's "Where the protocols come
//! from" lists them and quotes their server.
//!
//! The tutorial asks "1: send, 2: receive" because a blocking program can wait
//! for only one thing at a time: while it waits for your typing it cannot
//! receive, and while it waits in `recvfrom` you cannot type. This version
//! does both at once with one `mio::Poll` watching two sources: the UDP
//! socket and stdin (file descriptor 0, through `mio::unix::SourceFd`).
//! Each stdin line goes to `--peer` as one datagram; every datagram that
//! arrives is printed with its sender. The default peer is reactord's UDP
//! echo service, so you can try it alone:
//!
//! ```sh
//! cargo run --example udp_chat                      # talk to the echo service
//! cargo run --example udp_chat -- --bind 127.0.0.1:7890 --peer 127.0.0.1:7891
//! cargo run --example udp_chat -- --bind 127.0.0.1:7891 --peer 127.0.0.1:7890
//! ```
//!
//! What to notice:
//! - **Readiness, then drain.** An event only says "something may be ready";
//!   mio is edge-triggered, so on each event we read until `WouldBlock`, or
//!   bytes left behind would get no further event. That needs stdin in
//!   non-blocking mode, a flag shared with every process using the same
//!   terminal or pipe, so it is put back as it was on the way out.
//! - **Not everything can be polled.** epoll accepts pipes, terminals and
//!   sockets, but refuses regular files and `/dev/null` (a file is "always
//!   ready"). With `udp_chat < file` the file is read whole and sent first,
//!   then only the socket is watched.
//! - At the end of input the chat keeps receiving; Ctrl-C (SIGINT) or
//!   SIGTERM stops it. Those signals arrive as a third event source.

use clap::Parser;
use mio::net::UdpSocket;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;
use std::error::Error;
use std::fs::File;
use std::io::{ErrorKind, Read};
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd};
use std::process::ExitCode;

const SOCKET: Token = Token(0);
const STDIN: Token = Token(1);
const SIGNALS: Token = Token(2);

/// Chat over UDP: send stdin lines to a peer and print whatever arrives, both at once.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Local address to receive on (port 0: any free port; printed at start).
    #[arg(long, default_value = "127.0.0.1:0")]
    bind: SocketAddr,
    /// Where each line goes (reactord's UDP echo service is 127.0.0.1:7007).
    #[arg(long, default_value = "127.0.0.1:7007")]
    peer: SocketAddr,
}

fn main() -> ExitCode {
    match run(&Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("udp_chat: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    let mut socket =
        UdpSocket::bind(args.bind).map_err(|e| format!("cannot bind {}: {e}", args.bind))?;
    println!(
        "udp_chat on {}, sending to {}",
        socket.local_addr()?,
        args.peer
    );
    let mut poll = Poll::new()?;
    let registry = poll.registry();
    registry.register(&mut socket, SOCKET, Interest::READABLE)?;
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    registry.register(&mut signals, SIGNALS, Interest::READABLE)?;

    // Our own descriptor for stdin (a dup of fd 0), so reads go straight to read(2).
    let mut stdin = File::from(std::io::stdin().as_fd().try_clone_to_owned()?);
    let fd = stdin.as_raw_fd();
    let mut pending = Vec::new(); // stdin bytes not yet ending in '\n'
    let _restore = match registry.register(&mut SourceFd(&fd), STDIN, Interest::READABLE) {
        Ok(()) => Some(set_nonblocking(fd)?),
        // EPERM: a regular file or /dev/null. It never blocks, so read it whole now.
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
            stdin.read_to_end(&mut pending)?;
            end_of_input(&socket, args.peer, &mut pending);
            None
        }
        Err(e) => return Err(format!("cannot watch stdin: {e}").into()),
    };

    let mut events = Events::with_capacity(16);
    let mut buf = vec![0u8; 65536]; // the largest possible datagram
    loop {
        match poll.poll(&mut events, None) {
            Err(e) if e.kind() == ErrorKind::Interrupted => continue, // a signal; its event follows
            result => result?,
        }
        for event in events.iter() {
            match event.token() {
                SOCKET => loop {
                    match socket.recv_from(&mut buf) {
                        Ok((n, from)) => println!("{from}: {}", String::from_utf8_lossy(&buf[..n])),
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) => eprintln!("(receive error: {e})"),
                    }
                },
                STDIN => loop {
                    match stdin.read(&mut buf) {
                        Ok(0) => {
                            poll.registry().deregister(&mut SourceFd(&fd))?;
                            end_of_input(&socket, args.peer, &mut pending);
                            break;
                        }
                        Ok(n) => {
                            pending.extend_from_slice(&buf[..n]);
                            send_lines(&socket, args.peer, &mut pending);
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                        Err(e) => return Err(format!("cannot read stdin: {e}").into()),
                    }
                },
                SIGNALS => return Ok(()), // `_restore` puts stdin back as it drops
                _ => unreachable!("only three tokens are registered"),
            }
        }
    }
}

/// Sends every complete line in `pending` as one datagram (empty lines are skipped).
fn send_lines(socket: &UdpSocket, peer: SocketAddr, pending: &mut Vec<u8>) {
    while let Some(end) = pending.iter().position(|&b| b == b'\n') {
        let line: Vec<u8> = pending.drain(..=end).collect();
        let line = line.strip_suffix(b"\n").unwrap_or(&line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        // UDP keeps no queue: with the send buffer full (WouldBlock) this datagram is lost.
        if let Err(e) = socket.send_to(line, peer) {
            eprintln!("(not sent: {e})");
        }
    }
}

/// Sends an unterminated last line too, and says the chat goes on.
fn end_of_input(socket: &UdpSocket, peer: SocketAddr, pending: &mut Vec<u8>) {
    pending.push(b'\n');
    send_lines(socket, peer, pending);
    eprintln!("(end of input; still receiving, Ctrl-C to quit)");
}

/// Stdin's flags as they were: O_NONBLOCK is shared with everyone using the
/// same terminal or pipe, so it is put back on the way out.
struct Restore(i32, i32);

/// Makes `fd` non-blocking, so reads can be drained until `WouldBlock`.
fn set_nonblocking(fd: i32) -> std::io::Result<Restore> {
    // SAFETY (both calls): fcntl with integer arguments on our own open descriptor.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(Restore(fd, flags))
}

impl Drop for Restore {
    fn drop(&mut self) {
        // SAFETY: as above; `stdin` is declared before the guard, so it is still open.
        unsafe { libc::fcntl(self.0, libc::F_SETFL, self.1) };
    }
}
