//! The connection loop: read, frame, dispatch, write — keep-alive and pipelining included.
//!
//! Core worker, one monoio task per connection. Buffers come from the worker's pool and are
//! handed to the kernel by ownership (`(result, buf)`), so parsed requests are offsets into
//! the read buffer, never borrows across an await. Every complete request already in the
//! buffer is answered, in order, into one output batch that is written with one call.
//! A head byte-identical to the last one answered by a pure chain, in the same `Date`
//! second, is answered from the connection's memo ([`super::memo`]) without being parsed
//! or run through the pipeline; the bytes written are the same as the full path's.
//!
//! Invariants:
//! - after any framing error the error response is written and the connection closed;
//! - a request is never read past its framing: pipelined bytes stay for the next request;
//! - memory per connection is bounded by `max_header_size + max_body` (+ one output batch);
//! - a connection holds its output buffer only while it has requests to answer, and one
//!   idle for [`PARK_AFTER`] holds no buffer at all: its read is cancelled
//!   (never losing bytes already read) and it waits for readability with its buffers,
//!   request state and caches given back: it holds only its task, socket and deadline slot;
//! - a panic below the pipeline becomes a 500 and closes only this connection;
//! - a connection yields to the worker's others after every `OUT_HIGH_WATER` bytes it
//!   writes, so a pipelining or never-reading client cannot hold the core while its socket
//!   buffers absorb megabytes.
//! - every answered request is counted once in the worker's metrics block: routed ones with
//!   their latency (from dispatch to the response in the output batch), memo answers in the
//!   lowest latency bucket, framing errors and timeouts without a latency.

use std::{
    net::SocketAddr,
    panic::{catch_unwind, AssertUnwindSafe},
    rc::Rc,
    time::{Duration, Instant},
};

use monoio::{
    buf::SliceMut,
    io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt, CancelableAsyncReadRent, Canceller},
    net::TcpStream,
};

use super::{
    deadline::{Deadlines, SlotKey},
    memo::Memo,
    worker::Worker,
};
use crate::{
    api::{
        context::{Request, RequestContext},
        fault::{write_fault, Fault},
    },
    http::{
        date::{http_date, DATE_LEN},
        framer::release,
        BodyKind, BodyStep, FrameError, Framer, Head, HeadCache, HeadStep, Limits, Response,
        Version,
    },
    metrics::Key,
    middleware::App,
    router::Method,
};

/// Output batches larger than this are written before more requests are processed.
const OUT_HIGH_WATER: usize = 64 * 1024;
/// Bytes always free in the read buffer before a read.
const READ_CHUNK: usize = 4096;
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// What the framer found at the start of the unread bytes.
enum Framed {
    NeedMore,
    /// A complete request with a body (its head is in `Conn::framer`): end of its body and of
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
    /// Where the current request's head and body end (boxed, like `sink`, so that a parked
    /// connection's task stays small).
    framer: Box<Framer>,
    /// Whether `100 Continue` was sent for the current request.
    sent_continue: bool,
    /// When the first byte of the current head arrived.
    head_started: Option<Instant>,
    /// When the current request's body started to be awaited (its head was complete).
    body_started: Option<Instant>,
    sink: Box<Sink>,
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
    /// The last pure response and the head it answered (see [`super::memo`]).
    memo: Memo,
    /// Whether the memo is used (always, but for tests comparing against the full path).
    use_memo: bool,
}

/// Counts a connection out of its worker's open connections however its task ends.
struct Open<'w>(&'w Worker);

impl Drop for Open<'_> {
    fn drop(&mut self) {
        let worker = self.0;
        worker.active.set(worker.active.get() - 1);
        worker.trim.released();
    }
}

/// How often a connection waiting for the group flush looks at it.
const DURABLE_POLL: Duration = Duration::from_micros(200);

