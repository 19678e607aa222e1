//! Checkpoints off the request path: the `ringnova-ckpt` thread copies the write-ahead log
//! back into the database file, so no worker ever runs one inside a commit.
//!
//! Why: SQLite's automatic checkpoint runs on whichever connection's commit takes the log past
//! 1000 pages, on that connection's thread — a worker, whose event loop then stops while pages
//! are copied and the log and the database file are flushed (under `synchronous = full` too,
//! where the rest of the flushing is kept off the workers). And at 1000 pages a create's hot
//! pages (the usage row, the tasks pages, the right edges of the instance indexes) are copied
//! once per hundred or so creates. Every connection [`Db::open`](super::Db::open) makes
//! therefore has the automatic checkpoint off and a WAL hook instead: after each commit it
//! compares the log's length with [`DUE_FRAMES`], and past it wakes this thread (once, until
//! the checkpoint is over).
//!
//! The thread runs `PRAGMA wal_checkpoint(PASSIVE)` on a connection of its own (opened for the
//! checkpoint, closed after it): what it copies, and the flushes of the log before and of the
//! database file after, happen here. Its first passes never wait for a lock and never hold
//! writers back; the last one holds this process's writer queue while it copies the little
//! committed meanwhile and flushes (a few milliseconds, once per checkpoint: workers that
//! commit then wait that long), so the log is copied completely and the next commit starts it
//! over. Should the log still reach [`CAP_FRAMES`] (a reader in another process pinning old
//! pages, a thread starved of CPU), the thread takes the writer queue and runs a `TRUNCATE`
//! checkpoint that waits at most [`FALLBACK_WAIT`] for the readers, at most once per
//! [`FALLBACK_GAP`]: the log stays bounded, and a reader that never lets go costs the writers
//! a bounded pause now and then, not a stall.
//!
//! Soundness: a checkpoint's copy and flushes are SQLite's own, run with the file's
//! `synchronous` setting (NORMAL and FULL both flush the log before copying and the database
//! file before the log may start over), so what a commit made durable stays durable, and a
//! crash mid-checkpoint is recovered from the log as SQLite always does. The WAL-reset bug of
//! SQLite 3.7.0–3.51.2 (writers and a checkpointer at once) is fixed in the bundled 3.54.
//!
//! One [`Checkpointer`] per database file and process, kept alive by the connections' hooks;
//! its thread ends when the last of them has closed. It must never run on a worker and never
//! hold the writer queue except for a checkpoint's last pass and the bounded-log fallback,
//! each bounded in time.

use std::{
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, OnceLock, PoisonError, Weak,
    },
    thread::{self, Thread},
    time::{Duration, Instant},
};

use rusqlite::{Connection, OpenFlags};

use super::{DbConfig, DbError, WriterQueue};

/// Log length (in frames, one page each) at which a checkpoint is due: about 16 MB of log.
/// A create appends about ten pages and its orchestration steps a few more, so this is one
/// checkpoint per few hundred creates.
pub const DUE_FRAMES: u32 = 4000;

/// Log length at which the thread stops being polite: a `TRUNCATE` checkpoint with this
/// process's writers held back.
pub const CAP_FRAMES: u32 = 4 * DUE_FRAMES;

/// The log file is cut back to this size when the log starts over after having grown past it
/// (`PRAGMA journal_size_limit`): a burst that outran the checkpoints does not leave a huge
/// file behind.
pub const LOG_LIMIT_BYTES: i64 = 64 << 20;

/// `PASSIVE` passes per checkpoint before the last one, which holds this process's writers
/// back.
const UNLOCKED_PASSES: usize = 2;

/// Least time from the end of one checkpoint to the start of the next: should a commit not
/// start the log over after a complete checkpoint (a reader was still on it), the commits
/// that follow, still past [`DUE_FRAMES`], wake the thread at most this often.
const MIN_GAP: Duration = Duration::from_millis(10);

/// How long the bounded-log fallback waits for readers, writers held back (instead of the
/// file's `busy_timeout`, which can be seconds: every worker that commits would wait as long).
pub const FALLBACK_WAIT: Duration = Duration::from_millis(100);

/// Least time between two fallbacks: a reader that never lets go must not keep the writers
/// waiting [`FALLBACK_WAIT`] out of every checkpoint.
pub const FALLBACK_GAP: Duration = Duration::from_secs(1);

