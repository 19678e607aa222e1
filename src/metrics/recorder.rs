//! One worker's counters: the block it writes on every request and the scraper reads.
//!
//! Core worker (the only writer of its block) and whichever worker answers a scrape (a
//! reader). Each counter is an `AtomicU64` written only by the worker that owns the block,
//! with a relaxed load and a relaxed store — plain `mov`s on x86-64 and plain `ldr`/`str` on
//! AArch64, no lock prefix, no read-modify-write — so recording costs what incrementing a
//! `u64` in a `Cell` costs, while another thread may read it without a data race. The single
//! writer is what makes the load-then-store increment exact; it is enforced by the types: a
//! block is written only through its [`Recorder`] (not `Sync`, not `Clone`) or its [`Gauge`]s
//! (same), and [`Registry::recorder`](super::Registry::recorder) hands each block's recorder
//! out once. The blocks are 128-byte aligned and padded, so no two workers' counters share a
//! cache line (nor an adjacent-line prefetch pair), and a scrape never moves a line out of a
//! worker's cache for longer than the read.
//!
//! A reader sees each counter's latest stored value, possibly some of one request's
//! increments and not yet the rest: a scrape is a moment's view per counter, as Prometheus
//! expects. Histogram counts are derived from the buckets at scrape time, so `_count` and the
//! `+Inf` bucket always agree.
//!
//! Recording must never allocate, lock, or write a location another thread writes.

use std::{
    cell::Cell,
    marker::PhantomData,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, OnceLock,
    },
    time::Instant,
};

use super::key::{status_slot, Key, METHOD_SLOTS, STATUS_SLOTS};
use crate::db::WaitStats;

/// Upper bounds of the latency histogram's buckets in nanoseconds: log-scale from 10 µs (a
/// request answered from memory takes a few) to 10 s (the database busy timeout's range).
pub const BUCKETS_NS: [u64; 18] = [
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    10_000_000_000,
];

/// The `le` label of each bucket of [`BUCKETS_NS`], in seconds.
pub const BUCKET_LABELS: [&str; 18] = [
    "1e-05", "2.5e-05", "5e-05", "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01",
    "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "10",
];

/// Bucket slots per key: one per bound and `+Inf`.
pub const BUCKET_SLOTS: usize = BUCKETS_NS.len() + 1;

/// The bucket of a duration: the first whose bound is at least `nanos`, else `+Inf`.
#[inline]
pub fn bucket(nanos: u64) -> usize {
    BUCKETS_NS.partition_point(|&bound| bound < nanos)
}

/// Counters per chunk: one chunk is two cache lines.
const LANES: usize = 16;

/// Sixteen counters, 128-byte aligned: chunk boundaries are line-pair boundaries.
#[repr(C, align(128))]
#[derive(Debug, Default)]
struct Chunk([AtomicU64; LANES]);

/// A fixed array of counters, padded to whole chunks.
#[derive(Debug)]
struct Counters(Box<[Chunk]>);

impl Counters {
    fn new(len: usize) -> Counters {
        Counters((0..len.div_ceil(LANES)).map(|_| Chunk::default()).collect())
    }

    #[inline]
    fn cell(&self, index: usize) -> Option<&AtomicU64> {
        self.0
            .get(index / LANES)
            .map(|chunk| &chunk.0[index % LANES])
    }

    #[inline]
    fn get(&self, index: usize) -> u64 {
        self.cell(index)
            .map_or(0, |cell| cell.load(Ordering::Relaxed))
    }

    /// Adds `n`. Only the block's single writer calls this (see the module doc): a load and a
    /// store, not an atomic read-modify-write.
    #[inline]
    fn add(&self, index: usize, n: u64) {
        if let Some(cell) = self.cell(index) {
            cell.store(
                cell.load(Ordering::Relaxed).wrapping_add(n),
                Ordering::Relaxed,
            );
        }
    }
}

/// One gauge on its own cache-line pair.
#[repr(align(128))]
#[derive(Debug, Default)]
pub(crate) struct Padded(AtomicU64);

