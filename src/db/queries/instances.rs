//! Servers as the read side of the API sees them (tables `instances`, `instance_metadata`,
//! `instance_tags`, `instance_faults`): point reads, the filtered, sorted, keyset-paged list,
//! and the server metadata writes.
//!
//! Core worker, synchronous. Rows are handed to callbacks borrowed from SQLite's row buffer
//! ([`InstanceRef`]), never copied. Filters SQL can answer exactly (project, states, image,
//! flavor, uuid, host, tags, changes-since, deleted) run in SQL; the regex filters Nova runs
//! with `REGEXP` are left to the caller, which then reads without a SQL `LIMIT`. This module
//! must never insert or delete instances (the write side's orchestration owns that) and never
//! change an instance row except through the metadata writes below.

use rusqlite::{params, types::Value, Connection, OptionalExtension, Row};

use super::{opt_text, text};
use crate::db::{Db, DbError};

/// The columns every instance query selects (alias `i`), in the order [`read`] expects.
macro_rules! columns {
    () => {
        "i.id, i.uuid, i.project_id, i.user_id, i.display_name, i.display_description, \
         i.hostname, i.image_ref, i.flavor, i.vm_state, i.task_state, i.power_state, i.host, \
         i.node, i.availability_zone, i.key_name, i.config_drive, i.auto_disk_config, \
         i.access_ip_v4, i.access_ip_v6, i.user_data, i.network_info, i.security_groups, \
         i.locked, i.locked_by, i.progress, i.reservation_id, i.launch_index, i.created_at, \
         i.updated_at, i.launched_at, i.terminated_at, i.deleted, i.instance_type_id"
    };
}

/// One instance row, borrowed from the database.
#[derive(Debug, Clone, Copy)]
pub struct InstanceRef<'r> {
    /// Internal id (`instance-%08x` names derive from it).
    pub id: i64,
    /// The API id.
    pub uuid: &'r str,
    /// Owner project (`tenant_id`).
    pub project_id: &'r str,
    /// Owner user.
    pub user_id: &'r str,
    /// `name`.
    pub display_name: &'r str,
    /// `description` (≥ 2.19).
    pub display_description: Option<&'r str>,
    /// `OS-EXT-SRV-ATTR:hostname`.
    pub hostname: Option<&'r str>,
    /// Image id (`""` when booted from a volume).
    pub image_ref: &'r str,
    /// The flavor snapshot as JSON text.
    pub flavor: &'r str,
    /// `OS-EXT-STS:vm_state`.
    pub vm_state: &'r str,
    /// `OS-EXT-STS:task_state`.
    pub task_state: Option<&'r str>,
    /// `OS-EXT-STS:power_state`.
    pub power_state: i64,
    /// Compute host.
    pub host: Option<&'r str>,
    /// Hypervisor node.
    pub node: Option<&'r str>,
    /// Availability zone.
    pub availability_zone: Option<&'r str>,
    /// Key pair name.
    pub key_name: Option<&'r str>,
    /// `config_drive` (string, often empty).
    pub config_drive: &'r str,
    /// `OS-DCF:diskConfig` AUTO when set.
    pub auto_disk_config: bool,
    /// `accessIPv4`.
    pub access_ip_v4: Option<&'r str>,
    /// `accessIPv6`.
    pub access_ip_v6: Option<&'r str>,
    /// Base64 user data.
    pub user_data: Option<&'r str>,
    /// Addresses as Nova's address view (`{label: [{addr, version, OS-EXT-IPS…}]}`), JSON.
    pub network_info: &'r str,
    /// `[{"name": …}]` as JSON.
    pub security_groups: &'r str,
    /// Locked flag.
    pub locked: bool,
    /// Who locked it (`admin`/`owner`).
    pub locked_by: Option<&'r str>,
    /// Progress percentage.
    pub progress: i64,
    /// `r-xxxxxxxx`.
    pub reservation_id: &'r str,
    /// Index within its reservation.
    pub launch_index: i64,
    /// Nova's text timestamp.
    pub created_at: &'r str,
    /// Last update.
    pub updated_at: Option<&'r str>,
    /// Launch time.
    pub launched_at: Option<&'r str>,
    /// Termination time.
    pub terminated_at: Option<&'r str>,
    /// Soft-deleted row.
    pub deleted: bool,
    /// Internal flavor id (`flavors.id`).
    pub instance_type_id: i64,
}

