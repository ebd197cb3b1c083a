//! hello (tutorials 000 and 003): the server greets with `Welcome!`, answers each
//! message M with `Hello, M!`, and closes without a reply on `exit`.

/// Sent once when a TCP client connects.
pub const GREETING: &[u8] = b"Welcome!";

/// The message that ends a TCP session.
pub const EXIT: &[u8] = b"exit";

/// What a message asks of the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A reply was appended; carry on.
    Replied,
    /// `exit`: no reply, close the connection.
    Exit,
}

/// Handles one TCP message, appending the reply (without terminator) to `out`.
pub fn on_message(message: &[u8], out: &mut Vec<u8>) -> Verdict {
    if message == EXIT {
        return Verdict::Exit;
    }
    on_datagram(message, out);
    Verdict::Replied
}

/// Over UDP there is no greeting and no `exit`: every datagram M gets `Hello, M!`.
pub fn on_datagram(message: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(b"Hello, ");
    out.extend_from_slice(message);
    out.push(b'!');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greets_by_name_and_exits_quietly() {
        let mut out = Vec::new();
        assert_eq!(on_message(b"Ann", &mut out), Verdict::Replied);
        assert_eq!(out, b"Hello, Ann!");
        out.clear();
        assert_eq!(on_message(b"exit", &mut out), Verdict::Exit);
        assert!(out.is_empty());
        on_datagram(b"exit", &mut out);
        assert_eq!(out, b"Hello, exit!");
    }
}