/// The checkpoint state of one database file in this process.
#[derive(Debug)]
pub struct Checkpointer {
    /// A wake-up is pending (so a commit wakes the thread once, not on every commit).
    woken: AtomicBool,
    /// The thread to wake.
    thread: OnceLock<Thread>,
    /// The database file and its settings.
    config: DbConfig,
    /// This process's writer queue of the file (held for the bounded-log fallback only).
    writers: Arc<WriterQueue>,
    /// Checkpoints that copied the whole log.
    completed: AtomicU64,
    /// The log's length the last commit reported (tests only).
    #[cfg(test)]
    last_frames: std::sync::atomic::AtomicU32,
}

impl Checkpointer {
    /// After a commit that left `frames` frames in the log (the WAL hook; any thread).
    #[inline]
    pub fn committed(&self, frames: u32) {
        #[cfg(test)]
        self.last_frames.store(frames, Ordering::Relaxed);
        if frames >= DUE_FRAMES && !self.woken.swap(true, Ordering::AcqRel) {
            if let Some(thread) = self.thread.get() {
                thread.unpark();
            }
        }
    }

    /// Checkpoints so far that copied the whole log.
    pub fn completed(&self) -> u64 {
        self.completed.load(Ordering::Relaxed)
    }

    /// The log's length the last commit reported.
    #[cfg(test)]
    fn last_frames(&self) -> u32 {
        self.last_frames.load(Ordering::Relaxed)
    }

    /// The thread's loop; ends when every connection of the file has closed.
    fn run(weak: Weak<Checkpointer>) {
        // When the bounded-log fallback last ran.
        let mut last_fallback = None;
        loop {
            let Some(this) = weak.upgrade() else { return };
            if !this.woken.load(Ordering::Acquire) {
                drop(this);
                thread::park_timeout(Duration::from_millis(200));
                continue;
            }
            // Cleared before the checkpoint, not after: a commit that crosses the mark while
            // it runs wakes the thread again instead of being forgotten.
            this.woken.store(false, Ordering::Release);
            if let Err(err) = this.checkpoint(&mut last_fallback) {
                log::warn!(
                    "checkpoint of {} failed, retrying later: {err}",
                    this.config.path.display()
                );
            }
            thread::sleep(MIN_GAP);
        }
    }

    /// Copies the log into the database file; `last_fallback` is when the bounded-log
    /// fallback last ran (it runs at most once per [`FALLBACK_GAP`]).
    fn checkpoint(&self, last_fallback: &mut Option<Instant>) -> Result<(), DbError> {
        let conn = Connection::open_with_flags(
            &self.config.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // The flushes around the copy follow the connection's setting (NORMAL and FULL both
        // flush the log before copying and the database file after).
        conn.pragma_update(None, "synchronous", self.config.synchronous.pragma_value())?;
        // The bulk of the copying while the writers go on; a pass copies what the log held
        // when it began, so each pass leaves what was committed during it.
        for _ in 0..UNLOCKED_PASSES {
            run_checkpoint(&conn, "PASSIVE")?;
        }
        // The rest with this process's writers held back for one short pass, so that the copy
        // is complete and the next commit starts the log over (SQLite starts it over only
        // when every frame has been copied).
        let (log, left) = {
            let _turn = self.writers.lock().unwrap_or_else(PoisonError::into_inner);
            run_checkpoint(&conn, "PASSIVE")?
        };
        if left == 0 {
            self.completed.fetch_add(1, Ordering::Relaxed);
        } else if log >= CAP_FRAMES && last_fallback.is_none_or(|at| at.elapsed() >= FALLBACK_GAP) {
            *last_fallback = Some(Instant::now());
            // A reader (another process's, or a stalled one) keeps the copy from completing:
            // wait a little for the readers, writers held back, and empty the log.
            conn.busy_timeout(FALLBACK_WAIT)?;
            let _turn = self.writers.lock().unwrap_or_else(PoisonError::into_inner);
            let (_, left) = run_checkpoint(&conn, "TRUNCATE")?;
            log::warn!(
                "checkpoint: the log of {} reached {log} frames; {}",
                self.config.path.display(),
                if left == 0 {
                    "truncated"
                } else {
                    "a reader kept it from being truncated"
                }
            );
        }
        Ok(())
    }
}

/// Runs one checkpoint in `mode`; returns the log's frames and how many are not yet copied.
fn run_checkpoint(conn: &Connection, mode: &str) -> Result<(u32, u32), DbError> {
    let (busy, log, copied): (i64, i64, i64) =
        conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })?;
    let log = u32::try_from(log.max(0)).unwrap_or(u32::MAX);
    let left = u32::try_from((log as i64 - copied.max(0)).max(0)).unwrap_or(u32::MAX);
    if busy != 0 {
        return Ok((log, left.max(1)));
    }
    Ok((log, left))
}

