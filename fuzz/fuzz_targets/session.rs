//! Every protocol handler behind a TCP session: any chunking and any output
//! budget give the unchunked replies (line framing), and nothing panics (raw).
//!
//! Input: byte 0 picks the protocol (from `Protocol::ALL`, so new protocols
//! are covered) and the framing, byte 1 the output budget, byte 2 the number
//! of cuts, then one byte per cut, then the stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reactord::protocol::{Framing, Protocol};

#[path = "../../tests/common/chunking.rs"]
#[allow(dead_code)]
mod chunking;

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let protocol = Protocol::ALL[usize::from(data[0] >> 1) % Protocol::ALL.len()];
    let framing = if data[0] & 1 == 0 {
        Framing::Line
    } else {
        Framing::Raw
    };
    let budget = usize::from(data[1]) + 1;
    let ncuts = usize::from(data[2] % 16).min(data.len() - 3);
    let (cuts, input) = data[3..].split_at(ncuts);
    let cuts: Vec<usize> = cuts.iter().map(|&c| usize::from(c) * 5).collect();
    if let Err(problem) = chunking::check_session(protocol, framing, input, &cuts, budget) {
        panic!("{problem}");
    }
});
