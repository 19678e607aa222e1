//! The data layer: one SQLite database in WAL mode, versioned migrations, and one connection
//! per core worker with cached prepared statements.
//!
//! Threads: [`migrate`] runs once on the main thread before any worker starts. It creates the
//! file (and its directory) on first run, switches it to WAL and applies the migrations of
//! [`schema`] the file does not have yet. Then each core worker opens its own [`Db`] and keeps
//! it for its whole life. A `Db` is `!Send`: it never leaves the thread that opened it, so its
//! connection is opened without SQLite's mutex and its statement cache needs no lock.
//!
//! Invariants:
//! - **WAL**: readers never wait for the writer, and the writer never waits for readers.
//!   SQLite's file lock admits one writer at a time across all connections (every worker, and
//!   any other process using the file).
//! - **Writers queue, they do not poll.** Every write goes through `Db::write` (a
//!   transaction) or `Db::write_one` (one statement), which first take a mutex shared by all
//!   of this process's connections to the file; a waiting worker wakes as soon as the previous
//!   write ends. Only a writer in another process, or a checkpoint, makes a connection meet a
//!   held file lock; then it retries after 20 µs, doubling to 1 ms, for up to
//!   `[database] busy_timeout`, then fails with [`DbError::Busy`]. (SQLite's own handler backs
//!   off to 100 ms sleeps, and with two workers writing flat out a write then waited up to
//!   0.9 s.) Waiting blocks the worker's thread, so transactions stay short and none spans an
//!   `.await`: every query function here is synchronous.
//! - **Read-then-write runs in one `BEGIN IMMEDIATE` transaction** (quota checks, duplicate
//!   checks): the write lock is taken before the first read, so no other connection, in this
//!   process or another, can slip in between the check and the insert.
//! - **Cached statements stay compiled**: connections have SQLite's query planner stability
//!   guarantee, so binding new values (a `LIMIT ?`, a marker) never forces a re-prepare.
//! - **synchronous** is NORMAL (a commit survives a crash of the process; the last commits may
//!   be lost on power failure) or FULL (every acknowledged commit is on disk). OFF is refused
//!   by the configuration. Under FULL, worker connections ([`Db::open_for_worker`]) commit
//!   without flushing and their acknowledgements wait for a shared group flush of the WAL
//!   ([`durability`]), so a commit's flush never stops a worker's event loop; other
//!   connections ([`Db::open`]: the migration, the CLI, background threads) use SQLite's own
//!   FULL.
//! - **Checkpoints run off the workers.** Every connection has SQLite's automatic checkpoint
//!   off; its commits wake the file's `ringnova-ckpt` thread instead ([`checkpoint`]), which
//!   copies the log back in the background. It holds the writer queue, so that a worker that
//!   commits meanwhile waits, for a checkpoint's short last pass (a few milliseconds with its
//!   flushes, once per checkpoint) and for the bounded-log fallback (at most 100 ms, at most
//!   once a second).
//! - A database written by a newer ringnova (a higher schema version) is refused, never
//!   downgraded; a worker refuses a database whose migrations have not run.
//!
//! `unsafe` only in `data_version.rs` (one raw prepared statement, finalized before its
//! connection closes) and `wal_index.rs` (the read-only view of the wal-index header the
//! connection has mapped, dropped before it closes). Query functions live in [`flavors`], [`keypairs`] and [`quotas`]; each uses
//! `prepare_cached`, so a statement is compiled once per connection. Flavor lists cost about
//! 6 µs for the six sample flavors, a point read about 4 µs, a commit about 50 µs (NORMAL) or
//! 200 µs (FULL) on the development VM.
//!
//! ```
//! # let dir = std::env::temp_dir().join(format!("ringnova-db-doc-{}", std::process::id()));
//! use ringnova::db::{self, flavors, Db, DbConfig};
//!
//! let config = DbConfig::at(dir.join("ringnova.sqlite"));
//! db::migrate(&config)?; // the main thread, before the workers start
//! let db = Db::open(&config)?; // on each worker, once
//! let tiny = flavors::get_by_flavorid(&db, "1", None)?;
//! assert_eq!((tiny.name.as_str(), tiny.memory_mb), ("m1.tiny", 512));
//! # drop(db);
//! # let _ = std::fs::remove_dir_all(&dir);
//! # Ok::<(), db::DbError>(())
//! ```
//!
//! A `Db` cannot be sent to another thread:
//!
//! ```compile_fail
//! fn needs_send<T: Send>() {}
//! needs_send::<ringnova::db::Db>();
//! ```

/// SQL text of "now" as Nova writes timestamps (`2014-05-07T12:06:13.681000`, UTC).
macro_rules! now_sql {
    () => {
        "(strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000')"
    };
}

pub mod checkpoint;
mod data_version;
pub mod durability;
mod error;
pub mod queries;
pub mod schema;
#[cfg(test)]
pub(crate) mod temp;
pub mod waits;
mod wal_index;

