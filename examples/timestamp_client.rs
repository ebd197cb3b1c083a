//! `timestamp_client`: the clients of tutorial 001 (`tcpCliSock.py`, `udpCliSock.py`), in Rust.
//!
//! The numbered tutorials (000 to 004) are the classic Python socket
//! tutorials this project grew from: the README's "Where the protocols come
//! from" lists them and quotes their server.
//!
//! Read a line from stdin, send it, print `Server: <reply>`; an empty line or
//! end of input quits. reactord's timestamp service (127.0.0.1:7013) answers
//! each message `M` with `[<ctime>] M`.
//!
//! ```sh
//! cargo run --example timestamp_client              # TCP, line framing
//! cargo run --example timestamp_client -- --udp     # one datagram per line
//! printf 'a\nb\n' | cargo run --example timestamp_client
//! ```
//!
//! What to notice:
//! - **TCP needs a connection, UDP does not.** The TCP client connects once
//!   and every message travels on that stream; the UDP client sends
//!   independent datagrams. (It does call `connect` on the UDP socket: that
//!   only fixes the peer, so `send`/`recv` need no address and datagrams from
//!   anyone else are ignored; no packet is exchanged.)
//! - **Where does a reply end?** Over TCP the client sends `M\n` and reads up
//!   to `\n` (`--raw` does what the tutorial does, one read per reply, for a
//!   `--framing raw` server). Over UDP one datagram *is* one message, so no
//!   newline is needed at all.
//! - UDP can lose datagrams, so its read has a timeout like every other read.

use clap::Parser;
use std::error::Error;
use std::io::{BufRead, BufReader, ErrorKind, IsTerminal, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::process::ExitCode;
use std::time::Duration;

/// How long to wait for a reply before giving up.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Send stdin lines to reactord's timestamp service and print the replies.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Server address (reactord's timestamp service listens on 127.0.0.1:7013).
    #[arg(long, default_value = "127.0.0.1:7013")]
    addr: String,
    /// Use the UDP timestamp service: one datagram per line.
    #[arg(long)]
    udp: bool,
    /// TCP only: for a `--framing raw` server, send bare lines and take one read as the reply.
    #[arg(long, conflicts_with = "udp")]
    raw: bool,
}

/// The two ways of talking to the server, behind one `ask` method.
enum Client {
    Tcp(BufReader<TcpStream>, bool),
    Udp(UdpSocket),
}

fn main() -> ExitCode {
    match run(&Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("timestamp_client: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    let server: SocketAddr = args
        .addr
        .to_socket_addrs()
        .map_err(|e| format!("bad address {}: {e}", args.addr))?
        .next()
        .ok_or_else(|| format!("{} resolves to no address", args.addr))?;
    let mut client = if args.udp {
        // Bind an ephemeral port of the server's address family.
        let local = if server.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        };
        let socket = UdpSocket::bind(local)?;
        socket.connect(server)?;
        socket.set_read_timeout(Some(TIMEOUT))?;
        Client::Udp(socket)
    } else {
        let stream =
            TcpStream::connect(server).map_err(|e| format!("cannot connect to {server}: {e}"))?;
        stream.set_read_timeout(Some(TIMEOUT))?;
        Client::Tcp(BufReader::new(stream), args.raw)
    };

    let stdin = std::io::stdin();
    let prompt = stdin.is_terminal(); // the tutorial's '>' prompt, only for a human
    let mut line = String::new();
    loop {
        if prompt {
            eprint!("> ");
        }
        line.clear();
        if stdin.lock().read_line(&mut line)? == 0 {
            break; // end of input
        }
        let message = line.trim_end_matches(['\r', '\n']);
        if message.is_empty() {
            break; // the tutorial's `if not data: break`
        }
        let reply = client.ask(message)?;
        println!("Server: {}", String::from_utf8_lossy(&reply).trim_end());
    }
    Ok(())
}

impl Client {
    /// Sends one message and returns the one reply.
    fn ask(&mut self, message: &str) -> Result<Vec<u8>, Box<dyn Error>> {
        let mut reply = Vec::new();
        let result = match self {
            Client::Tcp(reader, raw) => {
                let newline = if *raw { "" } else { "\n" };
                reader
                    .get_mut()
                    .write_all(format!("{message}{newline}").as_bytes())?;
                if *raw {
                    reply.resize(1024, 0); // the tutorial's BUFSIZE
                    reader.read(&mut reply).inspect(|&n| reply.truncate(n))
                } else {
                    reader.read_until(b'\n', &mut reply)
                }
            }
            Client::Udp(socket) => {
                socket.send(message.as_bytes())?;
                reply.resize(65536, 0); // the largest possible datagram
                let result = socket.recv(&mut reply).inspect(|&n| reply.truncate(n));
                result.map(|n| n.max(1)) // an empty datagram is still a reply
            }
        };
        match result {
            Ok(0) => Err("the server closed the connection".into()),
            Ok(_) => Ok(reply),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Err(format!("no reply within {TIMEOUT:?}").into())
            }
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                Err("connection refused: is the server running?".into())
            }
            Err(e) => Err(format!("cannot read the reply: {e}").into()),
        }
    }
}
