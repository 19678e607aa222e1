//! Policy reload: the current rule set, republished when the policy files change.
//!
//! Three parties, and who does what:
//!
//! * The **watcher thread** ([`LivePolicy::watch`]) stats the files once a
//!   [`CHECK_INTERVAL`], and when their [`Fingerprint`] changed, reads and compiles them
//!   into a new [`Enforcer`] *off the request path*, then publishes it: it stores the
//!   `Arc` under a mutex and bumps an atomic generation. A file that does not load is
//!   logged and the last good rules stay.
//! * Each **core worker** holds a [`WorkerPolicy`]: its own `Arc` of the current rules
//!   and the generation it saw. Per check it does one relaxed atomic load; only when the
//!   generation moved (at most once per interval) does it take the mutex, once, to pick
//!   the new `Arc` up. Checks never lock, never clone an `Arc` and never allocate.
//! * **SIGHUP** ([`LivePolicy::reload_now`]) re-reads the files at once, whether or not
//!   their fingerprint moved, with the same all-or-nothing rule.
//! * **Start-up** ([`LivePolicy::load`]) reads the files on the main thread; a file that
//!   does not load is an error there, and the server refuses to start (an operator who
//!   wrote a policy file meant it; silently serving the defaults would be worse).
//!
//! This module must never block a request on file I/O or on compilation, and never
//! publish a rule set that did not load completely.

use std::{
    cell::{Cell, RefCell},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, Weak,
    },
    thread::JoinHandle,
    time::Duration,
};

use super::{
    files::{Fingerprint, Loaded, PolicyFiles},
    AuthorizeError, Credentials, Enforcer, PolicyFileError, Target,
};

/// How often the watcher looks at the files.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// The published rules, shared by every worker and the watcher.
#[derive(Debug)]
pub struct LivePolicy {
    /// Bumped after each publish; workers compare it with what they saw.
    generation: AtomicU64,
    current: Mutex<Arc<Enforcer>>,
    /// `None` for fixed rules that never reload.
    files: Option<PolicyFiles>,
    /// What the files looked like when `current` was last (re)loaded or refused.
    seen: Mutex<Fingerprint>,
}

/// What one look at the files found.
#[derive(Debug, PartialEq, Eq)]
pub enum Reload {
    /// Nothing changed (or there are no files to watch).
    Unchanged,
    /// The files changed and the new rules are published.
    Published {
        /// The new generation.
        generation: u64,
    },
    /// The files changed but did not load; the last good rules stay.
    Refused(String),
}

impl LivePolicy {
    /// Rules that never change (tests, and servers started without policy files).
    pub fn fixed(enforcer: Enforcer) -> Arc<LivePolicy> {
        Arc::new(LivePolicy {
            generation: AtomicU64::new(0),
            current: Mutex::new(Arc::new(enforcer)),
            files: None,
            seen: Mutex::new(Fingerprint::default()),
        })
    }

    /// Reads and compiles the files for start-up, logging what an operator should know
    /// (a missing file is a debug line). Fails when a file cannot be read or parsed.
    pub fn load(files: PolicyFiles) -> Result<Arc<LivePolicy>, PolicyFileError> {
        let seen = files.fingerprint();
        let loaded = files.load()?;
        report(&files, &loaded);
        Ok(Arc::new(LivePolicy {
            generation: AtomicU64::new(0),
            current: Mutex::new(Arc::new(loaded.enforcer)),
            files: Some(files),
            seen: Mutex::new(seen),
        }))
    }

    /// The current generation (0 at start-up).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The current rules and their generation.
    pub fn current(&self) -> (u64, Arc<Enforcer>) {
        let current = lock(&self.current);
        (self.generation(), Arc::clone(&current))
    }

    /// Looks at the files once and reloads them if they changed. The watcher calls this
    /// every [`CHECK_INTERVAL`]; tests may call it directly.
    pub fn reload_if_changed(&self) -> Reload {
        self.reload(false)
    }

    /// Re-reads the files now, changed or not (SIGHUP): a file rewritten within the
    /// fingerprint's resolution is picked up too. Publishes unless they fail to load.
    pub fn reload_now(&self) -> Reload {
        self.reload(true)
    }

    fn reload(&self, force: bool) -> Reload {
        let Some(files) = &self.files else {
            return Reload::Unchanged;
        };
        let now = files.fingerprint();
        {
            let mut seen = lock(&self.seen);
            if *seen == now && !force {
                return Reload::Unchanged;
            }
            *seen = now;
        }
        match files.load() {
            Ok(loaded) => {
                report(files, &loaded);
                let mut current = lock(&self.current);
                *current = Arc::new(loaded.enforcer);
                let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
                drop(current);
                log::info!(
                    "policy reloaded (generation {generation}) from {}",
                    describe(&loaded.sources)
                );
                Reload::Published { generation }
            }
            Err(err) => {
                log::error!("policy not reloaded, the previous rules stay in force: {err}");
                Reload::Refused(err.to_string())
            }
        }
    }

