//! Just enough HTTP/1.1 to answer a Prometheus scrape, sans-IO.
//!
//! The metrics endpoint must never stall the event loop, so this is the
//! httparse shape: [`parse_request`] looks at the bytes received so far and
//! says "incomplete", "here is a request of N bytes", or "refuse this". It
//! accepts `GET` only, reads no body, and caps the request head at
//! [`MAX_HEAD`]; [`Response`] renders the reply. A scraper that keeps the
//! connection alive gets one answer per request.

/// The largest request head (request line and headers) accepted.
pub const MAX_HEAD: usize = 8 * 1024;

/// One parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Bytes of input this request used (its head; a GET has no body).
    pub length: usize,
    /// `GET`, `POST`, ...
    pub method: String,
    /// The request target, query string removed: `/metrics`.
    pub path: String,
    /// Whether the client wants the connection kept for another request.
    pub keep_alive: bool,
}

/// Why a request cannot be answered normally; each maps to a status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpError {
    /// The head is not HTTP/1.x: 400.
    Malformed,
    /// The head passed [`MAX_HEAD`] without ending: 431.
    TooLarge,
}

/// What the bytes received so far amount to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// No complete head yet; read more.
    Incomplete,
    /// A complete request.
    Request(Request),
    /// Answer with the error's status and close.
    Error(HttpError),
}

/// Looks for one complete request head at the start of `input`.
pub fn parse_request(input: &[u8]) -> Parsed {
    let window = &input[..input.len().min(MAX_HEAD)];
    let Some(end) = window.windows(4).position(|w| w == b"\r\n\r\n") else {
        if input.len() >= MAX_HEAD {
            return Parsed::Error(HttpError::TooLarge);
        }
        // A request line must start with a token: refuse binary noise early.
        if input.first().is_some_and(|b| !b.is_ascii_alphabetic()) {
            return Parsed::Error(HttpError::Malformed);
        }
        return Parsed::Incomplete;
    };
    match parse_head(&input[..end]) {
        Some((method, path, keep_alive)) => Parsed::Request(Request {
            length: end + 4,
            method,
            path,
            keep_alive,
        }),
        None => Parsed::Error(HttpError::Malformed),
    }
}

fn parse_head(head: &[u8]) -> Option<(String, String, bool)> {
    let head = std::str::from_utf8(head).ok()?;
    let mut lines = head.split("\r\n");
    let mut parts = lines.next()?.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some()
        || method.is_empty()
        || !method.bytes().all(|b| b.is_ascii_uppercase())
        || !target.starts_with('/')
    {
        return None;
    }
    let mut keep_alive = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        _ => return None,
    };
    for line in lines {
        let (name, value) = line.split_once(':')?;
        if name.is_empty() || name.contains(' ') {
            return None;
        }
        if name.eq_ignore_ascii_case("connection") {
            let value = value.trim();
            if value.eq_ignore_ascii_case("close") {
                keep_alive = false;
            } else if value.eq_ignore_ascii_case("keep-alive") {
                keep_alive = true;
            }
        }
    }
    let path = target.split('?').next().unwrap_or(target);
    Some((method.to_string(), path.to_string(), keep_alive))
}

/// A response to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response<'a> {
    /// 200, 400, 404, 405, 431.
    pub status: u16,
    /// The `Content-Type` of `body`.
    pub content_type: &'a str,
    /// The body.
    pub body: &'a [u8],
    /// Send `Connection: close` (and the caller closes after sending).
    pub close: bool,
}

impl Response<'_> {
    /// A plain-text error reply for `status`, closing when `close`.
    pub fn error(status: u16, close: bool) -> Response<'static> {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: reason(status).as_bytes(),
            close,
        }
    }

    /// Appends the status line, headers and body to `out`.
    pub fn render(&self, out: &mut Vec<u8>) {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len()
        );
        if self.status == 405 {
            head.push_str("Allow: GET\r\n");
        }
        head.push_str(if self.close {
            "Connection: close\r\n\r\n"
        } else {
            "\r\n"
        });
        out.extend_from_slice(head.as_bytes());
        out.extend_from_slice(self.body);
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        _ => "Error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRAPE: &[u8] = b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n";

    #[test]
    fn every_prefix_of_a_request_is_incomplete() {
        for end in 0..SCRAPE.len() {
            assert_eq!(parse_request(&SCRAPE[..end]), Parsed::Incomplete, "{end}");
        }
        let mut two = SCRAPE.to_vec();
        two.extend_from_slice(SCRAPE);
        let Parsed::Request(request) = parse_request(&two) else {
            panic!("no request");
        };
        assert_eq!(request.length, SCRAPE.len());
        assert_eq!(
            (request.method.as_str(), request.path.as_str()),
            ("GET", "/metrics")
        );
        assert!(request.keep_alive);
    }

    #[test]
    fn connection_close_and_http_1_0_end_the_connection() {
        let close = b"GET / HTTP/1.1\r\nconnection: Close\r\n\r\n";
        let old = b"POST /metrics HTTP/1.0\r\n\r\n";
        for (input, method) in [(&close[..], "GET"), (&old[..], "POST")] {
            let Parsed::Request(request) = parse_request(input) else {
                panic!("no request");
            };
            assert!(!request.keep_alive);
            assert_eq!(request.method, method);
        }
    }

    #[test]
    fn malformed_and_oversized_heads_are_errors() {
        for bad in [
            &b"GET /metrics\r\n\r\n"[..],
            b"GET metrics HTTP/1.1\r\n\r\n",
            b"GET / HTTP/2\r\n\r\n",
            b"GET / HTTP/1.1\r\nno colon\r\n\r\n",
            b"get / HTTP/1.1\r\n\r\n",
            b"\x16\x03\x01",
        ] {
            assert_eq!(
                parse_request(bad),
                Parsed::Error(HttpError::Malformed),
                "{bad:?}"
            );
        }
        let mut long = b"GET / HTTP/1.1\r\nX: ".to_vec();
        long.resize(MAX_HEAD, b'a');
        assert_eq!(parse_request(&long), Parsed::Error(HttpError::TooLarge));
    }

    #[test]
    fn responses_carry_length_and_allow() {
        let mut out = Vec::new();
        Response::error(405, true).render(&mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
            "{text}"
        );
        assert!(text.contains("Allow: GET\r\n"));
        assert!(text.contains("Content-Length: 18\r\n"));
        assert!(text.ends_with("Connection: close\r\n\r\nMethod Not Allowed"));
    }
}
