//! One connection's framing state machine: where each request's head and body end in the
//! connection's read buffer, across reads.
//!
//! Core worker, inside the connection loop (`server::conn`), which owns the buffer, reads into
//! it and answers what [`Framer`] finds. Kept apart from the loop so that framing is a pure
//! function of the bytes received and can be driven without a socket (tests, fuzzing).
//!
//! Invariants: a request is never read past its framing (pipelined bytes stay for the next
//! request); buffer space reserved for a body never exceeds the head plus `max_body`; the
//! bytes between a chunked body's decoded part and its unread encoding are dropped after each
//! decode, so the buffer holds at most the head, the decoded body and one read's framing.
//! It must never dispatch, touch a socket, read the clock or allocate per byte.

use super::{
    body::{ChunkedDecoder, ChunkedProgress},
    error::FrameError,
    limits::Limits,
    parse::parse_head,
    request::{BodyKind, Head},
};

/// The body of a request whose head is parsed (in [`Framer::head`]) but which is not complete.
#[derive(Debug, Clone)]
enum BodyProgress {
    /// Waiting for this many bytes after the head.
    Length(usize),
    Chunked(ChunkedDecoder),
}

/// What [`Framer::frame_head`] found at the start of a request's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadStep<'b> {
    /// The head is not complete; read more bytes and call again.
    NeedMore,
    /// A complete request without a body: its head (in [`Framer::head`]) is all of its
    /// bytes, `head.len` long. `target` is the request target's text.
    Complete {
        /// The request target as text (validated by the parser).
        target: &'b str,
    },
    /// The head is complete and a body follows: call [`Framer::frame_body`].
    Body,
}

/// What [`Framer::frame_body`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyStep {
    /// The body is not complete; read more bytes and call again.
    NeedMore,
    /// The request is complete: its body is `head.len..body_end` and its bytes end at
    /// `consumed`, both relative to the request's start.
    Ready {
        /// End of the (decoded) body.
        body_end: usize,
        /// End of the request's bytes; the next pipelined request starts here.
        consumed: usize,
    },
}

/// Framing state that survives between reads: the current request's head and, while its
/// body is arriving, how far the body has come.
#[derive(Debug, Clone, Default)]
pub struct Framer {
    /// The current request's head, parsed in place (never moved between requests).
    pub head: Head,
    pending: Option<BodyProgress>,
}

impl Framer {
    /// A framer waiting for a request's first byte.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether a head has been framed and its body is still arriving: the next call is
    /// [`Framer::frame_body`], not [`Framer::frame_head`].
    #[inline]
    pub fn in_body(&self) -> bool {
        self.pending.is_some()
    }

    /// Forgets the current request (after a framing error, which closes the connection).
    pub fn reset(&mut self) {
        self.pending = None;
    }

    /// Frames the head of the request that starts at `buf[0]` (`buf` holds every byte
    /// received for it so far). A request with a body leaves the framer in its body.
    pub fn frame_head<'b>(
        &mut self,
        buf: &'b [u8],
        limits: &Limits,
    ) -> Result<HeadStep<'b>, FrameError> {
        debug_assert!(self.pending.is_none());
        let Some(target) = parse_head(buf, limits, &mut self.head)? else {
            return Ok(HeadStep::NeedMore);
        };
        self.pending = Some(match self.head.body {
            BodyKind::None => return Ok(HeadStep::Complete { target }),
            BodyKind::Length(n) if n > limits.max_body as u64 => {
                return Err(FrameError::BodyTooLarge(n))
            }
            BodyKind::Length(n) => BodyProgress::Length(n as usize),
            BodyKind::Chunked => {
                BodyProgress::Chunked(ChunkedDecoder::new(self.head.len, limits.max_body as u64))
            }
        });
        Ok(HeadStep::Body)
    }

    /// Frames the body of the request that starts at `buf[start]`, whose head
    /// [`Framer::frame_head`] framed. A chunked body is decoded in place; a Content-Length
    /// body that is not complete gets its whole room reserved at once.
    pub fn frame_body(&mut self, buf: &mut Vec<u8>, start: usize) -> Result<BodyStep, FrameError> {
        let available = buf.len() - start;
        let step = match self.pending.as_mut() {
            Some(BodyProgress::Length(n)) => {
                let end = self.head.len + *n;
                if available >= end {
                    Ok(BodyStep::Ready {
                        body_end: end,
                        consumed: end,
                    })
                } else {
                    // Make room for the whole body at once rather than growing read by read.
                    buf.reserve(start + end - buf.len());
                    Ok(BodyStep::NeedMore)
                }
            }
            Some(BodyProgress::Chunked(decoder)) => match decoder.decode(&mut buf[start..]) {
                Ok(ChunkedProgress::Done { body_end, consumed }) => {
                    Ok(BodyStep::Ready { body_end, consumed })
                }
                Ok(ChunkedProgress::NeedMore) => {
                    decoder.compact(buf, start);
                    Ok(BodyStep::NeedMore)
                }
                Err(err) => Err(err),
            },
            None => Ok(BodyStep::NeedMore),
        };
        if step != Ok(BodyStep::NeedMore) {
            self.pending = None;
        }
        step
    }
}

