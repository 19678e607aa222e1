//! Key pairs (table `key_pairs`): per user, unique by name, listed and paged by name.
//!
//! [`create_within_quota`] is the one write that reads first: it counts the user's key pairs,
//! resolves the `key_pairs` limit and inserts, all in one `BEGIN IMMEDIATE` transaction, so
//! two workers racing for the last slot cannot both win.

use std::fmt;

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{limit_value, opt_text, quotas, text};
use crate::db::{Conflict, Db, DbError};

/// The quota resource that limits key pairs.
pub const QUOTA_RESOURCE: &str = "key_pairs";

/// The columns every key pair query selects, in the order [`read`] expects.
macro_rules! columns {
    () => {
        "id, user_id, name, fingerprint, public_key, type, created_at, updated_at"
    };
}

/// Key pair `type` (≥ 2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyType {
    /// An SSH public key (the default).
    #[default]
    Ssh,
    /// An X.509 certificate.
    X509,
}

impl KeyType {
    /// The API and column value.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Ssh => "ssh",
            KeyType::X509 => "x509",
        }
    }

    /// Parses an API value.
    pub fn parse(text: &str) -> Option<KeyType> {
        match text {
            "ssh" => Some(KeyType::Ssh),
            "x509" => Some(KeyType::X509),
            _ => None,
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A key pair as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeypairRow {
    /// Internal id (`id` in the show body).
    pub id: i64,
    /// Owner.
    pub user_id: String,
    /// Name, unique per user.
    pub name: String,
    /// `aa:bb:…` fingerprint.
    pub fingerprint: String,
    /// The public key (or certificate) text.
    pub public_key: String,
    /// `type`.
    pub key_type: KeyType,
    /// Creation time, Nova's text form.
    pub created_at: String,
    /// Last update, if any.
    pub updated_at: Option<String>,
}

/// A key pair to store (the API computes the fingerprint).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewKeypair<'a> {
    /// Owner.
    pub user_id: &'a str,
    /// Name.
    pub name: &'a str,
    /// Fingerprint.
    pub fingerprint: &'a str,
    /// Public key text.
    pub public_key: &'a str,
    /// `type`.
    pub key_type: KeyType,
}

fn read(row: &Row<'_>) -> rusqlite::Result<KeypairRow> {
    let key_type = text(row, 5)?;
    Ok(KeypairRow {
        id: row.get(0)?,
        user_id: text(row, 1)?.to_owned(),
        name: text(row, 2)?.to_owned(),
        fingerprint: text(row, 3)?.to_owned(),
        public_key: text(row, 4)?.to_owned(),
        // The column's CHECK admits only the two values.
        key_type: KeyType::parse(key_type).unwrap_or_default(),
        created_at: text(row, 6)?.to_owned(),
        updated_at: opt_text(row, 7)?.map(str::to_owned),
    })
}

/// A user's key pairs by name: up to `limit` (all if `None`), starting after the key pair
/// named `marker` ([`DbError::MarkerNotFound`] if the user has none by that name).
pub fn list(
    db: &Db,
    user_id: &str,
    limit: Option<u32>,
    marker: Option<&str>,
) -> Result<Vec<KeypairRow>, DbError> {
    if let Some(name) = marker {
        if !exists(db.conn(), user_id, name)? {
            return Err(DbError::MarkerNotFound);
        }
    }
    let mut stmt = db.conn().prepare_cached(concat!(
        "SELECT ",
        columns!(),
        " FROM key_pairs WHERE user_id = ?1 AND (?2 IS NULL OR name > ?2) ORDER BY name LIMIT ?3"
    ))?;
    let rows = stmt.query_map(params![user_id, marker, limit_value(limit)], read)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One listed key pair, borrowed from the database row (the list fields only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeypairItem<'r> {
    /// Name.
    pub name: &'r str,
    /// `aa:bb:…` fingerprint.
    pub fingerprint: &'r str,
    /// The public key text.
    pub public_key: &'r str,
    /// `type`.
    pub key_type: KeyType,
}

/// [`list`] without copying: calls `each` with every key pair of the page, in name order, and
/// returns how many there were. The name of the last one is what a next-page marker needs.
pub fn list_each(
    db: &Db,
    user_id: &str,
    limit: Option<u32>,
    marker: Option<&str>,
    mut each: impl FnMut(KeypairItem<'_>),
) -> Result<usize, DbError> {
    if let Some(name) = marker {
        if !exists(db.conn(), user_id, name)? {
            return Err(DbError::MarkerNotFound);
        }
    }
    let mut stmt = db.conn().prepare_cached(
        "SELECT name, fingerprint, public_key, type FROM key_pairs \
         WHERE user_id = ?1 AND (?2 IS NULL OR name > ?2) ORDER BY name LIMIT ?3",
    )?;
    let mut rows = stmt.query(params![user_id, marker, limit_value(limit)])?;
    let mut count = 0;
    while let Some(row) = rows.next()? {
        each(KeypairItem {
            name: text(row, 0)?,
            fingerprint: text(row, 1)?,
            public_key: text(row, 2)?,
            key_type: KeyType::parse(text(row, 3)?).unwrap_or_default(),
        });
        count += 1;
    }
    Ok(count)
}

fn exists(conn: &Connection, user_id: &str, name: &str) -> Result<bool, DbError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM key_pairs WHERE user_id = ?1 AND name = ?2")?
        .query_row([user_id, name], |_| Ok(()))
        .optional()?
        .is_some())
}

/// The user's key pair with this name.
pub fn get(db: &Db, user_id: &str, name: &str) -> Result<KeypairRow, DbError> {
    db.conn()
        .prepare_cached(concat!(
            "SELECT ",
            columns!(),
            " FROM key_pairs WHERE user_id = ?1 AND name = ?2"
        ))?
        .query_row([user_id, name], read)
        .optional()?
        .ok_or(DbError::NotFound)
}

/// How many key pairs the user has.
pub fn count_for_user(db: &Db, user_id: &str) -> Result<i64, DbError> {
    count(db.conn(), user_id)
}

fn count(conn: &Connection, user_id: &str) -> Result<i64, DbError> {
    Ok(conn
        .prepare_cached("SELECT count(*) FROM key_pairs WHERE user_id = ?1")?
        .query_row([user_id], |row| row.get(0))?)
}

fn insert(conn: &Connection, new: &NewKeypair<'_>) -> Result<KeypairRow, DbError> {
    let inserted = conn
        .prepare_cached(concat!(
            "INSERT INTO key_pairs (user_id, name, fingerprint, public_key, type, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ",
            now_sql!(),
            ") ON CONFLICT (user_id, name) DO NOTHING RETURNING ",
            columns!()
        ))?
        .query_row(
            params![
                new.user_id,
                new.name,
                new.fingerprint,
                new.public_key,
                new.key_type.as_str()
            ],
            read,
        )
        .optional()?;
    inserted.ok_or(DbError::Conflict(Conflict::Keypair))
}

/// Stores a key pair without a quota check; `Conflict(Conflict::Keypair)` if the user already
/// has one by that name.
pub fn create(db: &Db, new: &NewKeypair<'_>) -> Result<KeypairRow, DbError> {
    db.write(|conn| insert(conn, new))
}

/// Stores a key pair if the user stays within the `key_pairs` quota, atomically.
///
/// In one `BEGIN IMMEDIATE` transaction: resolves the limit (the user's quota in
/// `project_id`, else the project's, else `default_limit`; `-1` is unlimited), counts the
/// user's key pairs, and inserts. A full quota is [`DbError::OverQuota`] (Nova answers 403
/// "Quota exceeded, too many key pairs."); a taken name is `Conflict(Conflict::Keypair)`.
/// Two workers racing for the last slot: one wins, the other gets `OverQuota`.
pub fn create_within_quota(
    db: &Db,
    project_id: &str,
    default_limit: i64,
    new: &NewKeypair<'_>,
) -> Result<KeypairRow, DbError> {
    db.write(|conn| {
        let limit = quotas::limit_in(conn, project_id, Some(new.user_id), QUOTA_RESOURCE)?
            .unwrap_or(default_limit);
        if limit >= 0 {
            let in_use = count(conn, new.user_id)?;
            if in_use >= limit {
                return Err(DbError::OverQuota {
                    resource: QUOTA_RESOURCE,
                    limit,
                    in_use,
                });
            }
        }
        insert(conn, new)
    })
}

/// Whether the user's key pairs already fill the `key_pairs` limit (the check of
/// [`create_within_quota`], read only: it decides which error a request that fails twice
/// gets, never whether a key pair is stored).
pub fn quota_full(
    db: &Db,
    project_id: &str,
    default_limit: i64,
    user_id: &str,
) -> Result<bool, DbError> {
    let limit = quotas::limit_in(db.conn(), project_id, Some(user_id), QUOTA_RESOURCE)?
        .unwrap_or(default_limit);
    Ok(limit >= 0 && count(db.conn(), user_id)? >= limit)
}

/// Deletes the user's key pair with this name.
pub fn delete(db: &Db, user_id: &str, name: &str) -> Result<(), DbError> {
    let deleted = db.write_one(
        "DELETE FROM key_pairs WHERE user_id = ?1 AND name = ?2",
        [user_id, name],
    )?;
    if deleted == 0 {
        return Err(DbError::NotFound);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::{
        sync::{Arc, Barrier},
        thread,
    };

    use super::*;
    use crate::db::temp::TempDb;

    fn key<'a>(user_id: &'a str, name: &'a str) -> NewKeypair<'a> {
        NewKeypair {
            user_id,
            name,
            fingerprint: "44:fe:29:6e:23:14:b9:53:5b:65:82:58:1c:fe:5a:c3",
            public_key: "ssh-rsa AAAAB3NzaC1yc2E test",
            key_type: KeyType::Ssh,
        }
    }

    fn names(rows: &[KeypairRow]) -> Vec<&str> {
        rows.iter().map(|k| k.name.as_str()).collect()
    }

    #[test]
    fn create_get_list_delete() {
        let temp = TempDb::new("keypairs-crud");
        let db = temp.open();
        let created = create(
            &db,
            &NewKeypair {
                key_type: KeyType::X509,
                ..key("alice", "k1")
            },
        )
        .unwrap();
        assert_eq!(created.key_type, KeyType::X509);
        assert_eq!(created.user_id, "alice");
        assert!(created.updated_at.is_none());
        assert_eq!(get(&db, "alice", "k1").unwrap(), created);
        assert!(matches!(get(&db, "bob", "k1"), Err(DbError::NotFound)));
        assert!(matches!(
            create(&db, &key("alice", "k1")),
            Err(DbError::Conflict(Conflict::Keypair))
        ));
        // Same name, other user: fine.
        create(&db, &key("bob", "k1")).unwrap();
        assert_eq!(count_for_user(&db, "alice").unwrap(), 1);
        delete(&db, "alice", "k1").unwrap();
        assert!(matches!(delete(&db, "alice", "k1"), Err(DbError::NotFound)));
        assert_eq!(count_for_user(&db, "alice").unwrap(), 0);
        assert_eq!(count_for_user(&db, "bob").unwrap(), 1);
    }

    #[test]
    fn paging_by_name() {
        let temp = TempDb::new("keypairs-paging");
        let db = temp.open();
        for name in ["delta", "alpha", "echo", "charlie", "bravo"] {
            create(&db, &key("u", name)).unwrap();
        }
        create(&db, &key("other", "aardvark")).unwrap();
        let all = list(&db, "u", None, None).unwrap();
        assert_eq!(names(&all), ["alpha", "bravo", "charlie", "delta", "echo"]);
        assert_eq!(
            names(&list(&db, "u", Some(2), None).unwrap()),
            ["alpha", "bravo"]
        );
        assert_eq!(
            names(&list(&db, "u", Some(2), Some("bravo")).unwrap()),
            ["charlie", "delta"]
        );
        assert!(list(&db, "u", Some(2), Some("echo")).unwrap().is_empty());
        assert!(matches!(
            list(&db, "u", Some(2), Some("aardvark")),
            Err(DbError::MarkerNotFound)
        ));
    }

    #[test]
    fn list_each_borrows_the_same_page() {
        let temp = TempDb::new("keypairs-each");
        let db = temp.open();
        for name in ["b", "a", "c"] {
            create(&db, &key("u", name)).unwrap();
        }
        let mut seen = Vec::new();
        let count = list_each(&db, "u", Some(2), Some("a"), |item| {
            seen.push((item.name.to_owned(), item.key_type));
        })
        .unwrap();
        assert_eq!(count, 2);
        assert_eq!(
            seen,
            [
                ("b".to_owned(), KeyType::Ssh),
                ("c".to_owned(), KeyType::Ssh)
            ]
        );
        assert!(matches!(
            list_each(&db, "u", None, Some("zz"), |_| {}),
            Err(DbError::MarkerNotFound)
        ));
    }

    #[test]
    fn list_statement_stays_compiled() {
        let temp = TempDb::new("keypairs-reprepare");
        let db = temp.open();
        create(&db, &key("u", "a")).unwrap();
        for limit in 1..=5 {
            list(&db, "u", Some(limit), None).unwrap();
            list(&db, "u", None, Some("a")).unwrap();
        }
        let stmt = db
            .conn()
            .prepare_cached(concat!(
                "SELECT ",
                columns!(),
                " FROM key_pairs WHERE user_id = ?1 AND (?2 IS NULL OR name > ?2) ORDER BY name LIMIT ?3"
            ))
            .unwrap();
        assert_eq!(stmt.get_status(rusqlite::StatementStatus::Run), 10);
        assert_eq!(stmt.get_status(rusqlite::StatementStatus::RePrepare), 0);
    }

    #[test]
    fn quota_limits_resolve_user_then_project_then_default() {
        let temp = TempDb::new("keypairs-quota");
        let db = temp.open();
        create_within_quota(&db, "p", 1, &key("u", "a")).unwrap();
        let over = create_within_quota(&db, "p", 1, &key("u", "b")).unwrap_err();
        assert!(
            matches!(
                over,
                DbError::OverQuota {
                    resource: "key_pairs",
                    limit: 1,
                    in_use: 1
                }
            ),
            "{over}"
        );
        assert!(quota_full(&db, "p", 1, "u").unwrap());
        assert!(!quota_full(&db, "p", 2, "u").unwrap());
        quotas::set_project(&db, "p", &[(QUOTA_RESOURCE, 2)]).unwrap();
        create_within_quota(&db, "p", 1, &key("u", "b")).unwrap();
        assert!(matches!(
            create_within_quota(&db, "p", 1, &key("u", "c")),
            Err(DbError::OverQuota { limit: 2, .. })
        ));
        quotas::set_user(&db, "p", "u", &[(QUOTA_RESOURCE, -1)]).unwrap();
        create_within_quota(&db, "p", 1, &key("u", "c")).unwrap();
        // A taken name is a conflict, not a quota failure.
        assert!(matches!(
            create_within_quota(&db, "p", 1, &key("u", "c")),
            Err(DbError::Conflict(Conflict::Keypair))
        ));
        assert_eq!(count_for_user(&db, "u").unwrap(), 3);
        assert!(db.conn().is_autocommit());
    }

    /// Two workers (two connections, two threads, one file) race for a user's last key pair
    /// slot, round after round: exactly one wins each round. Half the rounds run as two
    /// processes would (each connection with its own writer queue), where only SQLite's
    /// `BEGIN IMMEDIATE` lock keeps the count and the insert together.
    #[test]
    fn two_workers_racing_for_the_last_slot() {
        const ROUNDS: usize = 200;
        let temp = TempDb::new("keypairs-race");
        let barrier = Arc::new(Barrier::new(2));
        let racers: Vec<_> = ["left", "right"]
            .into_iter()
            .map(|side| {
                let config = temp.config.clone();
                let barrier = Arc::clone(&barrier);
                thread::spawn(move || {
                    let same_process = Db::open(&config).unwrap();
                    let other_process = Db::open_as_other_process(&config).unwrap();
                    let mut outcomes = Vec::with_capacity(ROUNDS);
                    for round in 0..ROUNDS {
                        let db = if round % 2 == 0 {
                            &same_process
                        } else {
                            &other_process
                        };
                        let user = format!("user-{round}");
                        barrier.wait();
                        let outcome = create_within_quota(db, "p", 1, &key(&user, side));
                        outcomes.push(match outcome {
                            Ok(_) => true,
                            Err(DbError::OverQuota { .. }) => false,
                            Err(other) => panic!("round {round}: {other}"),
                        });
                    }
                    outcomes
                })
            })
            .collect();
        let [left, right]: [Vec<bool>; 2] = racers
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect::<Vec<_>>()
            .try_into()
            .unwrap();
        let db = temp.open();
        for (round, (left_won, right_won)) in left.iter().zip(&right).enumerate() {
            assert!(
                left_won ^ right_won,
                "round {round}: left {left_won} right {right_won}"
            );
            assert_eq!(count_for_user(&db, &format!("user-{round}")).unwrap(), 1);
        }
        assert_eq!(left.len(), ROUNDS);
        let left_wins = left.iter().filter(|won| **won).count();
        println!("left won {left_wins} of {ROUNDS} rounds");
    }
}
