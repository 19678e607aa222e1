//! The servers write side: creating instances within quota, starting a task (the state change
//! and its `tasks` row in one transaction), the orchestration thread's transitions, and the
//! usage the quota APIs report.
//!
//! Every function that checks something and then writes does both inside one `BEGIN
//! IMMEDIATE` transaction ([`Db::write`]), so two workers racing for the last quota slot, or
//! two actions racing for the same server, cannot both win. A refusal (over quota, wrong
//! state) is returned as `Ok(Err(..))`: nothing was written. Usage counts live (`deleted = 0`)
//! instances of a project: `instances`, their `vcpus` (cores) and `memory_mb` (ram), as Nova's
//! counting quota driver does, and per user within the project for a user with limits of
//! their own (`os-quota-sets` with `user_id`), checked alongside the project's. It is read
//! from `instance_usage` rows (one per project and user), which triggers on `instances` keep
//! equal to that count inside every writing transaction (schema versions 4 and 6), so a
//! quota check costs the same however many servers the project has. Timestamps a request or
//! a step writes are formatted once in Rust ([`NowText`]) and bound, not computed by SQLite
//! per column.
//!
//! This module must never write a transition without the matching task bookkeeping in the
//! same transaction, and never hold a transaction across anything but SQL.

use rusqlite::{params, types::ValueRef, Connection, OptionalExtension};

use crate::db::{Db, DbError, NowText};

/// What kind of long work a task is; stored as text in `tasks.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskKind {
    /// Build a new server.
    Build,
    /// Soft reboot.
    Reboot,
    /// Hard reboot.
    RebootHard,
    /// os-stop.
    Stop,
    /// os-start.
    Start,
    /// pause.
    Pause,
    /// unpause.
    Unpause,
    /// suspend.
    Suspend,
    /// resume.
    Resume,
    /// resize to `params.flavor`.
    Resize,
    /// revertResize.
    RevertResize,
    /// createImage into `params.image_id`.
    Snapshot,
    /// rebuild.
    Rebuild,
    /// terminate.
    Delete,
}

impl TaskKind {
    /// Every kind.
    pub const ALL: [TaskKind; 14] = [
        TaskKind::Build,
        TaskKind::Reboot,
        TaskKind::RebootHard,
        TaskKind::Stop,
        TaskKind::Start,
        TaskKind::Pause,
        TaskKind::Unpause,
        TaskKind::Suspend,
        TaskKind::Resume,
        TaskKind::Resize,
        TaskKind::RevertResize,
        TaskKind::Snapshot,
        TaskKind::Rebuild,
        TaskKind::Delete,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskKind::Build => "build",
            TaskKind::Reboot => "reboot",
            TaskKind::RebootHard => "reboot_hard",
            TaskKind::Stop => "stop",
            TaskKind::Start => "start",
            TaskKind::Pause => "pause",
            TaskKind::Unpause => "unpause",
            TaskKind::Suspend => "suspend",
            TaskKind::Resume => "resume",
            TaskKind::Resize => "resize",
            TaskKind::RevertResize => "revert_resize",
            TaskKind::Snapshot => "snapshot",
            TaskKind::Rebuild => "rebuild",
            TaskKind::Delete => "delete",
        }
    }

    /// The kind stored as `text`.
    pub fn parse(text: &str) -> Option<TaskKind> {
        TaskKind::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

/// A project's counted usage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Live instances.
    pub instances: i64,
    /// Their vCPUs.
    pub cores: i64,
    /// Their RAM in MB.
    pub ram: i64,
}

/// The limits of the counted resources (`-1` unlimited).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountedLimits {
    /// `instances`.
    pub instances: i64,
    /// `cores`.
    pub cores: i64,
    /// `ram`.
    pub ram: i64,
}

/// A project's usage of instances, cores and RAM.
pub fn usage(db: &Db, project_id: &str) -> Result<Usage, DbError> {
    usage_in(db.conn(), project_id)
}

/// One user's usage of instances, cores and RAM within a project.
pub fn user_usage(db: &Db, project_id: &str, user_id: &str) -> Result<Usage, DbError> {
    user_usage_in(db.conn(), project_id, user_id)
}

fn usage_from(row: &rusqlite::Row<'_>) -> rusqlite::Result<Usage> {
    Ok(Usage {
        instances: row.get(0)?,
        cores: row.get(1)?,
        ram: row.get(2)?,
    })
}

fn usage_in(conn: &Connection, project_id: &str) -> Result<Usage, DbError> {
    // The rows of the project's users, kept by the triggers of `instances` (schema versions
    // 4 and 6): no sum over the project's instances, which grew with every server created.
    Ok(conn
        .prepare_cached(
            "SELECT coalesce(sum(instances), 0), coalesce(sum(cores), 0), \
             coalesce(sum(ram), 0) FROM instance_usage WHERE project_id = ?1",
        )?
        .query_row([project_id], usage_from)?)
}

fn user_usage_in(conn: &Connection, project_id: &str, user_id: &str) -> Result<Usage, DbError> {
    Ok(conn
        .prepare_cached(
            "SELECT instances, cores, ram FROM instance_usage \
             WHERE project_id = ?1 AND user_id = ?2",
        )?
        .query_row([project_id, user_id], usage_from)
        .optional()?
        .unwrap_or_default())
}

impl CountedLimits {
    /// Replaces the limit of `resource` with `limit`; whether it is a counted one.
    fn set(&mut self, resource: &[u8], limit: i64) -> bool {
        match resource {
            b"instances" => self.instances = limit,
            b"cores" => self.cores = limit,
            b"ram" => self.ram = limit,
            _ => return false,
        }
        true
    }
}

/// A quota scope checked by a create or resize: the project's, or a user's within it.
#[derive(Debug, Clone, Copy)]
struct Scope {
    limits: CountedLimits,
    used: Usage,
}

/// The scopes a change by `user_id` in `project_id` must fit, inside a transaction: the
/// project's (stored project limits over `defaults`, against the project's usage) and, when
/// the user has limits of their own (`os-quota-sets` with `user_id`), the user's (the
/// project's limits overlaid with the user's, against the user's usage), as Nova's
/// `check_deltas` checks both. Without a user limit the user's check is implied by the
/// project's (a user's usage never exceeds the project's), so it is left out.
fn scopes_in(
    conn: &Connection,
    project_id: &str,
    user_id: &str,
    defaults: CountedLimits,
) -> Result<(Scope, Option<Scope>), DbError> {
    let mut limits = defaults;
    {
        let mut stmt = conn.prepare_cached(
            // The project's few stored rows, filtered here: an `IN` list would build an
            // ephemeral table on every run.
            "SELECT resource, hard_limit FROM quotas WHERE project_id = ?1",
        )?;
        let mut rows = stmt.query([project_id])?;
        while let Some(row) = rows.next()? {
            if let ValueRef::Text(resource) = row.get_ref(0)? {
                limits.set(resource, row.get(1)?);
            }
        }
    }
    let project = Scope {
        limits,
        used: usage_in(conn, project_id)?,
    };
    let mut user_limits = limits;
    let mut own = false;
    {
        let mut stmt = conn.prepare_cached(
            "SELECT resource, hard_limit FROM project_user_quotas \
             WHERE project_id = ?1 AND user_id = ?2",
        )?;
        let mut rows = stmt.query([project_id, user_id])?;
        while let Some(row) = rows.next()? {
            if let ValueRef::Text(resource) = row.get_ref(0)? {
                own |= user_limits.set(resource, row.get(1)?);
            }
        }
    }
    let user = if own {
        Some(Scope {
            limits: user_limits,
            used: user_usage_in(conn, project_id, user_id)?,
        })
    } else {
        None
    };
    Ok((project, user))
}

