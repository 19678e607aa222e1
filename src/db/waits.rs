//! How long a connection waited to write: for another worker's write (the process's writer
//! queue) and for a file lock held elsewhere (SQLite's busy handler).
//!
//! Written only by the thread that owns the connection ([`Db`](super::Db) is `!Send`, and
//! SQLite runs the busy handler on the thread executing the statement), read by the metrics
//! scrape on another thread. Like the request counters, each field is an `AtomicU64` updated
//! with a relaxed load and store (no read-modify-write), which is exact with one writer.
//!
//! It must never be written from a thread other than its connection's.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

/// One connection's write waits.
#[derive(Debug, Default)]
pub struct WaitStats {
    queue_waits: AtomicU64,
    queue_wait_ns: AtomicU64,
    busy_waits: AtomicU64,
    busy_wait_ns: AtomicU64,
    busy_timeouts: AtomicU64,
}

/// Adds `n` (single writer: a load and a store).
fn add(cell: &AtomicU64, n: u64) {
    cell.store(
        cell.load(Ordering::Relaxed).wrapping_add(n),
        Ordering::Relaxed,
    );
}

fn nanos(time: Duration) -> u64 {
    u64::try_from(time.as_nanos()).unwrap_or(u64::MAX)
}

impl WaitStats {
    /// A write waited `time` for this process's other writers.
    pub(crate) fn queued(&self, time: Duration) {
        add(&self.queue_waits, 1);
        add(&self.queue_wait_ns, nanos(time));
    }

    /// SQLite refused the file lock: a busy wait begins.
    pub(crate) fn busy_began(&self) {
        add(&self.busy_waits, 1);
    }

    /// The busy handler slept `time` before retrying.
    pub(crate) fn busy_slept(&self, time: Duration) {
        add(&self.busy_wait_ns, nanos(time));
    }

    /// A busy wait reached `busy_timeout`: the statement fails with `DbError::Busy`.
    pub(crate) fn busy_timed_out(&self) {
        add(&self.busy_timeouts, 1);
    }

    /// Writes that waited for another writer of this process.
    pub fn queue_waits(&self) -> u64 {
        self.queue_waits.load(Ordering::Relaxed)
    }

    /// Time spent waiting for other writers of this process, in nanoseconds.
    pub fn queue_wait_ns(&self) -> u64 {
        self.queue_wait_ns.load(Ordering::Relaxed)
    }

    /// Statements that found the file locked by another process or a checkpoint.
    pub fn busy_waits(&self) -> u64 {
        self.busy_waits.load(Ordering::Relaxed)
    }

    /// Time slept in the busy handler, in nanoseconds.
    pub fn busy_wait_ns(&self) -> u64 {
        self.busy_wait_ns.load(Ordering::Relaxed)
    }

    /// Busy waits that ended in `DbError::Busy`.
    pub fn busy_timeouts(&self) -> u64 {
        self.busy_timeouts.load(Ordering::Relaxed)
    }
}
