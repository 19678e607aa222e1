//! The typed queries controllers call, one module per resource. Every function takes the
//! worker's [`Db`](super::Db), runs cached prepared statements, and returns rows or a typed
//! [`DbError`](super::DbError); none of them awaits, so none holds a lock across a yield.
//!
//! Query modules must never run on another thread than the `Db` they are given, and never hold
//! a transaction across an `.await`.

pub mod documents;
pub mod flavors;
pub mod images;
pub mod instances;
pub mod keypairs;
pub mod orchestration;
pub mod quotas;

use rusqlite::{types::Type, Row};

/// `Option<u32>` page size as SQLite's `LIMIT` operand (`-1` = no limit).
fn limit_value(limit: Option<u32>) -> i64 {
    limit.map_or(-1, i64::from)
}

/// Column `index` as text borrowed from the row.
fn text<'r>(row: &'r Row<'_>, index: usize) -> rusqlite::Result<&'r str> {
    row.get_ref(index)?
        .as_str()
        .map_err(|err| rusqlite::Error::FromSqlConversionFailure(index, Type::Text, Box::new(err)))
}

/// Column `index` as nullable text borrowed from the row.
fn opt_text<'r>(row: &'r Row<'_>, index: usize) -> rusqlite::Result<Option<&'r str>> {
    row.get_ref(index)?
        .as_str_or_null()
        .map_err(|err| rusqlite::Error::FromSqlConversionFailure(index, Type::Text, Box::new(err)))
}
