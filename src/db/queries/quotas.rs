//! Quota limits set by an admin (tables `quotas` and `project_user_quotas`).
//!
//! Only overrides are stored: a resource without a row uses the default from the
//! configuration (SPEC §6), which the API layer owns. Limits are whole numbers, `-1` meaning
//! unlimited. Resource names are Nova's (`instances`, `cores`, `key_pairs`, …) and are
//! validated by the API before they reach this module.
//!
//! It must never decide a default itself: defaults belong to the configuration and are resolved
//! by the API layer.

use rusqlite::{params, Connection, OptionalExtension};

use crate::db::{Db, DbError};

/// One stored limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaRow {
    /// Nova's resource name.
    pub resource: String,
    /// The limit; `-1` is unlimited.
    pub hard_limit: i64,
}

fn collect(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<QuotaRow>, DbError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, |row| {
        Ok(QuotaRow {
            resource: row.get(0)?,
            hard_limit: row.get(1)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The project's stored limits, by resource name.
pub fn get_project(db: &Db, project_id: &str) -> Result<Vec<QuotaRow>, DbError> {
    collect(
        db.conn(),
        "SELECT resource, hard_limit FROM quotas WHERE project_id = ?1 ORDER BY resource",
        [project_id],
    )
}

/// The limits stored for one user within a project, by resource name.
pub fn get_user(db: &Db, project_id: &str, user_id: &str) -> Result<Vec<QuotaRow>, DbError> {
    collect(
        db.conn(),
        "SELECT resource, hard_limit FROM project_user_quotas \
         WHERE project_id = ?1 AND user_id = ?2 ORDER BY resource",
        [project_id, user_id],
    )
}

/// The sum of the limits stored for the project's users, by resource name (Nova subtracts
/// them from the project's limit to find what is left to give out).
pub fn user_limit_sums(db: &Db, project_id: &str) -> Result<Vec<QuotaRow>, DbError> {
    collect(
        db.conn(),
        "SELECT resource, sum(hard_limit) FROM project_user_quotas \
         WHERE project_id = ?1 GROUP BY resource ORDER BY resource",
        [project_id],
    )
}

/// Sets project limits (insert or replace each), all in one transaction.
pub fn set_project(db: &Db, project_id: &str, limits: &[(&str, i64)]) -> Result<(), DbError> {
    db.write(|conn| {
        let mut stmt = conn.prepare_cached(concat!(
            "INSERT INTO quotas (project_id, resource, hard_limit, created_at) \
             VALUES (?1, ?2, ?3, ",
            now_sql!(),
            ") ON CONFLICT (project_id, resource) DO UPDATE \
             SET hard_limit = excluded.hard_limit, updated_at = excluded.created_at"
        ))?;
        for (resource, limit) in limits {
            stmt.execute(params![project_id, resource, limit])?;
        }
        Ok(())
    })
}

/// Sets one user's limits within a project (insert or replace each), in one transaction.
pub fn set_user(
    db: &Db,
    project_id: &str,
    user_id: &str,
    limits: &[(&str, i64)],
) -> Result<(), DbError> {
    db.write(|conn| {
        let mut stmt = conn.prepare_cached(concat!(
            "INSERT INTO project_user_quotas (project_id, user_id, resource, hard_limit, \
             created_at) VALUES (?1, ?2, ?3, ?4, ",
            now_sql!(),
            ") ON CONFLICT (project_id, user_id, resource) DO UPDATE \
             SET hard_limit = excluded.hard_limit, updated_at = excluded.created_at"
        ))?;
        for (resource, limit) in limits {
            stmt.execute(params![project_id, user_id, resource, limit])?;
        }
        Ok(())
    })
}

/// Removes every limit of the project and of its users (back to the defaults), like Nova's
/// `DELETE /os-quota-sets/{project_id}`.
pub fn delete_project(db: &Db, project_id: &str) -> Result<(), DbError> {
    db.write(|conn| {
        conn.prepare_cached("DELETE FROM project_user_quotas WHERE project_id = ?1")?
            .execute([project_id])?;
        conn.prepare_cached("DELETE FROM quotas WHERE project_id = ?1")?
            .execute([project_id])?;
        Ok(())
    })
}

/// Removes one user's limits within a project (back to the project's).
pub fn delete_user(db: &Db, project_id: &str, user_id: &str) -> Result<(), DbError> {
    db.write_one(
        "DELETE FROM project_user_quotas WHERE project_id = ?1 AND user_id = ?2",
        [project_id, user_id],
    )?;
    Ok(())
}

/// The limit in force for one resource: the user's (when `user_id` is given and one is
/// stored), else the project's; `None` means the configured default applies.
pub fn limit_for(
    db: &Db,
    project_id: &str,
    user_id: Option<&str>,
    resource: &str,
) -> Result<Option<i64>, DbError> {
    limit_in(db.conn(), project_id, user_id, resource)
}

/// [`limit_for`] on a connection, for use inside a transaction.
pub(crate) fn limit_in(
    conn: &Connection,
    project_id: &str,
    user_id: Option<&str>,
    resource: &str,
) -> Result<Option<i64>, DbError> {
    Ok(conn
        .prepare_cached(
            "SELECT coalesce( \
                 (SELECT hard_limit FROM project_user_quotas \
                  WHERE project_id = ?1 AND user_id = ?2 AND resource = ?3), \
                 (SELECT hard_limit FROM quotas WHERE project_id = ?1 AND resource = ?3))",
        )?
        .query_row(params![project_id, user_id, resource], |row| row.get(0))
        .optional()?
        .flatten())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::temp::TempDb;

    fn row(resource: &str, hard_limit: i64) -> QuotaRow {
        QuotaRow {
            resource: resource.into(),
            hard_limit,
        }
    }

    #[test]
    fn project_and_user_limits() {
        let temp = TempDb::new("quotas");
        let db = temp.open();
        assert!(get_project(&db, "p").unwrap().is_empty());
        assert_eq!(limit_for(&db, "p", None, "cores").unwrap(), None);

        set_project(&db, "p", &[("cores", 40), ("ram", -1)]).unwrap();
        set_project(&db, "p", &[("cores", 30)]).unwrap();
        assert_eq!(
            get_project(&db, "p").unwrap(),
            [row("cores", 30), row("ram", -1)]
        );
        set_user(&db, "p", "u", &[("cores", 8)]).unwrap();
        assert_eq!(get_user(&db, "p", "u").unwrap(), [row("cores", 8)]);
        set_user(&db, "p", "w", &[("cores", 3), ("ram", -1)]).unwrap();
        assert_eq!(
            user_limit_sums(&db, "p").unwrap(),
            [row("cores", 11), row("ram", -1)]
        );
        delete_user(&db, "p", "w").unwrap();
        assert!(get_user(&db, "p", "v").unwrap().is_empty());

        assert_eq!(limit_for(&db, "p", Some("u"), "cores").unwrap(), Some(8));
        assert_eq!(limit_for(&db, "p", Some("v"), "cores").unwrap(), Some(30));
        assert_eq!(limit_for(&db, "p", None, "cores").unwrap(), Some(30));
        assert_eq!(limit_for(&db, "p", Some("u"), "ram").unwrap(), Some(-1));
        assert_eq!(limit_for(&db, "q", Some("u"), "cores").unwrap(), None);

        delete_user(&db, "p", "u").unwrap();
        assert_eq!(limit_for(&db, "p", Some("u"), "cores").unwrap(), Some(30));
        set_user(&db, "p", "u", &[("cores", 8)]).unwrap();
        set_project(&db, "other", &[("cores", 1)]).unwrap();
        delete_project(&db, "p").unwrap();
        assert!(get_project(&db, "p").unwrap().is_empty());
        assert!(get_user(&db, "p", "u").unwrap().is_empty());
        assert_eq!(get_project(&db, "other").unwrap(), [row("cores", 1)]);
    }

    #[test]
    fn limits_below_minus_one_are_refused_whole() {
        let temp = TempDb::new("quotas-check");
        let db = temp.open();
        let err = set_project(&db, "p", &[("cores", 5), ("ram", -2)]).unwrap_err();
        assert!(matches!(err, DbError::Sqlite(_)), "{err}");
        // The transaction kept neither value.
        assert!(get_project(&db, "p").unwrap().is_empty());
    }
}
