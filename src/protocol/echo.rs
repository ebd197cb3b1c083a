//! echo (RFC 862): every byte received goes back unchanged, in order.
//!
//! Echo has no messages, so it needs no framing: over TCP the session copies
//! as many input bytes as the output budget allows, and the driver keeps the
//! rest until the client has read some of its replies.

/// Copies as much of `input` as fits below `out_limit` into `out`; returns the bytes used.
pub fn on_bytes(input: &[u8], out: &mut Vec<u8>, out_limit: usize) -> usize {
    let room = out_limit.saturating_sub(out.len());
    let used = input.len().min(room);
    out.extend_from_slice(&input[..used]);
    used
}

/// Over UDP each datagram, an empty one too, is sent back to its sender.
pub fn on_datagram(input: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(input);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_within_the_budget_only() {
        let mut out = b"xy".to_vec();
        assert_eq!(on_bytes(b"abcdef", &mut out, 5), 3);
        assert_eq!(out, b"xyabc");
        assert_eq!(on_bytes(b"def", &mut out, 5), 0);
    }

    #[test]
    fn empty_datagram_gets_an_empty_reply() {
        let mut out = Vec::new();
        on_datagram(b"", &mut out);
        assert!(out.is_empty());
    }
}
