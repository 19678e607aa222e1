//! The image catalogue (table `images`) behind Nova's images proxy: the shipped default
//! images seeded at start-up, the filtered, keyset-paged list, point reads and delete.
//!
//! Main thread ([`seed_defaults`], before the workers start) and core workers (the rest),
//! synchronous. Rows are handed to callbacks borrowed from SQLite, never copied. A snapshot
//! (an image with a `server_uuid`) belongs to its server's project, as Glance makes it private
//! to the instance's owner: reads scoped to a project see the catalogue's images and that
//! project's snapshots only. This module must never write instances (it reads a server's
//! project only for that scoping), and seeding must never overwrite or resurrect an image the
//! operator changed or deleted after an earlier start (it only inserts ids that have no row).

use rusqlite::{params, types::Value, Connection, OptionalExtension, Row};

use super::{opt_text, text};
use crate::db::{Db, DbConfig, DbError};

/// The images every new database starts with: Nova's API-sample image.
pub const DEFAULT_IMAGES: &[DefaultImage] = &[DefaultImage {
    id: "70a599e0-31e7-49b7-b260-868f441e862b",
    name: "cirros-0.3.5-x86_64-uec",
    min_disk: 0,
    min_ram: 0,
    size: 25_165_824,
    metadata: r#"{"architecture": "x86_64", "auto_disk_config": "True", "kernel_id": "nokernel", "ramdisk_id": "nokernel"}"#,
    created_at: "2011-01-01T01:02:03.000000",
}];

/// One shipped image.
#[derive(Debug, Clone, Copy)]
pub struct DefaultImage {
    /// Image id.
    pub id: &'static str,
    /// Name.
    pub name: &'static str,
    /// `minDisk` (GB).
    pub min_disk: i64,
    /// `minRam` (MB).
    pub min_ram: i64,
    /// Size in bytes.
    pub size: i64,
    /// Properties as a JSON object.
    pub metadata: &'static str,
    /// Creation (and update) time.
    pub created_at: &'static str,
}

/// Inserts the default images that are missing (`INSERT OR IGNORE`) and returns how many it
/// inserted. An image deleted through the API stays as a row with status `deleted`, so a
/// later start never brings it back.
pub fn seed_defaults(config: &DbConfig) -> Result<usize, DbError> {
    let db = Db::open(config)?;
    db.write(|conn| {
        let mut inserted = 0;
        let mut stmt = conn.prepare_cached(
            "INSERT OR IGNORE INTO images (id, name, status, min_disk, min_ram, size, progress, \
             metadata, created_at, updated_at) VALUES (?1, ?2, 'active', ?3, ?4, ?5, 100, ?6, ?7, ?7)",
        )?;
        for image in DEFAULT_IMAGES {
            inserted += stmt.execute(params![
                image.id,
                image.name,
                image.min_disk,
                image.min_ram,
                image.size,
                image.metadata,
                image.created_at
            ])?;
        }
        Ok(inserted)
    })
}

/// One image row, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct ImageRef<'r> {
    /// Id.
    pub id: &'r str,
    /// Name.
    pub name: &'r str,
    /// Glance status (`active`, `queued`, `saving`, `deleted`, `killed`, …), any case.
    pub status: &'r str,
    /// `minDisk`.
    pub min_disk: i64,
    /// `minRam`.
    pub min_ram: i64,
    /// `OS-EXT-IMG-SIZE:size`.
    pub size: i64,
    /// Properties, a JSON object.
    pub metadata: &'r str,
    /// The server a snapshot was taken of.
    pub server_uuid: Option<&'r str>,
    /// Nova's text timestamp.
    pub created_at: &'r str,
    /// Nova's text timestamp.
    pub updated_at: &'r str,
}

const COLUMNS: &str =
    "id, name, status, min_disk, min_ram, size, metadata, server_uuid, created_at, updated_at";

fn read<'r>(row: &'r Row<'_>) -> rusqlite::Result<ImageRef<'r>> {
    Ok(ImageRef {
        id: text(row, 0)?,
        name: text(row, 1)?,
        status: text(row, 2)?,
        min_disk: row.get(3)?,
        min_ram: row.get(4)?,
        size: row.get(5)?,
        metadata: text(row, 6)?,
        server_uuid: opt_text(row, 7)?,
        created_at: text(row, 8)?,
        updated_at: text(row, 9)?,
    })
}

/// Visibility for a project: everything but the snapshots of other projects' servers
/// (instance rows are only ever soft-deleted, so a createImage snapshot always finds its
/// server; a row naming no known server is the catalogue's). Binds the project id.
const VISIBLE_TO_PROJECT: &str = " AND NOT EXISTS (SELECT 1 FROM instances \
     WHERE instances.uuid = images.server_uuid AND instances.project_id <> ?)";

/// The image filters of Nova's proxy (Glance v2 semantics: exact matches).
#[derive(Debug, Default)]
pub struct ImageFilter<'q> {
    /// Only what this project may see (`None`: every image, for admins).
    pub project: Option<&'q str>,
    /// `name`.
    pub name: Option<&'q str>,
    /// `status` (lower-cased by the caller).
    pub status: Option<&'q str>,
    /// `updated_at >=` (Nova's text timestamp).
    pub changes_since: Option<String>,
    /// `server`: the snapshot's instance uuid.
    pub server: Option<&'q str>,
    /// `type`: the `image_type` property.
    pub image_type: Option<&'q str>,
    /// `minRam` (exact).
    pub min_ram: Option<i64>,
    /// `minDisk` (exact).
    pub min_disk: Option<i64>,
    /// `property-<name>` filters.
    pub properties: Vec<(&'q str, &'q str)>,
    /// Keyset marker (image id).
    pub marker: Option<&'q str>,
    /// Page size.
    pub limit: Option<u32>,
}