/// Drops the bytes of the requests answered so far (`buf[..*start]`), keeping the unread
/// tail at the front so that the buffer never creeps. Heads and decoders hold offsets
/// relative to the request start, so this is safe mid-body. Returns true when nothing is
/// left (the connection is between requests).
pub fn release(buf: &mut Vec<u8>, start: &mut usize) -> bool {
    if *start == buf.len() {
        buf.clear();
        *start = 0;
        true
    } else {
        if *start > 0 {
            buf.drain(..*start);
            *start = 0;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::http::Version;

    /// One framing decision, with everything the connection loop acts on.
    #[derive(Debug, PartialEq, Eq)]
    enum Decision {
        Request {
            method: Vec<u8>,
            target: Vec<u8>,
            version: Version,
            keep_alive: bool,
            body: Vec<u8>,
        },
        Error(FrameError),
    }

    /// Frames `stream` arriving in reads of `sizes` (cycled), the way the connection loop
    /// does, until it closes or the bytes run out.
    fn frame_reads(stream: &[u8], sizes: &[usize], limits: &Limits) -> Vec<Decision> {
        let mut framer = Framer::new();
        let (mut buf, mut start, mut fed) = (Vec::new(), 0, 0);
        let mut decisions = Vec::new();
        for &size in sizes.iter().cycle() {
            if fed == stream.len() {
                break;
            }
            let next = (fed + size.max(1)).min(stream.len());
            buf.extend_from_slice(&stream[fed..next]);
            fed = next;
            while start < buf.len() {
                let (body_end, consumed) = if framer.in_body() {
                    match framer.frame_body(&mut buf, start) {
                        Ok(BodyStep::NeedMore) => break,
                        Ok(BodyStep::Ready { body_end, consumed }) => (body_end, consumed),
                        Err(err) => {
                            decisions.push(Decision::Error(err));
                            return decisions;
                        }
                    }
                } else {
                    match framer.frame_head(&buf[start..], limits) {
                        Ok(HeadStep::NeedMore) => break,
                        Ok(HeadStep::Complete { .. }) => (framer.head.len, framer.head.len),
                        Ok(HeadStep::Body) => continue,
                        Err(err) => {
                            decisions.push(Decision::Error(err));
                            return decisions;
                        }
                    }
                };
                let head = &framer.head;
                let bytes = &buf[start..];
                decisions.push(Decision::Request {
                    method: head.method.of(bytes).to_vec(),
                    target: head.target.of(bytes).to_vec(),
                    version: head.version,
                    keep_alive: head.keep_alive,
                    body: bytes[head.len..body_end].to_vec(),
                });
                start += consumed;
                if !head.keep_alive {
                    return decisions;
                }
            }
            release(&mut buf, &mut start);
        }
        decisions
    }

    fn request(method: &str, target: &str, body: &str) -> Decision {
        Decision::Request {
            method: method.into(),
            target: target.into(),
            version: Version::Http11,
            keep_alive: true,
            body: body.into(),
        }
    }

    #[test]
    fn pipelined_requests_frame_the_same_under_every_split() {
        let stream = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n\
            POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello\
            PUT /c?x=1 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n\
            3;e=1\r\nabc\r\n2\r\nde\r\n0\r\nT: v\r\n\r\n\
            DELETE /d HTTP/1.1\r\nHost: h\r\n\r\n";
        let want = vec![
            request("GET", "/a", ""),
            request("POST", "/b", "hello"),
            request("PUT", "/c?x=1", "abcde"),
            request("DELETE", "/d", ""),
        ];
        let limits = Limits::default();
        for sizes in [&[stream.len()][..], &[1], &[2], &[3, 1], &[7, 13, 1], &[64]] {
            assert_eq!(frame_reads(stream, sizes, &limits), want, "reads {sizes:?}");
        }
    }

    #[test]
    fn an_error_ends_the_decisions_and_close_stops_them() {
        let limits = Limits::default();
        let stream = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nPOST /b HTTP/1.1\r\nHost: h\r\n\
            Transfer-Encoding: chunked\r\n\r\n5\r\nabc\r\n\r\nGET /c HTTP/1.1\r\nHost: h\r\n\r\n";
        for sizes in [&[stream.len()][..], &[1], &[5]] {
            assert_eq!(
                frame_reads(stream, sizes, &limits),
                vec![request("GET", "/a", ""), Decision::Error(FrameError::Chunk)]
            );
        }
        let stream = b"GET /a HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\n";
        let decisions = frame_reads(stream, &[stream.len()], &limits);
        assert!(
            matches!(
                &decisions[..],
                [Decision::Request {
                    keep_alive: false,
                    ..
                }]
            ),
            "{decisions:?}"
        );
    }

    #[test]
    fn oversized_length_is_refused_before_the_body_arrives() {
        let limits = Limits {
            max_body: 4,
            ..Limits::default()
        };
        let stream = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n";
        assert_eq!(
            frame_reads(stream, &[1], &limits),
            vec![Decision::Error(FrameError::BodyTooLarge(5))]
        );
    }

    #[test]
    fn release_keeps_only_the_unread_tail() {
        let mut buf = b"abcdef".to_vec();
        let mut start = 4;
        assert!(!release(&mut buf, &mut start));
        assert_eq!((&buf[..], start), (&b"ef"[..], 0));
        start = 2;
        assert!(release(&mut buf, &mut start));
        assert_eq!((buf.len(), start), (0, 0));
    }
}
