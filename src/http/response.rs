//! Responses: a reusable builder and the serializer that appends them to a write batch.
//!
//! One [`Response`] lives per connection and is reset between requests, so its header and
//! body buffers are reused (no allocation once warm). Handlers write the body; filters add
//! header lines; [`Response::write_to`] appends status line, `Date`, `Content-Type`,
//! `Content-Length`, the extra headers and the body to the connection's output batch.
//! [`Response::write_to_cached`] writes the same bytes, but copies the fixed part of the head
//! (status line to `Content-Length`) from a per-connection [`HeadCache`] when it has not
//! changed since the connection's previous response.

use std::rc::Rc;

use super::{date::DATE_LEN, request::Version};

/// A response under construction.
#[derive(Debug, Default)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// `Content-Type` value; empty means no such header.
    pub content_type: &'static str,
    /// Extra header lines, each `Name: value\r\n`.
    pub headers: Vec<u8>,
    /// Body bytes.
    pub body: Vec<u8>,
    /// A shared, immutable body (a cached document) sent instead of `body` when set; it
    /// saves copying the document into `body` first.
    pub shared_body: Option<Rc<[u8]>>,
    /// Close the connection after this response.
    pub close: bool,
}

impl Response {
    /// An empty 200 response.
    pub fn new() -> Self {
        Response {
            status: 200,
            ..Response::default()
        }
    }

    /// Clears everything for the next request, keeping the buffers' capacity.
    pub fn reset(&mut self) {
        self.status = 200;
        self.content_type = "";
        self.headers.clear();
        self.body.clear();
        self.shared_body = None;
        self.close = false;
    }

    /// Adds a header line. `value` must not contain CR or LF (it is dropped if it does).
    pub fn header(&mut self, name: &str, value: &[u8]) {
        if value.iter().any(|&b| b == b'\r' || b == b'\n') {
            return;
        }
        self.headers.extend_from_slice(name.as_bytes());
        self.headers.extend_from_slice(b": ");
        self.headers.extend_from_slice(value);
        self.headers.extend_from_slice(b"\r\n");
    }

    /// The body that will be sent.
    pub fn body_bytes(&self) -> &[u8] {
        self.shared_body.as_deref().unwrap_or(&self.body)
    }

    /// Whether a header named `name` was added (ASCII case-insensitive).
    pub fn has_header(&self, name: &str) -> bool {
        self.headers.split(|&b| b == b'\n').any(|line| {
            line.len() > name.len()
                && line[name.len()] == b':'
                && line[..name.len()].eq_ignore_ascii_case(name.as_bytes())
        })
    }

    /// Appends the serialized response to `out`.
    ///
    /// `head_only` leaves the body out (HEAD requests) while keeping its Content-Length.
    /// `keep_alive` is the connection's decision for the request; `Connection: close` is sent
    /// when the response or the request closes the connection, `Connection: keep-alive` when an
    /// HTTP/1.0 client asked to keep it open.
    pub fn write_to(
        &self,
        out: &mut Vec<u8>,
        date: &[u8; DATE_LEN],
        head_only: bool,
        version: Version,
        keep_alive: bool,
    ) {
        self.write(out, None, date, head_only, version, keep_alive);
    }

    /// [`Response::write_to`], with the fixed part of the head (status line, `Date`,
    /// `Content-Type`, `Content-Length`) copied from `cache` when the previous response written
    /// through it had the same status, content type, body length and date; otherwise that part
    /// is formatted and remembered. The bytes written are the same either way.
    pub fn write_to_cached(
        &self,
        out: &mut Vec<u8>,
        cache: &mut HeadCache,
        date: &[u8; DATE_LEN],
        head_only: bool,
        version: Version,
        keep_alive: bool,
    ) {
        self.write(out, Some(cache), date, head_only, version, keep_alive);
    }