use std::{
    fmt,
    marker::PhantomData,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, TryLockError, Weak},
    time::{Duration, Instant},
};

pub use error::{Conflict, DbError};
pub use queries::{flavors, keypairs, quotas};
use rusqlite::{Connection, OpenFlags, Params};
pub use schema::migrate;
pub use waits::WaitStats;

/// File name of the database inside the data directory when `[database] connection` is empty.
pub const DEFAULT_FILE_NAME: &str = "ringnova.sqlite";

/// Default `[database] busy_timeout`.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Prepared statements kept per connection. Every query function uses a handful of fixed
/// statements; flavor lists add up to two per sort order actually used (60 at most).
pub const STATEMENT_CACHE_CAPACITY: usize = 128;

/// SQLite page cache per connection, in KiB (`PRAGMA cache_size = -N`).
pub const CACHE_SIZE_KIB: i64 = 4096;

/// `[database] synchronous`: when SQLite waits for the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// `NORMAL`: in WAL mode a commit survives a crash of the process; the last commits may be
    /// lost on power failure. The database stays consistent either way.
    #[default]
    Normal,
    /// `FULL`: each commit is flushed to disk before it returns.
    Full,
}

impl Synchronous {
    /// The value of `PRAGMA synchronous` (1 or 2).
    pub fn pragma_value(self) -> i64 {
        match self {
            Synchronous::Normal => 1,
            Synchronous::Full => 2,
        }
    }
}

/// Where the database lives and how connections to it behave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbConfig {
    /// The database file.
    pub path: PathBuf,
    /// `[database] synchronous`.
    pub synchronous: Synchronous,
    /// `[database] busy_timeout`: how long to wait for another connection's write lock.
    pub busy_timeout: Duration,
}

impl DbConfig {
    /// The file at `path` with the default settings.
    pub fn at(path: impl Into<PathBuf>) -> DbConfig {
        DbConfig {
            path: path.into(),
            synchronous: Synchronous::default(),
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
        }
    }
}

/// One worker's connection to the database, with its cache of prepared statements.
///
/// Owned by exactly one core worker and `!Send` by design: it wraps a `rusqlite::Connection`
/// opened without SQLite's mutex, and the thread-per-core model keeps all per-core state on
/// its core. Open it on the worker thread itself, after [`migrate`] has run. The only thing it
/// shares with other threads is the writer queue of its file.
pub struct Db {
    /// The wal-index header's memory ([`Db::change_stamp`]), when it could be found.
    /// Declared before `conn` so that it is dropped before the connection closes.
    wal_index: Option<wal_index::WalIndex>,
    /// `PRAGMA data_version`, prepared once ([`Db::change_stamp`]). Declared before `conn`
    /// so that it is dropped, and its statement finalized, before the connection closes.
    data_version: data_version::DataVersion,
    conn: Connection,
    /// Shared by every `Db` of this file in this process: writers queue here.
    writers: Arc<WriterQueue>,
    /// The file's checkpointer, which this connection's commits wake ([`checkpoint`]).
    #[cfg_attr(not(test), allow(dead_code))]
    checkpointer: Arc<checkpoint::Checkpointer>,
    /// Worker connections under `synchronous = full`: the group commit their
    /// acknowledgements wait for (see [`durability`]).
    group_sync: Option<Arc<durability::GroupSync>>,
    /// The sequence number of this connection's last commit not yet handed to a waiter.
    pending_durable: std::cell::Cell<u64>,
    /// How long this connection's writes waited (written on this thread only).
    waits: Arc<WaitStats>,
    path: PathBuf,
    /// Makes `Db` neither `Send` nor `Sync`.
    _not_send: PhantomData<*const ()>,
}

impl fmt::Debug for Db {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Db").field("path", &self.path).finish()
    }
}

