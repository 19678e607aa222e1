//! One core worker: a thread pinned to its CPU, with its own monoio runtime, listening socket,
//! connection count and buffer pool.
//!
//! Thread-per-core model: everything in [`Worker`] is `!Send` (`Rc`, `Cell`, `RefCell`) and
//! lives on this thread only; the only things shared with other threads are the [`Shared`]
//! state (configuration, compiled pipeline, policy — read-only, except the rate limiter a
//! `ratelimit` filter holds, whose per-user buckets are locked per shard) and the shutdown
//! flag. Each worker opens its own database connection when it starts and keeps it in its
//! [`Services`]. Nothing is stolen or migrated between cores.
//!
//! A worker must never share its connections, buffers or database connection with another
//! thread.

use std::{
    cell::{Cell, RefCell},
    rc::Rc,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use monoio::{
    io::AsyncWriteRentExt,
    net::{TcpListener, TcpStream},
};

use super::{conn, deadline::Deadlines};
use crate::{
    api::{fault::write_fault, services::Services},
    config::Config,
    http::Response,
    middleware::Pipeline,
    policy::LivePolicy,
};

/// Read-only state every worker shares.
#[derive(Debug)]
pub struct Shared {
    /// The validated configuration.
    pub config: Config,
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
}

/// Buffers kept in a worker's pool; larger ones are dropped instead of pooled.
const POOLED_BUFFER_MAX: usize = 64 * 1024;
/// Initial capacity of pooled buffers.
pub const BUFFER_SIZE: usize = 8 * 1024;
/// Buffers kept per worker. Busy connections keep theirs; the pool only covers connections
/// opening, closing and waking from a park, so it need not grow with the connection count.
const POOL_DEPTH: usize = 256;

/// Per-core state.
#[derive(Debug)]
pub struct Worker {
    /// Worker index.
    pub id: usize,
    /// Shared read-only state.
    pub shared: Arc<Shared>,
    /// Open connections.
    pub active: Cell<usize>,
    /// Connections in the middle of a request (not idle between requests).
    pub busy: Cell<usize>,
    /// Connection timeouts, swept once a tick.
    pub deadlines: Rc<Deadlines>,
    /// This worker's database connection, policy and API settings.
    pub services: Services,
    pool: RefCell<Vec<Vec<u8>>>,
}

impl Worker {
    /// A worker with an empty pool and its own services.
    pub fn new(id: usize, shared: Arc<Shared>, services: Services) -> Self {
        Worker {
            id,
            shared,
            services,
            active: Cell::new(0),
            busy: Cell::new(0),
            deadlines: Rc::new(Deadlines::default()),
            pool: RefCell::new(Vec::new()),
        }
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
}

/// Resolves when shutdown begins (checked every 100 ms).
pub async fn shutdown_signal(shared: &Shared) {
    while !shared.shutting_down() {
        monoio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The accept loop, then the drain. Runs inside the worker's runtime.
pub async fn run(worker: Rc<Worker>, listener: std::net::TcpListener) -> std::io::Result<()> {
    let listener = TcpListener::from_std(listener)?;
    monoio::spawn(Rc::clone(&worker.deadlines).sweep());
    // Accepts failed in a row: EMFILE/ENFILE leave the connection queued and the socket
    // readable, so retrying at once would spin. Back off, and log once per episode.
    let mut failures = 0u32;
    loop {
        let accepted = monoio::select! {
            accepted = listener.accept() => Some(accepted),
            () = shutdown_signal(&worker.shared) => None,
        };
        let Some(accepted) = accepted else { break };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(err) => {
                failures = failures.saturating_add(1);
                if failures == 1 {
                    log::warn!(
                        "worker {}: accept failed: {err}; retrying with backoff",
                        worker.id
                    );
                }
                monoio::time::sleep(accept_backoff(failures)).await;
                continue;
            }
        };
        if failures > 0 {
            log::warn!(
                "worker {}: accepting again after {failures} failed accepts",
                worker.id
            );
            failures = 0;
        }
        let _ = stream.set_nodelay(true);
        if worker.active.get() >= worker.shared.config.max_connections {
            monoio::spawn(refuse(stream));
            continue;
        }
        worker.active.set(worker.active.get() + 1);
        let conn_worker = Rc::clone(&worker);
        monoio::spawn(async move {
            conn::serve(stream, peer, &conn_worker).await;
            conn_worker.active.set(conn_worker.active.get() - 1);
        });
    }
    drop(listener);
    let deadline = Instant::now() + worker.shared.config.shutdown_timeout;
    while worker.busy.get() > 0 && Instant::now() < deadline {
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
async fn refuse(mut stream: TcpStream) {
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
    if let Ok((Ok(_), out)) =
        monoio::time::timeout(Duration::from_secs(1), stream.write_all(out)).await
    {
        // A short linger: refused connections must stay cheap during a flood.
        conn::linger(&mut stream, out, Duration::from_millis(200)).await;
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