impl Padded {
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A worker-owned gauge with `Cell`'s interface (`get`/`set`), readable by the scraper.
///
/// Not `Sync` and not `Clone`: only the worker holding it writes it.
#[derive(Debug)]
pub struct Gauge {
    value: Arc<Padded>,
    _single_writer: PhantomData<Cell<()>>,
}

impl Gauge {
    fn new(value: Arc<Padded>) -> Gauge {
        Gauge {
            value,
            _single_writer: PhantomData,
        }
    }

    /// The current value.
    #[inline]
    pub fn get(&self) -> usize {
        self.value.0.load(Ordering::Relaxed) as usize
    }

    /// Sets the value.
    #[inline]
    pub fn set(&self, value: usize) {
        self.value.0.store(value as u64, Ordering::Relaxed);
    }
}

/// One worker's counters.
#[derive(Debug)]
pub(crate) struct WorkerBlock {
    /// Route slots (see [`Key`]).
    routes: usize,
    /// Requests by key and status, then latency buckets by key, then latency sums (ns) by
    /// key.
    counters: Counters,
    /// Open connections.
    pub(crate) connections: Arc<Padded>,
    /// Connections in the middle of a request.
    pub(crate) in_flight: Arc<Padded>,
    /// Connections over the connection cap being answered 503.
    pub(crate) refusing: Arc<Padded>,
    /// Connections over the cap closed without an answer, then those answered 503.
    pub(crate) refused: [Padded; 2],
    /// Idle keep-alive connections parked (holding no buffer).
    pub(crate) parked: Arc<Padded>,
    /// Times the worker's heap was trimmed (see `server::memory`).
    pub(crate) heap_trims: Arc<Padded>,
    /// The I/O driver the worker runs, once it runs.
    pub(crate) driver: OnceLock<&'static str>,
    /// The worker's database connection's waits, once it is open.
    pub(crate) db: OnceLock<Arc<WaitStats>>,
    /// Whether the block's recorder has been handed out.
    taken: AtomicBool,
}

impl WorkerBlock {
    pub(crate) fn new(routes: usize) -> WorkerBlock {
        let keys = routes * METHOD_SLOTS;
        WorkerBlock {
            routes,
            counters: Counters::new(keys * (STATUS_SLOTS + BUCKET_SLOTS + 1)),
            connections: Arc::default(),
            in_flight: Arc::default(),
            refusing: Arc::default(),
            refused: Default::default(),
            parked: Arc::default(),
            heap_trims: Arc::default(),
            driver: OnceLock::new(),
            db: OnceLock::new(),
            taken: AtomicBool::new(false),
        }
    }

    fn keys(&self) -> usize {
        self.routes * METHOD_SLOTS
    }

    fn bucket_base(&self) -> usize {
        self.keys() * STATUS_SLOTS
    }

    fn sum_base(&self) -> usize {
        self.keys() * (STATUS_SLOTS + BUCKET_SLOTS)
    }

    /// Requests counted under key index `key` with status slot `status`.
    pub(crate) fn requests(&self, key: usize, status: usize) -> u64 {
        self.counters.get(key * STATUS_SLOTS + status)
    }

    /// Observations of key index `key` in bucket slot `bucket` (not cumulative).
    pub(crate) fn bucket(&self, key: usize, bucket: usize) -> u64 {
        self.counters
            .get(self.bucket_base() + key * BUCKET_SLOTS + bucket)
    }

    /// Sum of the observed durations of key index `key`, in nanoseconds.
    pub(crate) fn sum_ns(&self, key: usize) -> u64 {
        self.counters.get(self.sum_base() + key)
    }

    #[inline]
    fn count(&self, key: usize, status: u16) {
        self.counters
            .add(key * STATUS_SLOTS + status_slot(status), 1);
    }

    /// Where a request of key index `key` with `status` is counted, in the lowest bucket.
    fn locate(&self, key: usize, status: u16) -> Counted {
        Counted {
            request: key * STATUS_SLOTS + status_slot(status),
            bucket: self.bucket_base() + key * BUCKET_SLOTS,
        }
    }

