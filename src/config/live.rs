//! The configuration in force: published once at start-up and again by each successful
//! SIGHUP reload, read by every core worker without locking.
//!
//! Two parties, as for the policy rules (`policy::live`):
//!
//! * The **main thread** builds a complete, validated [`Config`] (see [`super::reload`]) and
//!   [`LiveConfig::publish`]es it: it stores the `Arc` under a mutex and bumps an atomic
//!   generation. Nothing half-built is ever visible.
//! * Each **core worker** holds a [`ConfigView`]: its own copy of the configuration and the
//!   generation it saw (the orchestration thread's fake driver does the same with the
//!   `[fake_driver]` part). [`ConfigView::refresh`] is one
//!   acquire load while nothing changed; only after a publish does it take the mutex, once,
//!   to pick the new configuration up. Reads never lock and never allocate.
//!
//! This module must never publish a configuration that did not validate completely, and
//! never make a reader wait on file I/O.

use std::{
    cell::{Cell, Ref, RefCell},
    rc::Rc,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, PoisonError,
    },
};

use super::Config;

/// The published configuration, shared by the main thread and every reader.
#[derive(Debug)]
pub struct LiveConfig {
    /// Bumped after each publish; views compare it with what they saw.
    generation: AtomicU64,
    current: Mutex<Arc<Config>>,
}

impl LiveConfig {
    /// Publishes the start-up configuration as generation 0.
    pub fn new(config: Config) -> Arc<LiveConfig> {
        Arc::new(LiveConfig {
            generation: AtomicU64::new(0),
            current: Mutex::new(Arc::new(config)),
        })
    }

    /// The current generation (0 at start-up).
    #[inline]
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The current configuration and its generation.
    pub fn current(&self) -> (u64, Arc<Config>) {
        let current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        (self.generation(), Arc::clone(&current))
    }

    /// Replaces the configuration; returns the new generation.
    pub fn publish(&self, config: Config) -> u64 {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        *current = Arc::new(config);
        // Bumped while the new value is in place, so a reader that sees the new generation
        // also finds the new configuration.
        self.generation.fetch_add(1, Ordering::AcqRel) + 1
    }
}

/// One thread's view of the published configuration (`!Send`, `!Sync`). It keeps its own
/// copy behind an `Rc` (copied once per reload), so handing it to a connection never touches
/// a reference count that other cores share.
#[derive(Debug)]
pub struct ConfigView {
    live: Arc<LiveConfig>,
    seen: Cell<u64>,
    current: RefCell<Rc<Config>>,
}

impl ConfigView {
    /// A view starting at the current configuration.
    pub fn new(live: Arc<LiveConfig>) -> ConfigView {
        let (seen, current) = live.current();
        ConfigView {
            live,
            seen: Cell::new(seen),
            current: RefCell::new(Rc::new(Config::clone(&current))),
        }
    }

    /// Whether a newer configuration was published than the one this view holds.
    #[inline]
    pub fn is_stale(&self) -> bool {
        self.live.generation() != self.seen.get()
    }

    /// Takes up a newly published configuration, if any; true when it did. One atomic load
    /// when nothing changed.
    #[inline]
    pub fn refresh(&self) -> bool {
        if !self.is_stale() {
            return false;
        }
        let (seen, current) = self.live.current();
        self.seen.set(seen);
        *self.current.borrow_mut() = Rc::new(Config::clone(&current));
        true
    }

    /// The configuration this view holds (without refreshing). Do not hold the borrow across
    /// a [`ConfigView::refresh`].
    #[inline]
    pub fn get(&self) -> Ref<'_, Config> {
        Ref::map(self.current.borrow(), |rc| &**rc)
    }

    /// This thread's handle on the configuration it holds (without refreshing), to keep
    /// across awaits: a non-atomic reference count.
    #[inline]
    pub fn handle(&self) -> Rc<Config> {
        Rc::clone(&self.current.borrow())
    }

    /// The generation this view holds.
    pub fn generation(&self) -> u64 {
        self.seen.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Overrides;

    fn config(text: &str) -> Config {
        Config::from_text(text, None, &Overrides::default()).unwrap()
    }

    #[test]
    fn views_see_a_publish_once() {
        let live = LiveConfig::new(config("[api]\nmax_limit = 10\n"));
        let view = ConfigView::new(Arc::clone(&live));
        assert!(!view.refresh());
        assert_eq!(view.get().max_limit, 10);
        assert_eq!(live.publish(config("[api]\nmax_limit = 20\n")), 1);
        assert!(view.is_stale());
        // Not before the view refreshes: a reader mid-request keeps what it started with.
        assert_eq!(view.get().max_limit, 10);
        let before = view.handle();
        assert!(view.refresh());
        assert_eq!(view.get().max_limit, 20);
        // A handle taken before keeps what it had.
        assert_eq!(before.max_limit, 10);
        assert_eq!(view.generation(), 1);
        assert!(!view.refresh());
    }

    #[test]
    fn views_on_other_threads_pick_up_the_latest() {
        let live = LiveConfig::new(config(""));
        let view = ConfigView::new(Arc::clone(&live));
        let publisher = {
            let live = Arc::clone(&live);
            std::thread::spawn(move || {
                for limit in 1..=50 {
                    live.publish(config(&format!("[api]\nmax_limit = {limit}\n")));
                }
            })
        };
        publisher.join().unwrap();
        view.refresh();
        assert_eq!(view.get().max_limit, 50);
        assert_eq!(view.generation(), 50);
    }
}
