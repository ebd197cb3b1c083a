//! An interactive TCP client: type a line, see the reply.
//!
//! The numbered tutorials (000 to 004) are the classic Python socket
//! tutorials this project grew from: the README's "Where the protocols come
//! from" lists them and quotes their server.
//!
//! ```text
//! cargo run --example tcp_client                      # hello on 127.0.0.1:9999 (the tutorials' port)
//! cargo run --example tcp_client -- 127.0.0.1:7007    # echo
//! cargo run --example tcp_client -- 127.0.0.1:7013    # timestamp
//! ```
//!
//! What you see, against `reactord` (or `reactord threaded`) on its defaults:
//!
//! - hello greets first: `Welcome!` appears before you type anything;
//! - each line you type is sent with a `\n`, and the server's reply is
//!   printed as soon as it arrives (`Hello, Ann!`, `[Sun Nov 22 14:03:07 2026] hi`, or your
//!   line back from echo);
//! - typing `exit` to hello makes the server close: the client says so and quits;
//! - Ctrl-D (end of input) tells the server we are done (a TCP FIN), prints
//!   any last replies and quits when the server closes too.
//!
//! Two threads, because a terminal client waits on two things at once: the
//! main thread blocks on your keyboard, a second thread blocks on the socket.
//! This is the thread-per-connection design of `reactord threaded`, seen
//! from the client's side.

use clap::Parser;
use std::error::Error;
use std::io::{self, BufRead, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::thread;
use std::time::Duration;

/// Send each line you type to a reactord TCP service and print the replies.
#[derive(Debug, Parser)]
struct Args {
    /// Server address: hello is on 9999, echo on 7007, timestamp on 7013.
    #[arg(default_value = "127.0.0.1:9999")]
    addr: SocketAddr,
}

fn main() {
    let args = Args::parse();
    if let Err(err) = run(&args) {
        eprintln!("tcp_client: {err}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    let stream = TcpStream::connect_timeout(&args.addr, Duration::from_secs(5))
        .map_err(|err| format!("cannot connect to {}: {err}", args.addr))?;
    // Lines are small and interactive: send each at once rather than batching.
    stream.set_nodelay(true)?;
    eprintln!("connected to {}; type lines, Ctrl-D to finish", args.addr);

    // `try_clone` gives a second handle on the same socket for the reader thread.
    let reader = stream.try_clone()?;
    let printer = thread::spawn(move || print_replies(reader));

    let mut writer = stream;
    let mut stdin = io::stdin().lock();
    let mut line = Vec::new();
    loop {
        line.clear();
        // Bytes, not `String`: whatever you type is sent as typed.
        if stdin.read_until(b'\n', &mut line)? == 0 {
            break; // Ctrl-D
        }
        if !line.ends_with(b"\n") {
            line.push(b'\n');
        }
        if let Err(err) = writer.write_all(&line) {
            eprintln!("cannot send: {err}");
            break;
        }
    }
    // FIN: "I will send nothing more". The server answers what it has and closes.
    let _ = writer.shutdown(Shutdown::Write);
    let _ = printer.join();
    Ok(())
}

/// Prints whatever the server sends until it closes, then ends the program.
fn print_replies(mut stream: TcpStream) {
    let mut buf = [0u8; 4096];
    let mut stdout = io::stdout();
    loop {
        match stream.read(&mut buf) {
            Ok(0) => {
                eprintln!("server closed the connection");
                break;
            }
            Ok(n) => {
                // Replies may not end with a newline (raw framing): flush anyway.
                let _ = stdout.write_all(&buf[..n]);
                let _ = stdout.flush();
            }
            Err(err) => {
                eprintln!("connection lost: {err}");
                break;
            }
        }
    }
    // The main thread may be blocked on the keyboard; nothing more can be sent anyway.
    std::process::exit(0);
}