fn read<'r>(row: &'r Row<'_>) -> rusqlite::Result<InstanceRef<'r>> {
    Ok(InstanceRef {
        id: row.get(0)?,
        uuid: text(row, 1)?,
        project_id: text(row, 2)?,
        user_id: text(row, 3)?,
        display_name: text(row, 4)?,
        display_description: opt_text(row, 5)?,
        hostname: opt_text(row, 6)?,
        image_ref: text(row, 7)?,
        flavor: text(row, 8)?,
        vm_state: text(row, 9)?,
        task_state: opt_text(row, 10)?,
        power_state: row.get(11)?,
        host: opt_text(row, 12)?,
        node: opt_text(row, 13)?,
        availability_zone: opt_text(row, 14)?,
        key_name: opt_text(row, 15)?,
        config_drive: text(row, 16)?,
        auto_disk_config: row.get::<_, i64>(17)? != 0,
        access_ip_v4: opt_text(row, 18)?,
        access_ip_v6: opt_text(row, 19)?,
        user_data: opt_text(row, 20)?,
        network_info: text(row, 21)?,
        security_groups: text(row, 22)?,
        locked: row.get::<_, i64>(23)? != 0,
        locked_by: opt_text(row, 24)?,
        progress: row.get(25)?,
        reservation_id: text(row, 26)?,
        launch_index: row.get(27)?,
        created_at: text(row, 28)?,
        updated_at: opt_text(row, 29)?,
        launched_at: opt_text(row, 30)?,
        terminated_at: opt_text(row, 31)?,
        deleted: row.get::<_, i64>(32)? != 0,
        instance_type_id: row.get(33)?,
    })
}

/// The live (not deleted) instance `uuid`, visible to `project` (`None`: any project, as an
/// admin context sees them), handed to `visit` borrowed. [`DbError::NotFound`] otherwise.
pub fn with_instance<R>(
    db: &Db,
    uuid: &str,
    project: Option<&str>,
    visit: impl FnOnce(&InstanceRef<'_>) -> Result<R, DbError>,
) -> Result<R, DbError> {
    let mut stmt = db.conn().prepare_cached(concat!(
        "SELECT ",
        columns!(),
        " FROM instances i WHERE i.uuid = ?1 AND i.deleted = 0 \
          AND (?2 IS NULL OR i.project_id = ?2)"
    ))?;
    let mut rows = stmt.query(params![uuid, project])?;
    match rows.next()? {
        Some(row) => visit(&read(row)?),
        None => Err(DbError::NotFound),
    }
}

/// Calls `each` with the instance's metadata, in key order.
pub fn each_metadata(db: &Db, uuid: &str, mut each: impl FnMut(&str, &str)) -> Result<(), DbError> {
    let mut stmt = db.conn().prepare_cached(
        "SELECT key, value FROM instance_metadata WHERE instance_uuid = ?1 ORDER BY key",
    )?;
    let mut rows = stmt.query([uuid])?;
    while let Some(row) = rows.next()? {
        each(text(row, 0)?, text(row, 1)?);
    }
    Ok(())
}

/// One metadata value.
pub fn metadata_item(db: &Db, uuid: &str, key: &str) -> Result<Option<String>, DbError> {
    Ok(db
        .conn()
        .prepare_cached(
            "SELECT value FROM instance_metadata WHERE instance_uuid = ?1 AND key = ?2",
        )?
        .query_row([uuid, key], |row| row.get(0))
        .optional()?)
}

/// Calls `each` with the instance's tags, in tag order.
pub fn each_tag(db: &Db, uuid: &str, mut each: impl FnMut(&str)) -> Result<(), DbError> {
    let mut stmt = db
        .conn()
        .prepare_cached("SELECT tag FROM instance_tags WHERE instance_uuid = ?1 ORDER BY tag")?;
    let mut rows = stmt.query([uuid])?;
    while let Some(row) = rows.next()? {
        each(text(row, 0)?);
    }
    Ok(())
}

/// The latest fault of an instance, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct FaultRef<'r> {
    /// HTTP-ish code (500 hides details from non-admins).
    pub code: i64,
    /// Message.
    pub message: &'r str,
    /// Details (traceback), if any.
    pub details: Option<&'r str>,
    /// Nova's text timestamp.
    pub created_at: &'r str,
}

