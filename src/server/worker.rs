//! One core worker: a thread pinned to its CPU, with its own monoio runtime, listening socket,
//! connection count and buffer pool.
//!
//! Thread-per-core model: everything in [`Worker`] is `!Send` (`Rc`, `Cell`, `RefCell`) and
//! lives on this thread only; the only things shared with other threads are the [`Shared`]
//! state (configuration, compiled pipeline, policy — read-only, except the rate limiter a
//! `ratelimit` filter holds, whose per-user buckets are locked per shard), the shutdown and
//! handover flags, and the published configuration. Each worker opens its own database
//! connection when it starts and keeps it in its [`Services`]. Nothing is stolen or migrated
//! between cores.
//!
//! A reloaded configuration (SIGHUP) is taken up by [`Worker::refresh_config`], called once
//! per request and once per accepted connection: one atomic load while nothing changed.
//! Connections keep the limits they were opened with; requests see the new API settings.
//!
//! Stopping: SIGTERM/SIGINT stop the accept loop, in-flight requests finish (up to
//! `shutdown_timeout`) and idle connections are closed. SIGQUIT hands the port over to a
//! newer process first (`server::handover`): the listener's queue is accepted and served
//! before it closes, and idle keep-alive connections get [`handover::IDLE_GRACE`] for a last
//! request before they are closed.
//!
//! Its connection and in-flight counts and request counters live in its own metrics block,
//! which only it writes and the `/metrics` scrape reads (see [`crate::metrics`]).
//!
//! A worker must never share its connections, buffers or database connection with another
//! thread.

