//! The invariants shared by the fuzz targets (`fuzz/`) and the proptest
//! properties (`tests/properties.rs`): however a stream is cut into reads,
//! and however small the output budget, the protocol layer must not panic
//! and must answer exactly as if the stream had arrived in one piece.
//!
//! Each check returns `Err(description)` instead of panicking, so that a
//! fuzz target can `panic!` on it and a property can `prop_assert!` it.
//! This file uses only reactord's public API and std, so `fuzz/` includes it
//! with `#[path]`.

use reactord::protocol::line::{LineFramer, LineTooLong};
use reactord::protocol::{Action, Framing, Protocol, Session};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A fixed time, so timestamp replies compare equal.
pub fn fixed_now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_795_293_650)
}

/// Cuts `input` at `cuts` (each taken modulo the length, then sorted).
pub fn split<'a>(input: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    points.sort_unstable();
    let mut chunks = Vec::new();
    let mut start = 0;
    for cut in points.into_iter().chain([input.len()]) {
        chunks.push(&input[start..cut]);
        start = cut;
    }
    chunks
}

/// Drives a session as the reactor does: each chunk offered until used (the
/// socket taking all output between calls), then EOF. Returns all output.
pub fn drive_session(
    protocol: Protocol,
    framing: Framing,
    max_line: usize,
    chunks: &[&[u8]],
    budget: usize,
) -> Result<Vec<u8>, String> {
    let now = fixed_now();
    let mut session = Session::new(protocol, framing, max_line);
    let mut out = Vec::new();
    let mut sent = Vec::new();
    session.on_connect(now, &mut out);
    for chunk in chunks {
        let mut rest: &[u8] = chunk;
        while !rest.is_empty() {
            let progress = session.on_bytes(rest, now, &mut out, budget);
            if progress.consumed > rest.len() {
                return Err(format!("consumed {} of {}", progress.consumed, rest.len()));
            }
            if progress.consumed == 0 && out.is_empty() && progress.action == Action::Continue {
                return Err("no progress with an empty output buffer".into());
            }
            rest = &rest[progress.consumed..];
            sent.append(&mut out);
            if progress.action == Action::Close {
                return Ok(sent);
            }
        }
    }
    session.on_eof(now, &mut out);
    sent.append(&mut out);
    Ok(sent)
}

/// Line framing (and echo): any chunking and budget give the unchunked output.
/// Raw framing answers each read, so there only "never panics, always progresses" holds.
pub fn check_session(
    protocol: Protocol,
    framing: Framing,
    input: &[u8],
    cuts: &[usize],
    budget: usize,
) -> Result<(), String> {
    let max_line = 16;
    let chunks = split(input, cuts);
    let chunked = drive_session(protocol, framing, max_line, &chunks, budget.max(1))?;
    if framing == Framing::Raw && protocol != Protocol::Echo {
        return Ok(());
    }
    let whole = drive_session(protocol, framing, max_line, &[input], 1 << 20)?;
    if chunked != whole {
        return Err(format!(
            "{protocol} {framing:?}: chunks {chunks:?} budget {budget} gave {chunked:?}, whole gave {whole:?}"
        ));
    }
    Ok(())
}

/// Feeds the framer chunk by chunk; checks its memory bound after every call.
pub fn frame(
    max_line: usize,
    chunks: &[&[u8]],
) -> Result<Result<Vec<Vec<u8>>, LineTooLong>, String> {
    let mut framer = LineFramer::new(max_line);
    let mut lines = Vec::new();
    for chunk in chunks {
        let mut pos = 0;
        while pos < chunk.len() {
            let step = framer.next_line(&chunk[pos..]);
            let found = match step {
                Ok(Some((line, used))) => {
                    if line.len() > max_line || used == 0 {
                        return Err(format!("line of {} bytes, used {used}", line.len()));
                    }
                    lines.push(line.to_vec());
                    Some(used)
                }
                Ok(None) => None,
                Err(err) => return Ok(Err(err)),
            };
            if framer.buffered() > max_line + 1 {
                return Err(format!(
                    "framer holds {} bytes, limit {max_line}",
                    framer.buffered()
                ));
            }
            match found {
                Some(used) => pos += used,
                None => break,
            }
        }
    }
    if let Some(last) = framer.take_unterminated() {
        lines.push(last);
    }
    Ok(Ok(lines))
}

/// The framer gives the same lines (or the same refusal) however the input is cut.
pub fn check_framer(input: &[u8], cuts: &[usize], max_line: usize) -> Result<(), String> {
    let max_line = max_line.max(1);
    let chunks = split(input, cuts);
    let chunked = frame(max_line, &chunks)?;
    let whole = frame(max_line, &[input])?;
    if chunked != whole {
        return Err(format!("chunks {chunks:?}: {chunked:?} vs whole {whole:?}"));
    }
    Ok(())
}

/// A datagram gets its protocol's one reply, built around the input unchanged.
pub fn check_datagram(protocol: Protocol, input: &[u8]) -> Result<(), String> {
    let mut out = Vec::new();
    if !protocol.on_datagram(input, fixed_now(), &mut out) {
        return Ok(());
    }
    let ok = match protocol {
        Protocol::Echo => out == input,
        Protocol::Hello => {
            out.starts_with(b"Hello, ") && out.ends_with(b"!") && out[7..out.len() - 1] == *input
        }
        // `[` + 24 characters of ctime + `] `, then the message.
        Protocol::Timestamp => {
            out.starts_with(b"[") && out.ends_with(input) && out.len() == input.len() + 27
        }
        // These answer any datagram with a fixed-size reply of their own.
        Protocol::Chargen => out.len() == 74 && out.ends_with(b"\r\n"),
        Protocol::Daytime => out.ends_with(b"\r\n") || out.ends_with(b"\n"),
        Protocol::Time => out.len() == 4,
        // No UDP service: any reply is wrong.
        Protocol::Discard | Protocol::Files | Protocol::Chat => false,
    };
    if !ok {
        return Err(format!("{protocol}: {input:?} -> {out:?}"));
    }
    Ok(())
}