/// One exceeded resource: `(resource, requested, used, allowed)`.
pub type Over = (&'static str, String, i64, i64);

/// Nova's `TooManyInstances`: which counted resources a request would exceed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverQuota {
    /// `(resource, requested, used, allowed)`, sorted by resource name as Nova sorts `overs`.
    pub overs: Vec<Over>,
}

impl OverQuota {
    /// "Quota exceeded for <overs>: Requested <req>, but already used <used> of <allowed>
    /// <overs>" (SPEC §6), each slot comma-joined.
    pub fn message(&self) -> String {
        let join =
            |f: &dyn Fn(&Over) -> String| self.overs.iter().map(f).collect::<Vec<_>>().join(", ");
        let overs = join(&|o| o.0.to_owned());
        format!(
            "Quota exceeded for {overs}: Requested {}, but already used {} of {} {overs}",
            join(&|o| o.1.clone()),
            join(&|o| o.2.to_string()),
            join(&|o| o.3.to_string()),
        )
    }
}

/// Whether `used + delta` fits under `limit` (`-1` unlimited).
fn fits(limit: i64, used: i64, delta: i64) -> bool {
    limit < 0 || used + delta <= limit
}

/// One instance to insert (a multi-create inserts several sharing a reservation).
#[derive(Debug, Clone)]
pub struct NewInstance {
    /// Its UUID.
    pub uuid: String,
    /// `display_name` (already `name-<n>` for a multi-create).
    pub display_name: String,
    /// `launch_index`.
    pub launch_index: i64,
}

/// What every instance of one create request shares.
#[derive(Debug, Clone, Default)]
pub struct CreateSpec<'a> {
    /// Owner project.
    pub project_id: &'a str,
    /// Owner user.
    pub user_id: &'a str,
    /// `display_description`.
    pub description: Option<&'a str>,
    /// The image (empty when booting from a volume, which is not served).
    pub image_ref: &'a str,
    /// The flavor's internal id.
    pub instance_type_id: i64,
    /// The flavor snapshot as JSON.
    pub flavor_json: &'a str,
    /// vCPUs (counted as cores).
    pub vcpus: i64,
    /// RAM in MB (counted as ram).
    pub memory_mb: i64,
    /// Root disk GB.
    pub root_gb: i64,
    /// Ephemeral disk GB.
    pub ephemeral_gb: i64,
    /// Availability zone.
    pub availability_zone: Option<&'a str>,
    /// Key pair name and public key.
    pub key_name: Option<&'a str>,
    /// The key pair's public key.
    pub key_data: Option<&'a str>,
    /// `config_drive` (`""` or `"True"`).
    pub config_drive: &'a str,
    /// `OS-DCF:diskConfig` is AUTO.
    pub auto_disk_config: bool,
    /// `accessIPv4`.
    pub access_ip_v4: Option<&'a str>,
    /// `accessIPv6`.
    pub access_ip_v6: Option<&'a str>,
    /// `user_data` (base64 text).
    pub user_data: Option<&'a str>,
    /// Security groups, JSON (`[{"name": "default"}]`).
    pub security_groups_json: &'a str,
    /// Shared reservation id (`r-xxxxxxxx`).
    pub reservation_id: &'a str,
    /// Metadata items.
    pub metadata: Vec<(&'a str, &'a str)>,
    /// Tags (2.52).
    pub tags: Vec<&'a str>,
    /// The build task's params (JSON): the requested networks.
    pub build_params: &'a str,
}

/// Inserts `min_count..=instances.len()` instances (as many as the quota allows, at least
/// `min_count`), each in `building`/`scheduling` with a queued build task, in one transaction
/// with the quota check. Returns the task ids of the instances created (a prefix of
/// `instances`), or the over-quota refusal.
pub fn create_instances(
    db: &Db,
    spec: &CreateSpec<'_>,
    defaults: CountedLimits,
    instances: &[NewInstance],
    min_count: usize,
) -> Result<Result<Vec<i64>, OverQuota>, DbError> {
    db.write(|conn| {
        let (project, user) = scopes_in(conn, spec.project_id, spec.user_id, defaults)?;
        let max_count = instances.len() as i64;
        let count = match allowed_count(project, user, spec, min_count as i64, max_count) {
            Ok(count) => count,
            Err(over) => return Ok(Err(over)),
        };
        let mut insert = conn.prepare_cached(
            "INSERT INTO instances (uuid, project_id, user_id, display_name, \
             display_description, hostname, image_ref, instance_type_id, flavor, vcpus, \
             memory_mb, root_gb, ephemeral_gb, vm_state, task_state, power_state, \
             availability_zone, key_name, key_data, config_drive, auto_disk_config, \
             access_ip_v4, access_ip_v6, user_data, security_groups, reservation_id, \
             launch_index, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, \
             ?10, ?11, ?12, ?13, 'building', 'scheduling', 0, ?14, ?15, ?16, ?17, ?18, ?19, \
             ?20, ?21, ?22, ?23, ?24, ?25, ?25)",
        )?;
        // One timestamp for every row of the request, formatted once.
        let now = NowText::now();
        let mut meta = conn.prepare_cached(
            "INSERT OR REPLACE INTO instance_metadata (instance_uuid, key, value) \
             VALUES (?1, ?2, ?3)",
        )?;
        let mut tag = conn.prepare_cached(
            "INSERT OR IGNORE INTO instance_tags (instance_uuid, tag) VALUES (?1, ?2)",
        )?;
        let mut tasks = Vec::with_capacity(count as usize);
        for instance in &instances[..count as usize] {
            insert.execute(params![
                instance.uuid,
                spec.project_id,
                spec.user_id,
                instance.display_name,
                spec.description,
                hostname(&instance.display_name),
                spec.image_ref,
                spec.instance_type_id,
                spec.flavor_json,
                spec.vcpus,
                spec.memory_mb,
                spec.root_gb,
                spec.ephemeral_gb,
                spec.availability_zone,
                spec.key_name,
                spec.key_data,
                spec.config_drive,
                spec.auto_disk_config,
                spec.access_ip_v4,
                spec.access_ip_v6,
                spec.user_data,
                spec.security_groups_json,
                spec.reservation_id,
                instance.launch_index,
                now,
            ])?;
            for (key, value) in &spec.metadata {
                meta.execute(params![instance.uuid, key, value])?;
            }
            for name in &spec.tags {
                tag.execute(params![instance.uuid, name])?;
            }
            tasks.push(insert_task(
                conn,
                &instance.uuid,
                TaskKind::Build,
                spec.build_params,
                now,
            )?);
        }
        Ok(Ok(tasks))
    })
}

