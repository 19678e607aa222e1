//! The connection loop: read, frame, dispatch, write — keep-alive and pipelining included.
//!
//! Core worker, one monoio task per connection. Buffers come from the worker's pool and are
//! handed to the kernel by ownership (`(result, buf)`), so parsed requests are offsets into
//! the read buffer, never borrows across an await. Every complete request already in the
//! buffer is answered, in order, into one output batch that is written with one call.
//!
//! Invariants:
//! - after any framing error the error response is written and the connection closed;
//! - a request is never read past its framing: pipelined bytes stay for the next request;
//! - memory per connection is bounded by `max_header_size + max_body` (+ one output batch);
//! - a panic below the pipeline becomes a 500 and closes only this connection.

use std::{
    net::SocketAddr,
    panic::{catch_unwind, AssertUnwindSafe},
    time::{Duration, Instant},
};

use monoio::{
    buf::SliceMut,
    io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt},
    net::TcpStream,
};

use super::worker::Worker;
use crate::{
    api::{
        context::{Request, RequestContext},
        fault::{write_fault, Fault},
    },
    http::{
        date::{http_date, DATE_LEN},
        parse_head, BodyKind, ChunkedDecoder, ChunkedProgress, FrameError, Head, HeadCache, Limits,
        Response, Version,
    },
    router::Method,
};

/// Output batches larger than this are written before more requests are processed.
const OUT_HIGH_WATER: usize = 64 * 1024;
/// Bytes always free in the read buffer before a read.
const READ_CHUNK: usize = 4096;
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// The body of a request whose head is parsed (in `Conn::head`) but which is not complete.
enum BodyProgress {
    /// Waiting for this many bytes after the head.
    Length(usize),
    Chunked(ChunkedDecoder),
}

/// What the framer found at the start of the unread bytes.
enum Framed {
    NeedMore,
    /// A complete request with a body (its head is in `Conn::head`): end of its body and of
    /// its bytes, both relative to the request start.
    Ready {
        body_end: usize,
        consumed: usize,
    },
    /// A complete request without a body, already answered: the length of its bytes.
    Answered {
        consumed: usize,
    },
    Error(FrameError),
}

/// Per-connection state that survives between reads.
struct Conn<'w> {
    worker: &'w Worker,
    peer: SocketAddr,
    buf: Vec<u8>,
    /// Start of the current request in `buf`.
    start: usize,
    /// The current request's head, parsed in place.
    head: Head,
    /// Set while the current request's body is still arriving.
    pending: Option<BodyProgress>,
    /// Whether `100 Continue` was sent for the current request.
    sent_continue: bool,
    /// When the first byte of the current head arrived.
    head_started: Option<Instant>,
    sink: Sink,
}

/// The answering side of a connection: runs complete requests through the pipeline and
/// collects their responses into the output batch. Kept apart from the read side so that a
/// request can be answered while its bytes (and the target text the parser handed back) are
/// still borrowed from the read buffer.
struct Sink {
    out: Vec<u8>,
    resp: Response,
    /// What the connection remembers of its last responses, reused while they do not change.
    head_cache: HeadCache,
    /// The percent-decoded path of the current request, when it had escapes.
    path: Vec<u8>,
    /// The `Date` value for this batch of responses.
    date: [u8; DATE_LEN],
    close: bool,
}

/// How often a connection waiting for the group flush looks at it.
const DURABLE_POLL: Duration = Duration::from_micros(200);