    fn write(
        &self,
        out: &mut Vec<u8>,
        cache: Option<&mut HeadCache>,
        date: &[u8; DATE_LEN],
        head_only: bool,
        version: Version,
        keep_alive: bool,
    ) {
        let bodyless_status = self.status == 204 || self.status == 304 || self.status < 200;
        let body = self.body_bytes();
        let send_body = !head_only && !bodyless_status;
        // The fixed part is at most 96 bytes plus the content type; 26 more cover the
        // Connection header and the blank line.
        out.reserve(
            96 + 26
                + self.content_type.len()
                + self.headers.len()
                + if send_body { body.len() } else { 0 },
        );
        match cache {
            Some(cache) if cache.matches(self, body.len(), date) => {
                out.extend_from_slice(&cache.bytes);
            }
            Some(cache) => {
                let start = out.len();
                self.push_fixed_head(out, date, body.len(), bodyless_status);
                cache.remember(self, body.len(), date, &out[start..]);
            }
            None => self.push_fixed_head(out, date, body.len(), bodyless_status),
        }
        if !self.headers.is_empty() {
            out.extend_from_slice(&self.headers);
        }
        if self.close || !keep_alive {
            out.extend_from_slice(b"Connection: close\r\n\r\n");
        } else if version == Version::Http10 {
            out.extend_from_slice(b"Connection: keep-alive\r\n\r\n");
        } else {
            out.extend_from_slice(b"\r\n");
        }
        if send_body {
            out.extend_from_slice(body);
        }
    }

    /// Status line, `Date`, `Content-Type` and `Content-Length`, each ended by CRLF.
    fn push_fixed_head(
        &self,
        out: &mut Vec<u8>,
        date: &[u8; DATE_LEN],
        body_len: usize,
        bodyless_status: bool,
    ) {
        // Constant pieces are fused so that a response head is a handful of copies.
        match status_line(self.status) {
            Some(line) => out.extend_from_slice(line),
            None => {
                out.extend_from_slice(b"HTTP/1.1 ");
                push_u64(out, u64::from(self.status));
                out.extend_from_slice(b" Unknown\r\nDate: ");
            }
        }
        out.extend_from_slice(date);
        if !self.content_type.is_empty() {
            out.extend_from_slice(b"\r\nContent-Type: ");
            out.extend_from_slice(self.content_type.as_bytes());
        }
        if !bodyless_status {
            out.extend_from_slice(b"\r\nContent-Length: ");
            out.extend_from_slice(itoa::Buffer::new().format(body_len).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
    }
}

/// The fixed part of the last response head written through it (see
/// [`Response::write_to_cached`]). One lives per connection: pipelined and repeated requests
/// mostly get responses whose status, type, length and date do not change, and then the
/// head is one copy instead of being formatted piece by piece.
#[derive(Debug, Default)]
pub struct HeadCache {
    status: u16,
    content_type: &'static str,
    body_len: usize,
    date: [u8; DATE_LEN],
    /// Empty while nothing is cached.
    bytes: Vec<u8>,
}

impl HeadCache {
    fn matches(&self, resp: &Response, body_len: usize, date: &[u8; DATE_LEN]) -> bool {
        !self.bytes.is_empty()
            && self.status == resp.status
            && self.body_len == body_len
            && self.content_type.len() == resp.content_type.len()
            && (std::ptr::eq(self.content_type, resp.content_type)
                || self.content_type == resp.content_type)
            && self.date == *date
    }

    fn remember(&mut self, resp: &Response, body_len: usize, date: &[u8; DATE_LEN], head: &[u8]) {
        self.status = resp.status;
        self.content_type = resp.content_type;
        self.body_len = body_len;
        self.date = *date;
        self.bytes.clear();
        self.bytes.extend_from_slice(head);
    }
}

/// Appends the decimal form of `n`.
pub fn push_u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

macro_rules! status_lines {
    ($($code:literal $reason:literal,)*) => {
        /// The reason phrase for a status code.
        pub fn reason_phrase(status: u16) -> &'static str {
            match status {
                $($code => $reason,)*
                _ => "Unknown",
            }
        }

        /// The status line and the start of the Date header (`HTTP/1.1 200 OK\r\nDate: `),
        /// precomputed for known codes.
        fn status_line(status: u16) -> Option<&'static [u8]> {
            match status {
                $($code => Some(concat!("HTTP/1.1 ", $code, " ", $reason, "\r\nDate: ").as_bytes()),)*
                _ => None,
            }
        }
    };
}

