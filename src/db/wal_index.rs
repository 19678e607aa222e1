//! The WAL-index header of a database file, read straight from the shared memory SQLite
//! keeps it in: the cheap form of [`Db::change_stamp`](super::Db::change_stamp).
//!
//! Core worker, once per cacheable read. In WAL mode every commit, by any connection of any
//! process, ends by writing a new header at the start of the wal-index (the `-shm` file every
//! connection to the database maps): a counter bumped per transaction, the last valid frame,
//! the database size, the last frame's checksum, the WAL's salts and a checksum of it all.
//! The header is what makes a commit visible: a reader's transaction takes its snapshot from
//! it. SQLite decides that the database changed (and `PRAGMA data_version` moves) exactly when
//! a new read transaction finds this header different from the one it last saw. Comparing the
//! header here is therefore the same test as the pragma, without starting and ending a read
//! transaction (about 2,100 instructions of the pragma against a few dozen here).
//!
//! The header is written twice, second copy first, with a memory barrier in between; a reader
//! reads the first copy, then (after a barrier) the second, and accepts them only when they
//! are equal. This module reads it the same way and, when the copies differ (a commit is being
//! published right now) or the header is not initialised, reports nothing: the caller then
//! asks the pragma instead.
//!
//! The region is found through the connection's own database file handle
//! (`SQLITE_FCNTL_FILE_POINTER`) and its VFS's `xShmMap`, asking for the region SQLite already
//! mapped (never extending the file): the very memory SQLite reads and writes. It stays mapped
//! while the connection keeps the WAL open, that is until it closes: a connection in WAL mode
//! holds a shared lock on the database file, so no other connection can take the file out of
//! WAL mode or delete its `-shm` file meanwhile, and it holds the wal-index's dead-man-switch
//! lock, so no one truncates it.
//!
//! It must never be read after its connection closed (its owner drops it first), never be
//! written, and never be used from another thread (it is `!Send`, as its owner is).
// The crate denies `unsafe`; this module is a reviewed exception (each block says why it
// holds).
#![allow(unsafe_code)]

use std::{
    ffi::c_void,
    ptr::{self, NonNull},
    sync::atomic::{fence, AtomicU32, Ordering},
};

use rusqlite::{ffi, Connection};

/// SQLite's wal-index region size (`WALINDEX_PGSZ`): the size every `xShmMap` call uses.
const REGION_SIZE: i32 = 32 * 1024;

/// `sizeof(WalIndexHdr)` in 32-bit words: version, padding, change counter, init flag with
/// checksum endianness and page size, last frame, database size in pages, last frame's
/// checksum (2), salts (2), header checksum (2).
const HEADER_WORDS: usize = 12;

/// The WAL-index header as it was when read.
pub(crate) type Header = [u32; HEADER_WORDS];

/// The mapped start of a database's wal-index.
#[derive(Debug)]
pub(crate) struct WalIndex {
    /// First word of region 0 (page-aligned: an `mmap` of the `-shm` file).
    region: NonNull<u32>,
}

impl WalIndex {
    /// Finds the wal-index region `conn` has mapped; `None` when there is none to use (not in
    /// WAL mode, exclusive locking mode, a VFS without shared memory, nothing mapped yet).
    ///
    /// # Safety
    ///
    /// `conn` must be in WAL mode with normal locking and have run a read already (so that
    /// SQLite mapped the region); the returned value must be dropped before `conn` is closed
    /// or dropped, and used only while `conn` is open, on `conn`'s thread.
    pub(crate) unsafe fn locate(conn: &Connection) -> Option<WalIndex> {
        let mut file: *mut ffi::sqlite3_file = ptr::null_mut();
        // SAFETY: `conn.handle()` is the open connection's handle, used on its thread with no
        // other call in progress; `c"main"` is NUL-terminated; for
        // `SQLITE_FCNTL_FILE_POINTER` the argument is a `sqlite3_file **` it writes once.
        let rc = unsafe {
            ffi::sqlite3_file_control(
                conn.handle(),
                c"main".as_ptr(),
                ffi::SQLITE_FCNTL_FILE_POINTER,
                ptr::addr_of_mut!(file).cast::<c_void>(),
            )
        };
        if rc != ffi::SQLITE_OK || file.is_null() {
            return None;
        }
        // SAFETY: `file` is the connection's open database file (just returned by SQLite,
        // alive while the connection is); its `pMethods` is either null or SQLite's static
        // method table for the file's VFS.
        let methods = unsafe { (*file).pMethods.as_ref() }?;
        if methods.iVersion < 2 {
            return None;
        }
        let shm_map = methods.xShmMap?;
        let mut region: *mut c_void = ptr::null_mut();
        // SAFETY: the VFS's own `xShmMap` on its own file, on the connection's thread with no
        // other SQLite call in progress on it; region 0 at SQLite's region size, without
        // extending (bExtend = 0): it returns the mapping SQLite already made for the WAL, or
        // null. `region` is a valid out pointer.
        let rc = unsafe { shm_map(file, 0, REGION_SIZE, 0, &mut region) };
        if rc != ffi::SQLITE_OK {
            return None;
        }
        let region = NonNull::new(region.cast::<u32>())?;
        if region.as_ptr().align_offset(std::mem::align_of::<u32>()) != 0 {
            return None;
        }
        Some(WalIndex { region })
    }

    /// The header, read as SQLite's readers read it; `None` while a commit is publishing a
    /// new one (the two copies differ) or when it is not initialised.
    #[inline]
    pub(crate) fn header(&self) -> Option<Header> {
        let base = self.region.as_ptr();
        let mut first = [0u32; HEADER_WORDS];
        let mut second = [0u32; HEADER_WORDS];
        for (i, word) in first.iter_mut().enumerate() {
            // SAFETY: region 0 is mapped (32 KiB, page-aligned, so aligned for `u32`) while the
            // connection is open (`locate`'s contract), and the two header copies are its
            // first 96 bytes. SQLite's C code (other connections of this process, and other
            // processes) writes it concurrently with plain stores, as it does for its own
            // readers: each word is loaded with an atomic load (one aligned 32-bit load on
            // every target, never dropped, merged or re-read by the compiler), which is as
            // close to the model as a region shared with C can be; a word caught mid-update
            // makes the two copies differ below.
            *word = unsafe { AtomicU32::from_ptr(base.add(i)) }.load(Ordering::Relaxed);
        }
        // Writers publish the second copy, a barrier, then the first: reading the first, a
        // barrier, then the second, equal copies are one whole header.
        fence(Ordering::SeqCst);
        for (i, word) in second.iter_mut().enumerate() {
            // SAFETY: as above; words 12 to 23 are the second copy, inside the region.
            *word =
                unsafe { AtomicU32::from_ptr(base.add(HEADER_WORDS + i)) }.load(Ordering::Relaxed);
        }
        // `isInit` is the header's 13th byte: the first byte of word 3 in memory order.
        let initialised = first[3].to_ne_bytes()[0] != 0;
        (first == second && initialised).then_some(first)
    }
}
