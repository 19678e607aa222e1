//! The built-in identity service of `[api] auth_strategy = token`: a Keystone-v3-compatible
//! endpoint (discovery, `POST/GET/HEAD/DELETE /v3/auth/tokens`) on the compute listener, the
//! users, projects and role assignments it authenticates against, and the signed tokens the
//! compute pipeline's `ringnova_authtoken` filter checks on every request.
//!
//! Threads: one [`Identity`] per process, shared by every core worker (through the compiled
//! paste pipeline). Its mutable state — the key ring and the revocation list — is an
//! immutable [`Snapshot`] behind an `RwLock<Arc<…>>` with a generation counter; each worker
//! thread keeps its own `Arc` of the current snapshot and only takes the lock when the
//! generation moves (a revocation or a key rotation). Verification therefore costs one atomic
//! load, an HMAC-SHA256 of the token text and a hash lookup, and reads no database. A revoke
//! on one worker bumps the generation before its response is sent, so every worker refuses
//! the token from its next request on. A reload thread picks up what other processes change
//! (`ringnova user …`, `ringnova token rotate-key`) within [`RELOAD_INTERVAL`].
//!
//! It must never log a password, a token or a key, and never read the database on the auth
//! filter's path.

pub mod api;
pub mod bootstrap;
pub mod cli;
pub mod filter;
pub mod keys;
pub mod password;
pub mod store;
pub mod token;

use std::{
    cell::RefCell,
    collections::{HashMap, HashSet},
    fmt,
    path::PathBuf,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, PoisonError, RwLock,
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use crate::{
    config::{Config, IdentityConfig},
    db::{Db, DbConfig, DbError},
};
use keys::KeyRing;
use store::Revocation;
use token::{Claims, TokenError};

/// How often the reload thread looks for revocations and key rotations made by other
/// processes.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// The URL-map prefix the shipped `api-paste.ini` serves the identity endpoint under.
pub const DEFAULT_PREFIX: &str = "/identity";

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// An identity error.
#[derive(Debug)]
pub enum IdentityError {
    /// A file could not be read or written.
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The key file is malformed.
    KeyFile {
        /// The file.
        path: PathBuf,
        /// 1-based line (0: the whole file).
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The bootstrap file is malformed.
    Bootstrap {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The database failed.
    Db(DbError),
    /// Password hashing failed.
    Hash(String),
    /// A name that cannot be used.
    InvalidName(String),
    /// Something that must not exist already does.
    Exists(String),
    /// Something that must exist does not.
    NotFound(String),
}

impl fmt::Display for IdentityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdentityError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            IdentityError::KeyFile { path, line, reason } => {
                write!(f, "token key file {}:{line}: {reason}", path.display())
            }
            IdentityError::Bootstrap { path, line, reason } => {
                write!(f, "bootstrap file {}:{line}: {reason}", path.display())
            }
            IdentityError::Db(err) => write!(f, "database: {err}"),
            IdentityError::Hash(err) => write!(f, "password hashing: {err}"),
            IdentityError::InvalidName(name) => write!(
                f,
                "invalid name {name:?} (letters, digits, '-', '_'; '.' and '@' too except in role names)"
            ),
            IdentityError::Exists(what) => write!(f, "{what} already exists"),
            IdentityError::NotFound(what) => write!(f, "no such {what}"),
        }
    }
}

impl std::error::Error for IdentityError {}

impl From<DbError> for IdentityError {
    fn from(err: DbError) -> Self {
        IdentityError::Db(err)
    }
}

/// The key ring and revocation list in force; replaced, never changed.
#[derive(Debug, Default)]
pub struct Snapshot {
    keys: KeyRing,
    /// Revoked audit ids.
    audit_ids: HashSet<Box<str>, ahash::RandomState>,
    /// Users whose tokens issued at or before the instant (ms) are revoked.
    users: HashMap<Box<str>, u64, ahash::RandomState>,
    /// The last revocation event read from the database.
    last_event: i64,
    /// Modification time and length of the key file when it was read.
    key_stamp: Option<(SystemTime, u64)>,
}

impl Snapshot {
    /// Whether the token is revoked.
    #[inline]
    fn is_revoked(&self, claims: &Claims<'_>) -> bool {
        (!self.audit_ids.is_empty() && self.audit_ids.contains(claims.audit_id))
            || (!self.users.is_empty()
                && self
                    .users
                    .get(claims.user_id)
                    .is_some_and(|&before| claims.issued_ms <= before))
    }

