//! `--metrics ADDR`: the Prometheus endpoint, served by the loop itself.
//!
//! A scrape is one more non-blocking TCP connection on the same `Poll`: no
//! thread, no lock shared with the hot path, and the figures are exact as of
//! the turn that answers (with `--reactors N`, the siblings' as of their
//! last turn: see `vitals.rs`). The HTTP is [`crate::protocol::http`] (sans-IO);
//! this file moves its bytes. A scraper gets [`MAX_SCRAPERS`] connections at
//! most (more are closed at once), each closed after [`IDLE`] without a
//! request, and its unsent reply is written as the socket takes it, so a slow
//! or hostile scraper costs a few kilobytes and never stalls the loop.
//! [`encode`] turns the counters into the text format; [`health`] measures
//! the loop's own turns.

mod encode;
mod health;

pub(super) use health::{Health, LoopFigures, TurnHistogram};

use super::source::StartError;
use super::{token, Reactor, StatsHandle};
use crate::protocol::http::{self, HttpError, Parsed, Response};
use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry};
use slab::Slab;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Scrape connections served at once.
pub(super) const MAX_SCRAPERS: usize = 16;
/// A scrape connection without a request for this long is closed.
pub(super) const IDLE: Duration = Duration::from_secs(10);
/// Pipelined requests answered per turn; the rest wait for the next turn, and
/// none is read while a reply is unsent, so a scraper's output stays small.
const REQUESTS_PER_TURN: usize = 4;

#[derive(Debug)]
struct Scraper {
    stream: TcpStream,
    input: Vec<u8>,
    output: Vec<u8>,
    close_when_sent: bool,
    deadline: Instant,
}

/// The metrics listener and its connections.
#[derive(Debug)]
pub(super) struct MetricsServer {
    listener: TcpListener,
    scrapers: Slab<Scraper>,
}

impl MetricsServer {
    /// The earliest idle deadline of a scraper.
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.scrapers.iter().map(|(_, s)| s.deadline).min()
    }

    /// Closes scrapers that have been idle too long.
    pub(super) fn expire(&mut self, now: Instant, registry: &Registry) {
        let expired: Vec<usize> = self
            .scrapers
            .iter()
            .filter(|(_, s)| s.deadline <= now)
            .map(|(key, _)| key)
            .collect();
        for key in expired {
            let mut scraper = self.scrapers.remove(key);
            let _ = registry.deregister(&mut scraper.stream);
        }
    }
}

impl Reactor {
    /// Serves the metrics at `addr` (port 0: any); returns the bound address.
    pub fn serve_metrics(&mut self, addr: SocketAddr) -> Result<SocketAddr, StartError> {
        self.serve_metrics_with(addr, Vec::new())
    }

    /// Like [`serve_metrics`](Self::serve_metrics), adding the counters of
    /// sibling reactors (`--reactors N`) to the totals, from their handles.
    pub fn serve_metrics_with(
        &mut self,
        addr: SocketAddr,
        siblings: Vec<StatsHandle>,
    ) -> Result<SocketAddr, StartError> {
        self.ops.sibling_stats = siblings;
        let failed = |source| StartError::Bind {
            what: format!("tcp metrics {addr}"),
            source,
        };
        // Never SO_REUSEPORT: a second process on this port would answer half the scrapes.
        let options = crate::net::SocketOptions::nonblocking(false);
        let listener = crate::net::tcp_listener(addr, options).map_err(failed)?;
        let mut listener = TcpListener::from_std(listener);
        let bound = listener.local_addr().map_err(failed)?;
        self.poll
            .registry()
            .register(&mut listener, token::metrics(None), Interest::READABLE)
            .map_err(StartError::Poll)?;
        self.ops.metrics = Some(MetricsServer {
            listener,
            scrapers: Slab::new(),
        });
        Ok(bound)
    }

    /// An event on the metrics listener (`None`) or a scraper.
    pub(super) fn handle_metrics(&mut self, key: Option<usize>, now: Instant) {
        match key {
            None => self.accept_scrapers(now),
            Some(key) => self.serve_scraper(key, now),
        }
    }

