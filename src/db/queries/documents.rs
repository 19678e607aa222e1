//! Documents of the `os-documents` extension (table `documents`): per project, listed and
//! paged in creation order, deleted outright.
//!
//! Every query names the project: a document of another project is [`DbError::NotFound`],
//! never read or changed. [`create_within_quota`] counts the project's documents, resolves the
//! `documents` limit and inserts in one `BEGIN IMMEDIATE` transaction, so two workers racing
//! for the last slot cannot both win. Metadata is stored as the JSON text the API wrote; this
//! module never parses it.

use rusqlite::{params, OptionalExtension, Row};

use super::{limit_value, opt_text, quotas, text};
use crate::db::{Db, DbError};

/// The quota resource that limits documents (per project).
pub const QUOTA_RESOURCE: &str = "documents";

/// The columns every document query selects, in the order [`read`] expects.
macro_rules! columns {
    () => {
        "id, project_id, user_id, name, content, metadata, created_at, updated_at"
    };
}

/// A document as stored, borrowed from its row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocumentRow<'r> {
    /// UUID.
    pub id: &'r str,
    /// Owner project.
    pub project_id: &'r str,
    /// Creator.
    pub user_id: &'r str,
    /// Name.
    pub name: &'r str,
    /// Content.
    pub content: &'r str,
    /// Metadata, a JSON object's text.
    pub metadata: &'r str,
    /// Creation time, Nova's text form.
    pub created_at: &'r str,
    /// Last update, if any.
    pub updated_at: Option<&'r str>,
}

fn read<'r>(row: &'r Row<'_>) -> rusqlite::Result<DocumentRow<'r>> {
    Ok(DocumentRow {
        id: text(row, 0)?,
        project_id: text(row, 1)?,
        user_id: text(row, 2)?,
        name: text(row, 3)?,
        content: text(row, 4)?,
        metadata: text(row, 5)?,
        created_at: text(row, 6)?,
        updated_at: opt_text(row, 7)?,
    })
}

/// A document to store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewDocument<'a> {
    /// UUID, made by the API.
    pub id: &'a str,
    /// Owner project.
    pub project_id: &'a str,
    /// Creator.
    pub user_id: &'a str,
    /// Name.
    pub name: &'a str,
    /// Content.
    pub content: &'a str,
    /// Metadata as JSON object text.
    pub metadata: &'a str,
}

/// What an update changes; `None` keeps the stored value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DocumentChanges<'a> {
    /// New name.
    pub name: Option<&'a str>,
    /// New content.
    pub content: Option<&'a str>,
    /// New metadata (JSON object text), replacing the old.
    pub metadata: Option<&'a str>,
}

