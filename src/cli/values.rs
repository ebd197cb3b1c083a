//! Parsers of single flag values, each with its range checked at parse time.
//!
//! clap calls these while it reads the command line, so a value out of range
//! is reported like any other usage error: the flag, the value and the range,
//! before anything is bound or started. [`ReactorCount`] is here too: it is
//! what `--reactors` parses into.

use crate::config::{Binding, Transport, UnixBinding};

/// The smallest non-zero `--sndbuf` (Linux raises smaller values to about this anyway).
const MIN_SNDBUF: u64 = 4096;
/// The largest `--sndbuf`.
const MAX_SNDBUF: u64 = 64 << 20;

/// How many reactors `--reactors` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReactorCount {
    /// Exactly this many (at least 1).
    Fixed(usize),
    /// One per core this process may run on.
    Auto,
}

impl ReactorCount {
    /// The number to run, `cores` being what `auto` means here.
    pub fn resolve(self, cores: usize) -> usize {
        match self {
            ReactorCount::Fixed(n) => n,
            ReactorCount::Auto => cores.max(1),
        }
    }
}

/// The most reactors `--reactors` accepts: far more than any machine's cores,
/// few enough that a typo cannot start a million threads.
pub const MAX_REACTORS: usize = 1024;

pub(super) fn parse_reactors(text: &str) -> Result<ReactorCount, String> {
    if text == "auto" {
        return Ok(ReactorCount::Auto);
    }
    match text.parse::<usize>() {
        Ok(n) if (1..=MAX_REACTORS).contains(&n) => Ok(ReactorCount::Fixed(n)),
        _ => Err(format!(
            "'{text}' is not a number of reactors from 1 to {MAX_REACTORS}, or auto"
        )),
    }
}

pub(super) fn parse_tcp(spec: &str) -> Result<Binding, String> {
    Binding::parse(Transport::Tcp, spec)
}

pub(super) fn parse_udp(spec: &str) -> Result<Binding, String> {
    Binding::parse(Transport::Udp, spec)
}

pub(super) fn parse_unix(spec: &str) -> Result<UnixBinding, String> {
    UnixBinding::parse(false, spec)
}

pub(super) fn parse_unixgram(spec: &str) -> Result<UnixBinding, String> {
    UnixBinding::parse(true, spec)
}

pub(super) fn parse_sndbuf(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(bytes) if bytes == 0 || (MIN_SNDBUF..=MAX_SNDBUF).contains(&bytes) => Ok(bytes),
        _ => Err(format!(
            "'{text}' is not 0 or a number of bytes from {MIN_SNDBUF} to {MAX_SNDBUF}"
        )),
    }
}

pub(super) fn parse_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(secs) if secs.is_finite() && (0.0..=86_400.0).contains(&secs) => Ok(secs),
        _ => Err(format!(
            "'{text}' is not a number of seconds from 0 to 86400"
        )),
    }
}

/// `K:SECS` for the hidden `--test-stall-reactor`: a reactor index and a delay.
pub(super) fn parse_stall(text: &str) -> Result<(usize, u64), String> {
    let (k, secs) = text
        .split_once(':')
        .ok_or_else(|| format!("{text:?}: expected K:SECS"))?;
    let k = k
        .parse()
        .map_err(|_| format!("{k:?}: not a reactor index"))?;
    let secs = secs
        .parse()
        .map_err(|_| format!("{secs:?}: not whole seconds"))?;
    Ok((k, secs))
}