    fn accept_scrapers(&mut self, now: Instant) {
        let Some(server) = &mut self.ops.metrics else {
            return;
        };
        loop {
            let mut stream = match server.listener.accept() {
                Ok((stream, _)) => stream,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    log::warn!("metrics: accept: {err}");
                    return;
                }
            };
            if server.scrapers.len() >= MAX_SCRAPERS {
                log::debug!("metrics: {MAX_SCRAPERS} scrapers already connected; closing one more");
                continue;
            }
            let key = server.scrapers.vacant_key();
            let interest = Interest::READABLE | Interest::WRITABLE;
            if self
                .poll
                .registry()
                .register(&mut stream, token::metrics(Some(key)), interest)
                .is_err()
            {
                continue;
            }
            server.scrapers.insert(Scraper {
                stream,
                input: Vec::new(),
                output: Vec::new(),
                close_when_sent: false,
                deadline: now + IDLE,
            });
        }
    }

    fn scraper(&mut self, key: usize) -> Option<&mut Scraper> {
        self.ops.metrics.as_mut()?.scrapers.get_mut(key)
    }

    fn serve_scraper(&mut self, key: usize, now: Instant) {
        let Some(scraper) = self.scraper(key) else {
            return;
        };
        // Backpressure: no new request is read while a reply is still unsent.
        let flushed = write_available(scraper).map(|()| scraper.output.is_empty());
        let eof = match flushed {
            Ok(false) => return,
            Ok(true) if scraper.close_when_sent => return self.close_scraper(key),
            Ok(true) => read_available(scraper),
            Err(_) => true,
        };
        let input = std::mem::take(&mut scraper.input);
        let (consumed, replies, close) = self.answer_all(&input);
        let Some(scraper) = self.scraper(key) else {
            return;
        };
        scraper.input = input;
        scraper.input.drain(..consumed);
        scraper.output.extend_from_slice(&replies);
        scraper.close_when_sent |= close || eof;
        if consumed > 0 {
            scraper.deadline = now + IDLE;
        }
        let failed = write_available(scraper).is_err();
        if failed || (scraper.close_when_sent && scraper.output.is_empty()) {
            self.close_scraper(key);
        } else if scraper.output.is_empty() && consumed > 0 && !scraper.input.is_empty() {
            // More pipelined requests are buffered and no event will announce them.
            self.yielded.push(token::metrics(Some(key)));
        }
    }

    /// Answers every complete request in `input`: (bytes used, replies, close after them).
    fn answer_all(&self, input: &[u8]) -> (usize, Vec<u8>, bool) {
        let (mut consumed, mut replies) = (0, Vec::new());
        for _ in 0..REQUESTS_PER_TURN {
            match http::parse_request(&input[consumed..]) {
                Parsed::Incomplete => return (consumed, replies, false),
                Parsed::Request(request) => {
                    consumed += request.length;
                    self.answer(&request, !request.keep_alive, &mut replies);
                    if !request.keep_alive {
                        return (consumed, replies, true);
                    }
                }
                Parsed::Error(err) => {
                    let status = if err == HttpError::TooLarge { 431 } else { 400 };
                    Response::error(status, true).render(&mut replies);
                    return (consumed, replies, true);
                }
            }
        }
        (consumed, replies, false)
    }

    fn close_scraper(&mut self, key: usize) {
        if let Some(server) = &mut self.ops.metrics {
            if let Some(mut scraper) = server.scrapers.try_remove(key) {
                let _ = self.poll.registry().deregister(&mut scraper.stream);
            }
        }
    }

    fn answer(&self, request: &http::Request, close: bool, out: &mut Vec<u8>) {
        if request.method != "GET" {
            return Response::error(405, close).render(out);
        }
        if request.path != "/metrics" {
            return Response::error(404, close).render(out);
        }
        let body = self.metrics_text();
        Response {
            status: 200,
            content_type: encode::CONTENT_TYPE,
            body: body.as_bytes(),
            close,
        }
        .render(out);
    }
}

/// Reads what is queued, at most one head's worth beyond what is buffered; true at EOF or error.
fn read_available(scraper: &mut Scraper) -> bool {
    let mut buf = [0u8; 4096];
    while scraper.input.len() <= http::MAX_HEAD {
        match scraper.stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(n) => scraper.input.extend_from_slice(&buf[..n]),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return false,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return true,
        }
    }
    false
}

/// Writes what the socket takes; the rest waits for a writable event.
fn write_available(scraper: &mut Scraper) -> io::Result<()> {
    while !scraper.output.is_empty() {
        match scraper.stream.write(&scraper.output) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                scraper.output.drain(..n);
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}
