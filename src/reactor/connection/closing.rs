//! The end of a connection's life: flush, FIN, linger.
//!
//! Closing well is most of what separates a server that loses replies from
//! one that does not. The protocol said "close" (or the peer sent EOF, or the
//! server is shutting down), but replies may still be queued:
//!
//! 1. **Closing**: keep writing what is queued, and keep reading and
//!    dropping input, so a client that is blocked writing to us can finish
//!    and start reading its replies.
//! 2. When the last byte is in the kernel, `shutdown(Write)` sends FIN after
//!    it, and the connection is **lingering**: it reads and drops input until
//!    the peer's EOF (or the linger timeout). Closing a socket with unread
//!    input would make the kernel send RST, which can destroy replies the
//!    client has not read yet (nginx's `lingering_close` for the same reason).
//! 3. A file download cut short is the exception: a FIN would make a
//!    truncated file look complete, so that client gets a reset instead.

use super::{trace_write, would_block, Connection, Outcome, Phase};
use crate::reactor::context::Context;
use crate::reactor::token::Label;
use std::io::{self, Read};
use std::net::Shutdown;

/// What the closing phases decided for this pass of the turn's loop.
pub(super) enum Step {
    /// Go round the loop again (the phase changed).
    Again,
    /// The turn is over.
    Done(Outcome),
}

impl Connection {
    /// Writes what the kernel takes; the rest waits for a writable event.
    pub(super) fn flush(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        let flushed = self.outbox.flush(&mut self.stream, cx.stats)?;
        trace_write(cx.token, flushed, self.pending_output());
        if flushed > 0 {
            self.last_active = cx.moment.now;
        }
        Ok(())
    }

    /// The closing phases' part of a turn; `None` while the connection is open.
    pub(super) fn closing_step(&mut self, cx: &mut Context<'_>) -> io::Result<Option<Step>> {
        let step = match self.phase {
            Phase::Open => return Ok(None),
            Phase::Lingering => Step::Done(self.discard_input(cx)?),
            Phase::Closing if self.session.stream_cut_short() => {
                // A read error or a shutdown mid-file: a FIN would make the
                // truncated file look complete, so the client gets a reset.
                self.stream.abort_on_close();
                Step::Done(Outcome::Close("file stream cut short"))
            }
            Phase::Closing if self.pending_output() == 0 => self.send_fin(cx),
            Phase::Closing => Step::Done(self.discard_while_flushing(cx)?),
        };
        Ok(Some(step))
    }

    /// Every reply is in the kernel: FIN after the last byte, then linger
    /// (or close at once if the peer has already sent its EOF).
    fn send_fin(&mut self, cx: &mut Context<'_>) -> Step {
        let _ = self.stream.shutdown(Shutdown::Write);
        log::trace!(
            "{} all output sent: shut down our write side (FIN)",
            Label(cx.token)
        );
        if self.peer_eof {
            return Step::Done(Outcome::Close("done"));
        }
        self.phase = Phase::Lingering;
        log::trace!(
            "{} lingering: discarding input until the peer's EOF",
            Label(cx.token)
        );
        // Lingering reads move no useful bytes: the clock stops here.
        self.last_active = cx.moment.now;
        Step::Again
    }

    /// Closing with replies still queued: keep reading (and dropping) input,
    /// so a client blocked writing to us can finish and start reading.
    fn discard_while_flushing(&mut self, cx: &mut Context<'_>) -> io::Result<Outcome> {
        if self.peer_eof {
            return Ok(Outcome::Keep);
        }
        match self.discard_input(cx)? {
            // EOF: nothing more to read; the replies still go out, then FIN.
            Outcome::Close(_) => {
                self.peer_eof = true;
                Ok(Outcome::Keep)
            }
            outcome => Ok(outcome),
        }
    }

    /// Read and throw away until EOF (`Close`), `WouldBlock` (`Keep`) or the turn's budget (`Yield`).
    fn discard_input(&mut self, cx: &mut Context<'_>) -> io::Result<Outcome> {
        let mut moved = 0;
        while moved < cx.limits.turn_bytes.max(1) {
            let read = self.stream.read(&mut cx.scratch.read);
            log::trace!("{} read to discard: {read:?}", Label(cx.token));
            match read {
                Ok(0) => return Ok(Outcome::Close("done")),
                Ok(n) => {
                    moved += n;
                    cx.stats.bytes_in += n as u64;
                }
                Err(err) if would_block(&err) => return Ok(Outcome::Keep),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        Ok(Outcome::Yield)
    }
}
