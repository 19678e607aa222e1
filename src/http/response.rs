//! Responses: a reusable builder and the serializer that appends them to a write batch.
//!
//! One [`Response`] lives per connection and is reset between requests, so its header and
//! body buffers are reused (no allocation once warm). Handlers write the body (or point at a
//! [`SharedBody`]: a cached document or a constant); filters add header lines;
//! [`Response::write_to`] appends status line, `Date`, `Content-Type`, `Content-Length`, the
//! extra headers and the body to the connection's output batch.
//! [`Response::write_to_cached`] writes the same bytes from a per-connection [`HeadCache`]:
//! a response with a shared body, no extra headers and nothing to say about the connection
//! is copied whole (head and body in one copy) when it is the same as the last such response;
//! any other response gets the fixed part of its head (status line to `Content-Length`)
//! copied when that has not changed since the connection's previous response.

use std::rc::Rc;

use super::{date::DATE_LEN, request::Version};

/// A body that a response points at instead of owning.
#[derive(Debug, Clone)]
pub enum SharedBody {
    /// A document this worker rendered and keeps (immutable while shared).
    Rc(Rc<[u8]>),
    /// A constant.
    Static(&'static [u8]),
}

impl SharedBody {
    /// The body bytes.
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        match self {
            SharedBody::Rc(bytes) => bytes,
            SharedBody::Static(bytes) => bytes,
        }
    }

    /// Whether both are the very same bytes: one allocation (kept alive, and so never
    /// reused, by whichever of the two is held), or one constant.
    #[inline]
    fn same(&self, other: &SharedBody) -> bool {
        match (self, other) {
            (SharedBody::Rc(a), SharedBody::Rc(b)) => Rc::ptr_eq(a, b),
            (SharedBody::Static(a), SharedBody::Static(b)) => {
                a.len() == b.len() && std::ptr::eq(a.as_ptr(), b.as_ptr())
            }
            _ => false,
        }
    }
}

impl From<Rc<[u8]>> for SharedBody {
    fn from(bytes: Rc<[u8]>) -> Self {
        SharedBody::Rc(bytes)
    }
}