/// Calls `visit` with the instance's latest fault, if it has one.
pub fn latest_fault(db: &Db, uuid: &str, visit: impl FnOnce(FaultRef<'_>)) -> Result<(), DbError> {
    let mut stmt = db.conn().prepare_cached(
        "SELECT code, message, details, created_at FROM instance_faults \
         WHERE instance_uuid = ?1 ORDER BY created_at DESC, id DESC LIMIT 1",
    )?;
    let mut rows = stmt.query([uuid])?;
    if let Some(row) = rows.next()? {
        visit(FaultRef {
            code: row.get(0)?,
            message: text(row, 1)?,
            details: opt_text(row, 2)?,
            created_at: text(row, 3)?,
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// List
// ---------------------------------------------------------------------------------------------

/// A sort key of the servers list, as its column expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortColumn(&'static str);

impl SortColumn {
    /// The column of a valid, non-ignored `sort_key` (`None` for the keys Nova ignores).
    pub fn parse(key: &str) -> Option<SortColumn> {
        let column = match key {
            "access_ip_v4" => "access_ip_v4",
            "access_ip_v6" => "access_ip_v6",
            "auto_disk_config" => "auto_disk_config",
            "availability_zone" => "availability_zone",
            "config_drive" => "config_drive",
            "created_at" => "created_at",
            "display_description" => "display_description",
            "display_name" => "display_name",
            "host" => "host",
            "hostname" => "hostname",
            "image_ref" => "image_ref",
            "instance_type_id" => "instance_type_id",
            "key_name" => "key_name",
            "launch_index" => "launch_index",
            "launched_at" => "launched_at",
            "locked_by" => "locked_by",
            "node" => "node",
            "power_state" => "power_state",
            "progress" => "progress",
            "project_id" => "project_id",
            "task_state" => "task_state",
            "terminated_at" => "terminated_at",
            "updated_at" => "updated_at",
            "user_id" => "user_id",
            "uuid" => "uuid",
            "vm_state" => "vm_state",
            // Image properties and a device name this build does not store: constant
            // columns, so sorting by them keeps the default order.
            "kernel_id" | "ramdisk_id" => "''",
            "root_device_name" => "NULL",
            _ => return None,
        };
        Some(SortColumn(column))
    }
}

/// What the list asks SQL for.
#[derive(Debug, Default)]
pub struct ListQuery<'q> {
    /// Only this project's servers (`None` with all_tenants).
    pub project_id: Option<&'q str>,
    /// `user_id` (exact).
    pub user_id: Option<&'q str>,
    /// `None`: deleted and live; `Some(false)`: live only; `Some(true)`: deleted only.
    pub deleted: Option<bool>,
    /// Include `soft-delete` servers among the live ones (`soft_deleted` filter).
    pub soft_deleted: Option<bool>,
    /// `vm_state IN (…)`.
    pub vm_states: Vec<&'q str>,
    /// `task_state IN (…)`.
    pub task_states: Vec<&'q str>,
    /// `image_ref` (exact).
    pub image_ref: Option<&'q str>,
    /// `instance_type_id` (exact).
    pub instance_type_id: Option<i64>,
    /// `uuid` (exact).
    pub uuid: Option<&'q str>,
    /// `host` (exact).
    pub host: Option<&'q str>,
    /// `updated_at >= ` this (Nova's text timestamp).
    pub changes_since: Option<String>,
    /// Has every one of these tags.
    pub tags: Vec<&'q str>,
    /// Has any of these tags.
    pub tags_any: Vec<&'q str>,
    /// Lacks at least one of these tags.
    pub not_tags: Vec<&'q str>,
    /// Has none of these tags.
    pub not_tags_any: Vec<&'q str>,
    /// Sort keys and directions (`true` = descending); `created_at` and `id` are appended.
    pub sort: Vec<(SortColumn, bool)>,
    /// The marker's uuid: rows after it in sort order.
    pub marker: Option<&'q str>,
    /// SQL `LIMIT` (`None` when the caller filters further).
    pub limit: Option<u32>,
}

/// A JSON array of strings, for `json_each` (values are bound, never spliced).
fn json_list(items: &[&str]) -> String {
    let mut out = Vec::with_capacity(2 + items.iter().map(|s| s.len() + 3).sum::<usize>());
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        crate::api::json::push_str(&mut out, item);
    }
    out.push(b']');
    String::from_utf8(out).unwrap_or_default()
}

/// Builds the SQL and its parameters. Only fixed column names are spliced in; every value
/// is bound.
fn build(query: &ListQuery<'_>) -> (String, Vec<Value>) {
    let mut sql = String::with_capacity(1024);
    let mut values: Vec<Value> = Vec::new();
    sql.push_str(concat!("SELECT ", columns!(), " FROM instances i"));
    if query.marker.is_some() {
        sql.push_str(", (SELECT * FROM instances WHERE uuid = ?) m");
        values.push(Value::Text(query.marker.unwrap_or_default().to_owned()));
    }
    sql.push_str(" WHERE 1");
    let mut bind = |sql: &mut String, clause: &str, value: Value| {
        sql.push_str(clause);
        values.push(value);
    };
    if let Some(project) = query.project_id {
        bind(
            &mut sql,
            " AND i.project_id = ?",
            Value::Text(project.into()),
        );
    }
    if let Some(user) = query.user_id {
        bind(&mut sql, " AND i.user_id = ?", Value::Text(user.into()));
    }
    match query.deleted {
        Some(true) => {
            if query.soft_deleted.unwrap_or(true) {
                sql.push_str(" AND (i.deleted != 0 OR i.vm_state = 'soft-delete')");
            } else {
                sql.push_str(" AND i.deleted != 0");
            }
        }
        Some(false) => {
            sql.push_str(" AND i.deleted = 0");
            if !query.soft_deleted.unwrap_or(false) {
                sql.push_str(" AND i.vm_state != 'soft-delete'");
            }
        }
        None => {}
    }
    if !query.vm_states.is_empty() {
        bind(
            &mut sql,
            " AND i.vm_state IN (SELECT value FROM json_each(?))",
            Value::Text(json_list(&query.vm_states)),
        );
    }
    if !query.task_states.is_empty() {
        bind(
            &mut sql,
            " AND i.task_state IN (SELECT value FROM json_each(?))",
            Value::Text(json_list(&query.task_states)),
        );
    }
    if let Some(image) = query.image_ref {
        bind(&mut sql, " AND i.image_ref = ?", Value::Text(image.into()));
    }
    if let Some(flavor) = query.instance_type_id {
        bind(
            &mut sql,
            " AND i.instance_type_id = ?",
            Value::Integer(flavor),
        );
    }
    if let Some(uuid) = query.uuid {
        bind(&mut sql, " AND i.uuid = ?", Value::Text(uuid.into()));
    }
    if let Some(host) = query.host {
        bind(&mut sql, " AND i.host = ?", Value::Text(host.into()));
    }
    if let Some(since) = &query.changes_since {
        bind(
            &mut sql,
            " AND i.updated_at >= ?",
            Value::Text(since.clone()),
        );
    }
    const HAS: &str =
        "(SELECT count(DISTINCT t.tag) FROM instance_tags t WHERE t.instance_uuid = i.uuid \
                       AND t.tag IN (SELECT value FROM json_each(?)))";
    let mut tag_clause = |sql: &mut String, tags: &[&str], all: bool, negate: bool| {
        if tags.is_empty() {
            return;
        }
        let mut distinct: Vec<&str> = tags.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        sql.push_str(if negate { " AND NOT (" } else { " AND (" });
        sql.push_str(HAS);
        values.push(Value::Text(json_list(&distinct)));
        if all {
            sql.push_str(" = ?)");
            values.push(Value::Integer(distinct.len() as i64));
        } else {
            sql.push_str(" > 0)");
        }
    };
    tag_clause(&mut sql, &query.tags, true, false);
    tag_clause(&mut sql, &query.tags_any, false, false);
    tag_clause(&mut sql, &query.not_tags, true, true);
    tag_clause(&mut sql, &query.not_tags_any, false, true);

    let mut keys: Vec<(&str, bool)> = query.sort.iter().map(|(c, d)| (c.0, *d)).collect();
    let default_desc = keys.first().is_none_or(|(_, d)| *d);
    for extra in ["created_at", "id"] {
        if !keys.iter().any(|(c, _)| *c == extra) {
            keys.push((extra, default_desc));
        }
    }
    let column = |alias: &str, c: &str| {
        if c == "''" || c == "NULL" {
            c.to_owned()
        } else {
            format!("{alias}.{c}")
        }
    };
    if query.marker.is_some() {
        // Rows strictly after the marker in sort order (NULLs sort first, as in MySQL).
        sql.push_str(" AND (0");
        for (n, (key, desc)) in keys.iter().enumerate() {
            sql.push_str(" OR (1");
            for (earlier, _) in &keys[..n] {
                sql.push_str(&format!(
                    " AND {} IS {}",
                    column("i", earlier),
                    column("m", earlier)
                ));
            }
            let (i, m) = (column("i", key), column("m", key));
            if *desc {
                sql.push_str(&format!(
                    " AND (CASE WHEN {m} IS NULL THEN 0 ELSE ({i} < {m} OR {i} IS NULL) END)"
                ));
            } else {
                sql.push_str(&format!(
                    " AND (CASE WHEN {m} IS NULL THEN {i} IS NOT NULL ELSE {i} > {m} END)"
                ));
            }
            sql.push(')');
        }
        sql.push(')');
    }
    sql.push_str(" ORDER BY ");
    for (n, (key, desc)) in keys.iter().enumerate() {
        if n > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&column("i", key));
        sql.push_str(if *desc { " DESC" } else { " ASC" });
    }
    if let Some(limit) = query.limit {
        sql.push_str(" LIMIT ?");
        values.push(Value::Integer(i64::from(limit)));
    }
    (sql, values)
}

/// Streams the list's rows to `each` in order until it returns `false`. A marker that names
/// no instance at all (any project, deleted or not) is [`DbError::MarkerNotFound`].
pub fn list_each(
    db: &Db,
    query: &ListQuery<'_>,
    mut each: impl FnMut(&InstanceRef<'_>) -> Result<bool, DbError>,
) -> Result<(), DbError> {
    if let Some(marker) = query.marker {
        if !exists_any(db.conn(), marker)? {
            return Err(DbError::MarkerNotFound);
        }
    }
    let (sql, values) = build(query);
    let mut stmt = db.conn().prepare_cached(&sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(values))?;
    while let Some(row) = rows.next()? {
        if !each(&read(row)?)? {
            break;
        }
    }
    Ok(())
}

fn exists_any(conn: &Connection, uuid: &str) -> Result<bool, DbError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM instances WHERE uuid = ?1")?
        .query_row([uuid], |_| Ok(()))
        .optional()?
        .is_some())
}

// ---------------------------------------------------------------------------------------------
// Update and metadata writes
// ---------------------------------------------------------------------------------------------

/// The fields `PUT /servers/{id}` may change (`None`: unchanged).
#[derive(Debug, Default)]
pub struct InstanceUpdate<'a> {
    /// `display_name`.
    pub display_name: Option<&'a str>,
    /// `display_description` (`Some(None)` clears it).
    pub display_description: Option<Option<&'a str>>,
    /// `access_ip_v4`.
    pub access_ip_v4: Option<&'a str>,
    /// `access_ip_v6`.
    pub access_ip_v6: Option<&'a str>,
    /// `auto_disk_config`.
    pub auto_disk_config: Option<bool>,
}

