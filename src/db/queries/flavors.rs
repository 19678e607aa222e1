//! Flavors, their extra specs and their access lists (tables `flavors`, `flavor_extra_specs`,
//! `flavor_projects`).
//!
//! Lists page by keyset: rows come ordered by the sort key and then the internal id, and a
//! marker (a `flavorid`) resumes right after that row, so pages neither skip nor repeat rows
//! while flavors are added, and the cost of a page does not grow with its position (SQLite sorts
//! NULL first ascending and last descending; the marker condition follows that order). Deleted
//! flavors are never listed or found by `flavorid`; [`get_by_id`] still finds them for servers
//! built from them.
//!
//! The API's lists read only the columns its views show ([`FlavorItem`], [`each_item`]); the
//! first page of a plain list (no filter but Nova's default `is_public`, default order) runs a
//! specialised statement without the `?n IS NULL OR …` conditions, which returns exactly the
//! rows of the general one.
//!
//! Visibility follows Nova: a requester who is not an admin sees public flavors and the private
//! ones shared with their project; everything else does not exist for them (404, or 400 for a
//! marker).

use std::sync::OnceLock;

use rusqlite::{params, types::Value, Connection, OptionalExtension, Row};

use super::{limit_value, opt_text, text};
use crate::db::{Conflict, Db, DbError};

/// The columns every flavor query selects, in the order [`read`] expects (unqualified: the
/// queries name `flavors` once, as `f`).
macro_rules! columns {
    () => {
        "id, flavorid, name, memory_mb, vcpus, root_gb, ephemeral_gb, swap, rxtx_factor, \
         vcpu_weight, is_public, disabled, description, created_at, updated_at, deleted"
    };
}

/// The columns the API's flavor views show, in the order [`read_item`] expects: what a list
/// selects (a list never needs the internal id or the timestamps).
macro_rules! item_columns {
    () => {
        "flavorid, name, memory_mb, vcpus, root_gb, ephemeral_gb, swap, rxtx_factor, \
         is_public, disabled, description"
    };
}

/// `?{n}` is a project id (or NULL): the flavor is public or shared with that project.
macro_rules! visible_to {
    ($n:literal) => {
        concat!(
            "(?",
            $n,
            " IS NULL OR f.is_public = 1 OR EXISTS (SELECT 1 FROM flavor_projects p \
             WHERE p.flavor_id = f.id AND p.project_id = ?",
            $n,
            "))"
        )
    };
}

/// A flavor as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct FlavorRow {
    /// Internal id (`id` sort key; foreign key of specs and access rows).
    pub id: i64,
    /// The API id (`id` in Nova's bodies).
    pub flavorid: String,
    /// Unique name among live flavors.
    pub name: String,
    /// RAM in MB (`ram`).
    pub memory_mb: i64,
    /// Virtual CPUs.
    pub vcpus: i64,
    /// Root disk in GB (`disk`).
    pub root_gb: i64,
    /// Ephemeral disk in GB (`OS-FLV-EXT-DATA:ephemeral`).
    pub ephemeral_gb: i64,
    /// Swap in MB.
    pub swap: i64,
    /// `rxtx_factor`.
    pub rxtx_factor: f64,
    /// `vcpu_weight` (sortable, never shown).
    pub vcpu_weight: Option<i64>,
    /// `os-flavor-access:is_public`.
    pub is_public: bool,
    /// `OS-FLV-DISABLED:disabled`.
    pub disabled: bool,
    /// Free text (≥ 2.55).
    pub description: Option<String>,
    /// Creation time, Nova's text form.
    pub created_at: String,
    /// Last update, if any.
    pub updated_at: Option<String>,
    /// Soft-deleted.
    pub deleted: bool,
}

impl FlavorRow {
    /// A borrowed view, for the code that writes responses from either form.
    pub fn view(&self) -> FlavorRef<'_> {
        FlavorRef {
            id: self.id,
            flavorid: &self.flavorid,
            name: &self.name,
            memory_mb: self.memory_mb,
            vcpus: self.vcpus,
            root_gb: self.root_gb,
            ephemeral_gb: self.ephemeral_gb,
            swap: self.swap,
            rxtx_factor: self.rxtx_factor,
            vcpu_weight: self.vcpu_weight,
            is_public: self.is_public,
            disabled: self.disabled,
            description: self.description.as_deref(),
            created_at: &self.created_at,
            updated_at: self.updated_at.as_deref(),
            deleted: self.deleted,
        }
    }
}

/// A flavor borrowed from the row being read, for building a response without copying.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlavorRef<'r> {
    /// See [`FlavorRow::id`].
    pub id: i64,
    /// See [`FlavorRow::flavorid`].
    pub flavorid: &'r str,
    /// See [`FlavorRow::name`].
    pub name: &'r str,
    /// See [`FlavorRow::memory_mb`].
    pub memory_mb: i64,
    /// See [`FlavorRow::vcpus`].
    pub vcpus: i64,
    /// See [`FlavorRow::root_gb`].
    pub root_gb: i64,
    /// See [`FlavorRow::ephemeral_gb`].
    pub ephemeral_gb: i64,
    /// See [`FlavorRow::swap`].
    pub swap: i64,
    /// See [`FlavorRow::rxtx_factor`].
    pub rxtx_factor: f64,
    /// See [`FlavorRow::vcpu_weight`].
    pub vcpu_weight: Option<i64>,
    /// See [`FlavorRow::is_public`].
    pub is_public: bool,
    /// See [`FlavorRow::disabled`].
    pub disabled: bool,
    /// See [`FlavorRow::description`].
    pub description: Option<&'r str>,
    /// See [`FlavorRow::created_at`].
    pub created_at: &'r str,
    /// See [`FlavorRow::updated_at`].
    pub updated_at: Option<&'r str>,
    /// See [`FlavorRow::deleted`].
    pub deleted: bool,
}

impl FlavorRef<'_> {
    /// An owned copy.
    pub fn to_row(&self) -> FlavorRow {
        FlavorRow {
            id: self.id,
            flavorid: self.flavorid.to_owned(),
            name: self.name.to_owned(),
            memory_mb: self.memory_mb,
            vcpus: self.vcpus,
            root_gb: self.root_gb,
            ephemeral_gb: self.ephemeral_gb,
            swap: self.swap,
            rxtx_factor: self.rxtx_factor,
            vcpu_weight: self.vcpu_weight,
            is_public: self.is_public,
            disabled: self.disabled,
            description: self.description.map(str::to_owned),
            created_at: self.created_at.to_owned(),
            updated_at: self.updated_at.map(str::to_owned),
            deleted: self.deleted,
        }
    }
}