status_lines! {
    100 "Continue",
    200 "OK",
    201 "Created",
    202 "Accepted",
    204 "No Content",
    300 "Multiple Choices",
    302 "Found",
    304 "Not Modified",
    400 "Bad Request",
    401 "Unauthorized",
    403 "Forbidden",
    404 "Not Found",
    405 "Method Not Allowed",
    406 "Not Acceptable",
    408 "Request Timeout",
    409 "Conflict",
    410 "Gone",
    411 "Length Required",
    413 "Request Entity Too Large",
    414 "URI Too Long",
    415 "Unsupported Media Type",
    417 "Expectation Failed",
    422 "Unprocessable Entity",
    429 "Too Many Requests",
    431 "Request Header Fields Too Large",
    500 "Internal Server Error",
    501 "Not Implemented",
    502 "Bad Gateway",
    503 "Service Unavailable",
    504 "Gateway Timeout",
    505 "HTTP Version Not Supported",
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATE: [u8; DATE_LEN] = *b"Sun, 06 Nov 1994 08:49:37 GMT";

    fn render(resp: &Response, head_only: bool, version: Version, keep_alive: bool) -> String {
        let mut out = Vec::new();
        resp.write_to(&mut out, &DATE, head_only, version, keep_alive);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn serializes_status_headers_and_body() {
        let mut resp = Response::new();
        resp.content_type = "application/json";
        resp.header("X-A", b"1");
        resp.body.extend_from_slice(b"{}");
        assert_eq!(
            render(&resp, false, Version::Http11, true),
            "HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Type: application/json\r\n\
             Content-Length: 2\r\nX-A: 1\r\n\r\n{}"
        );
    }

    #[test]
    fn head_keeps_length_and_drops_body() {
        let mut resp = Response::new();
        resp.body.extend_from_slice(b"hello");
        let text = render(&resp, true, Version::Http11, true);
        assert!(text.contains("Content-Length: 5\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
    }

    #[test]
    fn connection_header() {
        let resp = Response::new();
        assert!(render(&resp, false, Version::Http11, false).contains("Connection: close\r\n"));
        assert!(render(&resp, false, Version::Http10, true).contains("Connection: keep-alive\r\n"));
        assert!(!render(&resp, false, Version::Http11, true).contains("Connection:"));
    }

    #[test]
    fn no_content_has_no_length() {
        let mut resp = Response::new();
        resp.status = 204;
        resp.body.extend_from_slice(b"ignored");
        let text = render(&resp, false, Version::Http11, true);
        assert!(!text.contains("Content-Length"));
        assert!(text.ends_with("\r\n\r\n"));
    }

    #[test]
    fn header_injection_is_dropped() {
        let mut resp = Response::new();
        resp.header("X-A", b"a\r\nX-B: b");
        assert!(resp.headers.is_empty());
        resp.header("X-Request", b"v");
        assert!(resp.has_header("x-request"));
        assert!(!resp.has_header("x-req"));
    }

    #[test]
    fn status_lines_are_complete() {
        for status in [200u16, 204, 300, 404, 413, 431, 505] {
            let line = std::str::from_utf8(status_line(status).unwrap()).unwrap();
            assert_eq!(
                line,
                format!("HTTP/1.1 {status} {}\r\nDate: ", reason_phrase(status))
            );
        }
        assert_eq!(reason_phrase(299), "Unknown");
        let mut resp = Response::new();
        resp.status = 299;
        assert!(render(&resp, false, Version::Http11, true).starts_with("HTTP/1.1 299 Unknown\r\n"));
    }

    #[test]
    fn cached_heads_are_identical() {
        let mut cache = HeadCache::default();
        let other_date = *b"Mon, 07 Nov 1994 08:49:37 GMT";
        let mut cases = Vec::new();
        for (status, content_type, body, extra) in [
            (200u16, "application/json", &b"{}"[..], None),
            (200, "application/json", b"{}", Some(("X-A", &b"1"[..]))),
            (200, "text/plain", b"{}", None),
            (200, "application/json", b"{ }", None),
            (404, "application/json", b"{ }", None),
            (204, "", b"", None),
            (299, "", b"", None),
        ] {
            let mut resp = Response::new();
            resp.status = status;
            resp.content_type = content_type;
            resp.body.extend_from_slice(body);
            if let Some((name, value)) = extra {
                resp.header(name, value);
            }
            cases.push(resp);
        }
        for round in 0..3 {
            for resp in &cases {
                for date in [&DATE, &other_date, &other_date] {
                    for (head_only, version, keep_alive) in [
                        (false, Version::Http11, true),
                        (true, Version::Http11, true),
                        (false, Version::Http10, true),
                        (false, Version::Http11, false),
                    ] {
                        let mut plain = b"before".to_vec();
                        resp.write_to(&mut plain, date, head_only, version, keep_alive);
                        let mut cached = b"before".to_vec();
                        resp.write_to_cached(
                            &mut cached,
                            &mut cache,
                            date,
                            head_only,
                            version,
                            keep_alive,
                        );
                        assert_eq!(
                            String::from_utf8(cached).unwrap(),
                            String::from_utf8(plain).unwrap(),
                            "round {round}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn decimal_formatting() {
        for n in [0u64, 9, 10, 12345, u64::MAX] {
            let mut out = Vec::new();
            push_u64(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }
}