/// Serves one connection until it closes.
pub async fn serve(mut stream: TcpStream, peer: SocketAddr, worker: &Worker) {
    let mut conn = Conn {
        worker,
        peer,
        buf: worker.take_buffer(),
        start: 0,
        head: Head::default(),
        pending: None,
        sent_continue: false,
        head_started: None,
        sink: Sink {
            out: worker.take_buffer(),
            resp: Response::new(),
            head_cache: HeadCache::default(),
            path: Vec::new(),
            date: [b' '; DATE_LEN],
            close: false,
        },
    };
    let mut busy = false;
    let limits = &worker.shared.config.limits;
    let deadlines = &worker.deadlines;
    let slot = deadlines.register();
    loop {
        conn.sink.date = http_date();
        // Answer every complete request already buffered, up to one output batch.
        let mut batch_full = false;
        while !conn.sink.close && conn.start < conn.buf.len() {
            if !busy {
                busy = true;
                worker.busy.set(worker.busy.get() + 1);
            }
            match conn.frame(limits) {
                Framed::NeedMore => {
                    // Only a request that has to wait for more bytes needs its start time.
                    if conn.head_started.is_none() {
                        conn.head_started = Some(Instant::now());
                    }
                    break;
                }
                Framed::Ready { body_end, consumed } => {
                    conn.dispatch_with_body(body_end, consumed);
                    conn.start += consumed;
                    conn.head_started = None;
                }
                Framed::Answered { consumed } => {
                    conn.start += consumed;
                    conn.head_started = None;
                }
                Framed::Error(err) => conn.frame_error(err, limits),
            }
            if conn.sink.out.len() >= OUT_HIGH_WATER {
                batch_full = true;
                break;
            }
        }
        // Under `synchronous = full`, what these responses acknowledge must be on disk
        // first: wait for the group flush without blocking the other connections.
        if let Some(wait) = worker.services.db.take_durable_wait() {
            let durable = async {
                while !wait.is_done() {
                    monoio::time::sleep(DURABLE_POLL).await;
                }
            };
            if deadlines
                .guard(&slot, limits.send_timeout, durable)
                .await
                .is_err()
            {
                break;
            }
        }
        if conn.pending.is_some() && conn.head.expect_continue && !conn.sent_continue {
            conn.sent_continue = true;
            conn.sink.out.extend_from_slice(CONTINUE);
        }
        if !conn.sink.out.is_empty() {
            let out = std::mem::take(&mut conn.sink.out);
            match deadlines
                .guard(&slot, limits.send_timeout, stream.write_all(out))
                .await
            {
                Ok((Ok(_), mut out)) => {
                    out.clear();
                    conn.sink.out = out;
                }
                _ => break,
            }
        }
        if conn.sink.close {
            linger(&mut stream, std::mem::take(&mut conn.buf), LINGER_TIME).await;
            break;
        }
        if conn.start == conn.buf.len() {
            conn.buf.clear();
            conn.start = 0;
            if busy {
                busy = false;
                worker.busy.set(worker.busy.get() - 1);
            }
            if worker.shared.shutting_down() {
                break;
            }
        } else if conn.start > 0 {
            // Keep the unread tail at the front so the buffer never creeps. Heads and
            // decoders hold offsets relative to the request start, so this is safe mid-body.
            conn.buf.drain(..conn.start);
            conn.start = 0;
        }
        if batch_full {
            continue;
        }
        // Read more, under the timeout that applies to where we are.
        let wait = conn.read_timeout(limits);
        if conn.buf.capacity() - conn.buf.len() < READ_CHUNK {
            conn.buf.reserve(READ_CHUNK.max(conn.buf.len()));
        }
        let buf = std::mem::take(&mut conn.buf);
        let (begin, end) = (buf.len(), buf.capacity());
        match deadlines
            .guard(&slot, wait, stream.read(SliceMut::new(buf, begin, end)))
            .await
        {
            Ok((Ok(n), slice)) => {
                conn.buf = slice.into_inner();
                if n == 0 {
                    break;
                }
            }
            Ok((Err(_), slice)) => {
                conn.buf = slice.into_inner();
                break;
            }
            Err(_elapsed) => {
                // The read buffer went down with the cancelled read; the connection is done.
                // A client that stalled mid-request is told so; an idle one is just closed.
                if conn.head_started.is_some() {
                    conn.sink.out.clear();
                    conn.sink.error_response(408, "Request timed out.");
                    let out = std::mem::take(&mut conn.sink.out);
                    let _ =
                        monoio::time::timeout(Duration::from_secs(1), stream.write_all(out)).await;
                }
                break;
            }
        }
    }
    if busy {
        worker.busy.set(worker.busy.get() - 1);
    }
    let Conn {
        buf,
        sink: Sink { out, .. },
        ..
    } = conn;
    if buf.capacity() > 0 {
        worker.give_buffer(buf);
    }
    if out.capacity() > 0 {
        worker.give_buffer(out);
    }
}