use std::{
    cell::{Ref, RefCell},
    net::SocketAddr,
    rc::Rc,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use monoio::{
    io::{AsyncWriteRentExt, Canceller},
    net::{TcpListener, TcpStream},
};

use super::{
    conn,
    deadline::Deadlines,
    handover::{self, Handover},
    memory::{self, Trim},
};
use crate::{
    api::{fault::write_fault, services::Services},
    config::{
        live::{ConfigView, LiveConfig},
        Config,
    },
    http::Response,
    metrics::{Gauge, Recorder},
    middleware::Pipeline,
    policy::LivePolicy,
};

/// Read-only state every worker shares.
#[derive(Debug)]
pub struct Shared {
    /// The configuration the server started with: the source of every restart-only value.
    pub config: Config,
    /// The configuration in force, republished by SIGHUP.
    pub live: Arc<LiveConfig>,
    /// SIGQUIT's handover to a newer process.
    pub handover: Handover,
    /// The compiled paste pipeline.
    pub pipeline: Pipeline,
    /// The policy rules, republished when the policy files change.
    pub policy: Arc<LivePolicy>,
    /// Set by SIGTERM/SIGINT: stop accepting, finish in-flight requests, exit.
    pub shutdown: Arc<AtomicBool>,
}

impl Shared {
    /// Whether shutdown has begun.
    #[inline]
    pub fn shutting_down(&self) -> bool {
        self.shutdown.load(Ordering::Relaxed)
    }

    /// Whether the accept loop must stop (shutdown or handover).
    #[inline]
    fn stopping(&self) -> bool {
        self.shutting_down() || self.handover.requested()
    }
}

/// Buffers kept in a worker's pool; larger ones are dropped instead of pooled.
const POOLED_BUFFER_MAX: usize = 64 * 1024;
/// Initial capacity of pooled buffers.
pub const BUFFER_SIZE: usize = 8 * 1024;
/// Buffers kept per worker. Busy connections keep theirs; the pool only covers connections
/// opening, closing and waking from a park, so it need not grow with the connection count.
const POOL_DEPTH: usize = 256;
/// Buffers a worker's pool keeps when it trims its heap (after connections parked or
/// closed): enough for a quiet worker's traffic; the next burst grows it again.
const POOL_KEPT_ON_TRIM: usize = 32;

/// Per-core state.
#[derive(Debug)]
pub struct Worker {
    /// Worker index.
    pub id: usize,
    /// Shared read-only state.
    pub shared: Arc<Shared>,
    /// Open connections.
    pub active: Gauge,
    /// Connections in the middle of a request (not idle between requests).
    pub busy: Gauge,
    /// Connections over the cap being answered 503 (at most [`MAX_REFUSING`]).
    pub refusing: Gauge,
    /// This worker's request counters.
    pub metrics: Recorder,
    /// Connection timeouts, swept once a tick.
    pub deadlines: Rc<Deadlines>,
    /// Idle keep-alive connections parked (holding no buffer).
    pub parked: Gauge,
    /// Memory given back by parked and closed connections since the last heap trim.
    pub trim: Trim,
    /// Heap trims so far.
    heap_trims: Gauge,
    /// This worker's database connection, policy and API settings; lent out for one
    /// request at a time by [`Worker::services`].
    pub services: RefCell<Services>,
    /// This worker's view of the configuration in force.
    config: ConfigView,
    pool: RefCell<Vec<Vec<u8>>>,
}

impl Worker {
    /// A worker with an empty pool and its own services.
    pub fn new(id: usize, shared: Arc<Shared>, services: Services) -> Self {
        let metrics = shared.pipeline.metrics().recorder(id);
        metrics.attach_db(services.db.wait_stats());
        Worker {
            id,
            config: ConfigView::new(Arc::clone(&shared.live)),
            shared,
            services: RefCell::new(services),
            active: metrics.connections(),
            busy: metrics.in_flight(),
            refusing: metrics.refusing(),
            parked: metrics.parked(),
            heap_trims: metrics.heap_trims(),
            metrics,
            deadlines: Rc::new(Deadlines::default()),
            trim: Trim::default(),
            pool: RefCell::new(Vec::new()),
        }
    }

    /// Takes up a reloaded configuration, if one was published: one atomic load when none
    /// was. Never while the services are lent out (it then waits for the next call).
    #[inline]
    pub fn refresh_config(&self) {
        if !self.config.is_stale() {
            return;
        }
        if let Ok(mut services) = self.services.try_borrow_mut() {
            self.config.refresh();
            services.apply(&self.config.get());
        }
    }

    /// The configuration in force (for a new connection: its limits and timeouts).
    pub fn config(&self) -> Rc<Config> {
        self.refresh_config();
        self.config.handle()
    }

    /// The services for one request, with the configuration in force.
    #[inline]
    pub fn services(&self) -> Ref<'_, Services> {
        self.refresh_config();
        self.services.borrow()
    }

    /// Takes a cleared buffer from the pool (or allocates one).
    pub fn take_buffer(&self) -> Vec<u8> {
        self.pool
            .borrow_mut()
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(BUFFER_SIZE))
    }

    /// Returns a buffer to the pool.
    pub fn give_buffer(&self, mut buf: Vec<u8>) {
        if buf.capacity() > POOLED_BUFFER_MAX {
            return;
        }
        buf.clear();
        let mut pool = self.pool.borrow_mut();
        if pool.len() < POOL_DEPTH {
            pool.push(buf);
        }
    }

    /// Buffers in the pool.
    pub fn pooled(&self) -> usize {
        self.pool.borrow().len()
    }

    /// Frees the pooled buffers beyond [`POOL_KEPT_ON_TRIM`] (when the worker trims its heap).
    pub fn shrink_pool(&self) {
        self.pool.borrow_mut().truncate(POOL_KEPT_ON_TRIM);
    }
}