/// Nova's `_check_num_instances_quota`: the most instances (≤ `max_count`, ≥ `min_count`)
/// that fit the project's quota and the user's (when the user has limits of their own), or
/// the refusal computed for `max_count`. A resource over both is reported with the project's
/// figures.
fn allowed_count(
    project: Scope,
    user: Option<Scope>,
    spec: &CreateSpec<'_>,
    min_count: i64,
    max_count: i64,
) -> Result<i64, OverQuota> {
    let scopes = [Some(project), user];
    let scopes = scopes.iter().flatten();
    let fits_n = |scope: &Scope, n: i64| {
        let (limits, used) = (scope.limits, scope.used);
        fits(limits.instances, used.instances, n)
            && fits(limits.cores, used.cores, n * spec.vcpus)
            && fits(limits.ram, used.ram, n * spec.memory_mb)
    };
    if scopes.clone().all(|scope| fits_n(scope, max_count)) {
        return Ok(max_count);
    }
    let headroom = |limit: i64, used: i64, per: i64| {
        if limit < 0 || per == 0 {
            i64::MAX
        } else {
            (limit - used).max(0) / per
        }
    };
    let allowed = scopes
        .clone()
        .map(|scope| {
            let (limits, used) = (scope.limits, scope.used);
            headroom(limits.instances, used.instances, 1)
                .min(headroom(limits.cores, used.cores, spec.vcpus))
                .min(headroom(limits.ram, used.ram, spec.memory_mb))
        })
        .min()
        .unwrap_or(i64::MAX);
    if allowed >= min_count && allowed > 0 {
        return Ok(allowed.min(max_count));
    }
    let instances = if min_count == max_count {
        min_count.to_string()
    } else {
        format!("{min_count}-{max_count}")
    };
    // The first scope a resource does not fit: (used, allowed).
    let over = |pick: fn(&Scope) -> (i64, i64), delta: i64| {
        scopes
            .clone()
            .map(pick)
            .find(|&(used, limit)| !fits(limit, used, delta))
    };
    let mut overs = Vec::new();
    // Sorted by name, as Nova sorts `overs`.
    let cores = max_count * spec.vcpus;
    if let Some((used, limit)) = over(|s| (s.used.cores, s.limits.cores), cores) {
        overs.push(("cores", cores.to_string(), used, limit));
    }
    if let Some((used, limit)) = over(|s| (s.used.instances, s.limits.instances), max_count) {
        overs.push(("instances", instances, used, limit));
    }
    let ram = max_count * spec.memory_mb;
    if let Some((used, limit)) = over(|s| (s.used.ram, s.limits.ram), ram) {
        overs.push(("ram", ram.to_string(), used, limit));
    }
    Err(OverQuota { overs })
}

/// Nova's default hostname from a display name: lower case, runs of other characters as `-`,
/// at most 63 characters.
fn hostname(name: &str) -> String {
    let mut out = String::with_capacity(name.len().min(63));
    for c in name.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
            out.push(c);
        } else if c == ' ' || c == '_' {
            out.push('-');
        }
        if out.len() >= 63 {
            break;
        }
    }
    let trimmed = out.trim_matches(|c| c == '-' || c == '.');
    if trimmed.is_empty() {
        "server".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// Queues a task row created `now`; returns its id.
fn insert_task(
    conn: &Connection,
    uuid: &str,
    kind: TaskKind,
    params: &str,
    now: NowText,
) -> Result<i64, DbError> {
    conn.prepare_cached(
        "INSERT INTO tasks (instance_uuid, kind, state, params, created_at, updated_at) \
         VALUES (?1, ?2, 'queued', ?3, ?4, ?4)",
    )?
    .execute(params![uuid, kind.as_str(), params, now])?;
    Ok(conn.last_insert_rowid())
}

/// What a boot or rebuild needs to know of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootImage {
    /// `ACTIVE`, `SAVING`, …
    pub status: String,
    /// Least RAM (MB) a flavor must have.
    pub min_ram: i64,
    /// Least root disk (GB) a flavor must have.
    pub min_disk: i64,
}

/// An image of the catalogue, or `None`.
pub fn image_for_boot(db: &Db, id: &str) -> Result<Option<BootImage>, DbError> {
    Ok(db
        .conn()
        .prepare_cached("SELECT status, min_ram, min_disk FROM images WHERE id = ?1")?
        .query_row([id], |row| {
            Ok(BootImage {
                status: row.get(0)?,
                min_ram: row.get(1)?,
                min_disk: row.get(2)?,
            })
        })
        .optional()?)
}

/// The columns of a live instance an action checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceState {
    /// Owner project.
    pub project_id: String,
    /// Owner user.
    pub user_id: String,
    /// Display name.
    pub display_name: String,
    /// `vm_state`.
    pub vm_state: String,
    /// `task_state`.
    pub task_state: Option<String>,
    /// `power_state`.
    pub power_state: i64,
    /// Locked by someone.
    pub locked: bool,
    /// Whether it has been launched (`launched_at` set).
    pub launched: bool,
    /// Its host (none until scheduled).
    pub host: Option<String>,
    /// The flavor's internal id.
    pub instance_type_id: i64,
    /// The flavor snapshot (JSON).
    pub flavor: String,
    /// vCPUs counted.
    pub vcpus: i64,
    /// RAM counted.
    pub memory_mb: i64,
    /// Root disk.
    pub root_gb: i64,
    /// Image.
    pub image_ref: String,
}

/// A live instance's state; `NotFound` when absent or deleted.
pub fn get_state(db: &Db, uuid: &str) -> Result<InstanceState, DbError> {
    state_in(db.conn(), uuid)?.ok_or(DbError::NotFound)
}