/// Applies an update to a live instance (of `project` unless `None`), bumping `updated_at`.
pub fn update(
    db: &Db,
    uuid: &str,
    project: Option<&str>,
    change: &InstanceUpdate<'_>,
) -> Result<(), DbError> {
    let (set_desc, desc) = match change.display_description {
        Some(value) => (true, value),
        None => (false, None),
    };
    let changed = db.write_one(
        concat!(
            "UPDATE instances SET \
             display_name = coalesce(?3, display_name), \
             display_description = CASE WHEN ?4 THEN ?5 ELSE display_description END, \
             access_ip_v4 = coalesce(?6, access_ip_v4), \
             access_ip_v6 = coalesce(?7, access_ip_v6), \
             auto_disk_config = coalesce(?8, auto_disk_config), \
             updated_at = ",
            now_sql!(),
            " WHERE uuid = ?1 AND deleted = 0 AND (?2 IS NULL OR project_id = ?2)"
        ),
        params![
            uuid,
            project,
            change.display_name,
            set_desc,
            desc,
            change.access_ip_v4,
            change.access_ip_v6,
            change.auto_disk_config,
        ],
    )?;
    if changed == 0 {
        return Err(DbError::NotFound);
    }
    Ok(())
}

/// What a metadata write needs to know about the instance before it writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataGuard {
    /// Locked (by anyone).
    pub locked: bool,
    /// vm_state.
    pub vm_state: String,
    /// task_state.
    pub task_state: Option<String>,
    /// `launched_at` is set.
    pub launched: bool,
}

