//! `PRAGMA data_version` as a raw prepared statement of one connection: the fallback of
//! the per-request freshness check of [`Db::change_stamp`](super::Db::change_stamp) (when
//! the wal-index header cannot be read, see `wal_index.rs`), outside rusqlite's statement
//! cache.
//!
//! Core worker, at most once per cacheable read. Through `prepare_cached` and `query_row` the
//! check cost about 3,200 instructions, a third of them the cache's lookup and its statement
//! and row wrappers; kept prepared here, only SQLite's step (which opens a read transaction
//! and so sees every commit made to the file) and reset (which ends it) remain, about 2,100.
//!
//! One of the two `unsafe` modules of the data layer. It must never outlive the connection it
//! was prepared on (its owner drops it first), and never be used from another thread (it is
//! `!Send`, as the connection's owner is).
// The crate denies `unsafe`; this module is a reviewed exception (each block says why it
// holds).
#![allow(unsafe_code)]

use std::ptr::{self, NonNull};

use rusqlite::{ffi, Connection};

/// A prepared `PRAGMA data_version`, finalized on drop.
#[derive(Debug)]
pub(crate) struct DataVersion {
    stmt: NonNull<ffi::sqlite3_stmt>,
}

impl DataVersion {
    /// Prepares the statement on `conn`.
    ///
    /// # Safety
    ///
    /// The returned value must be dropped before `conn` is closed or dropped, and used only
    /// while `conn` is open.
    pub(crate) unsafe fn prepare(conn: &Connection) -> rusqlite::Result<DataVersion> {
        let mut stmt = ptr::null_mut();
        // SAFETY: `conn.handle()` is the open connection's handle (it stays valid while
        // `conn` does, and nothing else uses it during this call: connections are `!Sync`);
        // the SQL is NUL-terminated (length -1); `stmt` is a valid out pointer and no tail
        // pointer is asked for.
        let rc = unsafe {
            ffi::sqlite3_prepare_v3(
                conn.handle(),
                c"PRAGMA data_version".as_ptr(),
                -1,
                ffi::SQLITE_PREPARE_PERSISTENT,
                &mut stmt,
                ptr::null_mut(),
            )
        };
        if rc != ffi::SQLITE_OK {
            return Err(failure(rc));
        }
        // Null only for SQL without a statement, which this is not.
        NonNull::new(stmt)
            .map(|stmt| DataVersion { stmt })
            .ok_or_else(|| failure(ffi::SQLITE_MISUSE))
    }

    /// Runs the pragma: a new read transaction, the value, the transaction ended.
    pub(crate) fn read(&self) -> rusqlite::Result<i64> {
        let stmt = self.stmt.as_ptr();
        // SAFETY: `stmt` was prepared on a connection that is still open (`prepare`'s
        // contract) and is only used on that connection's thread (`DataVersion` is `!Send`
        // and `!Sync` through its pointer); it is never stepped concurrently with itself
        // (`&self` on one thread, and the calls below do not re-enter Rust code). Reset
        // always follows the step, so no read transaction is left open.
        unsafe {
            let rc = ffi::sqlite3_step(stmt);
            let value = if rc == ffi::SQLITE_ROW {
                Ok(ffi::sqlite3_column_int64(stmt, 0))
            } else {
                Err(failure(rc))
            };
            ffi::sqlite3_reset(stmt);
            value
        }
    }
}

impl Drop for DataVersion {
    fn drop(&mut self) {
        // SAFETY: the statement is finalized once, here, while its connection is still open
        // (`prepare`'s contract); nothing uses it afterwards.
        unsafe {
            ffi::sqlite3_finalize(self.stmt.as_ptr());
        }
    }
}

fn failure(rc: std::os::raw::c_int) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(ffi::Error::new(rc), None)
}
