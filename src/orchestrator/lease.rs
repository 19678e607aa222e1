//! The task lease: which process's orchestration thread drives the tasks of a database.
//!
//! During a zero-downtime upgrade two ringnova processes serve the same database for a
//! while. Only one of them may drive tasks: a second driver would resume, at its start, the
//! tasks the first is still running, and the first would abandon the tasks it started after
//! that when it exits. The lease is an exclusive advisory lock (`flock`) on a file next to
//! the database, held by the orchestration thread for the life of the process and released
//! by the kernel when the process exits, however it exits. A process that finds the lease
//! taken serves requests (tasks are committed and queued as usual) and drives nothing until
//! it takes the lease over; then it resumes every unfinished task, those of the process
//! before it included.
//!
//! Orchestration thread only (and start-up). It must never let two processes drive the
//! tasks of one database at once. No `unsafe`.

use std::{
    fs::{File, OpenOptions, TryLockError},
    io,
    path::{Path, PathBuf},
};

/// The lock file of the database at `db`.
pub fn path_for(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".tasks.lock");
    PathBuf::from(name)
}

/// The lease file, open but not necessarily held.
#[derive(Debug)]
pub struct Lease {
    file: File,
}

impl Lease {
    /// Opens (creating it if needed) the lease file of the database at `db`.
    pub fn open(db: &Path) -> io::Result<Lease> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path_for(db))?;
        Ok(Lease { file })
    }

    /// Takes the lease if no other holder has it; false when one does.
    pub fn try_take(&self) -> io::Result<bool> {
        match self.file.try_lock() {
            Ok(()) => Ok(true),
            Err(TryLockError::WouldBlock) => Ok(false),
            Err(TryLockError::Error(err)) => Err(err),
        }
    }

    /// Waits until the lease is free, then takes it.
    pub fn take(&self) -> io::Result<()> {
        self.file.lock()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_the_next_takes_over() {
        let dir = std::env::temp_dir().join(format!("ringnova-lease-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("ringnova.sqlite");
        let first = Lease::open(&db).unwrap();
        let second = Lease::open(&db).unwrap();
        assert!(first.try_take().unwrap());
        assert!(!second.try_take().unwrap());
        let waiter = std::thread::spawn(move || {
            second.take().unwrap();
            second
        });
        // Released when the holder goes away (as at process exit).
        drop(first);
        let second = waiter.join().unwrap();
        let third = Lease::open(&db).unwrap();
        assert!(!third.try_take().unwrap());
        drop(second);
        assert!(third.try_take().unwrap());
        assert!(path_for(&db).ends_with("ringnova.sqlite.tasks.lock"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