/// Why a metadata write did not happen (besides database errors).
#[derive(Debug)]
pub enum MetadataRefusal<E> {
    /// The caller's check of the instance refused (lock, state).
    Refused(E),
    /// The result would hold more than this many items.
    OverQuota(i64),
    /// A database error (`NotFound` for an unknown or invisible instance).
    Db(DbError),
}

impl<E> From<DbError> for MetadataRefusal<E> {
    fn from(err: DbError) -> Self {
        MetadataRefusal::Db(err)
    }
}

/// How a metadata write combines with what is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataMode {
    /// Add or overwrite the given keys (`POST`, `PUT …/{key}`).
    Merge,
    /// Replace everything (`PUT …/metadata`).
    Replace,
    /// Delete the one given key (404 when absent).
    Delete,
}

/// Writes metadata in one transaction: checks the instance (`check`), the resulting item
/// count against `limit` (`-1` = unlimited; not checked for deletes) and writes.
pub fn write_metadata<E>(
    db: &Db,
    uuid: &str,
    project: Option<&str>,
    mode: MetadataMode,
    items: &[(&str, &str)],
    limit: i64,
    check: impl FnOnce(&MetadataGuard) -> Result<(), E>,
) -> Result<(), MetadataRefusal<E>> {
    let outcome = db.write(|conn| {
        let guard = conn
            .prepare_cached(
                "SELECT locked, vm_state, task_state, launched_at IS NOT NULL FROM instances \
                 WHERE uuid = ?1 AND deleted = 0 AND (?2 IS NULL OR project_id = ?2)",
            )?
            .query_row(params![uuid, project], |row| {
                Ok(MetadataGuard {
                    locked: row.get::<_, i64>(0)? != 0,
                    vm_state: row.get(1)?,
                    task_state: row.get(2)?,
                    launched: row.get(3)?,
                })
            })
            .optional()?
            .ok_or(DbError::NotFound)?;
        if let Err(refusal) = check(&guard) {
            return Ok(Err(MetadataRefusal::Refused(refusal)));
        }
        match mode {
            MetadataMode::Delete => {
                let key = items.first().map_or("", |(k, _)| *k);
                let gone = conn
                    .prepare_cached(
                        "DELETE FROM instance_metadata WHERE instance_uuid = ?1 AND key = ?2",
                    )?
                    .execute([uuid, key])?;
                if gone == 0 {
                    return Ok(Err(MetadataRefusal::Db(DbError::NotFound)));
                }
            }
            MetadataMode::Merge | MetadataMode::Replace => {
                let mut count = items.len() as i64;
                if mode == MetadataMode::Merge {
                    let mut stmt = conn.prepare_cached(
                        "SELECT key FROM instance_metadata WHERE instance_uuid = ?1",
                    )?;
                    let mut rows = stmt.query([uuid])?;
                    while let Some(row) = rows.next()? {
                        let key = text(row, 0)?;
                        if !items.iter().any(|(k, _)| *k == key) {
                            count += 1;
                        }
                    }
                }
                if limit >= 0 && count > limit {
                    return Ok(Err(MetadataRefusal::OverQuota(limit)));
                }
                if mode == MetadataMode::Replace {
                    conn.prepare_cached("DELETE FROM instance_metadata WHERE instance_uuid = ?1")?
                        .execute([uuid])?;
                }
                let mut insert = conn.prepare_cached(
                    "INSERT INTO instance_metadata (instance_uuid, key, value) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (instance_uuid, key) DO UPDATE SET value = excluded.value",
                )?;
                for (key, value) in items {
                    insert.execute([uuid, key, value])?;
                }
            }
        }
        conn.prepare_cached(concat!(
            "UPDATE instances SET updated_at = ",
            now_sql!(),
            " WHERE uuid = ?1"
        ))?
        .execute([uuid])?;
        Ok(Ok(()))
    });
    match outcome {
        Ok(inner) => inner,
        Err(err) => Err(MetadataRefusal::Db(err)),
    }
}

