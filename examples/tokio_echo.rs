//! A TCP echo server written the way most tokio users would write it, for `reactord compare`.
//!
//! One task per connection, an 8 KiB buffer, `read` then `write_all`. By
//! default it runs on the multi-threaded runtime with its default worker count
//! (one per core, or `TOKIO_WORKER_THREADS`): the runtime a reader would
//! otherwise pick, so it is the fair third column of `compare` and
//! `compare --cores`. No tuning beyond `TCP_NODELAY`, which reactord sets too.
//!
//! `--current-thread` runs the very same echo code on tokio's current-thread
//! runtime instead: one thread, one event loop, no work stealing, no
//! cross-thread wake-ups. That is reactord's own shape with one reactor, so
//! `reactord compare --one-core` measures the two against each other, each
//! pinned to one CPU.
//!
//! ```sh
//! cargo build --release --examples
//! ./target/release/examples/tokio_echo 127.0.0.1:0   # prints: listening tcp echo 127.0.0.1:PORT
//! ./target/release/examples/tokio_echo --current-thread 127.0.0.1:0
//! ```
//!
//! It stops on SIGINT or SIGTERM.

use reactord::net::{self, SocketOptions};
use std::io::{self, Write};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{signal, SignalKind};

/// The buffer per connection: what tokio's own echo example and most tutorials use.
const BUFFER: usize = 8 * 1024;

const USAGE: &str = "usage: tokio_echo [--current-thread] [ADDR]   \
(default 127.0.0.1:7007; port 0 picks a free port)\n\n\
A TCP echo server in typical tokio style, the third column of `reactord compare`.\n\
Prints `listening tcp echo ADDR`; stops on SIGINT or SIGTERM.\n\n\
Options:\n  \
--current-thread  run on tokio's current-thread runtime (one thread), as\n                    \
`reactord compare --one-core` does; default: the multi-thread\n                    \
runtime, one worker per core (TOKIO_WORKER_THREADS overrides)\n  \
-h, --help        print this help";

/// What the command line asks for.
struct Options {
    addr: String,
    current_thread: bool,
}

/// `Ok(None)` for `--help`; an unknown option or a second address is an error.
fn parse_args(args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let mut options = Options {
        addr: "127.0.0.1:7007".to_string(),
        current_thread: false,
    };
    let mut addr_seen = false;
    for arg in args {
        match arg.as_str() {
            "--help" | "-h" => return Ok(None),
            "--current-thread" => options.current_thread = true,
            flag if flag.starts_with('-') => return Err(format!("unknown option '{flag}'")),
            _ if addr_seen => return Err(format!("unexpected argument '{arg}'")),
            _ => {
                options.addr = arg;
                addr_seen = true;
            }
        }
    }
    Ok(Some(options))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{USAGE}");
            return Ok(());
        }
        Err(err) => {
            eprintln!("error: {err} (see --help)");
            std::process::exit(2);
        }
    };
    // Built explicitly rather than with #[tokio::main] so one flag picks the
    // runtime; `enable_all` turns on the I/O and time drivers, as the macro does.
    let runtime = if options.current_thread {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    }
    .enable_all()
    .build()?;
    runtime.block_on(serve(&options.addr))
}

/// Binds `addr`, prints the `listening` line, and accepts until SIGINT or SIGTERM.
async fn serve(addr: &str) -> Result<(), Box<dyn std::error::Error>> {
    // Bound by the same function as reactord's own servers: same backlog, same options.
    let bound = addr
        .parse()
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "expected IP:PORT"))
        .and_then(|addr| net::tcp_listener(addr, SocketOptions::nonblocking(false)))
        .and_then(TcpListener::from_std);
    let listener = match bound {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("error: cannot bind tcp echo {addr}: {err}");
            std::process::exit(1);
        }
    };
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening tcp echo {}", listener.local_addr()?)?;
    stdout.flush()?;
    drop(stdout);

    let mut terminate = signal(SignalKind::terminate())?;
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(echo(stream));
                }
                // Out of descriptors or a connection reset before accept: keep serving.
                Err(err) => {
                    eprintln!("accept: {err}");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            },
            _ = tokio::signal::ctrl_c() => break,
            _ = terminate.recv() => break,
        }
    }
    Ok(())
}

/// Echoes until the client closes or an error; an error ends this connection only.
async fn echo(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut buf = vec![0u8; BUFFER];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if stream.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
