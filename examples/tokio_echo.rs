//! A TCP echo server written the way most tokio users would write it, for `reactord compare`.
//!
//! One task per connection, an 8 KiB buffer, `read` then `write_all`, on the
//! multi-threaded runtime with its default worker count (one per core). This
//! is the runtime a reader would otherwise pick, so it is the fair third
//! column: no tuning beyond `TCP_NODELAY`, which reactord sets too.
//!
//! ```sh
//! cargo build --release --examples
//! ./target/release/examples/tokio_echo 127.0.0.1:0   # prints: listening tcp echo 127.0.0.1:PORT
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

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7007".to_string());
    if addr == "--help" || addr == "-h" {
        println!(
            "usage: tokio_echo [ADDR]   (default 127.0.0.1:7007; port 0 picks a free port)\n\n\
             A TCP echo server in typical tokio style, the third column of `reactord compare`.\n\
             Prints `listening tcp echo ADDR`; stops on SIGINT or SIGTERM."
        );
        return Ok(());
    }
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
