//! The line framer: any chunking gives the lines (or the refusal) of the
//! unchunked input, and it never holds more than the line limit.
//!
//! Input: byte 0 picks the line limit (1..=64), byte 1 the number of cuts,
//! then one byte per cut position, then the stream itself.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/common/chunking.rs"]
#[allow(dead_code)]
mod chunking;

fuzz_target!(|data: &[u8]| {
    let Some((&limit, rest)) = data.split_first() else {
        return;
    };
    let Some((&ncuts, rest)) = rest.split_first() else {
        return;
    };
    let ncuts = usize::from(ncuts % 16).min(rest.len());
    let (cuts, input) = rest.split_at(ncuts);
    let cuts: Vec<usize> = cuts.iter().map(|&c| usize::from(c) * 7).collect();
    if let Err(problem) = chunking::check_framer(input, &cuts, usize::from(limit % 64) + 1) {
        panic!("{problem}");
    }
});