/// What the API's flavor views show of a flavor, borrowed from the row being read.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FlavorItem<'r> {
    /// See [`FlavorRow::flavorid`].
    pub flavorid: &'r str,
    /// See [`FlavorRow::name`].
    pub name: &'r str,
    /// See [`FlavorRow::memory_mb`].
    pub memory_mb: i64,
    /// See [`FlavorRow::vcpus`].
    pub vcpus: i64,
    /// See [`FlavorRow::root_gb`].
    pub root_gb: i64,
    /// See [`FlavorRow::ephemeral_gb`].
    pub ephemeral_gb: i64,
    /// See [`FlavorRow::swap`].
    pub swap: i64,
    /// See [`FlavorRow::rxtx_factor`].
    pub rxtx_factor: f64,
    /// See [`FlavorRow::is_public`].
    pub is_public: bool,
    /// See [`FlavorRow::disabled`].
    pub disabled: bool,
    /// See [`FlavorRow::description`].
    pub description: Option<&'r str>,
}

impl<'r> FlavorRef<'r> {
    /// The fields the API's views show.
    pub fn item(&self) -> FlavorItem<'r> {
        FlavorItem {
            flavorid: self.flavorid,
            name: self.name,
            memory_mb: self.memory_mb,
            vcpus: self.vcpus,
            root_gb: self.root_gb,
            ephemeral_gb: self.ephemeral_gb,
            swap: self.swap,
            rxtx_factor: self.rxtx_factor,
            is_public: self.is_public,
            disabled: self.disabled,
            description: self.description,
        }
    }
}

/// Which of the view's columns a list reads: the `basic` view (index) needs the id and the
/// name, the `show` view (detail) everything; `description` only from 2.55 on. Columns a
/// list does not read are left at zero, `false` or `None` in its [`FlavorItem`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemShape {
    /// Every column of the `show` view, not only the `basic` one's id and name.
    pub full: bool,
    /// The description too.
    pub description: bool,
}

impl ItemShape {
    /// Every column (what the general list statement selects).
    pub const ALL: ItemShape = ItemShape {
        full: true,
        description: true,
    };

    /// The columns, in the order [`read_item`] reads them for this shape.
    fn columns(self) -> &'static str {
        match (self.full, self.description) {
            (true, true) => item_columns!(),
            (true, false) => {
                "flavorid, name, memory_mb, vcpus, root_gb, ephemeral_gb, swap, rxtx_factor, \
                 is_public, disabled"
            }
            (false, true) => "flavorid, name, description",
            (false, false) => "flavorid, name",
        }
    }

    /// An index for the four shapes.
    fn index(self) -> usize {
        usize::from(self.full) * 2 + usize::from(self.description)
    }
}

/// Reads a row selected with `shape`'s columns.
fn read_item<'r>(row: &'r Row<'_>, shape: ItemShape) -> rusqlite::Result<FlavorItem<'r>> {
    let mut item = FlavorItem {
        flavorid: text(row, 0)?,
        name: text(row, 1)?,
        ..FlavorItem::default()
    };
    let mut next = 2;
    if shape.full {
        item.memory_mb = row.get(2)?;
        item.vcpus = row.get(3)?;
        item.root_gb = row.get(4)?;
        item.ephemeral_gb = row.get(5)?;
        item.swap = row.get(6)?;
        item.rxtx_factor = row.get(7)?;
        item.is_public = row.get(8)?;
        item.disabled = row.get(9)?;
        next = 10;
    }
    if shape.description {
        item.description = opt_text(row, next)?;
    }
    Ok(item)
}

fn read<'r>(row: &'r Row<'_>) -> rusqlite::Result<FlavorRef<'r>> {
    Ok(FlavorRef {
        id: row.get(0)?,
        flavorid: text(row, 1)?,
        name: text(row, 2)?,
        memory_mb: row.get(3)?,
        vcpus: row.get(4)?,
        root_gb: row.get(5)?,
        ephemeral_gb: row.get(6)?,
        swap: row.get(7)?,
        rxtx_factor: row.get(8)?,
        vcpu_weight: row.get(9)?,
        is_public: row.get(10)?,
        disabled: row.get(11)?,
        description: opt_text(row, 12)?,
        created_at: text(row, 13)?,
        updated_at: opt_text(row, 14)?,
        deleted: row.get(15)?,
    })
}

fn read_owned(row: &Row<'_>) -> rusqlite::Result<FlavorRow> {
    read(row).map(|flavor| flavor.to_row())
}

/// A new flavor (the API picks the `flavorid`, a UUID when the request has none).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NewFlavor<'a> {
    /// API id.
    pub flavorid: &'a str,
    /// Name.
    pub name: &'a str,
    /// RAM in MB (≥ 1).
    pub memory_mb: i64,
    /// Virtual CPUs (≥ 1).
    pub vcpus: i64,
    /// Root disk in GB (≥ 0).
    pub root_gb: i64,
    /// Ephemeral disk in GB (≥ 0).
    pub ephemeral_gb: i64,
    /// Swap in MB (≥ 0).
    pub swap: i64,
    /// `rxtx_factor` (> 0).
    pub rxtx_factor: f64,
    /// Public or private.
    pub is_public: bool,
    /// Description (≥ 2.55).
    pub description: Option<&'a str>,
}

/// Which flavors a list returns. The default lists every live flavor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Filter<'a> {
    /// Only flavors seen by this project: public ones and those shared with it. Set for
    /// requesters who are not admins (it also restricts the marker); `None` for admins.
    pub visible_to: Option<&'a str>,
    /// `Some(true)`: public flavors (plus those shared with [`Filter::project_id`], Nova's
    /// rule); `Some(false)`: private flavors; `None`: both.
    pub is_public: Option<bool>,
    /// The requester's project, for the `is_public = Some(true)` rule above.
    pub project_id: Option<&'a str>,
    /// Only enabled (`Some(false)`) or disabled (`Some(true)`) flavors.
    pub disabled: Option<bool>,
    /// `minRam`: at least this much RAM (MB).
    pub min_memory_mb: Option<i64>,
    /// `minDisk`: at least this much root disk (GB).
    pub min_root_gb: Option<i64>,
    /// Exactly this name.
    pub name: Option<&'a str>,
}

/// Nova's flavor `sort_key` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    /// `created_at`
    CreatedAt,
    /// `description`
    Description,
    /// `disabled`
    Disabled,
    /// `ephemeral_gb`
    EphemeralGb,
    /// `flavorid` (the default)
    #[default]
    Flavorid,
    /// `id` (the internal id)
    Id,
    /// `is_public`
    IsPublic,
    /// `memory_mb`
    MemoryMb,
    /// `name`
    Name,
    /// `root_gb`
    RootGb,
    /// `rxtx_factor`
    RxtxFactor,
    /// `swap`
    Swap,
    /// `updated_at`
    UpdatedAt,
    /// `vcpu_weight`
    VcpuWeight,
    /// `vcpus`
    Vcpus,
}