    /// Starts the watcher thread. It stops once every other `Arc` of this policy is
    /// gone (within one interval).
    pub fn watch(self: &Arc<Self>, interval: Duration) -> std::io::Result<JoinHandle<()>> {
        let weak: Weak<LivePolicy> = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("ringnova-policy".into())
            .spawn(move || loop {
                std::thread::sleep(interval);
                let Some(live) = weak.upgrade() else { return };
                live.reload_if_changed();
            })
    }
}

/// Logs what loading found.
fn report(files: &PolicyFiles, loaded: &Loaded) {
    if loaded.sources.is_empty() {
        log::debug!(
            "no policy file at {} (nor in the policy directories); Nova's defaults apply",
            files.policy_file.display()
        );
    }
    for note in &loaded.notes {
        log::warn!("{note}");
    }
}

fn describe(sources: &[std::path::PathBuf]) -> String {
    if sources.is_empty() {
        return "the defaults (no policy files)".into();
    }
    sources
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A poisoned lock still holds a complete `Arc` (the value is only ever replaced
/// whole), so it is used as is.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One core worker's view of the published rules (`!Sync`: it lives on the worker).
#[derive(Debug)]
pub struct WorkerPolicy {
    live: Arc<LivePolicy>,
    seen: Cell<u64>,
    current: RefCell<Arc<Enforcer>>,
}

impl WorkerPolicy {
    /// A view starting at the current rules.
    pub fn new(live: Arc<LivePolicy>) -> WorkerPolicy {
        let (seen, current) = live.current();
        WorkerPolicy {
            live,
            seen: Cell::new(seen),
            current: RefCell::new(current),
        }
    }

    /// Takes up newly published rules, if any: one atomic load when there are none.
    #[inline]
    pub fn refresh(&self) {
        if self.live.generation() != self.seen.get() {
            let (seen, current) = self.live.current();
            self.seen.set(seen);
            *self.current.borrow_mut() = current;
        }
    }

    /// [`Enforcer::authorize`] against the current rules.
    pub fn authorize<'r>(
        &self,
        rule: &'r str,
        creds: &Credentials<'_>,
        target: &Target<'_>,
    ) -> Result<(), AuthorizeError<'r>> {
        self.refresh();
        self.current.borrow().authorize(rule, creds, target)
    }

    /// [`Enforcer::enforce`] against the current rules (oslo's boolean `enforce()`).
    pub fn enforce(&self, rule: &str, creds: &Credentials<'_>, target: &Target<'_>) -> bool {
        self.refresh();
        self.current.borrow().enforce(rule, creds, target)
    }

    /// The current rules (a clone of the `Arc`; for tools and tests, not per request).
    pub fn enforcer(&self) -> Arc<Enforcer> {
        self.refresh();
        Arc::clone(&self.current.borrow())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_pick_up_reloads_and_keep_the_last_good_rules() {
        let dir = std::env::temp_dir().join(format!("ringnova-policy-live-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let files = PolicyFiles {
            policy_file: dir.join("policy.yaml"),
            policy_dirs: vec![dir.join("policy.d")],
            ..PolicyFiles::default()
        };
        let live = LivePolicy::load(files).unwrap();
        let worker = WorkerPolicy::new(Arc::clone(&live));
        let member = Credentials::new()
            .with_user_id("u1")
            .with_project_id("p1")
            .with_roles(["member", "reader"]);
        let own = Target::from_pairs(&[("project_id", "p1"), ("user_id", "u1")]);
        const INDEX: &str = "os_compute_api:os-keypairs:index";
        assert!(worker.authorize(INDEX, &member, &own).is_ok());
        assert_eq!(live.reload_if_changed(), Reload::Unchanged);

        std::fs::write(dir.join("policy.yaml"), format!("\"{INDEX}\": \"!\"\n")).unwrap();
        assert_eq!(
            live.reload_if_changed(),
            Reload::Published { generation: 1 }
        );
        assert!(worker.authorize(INDEX, &member, &own).is_err());

        std::fs::write(dir.join("policy.yaml"), "broken: [\n").unwrap();
        assert!(
            matches!(live.reload_if_changed(), Reload::Refused(why) if why.contains("policy.yaml:"))
        );
        assert_eq!(live.generation(), 1);
        assert!(worker.authorize(INDEX, &member, &own).is_err());
        // The same broken file is not re-read every second.
        assert_eq!(live.reload_if_changed(), Reload::Unchanged);

        std::fs::remove_file(dir.join("policy.yaml")).unwrap();
        assert_eq!(
            live.reload_if_changed(),
            Reload::Published { generation: 2 }
        );
        assert!(worker.authorize(INDEX, &member, &own).is_ok());
        // A forced re-read publishes even when nothing moved.
        assert_eq!(live.reload_if_changed(), Reload::Unchanged);
        assert_eq!(live.reload_now(), Reload::Published { generation: 3 });
        assert!(worker.authorize(INDEX, &member, &own).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_watcher_stops_with_the_policy() {
        let live = LivePolicy::fixed(Enforcer::new());
        let handle = live.watch(Duration::from_millis(10)).unwrap();
        drop(live);
        handle.join().unwrap();
    }
}