    #[inline]
    fn observe(&self, key: usize, nanos: u64) {
        self.counters
            .add(self.bucket_base() + key * BUCKET_SLOTS + bucket(nanos), 1);
        self.counters.add(self.sum_base() + key, nanos);
    }

    /// Hands out the recorder once; `None` after that.
    pub(crate) fn take(&self) -> bool {
        !self.taken.swap(true, Ordering::AcqRel)
    }
}

/// The counters of one route, method and status, located once: a request answered again
/// from the connection's memo is counted by adding to them directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counted {
    request: usize,
    bucket: usize,
}

/// A worker's handle on its block: the only way to write it.
///
/// Not `Sync` and not `Clone`. With metrics switched off it records nothing and reads no
/// clock.
#[derive(Debug)]
pub struct Recorder {
    block: Arc<WorkerBlock>,
    enabled: bool,
    mounts: u16,
    _single_writer: PhantomData<Cell<()>>,
}

impl Recorder {
    pub(crate) fn new(block: Arc<WorkerBlock>, enabled: bool, mounts: u16) -> Recorder {
        Recorder {
            block,
            enabled,
            mounts,
            _single_writer: PhantomData,
        }
    }

    /// The worker's open-connection gauge. Taken once, by the worker (a second writer would
    /// lose updates).
    pub fn connections(&self) -> Gauge {
        Gauge::new(Arc::clone(&self.block.connections))
    }

    /// The worker's in-flight-request gauge. Taken once, by the worker.
    pub fn in_flight(&self) -> Gauge {
        Gauge::new(Arc::clone(&self.block.in_flight))
    }

    /// The worker's gauge of refusals (503 to connections over the cap) in progress. Taken
    /// once, by the worker.
    pub fn refusing(&self) -> Gauge {
        Gauge::new(Arc::clone(&self.block.refusing))
    }

    /// Counts a connection over the cap: answered 503, or closed without an answer.
    /// Counted with metrics off too, like the gauges.
    pub fn connection_refused(&self, answered: bool) {
        let cell = &self.block.refused[usize::from(answered)].0;
        cell.store(
            cell.load(Ordering::Relaxed).wrapping_add(1),
            Ordering::Relaxed,
        );
    }

    /// The worker's parked-connection gauge. Taken once, by the worker.
    pub fn parked(&self) -> Gauge {
        Gauge::new(Arc::clone(&self.block.parked))
    }

    /// The worker's heap-trim count (a counter kept in a gauge's cell). Taken once, by the
    /// worker.
    pub fn heap_trims(&self) -> Gauge {
        Gauge::new(Arc::clone(&self.block.heap_trims))
    }

    /// The key of a request matched by compute API route `route` (its index in
    /// `ApiRouter::route_paths`).
    #[inline]
    pub fn api_key(&self, route: u16, method: Option<crate::router::Method>) -> Key {
        Key::api(route, self.mounts, method)
    }

    /// When a request starts being answered: the time to measure from, or `None` when
    /// metrics are off.
    #[inline]
    pub fn start(&self) -> Option<Instant> {
        self.enabled.then(Instant::now)
    }

    /// Counts an answered request and observes its latency since `started`.
    #[inline]
    pub fn observe(&self, key: Key, status: u16, started: Option<Instant>) {
        let Some(started) = started else { return };
        let Some(index) = key.index(self.block.routes) else {
            return;
        };
        let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.block.count(index, status);
        self.block.observe(index, nanos);
    }

    /// Where a request under `key` answered with `status` is counted, for answering it
    /// again from the connection's memo; `None` when metrics are off.
    pub fn locate(&self, key: Key, status: u16) -> Option<Counted> {
        let index = key.index(self.block.routes).filter(|_| self.enabled)?;
        Some(self.block.locate(index, status))
    }

    /// Counts a request answered again from the connection's memo (see [`Self::locate`]):
    /// observed in the lowest bucket with nothing added to the sum (replaying takes well under
    /// a microsecond; two clock reads would cost more than the answer).
    #[inline]
    pub fn replayed(&self, counted: Counted) {
        self.block.counters.add(counted.request, 1);
        self.block.counters.add(counted.bucket, 1);
    }