/// Streams the images (newest first, then by id descending, as Glance sorts) to `each`;
/// returns how many. Deleted images are listed only when `status=deleted` asks for them.
pub fn list_each(
    db: &Db,
    filter: &ImageFilter<'_>,
    mut each: impl FnMut(&ImageRef<'_>),
) -> Result<usize, DbError> {
    let conn = db.conn();
    if let Some(marker) = filter.marker {
        if !exists(conn, marker, filter.project)? {
            return Err(DbError::MarkerNotFound);
        }
    }
    let mut sql = format!("SELECT {COLUMNS} FROM images WHERE 1");
    let mut values: Vec<Value> = Vec::new();
    if let Some(project) = filter.project {
        sql.push_str(VISIBLE_TO_PROJECT);
        values.push(Value::Text(project.to_owned()));
    }
    match filter.status {
        Some(status) => {
            sql.push_str(" AND lower(status) = ?");
            values.push(Value::Text(status.to_owned()));
        }
        None => sql.push_str(" AND lower(status) NOT IN ('deleted', 'pending_delete')"),
    }
    if let Some(name) = filter.name {
        sql.push_str(" AND name = ?");
        values.push(Value::Text(name.to_owned()));
    }
    if let Some(since) = &filter.changes_since {
        sql.push_str(" AND updated_at >= ?");
        values.push(Value::Text(since.clone()));
    }
    if let Some(server) = filter.server {
        sql.push_str(" AND coalesce(server_uuid, json_extract(metadata, '$.instance_uuid')) = ?");
        values.push(Value::Text(server.to_owned()));
    }
    if let Some(kind) = filter.image_type {
        sql.push_str(" AND json_extract(metadata, '$.image_type') = ?");
        values.push(Value::Text(kind.to_owned()));
    }
    if let Some(ram) = filter.min_ram {
        sql.push_str(" AND min_ram = ?");
        values.push(Value::Integer(ram));
    }
    if let Some(disk) = filter.min_disk {
        sql.push_str(" AND min_disk = ?");
        values.push(Value::Integer(disk));
    }
    for (name, value) in &filter.properties {
        sql.push_str(" AND json_extract(metadata, '$.\"' || ? || '\"') = ?");
        values.push(Value::Text((*name).to_owned()));
        values.push(Value::Text((*value).to_owned()));
    }
    if let Some(marker) = filter.marker {
        sql.push_str(" AND (created_at, id) < (SELECT created_at, id FROM images WHERE id = ?)");
        values.push(Value::Text(marker.to_owned()));
    }
    sql.push_str(" ORDER BY created_at DESC, id DESC");
    if let Some(limit) = filter.limit {
        sql.push_str(" LIMIT ?");
        values.push(Value::Integer(i64::from(limit)));
    }
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(values))?;
    let mut count = 0;
    while let Some(row) = rows.next()? {
        each(&read(row)?);
        count += 1;
    }
    Ok(count)
}

fn exists(conn: &Connection, id: &str, project: Option<&str>) -> Result<bool, DbError> {
    let found = match project {
        Some(project) => conn
            .prepare_cached(&format!(
                "SELECT 1 FROM images WHERE id = ?{VISIBLE_TO_PROJECT}"
            ))?
            .query_row([id, project], |_| Ok(()))
            .optional()?,
        None => conn
            .prepare_cached("SELECT 1 FROM images WHERE id = ?1")?
            .query_row([id], |_| Ok(()))
            .optional()?,
    };
    Ok(found.is_some())
}

/// The image `id` (not deleted), if `project` (when given) may see it, handed to `visit`.
pub fn with_image<R>(
    db: &Db,
    id: &str,
    project: Option<&str>,
    visit: impl FnOnce(&ImageRef<'_>) -> R,
) -> Result<R, DbError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM images WHERE id = ? AND lower(status) NOT IN ('deleted', \
         'pending_delete'){}",
        if project.is_some() {
            VISIBLE_TO_PROJECT
        } else {
            ""
        }
    );
    let mut stmt = db.conn().prepare_cached(&sql)?;
    let mut values = vec![id];
    values.extend(project);
    let mut rows = stmt.query(rusqlite::params_from_iter(values))?;
    match rows.next()? {
        Some(row) => Ok(visit(&read(row)?)),
        None => Err(DbError::NotFound),
    }
}

/// Marks image `id` deleted (kept as a row so that seeding never brings it back).
pub fn delete(db: &Db, id: &str) -> Result<(), DbError> {
    let changed = db.write_one(
        concat!(
            "UPDATE images SET status = 'deleted', updated_at = ",
            now_sql!(),
            " WHERE id = ?1 AND lower(status) NOT IN ('deleted', 'pending_delete')"
        ),
        [id],
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

    #[test]
    fn seeding_is_idempotent_and_deleted_images_stay_deleted() {
        let temp = TempDb::new("images");
        assert_eq!(seed_defaults(&temp.config).unwrap(), 1);
        assert_eq!(seed_defaults(&temp.config).unwrap(), 0);
        let db = temp.open();
        let name = with_image(&db, DEFAULT_IMAGES[0].id, None, |i| i.name.to_owned()).unwrap();
        assert_eq!(name, "cirros-0.3.5-x86_64-uec");
        delete(&db, DEFAULT_IMAGES[0].id).unwrap();
        assert_eq!(seed_defaults(&temp.config).unwrap(), 0);
        assert!(matches!(
            with_image(&db, DEFAULT_IMAGES[0].id, None, |_| ()),
            Err(DbError::NotFound)
        ));
        assert_eq!(list_each(&db, &ImageFilter::default(), |_| ()).unwrap(), 0);
    }
}