/// How long a closing connection keeps reading (and discarding) what the client still sends.
const LINGER_TIME: Duration = Duration::from_secs(2);
/// How much a closing connection discards before giving up.
const LINGER_BYTES: usize = 64 * 1024;

/// Lingering close: stop sending, then read and discard for a short while, so that bytes the
/// client already sent (pipelined requests, an unread body) do not make the kernel answer
/// with a reset that destroys the response still in flight.
pub async fn linger(stream: &mut TcpStream, mut buf: Vec<u8>, time: Duration) {
    if stream.shutdown().await.is_err() {
        return;
    }
    let deadline = Instant::now() + time;
    let mut discarded = 0;
    buf.clear();
    if buf.capacity() == 0 {
        buf.reserve(READ_CHUNK);
    }
    while discarded < LINGER_BYTES {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        match monoio::time::timeout(left, stream.read(buf)).await {
            Ok((Ok(n), returned)) if n > 0 => {
                discarded += n;
                buf = returned;
                buf.clear();
            }
            _ => return,
        }
    }
}

impl Conn<'_> {
    fn read_timeout(&self, limits: &Limits) -> Duration {
        match (&self.pending, self.head_started) {
            (Some(_), _) => limits.body_timeout,
            (None, Some(started)) => limits
                .header_timeout
                .saturating_sub(started.elapsed())
                .max(Duration::from_millis(1)),
            (None, None) => limits.keepalive_timeout,
        }
    }

    /// Frames the request starting at `self.start`.
    fn frame(&mut self, limits: &Limits) -> Framed {
        if self.pending.is_none() {
            let target = match parse_head(&self.buf[self.start..], limits, &mut self.head) {
                Ok(Some(target)) => target,
                Ok(None) => return Framed::NeedMore,
                Err(err) => return Framed::Error(err),
            };
            let len = self.head.len;
            self.sent_continue = false;
            self.pending = Some(match self.head.body {
                BodyKind::None => {
                    // Nothing more to wait for: answer now, with the target text in hand.
                    let bytes = &self.buf[self.start..self.start + len];
                    self.sink.dispatch(
                        self.worker,
                        self.peer,
                        &self.head,
                        bytes,
                        &mut [],
                        Some(target),
                    );
                    return Framed::Answered { consumed: len };
                }
                BodyKind::Length(n) if n > limits.max_body as u64 => {
                    return Framed::Error(FrameError::BodyTooLarge(n))
                }
                BodyKind::Length(n) => BodyProgress::Length(n as usize),
                BodyKind::Chunked => {
                    BodyProgress::Chunked(ChunkedDecoder::new(len, limits.max_body as u64))
                }
            });
        }
        let available = self.buf.len() - self.start;
        let framed = match self.pending.as_mut() {
            Some(BodyProgress::Length(n)) => {
                let end = self.head.len + *n;
                if available >= end {
                    Framed::Ready {
                        body_end: end,
                        consumed: end,
                    }
                } else {
                    // Make room for the whole body at once rather than growing read by read.
                    self.buf.reserve(self.start + end - self.buf.len());
                    Framed::NeedMore
                }
            }
            Some(BodyProgress::Chunked(decoder)) => {
                match decoder.decode(&mut self.buf[self.start..]) {
                    Ok(ChunkedProgress::Done { body_end, consumed }) => {
                        Framed::Ready { body_end, consumed }
                    }
                    Ok(ChunkedProgress::NeedMore) => {
                        decoder.compact(&mut self.buf, self.start);
                        Framed::NeedMore
                    }
                    Err(err) => Framed::Error(err),
                }
            }
            None => Framed::NeedMore,
        };
        if !matches!(framed, Framed::NeedMore) {
            self.pending = None;
        }
        framed
    }

    /// Answers the complete request at `self.start` whose body has arrived.
    fn dispatch_with_body(&mut self, body_end: usize, consumed: usize) {
        let head = &self.head;
        let (bytes, body) = self.buf[self.start..self.start + consumed].split_at_mut(head.len);
        let bytes: &[u8] = bytes;
        let body = &mut body[..body_end - head.len];
        let target = head.target_str(bytes);
        self.sink
            .dispatch(self.worker, self.peer, head, bytes, body, target);
    }
    /// Answers a framing error and marks the connection for closing.
    fn frame_error(&mut self, err: FrameError, limits: &Limits) {
        let message;
        let text = match err {
            FrameError::BodyTooLarge(_) => {
                message = format!(
                    "Request is too large. Larger than max_request_body_size ({}).",
                    limits.max_body
                );
                message.as_str()
            }
            other => other.message(),
        };
        self.sink.error_response(err.status(), text);
        self.pending = None;
    }
}