/// Serves one connection until it closes, then counts it out of the worker's open
/// connections (which [`super::worker`] counted in).
///
/// This future is the connection's task, allocated once per connection and held by every
/// idle one, so it is kept small: spawned as it is (not inside another future that would
/// hold the stream a second time), an async block rather than an `async fn` (whose arguments
/// would be stored twice), and no timer in it (monoio's is 640 bytes and 128-byte aligned,
/// which would pad the whole task to the next cache-line multiple): timeouts go through the
/// connection's deadline slot, and the one wait that needs a timer is boxed.
/// `tests::the_connection_task_stays_small` holds it to that.
#[allow(clippy::manual_async_fn)] // an `async fn` would store the arguments twice
pub fn serve(
    mut stream: TcpStream,
    peer: SocketAddr,
    worker: Rc<Worker>,
) -> impl std::future::Future<Output = ()> {
    async move {
        let worker: &Worker = &worker;
        let _open = Open(worker);
        let mut conn = Conn::new(worker, peer);
        let mut busy = false;
        // Bytes written since this task last let the worker's other tasks run.
        let mut unyielded = 0usize;
        // Made on the first idle read; connections closed after one request never need it.
        let mut canceller: Option<Canceller> = None;
        // The limits in force when the connection opened stay its limits.
        let config = worker.config();
        let limits = &config.limits;
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
                    // The output buffer is held only while there is something to answer.
                    if conn.sink.out.capacity() == 0 {
                        conn.sink.out = worker.take_buffer();
                    }
                }
                match conn.frame(limits) {
                    Framed::NeedMore => {
                        // Only a request that has to wait for more bytes needs its start time.
                        if conn.head_started.is_none() {
                            conn.head_started = Some(Instant::now());
                        }
                        if conn.body_started.is_none() && conn.framer.in_body() {
                            conn.body_started = Some(Instant::now());
                        }
                        break;
                    }
                    Framed::Ready { body_end, consumed } => {
                        conn.dispatch_with_body(body_end, consumed);
                        conn.start += consumed;
                        conn.head_started = None;
                        conn.body_started = None;
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
            let durable_wait = worker.services.borrow().db.take_durable_wait();
            if let Some(wait) = durable_wait {
                // Boxed: a timer in the task would make every connection's task larger
                // (see `serve`); this path pays one allocation per wait.
                let durable = Box::pin(async move {
                    while !wait.is_done() {
                        monoio::time::sleep(DURABLE_POLL).await;
                    }
                });
                if deadlines
                    .guard(&slot, limits.send_timeout, durable)
                    .await
                    .is_err()
                {
                    break;
                }
            }
            if conn.framer.in_body() && conn.framer.head.expect_continue && !conn.sent_continue {
                conn.sent_continue = true;
                conn.sink.out.extend_from_slice(CONTINUE);
            }
            if !conn.sink.out.is_empty() {
                let out = std::mem::take(&mut conn.sink.out);
                match deadlines
                    .guard(&slot, limits.send_timeout, stream.write_all(out))
                    .await
                {
                    Ok((Ok(written), mut out)) => {
                        out.clear();
                        conn.sink.out = out;
                        // I/O that is ready at once never makes a task wait: a client that
                        // pipelines without end (or fills a large socket buffer without reading)
                        // would hold the core. Let the others run after every full batch's worth.
                        unyielded += written;
                        if unyielded >= OUT_HIGH_WATER {
                            unyielded = 0;
                            YieldNow(false).await;
                        }
                    }
                    _ => break,
                }
            }
            if conn.sink.close {
                linger(
                    &mut stream,
                    std::mem::take(&mut conn.buf),
                    LINGER_TIME,
                    deadlines,
                    &slot,
                )
                .await;
                break;
            }
            // Between requests (nothing unread) the output buffer goes back to the pool. Not
            // closed here at shutdown: the last response promised keep-alive, so the client may
            // already be sending; its next request is answered with `Connection: close`, and
            // idle connections end with the worker's drain.
            if release(&mut conn.buf, &mut conn.start) && busy {
                busy = false;
                worker.busy.set(worker.busy.get() - 1);
                let out = std::mem::take(&mut conn.sink.out);
                if out.capacity() > 0 {
                    worker.give_buffer(out);
                }
            }
            if batch_full {
                continue;
            }
            // Read more, under the timeout that applies to where we are.
            let wait = conn.read_timeout(limits);
            if conn.buf.capacity() - conn.buf.len() < READ_CHUNK {
                conn.buf.reserve(READ_CHUNK.max(conn.buf.len()));
            }
            let idle = conn.buf.is_empty() && !conn.framer.in_body() && conn.head_started.is_none();
            let buf = std::mem::take(&mut conn.buf);
            let (begin, end) = (buf.len(), buf.capacity());
            let slice = SliceMut::new(buf, begin, end);
            let read = if idle && wait > PARK_AFTER {
                let canceller = canceller.get_or_insert_with(Canceller::new);
                match read_or_park(&mut stream, slice, deadlines, &slot, canceller).await {
                    IdleRead::Done(result, buf) => Ok((result, buf)),
                    IdleRead::Park(buf) => {
                        // Idle for a while: hold no buffer until the client sends again.
                        conn.buf = buf;
                        conn.park();
                        worker.trim.released();
                        worker.parked.set(worker.parked.get() + 1);
                        let woke = deadlines
                            .guard(&slot, wait - PARK_AFTER, stream.readable(false))
                            .await;
                        worker.parked.set(worker.parked.get() - 1);
                        match woke {
                            Ok(Ok(())) => {
                                conn = Conn::new(worker, peer);
                                continue;
                            }
                            // The keep-alive timeout passed, or the socket failed: close. The
                            // parked connection holds nothing to give back.
                            _ => return,
                        }
                    }
                }
            } else {
                deadlines
                    .guard(&slot, wait, stream.read(slice))
                    .await
                    .map(|(result, slice)| (result, slice.into_inner()))
            };
            match read {
                Ok((Ok(n), buf)) => {
                    conn.buf = buf;
                    if n == 0 {
                        break;
                    }
                }
                Ok((Err(_), buf)) => {
                    conn.buf = buf;
                    break;
                }
                Err(_elapsed) => {
                    // The read buffer went down with the cancelled read; the connection is done.
                    // A client that stalled mid-request is told so; an idle one is just closed.
                    if conn.head_started.is_some() {
                        conn.sink.out.clear();
                        worker.metrics.refused(408);
                        conn.sink.error_response(408, "Request timed out.");
                        let out = std::mem::take(&mut conn.sink.out);
                        let _ = deadlines
                            .guard(&slot, Duration::from_secs(1), stream.write_all(out))
                            .await;
                    }
                    break;
                }
            }
        }
        if busy {
            worker.busy.set(worker.busy.get() - 1);
        }
        let Conn { buf, sink, .. } = conn;
        let out = sink.out;
        if buf.capacity() > 0 {
            worker.give_buffer(buf);
        }
        if out.capacity() > 0 {
            worker.give_buffer(out);
        }
    }
}

