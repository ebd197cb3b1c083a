//! One connection's round trip: what the crowd does when connection `i` is ready.
//!
//! A connection moves `New -> Connecting -> Echoing -> Held`, or to `Failed`
//! from anywhere. Every method here tries only non-blocking operations and
//! stops at `WouldBlock`, so a stale or spurious event (a token whose socket
//! already failed, a readiness with nothing behind it) does no harm. The
//! payload is computed from the connection's number, never stored: checking
//! an echo costs no memory per connection.

use super::connect::connect;
use super::{Crowd, Phase, PAYLOAD};
use mio::{Interest, Token};
use std::io::{self, Read, Write};
use std::time::Instant;

impl Crowd<'_> {
    /// Starts connection `i`'s connect; a failure here (no address, no descriptor) is counted.
    pub(super) fn open(&mut self, i: usize) {
        let source = self.config.source(i);
        let opened = connect(self.config.addr, source).and_then(|mut stream| {
            self.poll.registry().register(
                &mut stream,
                Token(i),
                Interest::READABLE | Interest::WRITABLE,
            )?;
            Ok(stream)
        });
        match opened {
            Ok(stream) => {
                let slot = &mut self.slots[i];
                slot.stream = Some(stream);
                slot.phase = Phase::Connecting;
                self.in_flight += 1;
                self.pending
                    .push_back((i, Instant::now() + self.config.timeout));
            }
            Err(err) => {
                self.slots[i].phase = Phase::Failed;
                self.count(format!("connect from {source}: {err}"));
            }
        }
    }

    /// Reacts to readiness of connection `i`; stale and spurious events do nothing.
    pub(super) fn handle(&mut self, i: usize) {
        let result = match self.slots[i].phase {
            Phase::Connecting => self.finish_connect(i),
            Phase::Echoing => self.write(i).and_then(|()| self.read(i)),
            Phase::Held => self.read(i),
            Phase::New | Phase::Failed => Ok(()),
        };
        if let Err(reason) = result {
            self.fail(i, reason);
        }
    }

    fn finish_connect(&mut self, i: usize) -> Result<(), String> {
        let Some(stream) = &self.slots[i].stream else {
            return Ok(());
        };
        if let Ok(Some(err)) | Err(err) = stream.take_error() {
            return Err(format!("connect: {err}"));
        }
        match stream.peer_addr() {
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::NotConnected => return Ok(()), // still going
            Err(err) => return Err(format!("connect: {err}")),
        }
        self.established += 1;
        // Still in flight under the connect's deadline: connect and first echo share one timeout.
        self.begin_echo(i);
        // Bytes that came with the connect's readiness raise no new edge: read them now.
        self.read(i)
    }

    /// Starts the next round trip on connection `i` (already counted in flight) and writes.
    pub(super) fn begin_echo(&mut self, i: usize) {
        let slot = &mut self.slots[i];
        slot.phase = Phase::Echoing;
        slot.written = 0;
        slot.matched = 0;
        if let Err(reason) = self.write(i) {
            self.fail(i, reason);
        }
    }

    fn write(&mut self, i: usize) -> Result<(), String> {
        let payload = self.config.payload(i, self.slots[i].rounds);
        let slot = &mut self.slots[i];
        let Some(stream) = &mut slot.stream else {
            return Ok(());
        };
        while slot.written < PAYLOAD {
            match stream.write(&payload[usize::from(slot.written)..]) {
                Ok(n) => slot.written += n as u8, // n <= PAYLOAD
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(format!("send: {err}")),
            }
        }
        Ok(())
    }

    /// Reads and checks echoed bytes; completing the payload verifies the round.
    fn read(&mut self, i: usize) -> Result<(), String> {
        let payload = self.config.payload(i, self.slots[i].rounds);
        let slot = &mut self.slots[i];
        let Some(stream) = &mut slot.stream else {
            return Ok(());
        };
        let mut buf = [0u8; 64];
        loop {
            let n = match stream.read(&mut buf) {
                Ok(0) if slot.phase == Phase::Held => {
                    return Err("closed by the server while idle".into())
                }
                Ok(0) => return Err("closed by the server before the echo".into()),
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(format!("receive: {err}")),
            };
            if slot.phase != Phase::Echoing {
                return Err("bytes while idle, which nobody asked for".into());
            }
            let from = usize::from(slot.matched);
            let take = n.min(payload.len() - from);
            if buf[..take] != payload[from..from + take] {
                return Err("echo differs from what was sent".into());
            }
            if take < n {
                return Err("more bytes back than were sent".into());
            }
            slot.matched += n as u8; // n == take <= PAYLOAD - matched
            if slot.matched == PAYLOAD && slot.written == PAYLOAD {
                slot.rounds += 1;
                slot.phase = Phase::Held;
                self.in_flight -= 1;
            }
        }
    }

    /// Counts `reason` and drops connection `i`'s socket.
    pub(super) fn fail(&mut self, i: usize, reason: String) {
        let slot = &mut self.slots[i];
        if matches!(slot.phase, Phase::Connecting | Phase::Echoing) {
            self.in_flight -= 1;
        }
        slot.phase = Phase::Failed;
        if let Some(mut stream) = slot.stream.take() {
            let _ = self.poll.registry().deregister(&mut stream);
        }
        self.count(reason);
    }

    fn count(&mut self, reason: String) {
        *self.errors.entry(reason).or_insert(0) += 1;
    }
}
