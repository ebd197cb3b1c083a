//! `download`: the file downloader client of tutorial 004 (`文件下载器客户端`), in Rust.
//!
//! The numbered tutorials (000 to 004) are the classic Python socket
//! tutorials this project grew from: the README's "Where the protocols come
//! from" lists them and quotes their server.
//!
//! Against reactord's `files` service (`reactord --files-root DIR`, port
//! 7020): send a file name and a newline; the server streams the file's bytes
//! and closes, or sends one line `error: <reason>` and closes. The bytes are
//! saved in `--dir` (default: the current directory) as `--prefix` + the
//! name's last component (`download_notes.txt`). Against
//! `reactord --framing raw`, add `--raw` to send the bare name, as the tutorial
//! does: that server takes one read as the name, newline included.
//!
//! ```sh
//! cargo run --release -- --files-root /some/dir &
//! cargo run --example download -- notes.txt --dir ~/Downloads
//! ```
//!
//! What to notice:
//! - **The tutorial reads once.** Its `recv(1024)` keeps at most the first
//!   1024 bytes of the file. A stream has no message boundaries: the only way
//!   to know a file is complete here is to read until the server closes
//!   (a read of 0 bytes), writing each chunk to disk as it arrives, so a
//!   large file never sits whole in memory.
//! - **This protocol is ambiguous.** There is no header: a refusal and a file
//!   are told apart only by the first bytes. A file whose content starts with
//!   `error: ` is indistinguishable from a refusal (this client will report
//!   it as an error), and without a length, a server that dies half way looks
//!   like a complete, shorter file. Real protocols send a status and a length
//!   (HTTP's status line and `Content-Length`) for exactly these reasons.
//! - On any failure the partial file is removed, so a file on disk always
//!   means a download that ended with the server's orderly close.

use clap::Parser;
use std::error::Error;
use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// How long one read may wait for the server.
const TIMEOUT: Duration = Duration::from_secs(10);
/// What a refusal starts with.
const ERROR: &[u8] = b"error: ";

/// Download one file from reactord's files service.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// The file's name, relative to the server's --files-root.
    name: String,
    /// Server address (reactord's files service listens on 127.0.0.1:7020).
    #[arg(long, default_value = "127.0.0.1:7020")]
    addr: String,
    /// Saved as PREFIX + the name's last component.
    #[arg(long, default_value = "download_")]
    prefix: String,
    /// The directory to save into; it must exist. Default: the current directory.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// For a `--framing raw` server: send the bare name, without the newline.
    #[arg(long)]
    raw: bool,
}

fn main() -> ExitCode {
    match run(&Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("download: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    let base = Path::new(&args.name)
        .file_name()
        .ok_or_else(|| format!("{:?} names no file", args.name))?;
    let out = args
        .dir
        .join(format!("{}{}", args.prefix, base.to_string_lossy()));
    if args.name.contains('\n') {
        return Err("a file name cannot contain a newline in this protocol".into());
    }

    let start = Instant::now();
    let mut stream = TcpStream::connect(&args.addr)
        .map_err(|e| format!("cannot connect to {}: {e}", args.addr))?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    let newline = if args.raw { "" } else { "\n" };
    stream.write_all(format!("{}{newline}", args.name).as_bytes())?;

    // Read until the first bytes can tell a refusal from a file.
    let mut head = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    while head.len() < ERROR.len() && ERROR.starts_with(&head) {
        match read(&mut stream, &mut buf)? {
            0 => break,
            n => head.extend_from_slice(&buf[..n]),
        }
    }
    if head.starts_with(ERROR) {
        stream.read_to_end(&mut head)?; // the rest of the error line
        let reason = String::from_utf8_lossy(&head);
        return Err(format!("the server refused {:?}: {}", args.name, reason.trim_end()).into());
    }

    let mut file =
        File::create(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let saved = save(&mut stream, &mut file, head, &mut buf);
    drop(file);
    let bytes = match saved {
        Ok(bytes) => bytes,
        Err(e) => {
            let _ = std::fs::remove_file(&out); // never leave a partial file behind
            return Err(format!("download of {:?} failed, nothing saved: {e}", args.name).into());
        }
    };
    let secs = start.elapsed().as_secs_f64();
    println!(
        "saved {bytes} bytes to {} in {secs:.3} s ({:.1} MiB/s)",
        out.display(),
        bytes as f64 / (1024.0 * 1024.0) / secs.max(1e-9)
    );
    Ok(())
}

/// Writes `head` and then every chunk until the server closes; returns the byte count.
fn save(
    stream: &mut TcpStream,
    file: &mut File,
    head: Vec<u8>,
    buf: &mut [u8],
) -> Result<u64, Box<dyn Error>> {
    file.write_all(&head)?;
    let mut total = head.len() as u64;
    loop {
        match read(stream, buf)? {
            0 => break,
            n => {
                file.write_all(&buf[..n])?;
                total += n as u64;
            }
        }
    }
    file.sync_all()?;
    Ok(total)
}

/// One read, with a timeout turned into a readable message.
fn read(stream: &mut TcpStream, buf: &mut [u8]) -> Result<usize, Box<dyn Error>> {
    stream.read(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            format!("the server sent nothing for {TIMEOUT:?}").into()
        }
        _ => format!("cannot read: {e}").into(),
    })
}