impl SortKey {
    /// Every key, in the order of their names.
    pub const ALL: [SortKey; 15] = [
        SortKey::CreatedAt,
        SortKey::Description,
        SortKey::Disabled,
        SortKey::EphemeralGb,
        SortKey::Flavorid,
        SortKey::Id,
        SortKey::IsPublic,
        SortKey::MemoryMb,
        SortKey::Name,
        SortKey::RootGb,
        SortKey::RxtxFactor,
        SortKey::Swap,
        SortKey::UpdatedAt,
        SortKey::VcpuWeight,
        SortKey::Vcpus,
    ];

    /// The query-string name, which is also the column name.
    pub fn as_str(self) -> &'static str {
        match self {
            SortKey::CreatedAt => "created_at",
            SortKey::Description => "description",
            SortKey::Disabled => "disabled",
            SortKey::EphemeralGb => "ephemeral_gb",
            SortKey::Flavorid => "flavorid",
            SortKey::Id => "id",
            SortKey::IsPublic => "is_public",
            SortKey::MemoryMb => "memory_mb",
            SortKey::Name => "name",
            SortKey::RootGb => "root_gb",
            SortKey::RxtxFactor => "rxtx_factor",
            SortKey::Swap => "swap",
            SortKey::UpdatedAt => "updated_at",
            SortKey::VcpuWeight => "vcpu_weight",
            SortKey::Vcpus => "vcpus",
        }
    }

    /// Parses a `sort_key` value.
    pub fn parse(text: &str) -> Option<SortKey> {
        SortKey::ALL.into_iter().find(|key| key.as_str() == text)
    }

    /// Whether the column may hold NULL.
    fn nullable(self) -> bool {
        matches!(
            self,
            SortKey::Description | SortKey::UpdatedAt | SortKey::VcpuWeight
        )
    }

    /// The marker row's value of this key, to bind into the list query.
    fn value_of(self, row: &FlavorRow) -> Value {
        let text = |s: &str| Value::Text(s.to_owned());
        let opt_text = |s: &Option<String>| s.as_deref().map_or(Value::Null, text);
        match self {
            SortKey::CreatedAt => text(&row.created_at),
            SortKey::Description => opt_text(&row.description),
            SortKey::Disabled => Value::Integer(row.disabled.into()),
            SortKey::EphemeralGb => Value::Integer(row.ephemeral_gb),
            SortKey::Flavorid => text(&row.flavorid),
            SortKey::Id => Value::Integer(row.id),
            SortKey::IsPublic => Value::Integer(row.is_public.into()),
            SortKey::MemoryMb => Value::Integer(row.memory_mb),
            SortKey::Name => text(&row.name),
            SortKey::RootGb => Value::Integer(row.root_gb),
            SortKey::RxtxFactor => Value::Real(row.rxtx_factor),
            SortKey::Swap => Value::Integer(row.swap),
            SortKey::UpdatedAt => opt_text(&row.updated_at),
            SortKey::VcpuWeight => row.vcpu_weight.map_or(Value::Null, Value::Integer),
            SortKey::Vcpus => Value::Integer(row.vcpus),
        }
    }
}

/// `sort_dir`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortDir {
    /// `asc` (the default).
    #[default]
    Asc,
    /// `desc`.
    Desc,
}

impl SortDir {
    /// Parses a `sort_dir` value.
    pub fn parse(text: &str) -> Option<SortDir> {
        match text {
            "asc" => Some(SortDir::Asc),
            "desc" => Some(SortDir::Desc),
            _ => None,
        }
    }
}

/// List order: a key and a direction (the internal id breaks ties in the same direction).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sort {
    /// Sort key.
    pub key: SortKey,
    /// Direction.
    pub dir: SortDir,
}

/// The list statement for one sort order, for a first page or a page after a marker.
/// Parameters: ?1 disabled, ?2 min memory, ?3 min root disk, ?4 name, ?5 is_public, ?6
/// requester's project, ?7 visible_to, ?8 marker's internal id, ?9 marker's sort value, ?10
/// limit. A NULL parameter turns its condition off; the first-page statement ignores ?8, ?9.
fn build_list_sql(sort: Sort, after_marker: bool, columns: &str) -> String {
    let column = sort.key.as_str();
    let after = match (after_marker, sort.key.nullable(), sort.dir) {
        (false, _, _) => String::new(),
        // A NOT NULL key: one range on the key (an index seek when the key has an index),
        // then the id breaks ties.
        (true, false, SortDir::Asc) => {
            format!(" AND f.{column} >= ?9 AND (f.{column} > ?9 OR f.id > ?8)")
        }
        (true, false, SortDir::Desc) => {
            format!(" AND f.{column} <= ?9 AND (f.{column} < ?9 OR f.id < ?8)")
        }
        // A nullable key: NULLs sort first ascending, last descending.
        (true, true, SortDir::Asc) => format!(
            " AND ((?9 IS NULL AND (f.{column} IS NOT NULL OR f.id > ?8)) \
             OR (?9 IS NOT NULL AND (f.{column} > ?9 OR (f.{column} = ?9 AND f.id > ?8))))"
        ),
        (true, true, SortDir::Desc) => format!(
            " AND ((?9 IS NULL AND f.{column} IS NULL AND f.id < ?8) \
             OR (?9 IS NOT NULL AND (f.{column} < ?9 OR f.{column} IS NULL \
                 OR (f.{column} = ?9 AND f.id < ?8))))"
        ),
    };
    let dir = match sort.dir {
        SortDir::Asc => "ASC",
        SortDir::Desc => "DESC",
    };
    format!(
        concat!(
            "SELECT {columns} FROM flavors f WHERE f.deleted = 0 \
             AND (?1 IS NULL OR f.disabled = ?1) \
             AND (?2 IS NULL OR f.memory_mb >= ?2) \
             AND (?3 IS NULL OR f.root_gb >= ?3) \
             AND (?4 IS NULL OR f.name = ?4) \
             AND (?5 IS NULL OR f.is_public = ?5 OR (?5 = 1 AND EXISTS (SELECT 1 \
                  FROM flavor_projects p WHERE p.flavor_id = f.id AND p.project_id = ?6))) \
             AND ",
            visible_to!(7),
            "{after} ORDER BY f.{column} {dir}, f.id {dir} LIMIT ?10"
        ),
        after = after,
        columns = columns,
        column = column,
        dir = dir,
    )
}

