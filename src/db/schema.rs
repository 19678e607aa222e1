//! The schema and its versioned migrations, applied by [`migrate`] on the main thread before
//! any worker opens the database.
//!
//! The schema version is SQLite's `PRAGMA user_version` (0 for a new file). Each migration runs
//! inside its own `BEGIN IMMEDIATE` transaction together with the `user_version` bump, so it is
//! applied exactly once even if two processes start on the same file at the same moment, and a
//! failed migration leaves the file at the previous version. `PRAGMA application_id` marks the
//! file as ringnova's, so a foreign SQLite file is refused instead of altered.
//!
//! Version 1 (the compute API resources of Nova's API database):
//!
//! ```text
//! flavors              id, flavorid, name, memory_mb, vcpus, root_gb, ephemeral_gb, swap,
//!                      rxtx_factor, vcpu_weight, is_public, disabled, description,
//!                      created_at, updated_at, deleted, deleted_at
//!                      flavorid and name unique among live (deleted = 0) rows
//! flavor_extra_specs   flavor_id → flavors, key, value           unique (flavor_id, key)
//! flavor_projects      flavor_id → flavors, project_id           unique (flavor_id, project_id)
//! key_pairs            id, user_id, name, fingerprint, public_key, type (ssh|x509),
//!                      created_at, updated_at                    unique (user_id, name)
//! quotas               project_id, resource, hard_limit          unique (project_id, resource)
//! project_user_quotas  project_id, user_id, resource, hard_limit  unique (project_id, user_id, resource)
//! ```
//!
//! Version 2 (the built-in identity endpoint, `[api] auth_strategy = token`): the tables of
//! [`crate::identity::store`] — `identity_projects`, `identity_users`, `identity_roles` (seeded
//! with Keystone's `admin`, `member`, `reader`), `identity_assignments` and
//! `identity_revocations`.
//!
//! Version 3 (servers and orchestration):
//!
//! ```text
//! instances            uuid, project_id, user_id, display_name, display_description,
//!                      image_ref, instance_type_id + flavor (JSON snapshot: flavorid, name,
//!                      vcpus, memory_mb, root_gb, ephemeral_gb, swap, extra_specs),
//!                      old_flavor/new_flavor (resize), vcpus/memory_mb/root_gb/ephemeral_gb
//!                      (what the quota counts), vm_state, task_state, power_state, host,
//!                      node, availability_zone, key_name/key_data, network_info (JSON
//!                      addresses), security_groups (JSON), locked, progress,
//!                      reservation_id, launch_index, timestamps, deleted (soft delete)
//! instance_metadata    instance_uuid, key, value                 primary key (uuid, key)
//! instance_tags        instance_uuid, tag
//! instance_faults      instance_uuid, code, message, details, created_at
//! images               id, name, status, min_disk, min_ram, size, metadata (JSON),
//!                      server_uuid (createImage), timestamps     seeded from configuration
//! tasks                instance_uuid, kind, state (queued|running|done|failed), params
//!                      (JSON), attempts, timestamps              the orchestration queue
//! ```
//!
//! Version 4 (quota usage):
//!
//! ```text
//! instance_usage       project_id, instances, cores, ram         primary key project_id
//!                      the live (deleted = 0) instances of the project and their vcpus and
//!                      memory_mb; kept by triggers on instances (insert, delete, and updates
//!                      of project_id, deleted, vcpus, memory_mb), backfilled when added
//! ```
//!
//! Version 5 (the `os-documents` extension):
//!
//! ```text
//! documents            seq (creation order, paging), id (uuid, unique), project_id,
//!                      user_id, name, content, metadata (JSON object), timestamps
//! ```
//!
//! Version 6 (per-user quota usage):
//!
//! ```text
//! instance_usage       project_id, user_id, instances, cores, ram
//!                      primary key (project_id, user_id)
//!                      replaces version 4's per-project row: one row per user of a project,
//!                      kept by the same triggers (now also on updates of user_id); a
//!                      project's usage is the sum of its users' rows, a user's is one row
//! ```
//!
//! Version 7 (finished tasks leave the queue):
//!
//! ```text
//! tasks                a task's row is deleted when it finishes (no more `done` rows), and
//!                      the index of unfinished tasks is dropped: the table is the queue
//! ```
//!
//! Flavors are soft-deleted (`deleted = 1`) so servers created from them can still show them;
//! key pairs and quotas are deleted outright. Timestamps are Nova's text form in UTC
//! (`2014-05-07T12:06:13.681000`). Version 1 also seeds the six flavors of Nova's API samples
//! (ids 1–6, `m1.tiny` … `m1.tiny.specs`, the last with extra spec `hw:numa_nodes = 1`), as data
//! of the migration: they are inserted once, into the new empty table, and a flavor the
//! operator deletes later stays deleted.
//!
//! A released migration must never be edited: changes are new migrations appended at the end.

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::{configure, DbConfig, DbError};