    fn with_events(&self, events: &[Revocation]) -> Snapshot {
        let mut next = Snapshot {
            keys: self.keys.clone(),
            audit_ids: self.audit_ids.clone(),
            users: self.users.clone(),
            last_event: self.last_event,
            key_stamp: self.key_stamp,
        };
        for event in events {
            match event {
                Revocation::Audit(audit) => {
                    next.audit_ids.insert(audit.as_str().into());
                }
                Revocation::User {
                    user_id,
                    issued_before_ms,
                } => {
                    let entry = next.users.entry(user_id.as_str().into()).or_insert(0);
                    *entry = (*entry).max(*issued_before_ms);
                }
            }
        }
        next
    }
}

/// A token just issued.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The token text (`X-Subject-Token`).
    pub token: String,
    /// Issued at, ms.
    pub issued_ms: u64,
    /// Expires at, ms.
    pub expires_ms: u64,
    /// Its audit id.
    pub audit_id: String,
}

static INSTANCES: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// This thread's copy of the current snapshot: (instance, generation, snapshot).
    static CURRENT: RefCell<Option<(u64, u64, Arc<Snapshot>)>> = const { RefCell::new(None) };
}

/// The identity service's shared state. See the module documentation.
#[derive(Debug)]
pub struct Identity {
    instance: u64,
    /// `[identity]` settings.
    pub config: IdentityConfig,
    generation: AtomicU64,
    current: RwLock<Arc<Snapshot>>,
    started: AtomicBool,
}

impl Identity {
    /// An identity service that refuses every token until [`start`](Self::start) loads its
    /// keys.
    pub fn new(config: &IdentityConfig) -> Identity {
        Identity {
            instance: INSTANCES.fetch_add(1, Ordering::Relaxed),
            config: config.clone(),
            generation: AtomicU64::new(0),
            current: RwLock::new(Arc::new(Snapshot::default())),
            started: AtomicBool::new(false),
        }
    }

    /// Whether [`start`](Self::start) has run.
    pub fn is_started(&self) -> bool {
        self.started.load(Ordering::Acquire)
    }

    /// Start-up, on the main thread after the migrations: loads (or creates) the key ring,
    /// applies the bootstrap, loads the revocation list. Returns what the bootstrap did.
    pub fn start(&self, config: &Config) -> Result<bootstrap::Applied, IdentityError> {
        let ring = KeyRing::load_or_create(&self.config.key_file)?;
        let db = Db::open(&config.database)?;
        let applied = bootstrap::run(self.config.bootstrap_file.as_deref(), &db)?;
        let now = now_ms();
        store::prune_revocations(&db, now)?;
        let (events, last) = store::revocations_since(db.conn(), 0, now)?;
        let mut snapshot = Snapshot {
            keys: ring,
            last_event: last,
            key_stamp: key_stamp(&self.config.key_file),
            ..Snapshot::default()
        }
        .with_events(&events);
        snapshot.last_event = last;
        self.publish(snapshot);
        self.started.store(true, Ordering::Release);
        Ok(applied)
    }

    /// Starts the thread that reloads revocations and the key ring changed by other
    /// processes, every [`RELOAD_INTERVAL`].
    pub fn spawn_reloader(self: &Arc<Self>, database: DbConfig) -> std::io::Result<()> {
        let identity = Arc::clone(self);
        std::thread::Builder::new()
            .name("identity-reload".into())
            .spawn(move || {
                let db = match Db::open(&database) {
                    Ok(db) => db,
                    Err(err) => {
                        log::error!("identity reload: cannot open the database: {err}");
                        return;
                    }
                };
                loop {
                    std::thread::sleep(RELOAD_INTERVAL);
                    if let Err(err) = identity.reload(&db) {
                        log::warn!("identity reload: {err}");
                    }
                }
            })
            .map(drop)
    }

