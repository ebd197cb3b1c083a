//! `http_get`: the raw HTTP client of tutorials 000 and 003, in Rust.
//!
//! The numbered tutorials (000 to 004) are the classic Python socket
//! tutorials this project grew from: the README's "Where the protocols come
//! from" lists them and quotes their server.
//!
//! The tutorials fetch `www.sina.com.cn` by hand: open a TCP socket to port 80,
//! send `GET / HTTP/1.1` with a `Host` header and `Connection: close`, read
//! until the server closes, split the bytes at the first blank line
//! (`\r\n\r\n`), print the header and save the body. No HTTP library is
//! used on purpose: HTTP/1.1 is text over an ordinary TCP socket.
//!
//! ```sh
//! cargo run --example http_get -- http://example.com/
//! cargo run --example http_get -- http://127.0.0.1:8000/index.html --out index.html
//! ```
//!
//! What to notice:
//! - **`Connection: close` is what makes "read to EOF" correct.** Without it
//!   an HTTP/1.1 server keeps the connection open for the next request and
//!   the read would wait forever; the end of the body would then have to be
//!   found from `Content-Length` or chunked encoding.
//! - **The body is saved exactly as received.** A server may still send it
//!   chunked (`Transfer-Encoding: chunked`, hex sizes between the pieces) or
//!   compressed; a real client decodes those. This one only warns.
//! - Only `http://` works: `https://` needs TLS, a whole protocol between TCP
//!   and HTTP, which is the job of a library, not of a raw socket.

use clap::Parser;
use std::error::Error;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::Duration;

/// How long one read may wait for the server.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Fetch an http:// URL over a raw TCP socket; print the header, save the body.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// The page to fetch: http://host[:port]/path (port 80 if omitted).
    url: String,
    /// Where to save the body.
    #[arg(long, default_value = "page.html")]
    out: String,
}

fn main() -> ExitCode {
    match run(&Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("http_get: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    let (authority, host, port, path) = parse_url(&args.url)?;
    let mut stream = TcpStream::connect((host, port))
        .map_err(|e| format!("cannot connect to {authority}: {e}"))?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\
         User-Agent: reactord-http_get-example\r\n\r\n"
    );
    stream.write_all(request.as_bytes())?;

    // The tutorial's loop: recv until the server closes.
    let mut data = Vec::new();
    stream.read_to_end(&mut data).map_err(|e| match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            format!("{authority} sent nothing for {TIMEOUT:?}")
        }
        _ => format!("cannot read from {authority}: {e}"),
    })?;

    let split = data
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("no blank line ending the header in {} bytes", data.len()))?;
    let (header, body) = (&data[..split], &data[split + 4..]);
    let header = String::from_utf8_lossy(header);
    println!("{header}");

    for line in header.lines().skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        if name == "transfer-encoding" && !value.eq_ignore_ascii_case("identity") {
            eprintln!("note: the body is {value}-encoded and saved as received");
        }
        if name == "content-length" && value.parse() != Ok(body.len()) {
            eprintln!(
                "note: Content-Length says {value} but {} bytes came",
                body.len()
            );
        }
    }
    std::fs::write(&args.out, body).map_err(|e| format!("cannot write {}: {e}", args.out))?;
    eprintln!("saved {} body bytes to {}", body.len(), args.out);
    Ok(())
}

/// `http://host[:port]/path` into (the `host[:port]` text, host, port, path).
fn parse_url(url: &str) -> Result<(&str, &str, u16, &str), String> {
    if url.starts_with("https://") {
        return Err(
            "https:// needs TLS, which a raw TCP socket does not speak; use http://".into(),
        );
    }
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url:?} is not an http:// URL"))?;
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], &rest[i..]),
        Some(_) => return Err(format!("{url:?}: write a path after the host, e.g. /")),
        None => (rest, "/"),
    };
    let path = path.split('#').next().unwrap_or(path); // a fragment is never sent
                                                       // `[::1]:8080`: the brackets keep an IPv6 address's colons apart from the port's.
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => {
            let port = port
                .parse()
                .map_err(|_| format!("bad port {port:?} in {url:?}"))?;
            (host, port)
        }
        _ => (authority, 80),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("{url:?} names no host"));
    }
    Ok((authority, host, port, path))
}