/// `PRAGMA application_id` of a ringnova database ("RNOV").
pub const APPLICATION_ID: i32 = 0x524e_4f56;

/// The schema version this build runs on: the last migration's.
pub const LATEST: i64 = MIGRATIONS[MIGRATIONS.len() - 1].version;

/// One step of the schema.
#[derive(Debug)]
struct Migration {
    /// The `user_version` after this step.
    version: i64,
    /// What it does, for the log.
    summary: &'static str,
    /// The statements, run as one batch.
    sql: &'static str,
}

/// Every migration, in order; versions are 1, 2, 3, … without gaps.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        summary: "flavors, extra specs, flavor access, key pairs, quotas; sample flavors 1-6",
        sql: V1,
    },
    Migration {
        version: 2,
        summary: "identity: users, projects, roles, role assignments, token revocations",
        sql: crate::identity::store::MIGRATION_SQL,
    },
    Migration {
        version: 3,
        summary: "servers: instances, metadata, tags, faults, images, orchestration tasks",
        sql: V3,
    },
    Migration {
        version: 4,
        summary: "instance_usage: per-project live instances, cores and RAM kept by triggers",
        sql: V4,
    },
    Migration {
        version: 5,
        summary: "documents: the os-documents extension's per-project documents",
        sql: V5,
    },
    Migration {
        version: 6,
        summary: "instance_usage per project and user, for per-user quotas",
        sql: V6,
    },
    Migration {
        version: 7,
        summary: "tasks: a finished task's row is deleted; no index of unfinished tasks",
        sql: V7,
    },
];

/// Version 7: a finished task's row is deleted instead of kept as `done`, so the table holds
/// only the tasks in flight (and the rare `failed` one) and a scan of it is short: the partial
/// index of unfinished tasks goes. A create then writes one page less, and the orchestration
/// thread's `running` and finishing writes change no index. `AUTOINCREMENT` still keeps a
/// deleted task's id from being handed out again.
const V7: &str = "
DELETE FROM tasks WHERE state = 'done';
DROP INDEX tasks_unfinished;
";

/// Version 6: the usage row of version 4 split by user, so a create or resize checks a
/// per-user quota (`os-quota-sets` with `user_id`) as exactly and as atomically as the
/// project's: the same triggers keep it, in the writing transaction. A create still writes
/// one usage row (the creating user's); a project's usage sums its users' rows (a handful).
/// Rebuilt from the instances rather than converted.
const V6: &str = "
DROP TRIGGER instance_usage_insert;
DROP TRIGGER instance_usage_update;
DROP TRIGGER instance_usage_delete;
DROP TABLE instance_usage;

CREATE TABLE instance_usage (
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    instances INTEGER NOT NULL DEFAULT 0,
    cores INTEGER NOT NULL DEFAULT 0,
    ram INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, user_id)
) WITHOUT ROWID;

INSERT INTO instance_usage (project_id, user_id, instances, cores, ram)
    SELECT project_id, user_id, count(*), sum(vcpus), sum(memory_mb) FROM instances
    WHERE deleted = 0 GROUP BY project_id, user_id;

CREATE TRIGGER instance_usage_insert AFTER INSERT ON instances WHEN NEW.deleted = 0
BEGIN
    INSERT INTO instance_usage (project_id, user_id, instances, cores, ram)
        VALUES (NEW.project_id, NEW.user_id, 1, NEW.vcpus, NEW.memory_mb)
        ON CONFLICT (project_id, user_id) DO UPDATE SET instances = instances + 1,
            cores = cores + excluded.cores, ram = ram + excluded.ram;
END;

