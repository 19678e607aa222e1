//! The identity tables and their queries: users, projects, roles, role assignments and token
//! revocation events.
//!
//! Used by the identity endpoint (issuing and validating tokens), the start-up bootstrap, the
//! reload thread and the `ringnova user` commands — never by the auth filter, which verifies
//! tokens without reading the database. Writes go through [`Db::write`] (one `BEGIN
//! IMMEDIATE` transaction each), so the CLI can change users while the server runs. Password
//! hashes are stored, never passwords; this module must never log either.
//!
//! Everything lives in Keystone's `default` domain (name `Default`).

/// SQL text of "now" as the other tables write timestamps (UTC, microseconds).
macro_rules! now_sql {
    () => {
        "(strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000')"
    };
}

use rusqlite::{params, Connection, OptionalExtension as _};

use super::{token, IdentityError};
use crate::db::{Db, DbError};

/// Schema version 2: the identity tables, seeded with Keystone's default roles.
pub const MIGRATION_SQL: &str = "
CREATE TABLE identity_projects (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at TEXT NOT NULL
);
CREATE TABLE identity_users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at TEXT NOT NULL,
    password_changed_at TEXT NOT NULL
);
CREATE TABLE identity_roles (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
CREATE TABLE identity_assignments (
    user_id TEXT NOT NULL REFERENCES identity_users (id) ON DELETE CASCADE,
    project_id TEXT NOT NULL REFERENCES identity_projects (id) ON DELETE CASCADE,
    role_id TEXT NOT NULL REFERENCES identity_roles (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, project_id, role_id)
);
CREATE TABLE identity_revocations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    audit_id TEXT,
    user_id TEXT,
    issued_before_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    CHECK ((audit_id IS NULL) <> (user_id IS NULL))
);
INSERT INTO identity_roles (id, name) VALUES
    (lower(hex(randomblob(16))), 'admin'),
    (lower(hex(randomblob(16))), 'member'),
    (lower(hex(randomblob(16))), 'reader');
";

/// Keystone's default domain.
pub const DOMAIN_ID: &str = "default";
/// Its name.
pub const DOMAIN_NAME: &str = "Default";

/// Roles Keystone's bootstrap creates, each implying the next: admin ⊃ member ⊃ reader.
pub const DEFAULT_ROLES: [&str; 3] = ["admin", "member", "reader"];

/// A user row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// 32 hex digits.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// PHC string (argon2id).
    pub password_hash: String,
    /// Disabled users cannot get tokens.
    pub enabled: bool,
}

/// A project row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// 32 hex digits.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Disabled projects cannot be scoped to.
    pub enabled: bool,
}

/// A role: id and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    /// 32 hex digits.
    pub id: String,
    /// Name (lower case for the defaults).
    pub name: String,
}

/// One revocation event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// One token (and every token rescoped from it), by audit id.
    Audit(String),
    /// Every token of a user issued at or before `issued_before_ms`.
    User {
        /// The user.
        user_id: String,
        /// Tokens issued at or before this instant (ms) are revoked.
        issued_before_ms: u64,
    },
}

/// A new id: 32 hex digits of randomness, like Keystone's uuid4 hex ids.
pub fn new_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `name` is acceptable for a user, project or role: 1–64 bytes of
/// `A-Z a-z 0-9 - _ .` and `@`, not starting with `-`. Role names are stricter (see
/// [`valid_role_name`]).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b))
}

/// Whether `name` can be a role name: it is carried inside tokens, so `A-Z a-z 0-9 - _`.
pub fn valid_role_name(name: &str) -> bool {
    token::is_field(name)
}

fn user_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: row.get(0)?,
        name: row.get(1)?,
        password_hash: row.get(2)?,
        enabled: row.get(3)?,
    })
}

fn project_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Project> {
    Ok(Project {
        id: row.get(0)?,
        name: row.get(1)?,
        description: row.get(2)?,
        enabled: row.get(3)?,
    })
}