/// Resolves when the accept loop must stop: shutdown or handover (checked every 100 ms).
async fn stop_signal(shared: &Shared) {
    while !shared.stopping() {
        monoio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every [`memory::TRIM_INTERVAL`], once enough connections gave memory back and the worker
/// has gone quiet ([`Trim::due`]), shrinks the buffer pool and trims this thread's heap.
/// Runs as long as the worker's runtime does, off the request path.
async fn trim(worker: Rc<Worker>) {
    loop {
        monoio::time::sleep(memory::TRIM_INTERVAL).await;
        if worker.trim.due() {
            let started = Instant::now();
            worker.shrink_pool();
            memory::trim_heap();
            worker.heap_trims.set(worker.heap_trims.get() + 1);
            log::debug!(
                "worker {}: heap trimmed in {:?}",
                worker.id,
                started.elapsed()
            );
        }
    }
}

/// What ended a turn of the accept loop.
enum Next {
    Accepted(std::io::Result<(TcpStream, SocketAddr)>),
    Stop,
}

/// The accept loop, then the handover (SIGQUIT) and the drain. Runs inside the worker's
/// runtime.
pub async fn run(worker: Rc<Worker>, listener: std::net::TcpListener) -> std::io::Result<()> {
    // The same socket under a second descriptor, for the handover's filter and last accepts.
    let control = listener.try_clone()?;
    let listener = TcpListener::from_std(listener)?;
    monoio::spawn(Rc::clone(&worker.deadlines).sweep());
    monoio::spawn(trim(Rc::clone(&worker)));
    let canceller = Canceller::new();
    // Accepts failed in a row: EMFILE/ENFILE leave the connection queued and the socket
    // readable, so retrying at once would spin. Back off, and log once per episode.
    let mut failures = 0u32;
    loop {
        let mut accept = std::pin::pin!(listener.cancelable_accept(canceller.handle()));
        let next = monoio::select! {
            accepted = &mut accept => Next::Accepted(accepted),
            () = stop_signal(&worker.shared) => Next::Stop,
        };
        let accepted = match next {
            Next::Accepted(accepted) => accepted,
            Next::Stop => {
                // Cancelled and awaited, never dropped: a connection the kernel handed
                // over as the cancel went in is served rather than leaked.
                let _ = canceller.cancel();
                if let Ok((stream, peer)) = accept.await {
                    admit(&worker, stream, peer);
                }
                break;
            }
        };
        match accepted {
            Ok((stream, peer)) => {
                if failures > 0 {
                    log::warn!(
                        "worker {}: accepting again after {failures} failed accepts",
                        worker.id
                    );
                    failures = 0;
                }
                admit(&worker, stream, peer);
            }
            Err(err) => {
                failures = failures.saturating_add(1);
                if failures == 1 {
                    log::warn!(
                        "worker {}: accept failed: {err}; retrying with backoff",
                        worker.id
                    );
                }
                monoio::time::sleep(accept_backoff(failures)).await;
            }
        }
    }
    let shared = &worker.shared;
    let handing_over = shared.handover.requested();
    if handing_over && !shared.shutting_down() {
        hand_over(&worker, &control).await;
    }
    drop(listener);
    drop(control);
    let deadline = Instant::now() + worker.config().shutdown_timeout;
    if handing_over {
        // The last worker to close its listener tells every connection to finish.
        if shared.handover.listener_closed(shared.config.workers) {
            log::info!("handover: every listener is closed; draining connections");
            shared.shutdown.store(true, Ordering::Relaxed);
        }
        while !shared.shutting_down() && Instant::now() < deadline {
            monoio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let closing = Instant::now();
    loop {
        let now = Instant::now();
        let settled = if handing_over {
            // Keep-alive connections get a last request, answered with Connection: close.
            worker.active.get() == 0
                || (worker.busy.get() == 0 && now >= closing + handover::IDLE_GRACE)
        } else {
            worker.busy.get() == 0
        };
        if settled || now >= deadline {
            break;
        }
        monoio::time::sleep(Duration::from_millis(10)).await;
    }
    if worker.busy.get() > 0 {
        log::warn!(
            "worker {}: {} requests still running at the shutdown deadline",
            worker.id,
            worker.busy.get()
        );
    }
    Ok(())
}

/// Refusals (503 to connections over the cap) a worker has in progress at most. Each holds a
/// task, a socket and a small buffer for up to about a second; a flood beyond this many is
/// closed at once without an answer, so refusing costs a bounded amount of memory and
/// descriptors however fast connections arrive.
pub const MAX_REFUSING: usize = 32;

/// Serves an accepted connection (or refuses it over the connection cap).
fn admit(worker: &Rc<Worker>, stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    worker.refresh_config();
    if worker.active.get() >= worker.config.get().max_connections {
        let refusing = worker.refusing.get();
        if refusing >= MAX_REFUSING {
            worker.metrics.connection_refused(false);
            drop(stream);
            return;
        }
        worker.refusing.set(refusing + 1);
        worker.metrics.connection_refused(true);
        let refusing_worker = Rc::clone(worker);
        monoio::spawn(async move {
            refuse(stream, Rc::clone(&refusing_worker.deadlines)).await;
            let refusing = &refusing_worker.refusing;
            refusing.set(refusing.get() - 1);
        });
        return;
    }
    // Counted out by the connection's task when it ends (`conn::serve`).
    worker.active.set(worker.active.get() + 1);
    monoio::spawn(conn::serve(stream, peer, Rc::clone(worker)));
}

/// SIGQUIT while a newer process serves the port: take this listener out of service without
/// losing what the kernel queued on it (see `server::handover`).
async fn hand_over(worker: &Rc<Worker>, control: &std::net::TcpListener) {
    if handover::kernel_migrates() {
        log::debug!(
            "worker {}: the kernel migrates queued connections (tcp_migrate_req)",
            worker.id
        );
    } else {
        if let Err(err) = handover::refuse_new_connections(control) {
            log::warn!(
                "worker {}: cannot stop new connections before closing the listener \
                 ({err}); connections arriving as it closes may be reset",
                worker.id
            );
        }
        let until = Instant::now() + handover::SETTLE;
        while Instant::now() < until && !worker.shared.shutting_down() {
            accept_queued(worker, control);
            monoio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let taken = accept_queued(worker, control);
    log::debug!(
        "worker {}: listener closing after its queue was accepted ({taken} at the end)",
        worker.id
    );
}

/// Accepts every connection queued on `control` (non-blocking) and serves it; returns how
/// many it took.
fn accept_queued(worker: &Rc<Worker>, control: &std::net::TcpListener) -> usize {
    let mut taken = 0;
    loop {
        match control.accept() {
            Ok((stream, peer)) => {
                let stream = stream
                    .set_nonblocking(true)
                    .and_then(|()| TcpStream::from_std(stream));
                match stream {
                    Ok(stream) => {
                        admit(worker, stream, peer);
                        taken += 1;
                    }
                    Err(err) => log::warn!("worker {}: cannot serve {peer}: {err}", worker.id),
                }
            }
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => return taken,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => {
                log::warn!("worker {}: accept failed during handover: {err}", worker.id);
                return taken;
            }
        }
    }
}

/// First pause after a failed accept; it doubles with each failure in a row.
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(5);
/// Longest pause between accepts while they keep failing: how late a worker notices that
/// descriptors are free again.
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_millis(100);

/// How long to wait before the next accept after `failures` failed ones in a row.
fn accept_backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    (ACCEPT_BACKOFF_MIN * (1u32 << doublings)).min(ACCEPT_BACKOFF_MAX)
}

/// Answers a connection over the cap with 503 and closes it.
async fn refuse(mut stream: TcpStream, deadlines: Rc<Deadlines>) {
    let slot = deadlines.register();
    let mut resp = Response::new();
    write_fault(
        &mut resp,
        503,
        "Too many connections; try again later.",
        None,
    );
    resp.close = true;
    let mut out = Vec::with_capacity(256);
    resp.write_to(
        &mut out,
        &crate::http::date::http_date(),
        false,
        crate::http::Version::Http11,
        false,
    );
    if let Ok((Ok(_), out)) = deadlines
        .guard(&slot, Duration::from_secs(1), stream.write_all(out))
        .await
    {
        // A short linger: refused connections must stay cheap during a flood.
        conn::linger(
            &mut stream,
            out,
            Duration::from_millis(200),
            &deadlines,
            &slot,
        )
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_backoff_grows_to_its_cap() {
        assert_eq!(accept_backoff(1), ACCEPT_BACKOFF_MIN);
        assert_eq!(accept_backoff(2), ACCEPT_BACKOFF_MIN * 2);
        let mut last = Duration::ZERO;
        for failures in 1..100 {
            let pause = accept_backoff(failures);
            assert!(pause >= last && pause <= ACCEPT_BACKOFF_MAX);
            last = pause;
        }
        assert_eq!(accept_backoff(u32::MAX), ACCEPT_BACKOFF_MAX);
    }
}