CREATE TRIGGER instance_usage_update
AFTER UPDATE OF project_id, user_id, deleted, vcpus, memory_mb ON instances
WHEN OLD.deleted = 0 OR NEW.deleted = 0
BEGIN
    UPDATE instance_usage SET instances = instances - 1, cores = cores - OLD.vcpus,
        ram = ram - OLD.memory_mb
        WHERE project_id = OLD.project_id AND user_id = OLD.user_id AND OLD.deleted = 0;
    INSERT INTO instance_usage (project_id, user_id, instances, cores, ram)
        SELECT NEW.project_id, NEW.user_id, 1, NEW.vcpus, NEW.memory_mb WHERE NEW.deleted = 0
        ON CONFLICT (project_id, user_id) DO UPDATE SET instances = instances + 1,
            cores = cores + excluded.cores, ram = ram + excluded.ram;
END;

CREATE TRIGGER instance_usage_delete AFTER DELETE ON instances WHEN OLD.deleted = 0
BEGIN
    UPDATE instance_usage SET instances = instances - 1, cores = cores - OLD.vcpus,
        ram = ram - OLD.memory_mb
        WHERE project_id = OLD.project_id AND user_id = OLD.user_id;
END;
";

/// Version 5: the documents of the `os-documents` extension, per project, listed in creation
/// order (`seq`) and deleted outright.
const V5: &str = "
CREATE TABLE documents (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    content TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    updated_at TEXT
);
CREATE INDEX documents_by_project ON documents (project_id, seq);
";

