//! A bulk reader: one client thread reading many chargen streams as fast as it can.
//!
//! Shared by the fairness test (`tests/adversarial_loop.rs`) and the fairness
//! benchmark (`benches/fairness.rs`, which includes this file by path), so the
//! load that both put beside a quiet client is the same code. What differs
//! between them stays with the caller: the read buffer's size (it sets how
//! much one `read` can take, which the benchmark's figures depend on) and
//! what a stream closed by the server means (a failure for the test; for the
//! benchmark, the end of that reader).
//!
//! This file stands alone (no `super::`), so that a crate outside `tests/` can
//! include it with `#[path]`.

use mio::{Events, Interest, Poll, Token};
use std::io::{ErrorKind, Read};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Why [`read_flat_out`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkEnd {
    /// `stop` was set.
    Stopped,
    /// The server closed one of the streams (a read returned 0).
    ServerClosed,
}

/// Reads every stream in `streams` with one mio loop until `stop` is set or the
/// server closes one, adding the bytes to `total`; reads take up to `buf_len`
/// bytes. Panics on a read error.
pub fn read_flat_out(
    streams: Vec<TcpStream>,
    stop: Arc<AtomicBool>,
    total: Arc<AtomicU64>,
    buf_len: usize,
) -> BulkEnd {
    let mut poll = Poll::new().unwrap();
    let mut streams: Vec<mio::net::TcpStream> = streams
        .into_iter()
        .map(|s| {
            s.set_nonblocking(true).unwrap();
            mio::net::TcpStream::from_std(s)
        })
        .collect();
    for (i, stream) in streams.iter_mut().enumerate() {
        poll.registry()
            .register(stream, Token(i), Interest::READABLE)
            .unwrap();
    }
    let mut events = Events::with_capacity(256);
    let mut buf = vec![0u8; buf_len];
    while !stop.load(Ordering::Acquire) {
        poll.poll(&mut events, Some(Duration::from_millis(50)))
            .unwrap();
        for event in events.iter() {
            let stream = &mut streams[event.token().0];
            loop {
                match stream.read(&mut buf) {
                    Ok(0) => return BulkEnd::ServerClosed,
                    Ok(n) => total.fetch_add(n as u64, Ordering::Relaxed),
                    Err(err) if err.kind() == ErrorKind::WouldBlock => break,
                    Err(err) => panic!("bulk read: {err}"),
                };
            }
        }
    }
    BulkEnd::Stopped
}