/// A response under construction.
#[derive(Debug, Default)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// `Content-Type` value; empty means no such header.
    pub content_type: &'static str,
    /// Extra header lines, each `Name: value\r\n`, added by [`Response::header`] only.
    headers: Vec<u8>,
    /// Bit `len % 64` set for the length of every name in `headers`: a name whose bit is
    /// clear is not among them, and [`Response::has_header`] answers without reading them.
    name_lengths: u64,
    /// Body bytes.
    pub body: Vec<u8>,
    /// A shared, immutable body (a cached document or a constant) sent instead of `body`
    /// when set; it saves copying the document into `body` first.
    pub shared_body: Option<SharedBody>,
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
        self.clear_headers();
        self.body.clear();
        self.shared_body = None;
        self.close = false;
    }

    /// Adds a header line. `value` must not contain CR or LF (it is dropped if it does).
    pub fn header(&mut self, name: &str, value: &[u8]) {
        if has_line_break(value) {
            return;
        }
        self.name_lengths |= 1 << (name.len() % 64);
        self.headers.reserve(name.len() + value.len() + 4);
        self.headers.extend_from_slice(name.as_bytes());
        self.headers.extend_from_slice(b": ");
        self.headers.extend_from_slice(value);
        self.headers.extend_from_slice(b"\r\n");
    }

    /// The body that will be sent.
    pub fn body_bytes(&self) -> &[u8] {
        match &self.shared_body {
            Some(shared) => shared.bytes(),
            None => &self.body,
        }
    }

    /// Adds the lines of `block`, as [`Response::header`] would add each: one copy.
    pub fn header_block(&mut self, block: &HeaderBlock) {
        self.name_lengths |= block.name_lengths;
        self.headers.extend_from_slice(&block.lines);
    }

    /// The extra header lines added so far, each `Name: value\r\n`.
    pub fn header_lines(&self) -> &[u8] {
        &self.headers
    }

    /// Drops every extra header line.
    pub fn clear_headers(&mut self) {
        self.headers.clear();
        self.name_lengths = 0;
    }

    /// Whether a header named `name` was added (ASCII case-insensitive).
    pub fn has_header(&self, name: &str) -> bool {
        // No name of this length was added: nothing to read (the usual answer for the
        // request-id filter, whose names no inner layer sets).
        if self.name_lengths & (1 << (name.len() % 64)) == 0 {
            return false;
        }
        let is_named = |line: &[u8]| {
            line.len() > name.len()
                && line[name.len()] == b':'
                && line[..name.len()].eq_ignore_ascii_case(name.as_bytes())
        };
        // Line by line, each end found eight bytes at a time.
        let headers = self.headers.as_slice();
        let mut start = 0;
        while let Some(end) = find_newline(headers, start) {
            if is_named(&headers[start..end]) {
                return true;
            }
            start = end + 1;
        }
        is_named(&headers[start..])
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

    /// [`Response::write_to`], from `cache` where it can be. A response with a shared body,
    /// no extra header lines, a body to send and a kept-alive HTTP/1.1 connection is copied
    /// whole when the last such response had the same body, status, content type and date
    /// (otherwise it is built and remembered). Any other response gets the fixed part of its
    /// head (status line, `Date`, `Content-Type`, `Content-Length`) copied when the previous
    /// one had the same status, content type, body length and date. The bytes written are
    /// the same either way.
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
        mut cache: Option<&mut HeadCache>,
        date: &[u8; DATE_LEN],
        head_only: bool,
        version: Version,
        keep_alive: bool,
    ) {
        let bodyless_status = self.status == 204 || self.status == 304 || self.status < 200;
        let send_body = !head_only && !bodyless_status;
        // The whole response is the status line, the fixed headers, a blank line and the
        // shared body: copy it from the cache (or build it there) in one piece.
        if let (Some(cache), Some(shared)) = (cache.as_deref_mut(), &self.shared_body) {
            if send_body
                && self.headers.is_empty()
                && !self.close
                && keep_alive
                && version == Version::Http11
            {
                if !cache.whole.matches(self, shared, date) {
                    let whole = &mut cache.whole;
                    whole.bytes.clear();
                    self.push_fixed_head(&mut whole.bytes, date, shared.bytes().len(), false);
                    whole.bytes.extend_from_slice(b"\r\n");
                    whole.bytes.extend_from_slice(shared.bytes());
                    whole.status = self.status;
                    whole.content_type = self.content_type;
                    whole.date = *date;
                    whole.body = Some(shared.clone());
                }
                out.extend_from_slice(&cache.whole.bytes);
                return;
            }
        }
        let body = self.body_bytes();
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

/// Header lines checked and joined once (at start-up, or the first time they are needed),
/// added to responses with [`Response::header_block`] in one copy.
#[derive(Debug, Clone, Default)]
pub struct HeaderBlock {
    /// `Name: value\r\n` lines.
    lines: Box<[u8]>,
    /// As [`Response`]'s: bit `len % 64` of each name's length.
    name_lengths: u64,
}

impl HeaderBlock {
    /// The `(name, value)` lines, in order; a value with CR or LF is dropped, as
    /// [`Response::header`] drops it.
    pub fn new(lines: &[(&str, &[u8])]) -> HeaderBlock {
        let mut resp = Response::new();
        for (name, value) in lines {
            resp.header(name, value);
        }
        HeaderBlock {
            lines: resp.headers.into_boxed_slice(),
            name_lengths: resp.name_lengths,
        }
    }

    /// The lines, each `Name: value\r\n`.
    pub fn lines(&self) -> &[u8] {
        &self.lines
    }
}

/// Eight copies of the byte 1.
const ONES: u64 = u64::from_ne_bytes([1; 8]);
/// The high bit of each of eight bytes.
const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);

/// Marks (with its high bit) each byte of `word` that equals `byte`. The lowest marked byte
/// is always a true match (a false mark can only follow a true one, through the borrow of
/// the subtraction), so the first match is the lowest mark.
#[inline]
fn mark_equal(word: u64, byte: u8) -> u64 {
    let diff = word ^ (ONES * u64::from(byte));
    diff.wrapping_sub(ONES) & !diff & HIGHS
}

/// The first eight bytes of `chunk` as a little-endian word (byte `i` in bits `8i..8i+8`).
#[inline]
fn word(chunk: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&chunk[..8]);
    u64::from_le_bytes(bytes)
}