/// How long an idle keep-alive connection keeps its buffers in a pending read before it
/// parks: cancels the read, gives its buffers and caches back and waits for readability
/// with none. A client that sends its next request sooner (the hot path) never parks; one
/// that waits longer pays a cancel and a readiness wait, small beside its own pause. Short,
/// so that a burst of new connections going idle does not hold a burst of buffers (the
/// deadline sweeper fires it one tick early to one tick late).
const PARK_AFTER: Duration = Duration::from_millis(250);

/// What became of a read on an idle keep-alive connection.
enum IdleRead {
    /// The read ended (bytes, end of stream or an error); the buffer is back.
    Done(std::io::Result<usize>, Vec<u8>),
    /// Nothing arrived within [`PARK_AFTER`]; the read was cancelled having consumed nothing.
    Park(Vec<u8>),
}

/// Reads into `buf` on an idle connection; after [`PARK_AFTER`] without a byte the read is
/// cancelled. The cancelled read is awaited to its end: a read the kernel completed before
/// the cancel keeps its bytes (io_uring), so nothing the client sent is ever dropped.
async fn read_or_park(
    stream: &mut TcpStream,
    buf: SliceMut<Vec<u8>>,
    deadlines: &Deadlines,
    slot: &SlotKey,
    canceller: &mut Canceller,
) -> IdleRead {
    let read = stream.cancelable_read(buf, canceller.handle());
    let mut read = std::pin::pin!(read);
    if let Ok((result, slice)) = deadlines.guard(slot, PARK_AFTER, read.as_mut()).await {
        return IdleRead::Done(result, slice.into_inner());
    }
    // A cancelled canceller stays cancelled; the connection gets a fresh one.
    *canceller = std::mem::take(canceller).cancel();
    let (result, slice) = read.await;
    match result {
        Err(err) if err.raw_os_error() == Some(libc::ECANCELED) => {
            IdleRead::Park(slice.into_inner())
        }
        result => IdleRead::Done(result, slice.into_inner()),
    }
}