/// Version 4: the quota usage of each project (live instances, their vCPUs and RAM) as one
/// row, kept exact by triggers on `instances` in the writing transaction itself, so a create's
/// quota check reads one row instead of summing every instance of the project. Backfilled
/// from the existing instances.
const V4: &str = "
CREATE TABLE instance_usage (
    project_id TEXT PRIMARY KEY,
    instances INTEGER NOT NULL DEFAULT 0,
    cores INTEGER NOT NULL DEFAULT 0,
    ram INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

INSERT INTO instance_usage (project_id, instances, cores, ram)
    SELECT project_id, count(*), sum(vcpus), sum(memory_mb) FROM instances
    WHERE deleted = 0 GROUP BY project_id;

CREATE TRIGGER instance_usage_insert AFTER INSERT ON instances WHEN NEW.deleted = 0
BEGIN
    INSERT INTO instance_usage (project_id, instances, cores, ram)
        VALUES (NEW.project_id, 1, NEW.vcpus, NEW.memory_mb)
        ON CONFLICT (project_id) DO UPDATE SET instances = instances + 1,
            cores = cores + excluded.cores, ram = ram + excluded.ram;
END;

CREATE TRIGGER instance_usage_update
AFTER UPDATE OF project_id, deleted, vcpus, memory_mb ON instances
WHEN OLD.deleted = 0 OR NEW.deleted = 0
BEGIN
    UPDATE instance_usage SET instances = instances - 1, cores = cores - OLD.vcpus,
        ram = ram - OLD.memory_mb
        WHERE project_id = OLD.project_id AND OLD.deleted = 0;
    INSERT INTO instance_usage (project_id, instances, cores, ram)
        SELECT NEW.project_id, 1, NEW.vcpus, NEW.memory_mb WHERE NEW.deleted = 0
        ON CONFLICT (project_id) DO UPDATE SET instances = instances + 1,
            cores = cores + excluded.cores, ram = ram + excluded.ram;
END;

CREATE TRIGGER instance_usage_delete AFTER DELETE ON instances WHEN OLD.deleted = 0
BEGIN
    UPDATE instance_usage SET instances = instances - 1, cores = cores - OLD.vcpus,
        ram = ram - OLD.memory_mb
        WHERE project_id = OLD.project_id;
END;
";

/// Version 3: the cell database's instance tables as the servers API and the orchestration
/// thread need them, the image catalogue the images proxy serves, and the durable task queue.
const V3: &str = "
CREATE TABLE instances (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    display_name TEXT NOT NULL,
    display_description TEXT,
    hostname TEXT,
    image_ref TEXT NOT NULL DEFAULT '',
    instance_type_id INTEGER NOT NULL,
    flavor TEXT NOT NULL,
    old_flavor TEXT,
    new_flavor TEXT,
    vcpus INTEGER NOT NULL,
    memory_mb INTEGER NOT NULL,
    root_gb INTEGER NOT NULL,
    ephemeral_gb INTEGER NOT NULL DEFAULT 0,
    vm_state TEXT NOT NULL,
    task_state TEXT,
    power_state INTEGER NOT NULL DEFAULT 0,
    host TEXT,
    node TEXT,
    availability_zone TEXT,
    key_name TEXT,
    key_data TEXT,
    config_drive TEXT NOT NULL DEFAULT '',
    auto_disk_config INTEGER NOT NULL DEFAULT 0,
    access_ip_v4 TEXT,
    access_ip_v6 TEXT,
    user_data TEXT,
    network_info TEXT NOT NULL DEFAULT '{}',
    security_groups TEXT NOT NULL DEFAULT '[]',
    locked INTEGER NOT NULL DEFAULT 0,
    locked_by TEXT,
    progress INTEGER NOT NULL DEFAULT 0,
    reservation_id TEXT NOT NULL,
    launch_index INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT,
    launched_at TEXT,
    terminated_at TEXT,
    deleted INTEGER NOT NULL DEFAULT 0,
    deleted_at TEXT
);
CREATE INDEX instances_project_created ON instances (project_id, deleted, created_at, id);
CREATE INDEX instances_updated ON instances (updated_at);
CREATE INDEX instances_reservation ON instances (reservation_id);

CREATE TABLE instance_metadata (
    instance_uuid TEXT NOT NULL REFERENCES instances (uuid),
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (instance_uuid, key)
) WITHOUT ROWID;

CREATE TABLE instance_tags (
    instance_uuid TEXT NOT NULL REFERENCES instances (uuid),
    tag TEXT NOT NULL,
    PRIMARY KEY (instance_uuid, tag)
) WITHOUT ROWID;

CREATE TABLE instance_faults (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_uuid TEXT NOT NULL REFERENCES instances (uuid),
    code INTEGER NOT NULL,
    message TEXT NOT NULL,
    details TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX instance_faults_instance ON instance_faults (instance_uuid, id);

CREATE TABLE images (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'ACTIVE',
    min_disk INTEGER NOT NULL DEFAULT 0,
    min_ram INTEGER NOT NULL DEFAULT 0,
    size INTEGER NOT NULL DEFAULT 0,
    progress INTEGER NOT NULL DEFAULT 100,
    metadata TEXT NOT NULL DEFAULT '{}',
    server_uuid TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_uuid TEXT NOT NULL REFERENCES instances (uuid),
    kind TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'queued',
    params TEXT NOT NULL DEFAULT '{}',
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX tasks_unfinished ON tasks (state, id) WHERE state IN ('queued', 'running');
";

const V1: &str = concat!(
    "
CREATE TABLE flavors (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    flavorid TEXT NOT NULL,
    name TEXT NOT NULL,
    memory_mb INTEGER NOT NULL CHECK (memory_mb >= 1),
    vcpus INTEGER NOT NULL CHECK (vcpus >= 1),
    root_gb INTEGER NOT NULL DEFAULT 0 CHECK (root_gb >= 0),
    ephemeral_gb INTEGER NOT NULL DEFAULT 0 CHECK (ephemeral_gb >= 0),
    swap INTEGER NOT NULL DEFAULT 0 CHECK (swap >= 0),
    rxtx_factor REAL NOT NULL DEFAULT 1.0 CHECK (rxtx_factor > 0),
    vcpu_weight INTEGER,
    is_public INTEGER NOT NULL DEFAULT 1 CHECK (is_public IN (0, 1)),
    disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    description TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT,
    deleted INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    deleted_at TEXT
) STRICT;
-- Lookups, uniqueness and the default list order (flavorid) over live flavors.
CREATE UNIQUE INDEX flavors_flavorid_live ON flavors (flavorid) WHERE deleted = 0;
CREATE UNIQUE INDEX flavors_name_live ON flavors (name) WHERE deleted = 0;

CREATE TABLE flavor_extra_specs (
    id INTEGER PRIMARY KEY,
    flavor_id INTEGER NOT NULL REFERENCES flavors (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    UNIQUE (flavor_id, key)
) STRICT;

CREATE TABLE flavor_projects (
    id INTEGER PRIMARY KEY,
    flavor_id INTEGER NOT NULL REFERENCES flavors (id) ON DELETE CASCADE,
    project_id TEXT NOT NULL,
    UNIQUE (flavor_id, project_id)
) STRICT;

CREATE TABLE key_pairs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    public_key TEXT NOT NULL,
    type TEXT NOT NULL DEFAULT 'ssh' CHECK (type IN ('ssh', 'x509')),
    created_at TEXT NOT NULL,
    updated_at TEXT,
    -- Also the index for listing, paging (by name) and counting a user's key pairs.
    UNIQUE (user_id, name)
) STRICT;

CREATE TABLE quotas (
    id INTEGER PRIMARY KEY,
    project_id TEXT NOT NULL,
    resource TEXT NOT NULL,
    hard_limit INTEGER NOT NULL CHECK (hard_limit >= -1),
    created_at TEXT NOT NULL,
    updated_at TEXT,
    UNIQUE (project_id, resource)
) STRICT;

CREATE TABLE project_user_quotas (
    id INTEGER PRIMARY KEY,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    resource TEXT NOT NULL,
    hard_limit INTEGER NOT NULL CHECK (hard_limit >= -1),
    created_at TEXT NOT NULL,
    updated_at TEXT,
    UNIQUE (project_id, user_id, resource)
) STRICT;

-- The flavors of Nova's API samples (SPEC 9).
INSERT INTO flavors (id, flavorid, name, memory_mb, vcpus, root_gb, created_at)
SELECT column1, column2, column3, column4, column5, column6, ",
    now_sql!(),
    "
FROM (VALUES
    (1, '1', 'm1.tiny', 512, 1, 1),
    (2, '2', 'm1.small', 2048, 1, 20),
    (3, '3', 'm1.medium', 4096, 2, 40),
    (4, '4', 'm1.large', 8192, 4, 80),
    (5, '5', 'm1.xlarge', 16384, 8, 160),
    (6, '6', 'm1.tiny.specs', 512, 1, 1)
)
WHERE NOT EXISTS (SELECT 1 FROM flavors);
INSERT INTO flavor_extra_specs (flavor_id, key, value)
SELECT 6, 'hw:numa_nodes', '1'
WHERE EXISTS (SELECT 1 FROM flavors WHERE id = 6 AND name = 'm1.tiny.specs');
"
);

/// The file's schema version (`PRAGMA user_version`).
pub(crate) fn version(conn: &Connection) -> Result<i64, DbError> {
    Ok(conn.pragma_query_value(None, "user_version", |row| row.get(0))?)
}

/// Fails unless the file is new (id 0) or marked as ringnova's.
pub(crate) fn check_application_id(conn: &Connection) -> Result<(), DbError> {
    let application_id: i32 = conn.pragma_query_value(None, "application_id", |row| row.get(0))?;
    if application_id != 0 && application_id != APPLICATION_ID {
        return Err(DbError::ForeignDatabase { application_id });
    }
    Ok(())
}

/// Prepares the database for the workers: creates the file and its parent directory on first
/// run, switches it to WAL (failing if SQLite will not), and applies every migration the file
/// lacks, each exactly once in its own transaction. Running it again is a no-op. A file from a
/// newer ringnova (a schema version above [`LATEST`]) is refused.
///
/// Call it once, on the main thread, before the workers open their [`Db`](super::Db)s.
pub fn migrate(config: &DbConfig) -> Result<(), DbError> {
    if let Some(parent) = config.path.parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(parent).map_err(|source| DbError::Io {
                path: parent.to_path_buf(),
                source,
            })?;
        }
    }
    let mut conn = Connection::open_with_flags(
        &config.path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    configure(&mut conn, config, Default::default())?;
    check_application_id(&conn)?;
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(DbError::JournalMode(mode));
    }
    let found = version(&conn)?;
    if found > LATEST {
        return Err(DbError::SchemaTooNew {
            found,
            known: LATEST,
        });
    }
    for step in MIGRATIONS.iter().filter(|step| step.version > found) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Another process may have applied it between our read and our lock.
        let current = version(&tx)?;
        if current > LATEST {
            return Err(DbError::SchemaTooNew {
                found: current,
                known: LATEST,
            });
        }
        if current >= step.version {
            continue;
        }
        tx.execute_batch(step.sql)?;
        tx.pragma_update(None, "application_id", APPLICATION_ID)?;
        tx.pragma_update(None, "user_version", step.version)?;
        tx.commit()?;
        log::info!(
            "database {}: applied migration {} ({})",
            config.path.display(),
            step.version,
            step.summary
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{flavors, temp::TempDb, Db};

    fn raw(temp: &TempDb) -> Connection {
        Connection::open(&temp.config.path).unwrap()
    }

    /// A WAL-mode ringnova file at schema `version` (its first `version` migrations run, as
    /// an older binary left it), opened raw for the test to fill before migrating further.
    fn file_at_version(temp: &TempDb, version: usize) -> Connection {
        std::fs::create_dir_all(temp.config.path.parent().unwrap()).unwrap();
        let conn = raw(temp);
        conn.execute_batch("PRAGMA journal_mode = WAL").unwrap();
        for step in &MIGRATIONS[..version] {
            conn.execute_batch(step.sql).unwrap();
        }
        conn.pragma_update(None, "application_id", APPLICATION_ID)
            .unwrap();
        conn.pragma_update(None, "user_version", version as i64)
            .unwrap();
        conn
    }

    #[test]
    fn versions_are_consecutive_from_one() {
        for (index, step) in MIGRATIONS.iter().enumerate() {
            assert_eq!(step.version, index as i64 + 1, "{}", step.summary);
        }
        assert_eq!(LATEST, MIGRATIONS.len() as i64);
    }

    #[test]
    fn first_run_creates_directory_file_and_wal() {
        let temp = TempDb::unmigrated("first-run");
        assert!(!temp.config.path.parent().unwrap().exists());
        migrate(&temp.config).unwrap();
        assert!(temp.config.path.is_file());
        let conn = raw(&temp);
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |row| row.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        assert_eq!(version(&conn).unwrap(), LATEST);
        let app: i32 = conn
            .pragma_query_value(None, "application_id", |row| row.get(0))
            .unwrap();
        assert_eq!(app, APPLICATION_ID);
    }

    #[test]
    fn migrating_again_is_a_no_op_and_seeds_once() {
        let temp = TempDb::new("idempotent");
        let schema_before: Vec<String> = {
            let conn = raw(&temp);
            let mut stmt = conn
                .prepare("SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY name")
                .unwrap();
            let rows = stmt.query_map([], |row| row.get(0)).unwrap();
            rows.map(Result::unwrap).collect()
        };
        migrate(&temp.config).unwrap();
        migrate(&temp.config).unwrap();
        let conn = raw(&temp);
        let schema_after: Vec<String> = {
            let mut stmt = conn
                .prepare("SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY name")
                .unwrap();
            let rows = stmt.query_map([], |row| row.get(0)).unwrap();
            rows.map(Result::unwrap).collect()
        };
        assert_eq!(schema_before, schema_after);
        let flavors: i64 = conn
            .query_row("SELECT count(*) FROM flavors", [], |row| row.get(0))
            .unwrap();
        assert_eq!(flavors, 6);
        let specs: i64 = conn
            .query_row("SELECT count(*) FROM flavor_extra_specs", [], |row| {
                row.get(0)
            })
            .unwrap();
        assert_eq!(specs, 1);
    }

    #[test]
    fn seeded_flavors_match_the_api_samples() {
        let temp = TempDb::new("seed");
        let db = temp.open();
        let all = flavors::list(
            &db,
            &flavors::Filter::default(),
            flavors::Sort::default(),
            None,
            None,
        )
        .unwrap();
        let seen: Vec<(&str, &str, i64, i64, i64)> = all
            .iter()
            .map(|f| {
                (
                    f.flavorid.as_str(),
                    f.name.as_str(),
                    f.memory_mb,
                    f.root_gb,
                    f.vcpus,
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("1", "m1.tiny", 512, 1, 1),
                ("2", "m1.small", 2048, 20, 1),
                ("3", "m1.medium", 4096, 40, 2),
                ("4", "m1.large", 8192, 80, 4),
                ("5", "m1.xlarge", 16384, 160, 8),
                ("6", "m1.tiny.specs", 512, 1, 1),
            ]
        );
        for flavor in &all {
            assert_eq!(
                (flavor.swap, flavor.ephemeral_gb, flavor.rxtx_factor),
                (0, 0, 1.0)
            );
            assert!(flavor.is_public && !flavor.disabled && !flavor.deleted);
            assert!(flavor.description.is_none());
            assert_eq!(flavor.created_at.len(), "2014-05-07T12:06:13.681238".len());
        }
        let specs = flavors::extra_specs(&db, all[5].id).unwrap();
        assert_eq!(specs, [("hw:numa_nodes".to_string(), "1".to_string())]);
        assert!(flavors::extra_specs(&db, all[0].id).unwrap().is_empty());
    }

    #[test]
    fn deleted_seed_flavors_stay_deleted() {
        let temp = TempDb::new("seed-deleted");
        {
            let db = temp.open();
            flavors::delete(&db, "1").unwrap();
        }
        migrate(&temp.config).unwrap();
        let db = temp.open();
        assert!(matches!(
            flavors::get_by_flavorid(&db, "1", None),
            Err(DbError::NotFound)
        ));
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let temp = TempDb::new("newer");
        raw(&temp)
            .pragma_update(None, "user_version", LATEST + 1)
            .unwrap();
        let err = migrate(&temp.config).unwrap_err();
        assert!(
            matches!(err, DbError::SchemaTooNew { found, known } if found == LATEST + 1 && known == LATEST),
            "{err}"
        );
        assert!(err.to_string().contains("newer ringnova"));
        // Not downgraded, and workers refuse it as well.
        assert_eq!(version(&raw(&temp)).unwrap(), LATEST + 1);
        assert!(matches!(
            Db::open(&temp.config),
            Err(DbError::SchemaTooNew { .. })
        ));
    }

    #[test]
    fn a_foreign_database_is_refused() {
        let temp = TempDb::unmigrated("foreign");
        std::fs::create_dir_all(temp.config.path.parent().unwrap()).unwrap();
        let conn = raw(&temp);
        conn.pragma_update(None, "application_id", 42).unwrap();
        conn.execute_batch("CREATE TABLE other (x)").unwrap();
        drop(conn);
        let err = migrate(&temp.config).unwrap_err();
        assert!(
            matches!(err, DbError::ForeignDatabase { application_id: 42 }),
            "{err}"
        );
    }

    #[test]
    fn version_4_backfills_the_usage_of_existing_instances() {
        let temp = TempDb::unmigrated("usage-backfill");
        {
            // A version 3 file with instances of two projects, one of them deleted.
            let conn = file_at_version(&temp, 3);
            for (uuid, project, vcpus, ram, deleted) in [
                ("a", "p", 1, 512, 0),
                ("b", "p", 2, 2048, 0),
                ("c", "p", 4, 4096, 3),
                ("d", "q", 8, 8192, 0),
            ] {
                conn.execute(
                    "INSERT INTO instances (uuid, project_id, user_id, display_name, \
                     instance_type_id, flavor, vcpus, memory_mb, root_gb, vm_state, \
                     reservation_id, created_at, deleted) VALUES (?1, ?2, 'u', 'n', 1, '{}', \
                     ?3, ?4, 1, 'active', 'r-1', '2026-01-01T00:00:00.000000', ?5)",
                    rusqlite::params![uuid, project, vcpus, ram, deleted],
                )
                .unwrap();
            }
        }
        migrate(&temp.config).unwrap();
        let conn = raw(&temp);
        assert_eq!(version(&conn).unwrap(), LATEST);
        let rows: Vec<(String, i64, i64, i64)> = conn
            .prepare("SELECT project_id, instances, cores, ram FROM instance_usage ORDER BY 1")
            .unwrap()
            .query_map([], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            rows,
            [("p".to_owned(), 2, 3, 2560), ("q".to_owned(), 1, 8, 8192)]
        );
    }

    #[test]
    fn version_7_keeps_only_unfinished_tasks_and_drops_their_index() {
        let temp = TempDb::unmigrated("tasks-queue");
        {
            let conn = file_at_version(&temp, 6);
            conn.execute(
                "INSERT INTO instances (uuid, project_id, user_id, display_name, \
                 instance_type_id, flavor, vcpus, memory_mb, root_gb, vm_state, \
                 reservation_id, created_at) VALUES ('a', 'p', 'u', 'n', 1, '{}', 1, 512, 1, \
                 'building', 'r-1', '2026-01-01T00:00:00.000000')",
                [],
            )
            .unwrap();
            for state in ["done", "queued", "done", "running", "failed"] {
                conn.execute(
                    "INSERT INTO tasks (instance_uuid, kind, state, created_at, updated_at) \
                     VALUES ('a', 'build', ?1, '2026-01-01T00:00:00.000000', \
                     '2026-01-01T00:00:00.000000')",
                    [state],
                )
                .unwrap();
            }
        }
        migrate(&temp.config).unwrap();
        let conn = raw(&temp);
        let left: Vec<(i64, String)> = conn
            .prepare("SELECT id, state FROM tasks ORDER BY id")
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            left,
            [
                (2, "queued".to_owned()),
                (4, "running".to_owned()),
                (5, "failed".to_owned())
            ]
        );
        let indexes: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'tasks'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(indexes, 0);
        // A deleted task's id is never handed out again.
        conn.execute("DELETE FROM tasks WHERE id = 5", []).unwrap();
        conn.execute(
            "INSERT INTO tasks (instance_uuid, kind, created_at, updated_at) VALUES ('a', \
             'reboot', '2026-01-01T00:00:00.000000', '2026-01-01T00:00:00.000000')",
            [],
        )
        .unwrap();
        assert_eq!(conn.last_insert_rowid(), 6);
    }

    #[test]
    fn version_6_splits_the_usage_by_user() {
        let temp = TempDb::unmigrated("usage-by-user");
        {
            // A version 5 file: its triggers keep one row per project.
            let conn = file_at_version(&temp, 5);
            for (uuid, user, vcpus, ram, deleted) in [
                ("a", "u", 1, 512, 0),
                ("b", "w", 2, 2048, 0),
                ("c", "w", 4, 4096, 3),
                ("d", "u", 8, 8192, 0),
            ] {
                conn.execute(
                    "INSERT INTO instances (uuid, project_id, user_id, display_name, \
                     instance_type_id, flavor, vcpus, memory_mb, root_gb, vm_state, \
                     reservation_id, created_at, deleted) VALUES (?1, 'p', ?2, 'n', 1, '{}', \
                     ?3, ?4, 1, 'active', 'r-1', '2026-01-01T00:00:00.000000', ?5)",
                    rusqlite::params![uuid, user, vcpus, ram, deleted],
                )
                .unwrap();
            }
        }
        migrate(&temp.config).unwrap();
        let conn = raw(&temp);
        let rows = |conn: &Connection| -> Vec<(String, i64, i64, i64)> {
            conn.prepare("SELECT user_id, instances, cores, ram FROM instance_usage ORDER BY 1")
                .unwrap()
                .query_map([], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
                })
                .unwrap()
                .map(Result::unwrap)
                .collect()
        };
        assert_eq!(
            rows(&conn),
            [("u".to_owned(), 2, 9, 8704), ("w".to_owned(), 1, 2, 2048)]
        );
        // The new triggers follow a change of owner.
        conn.execute("UPDATE instances SET user_id = 'w' WHERE uuid = 'a'", [])
            .unwrap();
        assert_eq!(
            rows(&conn),
            [("u".to_owned(), 1, 8, 8192), ("w".to_owned(), 2, 3, 2560)]
        );
    }

    #[test]
    fn a_failed_migration_leaves_the_previous_version() {
        let temp = TempDb::unmigrated("failed");
        std::fs::create_dir_all(temp.config.path.parent().unwrap()).unwrap();
        // A table in the way of version 1.
        raw(&temp)
            .execute_batch("CREATE TABLE key_pairs (x)")
            .unwrap();
        assert!(matches!(
            migrate(&temp.config).unwrap_err(),
            DbError::Sqlite(_)
        ));
        let conn = raw(&temp);
        assert_eq!(version(&conn).unwrap(), 0);
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE name = 'flavors'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(tables, 0);
    }

    #[test]
    fn list_queries_use_the_indexes() {
        let temp = TempDb::new("plans");
        let conn = raw(&temp);
        let plan = |sql: &str| -> String {
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let rows = stmt.query_map([], |row| row.get::<_, String>(3)).unwrap();
            rows.map(Result::unwrap).collect::<Vec<_>>().join("; ")
        };
        let by_flavorid = plan("SELECT * FROM flavors WHERE flavorid = '1' AND deleted = 0");
        assert!(
            by_flavorid.contains("flavors_flavorid_live"),
            "{by_flavorid}"
        );
        let keypairs = plan("SELECT * FROM key_pairs WHERE user_id = 'u' ORDER BY name");
        assert!(
            keypairs.contains("USING INDEX") && !keypairs.contains("TEMP B-TREE"),
            "{keypairs}"
        );
    }
}
