//! Test-only: a database file under the system temp directory, unique per test, removed (with
//! its `-wal` and `-shm` companions) when dropped.
//!
//! Test support only; it must never be used outside `#[cfg(test)]` code.

use std::{
    path::PathBuf,
    sync::atomic::{AtomicUsize, Ordering},
};

use super::{migrate, Db, DbConfig};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A scratch database directory holding one database file.
#[derive(Debug)]
pub(crate) struct TempDb {
    /// The directory (removed on drop).
    pub(crate) dir: PathBuf,
    /// Settings for the file inside it.
    pub(crate) config: DbConfig,
}

impl TempDb {
    /// A fresh, migrated database.
    pub(crate) fn new(name: &str) -> TempDb {
        let temp = TempDb::unmigrated(name);
        migrate(&temp.config).expect("migrations run on a fresh file");
        temp
    }

    /// A fresh path; nothing is created yet.
    pub(crate) fn unmigrated(name: &str) -> TempDb {
        let dir = std::env::temp_dir().join(format!(
            "ringnova-test-{}-{}-{name}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        TempDb {
            config: DbConfig::at(dir.join("db").join("ringnova.sqlite")),
            dir,
        }
    }

    /// Opens a worker connection.
    pub(crate) fn open(&self) -> Db {
        Db::open(&self.config).expect("open the test database")
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