/// The list statement's text, built once per process for each of the 60 variants (15 keys,
/// 2 directions, first page or not) of each column list (whole rows, or the API's view).
fn list_sql(sort: Sort, after_marker: bool, view: bool) -> &'static str {
    static SQL: OnceLock<[Vec<String>; 2]> = OnceLock::new();
    let all = SQL.get_or_init(|| {
        [columns!(), item_columns!()].map(|columns| {
            let mut all = Vec::with_capacity(SortKey::ALL.len() * 4);
            for key in SortKey::ALL {
                for dir in [SortDir::Asc, SortDir::Desc] {
                    for after_marker in [false, true] {
                        all.push(build_list_sql(Sort { key, dir }, after_marker, columns));
                    }
                }
            }
            all
        })
    });
    let key = SortKey::ALL
        .iter()
        .position(|key| *key == sort.key)
        .unwrap_or_default();
    &all[usize::from(view)]
        [(key * 2 + usize::from(sort.dir == SortDir::Desc)) * 2 + usize::from(after_marker)]
}

/// The first page in the default order for the filters every plain `GET /flavors[/detail]`
/// uses: public flavors plus those shared with ?1 (the requester's project), enabled ones
/// only or all of them, with the columns of one [`ItemShape`]. It returns the rows the general
/// statement returns for those filters, but SQLite runs fewer instructions (no `?n IS NULL OR
/// …` conditions to test on every row, two bindings instead of ten, no unused column). ?2 is
/// the limit. Built once per process: `[enabled only][shape]`.
fn first_page_statements() -> &'static [[String; 4]; 2] {
    static SQL: OnceLock<[[String; 4]; 2]> = OnceLock::new();
    SQL.get_or_init(|| {
        let shapes = [(false, false), (false, true), (true, false), (true, true)];
        [false, true].map(|enabled_only| {
            shapes.map(|(full, description)| {
                let shape = ItemShape { full, description };
                format!(
                    "SELECT {} FROM flavors f WHERE f.deleted = 0{} AND (f.is_public = 1 OR \
                     EXISTS (SELECT 1 FROM flavor_projects p WHERE p.flavor_id = f.id AND \
                     p.project_id = ?1)) ORDER BY f.flavorid, f.id LIMIT ?2",
                    shape.columns(),
                    if enabled_only {
                        " AND f.disabled = 0"
                    } else {
                        ""
                    },
                )
            })
        })
    })
}