    /// Reads new revocation events and, if the key file changed, the key ring.
    pub fn reload(&self, db: &Db) -> Result<(), IdentityError> {
        let current = self.snapshot();
        let (events, last) = store::revocations_since(db.conn(), current.last_event, now_ms())?;
        let stamp = key_stamp(&self.config.key_file);
        let keys_changed = stamp != current.key_stamp;
        if events.is_empty() && !keys_changed && last == current.last_event {
            return Ok(());
        }
        let mut guard = self.current.write().unwrap_or_else(PoisonError::into_inner);
        let mut next = guard.with_events(&events);
        next.last_event = next.last_event.max(last);
        if keys_changed {
            match KeyRing::load(&self.config.key_file) {
                Ok(ring) => {
                    log::info!(
                        "token key ring reloaded: keys {:?}",
                        ring.ids().collect::<Vec<_>>()
                    );
                    next.keys = ring;
                    next.key_stamp = stamp;
                }
                Err(err) => log::warn!("token key ring not reloaded: {err}"),
            }
        }
        *guard = Arc::new(next);
        self.generation.fetch_add(1, Ordering::Release);
        Ok(())
    }

    fn publish(&self, snapshot: Snapshot) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(snapshot);
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// The current snapshot (cloning the `Arc`; off the hot path).
    fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Runs `f` on this thread's copy of the current snapshot, refreshing it when the
    /// generation moved.
    #[inline]
    fn with_snapshot<R>(&self, f: impl FnOnce(&Snapshot) -> R) -> R {
        let generation = self.generation.load(Ordering::Acquire);
        CURRENT.with(|cell| {
            let mut cached = cell.borrow_mut();
            let fresh =
                matches!(&*cached, Some((i, g, _)) if *i == self.instance && *g == generation);
            if !fresh {
                *cached = Some((self.instance, generation, self.snapshot()));
            }
            let (_, _, snapshot) = cached.as_ref().expect("just filled");
            f(snapshot)
        })
    }

    /// Verifies a token: shape, key, signature, expiry and revocation. Allocates nothing and
    /// reads no database.
    #[inline]
    pub fn verify<'a>(&self, text: &'a str) -> Result<Claims<'a>, TokenError> {
        let now = now_ms();
        self.with_snapshot(|snapshot| {
            let claims = token::verify(&snapshot.keys, text, now)?;
            if snapshot.is_revoked(&claims) {
                return Err(TokenError::Revoked);
            }
            Ok(claims)
        })
    }

    /// Signs a new token. `expires_ms` caps the expiry (a rescoped token keeps its
    /// original's); `roles` are the expanded role names.
    pub fn issue(
        &self,
        user_id: &str,
        project_id: Option<&str>,
        roles: &[String],
        expires_ms: Option<u64>,
        audit_id: Option<&str>,
    ) -> Option<Issued> {
        let issued_ms = now_ms();
        let lifetime = self.config.token_expiration.as_millis() as u64;
        let expires_ms =
            expires_ms.map_or(issued_ms + lifetime, |cap| cap.min(issued_ms + lifetime));
        let audit_id = audit_id.map_or_else(token::new_audit_id, str::to_owned);
        let joined = roles.join("~");
        let token = self.with_snapshot(|snapshot| {
            let key = snapshot.keys.primary()?;
            Some(token::sign(
                key,
                &Claims {
                    key_id: key.id,
                    issued_ms,
                    expires_ms,
                    audit_id: &audit_id,
                    user_id,
                    project_id,
                    roles: &joined,
                },
            ))
        })?;
        Some(Issued {
            token,
            issued_ms,
            expires_ms,
            audit_id,
        })
    }

    /// Revokes a token: persists the event, then publishes it to every worker before
    /// returning.
    pub fn revoke(&self, db: &Db, claims: &Claims<'_>) -> Result<(), DbError> {
        store::revoke_audit_id(db, claims.audit_id, claims.expires_ms)?;
        let mut guard = self.current.write().unwrap_or_else(PoisonError::into_inner);
        // last_event stays: the reload thread reads this event again (harmlessly) and never
        // skips one another process wrote meanwhile.
        let next = guard.with_events(&[Revocation::Audit(claims.audit_id.to_owned())]);
        *guard = Arc::new(next);
        self.generation.fetch_add(1, Ordering::Release);
        Ok(())
    }

    /// When a user revocation written now stops mattering: after the longest token lifetime.
    pub fn user_revocation_expiry(&self) -> u64 {
        now_ms() + self.config.token_expiration.as_millis() as u64
    }
}

