//! Group commit for `[database] synchronous = full`: workers commit without waiting for the
//! disk, and a response that acknowledges a write is held back until one shared `fsync` of the
//! write-ahead log that started after that commit has finished.
//!
//! Why: with SQLite's own `synchronous = FULL`, every commit calls `fsync` on the worker's
//! thread while it holds the write lock, so the worker's event loop — every other connection
//! on that core — stops for the length of a disk flush (milliseconds, far more on a busy or
//! cheap disk), and concurrent writers flush one after another. Here worker connections run
//! `synchronous = NORMAL` (WAL appends, no flush); after each commit the worker takes a
//! sequence number, and the `ringnova-fsync` thread flushes the `-wal` file once for every
//! commit numbered so far. The connection task awaits its number (polling an atomic from its
//! event loop, never blocking it) before it writes the acknowledgement, so what a client was
//! told is committed is on disk, as with FULL, while other connections keep being served and
//! commits that arrive together share one flush.
//!
//! Soundness: a commit's WAL frames are written (to the page cache) before its sequence
//! number is taken, and the flush for a number starts after the number was taken, so
//! `fsync` of the file — any descriptor of the same inode — covers them. The thread reopens
//! the `-wal` file when its inode changes (SQLite deletes it when the last connection closes)
//! and flushes the directory when it first opens one. Checkpoints keep SQLite's own NORMAL
//! behaviour (the WAL is synced before the database file is written).
//!
//! One [`GroupSync`] per database file and process, shared like the writer queue. It must
//! never be used with `synchronous = normal` (nothing waits then) and never blocks a worker.

use std::{
    fs::File,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Condvar, Mutex, PoisonError, Weak,
    },
    thread,
    time::Duration,
};

/// The group-commit state of one database file.
#[derive(Debug)]
pub struct GroupSync {
    /// The highest sequence number handed out (commits that want to be durable).
    requested: Mutex<u64>,
    /// Wakes the flushing thread.
    wake: Condvar,
    /// Every commit numbered up to this is on disk.
    durable: AtomicU64,
    /// The `-wal` file.
    wal: PathBuf,
}

impl GroupSync {
    /// Numbers a commit that just returned; the caller waits for [`GroupSync::is_durable`].
    pub fn request(&self) -> u64 {
        let mut requested = self
            .requested
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *requested += 1;
        let seq = *requested;
        drop(requested);
        self.wake.notify_one();
        seq
    }

    /// Whether commit `seq` is on disk.
    #[inline]
    pub fn is_durable(&self, seq: u64) -> bool {
        self.durable.load(Ordering::Acquire) >= seq
    }

    /// The flushing loop; ends when the last connection of the file has gone.
    fn run(weak: Weak<GroupSync>) {
        let mut wal: Option<(File, u64)> = None;
        loop {
            let Some(this) = weak.upgrade() else { return };
            let target = {
                let requested = this
                    .requested
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                let (requested, _) = this
                    .wake
                    .wait_timeout_while(requested, Duration::from_millis(200), |r| {
                        *r <= this.durable.load(Ordering::Acquire)
                    })
                    .unwrap_or_else(PoisonError::into_inner);
                *requested
            };
            if target <= this.durable.load(Ordering::Acquire) {
                continue;
            }
            match flush(&this.wal, &mut wal) {
                Ok(()) => this.durable.store(target, Ordering::Release),
                Err(err) => {
                    // The acknowledgements stay held back; a disk that cannot flush must not
                    // be reported as holding the data.
                    log::error!("cannot flush {}: {err}; retrying", this.wal.display());
                    wal = None;
                    thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }
}

/// Flushes the `-wal` file, (re)opening it when it is new.
fn flush(path: &Path, wal: &mut Option<(File, u64)>) -> std::io::Result<()> {
    let inode = std::fs::metadata(path)?.ino();
    if wal.as_ref().map(|(_, known)| *known) != Some(inode) {
        let file = File::open(path)?;
        if let Some(dir) = path.parent() {
            File::open(dir)?.sync_all()?;
        }
        *wal = Some((file, inode));
    }
    match wal {
        Some((file, _)) => file.sync_data(),
        None => Ok(()),
    }
}

/// The group-commit state of the database at `path` (canonical), shared by every worker
/// connection of this process; starts its flushing thread on first use.
pub fn for_file(path: &Path) -> std::io::Result<Arc<GroupSync>> {
    static SYNCS: std::sync::OnceLock<super::PerFile<GroupSync>> = std::sync::OnceLock::new();
    super::per_file(&SYNCS, path, || {
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        let sync = Arc::new(GroupSync {
            requested: Mutex::new(0),
            wake: Condvar::new(),
            durable: AtomicU64::new(0),
            wal: PathBuf::from(wal),
        });
        let weak = Arc::downgrade(&sync);
        thread::Builder::new()
            .name("ringnova-fsync".into())
            .spawn(move || {
                // Often started by a worker's first open: not on that worker's core.
                crate::server::cpus::unpin_current_thread();
                GroupSync::run(weak)
            })?;
        Ok(sync)
    })
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    #[test]
    fn requests_become_durable_after_a_flush() {
        let dir = std::env::temp_dir().join(format!("ringnova-gsync-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("x.sqlite");
        std::fs::write(dir.join("x.sqlite-wal"), b"frames").unwrap();
        let sync = for_file(&db).unwrap();
        assert!(Arc::ptr_eq(&sync, &for_file(&db).unwrap()), "one per file");
        let first = sync.request();
        let second = sync.request();
        assert!(second > first);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !sync.is_durable(second) {
            assert!(Instant::now() < deadline, "never flushed");
            thread::sleep(Duration::from_millis(1));
        }
        assert!(sync.is_durable(first));
        assert!(!sync.is_durable(second + 1));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_log_holds_acknowledgements_back() {
        let dir =
            std::env::temp_dir().join(format!("ringnova-gsync-missing-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sync = for_file(&dir.join("y.sqlite")).unwrap();
        let seq = sync.request();
        thread::sleep(Duration::from_millis(300));
        assert!(
            !sync.is_durable(seq),
            "nothing was flushed, nothing may be acknowledged"
        );
        std::fs::write(dir.join("y.sqlite-wal"), b"frames").unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !sync.is_durable(seq) {
            assert!(
                Instant::now() < deadline,
                "never flushed after the file appeared"
            );
            thread::sleep(Duration::from_millis(5));
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