fn state_in(conn: &Connection, uuid: &str) -> Result<Option<InstanceState>, DbError> {
    Ok(conn
        .prepare_cached(
            "SELECT project_id, user_id, display_name, vm_state, task_state, power_state, \
             locked, launched_at IS NOT NULL, host, instance_type_id, flavor, vcpus, \
             memory_mb, root_gb, image_ref FROM instances WHERE uuid = ?1 AND deleted = 0",
        )?
        .query_row([uuid], |row| {
            Ok(InstanceState {
                project_id: row.get(0)?,
                user_id: row.get(1)?,
                display_name: row.get(2)?,
                vm_state: row.get(3)?,
                task_state: row.get(4)?,
                power_state: row.get(5)?,
                locked: row.get(6)?,
                launched: row.get(7)?,
                host: row.get(8)?,
                instance_type_id: row.get(9)?,
                flavor: row.get(10)?,
                vcpus: row.get(11)?,
                memory_mb: row.get(12)?,
                root_gb: row.get(13)?,
                image_ref: row.get(14)?,
            })
        })
        .optional()?)
}

/// The internal id of the flavor a resized instance had before (`None` when it has no old
/// flavor); looked up by the snapshot's `flavorid`, deleted flavors included.
pub fn old_instance_type_id(db: &Db, uuid: &str) -> Result<Option<i64>, DbError> {
    Ok(db
        .conn()
        .prepare_cached(
            "SELECT f.id FROM instances i JOIN flavors f \
             ON f.flavorid = json_extract(i.old_flavor, '$.flavorid') \
             WHERE i.uuid = ?1 AND i.deleted = 0 ORDER BY f.deleted, f.id DESC LIMIT 1",
        )?
        .query_row([uuid], |row| row.get(0))
        .optional()?)
}

/// Nova's `@check_instance_state` and `@check_instance_lock` for one action.
#[derive(Debug, Clone, Copy)]
pub struct Guard {
    /// The action's name in messages (`reboot`, `stop`, …).
    pub action: &'static str,
    /// Allowed vm_states (`None` = any).
    pub vm_states: Option<&'static [&'static str]>,
    /// Allowed task_states (`None` entries mean "no task"); `None` = any.
    pub task_states: Option<&'static [Option<&'static str>]>,
    /// `launched_at` must be set.
    pub must_be_launched: bool,
    /// Refuse locked instances (unless the caller is an admin).
    pub check_lock: bool,
}

/// Why a guarded change did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The instance is gone.
    NotFound,
    /// Locked, and the caller is not an admin.
    Locked,
    /// `(attr, value)`: "Cannot '<action>' instance <uuid> while it is in <attr> <value>".
    InvalidState(&'static str, String),
    /// An action-specific refusal (400), with its message.
    Invalid(String),
    /// Over quota (resize).
    OverQuota(OverQuota),
}

impl Guard {
    /// Checks `state`; the refusal when it does not pass.
    pub fn check(&self, state: &InstanceState, is_admin: bool) -> Result<(), Refusal> {
        if self.check_lock && state.locked && !is_admin {
            return Err(Refusal::Locked);
        }
        if let Some(allowed) = self.vm_states {
            if !allowed.contains(&state.vm_state.as_str()) {
                return Err(Refusal::InvalidState("vm_state", state.vm_state.clone()));
            }
        }
        if let Some(allowed) = self.task_states {
            if !allowed.contains(&state.task_state.as_deref()) {
                let value = state.task_state.clone().unwrap_or_else(|| "None".into());
                return Err(Refusal::InvalidState("task_state", value));
            }
        }
        if self.must_be_launched && !state.launched {
            return Err(Refusal::InvalidState("launched_at", "None".into()));
        }
        Ok(())
    }
}

/// One column assignment an action makes besides `task_state`.
#[derive(Debug, Clone)]
pub enum Set<'a> {
    /// A text column (`None` → NULL). The column name is a constant of the caller.
    Text(&'static str, Option<&'a str>),
    /// An integer column.
    Int(&'static str, i64),
    /// Replace the instance's metadata with these items.
    Metadata(Vec<(&'a str, &'a str)>),
    /// Insert an `images` row (createImage): id, name, metadata JSON, min_disk, min_ram.
    Image {
        /// New image id.
        id: &'a str,
        /// Name.
        name: &'a str,
        /// Properties (JSON object).
        metadata: &'a str,
        /// min_disk.
        min_disk: i64,
        /// min_ram.
        min_ram: i64,
    },
}

/// What [`start_task`] should do once the guard passed.
#[derive(Debug, Clone)]
pub struct Change<'a> {
    /// The task to queue (`None`: the change completes here, no task).
    pub task: Option<(TaskKind, &'a str)>,
    /// The new task_state (`None` leaves it NULL).
    pub task_state: Option<&'static str>,
    /// Other assignments.
    pub sets: Vec<Set<'a>>,
}

/// In one transaction: re-reads the instance, checks `guard` (and `extra`, which may refuse
/// or return more assignments, e.g. a resize's quota check), applies `change` and queues
/// its task. Returns the task id (if one was queued) or the refusal.
pub fn start_task<'a>(
    db: &Db,
    uuid: &str,
    is_admin: bool,
    guard: &Guard,
    change: Change<'a>,
    extra: impl FnOnce(&Connection, &InstanceState) -> Result<Result<Vec<Set<'a>>, Refusal>, DbError>,
) -> Result<Result<Option<i64>, Refusal>, DbError> {
    db.write(|conn| {
        let Some(state) = state_in(conn, uuid)? else {
            return Ok(Err(Refusal::NotFound));
        };
        if let Err(refusal) = guard.check(&state, is_admin) {
            return Ok(Err(refusal));
        }
        let more = match extra(conn, &state)? {
            Ok(more) => more,
            Err(refusal) => return Ok(Err(refusal)),
        };
        conn.prepare_cached(concat!(
            "UPDATE instances SET task_state = ?2, updated_at = ",
            now_sql!(),
            " WHERE uuid = ?1 AND deleted = 0"
        ))?
        .execute(params![uuid, change.task_state])?;
        for set in change.sets.iter().chain(&more) {
            apply(conn, uuid, set)?;
        }
        let task = match change.task {
            Some((kind, params)) => Some(insert_task(conn, uuid, kind, params, NowText::now())?),
            None => None,
        };
        Ok(Ok(task))
    })
}

