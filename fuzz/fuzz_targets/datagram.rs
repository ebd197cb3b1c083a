//! Every protocol's UDP handler: one reply, built around the datagram unchanged.
//!
//! Input: byte 0 picks the protocol, the rest is the datagram.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reactord::protocol::Protocol;

#[path = "../../tests/common/chunking.rs"]
#[allow(dead_code)]
mod chunking;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, datagram)) = data.split_first() else {
        return;
    };
    let protocol = Protocol::ALL[usize::from(pick) % Protocol::ALL.len()];
    if let Err(problem) = chunking::check_datagram(protocol, datagram) {
        panic!("{problem}");
    }
});