/// The index of the first `\n` in `bytes` at or after `from`, looked for eight bytes at a
/// time (header blocks are a few hundred bytes: a word loop beats a vectorised search's
/// set-up there).
fn find_newline(bytes: &[u8], from: usize) -> Option<usize> {
    let rest = bytes.get(from..)?;
    let mut chunks = rest.chunks_exact(8);
    let mut at = from;
    for chunk in &mut chunks {
        let marks = mark_equal(word(chunk), b'\n');
        if marks != 0 {
            return Some(at + (marks.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    let tail = chunks.remainder();
    tail.iter().position(|&b| b == b'\n').map(|i| at + i)
}

/// Whether `value` holds a CR or an LF, looked for eight bytes at a time.
fn has_line_break(value: &[u8]) -> bool {
    let breaks = |word: u64| mark_equal(word, b'\r') | mark_equal(word, b'\n') != 0;
    if value.len() < 8 {
        return value.iter().any(|&b| b == b'\r' || b == b'\n');
    }
    // Whole words, then the last eight bytes as one more (overlapping bytes already seen).
    value.chunks_exact(8).any(|chunk| breaks(word(chunk)))
        || breaks(word(&value[value.len() - 8..]))
}

/// What a connection remembers of the responses it wrote (see
/// [`Response::write_to_cached`]). Pipelined and repeated requests mostly get responses
/// whose status, type, length and date do not change: then a head is one copy instead of
/// being formatted piece by piece, and a cached document with its head is one copy in all.
#[derive(Debug, Default)]
pub struct HeadCache {
    status: u16,
    content_type: &'static str,
    body_len: usize,
    date: [u8; DATE_LEN],
    /// The fixed part of the last head written; empty while nothing is cached.
    bytes: Vec<u8>,
    /// The last whole response with a shared body.
    whole: WholeResponse,
}

impl HeadCache {
    fn matches(&self, resp: &Response, body_len: usize, date: &[u8; DATE_LEN]) -> bool {
        !self.bytes.is_empty()
            && self.status == resp.status
            && self.body_len == body_len
            && same_str(self.content_type, resp.content_type)
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

/// A complete response (head, blank line, body) whose body is a [`SharedBody`], sent on a
/// kept-alive HTTP/1.1 connection with no extra header lines.
#[derive(Debug, Default)]
struct WholeResponse {
    /// `None` while nothing is cached.
    body: Option<SharedBody>,
    status: u16,
    content_type: &'static str,
    date: [u8; DATE_LEN],
    bytes: Vec<u8>,
}

impl WholeResponse {
    #[inline]
    fn matches(&self, resp: &Response, body: &SharedBody, date: &[u8; DATE_LEN]) -> bool {
        self.body.as_ref().is_some_and(|cached| cached.same(body))
            && self.status == resp.status
            && same_str(self.content_type, resp.content_type)
            && self.date == *date
    }
}

/// String equality that skips the comparison when both are the same constant.
#[inline]
fn same_str(a: &str, b: &str) -> bool {
    a.len() == b.len() && (std::ptr::eq(a.as_ptr(), b.as_ptr()) || a == b)
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
    fn newlines_and_line_breaks_are_found_at_every_offset() {
        for len in 0..40 {
            for at in 0..=len {
                let mut bytes = vec![b'a'; len];
                let expected = (at < len).then(|| {
                    bytes[at] = b'\n';
                    at
                });
                // A second newline after the first never hides it.
                if at + 3 < len {
                    bytes[at + 3] = b'\n';
                }
                for from in 0..=at.min(len) {
                    assert_eq!(find_newline(&bytes, from), expected, "{len} {at} {from}");
                }
                assert_eq!(has_line_break(&bytes), expected.is_some(), "{len} {at}");
                if let Some(at) = expected {
                    bytes[at] = b'\r';
                    assert!(has_line_break(&bytes), "{len} {at}");
                }
            }
        }
        // Bytes that differ from a newline by one bit, or sit next to it in value.
        let near = [0x0b, 0x0e, 0x8a, 0x2a, 0x09, 0x0c, 0x8d, 0xff, 0x00, 0x80];
        assert_eq!(find_newline(&near, 0), None);
        assert!(!has_line_break(&near));
        assert_eq!(find_newline(b"ab\ncd", 3), None);
        assert_eq!(find_newline(b"ab", 5), None);
    }

    #[test]
    fn a_header_block_adds_what_its_lines_would() {
        let lines: [(&str, &[u8]); 3] =
            [("X-A", b"1"), ("X-Bad", b"2\r\nX-C: 3"), ("Vary", b"X-A")];
        let block = HeaderBlock::new(&lines);
        let mut by_block = Response::new();
        by_block.header("X-First", b"0");
        by_block.header_block(&block);
        let mut by_line = Response::new();
        by_line.header("X-First", b"0");
        for (name, value) in lines {
            by_line.header(name, value);
        }
        assert_eq!(by_block.header_lines(), by_line.header_lines());
        assert_eq!(block.lines(), b"X-A: 1\r\nVary: X-A\r\n");
        for name in ["x-a", "VARY", "X-First"] {
            assert!(by_block.has_header(name), "{name}");
        }
        for name in ["X-Bad", "X-C", "X-B"] {
            assert!(!by_block.has_header(name), "{name}");
        }
    }

    #[test]
    fn has_header_matches_whole_names_at_line_starts_only() {
        let mut resp = Response::new();
        assert!(!resp.has_header("X-A"));
        resp.header("X-Long-Name", b"X-A: inside a value");
        resp.header("x-a", b"1");
        resp.header("Last", b"z");
        for name in ["X-A", "x-a", "X-LONG-NAME", "last"] {
            assert!(resp.has_header(name), "{name}");
        }
        for name in ["X-Long", "X", "Name", "Las", "inside a value", "X-B"] {
            assert!(!resp.has_header(name), "{name}");
        }
        // A value with a line break is dropped, so it cannot smuggle a header line in.
        resp.header("X-C", b"1\r\nX-D: 2");
        resp.header("X-E", b"1\nX-F: 2");
        for name in ["X-C", "X-D", "X-E", "X-F"] {
            assert!(!resp.has_header(name), "{name}");
        }
        // Names as long as an added one modulo 64 are still read and told apart.
        let long = format!("X-{}", "a".repeat(65));
        assert!(!resp.has_header(&long));
        resp.header(&long, b"1");
        assert!(resp.has_header(&long.to_ascii_uppercase()));
        assert!(!resp.has_header(&format!("X-{}", "b".repeat(65))));
        resp.clear_headers();
        assert!(resp.header_lines().is_empty());
        for name in ["X-A", "Last", long.as_str()] {
            assert!(!resp.has_header(name), "{name}");
        }
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
    fn whole_responses_with_shared_bodies_are_identical() {
        let mut cache = HeadCache::default();
        let other_date = *b"Mon, 07 Nov 1994 08:49:37 GMT";
        let doc: Rc<[u8]> = b"{\"versions\": []}".to_vec().into();
        let same_bytes: Rc<[u8]> = b"{\"versions\": []}".to_vec().into();
        let other_doc: Rc<[u8]> = b"{\"version\": {}}".to_vec().into();
        let mut cases = Vec::new();
        for (status, content_type, body, extra) in [
            (
                200u16,
                "application/json",
                SharedBody::Rc(Rc::clone(&doc)),
                None,
            ),
            (200, "application/json", SharedBody::Rc(same_bytes), None),
            (200, "application/json", SharedBody::Rc(other_doc), None),
            (200, "text/plain", SharedBody::Rc(Rc::clone(&doc)), None),
            (
                300,
                "application/json",
                SharedBody::Rc(Rc::clone(&doc)),
                None,
            ),
            (200, "text/plain", SharedBody::Static(b"OK"), None),
            (200, "text/plain", SharedBody::Static(b"OK!"), None),
            (
                200,
                "text/plain",
                SharedBody::Static(b"OK"),
                Some(("X-A", &b"1"[..])),
            ),
            (204, "text/plain", SharedBody::Static(b"OK"), None),
        ] {
            let mut resp = Response::new();
            resp.status = status;
            resp.content_type = content_type;
            resp.shared_body = Some(body);
            if let Some((name, value)) = extra {
                resp.header(name, value);
            }
            cases.push(resp);
        }
        cases[4].close = true;
        for round in 0..3 {
            for resp in &cases {
                for date in [&DATE, &DATE, &other_date, &other_date] {
                    for (head_only, version, keep_alive) in [
                        (false, Version::Http11, true),
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