fn apply(conn: &Connection, uuid: &str, set: &Set<'_>) -> Result<(), DbError> {
    match set {
        Set::Text(column, value) => {
            let sql = format!("UPDATE instances SET {column} = ?2 WHERE uuid = ?1");
            conn.prepare_cached(&sql)?.execute(params![uuid, value])?;
        }
        Set::Int(column, value) => {
            let sql = format!("UPDATE instances SET {column} = ?2 WHERE uuid = ?1");
            conn.prepare_cached(&sql)?.execute(params![uuid, value])?;
        }
        Set::Metadata(items) => {
            conn.prepare_cached("DELETE FROM instance_metadata WHERE instance_uuid = ?1")?
                .execute([uuid])?;
            let mut insert = conn.prepare_cached(
                "INSERT OR REPLACE INTO instance_metadata (instance_uuid, key, value) \
                 VALUES (?1, ?2, ?3)",
            )?;
            for (key, value) in items {
                insert.execute(params![uuid, key, value])?;
            }
        }
        Set::Image {
            id,
            name,
            metadata,
            min_disk,
            min_ram,
        } => {
            conn.prepare_cached(concat!(
                "INSERT INTO images (id, name, status, min_disk, min_ram, size, progress, \
                 metadata, server_uuid, created_at, updated_at) VALUES (?1, ?2, 'SAVING', ?3, \
                 ?4, 0, 0, ?5, ?6, ",
                now_sql!(),
                ", ",
                now_sql!(),
                ")"
            ))?
            .execute(params![id, name, min_disk, min_ram, metadata, uuid])?;
        }
    }
    Ok(())
}

/// The resize quota check (Nova's `_check_quota_for_upsize`): the increase in cores and RAM
/// must fit the project's quota and, when the instance's owner has limits of their own, the
/// owner's; inside the caller's transaction.
pub fn check_upsize(
    conn: &Connection,
    project_id: &str,
    user_id: &str,
    defaults: CountedLimits,
    delta_cores: i64,
    delta_ram: i64,
) -> Result<Result<(), OverQuota>, DbError> {
    let (project, user) = scopes_in(conn, project_id, user_id, defaults)?;
    let scopes = [Some(project), user];
    let over = |pick: fn(&Scope) -> (i64, i64), delta: i64| {
        scopes
            .iter()
            .flatten()
            .map(pick)
            .find(|&(used, limit)| delta > 0 && !fits(limit, used, delta))
    };
    let mut overs = Vec::new();
    if let Some((used, limit)) = over(|s| (s.used.cores, s.limits.cores), delta_cores) {
        overs.push(("cores", delta_cores.to_string(), used, limit));
    }
    if let Some((used, limit)) = over(|s| (s.used.ram, s.limits.ram), delta_ram) {
        overs.push(("ram", delta_ram.to_string(), used, limit));
    }
    Ok(if overs.is_empty() {
        Ok(())
    } else {
        Err(OverQuota { overs })
    })
}

/// Deletes at once (Nova's local delete of a server that never reached a host): soft-deletes
/// the instance and finishes its unfinished tasks, in one transaction. Returns the ids of
/// the tasks it closed, or `None` when the instance already has a host (the caller queues a
/// delete task instead).
pub fn delete_unscheduled(db: &Db, uuid: &str) -> Result<Option<Vec<i64>>, DbError> {
    db.write(|conn| {
        let changed = conn
            .prepare_cached(concat!(
                "UPDATE instances SET deleted = id, vm_state = 'deleted', task_state = NULL, \
                 power_state = 0, deleted_at = ",
                now_sql!(),
                ", terminated_at = ",
                now_sql!(),
                ", updated_at = ",
                now_sql!(),
                " WHERE uuid = ?1 AND deleted = 0 AND host IS NULL"
            ))?
            .execute([uuid])?;
        if changed == 0 {
            return Ok(None);
        }
        let closed = conn
            .prepare_cached(
                "SELECT id FROM tasks WHERE instance_uuid = ?1 AND state IN ('queued', 'running')",
            )?
            .query_map([uuid], |row| row.get(0))?
            .collect::<Result<Vec<i64>, _>>()?;
        finish_tasks_of(conn, uuid)?;
        Ok(Some(closed))
    })
}

/// Deletes the instance's unfinished tasks (finished tasks leave the table).
fn finish_tasks_of(conn: &Connection, uuid: &str) -> Result<(), DbError> {
    conn.prepare_cached(
        "DELETE FROM tasks WHERE instance_uuid = ?1 AND state IN ('queued', 'running')",
    )?
    .execute([uuid])?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The orchestration thread's side
// ---------------------------------------------------------------------------------------------

/// A task as the orchestration thread loads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRow {
    /// Task id.
    pub id: i64,
    /// The instance.
    pub instance_uuid: String,
    /// Its kind (unknown kinds are failed on load).
    pub kind: Option<TaskKind>,
    /// `queued` or `running` (or `failed`; finished tasks are deleted).
    pub state: String,
    /// Params JSON.
    pub params: String,
}

fn task_from(row: &rusqlite::Row<'_>) -> rusqlite::Result<TaskRow> {
    let kind: String = row.get(2)?;
    Ok(TaskRow {
        id: row.get(0)?,
        instance_uuid: row.get(1)?,
        kind: TaskKind::parse(&kind),
        state: row.get(3)?,
        params: row.get(4)?,
    })
}

/// One task by id (inside the orchestration thread's transaction).
pub fn get_task(conn: &Connection, id: i64) -> Result<TaskRow, DbError> {
    conn.prepare_cached("SELECT id, instance_uuid, kind, state, params FROM tasks WHERE id = ?1")?
        .query_row([id], task_from)
        .optional()?
        .ok_or(DbError::NotFound)
}