/// Lets the worker's other ready tasks (and its I/O poll) run once before going on.
struct YieldNow(bool);

impl std::future::Future for YieldNow {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            return std::task::Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

/// How long a closing connection keeps reading (and discarding) what the client still sends.
const LINGER_TIME: Duration = Duration::from_secs(2);
/// How much a closing connection discards before giving up.
const LINGER_BYTES: usize = 64 * 1024;

/// Lingering close: stop sending, then read and discard for a short while, so that bytes the
/// client already sent (pipelined requests, an unread body) do not make the kernel answer
/// with a reset that destroys the response still in flight. Timed by the connection's
/// deadline slot (within a tick), not a timer of its own.
pub async fn linger(
    stream: &mut TcpStream,
    mut buf: Vec<u8>,
    time: Duration,
    deadlines: &Deadlines,
    slot: &SlotKey,
) {
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
        match deadlines.guard(slot, left, stream.read(buf)).await {
            Ok((Ok(n), returned)) if n > 0 => {
                discarded += n;
                buf = returned;
                buf.clear();
            }
            _ => return,
        }
    }
}

impl<'w> Conn<'w> {
    /// A connection with a read buffer from the pool, at the start of a request.
    fn new(worker: &'w Worker, peer: SocketAddr) -> Self {
        Conn {
            worker,
            peer,
            buf: worker.take_buffer(),
            start: 0,
            framer: Box::new(Framer::new()),
            sent_continue: false,
            head_started: None,
            body_started: None,
            sink: Box::new(Sink {
                out: Vec::new(),
                resp: Response::new(),
                head_cache: HeadCache::default(),
                path: Vec::new(),
                date: [b' '; DATE_LEN],
                close: false,
                memo: Memo::default(),
                use_memo: true,
            }),
        }
    }

    /// Gives the buffers back to the worker's pool and frees the request state and the
    /// answering side with their caches: a parked connection holds only its task, socket
    /// and deadline slot. Only between requests; [`Conn::new`] starts over when the client
    /// sends again.
    fn park(self) {
        let Conn {
            worker, buf, sink, ..
        } = self;
        for buf in [buf, sink.out] {
            if buf.capacity() > 0 {
                worker.give_buffer(buf);
            }
        }
    }

    /// The pause allowed before the next read: what is left of the head's or the body's
    /// whole time, and never more than `body_timeout` between two body reads.
    fn read_timeout(&self, limits: &Limits) -> Duration {
        let left = |total: Duration, started: Instant| {
            total
                .saturating_sub(started.elapsed())
                .max(Duration::from_millis(1))
        };
        match (self.framer.in_body(), self.head_started) {
            (true, _) => match self.body_started {
                Some(started) => limits.body_timeout.min(left(limits.body_deadline, started)),
                None => limits.body_timeout,
            },
            (false, Some(started)) => left(limits.header_timeout, started),
            (false, None) => limits.keepalive_timeout,
        }
    }

