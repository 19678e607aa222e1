//! Metrics: per-worker request counters, latency histograms and gauges, summed into the
//! Prometheus text format when `/metrics` is scraped.
//!
//! Where it sits: each core worker counts its own requests in its own block (written by the
//! connection loop after a response is ready, with no lock, no allocation and no atomic
//! read-modify-write); the worker that answers a scrape reads every block and sums them. The
//! orchestration thread and the database connections keep their own single-writer counters,
//! which the scrape reads the same way.
//!
//! Why single-writer atomics and not `Cell`s: a `Cell<u64>` in a worker's `!Send` state is the
//! cheapest counter but no other thread can read it, so a scrape would have to ask every
//! worker over a channel and wait for each event loop to answer. Shared atomics with
//! `fetch_add` would be readable but put a locked instruction on every request, and a counter
//! written from several cores bounces its cache line between them. Here each counter is an
//! `AtomicU64` that only its worker writes, with a relaxed load and a relaxed store: the same
//! instructions as a plain increment, exact because there is one writer, and readable from any
//! thread without a data race. Blocks are 128-byte aligned so workers never share a line.
//!
//! Cardinality, fixed when the paste file is compiled: requests by route template (the
//! compute API's route patterns, the URL-map mounts of the other apps, `unmatched`) × the
//! eight method labels × the 30 status codes ringnova answers with (and `other`); latency
//! histograms by route template × method (18 log-scale buckets, 10 µs to 10 s: a per-status
//! histogram would multiply the series by 31 for little insight, and the route already
//! separates the slow writes from the fast reads). Series appear once counted.
//!
//! ```text
//! conn (worker i) ─ Recorder::observe(key, status, started) ─► block i  (owner writes)
//! /metrics (any worker) ─ exposition::render ─ Σ blocks, orchestrator, db waits ─► text
//! ```
//!
//! ```
//! use ringnova::{metrics::{exposition, Key, Registry}, router::Method};
//! let registry = Registry::new(2, true, &["/", "/healthcheck"], &["/flavors/detail"]);
//! let worker0 = registry.recorder(0); // each worker takes its own, once
//! let started = worker0.start();
//! worker0.observe(worker0.api_key(0, Some(Method::Get)), 200, started);
//! worker0.observe(Key::mount(1, Some(Method::Get)), 200, started);
//! let mut text = String::new();
//! exposition::render(&registry, &mut text);
//! assert!(text.contains(
//!     "ringnova_http_requests_total{route=\"/flavors/detail\",method=\"GET\",status=\"200\"} 1\n"
//! ));
//! assert!(text.contains("route=\"/healthcheck\",method=\"GET\",status=\"200\"} 1\n"));
//! ```
//!
//! No `unsafe`. Metrics must never add a lock, an allocation or a shared write to a
//! request's path, and never take a label value from request text.

pub mod app;
pub mod exposition;
pub mod key;
pub mod recorder;
pub mod registry;

pub use key::Key;
pub use recorder::{Counted, Gauge, Recorder};
pub use registry::Registry;