impl Db {
    /// Opens a connection to a migrated database and applies the per-connection settings:
    /// `synchronous`, the busy handler (`busy_timeout`), `foreign_keys = ON`,
    /// `temp_store = MEMORY`, `cache_size` ([`CACHE_SIZE_KIB`]), the query planner stability
    /// guarantee and the statement cache capacity ([`STATEMENT_CACHE_CAPACITY`]). Joins the
    /// process's writer queue for the file.
    ///
    /// Fails if the file is missing, not in WAL mode, or not at this build's schema version.
    pub fn open(config: &DbConfig) -> Result<Db, DbError> {
        let mut conn = Connection::open_with_flags(
            &config.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        let waits = Arc::new(WaitStats::default());
        configure(&mut conn, config, Arc::clone(&waits))?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
        schema::check_application_id(&conn)?;
        let found = schema::version(&conn)?;
        if found > schema::LATEST {
            return Err(DbError::SchemaTooNew {
                found,
                known: schema::LATEST,
            });
        }
        if found != schema::LATEST {
            return Err(DbError::SchemaMismatch {
                found,
                expected: schema::LATEST,
            });
        }
        let mode: String = conn.pragma_query_value(None, "journal_mode", |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(DbError::JournalMode(mode));
        }
        // SAFETY: the statement goes into the `Db` that owns `conn`, in a field declared
        // before `conn`, so it is finalized before the connection closes; a `Db` never
        // replaces or closes its connection otherwise.
        #[allow(unsafe_code)]
        let data_version = unsafe { data_version::DataVersion::prepare(&conn)? };
        let locking: String = conn.pragma_query_value(None, "locking_mode", |row| row.get(0))?;
        #[allow(unsafe_code)]
        let wal_index = if locking.eq_ignore_ascii_case("normal") {
            // SAFETY: `conn` is in WAL mode (checked above) with normal locking (checked
            // here) and has read the file (the version checks), so SQLite mapped the
            // wal-index; the value goes into the `Db` that owns `conn`, in a field declared
            // before `conn`, so it is dropped before the connection closes, and a `Db` stays
            // on its thread.
            unsafe { wal_index::WalIndex::locate(&conn) }
        } else {
            None
        };
        let writers = writer_queue(&config.path)?;
        let checkpointer = checkpoint::attach(&mut conn, config, &writers)?;
        Ok(Db {
            wal_index,
            data_version,
            conn,
            writers,
            checkpointer,
            group_sync: None,
            pending_durable: std::cell::Cell::new(0),
            waits,
            path: config.path.clone(),
            _not_send: PhantomData,
        })
    }

    /// Opens a core worker's connection. Under `synchronous = full` it commits without
    /// flushing and joins the file's group commit instead: the worker must then hold each
    /// acknowledgement back until [`Db::take_durable_wait`]'s wait is over (see
    /// [`durability`]). Under `normal` it is [`Db::open`].
    pub fn open_for_worker(config: &DbConfig) -> Result<Db, DbError> {
        if config.synchronous != Synchronous::Full {
            return Db::open(config);
        }
        let mut db = Db::open(&DbConfig {
            synchronous: Synchronous::Normal,
            ..config.clone()
        })?;
        let canonical = std::fs::canonicalize(&config.path).map_err(|source| DbError::Io {
            path: config.path.clone(),
            source,
        })?;
        db.group_sync = Some(
            durability::for_file(&canonical).map_err(|source| DbError::Io {
                path: config.path.clone(),
                source,
            })?,
        );
        Ok(db)
    }

    /// After a batch of requests: the durability the responses must wait for, if any of
    /// them committed a write on a group-commit connection. Clears it.
    pub fn take_durable_wait(&self) -> Option<DurableWait> {
        let seq = self.pending_durable.replace(0);
        match (&self.group_sync, seq) {
            (Some(sync), 1..) => Some(DurableWait {
                sync: Arc::clone(sync),
                seq,
            }),
            _ => None,
        }
    }

    /// Numbers a commit for the group flush (worker connections under FULL only).
    fn committed(&self) {
        if let Some(sync) = &self.group_sync {
            self.pending_durable.set(sync.request());
        }
    }

    /// A connection with a writer queue of its own, as if it were in another process (only
    /// SQLite's file lock orders its writes against the others').
    #[cfg(test)]
    pub(crate) fn open_as_other_process(config: &DbConfig) -> Result<Db, DbError> {
        let mut db = Db::open(config)?;
        db.writers = Arc::default();
        Ok(db)
    }

    /// This connection's view of the file's history, for caches of what was read from it:
    /// two equal stamps mean nothing was committed to the file between them.
    ///
    /// Every commit to the file, by any connection of any process (this one included),
    /// publishes a new wal-index header; the stamp holds the header as it is now, read from
    /// the shared memory SQLite keeps it in (`wal_index.rs`: the same comparison SQLite makes
    /// to decide whether `PRAGMA data_version` moves, without opening a read transaction).
    /// While a commit is publishing its header, or when the header cannot be read, it falls
    /// back to `PRAGMA data_version`: it changes when any *other* connection has committed
    /// since this connection last asked; it opens a read transaction, so it sees the file as
    /// it is now, not as the pager last saw it (why `SQLITE_FCNTL_DATA_VERSION`, which only
    /// reports the pager's last view, is not used alone). A stamp of one kind never equals
    /// one of the other. Both kinds add `sqlite3_total_changes` (rows changed through this
    /// connection, triggers included), for this connection's own commits: a statement that
    /// changes no row changes nothing a read could see.
    pub fn change_stamp(&self) -> Result<ChangeStamp, DbError> {
        let own_changes = self.conn.total_changes();
        if let Some(header) = self
            .wal_index
            .as_ref()
            .and_then(wal_index::WalIndex::header)
        {
            return Ok(ChangeStamp {
                wal_header: Some(header),
                data_version: 0,
                own_changes,
            });
        }
        Ok(ChangeStamp {
            wal_header: None,
            data_version: self.data_version.read()?,
            own_changes,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The connection, for reads. Writes go through [`Db::write`] or [`Db::write_one`].
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    /// This connection's write waits, for the metrics scrape.
    pub fn wait_stats(&self) -> Arc<WaitStats> {
        Arc::clone(&self.waits)
    }

    /// Waits for this process's other writers of the file to finish; a wait is counted.
    fn queue(&self) -> MutexGuard<'_, ()> {
        // A writer that panicked left nothing behind to protect: its transaction rolled back.
        match self.writers.try_lock() {
            Ok(turn) => turn,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => {
                let started = Instant::now();
                let turn = self.writers.lock().unwrap_or_else(PoisonError::into_inner);
                self.waits.queued(started.elapsed());
                turn
            }
        }
    }

    /// Runs `body` inside one `BEGIN IMMEDIATE` transaction: the write lock is taken first (or
    /// waited for), so everything `body` reads stays true until it commits. Commits when
    /// `body` returns `Ok`, rolls back on `Err` or panic.
    ///
    /// `body` must not write through the `Db` again (SQLite transactions do not nest); it gets
    /// the connection to run its statements on.
    pub(crate) fn write<T>(
        &self,
        body: impl FnOnce(&Connection) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        let _turn = self.queue();
        self.conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
        let open = OpenTransaction { conn: &self.conn };
        let value = body(&self.conn)?;
        open.commit()?;
        self.committed();
        Ok(value)
    }

    /// Starts one read transaction for the reads that follow, until the returned guard is
    /// dropped: they see one snapshot of the file and share one start and end of a WAL read
    /// transaction, where each statement on its own would start and end its own (a lock and an
    /// unlock of a shared-memory read mark, two `fcntl` calls, and a look at the log's
    /// header). Nothing may write through the `Db` while the guard lives: SQLite transactions
    /// do not nest, so [`Db::write`] would fail.
    pub fn snapshot(&self) -> Result<Snapshot<'_>, DbError> {
        self.conn.prepare_cached("BEGIN")?.execute([])?;
        Ok(Snapshot { conn: &self.conn })
    }

    /// Runs one writing statement on its own (SQLite makes it atomic), in turn with the other
    /// writers; returns the number of rows changed.
    pub(crate) fn write_one(&self, sql: &str, params: impl Params) -> Result<usize, DbError> {
        // Inside an open read transaction (a `snapshot`) the statement would join it and
        // commit only when it ends, after its acknowledgement was numbered. (`write` cannot:
        // its `BEGIN` fails there.)
        debug_assert!(
            self.conn.is_autocommit(),
            "write_one inside an open transaction"
        );
        let _turn = self.queue();
        let changed = self.conn.prepare_cached(sql)?.execute(params)?;
        self.committed();
        Ok(changed)
    }
}

/// "Now" in Nova's timestamp text (`2014-05-07T12:06:13.681000`, UTC, milliseconds then
/// `000`, exactly what [`now_sql!`] gives), formatted once in Rust on the stack: a write binds
/// it to every timestamp column it sets instead of SQLite running `strftime` per column.
#[derive(Clone, Copy)]
pub struct NowText([u8; 26]);

impl NowText {
    /// The current time.
    pub fn now() -> NowText {
        NowText::at(std::time::SystemTime::now())
    }

    /// `time` (before 1970 reads as 1970).
    pub fn at(time: std::time::SystemTime) -> NowText {
        let since = time
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let secs = since.as_secs();
        let (days, rem) = (secs / 86_400, secs % 86_400);
        let (year, month, day) = crate::logging::civil_from_days(days as i64);
        let mut out = *b"0000-00-00T00:00:00.000000";
        let mut put = |at: usize, width: usize, mut value: u64| {
            for slot in out[at..at + width].iter_mut().rev() {
                *slot = b'0' + (value % 10) as u8;
                value /= 10;
            }
        };
        put(0, 4, year.clamp(0, 9999) as u64);
        put(5, 2, u64::from(month));
        put(8, 2, u64::from(day));
        put(11, 2, rem / 3600);
        put(14, 2, rem % 3600 / 60);
        put(17, 2, rem % 60);
        put(20, 3, u64::from(since.subsec_millis()));
        NowText(out)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits and separators are ever written.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Debug for NowText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl rusqlite::ToSql for NowText {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(rusqlite::types::ToSqlOutput::Borrowed(
            rusqlite::types::ValueRef::Text(&self.0),
        ))
    }
}

/// A point in the history of a database file as one connection sees it
/// ([`Db::change_stamp`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeStamp {
    /// The wal-index header: every commit's (`None` when the pragma was asked instead).
    wal_header: Option<wal_index::Header>,
    /// `PRAGMA data_version`: other connections' commits (0 when the header was read).
    data_version: i64,
    /// `sqlite3_total_changes`: this connection's own writes.
    own_changes: u64,
}

/// A commit whose acknowledgement must wait for the group flush.
#[derive(Debug)]
pub struct DurableWait {
    sync: Arc<durability::GroupSync>,
    seq: u64,
}

impl DurableWait {
    /// Whether the commit is on disk.
    #[inline]
    pub fn is_done(&self) -> bool {
        self.sync.is_durable(self.seq)
    }
}

/// The writers of one database file in this process take turns on it.
type WriterQueue = Mutex<()>;

/// Per-file state shared by every connection this process opens to one database file, keyed
/// by the file's canonical path; entries whose users have all gone are dropped.
pub(crate) type PerFile<T> = Mutex<Vec<(PathBuf, Weak<T>)>>;

/// The entry of `path` (canonical) in `registry`, made by `make` when there is none.
pub(crate) fn per_file<T, E>(
    registry: &'static OnceLock<PerFile<T>>,
    path: &Path,
    make: impl FnOnce() -> Result<Arc<T>, E>,
) -> Result<Arc<T>, E> {
    let mut entries = registry
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    entries.retain(|(_, entry)| entry.strong_count() > 0);
    if let Some(entry) = entries
        .iter()
        .find(|(known, _)| known == path)
        .and_then(|(_, entry)| entry.upgrade())
    {
        return Ok(entry);
    }
    let entry = make()?;
    entries.push((path.to_path_buf(), Arc::downgrade(&entry)));
    Ok(entry)
}

/// The writer queue of one database file, shared by every connection this process opens to
/// it.
fn writer_queue(path: &Path) -> Result<Arc<WriterQueue>, DbError> {
    static QUEUES: OnceLock<PerFile<WriterQueue>> = OnceLock::new();
    let path = std::fs::canonicalize(path).map_err(|source| DbError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    per_file(&QUEUES, &path, || {
        Ok::<_, DbError>(Arc::new(WriterQueue::default()))
    })
}

/// A read transaction of [`Db::snapshot`]; ends when dropped.
#[derive(Debug)]
pub struct Snapshot<'c> {
    conn: &'c Connection,
}

impl Drop for Snapshot<'_> {
    fn drop(&mut self) {
        // Nothing was written: ending the transaction only lets go of the snapshot.
        if !self.conn.is_autocommit() {
            if let Err(err) = self
                .conn
                .prepare_cached("COMMIT")
                .and_then(|mut end| end.execute([]))
            {
                log::error!("database: cannot end a read transaction: {err}");
            }
        }
    }
}

/// Rolls the transaction back when dropped before [`OpenTransaction::commit`] succeeded.
struct OpenTransaction<'c> {
    conn: &'c Connection,
}

