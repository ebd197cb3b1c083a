//! `hello_client`: the TCP client of tutorials 000 and 003 (`TcpClient.py`), in Rust.
//!
//! The numbered tutorials (000 to 004) are the classic Python socket
//! tutorials this project grew from: the README's "Where the protocols come
//! from" lists them and quotes their server.
//!
//! The flow is the tutorial's: connect, print the greeting, send three names
//! (`Li`, `Cheng`, `victor`), print each reply, send `exit`. Try it against
//! `cargo run` (reactord's hello service listens on 127.0.0.1:9999):
//!
//! ```sh
//! cargo run --example hello_client                  # --framing line server (default)
//! cargo run --example hello_client -- Ann Bo        # other names
//! cargo run --example hello_client -- --raw         # against `reactord --framing raw`
//! ```
//!
//! What to notice:
//! - **TCP is a byte stream, not a message stream.** With `line` framing each
//!   message ends in `\n`, so the client reads up to the newline and never
//!   guesses where a reply ends. With `--raw` it does what the tutorial does:
//!   sends a bare name and takes whatever one `read` returns as the reply.
//!   That works only because it waits for each reply before sending again
//!   (the "sticky packet" caveat in the README); it would break on a slow or
//!   busy network.
//! - Every read has a timeout, so a wrong `--raw` setting (the line client
//!   waiting for a newline that a raw server never sends) is an error
//!   message, not a hang.
//! - `exit` is a message like any other; the server answers it by closing,
//!   which the client sees as a read of 0 bytes (end of file).

use clap::Parser;
use std::error::Error;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::Duration;

/// How long to wait for any reply before giving up.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Greet reactord's hello service the way tutorials 000/003 do.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Server address (reactord's hello service listens on 127.0.0.1:9999).
    #[arg(long, default_value = "127.0.0.1:9999")]
    addr: String,
    /// Talk to a `--framing raw` server: send bare names, one read is one reply.
    #[arg(long)]
    raw: bool,
    /// Names to send, one message each.
    #[arg(default_values = ["Li", "Cheng", "victor"])]
    names: Vec<String>,
}

fn main() -> ExitCode {
    match run(&Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hello_client: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    if args.raw && args.names.iter().any(|name| name.is_empty()) {
        return Err("an empty name sends nothing in raw mode, so no reply would come".into());
    }
    if args.names.iter().any(|name| name.contains('\n')) {
        return Err("a name cannot contain a newline: it would be two messages".into());
    }
    let stream = TcpStream::connect(&args.addr)
        .map_err(|e| format!("cannot connect to {}: {e}", args.addr))?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    let mut writer = stream.try_clone()?;
    // A BufReader collects bytes until a newline; the raw mode reads straight through it.
    let mut reader = BufReader::new(stream);

    println!("{}", receive(&mut reader, args.raw)?);
    for name in &args.names {
        let message = if args.raw {
            name.clone()
        } else {
            format!("{name}\n")
        };
        writer.write_all(message.as_bytes())?;
        println!("{}", receive(&mut reader, args.raw)?);
    }
    writer.write_all(if args.raw { b"exit" } else { b"exit\n" })?;

    // The server answers `exit` by closing: wait for that end of file.
    let mut rest = Vec::new();
    match reader.read_to_end(&mut rest) {
        Ok(_) if rest.is_empty() => Ok(()),
        Ok(_) => Err(format!("unexpected bytes after exit: {rest:?}").into()),
        Err(e) => Err(format!("the server did not close after exit: {e}").into()),
    }
}

/// One reply: a line (without its `\n`), or in raw mode whatever one read returns.
fn receive(reader: &mut BufReader<TcpStream>, raw: bool) -> Result<String, Box<dyn Error>> {
    let mut bytes = Vec::new();
    let result = if raw {
        bytes.resize(1024, 0); // the tutorial's recv(1024)
        reader.read(&mut bytes).inspect(|&n| bytes.truncate(n))
    } else {
        reader.read_until(b'\n', &mut bytes)
    };
    match result {
        Ok(0) => Err("the server closed the connection".into()),
        Ok(_) => Ok(String::from_utf8_lossy(&bytes).trim_end().to_string()),
        Err(e) if is_timeout(&e) => Err(format!(
            "no reply within {TIMEOUT:?}{}",
            if raw {
                ""
            } else {
                " (is the server using --framing raw? try --raw)"
            }
        )
        .into()),
        Err(e) => Err(format!("cannot read the reply: {e}").into()),
    }
}

/// A read timeout shows up as `WouldBlock` on Unix and `TimedOut` on Windows.
fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}