    /// Frames the request starting at `self.start`.
    fn frame(&mut self, limits: &Limits) -> Framed {
        if !self.framer.in_body() {
            // A head identical to the last memoized one gets its response again.
            if self.sink.use_memo && !self.worker.shared.shutting_down() {
                if let Some(len) = self.sink.memo.answer(
                    &self.buf[self.start..],
                    &self.sink.date,
                    &mut self.sink.out,
                ) {
                    if let Some(counted) = self.sink.memo.counted() {
                        self.worker.metrics.replayed(counted);
                    }
                    self.sent_continue = false;
                    return Framed::Answered { consumed: len };
                }
            }
            match self.framer.frame_head(&self.buf[self.start..], limits) {
                Ok(HeadStep::NeedMore) => return Framed::NeedMore,
                Ok(HeadStep::Complete { target }) => {
                    // Nothing more to wait for: answer now, with the target text in hand.
                    self.sent_continue = false;
                    let head = &self.framer.head;
                    let bytes = &self.buf[self.start..self.start + head.len];
                    self.sink
                        .dispatch(self.worker, self.peer, head, bytes, &mut [], Some(target));
                    return Framed::Answered { consumed: head.len };
                }
                Ok(HeadStep::Body) => self.sent_continue = false,
                Err(err) => return Framed::Error(err),
            }
        }
        match self.framer.frame_body(&mut self.buf, self.start) {
            Ok(BodyStep::NeedMore) => Framed::NeedMore,
            Ok(BodyStep::Ready { body_end, consumed }) => Framed::Ready { body_end, consumed },
            Err(err) => Framed::Error(err),
        }
    }