/// The user with this name.
pub fn user_by_name(conn: &Connection, name: &str) -> Result<Option<User>, DbError> {
    Ok(conn
        .prepare_cached(
            "SELECT id, name, password_hash, enabled FROM identity_users WHERE name = ?1",
        )?
        .query_row([name], user_row)
        .optional()?)
}

/// The user with this id.
pub fn user_by_id(conn: &Connection, id: &str) -> Result<Option<User>, DbError> {
    Ok(conn
        .prepare_cached(
            "SELECT id, name, password_hash, enabled FROM identity_users WHERE id = ?1",
        )?
        .query_row([id], user_row)
        .optional()?)
}

/// Every user, by name.
pub fn users(conn: &Connection) -> Result<Vec<User>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, name, password_hash, enabled FROM identity_users ORDER BY name",
    )?;
    let rows = stmt.query_map([], user_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The project with this name.
pub fn project_by_name(conn: &Connection, name: &str) -> Result<Option<Project>, DbError> {
    Ok(conn
        .prepare_cached(
            "SELECT id, name, description, enabled FROM identity_projects WHERE name = ?1",
        )?
        .query_row([name], project_row)
        .optional()?)
}

/// The project with this id.
pub fn project_by_id(conn: &Connection, id: &str) -> Result<Option<Project>, DbError> {
    Ok(conn
        .prepare_cached(
            "SELECT id, name, description, enabled FROM identity_projects WHERE id = ?1",
        )?
        .query_row([id], project_row)
        .optional()?)
}

/// Every project, by name.
pub fn projects(conn: &Connection) -> Result<Vec<Project>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, name, description, enabled FROM identity_projects ORDER BY name",
    )?;
    let rows = stmt.query_map([], project_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The projects on which the user has at least one role.
pub fn projects_of_user(conn: &Connection, user_id: &str) -> Result<Vec<Project>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT p.id, p.name, p.description, p.enabled FROM identity_projects p \
         JOIN identity_assignments a ON a.project_id = p.id WHERE a.user_id = ?1 ORDER BY p.name",
    )?;
    let rows = stmt.query_map([user_id], project_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Every role, by name.
pub fn roles(conn: &Connection) -> Result<Vec<Role>, DbError> {
    let mut stmt = conn.prepare_cached("SELECT id, name FROM identity_roles ORDER BY name")?;
    let rows = stmt.query_map([], |row| {
        Ok(Role {
            id: row.get(0)?,
            name: row.get(1)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The names of the roles assigned to the user on the project (implied ones not added).
pub fn assigned_roles(
    conn: &Connection,
    user_id: &str,
    project_id: &str,
) -> Result<Vec<String>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT r.name FROM identity_assignments a JOIN identity_roles r ON r.id = a.role_id \
         WHERE a.user_id = ?1 AND a.project_id = ?2 ORDER BY r.name",
    )?;
    let rows = stmt.query_map([user_id, project_id], |row| row.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Every assignment as `(user name, project name, role name)`.
pub fn assignments(conn: &Connection) -> Result<Vec<(String, String, String)>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT u.name, p.name, r.name FROM identity_assignments a \
         JOIN identity_users u ON u.id = a.user_id \
         JOIN identity_projects p ON p.id = a.project_id \
         JOIN identity_roles r ON r.id = a.role_id ORDER BY u.name, p.name, r.name",
    )?;
    let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Adds the implied roles Keystone's defaults give (admin ⊃ member ⊃ reader), keeping the
/// order: assigned roles first, then implied ones not already present.
pub fn expand_roles(assigned: &[String]) -> Vec<String> {
    let mut roles: Vec<String> = assigned.to_vec();
    for (index, role) in DEFAULT_ROLES.iter().enumerate() {
        if assigned.iter().any(|a| a == role) {
            for implied in &DEFAULT_ROLES[index + 1..] {
                if !roles.iter().any(|r| r == implied) {
                    roles.push((*implied).to_owned());
                }
            }
        }
    }
    roles
}

/// Creates a user; [`IdentityError::Exists`] if the name is taken.
pub fn create_user(db: &Db, name: &str, password_hash: &str) -> Result<User, IdentityError> {
    if !valid_name(name) {
        return Err(IdentityError::InvalidName(name.to_owned()));
    }
    let id = new_id();
    db.write(|conn| {
        if user_by_name(conn, name)?.is_some() {
            return Ok(false);
        }
        conn.prepare_cached(concat!(
            "INSERT INTO identity_users (id, name, password_hash, created_at, password_changed_at) \
             VALUES (?1, ?2, ?3, ",
            now_sql!(),
            ", ",
            now_sql!(),
            ")"
        ))?
        .execute(params![id, name, password_hash])?;
        Ok(true)
    })?
    .then(|| User {
        id: id.clone(),
        name: name.to_owned(),
        password_hash: password_hash.to_owned(),
        enabled: true,
    })
    .ok_or_else(|| IdentityError::Exists(format!("user {name}")))
}

/// Creates a project unless one has this name; returns it either way (and whether it is
/// new).
pub fn ensure_project(
    db: &Db,
    name: &str,
    description: &str,
) -> Result<(Project, bool), IdentityError> {
    if !valid_name(name) {
        return Err(IdentityError::InvalidName(name.to_owned()));
    }
    let id = new_id();
    Ok(db.write(|conn| {
        if let Some(project) = project_by_name(conn, name)? {
            return Ok((project, false));
        }
        conn.prepare_cached(concat!(
            "INSERT INTO identity_projects (id, name, description, created_at) VALUES (?1, ?2, ?3, ",
            now_sql!(),
            ")"
        ))?
        .execute(params![id, name, description])?;
        Ok((
            Project {
                id: id.clone(),
                name: name.to_owned(),
                description: description.to_owned(),
                enabled: true,
            },
            true,
        ))
    })?)
}

/// Assigns a role (creating a role of that name if needed); returns whether it is new.
pub fn grant(db: &Db, user_id: &str, project_id: &str, role: &str) -> Result<bool, IdentityError> {
    if !valid_role_name(role) {
        return Err(IdentityError::InvalidName(role.to_owned()));
    }
    let new_role_id = new_id();
    Ok(db.write(|conn| {
        conn.prepare_cached("INSERT OR IGNORE INTO identity_roles (id, name) VALUES (?1, ?2)")?
            .execute([&new_role_id, role])?;
        let changed = conn
            .prepare_cached(
                "INSERT OR IGNORE INTO identity_assignments (user_id, project_id, role_id) \
                 SELECT ?1, ?2, id FROM identity_roles WHERE name = ?3",
            )?
            .execute([user_id, project_id, role])?;
        Ok(changed == 1)
    })?)
}

/// Removes a role assignment and revokes the user's tokens; returns whether it existed.
pub fn revoke_grant(
    db: &Db,
    user_id: &str,
    project_id: &str,
    role: &str,
    revocation_expires_ms: u64,
) -> Result<bool, IdentityError> {
    Ok(db.write(|conn| {
        let changed = conn
            .prepare_cached(
                "DELETE FROM identity_assignments WHERE user_id = ?1 AND project_id = ?2 \
                 AND role_id = (SELECT id FROM identity_roles WHERE name = ?3)",
            )?
            .execute([user_id, project_id, role])?;
        if changed > 0 {
            insert_user_revocation(conn, user_id, revocation_expires_ms)?;
        }
        Ok(changed > 0)
    })?)
}

/// Sets a user's password hash and revokes the user's tokens.
pub fn set_password(
    db: &Db,
    user_id: &str,
    password_hash: &str,
    revocation_expires_ms: u64,
) -> Result<(), IdentityError> {
    Ok(db.write(|conn| {
        conn.prepare_cached(concat!(
            "UPDATE identity_users SET password_hash = ?2, password_changed_at = ",
            now_sql!(),
            " WHERE id = ?1"
        ))?
        .execute([user_id, password_hash])?;
        insert_user_revocation(conn, user_id, revocation_expires_ms)?;
        Ok(())
    })?)
}

/// Deletes a user (and its assignments) and revokes its tokens.
pub fn delete_user(
    db: &Db,
    user_id: &str,
    revocation_expires_ms: u64,
) -> Result<(), IdentityError> {
    Ok(db.write(|conn| {
        conn.prepare_cached("DELETE FROM identity_assignments WHERE user_id = ?1")?
            .execute([user_id])?;
        conn.prepare_cached("DELETE FROM identity_users WHERE id = ?1")?
            .execute([user_id])?;
        insert_user_revocation(conn, user_id, revocation_expires_ms)?;
        Ok(())
    })?)
}

fn insert_user_revocation(
    conn: &Connection,
    user_id: &str,
    expires_ms: u64,
) -> Result<(), DbError> {
    conn.prepare_cached(
        "INSERT INTO identity_revocations (user_id, issued_before_ms, expires_ms) \
         VALUES (?1, ?2, ?3)",
    )?
    .execute(params![user_id, super::now_ms() as i64, expires_ms as i64])?;
    Ok(())
}

/// Records that the token with this audit id is revoked (until it would have expired).
pub fn revoke_audit_id(db: &Db, audit_id: &str, expires_ms: u64) -> Result<(), DbError> {
    db.write_one(
        "INSERT INTO identity_revocations (audit_id, issued_before_ms, expires_ms) \
         VALUES (?1, ?2, ?3)",
        params![audit_id, super::now_ms() as i64, expires_ms as i64],
    )?;
    Ok(())
}

/// Revocation events after event `after` that have not expired at `now_ms`, with the id of
/// the last event in the table.
pub fn revocations_since(
    conn: &Connection,
    after: i64,
    now_ms: u64,
) -> Result<(Vec<Revocation>, i64), DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, audit_id, user_id, issued_before_ms FROM identity_revocations \
         WHERE id > ?1 AND expires_ms > ?2 ORDER BY id",
    )?;
    let mut last = after;
    let mut events = Vec::new();
    let mut rows = stmt.query(params![after, now_ms as i64])?;
    while let Some(row) = rows.next()? {
        last = last.max(row.get(0)?);
        let audit: Option<String> = row.get(1)?;
        let user: Option<String> = row.get(2)?;
        let before: i64 = row.get(3)?;
        events.push(match (audit, user) {
            (Some(audit), _) => Revocation::Audit(audit),
            (None, Some(user_id)) => Revocation::User {
                user_id,
                issued_before_ms: before as u64,
            },
            (None, None) => continue,
        });
    }
    let max: Option<i64> = conn
        .prepare_cached("SELECT max(id) FROM identity_revocations")?
        .query_row([], |row| row.get(0))?;
    Ok((events, last.max(max.unwrap_or(0))))
}

/// Deletes revocation events of tokens that have expired anyway.
pub fn prune_revocations(db: &Db, now_ms: u64) -> Result<usize, DbError> {
    db.write_one(
        "DELETE FROM identity_revocations WHERE expires_ms <= ?1",
        [now_ms as i64],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_implication_follows_keystone_defaults() {
        let s = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            expand_roles(&s(&["admin"])),
            s(&["admin", "member", "reader"])
        );
        assert_eq!(expand_roles(&s(&["member"])), s(&["member", "reader"]));
        assert_eq!(expand_roles(&s(&["reader"])), s(&["reader"]));
        assert_eq!(
            expand_roles(&s(&["custom", "member"])),
            s(&["custom", "member", "reader"])
        );
        assert_eq!(
            expand_roles(&s(&["admin", "reader"])),
            s(&["admin", "reader", "member"])
        );
    }

    #[test]
    fn names() {
        assert!(valid_name("admin") && valid_name("a.b@c-d_e"));
        assert!(!valid_name("") && !valid_name("-x") && !valid_name("a b") && !valid_name("a:b"));
        assert!(valid_role_name("load-balancer_member") && !valid_role_name("a.b"));
    }
}