impl OpenTransaction<'_> {
    fn commit(self) -> Result<(), DbError> {
        self.conn.prepare_cached("COMMIT")?.execute([])?;
        Ok(())
    }
}

impl Drop for OpenTransaction<'_> {
    fn drop(&mut self) {
        // After a successful COMMIT the connection is back in autocommit mode; some errors
        // (SQLITE_FULL, SQLITE_IOERR) have already rolled back on their own.
        if !self.conn.is_autocommit() {
            if let Err(err) = self.conn.execute_batch("ROLLBACK") {
                log::error!("database rollback failed: {err}");
            }
        }
    }
}

/// First sleep of a connection waiting for the write lock; it doubles on each retry up to
/// [`BUSY_SLEEP_MAX`].
pub const BUSY_SLEEP_MIN: Duration = Duration::from_micros(20);

/// Longest single sleep of a connection waiting for the write lock.
pub const BUSY_SLEEP_MAX: Duration = Duration::from_millis(1);

/// The busy handler: retries the lock after 20 µs, 40 µs, … then every 1 ms, until `timeout`
/// has passed since the first refusal. SQLite's own `busy_timeout` handler backs off to 100 ms
/// sleeps; while two workers keep writing, the one asleep keeps losing the lock, and a
/// measured write waited 1.3 s (FULL) with it. Each wait, its sleeps and a timeout are
/// counted in `waits` (SQLite calls the handler on the connection's own thread).
fn busy_waiter(
    timeout: Duration,
    waits: Arc<WaitStats>,
) -> impl FnMut(i32) -> bool + Send + 'static {
    let mut first_refusal = Instant::now();
    move |retries| {
        if retries == 0 {
            first_refusal = Instant::now();
            waits.busy_began();
        }
        let waited = first_refusal.elapsed();
        if waited >= timeout {
            waits.busy_timed_out();
            return false;
        }
        let doublings = retries.clamp(0, 10) as u32;
        let sleep = BUSY_SLEEP_MIN
            .saturating_mul(1 << doublings)
            .min(BUSY_SLEEP_MAX)
            .min(timeout - waited);
        let asleep = Instant::now();
        std::thread::sleep(sleep);
        waits.busy_slept(asleep.elapsed());
        true
    }
}