/// Every queued or running task, oldest first (start-up resumption).
pub fn unfinished_tasks(db: &Db) -> Result<Vec<TaskRow>, DbError> {
    let mut stmt = db.conn().prepare_cached(
        "SELECT id, instance_uuid, kind, state, params FROM tasks \
         WHERE state IN ('queued', 'running') ORDER BY id",
    )?;
    let rows = stmt.query_map([], task_from)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The instance's current vm_state, task_state and display name (`None` when deleted or
/// gone), inside the orchestration thread's transaction.
pub fn task_state_of(
    conn: &Connection,
    uuid: &str,
) -> Result<Option<(String, Option<String>, String)>, DbError> {
    Ok(conn
        .prepare_cached(
            "SELECT vm_state, task_state, display_name FROM instances \
             WHERE uuid = ?1 AND deleted = 0",
        )?
        .query_row([uuid], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .optional()?)
}

/// Marks a task `state` (`running` or `failed`; a finished task is deleted,
/// [`finish_task`]), inside the orchestration thread's transaction.
pub fn set_task_state(conn: &Connection, id: i64, state: &str) -> Result<(), DbError> {
    conn.prepare_cached(
        "UPDATE tasks SET state = ?2, attempts = attempts + (?2 = 'running'), updated_at = ?3 \
         WHERE id = ?1",
    )?
    .execute(params![id, state, NowText::now()])?;
    Ok(())
}

/// One step of a task: moves the instance from task_state `from` to the step's outcome,
/// only if it is still in `from` (a delete may have overtaken it): the step statement itself
/// carries that condition (`?5`), so a step is one statement on the instance, not a read and
/// a write. The last step finishes the task (deletes its row); an intermediate step leaves
/// the task row as it is (`running` since the task began: its state does not change, and a
/// resumption reads the phase from the instance's task_state). Returns whether the instance
/// was still in `from`; when it was not, the task is finished and nothing else changes. Runs
/// inside the caller's transaction (the orchestration thread writes every step due at once in
/// one).
pub fn advance(
    conn: &Connection,
    task_id: i64,
    uuid: &str,
    from: &str,
    step: &Step<'_>,
    last: bool,
) -> Result<bool, DbError> {
    // Every step statement uses `?1` (the uuid), `?5` (the expected task_state) and `?6` (the
    // time), and as many of `?2`…`?4` as it needs; SQLite numbers the unused ones, so all
    // six bind.
    let mut stmt = conn.prepare_cached(step.sql)?;
    stmt.raw_bind_parameter(1, uuid)?;
    for (index, value) in step.text.iter().enumerate() {
        stmt.raw_bind_parameter(index + 2, value)?;
    }
    stmt.raw_bind_parameter(5, from)?;
    let now = NowText::now();
    stmt.raw_bind_parameter(6, now)?;
    if stmt.raw_execute()? == 0 {
        finish_task(conn, task_id)?;
        return Ok(false);
    }
    if let Some((code, message)) = step.fault {
        conn.prepare_cached(concat!(
            "INSERT INTO instance_faults (instance_uuid, code, message, details, \
             created_at) VALUES (?1, ?2, ?3, NULL, ",
            now_sql!(),
            ")"
        ))?
        .execute(params![uuid, code, message])?;
    }
    if let Some(image) = step.image_done {
        conn.prepare_cached(concat!(
            "UPDATE images SET status = 'ACTIVE', progress = 100, size = 1024, \
             updated_at = ",
            now_sql!(),
            " WHERE id = ?1"
        ))?
        .execute([image])?;
    }
    if last {
        finish_task(conn, task_id)?;
    }
    Ok(true)
}

/// Ends a task: its row is deleted (schema version 7; the table holds the tasks in flight).
/// Inside the orchestration thread's transaction.
pub fn finish_task(conn: &Connection, task_id: i64) -> Result<(), DbError> {
    conn.prepare_cached("DELETE FROM tasks WHERE id = ?1")?
        .execute([task_id])?;
    Ok(())
}

/// The SQL of one step and its bound texts (`?2`…`?4`), built by the orchestration thread.
#[derive(Debug, Clone)]
pub struct Step<'a> {
    /// An `UPDATE instances SET … WHERE uuid = ?1 AND deleted = 0 AND task_state = ?5`
    /// statement (a fixed text per step kind).
    pub sql: &'static str,
    /// Values for `?2`, `?3`, `?4`.
    pub text: [Option<&'a str>; 3],
    /// A fault to record (`code`, `message`).
    pub fault: Option<(i64, &'a str)>,
    /// An image snapshot to mark active.
    pub image_done: Option<&'a str>,
}

// The orchestration thread's step statements: `?1` is the instance's UUID, `?5` the
// task_state the step expects (the statement changes nothing when the instance has left it)
// and `?6` the time of the step (a [`NowText`]).

/// A plain task_state change (`?2`).
pub const SQL_NEXT: &str = "UPDATE instances SET task_state = ?2, updated_at = ?6 \
     WHERE uuid = ?1 AND deleted = 0 AND task_state = ?5";
/// scheduling → networking: placed on host `?3`, node `?4`.
pub const SQL_PLACED: &str = "UPDATE instances SET task_state = ?2, host = ?3, node = ?4, \
     updated_at = ?6 WHERE uuid = ?1 AND deleted = 0 AND task_state = ?5";
/// networking → spawning: `network_info` `?3`.
pub const SQL_NETWORKED: &str = "UPDATE instances SET task_state = ?2, network_info = ?3, \
     updated_at = ?6 WHERE uuid = ?1 AND deleted = 0 AND task_state = ?5";
/// A power transition's end: vm_state `?2`, power_state `?3`.
pub const SQL_SETTLE: &str = "UPDATE instances SET vm_state = ?2, \
     power_state = CAST(?3 AS INTEGER), task_state = NULL, updated_at = ?6 \
     WHERE uuid = ?1 AND deleted = 0 AND task_state = ?5";
/// A build's end.
pub const SQL_BUILT: &str = "UPDATE instances SET vm_state = 'active', power_state = 1, \
     task_state = NULL, launched_at = ?6, updated_at = ?6 \
     WHERE uuid = ?1 AND deleted = 0 AND task_state = ?5";
/// A failed build: error, with the fault recorded alongside.
pub const SQL_BUILD_FAILED: &str = "UPDATE instances SET vm_state = 'error', power_state = 0, \
     task_state = NULL, updated_at = ?6 WHERE uuid = ?1 AND deleted = 0 AND task_state = ?5";
/// A resize's end: the new flavor (stored by the API in `new_flavor`) takes effect; the
/// counted resources become the new flavor's (`?2` is the task's params).
pub const SQL_RESIZED: &str = "UPDATE instances SET vm_state = 'resized', task_state = NULL, \
     old_flavor = flavor, flavor = new_flavor, \
     instance_type_id = json_extract(?2, '$.instance_type_id'), \
     vcpus = json_extract(new_flavor, '$.vcpus'), \
     memory_mb = json_extract(new_flavor, '$.memory_mb'), \
     root_gb = json_extract(new_flavor, '$.root_gb'), \
     ephemeral_gb = json_extract(new_flavor, '$.ephemeral_gb'), updated_at = ?6 \
     WHERE uuid = ?1 AND deleted = 0 AND task_state = ?5";
/// A revert's end: back to the old flavor and the vm_state the power state implies.
pub const SQL_REVERTED: &str = "UPDATE instances SET \
     vm_state = CASE power_state WHEN 4 THEN 'stopped' ELSE 'active' END, \
     task_state = NULL, flavor = old_flavor, \
     instance_type_id = json_extract(?2, '$.instance_type_id'), \
     vcpus = json_extract(old_flavor, '$.vcpus'), \
     memory_mb = json_extract(old_flavor, '$.memory_mb'), \
     root_gb = json_extract(old_flavor, '$.root_gb'), \
     ephemeral_gb = json_extract(old_flavor, '$.ephemeral_gb'), old_flavor = NULL, \
     new_flavor = NULL, updated_at = ?6 WHERE uuid = ?1 AND deleted = 0 AND task_state = ?5";
/// A snapshot's end (the image is marked active alongside).
pub const SQL_SNAPSHOTTED: &str = "UPDATE instances SET task_state = NULL, updated_at = ?6 \
     WHERE uuid = ?1 AND deleted = 0 AND task_state = ?5";
/// A rebuild's end: a stopped server stays stopped, anything else becomes active.
pub const SQL_REBUILT: &str = "UPDATE instances SET \
     vm_state = CASE vm_state WHEN 'stopped' THEN 'stopped' ELSE 'active' END, \
     power_state = CASE vm_state WHEN 'stopped' THEN 4 ELSE 1 END, task_state = NULL, \
     launched_at = ?6, updated_at = ?6 WHERE uuid = ?1 AND deleted = 0 AND task_state = ?5";
/// A termination's end: soft delete (`deleted = id`), which frees the quota.
pub const SQL_DELETED: &str = "UPDATE instances SET deleted = id, vm_state = 'deleted', \
     task_state = NULL, power_state = 0, deleted_at = ?6, terminated_at = ?6, updated_at = ?6 \
     WHERE uuid = ?1 AND deleted = 0 AND task_state = ?5";

/// Fails a task whose instance or kind is gone (nothing to drive).
pub fn fail_task(conn: &Connection, id: i64) -> Result<(), DbError> {
    set_task_state(conn, id, "failed")
}

/// Marks the image of a snapshot that will never finish deleted, unless it is already
/// ACTIVE (or gone): what Nova's compute manager does when the instance disappears during a
/// snapshot. Returns whether a row changed. Runs inside the caller's transaction.
pub fn discard_snapshot(conn: &Connection, image_id: &str) -> Result<bool, DbError> {
    let changed = conn
        .prepare_cached(concat!(
            "UPDATE images SET status = 'deleted', updated_at = ",
            now_sql!(),
            " WHERE id = ?1 AND lower(status) NOT IN ('active', 'deleted', 'pending_delete')"
        ))?
        .execute([image_id])?;
    Ok(changed > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{quotas, temp::TempDb};

    const DEFAULTS: CountedLimits = CountedLimits {
        instances: 3,
        cores: 20,
        ram: 51200,
    };

    fn spec<'a>() -> CreateSpec<'a> {
        CreateSpec {
            project_id: "p",
            user_id: "u",
            image_ref: "img",
            instance_type_id: 1,
            flavor_json: "{}",
            vcpus: 2,
            memory_mb: 512,
            root_gb: 1,
            security_groups_json: "[]",
            reservation_id: "r-1",
            build_params: "{}",
            ..CreateSpec::default()
        }
    }

    fn instances(n: usize) -> Vec<NewInstance> {
        (0..n)
            .map(|i| NewInstance {
                uuid: format!("uuid-{i}-{}", fastrand::u64(..)),
                display_name: format!("vm-{i}"),
                launch_index: i as i64,
            })
            .collect()
    }

    #[test]
    fn quota_is_checked_with_the_insert() {
        let temp = TempDb::new("orch-quota");
        let db = temp.open();
        let tasks = create_instances(&db, &spec(), DEFAULTS, &instances(2), 1)
            .unwrap()
            .unwrap();
        assert_eq!(tasks.len(), 2);
        assert_eq!(
            usage(&db, "p").unwrap(),
            Usage {
                instances: 2,
                cores: 4,
                ram: 1024
            }
        );
        // max 3, min 1: only one more fits.
        let tasks = create_instances(&db, &spec(), DEFAULTS, &instances(3), 1)
            .unwrap()
            .unwrap();
        assert_eq!(tasks.len(), 1);
        let over = create_instances(&db, &spec(), DEFAULTS, &instances(1), 1)
            .unwrap()
            .unwrap_err();
        assert_eq!(
            over.message(),
            "Quota exceeded for instances: Requested 1, but already used 3 of 3 instances"
        );
        let over = create_instances(&db, &spec(), DEFAULTS, &instances(2), 2)
            .unwrap()
            .unwrap_err();
        assert!(over.message().contains("Requested 2, but"), "{over:?}");
    }

    #[test]
    fn a_user_limit_is_checked_with_the_projects() {
        let temp = TempDb::new("orch-user-quota");
        let db = temp.open();
        quotas::set_user(&db, "p", "u", &[("instances", 2), ("cores", 3)]).unwrap();
        let other = CreateSpec {
            user_id: "w",
            ..spec()
        };
        // w has no limit of its own: the project's 3 instances.
        let tasks = create_instances(&db, &other, DEFAULTS, &instances(2), 1)
            .unwrap()
            .unwrap();
        assert_eq!(tasks.len(), 2);
        // u: 3 cores at 2 per instance leaves one; the project has one instance left too.
        let tasks = create_instances(&db, &spec(), DEFAULTS, &instances(2), 1)
            .unwrap()
            .unwrap();
        assert_eq!(tasks.len(), 1);
        assert_eq!(
            user_usage(&db, "p", "u").unwrap(),
            Usage {
                instances: 1,
                cores: 2,
                ram: 512
            }
        );
        assert_eq!(usage(&db, "p").unwrap().instances, 3);
        // Over the project's instances and the user's cores: each reported from the scope
        // it does not fit.
        let over = create_instances(&db, &spec(), DEFAULTS, &instances(1), 1)
            .unwrap()
            .unwrap_err();
        assert_eq!(
            over.overs,
            [
                ("cores", "2".to_owned(), 2, 3),
                ("instances", "1".to_owned(), 3, 3)
            ]
        );
        // Resize: one more core fits the project (20) but not the user (3).
        let conn = db.conn();
        assert_eq!(
            check_upsize(conn, "p", "u", DEFAULTS, 2, 0).unwrap(),
            Err(OverQuota {
                overs: vec![("cores", "2".to_owned(), 2, 3)]
            })
        );
        assert_eq!(
            check_upsize(conn, "p", "u", DEFAULTS, 1, 0).unwrap(),
            Ok(())
        );
        assert_eq!(
            check_upsize(conn, "p", "w", DEFAULTS, 2, 0).unwrap(),
            Ok(())
        );
    }

    #[test]
    fn a_step_applies_only_from_the_expected_task_state() {
        let temp = TempDb::new("orch-advance");
        let db = temp.open();
        let batch = instances(2);
        let tasks = create_instances(&db, &spec(), DEFAULTS, &batch, 2)
            .unwrap()
            .unwrap();
        let task_row = |id: i64| -> Option<(String, String)> {
            db.conn()
                .query_row(
                    "SELECT state, updated_at FROM tasks WHERE id = ?1",
                    [id],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()
                .unwrap()
        };
        let next = |to: &'static str| Step {
            sql: SQL_NEXT,
            text: [Some(to), None, None],
            fault: None,
            image_done: None,
        };
        db.write(|conn| set_task_state(conn, tasks[0], "running"))
            .unwrap();
        let began = task_row(tasks[0]);
        // An intermediate step moves the instance and leaves the running task as it is.
        let moved = db
            .write(|conn| {
                advance(
                    conn,
                    tasks[0],
                    &batch[0].uuid,
                    "scheduling",
                    &next("networking"),
                    false,
                )
            })
            .unwrap();
        assert!(moved);
        assert_eq!(
            state_in(db.conn(), &batch[0].uuid)
                .unwrap()
                .unwrap()
                .task_state
                .as_deref(),
            Some("networking")
        );
        assert_eq!(task_row(tasks[0]), began);
        // A step from a task_state the instance has left changes nothing but closes the task.
        let moved = db
            .write(|conn| {
                advance(
                    conn,
                    tasks[0],
                    &batch[0].uuid,
                    "scheduling",
                    &next("networking"),
                    false,
                )
            })
            .unwrap();
        assert!(!moved);
        assert_eq!(task_row(tasks[0]), None, "a finished task leaves the table");
        // A deleted instance is not moved either.
        db.write_one(
            "UPDATE instances SET deleted = id WHERE uuid = ?1",
            [&batch[1].uuid],
        )
        .unwrap();
        let moved = db
            .write(|conn| {
                advance(
                    conn,
                    tasks[1],
                    &batch[1].uuid,
                    "scheduling",
                    &next("networking"),
                    true,
                )
            })
            .unwrap();
        assert!(!moved);
        let task_state: Option<String> = db
            .conn()
            .query_row(
                "SELECT task_state FROM instances WHERE uuid = ?1",
                [&batch[1].uuid],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(task_state.as_deref(), Some("scheduling"));
        // The last step finishes its task.
        let batch = instances(1);
        let tasks = create_instances(&db, &spec(), DEFAULTS, &batch, 1)
            .unwrap()
            .unwrap();
        let moved = db
            .write(|conn| {
                advance(
                    conn,
                    tasks[0],
                    &batch[0].uuid,
                    "scheduling",
                    &next("spawning"),
                    true,
                )
            })
            .unwrap();
        assert!(moved);
        assert_eq!(task_row(tasks[0]), None);
    }

    /// The usage table's row against a sum over the instances.
    fn assert_usage_matches(db: &Db, project: &str) {
        let summed = db
            .conn()
            .query_row(
                "SELECT count(*), coalesce(sum(vcpus), 0), coalesce(sum(memory_mb), 0) \
                 FROM instances WHERE project_id = ?1 AND deleted = 0",
                [project],
                |row| {
                    Ok(Usage {
                        instances: row.get(0)?,
                        cores: row.get(1)?,
                        ram: row.get(2)?,
                    })
                },
            )
            .unwrap();
        assert_eq!(usage(db, project).unwrap(), summed);
    }

    #[test]
    fn the_usage_table_follows_every_change() {
        let temp = TempDb::new("orch-usage");
        let db = temp.open();
        assert_eq!(usage(&db, "p").unwrap(), Usage::default());
        let unlimited = CountedLimits {
            instances: -1,
            cores: -1,
            ram: -1,
        };
        let batch = instances(4);
        create_instances(&db, &spec(), unlimited, &batch, 1)
            .unwrap()
            .unwrap();
        let other = CreateSpec {
            project_id: "q",
            ..spec()
        };
        create_instances(&db, &other, unlimited, &instances(1), 1)
            .unwrap()
            .unwrap();
        assert_eq!(usage(&db, "p").unwrap().instances, 4);
        assert_usage_matches(&db, "p");
        assert_usage_matches(&db, "q");
        // Local delete, and a termination's soft delete.
        assert!(delete_unscheduled(&db, &batch[0].uuid).unwrap().is_some());
        let none: Option<&str> = None;
        db.write_one(
            SQL_DELETED,
            params![
                batch[1].uuid,
                none,
                none,
                none,
                "scheduling",
                NowText::now()
            ],
        )
        .unwrap();
        // A resize to other counted resources, and a move to another project.
        db.write_one(
            "UPDATE instances SET vcpus = 7, memory_mb = 3000 WHERE uuid = ?1",
            [&batch[2].uuid],
        )
        .unwrap();
        db.write_one(
            "UPDATE instances SET project_id = 'q' WHERE uuid = ?1",
            [&batch[3].uuid],
        )
        .unwrap();
        // Changes that do not count: a deleted row's resources, a task_state.
        db.write_one(
            "UPDATE instances SET vcpus = 9 WHERE uuid = ?1",
            [&batch[1].uuid],
        )
        .unwrap();
        db.write_one(
            SQL_NEXT,
            params![
                batch[2].uuid,
                "spawning",
                none,
                none,
                "scheduling",
                NowText::now()
            ],
        )
        .unwrap();
        assert_eq!(
            usage(&db, "p").unwrap(),
            Usage {
                instances: 1,
                cores: 7,
                ram: 3000
            }
        );
        assert_usage_matches(&db, "p");
        assert_usage_matches(&db, "q");
        // Rows removed outright (live and deleted).
        db.write_one("DELETE FROM tasks", []).unwrap();
        db.write_one("DELETE FROM instances", []).unwrap();
        assert_eq!(usage(&db, "p").unwrap(), Usage::default());
        assert_eq!(usage(&db, "q").unwrap(), Usage::default());
    }

    #[test]
    fn several_resources_are_joined() {
        let over = OverQuota {
            overs: vec![
                ("cores", "4".into(), 18, 20),
                ("ram", "4096".into(), 49152, 51200),
            ],
        };
        assert_eq!(
            over.message(),
            "Quota exceeded for cores, ram: Requested 4, 4096, but already used 18, 49152 of \
             20, 51200 cores, ram"
        );
    }

    #[test]
    fn hostnames_are_sanitised() {
        assert_eq!(hostname("My Server_1"), "my-server-1");
        assert_eq!(hostname("***"), "server");
    }

    #[test]
    fn kinds_round_trip() {
        for kind in TaskKind::ALL {
            assert_eq!(TaskKind::parse(kind.as_str()), Some(kind));
        }
    }

    #[test]
    fn discarding_a_snapshot_spares_finished_images() {
        let temp = TempDb::new("discard-snapshot");
        let db = temp.open();
        for (id, status) in [("saving", "SAVING"), ("done", "ACTIVE")] {
            db.write_one(
                "INSERT INTO images (id, name, status, created_at, updated_at) \
                 VALUES (?1, 'snap', ?2, '2026-01-01T00:00:00.000000', \
                 '2026-01-01T00:00:00.000000')",
                [id, status],
            )
            .unwrap();
        }
        let status = |id: &str| -> String {
            db.conn()
                .query_row("SELECT status FROM images WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
                .unwrap()
        };
        assert!(db.write(|conn| discard_snapshot(conn, "saving")).unwrap());
        assert_eq!(status("saving"), "deleted");
        assert!(!db.write(|conn| discard_snapshot(conn, "saving")).unwrap());
        assert!(!db.write(|conn| discard_snapshot(conn, "done")).unwrap());
        assert_eq!(status("done"), "ACTIVE");
        assert!(!db.write(|conn| discard_snapshot(conn, "missing")).unwrap());
    }
}