/// Locks (`locked_by` = `owner` or `admin`) or unlocks (`None`) a live instance, of
/// `project` unless `None`, bumping `updated_at` (the `os-lock-server` actions).
pub fn set_lock(
    db: &Db,
    uuid: &str,
    project: Option<&str>,
    locked_by: Option<&str>,
) -> Result<(), DbError> {
    let changed = db.write_one(
        concat!(
            "UPDATE instances SET locked = ?3 IS NOT NULL, locked_by = ?3, updated_at = ",
            now_sql!(),
            " WHERE uuid = ?1 AND deleted = 0 AND (?2 IS NULL OR project_id = ?2)"
        ),
        params![uuid, project, locked_by],
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

    fn insert(db: &Db, uuid: &str, project: &str, created: &str, vm_state: &str) {
        db.write_one(
            "INSERT INTO instances (uuid, project_id, user_id, display_name, instance_type_id, \
             flavor, vcpus, memory_mb, root_gb, vm_state, reservation_id, created_at) \
             VALUES (?1, ?2, 'u', ?1, 1, '{}', 1, 512, 1, ?4, 'r-1', ?3)",
            [uuid, project, created, vm_state],
        )
        .unwrap();
    }

    fn uuids(db: &Db, query: &ListQuery<'_>) -> Vec<String> {
        let mut out = Vec::new();
        list_each(db, query, |i| {
            out.push(i.uuid.to_owned());
            Ok(true)
        })
        .unwrap();
        out
    }

    #[test]
    fn lists_sort_page_and_filter() {
        let temp = TempDb::new("instances");
        let db = temp.open();
        insert(&db, "a", "p", "2020-01-01T00:00:01.000000", "active");
        insert(&db, "b", "p", "2020-01-01T00:00:02.000000", "stopped");
        insert(&db, "c", "p", "2020-01-01T00:00:03.000000", "active");
        insert(&db, "d", "q", "2020-01-01T00:00:04.000000", "active");
        insert(&db, "e", "p", "2020-01-01T00:00:05.000000", "soft-delete");
        let mut query = ListQuery {
            project_id: Some("p"),
            deleted: Some(false),
            ..ListQuery::default()
        };
        assert_eq!(uuids(&db, &query), ["c", "b", "a"]);
        query.marker = Some("c");
        query.limit = Some(1);
        assert_eq!(uuids(&db, &query), ["b"]);
        query.marker = None;
        query.limit = None;
        query.sort = vec![(SortColumn::parse("vm_state").unwrap(), false)];
        assert_eq!(uuids(&db, &query), ["a", "c", "b"]);
        query.marker = Some("a");
        assert_eq!(uuids(&db, &query), ["c", "b"]);
        query.marker = Some("zz");
        assert!(matches!(
            list_each(&db, &query, |_| Ok(true)),
            Err(DbError::MarkerNotFound)
        ));
        query.marker = None;
        query.vm_states = vec!["stopped"];
        assert_eq!(uuids(&db, &query), ["b"]);
    }

    #[test]
    fn metadata_quota_and_modes() {
        let temp = TempDb::new("instances-meta");
        let db = temp.open();
        insert(&db, "a", "p", "2020-01-01T00:00:01.000000", "active");
        let ok = |_: &MetadataGuard| Ok::<(), ()>(());
        write_metadata(
            &db,
            "a",
            Some("p"),
            MetadataMode::Merge,
            &[("k", "v")],
            2,
            ok,
        )
        .unwrap();
        write_metadata(
            &db,
            "a",
            Some("p"),
            MetadataMode::Merge,
            &[("k2", "v")],
            2,
            ok,
        )
        .unwrap();
        assert!(matches!(
            write_metadata(
                &db,
                "a",
                Some("p"),
                MetadataMode::Merge,
                &[("k3", "v")],
                2,
                ok
            ),
            Err(MetadataRefusal::OverQuota(2))
        ));
        write_metadata(
            &db,
            "a",
            Some("p"),
            MetadataMode::Replace,
            &[("z", "1")],
            2,
            ok,
        )
        .unwrap();
        assert_eq!(metadata_item(&db, "a", "k").unwrap(), None);
        assert_eq!(metadata_item(&db, "a", "z").unwrap().as_deref(), Some("1"));
        assert!(matches!(
            write_metadata(
                &db,
                "a",
                Some("q"),
                MetadataMode::Merge,
                &[("k", "v")],
                2,
                ok
            ),
            Err(MetadataRefusal::Db(DbError::NotFound))
        ));
    }
}