/// Applies the per-connection settings (also used by [`migrate`] for its own connection);
/// busy waits are counted in `waits`.
fn configure(
    conn: &mut Connection,
    config: &DbConfig,
    waits: Arc<WaitStats>,
) -> Result<(), DbError> {
    conn.busy_handler(Some(busy_waiter(config.busy_timeout, waits)))?;
    // The query planner stability guarantee: plans never depend on bound values. Without it
    // SQLite marks a statement for re-preparing whenever a `LIMIT ?n`, or a parameter it
    // compared with a partial index's condition, is bound again, so the cached list
    // statements were compiled afresh on every call (about 50 µs each).
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    conn.pragma_update(None, "synchronous", config.synchronous.pragma_value())?;
    conn.pragma_update(None, "foreign_keys", 1)?;
    conn.pragma_update(None, "temp_store", 2)?;
    conn.pragma_update(None, "cache_size", -CACHE_SIZE_KIB)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{temp::TempDb, *};

    fn pragma(db: &Db, name: &str) -> i64 {
        db.conn()
            .pragma_query_value(None, name, |row| row.get(0))
            .unwrap()
    }

    #[test]
    fn now_text_is_what_now_sql_writes() {
        let temp = TempDb::new("now-text");
        let db = temp.open();
        let ours = NowText::now();
        let sqlite: String = db
            .conn()
            .query_row(concat!("SELECT ", now_sql!()), [], |row| row.get(0))
            .unwrap();
        assert_eq!(ours.as_str().len(), sqlite.len());
        // Same minute (a run across a minute boundary is vanishingly rare), same shape.
        assert_eq!(ours.as_str()[..16], sqlite[..16], "{ours:?} {sqlite}");
        assert!(ours.as_str().ends_with("000") && ours.as_str().as_bytes()[19] == b'.');
        let epoch = std::time::UNIX_EPOCH;
        let at = |secs: u64, millis: u64| {
            NowText::at(epoch + Duration::from_secs(secs) + Duration::from_millis(millis))
        };
        assert_eq!(at(0, 0).as_str(), "1970-01-01T00:00:00.000000");
        assert_eq!(
            at(1_399_464_373, 681).as_str(),
            "2014-05-07T12:06:13.681000"
        );
        assert_eq!(at(951_825_599, 999).as_str(), "2000-02-29T11:59:59.999000");
    }

    #[test]
    fn settings_are_applied() {
        let temp = TempDb::new("settings");
        let db = temp.open();
        assert_eq!(pragma(&db, "synchronous"), 1);
        assert_eq!(pragma(&db, "foreign_keys"), 1);
        assert_eq!(pragma(&db, "temp_store"), 2);
        assert_eq!(pragma(&db, "cache_size"), -CACHE_SIZE_KIB);
        let mode: String = db
            .conn()
            .pragma_query_value(None, "journal_mode", |row| row.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }

    #[test]
    fn synchronous_full_is_applied() {
        let mut temp = TempDb::new("sync-full");
        temp.config.synchronous = Synchronous::Full;
        let db = temp.open();
        assert_eq!(pragma(&db, "synchronous"), 2);
        assert!(
            db.take_durable_wait().is_none(),
            "plain FULL waits inside COMMIT"
        );
    }

    #[test]
    fn worker_connections_under_full_use_the_group_flush() {
        let mut temp = TempDb::new("sync-group");
        temp.config.synchronous = Synchronous::Full;
        let _migrated = temp.open();
        let db = Db::open_for_worker(&temp.config).unwrap();
        assert_eq!(
            pragma(&db, "synchronous"),
            1,
            "commits do not flush on the worker"
        );
        assert!(
            db.take_durable_wait().is_none(),
            "no write, nothing to wait for"
        );
        db.write_one(
            "INSERT INTO quotas (project_id, resource, hard_limit, created_at) \
             VALUES ('p', 'cores', 3, '2026-01-01T00:00:00.000000')",
            [],
        )
        .unwrap();
        let wait = db
            .take_durable_wait()
            .expect("a write must wait for the flush");
        assert!(db.take_durable_wait().is_none(), "taken once");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !wait.is_done() {
            assert!(Instant::now() < deadline, "the group flush never came");
            std::thread::sleep(Duration::from_millis(1));
        }
        let normal = Db::open_for_worker(&DbConfig {
            synchronous: Synchronous::Normal,
            ..temp.config.clone()
        })
        .unwrap();
        normal
            .write_one("DELETE FROM quotas WHERE project_id = 'p'", [])
            .unwrap();
        assert!(normal.take_durable_wait().is_none(), "NORMAL never waits");
    }

    #[test]
    fn a_held_write_lock_is_waited_for_then_busy() {
        let mut temp = TempDb::new("busy");
        temp.config.busy_timeout = Duration::from_millis(150);
        let holder = temp.open();
        let waiter = temp.open();
        holder.conn().execute_batch("BEGIN IMMEDIATE").unwrap();
        let started = Instant::now();
        let err = quotas::set_project(&waiter, "p", &[("cores", 1)]).unwrap_err();
        let waited = started.elapsed();
        assert!(matches!(err, DbError::Busy), "{err}");
        assert!(waited >= Duration::from_millis(150), "{waited:?}");
        assert!(waited < Duration::from_secs(2), "{waited:?}");
        let waits = waiter.wait_stats();
        assert_eq!((waits.busy_waits(), waits.busy_timeouts()), (1, 1));
        assert!(
            waits.busy_wait_ns() >= 100_000_000,
            "{}",
            waits.busy_wait_ns()
        );
        assert_eq!(
            waits.queue_waits(),
            0,
            "another process's lock, not the queue"
        );
        // Readers are not blocked by the writer (WAL).
        assert!(flavors::get_by_flavorid(&waiter, "1", None).is_ok());
        holder.conn().execute_batch("COMMIT").unwrap();
        quotas::set_project(&waiter, "p", &[("cores", 1)]).unwrap();
    }

    #[test]
    fn a_write_waiting_for_another_workers_write_is_counted() {
        let temp = TempDb::new("queue");
        let config = temp.config.clone();
        let (inside, entered) = std::sync::mpsc::channel();
        let holder = std::thread::spawn(move || {
            let db = Db::open(&config).unwrap();
            db.write(|_| {
                inside.send(()).unwrap();
                std::thread::sleep(Duration::from_millis(100));
                Ok(())
            })
            .unwrap();
            db.wait_stats().queue_waits()
        });
        let db = temp.open();
        entered.recv().unwrap();
        db.write_one("DELETE FROM quotas WHERE project_id = 'q'", [])
            .unwrap();
        let waits = db.wait_stats();
        assert_eq!(waits.queue_waits(), 1);
        assert!(
            waits.queue_wait_ns() >= 50_000_000,
            "{}",
            waits.queue_wait_ns()
        );
        assert_eq!(
            waits.busy_waits(),
            0,
            "the queue keeps writers off the file lock"
        );
        assert_eq!(holder.join().unwrap(), 0, "the first writer did not wait");
    }

    #[test]
    fn the_busy_waiter_sleeps_briefly_and_gives_up_on_time() {
        // Bounds are loose on purpose: on a loaded machine every sleep overshoots. SQLite's
        // own handler would sleep up to 100 ms at a time (2 retries in 200 ms).
        let waits = Arc::new(WaitStats::default());
        let mut wait = busy_waiter(Duration::from_millis(200), Arc::clone(&waits));
        let started = Instant::now();
        let mut retries = 0;
        while wait(retries) {
            retries += 1;
        }
        let waited = started.elapsed();
        assert_eq!((waits.busy_waits(), waits.busy_timeouts()), (1, 1));
        let slept = Duration::from_nanos(waits.busy_wait_ns());
        assert!(
            slept > Duration::from_millis(150) && slept <= waited,
            "{slept:?}"
        );
        assert!(waited >= Duration::from_millis(200), "{waited:?}");
        assert!(waited < Duration::from_secs(3), "{waited:?}");
        assert!(retries >= 10, "{retries} retries in {waited:?}");
    }

    #[test]
    fn open_refuses_an_unmigrated_file() {
        let temp = TempDb::unmigrated("unmigrated");
        std::fs::create_dir_all(temp.config.path.parent().unwrap()).unwrap();
        Connection::open(&temp.config.path)
            .unwrap()
            .execute_batch("PRAGMA journal_mode = WAL")
            .unwrap();
        let err = Db::open(&temp.config).unwrap_err();
        assert!(
            matches!(
                err,
                DbError::SchemaMismatch {
                    found: 0,
                    expected: schema::LATEST
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn open_refuses_a_missing_file() {
        let temp = TempDb::unmigrated("missing");
        assert!(matches!(
            Db::open(&temp.config).unwrap_err(),
            DbError::Sqlite(_)
        ));
        assert!(!temp.config.path.exists());
    }

    #[test]
    fn the_change_stamp_moves_on_every_commit_and_only_then() {
        let temp = TempDb::new("stamp");
        let reader = temp.open();
        let other = temp.open();
        let insert = concat!(
            "INSERT INTO quotas (project_id, resource, hard_limit, created_at) VALUES (?1, 'cores', 4, ",
            now_sql!(),
            ")"
        );
        // Every stamp here is read from the wal-index header, not through the pragma.
        let stamp = |db: &Db| {
            let stamp = db.change_stamp().unwrap();
            assert!(stamp.wal_header.is_some());
            stamp
        };
        let first = stamp(&reader);
        // Reads, through either connection, change nothing.
        let _: i64 = other
            .conn()
            .query_row("SELECT count(*) FROM flavors", [], |row| row.get(0))
            .unwrap();
        assert_eq!(stamp(&reader), first);
        // Another connection's commit (data_version).
        other.write_one(insert, ["a"]).unwrap();
        let second = stamp(&reader);
        assert_ne!(second, first);
        assert_eq!(stamp(&reader), second);
        // This connection's own commit (total_changes).
        reader.write_one(insert, ["b"]).unwrap();
        let third = stamp(&reader);
        assert_ne!(third, second);
        // The header alone shows every commit, this connection's own included.
        assert_ne!(third.wal_header, second.wal_header);
        // A connection of its own, as another process would have.
        let outside = rusqlite::Connection::open(&temp.config.path).unwrap();
        outside
            .execute(
                "UPDATE quotas SET hard_limit = 5 WHERE project_id = 'a'",
                [],
            )
            .unwrap();
        let fourth = stamp(&reader);
        assert_ne!(fourth.wal_header, third.wal_header);
    }

    #[test]
    fn the_pragma_stamp_moves_on_every_commit_and_never_equals_a_header_stamp() {
        let temp = TempDb::new("stamp-pragma");
        let mut reader = temp.open();
        let other = temp.open();
        let header = reader.change_stamp().unwrap();
        // As when the header cannot be read: the pragma answers.
        reader.wal_index = None;
        let first = reader.change_stamp().unwrap();
        assert!(first.wal_header.is_none());
        assert_ne!(first, header);
        assert_eq!(reader.change_stamp().unwrap(), first);
        other
            .write_one(
                "UPDATE flavors SET description = 'x' WHERE flavorid = '1'",
                [],
            )
            .unwrap();
        let second = reader.change_stamp().unwrap();
        assert_ne!(second, first);
        reader
            .write_one(
                "UPDATE flavors SET description = 'y' WHERE flavorid = '1'",
                [],
            )
            .unwrap();
        assert_ne!(reader.change_stamp().unwrap(), second);
    }

    #[test]
    fn a_snapshot_reads_one_state_and_ends_when_dropped() {
        let temp = TempDb::new("snapshot");
        let reader = temp.open();
        let writer = temp.open();
        let count = |db: &Db| -> i64 {
            db.conn()
                .query_row("SELECT count(*) FROM quotas", [], |row| row.get(0))
                .unwrap()
        };
        let insert = "INSERT INTO quotas (project_id, resource, hard_limit, created_at) \
                      VALUES (?1, 'cores', 1, '2026-01-01T00:00:00.000000')";
        {
            let _snapshot = reader.snapshot().unwrap();
            assert_eq!(count(&reader), 0);
            writer.write_one(insert, ["a"]).unwrap();
            assert_eq!(count(&reader), 0, "the snapshot does not move");
            let nested = reader.write(|conn| Ok(conn.execute(insert, ["b"])?));
            assert!(nested.is_err(), "no write transaction inside a snapshot");
        }
        assert!(reader.conn().is_autocommit());
        assert_eq!(count(&reader), 1);
        reader.write_one(insert, ["c"]).unwrap();
        assert_eq!(count(&writer), 2);
    }

    #[test]
    fn write_commits_on_ok_and_rolls_back_on_err() {
        let temp = TempDb::new("write");
        let db = temp.open();
        let count = |db: &Db| -> i64 {
            db.conn()
                .query_row("SELECT count(*) FROM quotas", [], |row| row.get(0))
                .unwrap()
        };
        db.write(|conn| {
            conn.execute(
                concat!(
                    "INSERT INTO quotas (project_id, resource, hard_limit, created_at) \
                     VALUES ('p', 'cores', 4, ",
                    now_sql!(),
                    ")"
                ),
                [],
            )?;
            Ok(())
        })
        .unwrap();
        assert_eq!(count(&db), 1);
        let failed: Result<(), DbError> = db.write(|conn| {
            conn.execute("DELETE FROM quotas", [])?;
            Err(DbError::NotFound)
        });
        assert!(matches!(failed, Err(DbError::NotFound)));
        assert_eq!(count(&db), 1);
        assert!(db.conn().is_autocommit());
    }

    #[test]
    fn write_rolls_back_when_the_body_panics() {
        let temp = TempDb::new("write-panic");
        let db = temp.open();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = db.write(|conn| -> Result<(), DbError> {
                conn.execute("DELETE FROM flavors", [])?;
                panic!("handler bug");
            });
        }));
        assert!(outcome.is_err());
        assert!(db.conn().is_autocommit());
        // The connection still works and the delete did not happen.
        assert_eq!(
            flavors::list(
                &db,
                &flavors::Filter::default(),
                flavors::Sort::default(),
                None,
                None
            )
            .unwrap()
            .len(),
            6
        );
    }
}