impl Sink {
    /// Runs one complete request through the pipeline and appends its response. `bytes`
    /// are the request's head, `target` the text of its target (`None` if it is not UTF-8).
    fn dispatch(
        &mut self,
        worker: &Worker,
        peer: SocketAddr,
        head: &Head,
        bytes: &[u8],
        body: &mut [u8],
        target: Option<&str>,
    ) {
        let Sink {
            out,
            resp,
            head_cache,
            path: decoded,
            date,
            close,
        } = self;
        let shared = &worker.shared;
        resp.reset();
        let method = Method::from_bytes(head.method.of(bytes));
        let keep_alive = head.keep_alive && !shared.shutting_down();
        // The parser hands the target over as text, so only a decoded path needs validating.
        let (path, query) = match target {
            Some(target) if head.path_escaped => (
                if percent_decode(head.path.of(bytes), decoded) {
                    std::str::from_utf8(decoded).ok()
                } else {
                    None
                },
                head.query_str(target),
            ),
            Some(target) => (head.path_str(target), head.query_str(target)),
            None => (None, None),
        };
        let (Some(path), Some(query)) = (path, query) else {
            Fault::new(400, "Malformed request URL.").write(resp);
            resp.write_to_cached(
                out,
                head_cache,
                date,
                method == Some(Method::Head),
                head.version,
                keep_alive,
            );
            return;
        };
        let req = Request {
            buf: bytes,
            head,
            body_len: body.len(),
            body: std::cell::Cell::new(Some(body)),
            method,
            path,
            query,
            peer,
        };
        let services = &worker.services;
        let outcome = catch_unwind(AssertUnwindSafe(|| match shared.pipeline.select(path) {
            Some((chain, script_name, path_info)) => {
                let mut ctx = RequestContext::new(&req, script_name, path_info);
                ctx.services = Some(services);
                chain.call(&req, &mut ctx, resp);
            }
            None => Fault::not_found().write(resp),
        }));
        if outcome.is_err() {
            resp.reset();
            Fault::internal().write(resp);
            resp.close = true;
        }
        if resp.close || !keep_alive {
            *close = true;
        }
        resp.write_to_cached(
            out,
            head_cache,
            date,
            req.is_head(),
            head.version,
            keep_alive,
        );
    }

    fn error_response(&mut self, status: u16, message: &str) {
        self.date = http_date();
        self.resp.reset();
        write_fault(&mut self.resp, status, message, None);
        self.resp.close = true;
        self.close = true;
        self.resp
            .write_to(&mut self.out, &self.date, false, Version::Http11, false);
    }
}

/// Percent-decodes `raw` into `out`; false when an escape is malformed.
fn percent_decode(raw: &[u8], out: &mut Vec<u8>) -> bool {
    out.clear();
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            let hex = |b: u8| (b as char).to_digit(16);
            match (
                raw.get(i + 1).and_then(|&b| hex(b)),
                raw.get(i + 2).and_then(|&b| hex(b)),
            ) {
                (Some(hi), Some(lo)) => out.push((hi * 16 + lo) as u8),
                _ => return false,
            }
            i += 3;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        let mut out = Vec::new();
        assert!(percent_decode(b"/a%20b%2Fc", &mut out));
        assert_eq!(out, b"/a b/c");
        assert!(!percent_decode(b"/a%2", &mut out));
        assert!(!percent_decode(b"/a%zz", &mut out));
    }
}