/// Turns the automatic checkpoint of `conn` off and reports its commits to the file's
/// checkpointer instead (started on first use); returns the checkpointer.
pub(crate) fn attach(
    conn: &mut Connection,
    config: &DbConfig,
    writers: &Arc<WriterQueue>,
) -> Result<Arc<Checkpointer>, DbError> {
    let io = |source| DbError::Io {
        path: config.path.clone(),
        source,
    };
    let canonical = std::fs::canonicalize(&config.path).map_err(io)?;
    let checkpointer = for_file(config, &canonical, writers).map_err(io)?;
    conn.pragma_update(None, "journal_size_limit", LOG_LIMIT_BYTES)?;
    let hook = Arc::clone(&checkpointer);
    // Replaces SQLite's automatic checkpoint, which is itself a WAL hook.
    conn.wal_hook(Some(move |_: &mut rusqlite::hooks::Wal, frames: i32| {
        hook.committed(u32::try_from(frames).unwrap_or(0));
        Ok(())
    }))?;
    Ok(checkpointer)
}

/// The checkpointer of the database at `canonical`, shared by every connection this process
/// opens to it; starts its thread on first use.
fn for_file(
    config: &DbConfig,
    canonical: &Path,
    writers: &Arc<WriterQueue>,
) -> std::io::Result<Arc<Checkpointer>> {
    static CHECKPOINTERS: OnceLock<super::PerFile<Checkpointer>> = OnceLock::new();
    super::per_file(&CHECKPOINTERS, canonical, || {
        let checkpointer = Arc::new(Checkpointer {
            woken: AtomicBool::new(false),
            thread: OnceLock::new(),
            config: DbConfig {
                path: PathBuf::from(canonical),
                ..config.clone()
            },
            writers: Arc::clone(writers),
            completed: AtomicU64::new(0),
            #[cfg(test)]
            last_frames: std::sync::atomic::AtomicU32::new(0),
        });
        let weak = Arc::downgrade(&checkpointer);
        let handle = thread::Builder::new()
            .name("ringnova-ckpt".into())
            .spawn(move || {
                // Possibly started by a worker's open: not on that worker's core.
                crate::server::cpus::unpin_current_thread();
                Checkpointer::run(weak)
            })?;
        let _ = checkpointer.thread.set(handle.thread().clone());
        Ok(checkpointer)
    })
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::db::temp::TempDb;

    #[test]
    fn commits_past_the_mark_are_checkpointed_off_the_committing_thread() {
        let temp = TempDb::new("ckpt");
        let db = temp.open();
        let auto: i64 = db
            .conn()
            .pragma_query_value(None, "wal_autocheckpoint", |row| row.get(0))
            .unwrap();
        assert_eq!(auto, 0, "SQLite's own checkpoint is off");
        let checkpointer = Arc::clone(&db.checkpointer);
        assert_eq!(checkpointer.completed(), 0);
        let insert = "INSERT INTO quotas (project_id, resource, hard_limit, created_at) \
                      VALUES (?1, 'cores', 1, '2026-01-01T00:00:00.000000')";
        let blob = "x".repeat(3000);
        // Each commit appends a page or two: go past the mark, then wait for the thread.
        let mut n = 0;
        while checkpointer.last_frames() < DUE_FRAMES {
            db.write_one(insert, [format!("{n}{blob}")]).unwrap();
            n += 1;
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while checkpointer.completed() == 0 {
            assert!(Instant::now() < deadline, "no checkpoint ran");
            thread::sleep(Duration::from_millis(5));
        }
        // Everything was copied, so the next commit starts the log over.
        db.write_one(insert, ["after".to_owned()]).unwrap();
        assert!(
            checkpointer.last_frames() < 10,
            "{} frames",
            checkpointer.last_frames()
        );
        let rows: i64 = db
            .conn()
            .query_row("SELECT count(*) FROM quotas", [], |row| row.get(0))
            .unwrap();
        assert_eq!(rows, n + 1);
    }
}
