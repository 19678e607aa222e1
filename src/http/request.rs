//! A parsed request head: offsets into the connection's read buffer, never copies.
//!
//! The buffer can move (it is handed to the kernel for the next read) because a [`Head`]
//! holds `(start, end)` pairs rather than borrows; [`Span::of`] turns one back into bytes.

use smallvec::SmallVec;

/// A byte range `start..end` of the buffer a head was parsed from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Span {
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
}

impl Span {
    /// The bytes of this span in `buf` (the same buffer the head was parsed from).
    #[inline]
    pub fn of(self, buf: &[u8]) -> &[u8] {
        &buf[self.start as usize..self.end as usize]
    }

    /// Length in bytes.
    #[inline]
    pub fn len(self) -> usize {
        (self.end - self.start) as usize
    }

    /// True when empty.
    #[inline]
    pub fn is_empty(self) -> bool {
        self.start == self.end
    }

    /// The span of `inner`, which must be a sub-slice of `base`.
    #[inline]
    pub(crate) fn within(base: &[u8], inner: &[u8]) -> Span {
        let start = inner.as_ptr() as usize - base.as_ptr() as usize;
        debug_assert!(start + inner.len() <= base.len());
        Span {
            start: start as u32,
            end: (start + inner.len()) as u32,
        }
    }
}

/// HTTP version of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.0.
    Http10,
    /// HTTP/1.1.
    Http11,
}

/// How the body of a request is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// No body.
    None,
    /// Exactly this many bytes follow the head.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
}

/// Inline capacity for headers: typical API requests carry fewer than this many.
pub const INLINE_HEADERS: usize = 24;

/// A validated request head. All spans are relative to the start of the request.
///
/// One `Head` lives per connection and is filled in place by [`super::parse_head`]; it is
/// never moved per request (its inline header array is a few hundred bytes).
#[derive(Debug, Clone)]
pub struct Head {
    /// The method token.
    pub method: Span,
    /// The request target as sent.
    pub target: Span,
    /// The path part of the target (absolute-form targets are reduced to their path; empty
    /// when an absolute-form target has none, see `implied_path`).
    pub path: Span,
    /// What an absolute-form target without a path stands for (RFC 9112 §3.2.2, §3.2.4):
    /// `/`, or `*` for an OPTIONS request without a query. `None` for any other target.
    pub implied_path: Option<&'static str>,
    /// Whether the path has `%` escapes (needs percent-decoding).
    pub path_escaped: bool,
    /// The query string without its `?`, if any.
    pub query: Option<Span>,
    /// Protocol version.
    pub version: Version,
    /// Header fields as (name, value) spans, in order.
    pub headers: SmallVec<[(Span, Span); INLINE_HEADERS]>,
    /// Bytes of the head, blank line included; the body starts here.
    pub len: usize,
    /// Body framing.
    pub body: BodyKind,
    /// Whether the connection may serve another request after this one.
    pub keep_alive: bool,
    /// `Expect: 100-continue` on an HTTP/1.1 request.
    pub expect_continue: bool,
    /// The Host header's value.
    pub host: Option<Span>,
}

impl Default for Head {
    fn default() -> Self {
        Head {
            method: Span::default(),
            target: Span::default(),
            path: Span::default(),
            implied_path: None,
            path_escaped: false,
            query: None,
            version: Version::Http11,
            headers: SmallVec::new(),
            len: 0,
            body: BodyKind::None,
            keep_alive: true,
            expect_continue: false,
            host: None,
        }
    }
}

impl Head {
    /// The target as text, validated here. [`super::parse_head`] hands the text over with
    /// a complete head, so this is needed only once the head's bytes have been let go.
    pub fn target_str<'b>(&self, buf: &'b [u8]) -> Option<&'b str> {
        std::str::from_utf8(self.target.of(buf)).ok()
    }

    /// The text of `span`, a part of the target that starts and ends on a character
    /// boundary, cut from `target` (the target's text); `None` if it is not such a part.
    #[inline]
    fn target_part<'t>(&self, target: &'t str, span: Span) -> Option<&'t str> {
        let start = span.start.checked_sub(self.target.start)? as usize;
        let end = span.end.checked_sub(self.target.start)? as usize;
        target.get(start..end)
    }

    /// The path part of the target as text (not percent-decoded), cut from `target`, the
    /// text of this head's target; the implied path when the target has none.
    #[inline]
    pub fn path_str<'t>(&self, target: &'t str) -> Option<&'t str> {
        match self.implied_path {
            None => self.target_part(target, self.path),
            implied => implied,
        }
    }

    /// The query string as text (`""` when there is none), cut from `target`, the text of
    /// this head's target.
    #[inline]
    pub fn query_str<'t>(&self, target: &'t str) -> Option<&'t str> {
        match self.query {
            Some(query) => self.target_part(target, query),
            None => Some(""),
        }
    }

    /// The value of the first header named `name` (ASCII case-insensitive).
    pub fn header<'b>(&self, buf: &'b [u8], name: &str) -> Option<&'b [u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.of(buf).eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v.of(buf))
    }
}