/// The specialised first-page statement for this filter and shape, if one applies (see
/// [`first_page_statements`]): public plus shared with the requester's project, no other
/// filter, and a `visible_to` that, if set, is that same project (so it adds nothing).
fn first_page_sql(filter: &Filter<'_>, shape: ItemShape) -> Option<&'static str> {
    let plain = filter.is_public == Some(true)
        && filter.min_memory_mb.is_none()
        && filter.min_root_gb.is_none()
        && filter.name.is_none()
        && (filter.visible_to.is_none() || filter.visible_to == filter.project_id);
    let enabled_only = match filter.disabled {
        _ if !plain => return None,
        None => false,
        Some(false) => true,
        Some(true) => return None,
    };
    Some(&first_page_statements()[usize::from(enabled_only)][shape.index()])
}

/// Calls `visit` for every flavor of one page, in order, borrowing each row (no copy).
///
/// `marker` is a `flavorid`: the page starts right after it. A marker that names no live
/// flavor (visible to [`Filter::visible_to`]) is [`DbError::MarkerNotFound`]. `limit` of
/// `None` returns every row.
pub fn each(
    db: &Db,
    filter: &Filter<'_>,
    sort: Sort,
    limit: Option<u32>,
    marker: Option<&str>,
    mut visit: impl FnMut(FlavorRef<'_>) -> Result<(), DbError>,
) -> Result<(), DbError> {
    let (marker_id, marker_value) = match marker {
        Some(flavorid) => {
            let row =
                get_by_flavorid(db, flavorid, filter.visible_to).map_err(|err| match err {
                    DbError::NotFound => DbError::MarkerNotFound,
                    other => other,
                })?;
            (Some(row.id), sort.key.value_of(&row))
        }
        None => (None, Value::Null),
    };
    let mut stmt = db
        .conn()
        .prepare_cached(list_sql(sort, marker_id.is_some(), false))?;
    let mut rows = stmt.query(params![
        filter.disabled,
        filter.min_memory_mb,
        filter.min_root_gb,
        filter.name,
        filter.is_public,
        filter.project_id,
        filter.visible_to,
        marker_id,
        marker_value,
        limit_value(limit),
    ])?;
    while let Some(row) = rows.next()? {
        visit(read(row)?)?;
    }
    Ok(())
}

/// Like [`each`], but reads only what the API's views show ([`FlavorItem`]; `shape` says
/// which of it), with a specialised statement for the first page of a plain list.
pub fn each_item(
    db: &Db,
    filter: &Filter<'_>,
    sort: Sort,
    limit: Option<u32>,
    marker: Option<&str>,
    shape: ItemShape,
    mut visit: impl FnMut(FlavorItem<'_>) -> Result<(), DbError>,
) -> Result<(), DbError> {
    let first_page = match (marker, sort == Sort::default()) {
        (None, true) => first_page_sql(filter, shape),
        _ => None,
    };
    // The general statement selects every view column.
    let read_shape = if first_page.is_some() {
        shape
    } else {
        ItemShape::ALL
    };
    let conn = db.conn();
    let mut stmt;
    let mut rows = if let Some(sql) = first_page {
        stmt = conn.prepare_cached(sql)?;
        stmt.query(params![filter.project_id, limit_value(limit)])?
    } else {
        let (marker_id, marker_value) = match marker {
            Some(flavorid) => {
                let row =
                    get_by_flavorid(db, flavorid, filter.visible_to).map_err(|err| match err {
                        DbError::NotFound => DbError::MarkerNotFound,
                        other => other,
                    })?;
                (Some(row.id), sort.key.value_of(&row))
            }
            None => (None, Value::Null),
        };
        stmt = conn.prepare_cached(list_sql(sort, marker_id.is_some(), true))?;
        stmt.query(params![
            filter.disabled,
            filter.min_memory_mb,
            filter.min_root_gb,
            filter.name,
            filter.is_public,
            filter.project_id,
            filter.visible_to,
            marker_id,
            marker_value,
            limit_value(limit),
        ])?
    };
    while let Some(row) = rows.next()? {
        visit(read_item(row, read_shape)?)?;
    }
    Ok(())
}

/// One page of flavors, owned. See [`each`] for the arguments.
pub fn list(
    db: &Db,
    filter: &Filter<'_>,
    sort: Sort,
    limit: Option<u32>,
    marker: Option<&str>,
) -> Result<Vec<FlavorRow>, DbError> {
    let mut out = Vec::new();
    each(db, filter, sort, limit, marker, |flavor| {
        out.push(flavor.to_row());
        Ok(())
    })?;
    Ok(out)
}

/// The statement of [`get_by_flavorid`] and [`with_flavorid`].
const BY_FLAVORID: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM flavors f WHERE f.flavorid = ?1 AND f.deleted = 0 AND ",
    visible_to!(2)
);

/// The live flavor with this API id. `visible_to`: `None` for admins; the requester's project
/// otherwise (a private flavor not shared with it is [`DbError::NotFound`]).
pub fn get_by_flavorid(
    db: &Db,
    flavorid: &str,
    visible_to: Option<&str>,
) -> Result<FlavorRow, DbError> {
    with_flavorid(db, flavorid, visible_to, |flavor| flavor.to_row())
}

/// Like [`get_by_flavorid`], but hands the row to `visit` borrowed (no copy) and returns
/// what it returns.
pub fn with_flavorid<R>(
    db: &Db,
    flavorid: &str,
    visible_to: Option<&str>,
    visit: impl FnOnce(FlavorRef<'_>) -> R,
) -> Result<R, DbError> {
    db.conn()
        .prepare_cached(BY_FLAVORID)?
        .query_row(params![flavorid, visible_to], |row| read(row).map(visit))
        .optional()?
        .ok_or(DbError::NotFound)
}

/// The flavor with this internal id, deleted or not (for servers built from it).
pub fn get_by_id(db: &Db, id: i64) -> Result<FlavorRow, DbError> {
    db.conn()
        .prepare_cached(concat!(
            "SELECT ",
            columns!(),
            " FROM flavors f WHERE f.id = ?1"
        ))?
        .query_row([id], read_owned)
        .optional()?
        .ok_or(DbError::NotFound)
}

fn live_exists(conn: &Connection, sql: &str, value: &str) -> Result<bool, DbError> {
    Ok(conn
        .prepare_cached(sql)?
        .query_row([value], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Creates a flavor. A live flavor with the same `flavorid` is
/// `Conflict(Conflict::FlavorId)`; with the same name, `Conflict(Conflict::FlavorName)`
/// (checked in that order, in one transaction with the insert).
pub fn create(db: &Db, new: &NewFlavor<'_>) -> Result<FlavorRow, DbError> {
    db.write(|conn| {
        if live_exists(
            conn,
            "SELECT 1 FROM flavors WHERE flavorid = ?1 AND deleted = 0",
            new.flavorid,
        )? {
            return Err(DbError::Conflict(Conflict::FlavorId));
        }
        if live_exists(
            conn,
            "SELECT 1 FROM flavors WHERE name = ?1 AND deleted = 0",
            new.name,
        )? {
            return Err(DbError::Conflict(Conflict::FlavorName));
        }
        Ok(conn
            .prepare_cached(concat!(
                "INSERT INTO flavors (flavorid, name, memory_mb, vcpus, root_gb, \
                 ephemeral_gb, swap, rxtx_factor, is_public, description, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ",
                now_sql!(),
                ") RETURNING ",
                columns!()
            ))?
            .query_row(
                params![
                    new.flavorid,
                    new.name,
                    new.memory_mb,
                    new.vcpus,
                    new.root_gb,
                    new.ephemeral_gb,
                    new.swap,
                    new.rxtx_factor,
                    new.is_public,
                    new.description,
                ],
                read_owned,
            )?)
    })
}

/// Sets (or clears) a live flavor's description and returns the updated flavor.
pub fn update_description(
    db: &Db,
    flavorid: &str,
    description: Option<&str>,
) -> Result<FlavorRow, DbError> {
    db.write(|conn| {
        conn.prepare_cached(concat!(
            "UPDATE flavors SET description = ?2, updated_at = ",
            now_sql!(),
            " WHERE flavorid = ?1 AND deleted = 0 RETURNING ",
            columns!()
        ))?
        .query_row(params![flavorid, description], read_owned)
        .optional()?
        .ok_or(DbError::NotFound)
    })
}

/// Deletes a live flavor (softly: servers built from it still find it by internal id).
pub fn delete(db: &Db, flavorid: &str) -> Result<(), DbError> {
    let changed = db.write_one(
        concat!(
            "UPDATE flavors SET deleted = 1, deleted_at = ",
            now_sql!(),
            " WHERE flavorid = ?1 AND deleted = 0"
        ),
        [flavorid],
    )?;
    if changed == 0 {
        return Err(DbError::NotFound);
    }
    Ok(())
}

/// Calls `visit(key, value)` for every extra spec of the flavor (internal id), by key.
pub fn each_extra_spec(
    db: &Db,
    flavor_id: i64,
    mut visit: impl FnMut(&str, &str),
) -> Result<(), DbError> {
    let mut stmt = db.conn().prepare_cached(
        "SELECT key, value FROM flavor_extra_specs WHERE flavor_id = ?1 ORDER BY key",
    )?;
    let mut rows = stmt.query([flavor_id])?;
    while let Some(row) = rows.next()? {
        visit(text(row, 0)?, text(row, 1)?);
    }
    Ok(())
}

/// The extra specs of the flavor (internal id) as `(key, value)`, by key.
pub fn extra_specs(db: &Db, flavor_id: i64) -> Result<Vec<(String, String)>, DbError> {
    let mut out = Vec::new();
    each_extra_spec(db, flavor_id, |key, value| {
        out.push((key.to_owned(), value.to_owned()));
    })?;
    Ok(out)
}

/// One extra spec's value; [`DbError::NotFound`] if the flavor has no such key.
pub fn extra_spec(db: &Db, flavor_id: i64, key: &str) -> Result<String, DbError> {
    db.conn()
        .prepare_cached("SELECT value FROM flavor_extra_specs WHERE flavor_id = ?1 AND key = ?2")?
        .query_row(params![flavor_id, key], |row| row.get(0))
        .optional()?
        .ok_or(DbError::NotFound)
}

/// Adds or replaces extra specs of a flavor (internal id), all in one transaction (Nova's
/// create and update both merge).
pub fn set_extra_specs(db: &Db, flavor_id: i64, specs: &[(&str, &str)]) -> Result<(), DbError> {
    db.write(|conn| {
        let mut stmt = conn.prepare_cached(
            "INSERT INTO flavor_extra_specs (flavor_id, key, value) VALUES (?1, ?2, ?3) \
             ON CONFLICT (flavor_id, key) DO UPDATE SET value = excluded.value",
        )?;
        for (key, value) in specs {
            stmt.execute(params![flavor_id, key, value])?;
        }
        Ok(())
    })
}

/// Removes one extra spec; [`DbError::NotFound`] if the flavor has no such key.
pub fn delete_extra_spec(db: &Db, flavor_id: i64, key: &str) -> Result<(), DbError> {
    let changed = db.write_one(
        "DELETE FROM flavor_extra_specs WHERE flavor_id = ?1 AND key = ?2",
        params![flavor_id, key],
    )?;
    if changed == 0 {
        return Err(DbError::NotFound);
    }
    Ok(())
}

/// The projects a flavor (internal id) is shared with, in the order access was granted.
pub fn access_list(db: &Db, flavor_id: i64) -> Result<Vec<String>, DbError> {
    let mut stmt = db.conn().prepare_cached(
        "SELECT project_id FROM flavor_projects WHERE flavor_id = ?1 ORDER BY id",
    )?;
    let projects = stmt.query_map([flavor_id], |row| row.get(0))?;
    Ok(projects.collect::<Result<_, _>>()?)
}

/// Shares a flavor (internal id) with a project; `Conflict(Conflict::FlavorAccess)` if it
/// already is.
pub fn add_access(db: &Db, flavor_id: i64, project_id: &str) -> Result<(), DbError> {
    let added = db.write_one(
        "INSERT INTO flavor_projects (flavor_id, project_id) VALUES (?1, ?2) \
             ON CONFLICT (flavor_id, project_id) DO NOTHING",
        params![flavor_id, project_id],
    )?;
    if added == 0 {
        return Err(DbError::Conflict(Conflict::FlavorAccess));
    }
    Ok(())
}

/// Stops sharing a flavor (internal id) with a project; [`DbError::NotFound`] if it was not.
pub fn remove_access(db: &Db, flavor_id: i64, project_id: &str) -> Result<(), DbError> {
    let removed = db.write_one(
        "DELETE FROM flavor_projects WHERE flavor_id = ?1 AND project_id = ?2",
        params![flavor_id, project_id],
    )?;
    if removed == 0 {
        return Err(DbError::NotFound);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::temp::TempDb;

    fn new<'a>(flavorid: &'a str, name: &'a str) -> NewFlavor<'a> {
        NewFlavor {
            flavorid,
            name,
            memory_mb: 1024,
            vcpus: 2,
            root_gb: 10,
            ephemeral_gb: 0,
            swap: 0,
            rxtx_factor: 1.0,
            is_public: true,
            description: None,
        }
    }

    fn ids(rows: &[FlavorRow]) -> Vec<&str> {
        rows.iter().map(|f| f.flavorid.as_str()).collect()
    }

    fn all(db: &Db, filter: &Filter<'_>) -> Vec<FlavorRow> {
        list(db, filter, Sort::default(), None, None).unwrap()
    }

    #[test]
    fn create_get_update_delete() {
        let temp = TempDb::new("flavor-crud");
        let db = temp.open();
        let created = create(
            &db,
            &NewFlavor {
                description: Some("small and quick"),
                swap: 512,
                ephemeral_gb: 5,
                rxtx_factor: 2.5,
                ..new("f-1", "custom")
            },
        )
        .unwrap();
        assert!(created.id > 6);
        assert_eq!(created.description.as_deref(), Some("small and quick"));
        assert_eq!(
            (created.swap, created.ephemeral_gb, created.rxtx_factor),
            (512, 5, 2.5)
        );
        assert!(created.updated_at.is_none());
        assert_eq!(get_by_flavorid(&db, "f-1", None).unwrap(), created);
        assert_eq!(get_by_id(&db, created.id).unwrap(), created);

        let updated = update_description(&db, "f-1", None).unwrap();
        assert!(updated.description.is_none() && updated.updated_at.is_some());
        assert!(matches!(
            update_description(&db, "nope", Some("x")),
            Err(DbError::NotFound)
        ));

        delete(&db, "f-1").unwrap();
        assert!(matches!(
            get_by_flavorid(&db, "f-1", None),
            Err(DbError::NotFound)
        ));
        assert!(matches!(delete(&db, "f-1"), Err(DbError::NotFound)));
        assert!(get_by_id(&db, created.id).unwrap().deleted);
        assert_eq!(all(&db, &Filter::default()).len(), 6);
        // The id and the name are free again.
        let again = create(&db, &new("f-1", "custom")).unwrap();
        assert_ne!(again.id, created.id);
    }

    #[test]
    fn duplicates_are_typed_conflicts() {
        let temp = TempDb::new("flavor-conflicts");
        let db = temp.open();
        assert!(matches!(
            create(&db, &new("1", "other")),
            Err(DbError::Conflict(Conflict::FlavorId))
        ));
        assert!(matches!(
            create(&db, &new("new", "m1.tiny")),
            Err(DbError::Conflict(Conflict::FlavorName))
        ));
        // Both taken: the id is reported.
        assert!(matches!(
            create(&db, &new("2", "m1.tiny")),
            Err(DbError::Conflict(Conflict::FlavorId))
        ));
        assert!(db.conn().is_autocommit());
        assert_eq!(all(&db, &Filter::default()).len(), 6);
    }

    #[test]
    fn filters() {
        let temp = TempDb::new("flavor-filters");
        let db = temp.open();
        let big = |min_memory_mb, min_root_gb| Filter {
            min_memory_mb,
            min_root_gb,
            ..Filter::default()
        };
        assert_eq!(ids(&all(&db, &big(Some(4096), None))), ["3", "4", "5"]);
        assert_eq!(ids(&all(&db, &big(None, Some(80)))), ["4", "5"]);
        assert_eq!(ids(&all(&db, &big(Some(8192), Some(100)))), ["5"]);
        let named = Filter {
            name: Some("m1.small"),
            ..Filter::default()
        };
        assert_eq!(ids(&all(&db, &named)), ["2"]);
        db.conn()
            .execute("UPDATE flavors SET disabled = 1 WHERE flavorid = '3'", [])
            .unwrap();
        let enabled = Filter {
            disabled: Some(false),
            ..Filter::default()
        };
        assert_eq!(ids(&all(&db, &enabled)), ["1", "2", "4", "5", "6"]);
    }

    #[test]
    fn private_flavors_and_access() {
        let temp = TempDb::new("flavor-access");
        let db = temp.open();
        let private = create(
            &db,
            &NewFlavor {
                is_public: false,
                ..new("p-1", "private")
            },
        )
        .unwrap();
        add_access(&db, private.id, "proj-a").unwrap();
        add_access(&db, private.id, "proj-b").unwrap();
        assert!(matches!(
            add_access(&db, private.id, "proj-a"),
            Err(DbError::Conflict(Conflict::FlavorAccess))
        ));
        assert_eq!(access_list(&db, private.id).unwrap(), ["proj-a", "proj-b"]);

        // What a non-admin of each project lists: public, plus what is shared with them.
        let member = |project| Filter {
            visible_to: Some(project),
            is_public: Some(true),
            project_id: Some(project),
            disabled: Some(false),
            ..Filter::default()
        };
        assert_eq!(all(&db, &member("proj-a")).len(), 7);
        assert_eq!(all(&db, &member("proj-c")).len(), 6);
        assert!(get_by_flavorid(&db, "p-1", Some("proj-a")).is_ok());
        assert!(matches!(
            get_by_flavorid(&db, "p-1", Some("proj-c")),
            Err(DbError::NotFound)
        ));
        // An invisible flavor is not a marker either.
        assert!(matches!(
            list(&db, &member("proj-c"), Sort::default(), None, Some("p-1")),
            Err(DbError::MarkerNotFound)
        ));
        // Admin views: is_public filters.
        let admin = |is_public| Filter {
            is_public,
            project_id: Some("admin"),
            ..Filter::default()
        };
        assert_eq!(all(&db, &admin(None)).len(), 7);
        assert_eq!(all(&db, &admin(Some(true))).len(), 6);
        assert_eq!(ids(&all(&db, &admin(Some(false)))), ["p-1"]);

        remove_access(&db, private.id, "proj-a").unwrap();
        assert!(matches!(
            remove_access(&db, private.id, "proj-a"),
            Err(DbError::NotFound)
        ));
        assert_eq!(all(&db, &member("proj-a")).len(), 6);
    }

    #[test]
    fn extra_specs_crud() {
        let temp = TempDb::new("flavor-specs");
        let db = temp.open();
        let flavor = get_by_flavorid(&db, "2", None).unwrap();
        set_extra_specs(
            &db,
            flavor.id,
            &[("hw:numa_nodes", "1"), ("hw:cpu_policy", "shared")],
        )
        .unwrap();
        set_extra_specs(&db, flavor.id, &[("hw:numa_nodes", "2")]).unwrap();
        assert_eq!(
            extra_specs(&db, flavor.id).unwrap(),
            [
                ("hw:cpu_policy".to_string(), "shared".to_string()),
                ("hw:numa_nodes".to_string(), "2".to_string())
            ]
        );
        assert_eq!(extra_spec(&db, flavor.id, "hw:numa_nodes").unwrap(), "2");
        assert!(matches!(
            extra_spec(&db, flavor.id, "missing"),
            Err(DbError::NotFound)
        ));
        delete_extra_spec(&db, flavor.id, "hw:numa_nodes").unwrap();
        assert!(matches!(
            delete_extra_spec(&db, flavor.id, "hw:numa_nodes"),
            Err(DbError::NotFound)
        ));
        assert_eq!(extra_specs(&db, flavor.id).unwrap().len(), 1);
    }

    #[test]
    fn sort_keys_parse() {
        for key in SortKey::ALL {
            assert_eq!(SortKey::parse(key.as_str()), Some(key));
        }
        assert_eq!(SortKey::parse("ram"), None);
        assert_eq!(SortDir::parse("desc"), Some(SortDir::Desc));
        assert_eq!(SortDir::parse("DESC"), None);
    }

    #[test]
    fn paging_by_marker_in_every_order() {
        let temp = TempDb::new("flavor-paging");
        let db = temp.open();
        for i in 0..40 {
            let flavorid = format!("x-{i:02}");
            let name = format!("gen-{}", 39 - i);
            let description = (i % 3 != 0).then(|| format!("d{}", i % 4));
            create(
                &db,
                &NewFlavor {
                    memory_mb: 256 * (1 + i % 5),
                    vcpus: 1 + i % 3,
                    description: description.as_deref(),
                    rxtx_factor: if i % 2 == 0 { 1.0 } else { 1.5 },
                    is_public: i % 7 != 0,
                    ..new(&flavorid, &name)
                },
            )
            .unwrap();
        }
        for key in SortKey::ALL {
            for dir in [SortDir::Asc, SortDir::Desc] {
                let sort = Sort { key, dir };
                let whole = list(&db, &Filter::default(), sort, None, None).unwrap();
                assert_eq!(whole.len(), 46);
                for page_size in [1, 7, 46, 100] {
                    let mut paged = Vec::new();
                    let mut marker: Option<String> = None;
                    loop {
                        let page = list(
                            &db,
                            &Filter::default(),
                            sort,
                            Some(page_size),
                            marker.as_deref(),
                        )
                        .unwrap();
                        assert!(page.len() <= page_size as usize);
                        let Some(last) = page.last() else { break };
                        marker = Some(last.flavorid.clone());
                        paged.extend(page);
                    }
                    assert_eq!(
                        ids(&paged),
                        ids(&whole),
                        "sort {} {dir:?} by {page_size}",
                        key.as_str()
                    );
                }
                // The order is the sort key's, ties broken by internal id.
                for pair in whole.windows(2) {
                    let (a, b) = (key.value_of(&pair[0]), key.value_of(&pair[1]));
                    let ordering = compare(&a, &b).then(pair[0].id.cmp(&pair[1].id));
                    let expected = match dir {
                        SortDir::Asc => std::cmp::Ordering::Less,
                        SortDir::Desc => std::cmp::Ordering::Greater,
                    };
                    assert_eq!(ordering, expected, "sort {} {dir:?}", key.as_str());
                }
            }
        }
        assert!(matches!(
            list(
                &db,
                &Filter::default(),
                Sort::default(),
                Some(5),
                Some("nope")
            ),
            Err(DbError::MarkerNotFound)
        ));
    }

    /// SQLite's order for the values of one column (NULL first).
    fn compare(a: &Value, b: &Value) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        match (a, b) {
            (Value::Null, Value::Null) => Ordering::Equal,
            (Value::Null, _) => Ordering::Less,
            (_, Value::Null) => Ordering::Greater,
            (Value::Integer(x), Value::Integer(y)) => x.cmp(y),
            (Value::Real(x), Value::Real(y)) => x.total_cmp(y),
            (Value::Text(x), Value::Text(y)) => x.cmp(y),
            _ => panic!("mixed types in one column"),
        }
    }

    /// A cached statement must stay compiled across calls with new bindings (SQLite would
    /// re-prepare it on every bind of a `LIMIT ?` or a parameter compared with a partial
    /// index's condition unless the connection has the planner stability guarantee).
    #[test]
    fn list_statement_stays_compiled() {
        let temp = TempDb::new("flavor-reprepare");
        let db = temp.open();
        for page in 1..=5 {
            list(&db, &Filter::default(), Sort::default(), Some(page), None).unwrap();
            list(
                &db,
                &Filter::default(),
                Sort::default(),
                Some(page),
                Some("2"),
            )
            .unwrap();
        }
        for after_marker in [false, true] {
            let stmt = db
                .conn()
                .prepare_cached(list_sql(Sort::default(), after_marker, false))
                .unwrap();
            assert_eq!(stmt.get_status(rusqlite::StatementStatus::Run), 5);
            assert_eq!(stmt.get_status(rusqlite::StatementStatus::RePrepare), 0);
        }
    }

    /// The default order reads the flavorid index in order and stops at the limit; a page
    /// after a marker seeks to the marker instead of scanning from the first flavor.
    #[test]
    fn default_order_pages_through_the_flavorid_index() {
        let temp = TempDb::new("flavor-plan");
        let db = temp.open();
        let plan = |after_marker| -> String {
            let sql = format!(
                "EXPLAIN QUERY PLAN {}",
                list_sql(Sort::default(), after_marker, false)
            );
            let mut stmt = db.conn().prepare(&sql).unwrap();
            let nulls = [(); 9].map(|()| Value::Null);
            let rows = stmt
                .query_map(
                    params![
                        nulls[0], nulls[1], nulls[2], nulls[3], nulls[4], nulls[5], nulls[6],
                        nulls[7], nulls[8], 10
                    ],
                    |row| row.get::<_, String>(3),
                )
                .unwrap();
            rows.map(Result::unwrap).collect::<Vec<_>>().join("; ")
        };
        let first = plan(false);
        assert!(
            first.contains("SCAN f USING INDEX flavors_flavorid_live"),
            "{first}"
        );
        assert!(!first.contains("TEMP B-TREE"), "{first}");
        let after = plan(true);
        assert!(
            after.contains("SEARCH f USING INDEX flavors_flavorid_live (flavorid>?)"),
            "{after}"
        );
        assert!(!after.contains("TEMP B-TREE"), "{after}");
    }

    /// `each_item` (the API's lists, with the specialised first-page statements) returns the
    /// rows `each` returns, for every filter the API builds.
    #[test]
    fn items_match_whole_rows() {
        let temp = TempDb::new("flavor-items");
        let db = temp.open();
        for (flavorid, is_public, shared) in [("p-a", false, true), ("p-b", false, false)] {
            let flavor = create(
                &db,
                &NewFlavor {
                    is_public,
                    description: Some("d"),
                    ..new(flavorid, flavorid)
                },
            )
            .unwrap();
            if shared {
                add_access(&db, flavor.id, "proj").unwrap();
            }
        }
        db.conn()
            .execute(
                "UPDATE flavors SET disabled = 1 WHERE flavorid IN ('3', 'p-a')",
                [],
            )
            .unwrap();
        // What a list of this shape shows: the item, less what the shape leaves out.
        let shown = |mut f: FlavorItem<'_>, shape: ItemShape| {
            if !shape.full {
                f = FlavorItem {
                    flavorid: f.flavorid,
                    name: f.name,
                    description: f.description,
                    ..FlavorItem::default()
                };
            }
            if !shape.description {
                f.description = None;
            }
            format!("{f:?}")
        };
        let items = |filter: &Filter<'_>, sort, limit, marker, shape| {
            let mut out = Vec::new();
            each_item(&db, filter, sort, limit, marker, shape, |f| {
                out.push(shown(f, shape));
                Ok(())
            })
            .map(|()| out)
        };
        let rows = |filter: &Filter<'_>, sort, limit, marker, shape| {
            let mut out = Vec::new();
            each(&db, filter, sort, limit, marker, |f| {
                out.push(shown(f.item(), shape));
                Ok(())
            })
            .map(|()| out)
        };
        let shapes = [(false, false), (false, true), (true, false), (true, true)]
            .map(|(full, description)| ItemShape { full, description });
        let mut filters = Vec::new();
        for project_id in [None, Some("proj"), Some("other")] {
            for visible_to in [None, Some(""), Some("proj"), Some("other")] {
                for is_public in [None, Some(true), Some(false)] {
                    for disabled in [None, Some(false), Some(true)] {
                        for min_memory_mb in [None, Some(4096)] {
                            filters.push(Filter {
                                visible_to,
                                is_public,
                                project_id,
                                disabled,
                                min_memory_mb,
                                ..Filter::default()
                            });
                        }
                    }
                }
            }
        }
        let name_sort = Sort {
            key: SortKey::Name,
            dir: SortDir::Desc,
        };
        for filter in &filters {
            for sort in [Sort::default(), name_sort] {
                let cases = [None, Some(1), Some(3), None, None, Some(1)]
                    .into_iter()
                    .zip(shapes.into_iter().chain(shapes));
                for (limit, shape) in cases {
                    for marker in [None, Some("2")] {
                        let expected = rows(filter, sort, limit, marker, shape);
                        let got = items(filter, sort, limit, marker, shape);
                        match (expected, got) {
                            (Ok(expected), Ok(got)) => {
                                assert_eq!(got, expected, "{filter:?} {sort:?} {limit:?}")
                            }
                            (Err(DbError::MarkerNotFound), Err(DbError::MarkerNotFound)) => {}
                            (expected, got) => panic!("{expected:?} != {got:?} for {filter:?}"),
                        }
                    }
                }
            }
        }
        // The plain lists take the specialised statements.
        let admin = Filter {
            is_public: Some(true),
            project_id: Some("proj"),
            ..Filter::default()
        };
        let detail = ItemShape {
            full: true,
            description: false,
        };
        let plain = first_page_sql(&admin, detail).unwrap();
        assert!(!plain.contains("IS NULL") && !plain.contains("disabled = 0"));
        assert!(!plain.contains("description"), "{plain}");
        let member = Filter {
            visible_to: Some("proj"),
            disabled: Some(false),
            ..admin
        };
        let enabled = first_page_sql(&member, ItemShape::ALL).unwrap();
        assert!(enabled.contains("f.disabled = 0") && enabled.contains("description"));
        let none = Filter {
            disabled: Some(true),
            ..member
        };
        assert_eq!(first_page_sql(&none, detail), None);
        let list = |filter| items(filter, Sort::default(), None, None, detail).unwrap();
        assert_eq!(list(&member).len(), 5);
        assert_eq!(list(&admin).len(), 7);
    }

    #[test]
    fn each_borrows_rows() {
        let temp = TempDb::new("flavor-each");
        let db = temp.open();
        let mut names = String::new();
        each(
            &db,
            &Filter::default(),
            Sort::default(),
            Some(2),
            Some("4"),
            |f| {
                names.push_str(f.name);
                names.push(' ');
                each_extra_spec(&db, f.id, |key, value| {
                    names.push_str(key);
                    names.push('=');
                    names.push_str(value);
                    names.push(' ');
                })
            },
        )
        .unwrap();
        assert_eq!(names, "m1.xlarge m1.tiny.specs hw:numa_nodes=1 ");
    }
}