    /// Answers the complete request at `self.start` whose body has arrived.
    fn dispatch_with_body(&mut self, body_end: usize, consumed: usize) {
        let head = &self.framer.head;
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
        self.worker.metrics.refused(err.status());
        self.sink.error_response(err.status(), text);
        self.framer.reset();
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
            memo,
            use_memo,
        } = self;
        let shared = &worker.shared;
        let started = worker.metrics.start();
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
        let (Some(_), Some(path), Some(query)) = (method, path, query) else {
            // A method this server does not serve at all (TRACE, QUERY, `get`, anything) is
            // refused before routing with 405 and the methods it serves: RFC 9110 §9.1's
            // SHOULD-501 would count every scanner's probe as a server error. The request
            // was well framed, so the connection stays.
            let fault = match method {
                None => Fault::new(405, "The method is not allowed for the requested URL."),
                Some(_) => Fault::new(400, "Malformed request URL."),
            };
            fault.write(resp);
            if resp.status == 405 {
                resp.header("Allow", b"GET, HEAD, POST, PUT, PATCH, DELETE");
            }
            resp.write_to_cached(
                out,
                head_cache,
                date,
                method == Some(Method::Head),
                head.version,
                keep_alive,
            );
            worker
                .metrics
                .observe(Key::unmatched(method), resp.status, started);
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
        let services = &*worker.services();
        let mut pure = false;
        let mut key = Key::unmatched(method);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            match shared.pipeline.select_entry(path) {
                Some(selected) => {
                    let chain = selected.chain;
                    pure = chain.is_pure();
                    let mut ctx =
                        RequestContext::new(&req, selected.script_name, selected.path_info);
                    ctx.services = Some(services);
                    chain.call(&req, &mut ctx, resp);
                    key = match (ctx.route, &chain.app) {
                        (Some(route), _) => worker.metrics.api_key(route, method),
                        // The compute API's URL-map entry, but none of its routes.
                        (None, App::Api(_)) => Key::unmatched(method),
                        (None, _) => Key::mount(selected.mount, method),
                    };
                }
                None => Fault::not_found().write(resp),
            }
        }));
        if outcome.is_err() {
            resp.reset();
            Fault::internal().write(resp);
            resp.close = true;
        }
        if resp.close || !keep_alive {
            *close = true;
        }
        let start = out.len();
        resp.write_to_cached(
            out,
            head_cache,
            date,
            req.is_head(),
            head.version,
            keep_alive,
        );
        worker.metrics.observe(key, resp.status, started);
        // A pure answer that keeps the connection open is remembered for an identical head.
        if pure
            && *use_memo
            && outcome.is_ok()
            && !*close
            && req.body_len == 0
            && head.body == BodyKind::None
        {
            let counted = worker.metrics.locate(key, resp.status);
            memo.remember(bytes, &out[start..], date, counted);
        }
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

    use std::sync::{atomic::Ordering, Arc};

    use crate::{
        api::services::Services,
        config::{Config, Overrides},
        db::temp::TempDb,
        policy::{Enforcer, LivePolicy},
        server::worker::Shared,
    };

    const DATE: [u8; DATE_LEN] = *b"Sun, 06 Nov 1994 08:49:37 GMT";
    /// Bound on the connection future's size (see `the_connection_task_stays_small`): with
    /// monoio's task header and trailer (40 bytes) the task fits a 1 KiB allocation.
    const MAX_TASK_FUTURE: usize = 1024 - 40;
    const LATER: [u8; DATE_LEN] = *b"Sun, 06 Nov 1994 08:49:38 GMT";

    /// A worker over a scratch database, with the shipped pipeline under `config`.
    fn worker(temp: &TempDb, config: &str) -> Worker {
        let mut config = Config::from_text(config, None, &Overrides::default()).unwrap();
        config.database = temp.config.clone();
        let pipeline = crate::middleware::paste::load(&config).unwrap();
        let policy = LivePolicy::fixed(Enforcer::new());
        let services = Services::open(&config, Arc::clone(&policy)).unwrap();
        let shared = Arc::new(Shared {
            live: crate::config::live::LiveConfig::new(config.clone()),
            handover: crate::server::handover::Handover::default(),
            config,
            pipeline,
            policy,
            shutdown: Arc::default(),
        });
        Worker::new(0, shared, services)
    }

    fn conn(worker: &Worker, use_memo: bool) -> Conn<'_> {
        Conn {
            worker,
            peer: "127.0.0.1:9".parse().unwrap(),
            buf: Vec::new(),
            start: 0,
            framer: Box::new(Framer::new()),
            sent_continue: false,
            head_started: None,
            body_started: None,
            sink: Box::new(Sink {
                out: Vec::new(),
                resp: Response::new(),
                head_cache: HeadCache::default(),
                path: Vec::new(),
                date: DATE,
                close: false,
                memo: Memo::default(),
                use_memo,
            }),
        }
    }

    /// What `serve` writes for `input` arriving in one read: every complete request answered.
    fn answer(conn: &mut Conn<'_>, input: &[u8], date: [u8; DATE_LEN]) -> Vec<u8> {
        let limits = conn.worker.shared.config.limits.clone();
        conn.buf.extend_from_slice(input);
        conn.sink.date = date;
        while !conn.sink.close && conn.start < conn.buf.len() {
            match conn.frame(&limits) {
                Framed::NeedMore => break,
                Framed::Ready { body_end, consumed } => {
                    conn.dispatch_with_body(body_end, consumed);
                    conn.start += consumed;
                }
                Framed::Answered { consumed } => conn.start += consumed,
                Framed::Error(err) => conn.frame_error(err, &limits),
            }
        }
        std::mem::take(&mut conn.sink.out)
    }

    const REQUESTS: &[&[u8]] = &[
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: b:8774\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n",
        b"GET / HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-Proto: https\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nOrigin: http://x\r\n\r\n",
        b"GET /?x=1 HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /v2.1 HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /v2 HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /v3 HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /nope/x HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /healthcheck HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /healthcheck HTTP/1.1\r\nHost: a\r\nAccept: application/json\r\n\r\n",
        b"GET /healthcheck HTTP/1.1\r\nHost: a\r\nAccept: text/plain\r\n\r\n",
        b"HEAD /healthcheck HTTP/1.1\r\nHost: a\r\n\r\n",
        b"POST /healthcheck HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}",
        b"GET /healthcheck HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
        b"GET /healthcheck HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"GET /v2.1/flavors HTTP/1.1\r\nHost: a\r\nX-Auth-Token: admin:admin\r\n\r\n",
        b"GET /%2F HTTP/1.1\r\nHost: a\r\n\r\n",
        b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
    ];
    const CLOSING: &[&[u8]] = &[
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        b"GET /healthcheck HTTP/1.0\r\n\r\n",
        b"GET / HTTP/1.0\r\nHost: a\r\n\r\n",
    ];

    /// The text of `out` with each request id (`req-` and a UUID) replaced by `req-*`, and
    /// the ids (each response carries its id twice).
    fn without_request_ids(out: &[u8]) -> (String, Vec<String>) {
        let text = String::from_utf8_lossy(out).into_owned();
        let (mut rest, mut kept, mut ids) = (text.as_str(), String::new(), Vec::new());
        while let Some(at) = rest.find("req-") {
            let id = rest.get(at..at + 40).unwrap_or_default();
            kept.push_str(&rest[..at]);
            if id.len() == 40 && id[4..].bytes().all(|b| b == b'-' || b.is_ascii_hexdigit()) {
                kept.push_str("req-*");
                ids.push(id.to_owned());
                rest = &rest[at + 40..];
            } else {
                kept.push_str("req-");
                rest = &rest[at + 4..];
            }
        }
        kept.push_str(rest);
        (kept, ids)
    }

    /// Runs `inputs` (one read each, with its date) through a connection with the memo and
    /// one without; the bytes written must be the same. Returns the memo's hits.
    fn same_bytes(worker: &Worker, inputs: &[(Vec<u8>, [u8; DATE_LEN])]) -> usize {
        let (mut memo, mut full) = (conn(worker, true), conn(worker, false));
        for (i, (input, date)) in inputs.iter().enumerate() {
            let (a, ids) = without_request_ids(&answer(&mut memo, input, *date));
            let (b, _) = without_request_ids(&answer(&mut full, input, *date));
            assert_eq!(a, b, "read {i}: {:?}", String::from_utf8_lossy(input));
            // Request ids are fresh per response: a memo answer would repeat one.
            let distinct: std::collections::HashSet<_> = ids.iter().collect();
            assert_eq!(distinct.len() * 2, ids.len(), "{a}");
            assert_eq!(memo.sink.close, full.sink.close);
            assert_eq!(memo.start, full.start);
        }
        memo.sink.memo.hits
    }

    fn memo_matches_full_path(config: &str, requests: &[&[u8]]) -> usize {
        let temp = TempDb::new("memo");
        let worker = worker(&temp, config);
        let mut hits = 0;
        // Each request twice in a row, pipelined and in separate reads, across a date change.
        for request in requests {
            let twice = [*request, *request].concat();
            hits += same_bytes(
                &worker,
                &[
                    (twice.clone(), DATE),
                    (request.to_vec(), DATE),
                    (request.to_vec(), LATER),
                    (twice, LATER),
                ],
            );
        }
        // Every pair of requests, pipelined both ways, then a closing one.
        for a in requests {
            for b in requests {
                let mix = [*a, *b, *a, *a, *b].concat();
                hits += same_bytes(&worker, &[(mix.clone(), DATE), (mix, DATE)]);
            }
        }
        for closing in CLOSING {
            for a in requests.iter().take(3) {
                let mix = [*a, *a, *closing, *a].concat();
                hits += same_bytes(&worker, &[(mix, DATE)]);
            }
        }
        // A head split over two reads, the second completing the memoized head.
        let head = requests[0];
        hits += same_bytes(
            &worker,
            &[
                ([head, &head[..10]].concat(), DATE),
                (head[10..].to_vec(), DATE),
            ],
        );
        // Shutdown turns keep-alive off: the memo must not answer any more.
        let (mut memo, mut full) = (conn(&worker, true), conn(&worker, false));
        let _ = answer(&mut memo, REQUESTS[0], DATE);
        let _ = answer(&mut full, REQUESTS[0], DATE);
        worker.shared.shutdown.store(true, Ordering::Relaxed);
        let a = answer(&mut memo, REQUESTS[0], DATE);
        let b = answer(&mut full, REQUESTS[0], DATE);
        worker.shared.shutdown.store(false, Ordering::Relaxed);
        assert_eq!(a, b);
        assert!(String::from_utf8_lossy(&a).contains("Connection: close\r\n"));
        hits
    }

    #[test]
    fn memo_answers_are_the_full_paths_bytes() {
        let hits = memo_matches_full_path("[ringnova]\naccess_log = false\n", REQUESTS);
        assert!(hits > 0);
    }

    #[test]
    fn no_memo_under_filters_with_per_request_effects() {
        let hits = memo_matches_full_path(
            "[ringnova]\naccess_log = false\n\
             [oslo_middleware]\nenable_proxy_headers_parsing = true\n\
             [cors]\nallowed_origin = http://x\n",
            REQUESTS,
        );
        assert!(hits > 0, "the healthcheck has no filters");
        let without_healthcheck: Vec<&[u8]> = REQUESTS
            .iter()
            .copied()
            .filter(|r| !r.windows(12).any(|w| w == b"/healthcheck"))
            .collect();
        let hits = memo_matches_full_path(
            "[oslo_middleware]\nenable_proxy_headers_parsing = true\n",
            &without_healthcheck,
        );
        assert_eq!(hits, 0);
        let hits = memo_matches_full_path(
            "[ringnova]\naccess_log = false\n[cors]\nallowed_origin = http://x\n",
            &without_healthcheck,
        );
        assert_eq!(hits, 0);
    }

    #[test]
    fn unknown_methods_get_405_with_allow_and_keep_the_connection() {
        let temp = TempDb::new("trace");
        let worker = worker(&temp, "[ringnova]\naccess_log = false\n");
        let mut conn = conn(&worker, true);
        let out = answer(
            &mut conn,
            b"TRACE /v2.1/flavors HTTP/1.1\r\nHost: a\r\n\r\nFOO /v2.1/ HTTP/1.1\r\nHost: a\r\n\r\nget / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
            DATE,
        );
        let text = String::from_utf8_lossy(&out);
        assert_eq!(text.matches("HTTP/1.1 405 ").count(), 3, "{text}");
        assert_eq!(text.matches("\"badMethod\"").count(), 3, "{text}");
        assert_eq!(
            text.matches("Allow: GET, HEAD, POST, PUT, PATCH, DELETE\r\n")
                .count(),
            3,
            "{text}"
        );
        assert_eq!(text.matches("HTTP/1.1 200 ").count(), 1, "{text}");
        assert!(!conn.sink.close);
    }

    /// What the task of an idle connection costs: its future, in a monoio task beside a
    /// header and a trailer of a few words. A timer slipping back into it (640 bytes,
    /// 128-byte aligned) or a large buffer kept inline would break this.
    #[test]
    fn the_connection_task_stays_small() {
        let temp = TempDb::new("task-size");
        let worker = Rc::new(worker(&temp, "[ringnova]\naccess_log = false\n"));
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .unwrap();
        rt.block_on(async {
            let listener = monoio::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let stream = TcpStream::connect(addr).await.unwrap();
            let task = serve(stream, addr, Rc::clone(&worker));
            let (size, align) = (std::mem::size_of_val(&task), std::mem::align_of_val(&task));
            drop(task);
            eprintln!("connection future: {size} bytes, aligned to {align}");
            assert!(align <= 16, "aligned to {align} bytes");
            assert!(size <= MAX_TASK_FUTURE, "{size} bytes");
        });
    }

    #[test]
    fn a_parked_connection_gives_its_buffers_back() {
        let temp = TempDb::new("park");
        let worker = worker(&temp, "[ringnova]\naccess_log = false\n");
        let mut conn = Conn::new(&worker, "127.0.0.1:9".parse().unwrap());
        let _ = answer(&mut conn, REQUESTS[0], DATE);
        conn.sink.out = worker.take_buffer();
        assert!(conn.buf.capacity() > 0);
        assert_eq!(worker.pooled(), 0);
        conn.park();
        assert_eq!(worker.pooled(), 2, "the read and the output buffer");
        // A trim keeps a few pooled buffers and frees the rest.
        let many: Vec<Vec<u8>> = (0..100).map(|_| worker.take_buffer()).collect();
        many.into_iter().for_each(|buf| worker.give_buffer(buf));
        assert_eq!(worker.pooled(), 100);
        worker.shrink_pool();
        assert!((2..100).contains(&worker.pooled()), "{}", worker.pooled());
    }

    #[test]
    fn percent_decoding() {
        let mut out = Vec::new();
        assert!(percent_decode(b"/a%20b%2Fc", &mut out));
        assert_eq!(out, b"/a b/c");
        assert!(!percent_decode(b"/a%2", &mut out));
        assert!(!percent_decode(b"/a%zz", &mut out));
    }
}