/// Calls `each` with the project's documents in creation order: up to `limit` (all if
/// `None`), starting after the document `marker` ([`DbError::MarkerNotFound`] when the
/// project has none with that id). Returns how many there were.
pub fn list_each(
    db: &Db,
    project_id: &str,
    limit: Option<u32>,
    marker: Option<&str>,
    mut each: impl FnMut(&DocumentRow<'_>),
) -> Result<usize, DbError> {
    let conn = db.conn();
    let after: i64 = match marker {
        Some(id) => conn
            .prepare_cached("SELECT seq FROM documents WHERE project_id = ?1 AND id = ?2")?
            .query_row([project_id, id], |row| row.get(0))
            .optional()?
            .ok_or(DbError::MarkerNotFound)?,
        None => 0,
    };
    let mut stmt = conn.prepare_cached(concat!(
        "SELECT ",
        columns!(),
        " FROM documents WHERE project_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3"
    ))?;
    let mut rows = stmt.query(params![project_id, after, limit_value(limit)])?;
    let mut count = 0;
    while let Some(row) = rows.next()? {
        each(&read(row)?);
        count += 1;
    }
    Ok(count)
}

/// Calls `with` on the project's document `id`.
pub fn get<T>(
    db: &Db,
    project_id: &str,
    id: &str,
    with: impl FnOnce(&DocumentRow<'_>) -> T,
) -> Result<T, DbError> {
    db.conn()
        .prepare_cached(concat!(
            "SELECT ",
            columns!(),
            " FROM documents WHERE project_id = ?1 AND id = ?2"
        ))?
        .query_row([project_id, id], |row| read(row).map(|row| with(&row)))
        .optional()?
        .ok_or(DbError::NotFound)
}

/// Inserts a document if the project's `documents` limit (a stored override, else
/// `default_limit`; `-1` is unlimited) leaves room, and calls `with` on the stored row.
pub fn create_within_quota<T>(
    db: &Db,
    default_limit: i64,
    new: &NewDocument<'_>,
    with: impl FnOnce(&DocumentRow<'_>) -> T,
) -> Result<T, DbError> {
    db.write(|conn| {
        let limit =
            quotas::limit_in(conn, new.project_id, None, QUOTA_RESOURCE)?.unwrap_or(default_limit);
        if limit >= 0 {
            let in_use: i64 = conn
                .prepare_cached("SELECT count(*) FROM documents WHERE project_id = ?1")?
                .query_row([new.project_id], |row| row.get(0))?;
            if in_use >= limit {
                return Err(DbError::OverQuota {
                    resource: QUOTA_RESOURCE,
                    limit,
                    in_use,
                });
            }
        }
        Ok(conn
            .prepare_cached(concat!(
                "INSERT INTO documents (id, project_id, user_id, name, content, metadata, \
                 created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ",
                now_sql!(),
                ") RETURNING ",
                columns!()
            ))?
            .query_row(
                params![
                    new.id,
                    new.project_id,
                    new.user_id,
                    new.name,
                    new.content,
                    new.metadata
                ],
                |row| read(row).map(|row| with(&row)),
            )?)
    })
}

/// Changes the project's document `id` and calls `with` on the updated row.
pub fn update<T>(
    db: &Db,
    project_id: &str,
    id: &str,
    changes: &DocumentChanges<'_>,
    with: impl FnOnce(&DocumentRow<'_>) -> T,
) -> Result<T, DbError> {
    db.write(|conn| {
        conn.prepare_cached(concat!(
            "UPDATE documents SET name = coalesce(?3, name), content = coalesce(?4, content), \
             metadata = coalesce(?5, metadata), updated_at = ",
            now_sql!(),
            " WHERE project_id = ?1 AND id = ?2 RETURNING ",
            columns!()
        ))?
        .query_row(
            params![
                project_id,
                id,
                changes.name,
                changes.content,
                changes.metadata
            ],
            |row| read(row).map(|row| with(&row)),
        )
        .optional()?
        .ok_or(DbError::NotFound)
    })
}

/// Deletes the project's document `id`.
pub fn delete(db: &Db, project_id: &str, id: &str) -> Result<(), DbError> {
    let changed = db.write_one(
        "DELETE FROM documents WHERE project_id = ?1 AND id = ?2",
        [project_id, id],
    )?;
    if changed == 0 {
        return Err(DbError::NotFound);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::temp::TempDb;

    fn new<'a>(id: &'a str, project_id: &'a str) -> NewDocument<'a> {
        NewDocument {
            id,
            project_id,
            user_id: "u",
            name: "n",
            content: "c",
            metadata: "{}",
        }
    }

    #[test]
    fn documents_are_per_project_paged_in_creation_order_and_counted() {
        let temp = TempDb::new("documents");
        let db = temp.open();
        for id in ["d1", "d2", "d3"] {
            create_within_quota(&db, 3, &new(id, "p"), |_| ()).unwrap();
        }
        create_within_quota(&db, 3, &new("other", "q"), |_| ()).unwrap();
        let over = create_within_quota(&db, 3, &new("d4", "p"), |_| ()).unwrap_err();
        assert!(matches!(
            over,
            DbError::OverQuota {
                limit: 3,
                in_use: 3,
                ..
            }
        ));

        let mut ids = Vec::new();
        let n = list_each(&db, "p", Some(2), Some("d1"), |row| {
            ids.push(row.id.to_owned())
        });
        assert_eq!(
            (n.unwrap(), ids),
            (2, vec!["d2".to_owned(), "d3".to_owned()])
        );
        assert!(matches!(
            list_each(&db, "p", None, Some("other"), |_| ()),
            Err(DbError::MarkerNotFound)
        ));

        assert!(matches!(
            get(&db, "p", "other", |_| ()),
            Err(DbError::NotFound)
        ));
        let changes = DocumentChanges {
            name: Some("renamed"),
            ..DocumentChanges::default()
        };
        let (name, content, updated) = update(&db, "p", "d2", &changes, |row| {
            (
                row.name.to_owned(),
                row.content.to_owned(),
                row.updated_at.is_some(),
            )
        })
        .unwrap();
        assert_eq!(
            (name.as_str(), content.as_str(), updated),
            ("renamed", "c", true)
        );
        assert!(matches!(
            update(&db, "q", "d2", &changes, |_| ()),
            Err(DbError::NotFound)
        ));
        assert!(matches!(delete(&db, "q", "d2"), Err(DbError::NotFound)));
        delete(&db, "p", "d2").unwrap();
        assert!(matches!(
            get(&db, "p", "d2", |_| ()),
            Err(DbError::NotFound)
        ));
    }
}
