//! Line framing: turns a byte stream into messages ending at `\n`.
//!
//! TCP delivers a stream, not messages: one `read` may return half a line,
//! or three lines and a half. The framer answers one question at a time,
//! "is a whole line buffered?", in the style of mini-redis' frame parser: a
//! partial line is the ordinary `Ok(None)`, not an error.
//!
//! Lines are found in the caller's input without copying. Only the tail of an
//! unfinished line is kept, in a buffer that is freed as soon as the line is
//! complete, so an idle connection holds no framing memory at all, and a line
//! longer than the limit is refused before it can grow the buffer further.

/// The reply sent before closing a connection whose line exceeds the limit.
pub const LINE_TOO_LONG: &[u8] = b"error: line too long\n";

/// The client sent a line longer than the configured limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineTooLong;

/// Splits a byte stream into lines of at most `max_line` bytes.
#[derive(Debug)]
pub struct LineFramer {
    /// The start of a line whose `\n` has not arrived yet (empty, unallocated, when idle).
    partial: Vec<u8>,
    /// Set when `partial` holds a line that was handed out and must be dropped next call.
    handed_out: bool,
    /// Longest accepted line, not counting its `\r\n` or `\n` (u32 keeps idle sessions small).
    max_line: u32,
}

impl LineFramer {
    /// A framer that accepts lines of up to `max_line` bytes.
    pub fn new(max_line: usize) -> Self {
        LineFramer {
            partial: Vec::new(),
            handed_out: false,
            max_line: u32::try_from(max_line).unwrap_or(u32::MAX),
        }
    }

    /// Bytes held for an unfinished line.
    pub fn buffered(&self) -> usize {
        if self.handed_out {
            0
        } else {
            self.partial.len()
        }
    }

    fn forget_handed_out_line(&mut self) {
        if self.handed_out {
            // Free rather than clear: most connections never split a line again.
            self.partial = Vec::new();
            self.handed_out = false;
        }
    }

    /// Finds the next complete line in `input`.
    ///
    /// Returns the line without its terminator (one `\r` before the `\n` is
    /// stripped) and how many bytes of `input` were used. `Ok(None)` means the
    /// whole input was kept as the start of a line still to come.
    pub fn next_line<'a>(
        &'a mut self,
        input: &'a [u8],
    ) -> Result<Option<(&'a [u8], usize)>, LineTooLong> {
        self.forget_handed_out_line();
        // A line may be max_line bytes plus a '\r' before its '\n'.
        let max_line = self.max_line as usize;
        let room = (max_line + 1).saturating_sub(self.partial.len());
        match input.iter().position(|&b| b == b'\n') {
            Some(newline) if newline <= room => {
                let line = if self.partial.is_empty() {
                    &input[..newline]
                } else {
                    self.partial.extend_from_slice(&input[..newline]);
                    self.handed_out = true;
                    &self.partial[..]
                };
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if line.len() > max_line {
                    return Err(LineTooLong);
                }
                Ok(Some((line, newline + 1)))
            }
            Some(_) => Err(LineTooLong),
            None if input.len() <= room => {
                self.partial.extend_from_slice(input);
                Ok(None)
            }
            None => Err(LineTooLong),
        }
    }

    /// At end of input: the unterminated final line, if any (one trailing `\r` stripped).
    pub fn take_unterminated(&mut self) -> Option<Vec<u8>> {
        self.forget_handed_out_line();
        let mut rest = std::mem::take(&mut self.partial);
        if rest.last() == Some(&b'\r') {
            rest.pop();
        }
        if rest.is_empty() || rest.len() > self.max_line as usize {
            None
        } else {
            Some(rest)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `chunks` and collects every complete line, or the error.
    fn lines(max_line: usize, chunks: &[&[u8]]) -> Result<Vec<Vec<u8>>, LineTooLong> {
        let mut framer = LineFramer::new(max_line);
        let mut found = Vec::new();
        for chunk in chunks {
            let mut pos = 0;
            while pos < chunk.len() {
                match framer.next_line(&chunk[pos..])? {
                    Some((line, used)) => {
                        found.push(line.to_vec());
                        pos += used;
                    }
                    None => break,
                }
            }
        }
        Ok(found)
    }

    #[test]
    fn splits_on_newline_and_strips_one_carriage_return() {
        let got = lines(100, &[b"a\nb\r\nc\r\r\n\n"]).unwrap();
        assert_eq!(
            got,
            vec![b"a".to_vec(), b"b".to_vec(), b"c\r".to_vec(), vec![]]
        );
    }

    #[test]
    fn joins_a_line_split_across_reads_and_frees_the_buffer() {
        let mut framer = LineFramer::new(100);
        assert_eq!(framer.next_line(b"hel"), Ok(None));
        assert_eq!(framer.buffered(), 3);
        let (line, used) = framer.next_line(b"lo\nrest").unwrap().unwrap();
        assert_eq!((line, used), (&b"hello"[..], 3));
        assert_eq!(framer.next_line(b"rest"), Ok(None));
        assert_eq!(framer.buffered(), 4);
    }

    #[test]
    fn non_utf8_and_nul_bytes_pass_through() {
        let got = lines(100, &[b"\xff\x00\xfe\n"]).unwrap();
        assert_eq!(got, vec![b"\xff\x00\xfe".to_vec()]);
    }

    #[test]
    fn limit_is_exact_with_and_without_carriage_return() {
        assert!(lines(4, &[b"abcd\n"]).is_ok());
        assert!(lines(4, &[b"abcd\r\n"]).is_ok());
        assert!(lines(4, &[b"ab", b"cd\r", b"\n"]).is_ok());
        assert_eq!(lines(4, &[b"abcde\n"]), Err(LineTooLong));
        assert_eq!(lines(4, &[b"abc", b"de\n"]), Err(LineTooLong));
        assert_eq!(lines(4, &[b"abcd\rx\n"]), Err(LineTooLong));
    }

    #[test]
    fn an_endless_line_is_refused_before_it_grows_past_the_limit() {
        let mut framer = LineFramer::new(8);
        assert_eq!(framer.next_line(b"123456789"), Ok(None));
        assert_eq!(framer.next_line(b"0"), Err(LineTooLong));
        assert!(framer.buffered() <= 9);
    }

    #[test]
    fn unterminated_tail_is_available_at_end_of_input() {
        let mut framer = LineFramer::new(8);
        assert_eq!(framer.next_line(b"tail\r"), Ok(None));
        assert_eq!(framer.take_unterminated(), Some(b"tail".to_vec()));
        assert_eq!(framer.take_unterminated(), None);
    }
}