    /// Counts a request refused while it was being framed (no latency is observed: it never
    /// reached the pipeline).
    pub fn refused(&self, status: u16) {
        if !self.enabled {
            return;
        }
        if let Some(index) = Key::unmatched(None).index(self.block.routes) {
            self.block.count(index, status);
        }
    }

    /// Records the I/O driver the worker runs (`io_uring`, `epoll`).
    pub fn set_driver(&self, driver: &'static str) {
        let _ = self.block.driver.set(driver);
    }

    /// Makes the worker's database waits part of the scrape.
    pub fn attach_db(&self, stats: Arc<WaitStats>) {
        let _ = self.block.db.set(stats);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_le_bounds() {
        assert_eq!(BUCKET_LABELS.len(), BUCKETS_NS.len());
        for (label, bound) in BUCKET_LABELS.iter().zip(BUCKETS_NS) {
            let seconds: f64 = label.parse().unwrap();
            assert!((seconds * 1e9 - bound as f64).abs() < 1e-3, "{label}");
        }
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(10_000), 0);
        assert_eq!(bucket(10_001), 1);
        assert_eq!(bucket(1_000_000_000), 15);
        assert_eq!(bucket(10_000_000_001), BUCKETS_NS.len());
        assert_eq!(bucket(u64::MAX), BUCKETS_NS.len());
    }

    #[test]
    fn counters_are_padded_to_whole_line_pairs() {
        assert_eq!(std::mem::align_of::<Chunk>(), 128);
        assert_eq!(std::mem::size_of::<Chunk>(), 128);
        assert_eq!(std::mem::align_of::<Padded>(), 128);
        let counters = Counters::new(17);
        assert_eq!(counters.0.len(), 2);
        counters.add(16, 5);
        counters.add(16, 2);
        assert_eq!(counters.get(16), 7);
        // Out of range: ignored, read as zero.
        counters.add(32, 1);
        assert_eq!(counters.get(32), 0);
    }

    #[test]
    fn a_recorder_counts_statuses_and_latency() {
        let block = Arc::new(WorkerBlock::new(3));
        let recorder = Recorder::new(Arc::clone(&block), true, 1);
        let key = recorder.api_key(0, Some(crate::router::Method::Get));
        let index = key.index(3).unwrap();
        let started = recorder.start();
        recorder.observe(key, 200, started);
        recorder.observe(key, 200, started);
        recorder.observe(key, 404, started);
        recorder.replayed(recorder.locate(key, 200).unwrap());
        assert_eq!(block.requests(index, status_slot(200)), 3);
        assert_eq!(block.requests(index, status_slot(404)), 1);
        let observed: u64 = (0..BUCKET_SLOTS).map(|b| block.bucket(index, b)).sum();
        assert_eq!(observed, 4);
        assert!(block.bucket(index, 0) >= 1);
        recorder.refused(400);
        let unmatched = Key::unmatched(None).index(3).unwrap();
        assert_eq!(block.requests(unmatched, status_slot(400)), 1);
        assert_eq!(block.bucket(unmatched, 0), 0);
    }

    #[test]
    fn a_disabled_recorder_records_nothing() {
        let block = Arc::new(WorkerBlock::new(1));
        let recorder = Recorder::new(Arc::clone(&block), false, 0);
        assert!(recorder.start().is_none());
        recorder.observe(Key::unmatched(None), 200, recorder.start());
        assert_eq!(recorder.locate(Key::unmatched(None), 200), None);
        recorder.refused(400);
        let index = Key::unmatched(None).index(1).unwrap();
        assert_eq!(block.requests(index, status_slot(200)), 0);
        assert_eq!(block.requests(index, status_slot(400)), 0);
    }

    #[test]
    fn gauges_are_cells_the_scraper_can_read() {
        let block = Arc::new(WorkerBlock::new(1));
        let recorder = Recorder::new(Arc::clone(&block), true, 0);
        let connections = recorder.connections();
        connections.set(connections.get() + 3);
        assert_eq!(block.connections.get(), 3);
        assert_eq!(connections.get(), 3);
    }
}
