//! Giving memory back to the system: what an idle server holds is what its connections
//! hold, not what its allocator kept from the last burst.
//!
//! The binary's global allocator is mimalloc (`src/main.rs`). Two of its habits make the
//! resident size of a server with many idle connections follow its past bursts rather than
//! its live data:
//!
//! - it asks for transparent huge pages on its arenas, so resident memory grows in 2 MiB
//!   steps, and the kernel's khugepaged fills the rest of a huge page back in after the
//!   allocator gave parts of it back. [`disable_huge_pages`] turns them off for the process
//!   unless `MIMALLOC_ALLOW_THP=1` (mimalloc's own switch) asks for them;
//! - a page freed back to its arena is returned to the system only after a delay, and only
//!   when the allocator is next entered on a path that looks for expired pages: a worker that
//!   goes quiet after a burst (thousands of connections opening, then parking) keeps every
//!   page the burst touched. [`Trim`] counts the connections that gave memory back; the
//!   worker's trim task looks at it once per [`TRIM_INTERVAL`] and, once the worker has
//!   gone quiet after enough of them, has the worker's own heap return its free pages
//!   ([`trim_heap`]). While connections keep coming and going it does not: the allocator is
//!   then entered all the time and purges on its own, and pages given back would only be
//!   faulted in again.
//!
//! Core worker (`Trim` is `!Sync`, one per worker; the allocator's heaps are per thread, so
//! each worker trims its own). It must never run on the request path: a trim is a sweep over
//! the worker's heap pages and a few `madvise` calls, run from its own task, between I/O.

use std::{cell::Cell, time::Duration};

/// How often a worker looks at what its connections gave back: the least time between two
/// trims, and the window in which it must have been quiet.
pub const TRIM_INTERVAL: Duration = Duration::from_millis(500);

/// Connections that gave memory back (parked or closed) since the last trim, below which a
/// worker does not trim (a handful of closes leave too little behind to be worth a sweep);
/// also the most that may have done so in the last [`TRIM_INTERVAL`] for the worker to
/// count as quiet.
pub const TRIM_AFTER: usize = 32;

/// A worker's account of memory given back since its heap was last trimmed.
#[derive(Debug, Default)]
pub struct Trim {
    /// Connections that parked or closed since the last look.
    recent: Cell<usize>,
    /// Those before, since the last trim.
    owed: Cell<usize>,
}

impl Trim {
    /// A connection parked or closed: its buffers and state went back.
    #[inline]
    pub fn released(&self) {
        self.recent.set(self.recent.get().saturating_add(1));
    }

    /// Called once per [`TRIM_INTERVAL`]: whether to trim now, that is whether at least
    /// [`TRIM_AFTER`] connections gave memory back since the last trim and fewer than that
    /// since the last look (the burst is over).
    pub fn due(&self) -> bool {
        let recent = self.recent.replace(0);
        let owed = self.owed.get().saturating_add(recent);
        if owed >= TRIM_AFTER && recent < TRIM_AFTER {
            self.owed.set(0);
            true
        } else {
            self.owed.set(owed);
            false
        }
    }
}

#[allow(unsafe_code)]
mod ffi {
    // The C allocator is built and linked by the `mimalloc` crate (libmimalloc-sys); naming
    // the crate links it into binaries that do not make it their allocator (unit tests).
    extern crate mimalloc as _;

    extern "C" {
        /// mimalloc: frees this thread's empty pages and, with `force`, returns every free
        /// range of the arenas to the system at once instead of after the purge delay.
        pub(super) fn mi_collect(force: bool);
    }

    /// Returns the calling thread's free heap pages to the system.
    pub(super) fn collect() {
        // SAFETY: `mi_collect` takes no pointers and is safe to call from any thread at any
        // time; it only frees pages that hold no live block. When mimalloc is not the global
        // allocator (unit tests) it sweeps mimalloc's own, empty, heap.
        unsafe { mi_collect(true) }
    }
}

/// Has the allocator return the calling thread's free pages to the system now.
pub fn trim_heap() {
    ffi::collect();
}

/// Whether `MIMALLOC_ALLOW_THP` (its value, if set) asks for transparent huge pages, as
/// mimalloc reads it: `1`, `true`, `yes` or `on`, in any case.
pub fn huge_pages_requested(value: Option<&str>) -> bool {
    value.is_some_and(|v| {
        ["1", "true", "yes", "on"]
            .iter()
            .any(|on| v.trim().eq_ignore_ascii_case(on))
    })
}

/// Turns transparent huge pages off for this process (`PR_SET_THP_DISABLE`): its resident
/// size then follows the pages it uses. Best called first thing in `main`, before the heap
/// has grown; huge pages already in place stay until freed.
#[allow(unsafe_code)]
pub fn disable_huge_pages() -> std::io::Result<()> {
    // SAFETY: `prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0)` takes no pointers; it sets a flag on
    // the calling process's memory descriptor and fails cleanly on kernels without it.
    let rc = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(trim: &Trim, n: usize) {
        (0..n).for_each(|_| trim.released());
    }

    #[test]
    fn a_trim_is_due_after_enough_releases_once_the_worker_is_quiet() {
        let trim = Trim::default();
        release(&trim, TRIM_AFTER - 1);
        assert!(!trim.due(), "too little given back");
        release(&trim, 1);
        assert!(trim.due());
        assert!(!trim.due(), "nothing given back since");
        // A burst: no trim while it lasts, one when it is over.
        for _ in 0..5 {
            release(&trim, TRIM_AFTER * 10);
            assert!(!trim.due(), "connections are still coming and going");
        }
        release(&trim, 3);
        assert!(trim.due());
        assert!(!trim.due());
    }

    #[test]
    fn huge_pages_only_when_asked_for() {
        for on in ["1", "true", "YES", "on"] {
            assert!(huge_pages_requested(Some(on)), "{on}");
        }
        for off in [None, Some("0"), Some("false"), Some(""), Some("2x")] {
            assert!(!huge_pages_requested(off), "{off:?}");
        }
    }
}
