//! [`DbError`]: everything the data layer can answer instead of a row.
//!
//! The variants a controller turns into a Nova fault are typed ([`DbError::NotFound`] → 404,
//! [`DbError::Conflict`] → 409, [`DbError::OverQuota`] → 403, [`DbError::MarkerNotFound`] →
//! 400, [`DbError::Busy`] → 503); the rest are start-up failures or internal errors (500) whose
//! text is for the log, never for a response body.

use std::{fmt, path::PathBuf};

use rusqlite::ErrorCode;

/// Which uniqueness rule a write would have broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    /// A live flavor already has this `flavorid` (Nova's FlavorIdExists).
    FlavorId,
    /// A live flavor already has this name (Nova's FlavorExists).
    FlavorName,
    /// The project already has access to the flavor (Nova's FlavorAccessExists).
    FlavorAccess,
    /// The user already has a key pair with this name (Nova's KeyPairExists).
    Keypair,
}

impl Conflict {
    /// A short description of what clashed.
    pub fn as_str(self) -> &'static str {
        match self {
            Conflict::FlavorId => "flavor id already exists",
            Conflict::FlavorName => "flavor name already exists",
            Conflict::FlavorAccess => "flavor access already exists",
            Conflict::Keypair => "key pair already exists",
        }
    }
}

/// An error from the data layer.
#[derive(Debug)]
pub enum DbError {
    /// The row asked for does not exist (or is deleted, or invisible to the requester).
    NotFound,
    /// The paging marker names no row the list could contain.
    MarkerNotFound,
    /// A uniqueness rule would be broken.
    Conflict(Conflict),
    /// Creating one more would exceed the quota.
    OverQuota {
        /// The quota resource (`key_pairs`, …).
        resource: &'static str,
        /// The limit in force.
        limit: i64,
        /// How many exist already.
        in_use: i64,
    },
    /// Another connection held the write lock for longer than `[database] busy_timeout`.
    Busy,
    /// The file was written by a newer ringnova (its schema version is higher than ours).
    SchemaTooNew {
        /// The file's schema version.
        found: i64,
        /// The newest version this build knows.
        known: i64,
    },
    /// The file's schema is not the one this build runs on (migrations did not run).
    SchemaMismatch {
        /// The file's schema version.
        found: i64,
        /// The version this build needs.
        expected: i64,
    },
    /// The file is an SQLite database of some other application.
    ForeignDatabase {
        /// Its `PRAGMA application_id`.
        application_id: i32,
    },
    /// SQLite did not switch the file to WAL; it stayed in this journal mode.
    JournalMode(String),
    /// A filesystem operation failed (creating the database directory).
    Io {
        /// The path involved.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// Any other SQLite error.
    Sqlite(rusqlite::Error),
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbError::NotFound => f.write_str("not found"),
            DbError::MarkerNotFound => f.write_str("paging marker not found"),
            DbError::Conflict(what) => f.write_str(what.as_str()),
            DbError::OverQuota {
                resource,
                limit,
                in_use,
            } => write!(
                f,
                "quota exceeded for {resource}: {in_use} in use of {limit} allowed"
            ),
            DbError::Busy => f.write_str(
                "the database stayed locked by another writer for longer than [database] busy_timeout",
            ),
            DbError::SchemaTooNew { found, known } => write!(
                f,
                "the database has schema version {found}, newer than the {known} this ringnova \
                 knows; it was written by a newer ringnova and will not be downgraded"
            ),
            DbError::SchemaMismatch { found, expected } => write!(
                f,
                "the database has schema version {found} but this ringnova needs {expected}; \
                 migrations have not run"
            ),
            DbError::ForeignDatabase { application_id } => write!(
                f,
                "the file is an SQLite database of another application (application_id \
                 {application_id:#x}), not a ringnova database"
            ),
            DbError::JournalMode(mode) => write!(
                f,
                "SQLite refused to switch the database to WAL mode (it stayed in {mode:?} mode); \
                 WAL needs a local filesystem with shared-memory support"
            ),
            DbError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            DbError::Sqlite(err) => write!(f, "SQLite: {err}"),
        }
    }
}

impl std::error::Error for DbError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DbError::Io { source, .. } => Some(source),
            DbError::Sqlite(err) => Some(err),
            _ => None,
        }
    }
}

impl From<rusqlite::Error> for DbError {
    fn from(err: rusqlite::Error) -> Self {
        match err.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => DbError::Busy,
            _ => DbError::Sqlite(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_and_locked_become_busy() {
        let busy = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        );
        assert!(matches!(DbError::from(busy), DbError::Busy));
        let locked = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_LOCKED),
            None,
        );
        assert!(matches!(DbError::from(locked), DbError::Busy));
        let other = rusqlite::Error::QueryReturnedNoRows;
        assert!(matches!(DbError::from(other), DbError::Sqlite(_)));
    }

    #[test]
    fn messages_are_plain_words() {
        let err = DbError::SchemaTooNew { found: 7, known: 1 };
        assert!(err.to_string().contains("newer ringnova"), "{err}");
        assert_eq!(
            DbError::Conflict(Conflict::Keypair).to_string(),
            "key pair already exists"
        );
    }
}