/// The identity service a compiled pipeline verifies tokens with: the one behind a
/// `ringnova_authtoken` filter, if any chain has one. Only then does the server start it
/// (key ring, bootstrap, reload thread); otherwise the identity endpoint answers 404.
pub fn find_verifier(pipeline: &crate::middleware::Pipeline) -> Option<Arc<Identity>> {
    pipeline.chains().iter().find_map(|chain| {
        chain.filters.iter().find_map(|filter| match filter {
            crate::middleware::Filter::AuthToken(identity) => Some(Arc::clone(identity)),
            _ => None,
        })
    })
}

/// Server start-up for the `token` strategy (main thread, after the migrations): starts the
/// pipeline's identity service, if it has one, and its reload thread. Returns the generated
/// admin password when the default admin was just created (for the caller to print once).
pub fn start_for(
    pipeline: &crate::middleware::Pipeline,
    config: &Config,
) -> Result<Option<String>, IdentityError> {
    let Some(identity) = find_verifier(pipeline) else {
        return Ok(None);
    };
    let applied = identity.start(config)?;
    for name in &applied.users_created {
        log::info!("identity bootstrap: created user {name}");
    }
    identity
        .spawn_reloader(config.database.clone())
        .map_err(|source| IdentityError::Io {
            path: "identity-reload thread".into(),
            source,
        })?;
    Ok(applied.generated_admin_password)
}

fn key_stamp(path: &std::path::Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Overrides;

    fn setup(tag: &str) -> (Config, PathBuf) {
        let dir =
            std::env::temp_dir().join(format!("ringnova-identity-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let config = Config::from_text(
            "[identity]\ntoken_expiration = 60\n",
            None,
            &Overrides {
                data_dir: Some(dir.clone()),
                ..Overrides::default()
            },
        )
        .unwrap();
        crate::db::migrate(&config.database).unwrap();
        (config, dir)
    }

    #[test]
    fn issue_verify_revoke_and_reload() {
        let (config, dir) = setup("ivr");
        let identity = Identity::new(&config.identity);
        assert!(identity.issue("u", None, &[], None, None).is_none());
        let applied = identity.start(&config).unwrap();
        let admin_pw = applied.generated_admin_password.unwrap();
        let db = Db::open(&config.database).unwrap();
        let admin = store::user_by_name(db.conn(), "admin").unwrap().unwrap();
        assert!(password::verify(&admin_pw, &admin.password_hash));
        let roles = vec!["admin".to_owned(), "member".to_owned()];
        let issued = identity
            .issue(&admin.id, Some("p"), &roles, None, None)
            .unwrap();
        let claims = identity.verify(&issued.token).unwrap();
        assert_eq!(claims.roles, "admin~member");
        assert_eq!(issued.expires_ms - issued.issued_ms, 60_000);
        identity.revoke(&db, &claims).unwrap();
        assert_eq!(identity.verify(&issued.token), Err(TokenError::Revoked));
        // Another process changes the user's password: picked up by reload.
        let second = identity
            .issue(&admin.id, Some("p"), &roles, None, None)
            .unwrap();
        assert!(identity.verify(&second.token).is_ok());
        std::thread::sleep(Duration::from_millis(2));
        store::set_password(&db, &admin.id, "x", identity.user_revocation_expiry()).unwrap();
        assert!(identity.verify(&second.token).is_ok());
        identity.reload(&db).unwrap();
        assert_eq!(identity.verify(&second.token), Err(TokenError::Revoked));
        // A restarted service still knows both revocations, and rotation keeps old keys.
        std::thread::sleep(Duration::from_millis(2));
        let third = identity
            .issue(&admin.id, Some("p"), &roles, None, None)
            .unwrap();
        keys::rotate(&config.identity.key_file, 3).unwrap();
        let restarted = Identity::new(&config.identity);
        restarted.start(&config).unwrap();
        assert_eq!(restarted.verify(&issued.token), Err(TokenError::Revoked));
        assert_eq!(restarted.verify(&second.token), Err(TokenError::Revoked));
        assert_eq!(restarted.verify(&third.token).unwrap().key_id, 1);
        let fourth = restarted.issue(&admin.id, None, &[], None, None).unwrap();
        assert_eq!(restarted.verify(&fourth.token).unwrap().key_id, 2);
        assert_eq!(identity.verify(&fourth.token), Err(TokenError::UnknownKey));
        identity.reload(&db).unwrap();
        assert_eq!(identity.verify(&fourth.token).unwrap().key_id, 2);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
